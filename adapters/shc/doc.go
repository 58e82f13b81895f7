// Package shc owns verification of SMART Health Cards (SMART Health Cards
// Framework, smarthealth.cards; HL7 "SMART Health Cards and Links" IG): the
// "shc:/" numeric QR payload, the compact JWS it carries (RFC 7515), the raw
// DEFLATE payload (RFC 1951) and the verifiable credential inside, down to
// the normalised vaccination and test facts policies see (issue 4 §2).
//
// Verify decodes in order — unprefix, decode (numeric QR → compact JWS,
// header), decompress, decode (claims JSON) — and then checks the signature
// and validity (nbf, exp, rid revocation). Each stage is reported in
// Result.Stages; each rejection is a *reason.Error with its own reason code,
// and no input panics (DESIGN.md §4 rules 1, 2, 4, 5, 6, 7, 9, 10 and 11).
// The JWS header profile is SHC's own: alg ES256, kid, zip "DEF", nothing else.
//
// Keys reach the verifier only through the Keys interface: the JWKS
// registered for an issuer URL (iss), and its card revocation lists.
// TrustStore is an in-memory Keys for offline verification and tests. This
// package must not import the registry, Raft or gRPC, must never fetch
// anything (no jwks.json or CRL download, no jku, x5u, jwk or x5c header),
// and must never take the algorithm from a token. Agreement and policy
// decisions are not made here.
package shc
