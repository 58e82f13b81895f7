// Package dcc owns the verifier for EU Digital COVID Certificates: the
// "HC1:" QR payload of the eHealth Network's "Electronic Health Certificate
// Container Format" (HCERT, v1.3), decoded and checked stage by stage.
//
// The pipeline, in order, each stage with its own name and reason code:
//
//	unprefix    "HC1:" context prefix           malformed, unsupported_format, input_too_large
//	base45      RFC 9285                         malformed
//	decompress  zlib (RFC 1950) through a cap    malformed, decompress_limit
//	decode      COSE_Sign1 (RFC 9052) + CWT      malformed, claims_invalid
//	            (RFC 8392) + HCERT claim -260
//	signature   ES256 / PS256 against DSCs       unknown_key, alg_not_allowed, signature_format,
//	                                             signature_invalid, key_issuer_mismatch
//	expiry      iat / exp against the clock      not_yet_valid, expired, claims_invalid
//	key_usage   DSC extended key usage vs type   key_usage
//	schema      embedded EU DCC JSON schema      schema, claims_invalid
//
// Verify reports every stage it reached in Result.Stages (a stage not reached
// is absent), so callers can print an explanation ("roamctl verify
// --explain"). Every rejection is a *reason.Error; no input panics (fuzzed).
//
// Trust reaches the verifier only through the TrustList interface: X.509
// document signer certificates (DSCs) looked up by kid. This package must not
// import the registry, Raft or gRPC, must not fetch trust lists or value sets
// over the network, must not follow any certificate chain or URL found in a
// payload, and must never take the key from the payload. It does not read QR
// images (issue 4 §7) and makes no admission decision: it hands normalised
// Facts to host policies.
package dcc
