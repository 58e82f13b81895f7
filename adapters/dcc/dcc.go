package dcc

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// Defaults for the Verifier's caps.
const (
	// DefaultMaxInput caps the presented payload ("HC1:" included), in bytes.
	// A DCC QR code holds at most about 4.3 KB in alphanumeric mode and real
	// certificates are 0.5–2 KB, so 8 KiB leaves room without inviting abuse.
	DefaultMaxInput = 8 << 10
	// DefaultMaxInflate caps the inflated COSE message, in bytes (DESIGN.md
	// §4 rule 10).
	DefaultMaxInflate = 64 << 10
)

// Prefix is the HCERT context identifier for version 1 certificates.
const Prefix = "HC1:"

// Stage names, in pipeline order. They are part of the explain output
// (issue 4 §5) and stable.
const (
	StageUnprefix   = "unprefix"
	StageBase45     = "base45"
	StageDecompress = "decompress"
	StageDecode     = "decode"
	StageSignature  = "signature"
	StageExpiry     = "expiry"
	StageKeyUsage   = "key_usage"
	StageSchema     = "schema"
)

// TrustList gives the DSCs (X.509 document signer certificates) registered
// for kid, the first 8 bytes of the SHA-256 of the DSC's DER encoding (HCERT
// §3.3.1). It may return several certificates: kids can collide, and the
// verifier tries each. Implementations must not return certificates taken
// from the payload itself.
type TrustList interface {
	DSCs(kid []byte) []*x509.Certificate
}

// Kid returns the HCERT key identifier of a DSC: the first 8 bytes of the
// SHA-256 of its DER encoding.
func Kid(dsc *x509.Certificate) []byte {
	sum := sha256Sum(dsc.Raw)
	return sum[:8]
}

// Verifier checks "HC1:" payloads. The zero value is usable but trusts no
// DSC (every payload fails with unknown_key). A Verifier is safe for
// concurrent use if its TrustList is.
type Verifier struct {
	// Trust gives the DSCs for a kid. Nil trusts nothing.
	Trust TrustList
	// MaxInput caps the payload, in bytes; 0 means DefaultMaxInput.
	MaxInput int
	// MaxInflate caps the zlib-inflated COSE message, in bytes; 0 means
	// DefaultMaxInflate.
	MaxInflate int
	// Jurisdiction, when set, gives the jurisdiction a DSC (DER) is
	// registered to; the DSC that verifies must then be registered to the
	// issuer the certificate claims, or the signature stage fails with
	// key_issuer_mismatch (DESIGN.md §4 rule 4, as kid is bound to iss for
	// roam codes). Nil skips the check (a bare trust list has no owners).
	Jurisdiction func(der []byte) (string, bool)
}

// Stage is one step of the pipeline as reached by Verify. Reason is empty
// when OK and the failing reason code otherwise.
type Stage = adapters.Stage

// Result is what Verify learnt. Fields are filled as far as the pipeline got:
// Issuer and Kid after decode, IssuedAt and Expires after decode, Facts only
// when every stage passed.
type Result struct {
	// Stages reached, in order; a stage not reached is absent.
	Stages []Stage
	// Issuer is "XX-" plus the ISO 3166-1 alpha-2 code in the CWT iss claim
	// (claim 1), upper-cased, e.g. "XX-AT".
	Issuer string
	// Kid is the key identifier used: the protected header's if present,
	// otherwise the unprotected header's.
	Kid []byte
	// IssuedAt and Expires are the CWT iat (6) and exp (4) claims, UTC,
	// to the second; zero if absent.
	IssuedAt, Expires time.Time
	// Facts are the normalised certificate facts for host policies.
	Facts Facts
}

// OK reports whether every stage of the pipeline passed.
func (r *Result) OK() bool {
	return len(r.Stages) == len(allStages) && r.Stages[len(r.Stages)-1].OK
}

var allStages = []string{StageUnprefix, StageBase45, StageDecompress, StageDecode,
	StageSignature, StageExpiry, StageKeyUsage, StageSchema}

// run records a stage's outcome and returns err (nil when ok).
func (r *Result) run(name string, err *reason.Error) error {
	if err != nil {
		r.Stages = append(r.Stages, Stage{Name: name, Reason: string(err.Code)})
		return &reason.Error{Code: err.Code, Message: name + ": " + err.Message}
	}
	r.Stages = append(r.Stages, Stage{Name: name, OK: true})
	return nil
}

// Verify decodes payload (the text a DCC QR code holds) and checks it as of
// at, stage by stage (see the package doc). It returns the Result even on
// failure, with the stages reached; the error is then a *reason.Error whose
// code is the failing stage's reason and whose message starts with the stage
// name. Verify does not trim whitespace: callers reading files strip line
// endings themselves.
func (v *Verifier) Verify(payload []byte, at time.Time) (*Result, error) {
	r := &Result{}
	maxIn := v.MaxInput
	if maxIn <= 0 {
		maxIn = DefaultMaxInput
	}
	maxInflate := v.MaxInflate
	if maxInflate <= 0 {
		maxInflate = DefaultMaxInflate
	}

	// 1. unprefix.
	body, rerr := unprefix(payload, maxIn)
	if err := r.run(StageUnprefix, rerr); err != nil {
		return r, err
	}

	// 2. base45.
	compressed, err := decodeBase45(body)
	if err == nil && len(compressed) == 0 {
		err = errors.New("empty")
	}
	if err != nil {
		return r, r.run(StageBase45, reason.New(reason.Malformed, "%v", err))
	}
	_ = r.run(StageBase45, nil)

	// 3. decompress.
	coseBytes, rerr := inflate(compressed, maxInflate)
	if err := r.run(StageDecompress, rerr); err != nil {
		return r, err
	}

	// 4. decode.
	msg, rerr := decodeCOSE(coseBytes)
	if rerr == nil {
		r.Kid = msg.kid
		r.Issuer = "XX-" + msg.claims.iss
		r.IssuedAt, r.Expires = msg.claims.iat, msg.claims.exp
	}
	if err := r.run(StageDecode, rerr); err != nil {
		return r, err
	}

	// 5. signature.
	dsc, rerr := verifySignature(msg, v.Trust)
	if rerr == nil && v.Jurisdiction != nil {
		dsc, rerr = v.bindIssuer(msg, dsc, r.Issuer)
	}
	if err := r.run(StageSignature, rerr); err != nil {
		return r, err
	}

	// 6. expiry: the certificate's iat/exp, and the DSC must have been
	// valid when it signed (iat) — an expired or not-yet-valid DSC signs
	// nothing.
	exErr := checkExpiry(msg.claims, at)
	if exErr == nil && (msg.claims.iat.Before(dsc.NotBefore) || msg.claims.iat.After(dsc.NotAfter)) {
		exErr = reason.New(reason.KeyNotValidAtIat, "the DSC is valid %s to %s; the certificate was issued %s",
			dsc.NotBefore.UTC().Format(time.RFC3339), dsc.NotAfter.UTC().Format(time.RFC3339), msg.claims.iat.Format(time.RFC3339))
	}
	if err := r.run(StageExpiry, exErr); err != nil {
		return r, err
	}

	// 7. key_usage.
	if err := r.run(StageKeyUsage, checkKeyUsage(dsc, msg.dgc)); err != nil {
		return r, err
	}

	// 8. schema.
	facts, rerr := validateSchema(msg.dgc)
	if err := r.run(StageSchema, rerr); err != nil {
		return r, err
	}
	r.Facts = *facts
	return r, nil
}

// bindIssuer checks that dsc, which verified msg, is registered to issuer.
// If not, another DSC for the kid that is registered to issuer may still
// verify (the same key in two certificates); only if none does is it
// key_issuer_mismatch. The common case costs one map lookup.
func (v *Verifier) bindIssuer(msg *decoded, dsc *x509.Certificate, issuer string) (*x509.Certificate, *reason.Error) {
	if j, ok := v.Jurisdiction(dsc.Raw); ok && j == issuer {
		return dsc, nil
	}
	if d, err := verifySignature(msg, issuerTrust{v.Trust, v.Jurisdiction, issuer}); err == nil {
		return d, nil
	}
	return nil, reason.New(reason.KeyIssuerMismatch, "the DSC that signed this certificate is not registered to %s, the issuer it claims", issuer)
}

// issuerTrust narrows a trust list to the DSCs registered to one
// jurisdiction.
type issuerTrust struct {
	t            TrustList
	jurisdiction func(der []byte) (string, bool)
	issuer       string
}

func (t issuerTrust) DSCs(kid []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range t.t.DSCs(kid) {
		if j, ok := t.jurisdiction(c.Raw); ok && j == t.issuer {
			out = append(out, c)
		}
	}
	return out
}

// unprefix strips the "HC1:" context identifier. Inputs over maxIn bytes are
// input_too_large; another "HCn:" version or any other text is
// unsupported_format; an empty input is malformed.
func unprefix(p []byte, maxIn int) ([]byte, *reason.Error) {
	switch {
	case len(p) > maxIn:
		return nil, reason.New(reason.InputTooLarge, "payload is %d bytes, cap %d", len(p), maxIn)
	case len(p) == 0:
		return nil, reason.New(reason.Malformed, "empty payload")
	case bytes.HasPrefix(p, []byte(Prefix)):
		return p[len(Prefix):], nil
	}
	if i := bytes.IndexByte(p, ':'); i > 0 && i <= 8 && isPrintable(p[:i]) {
		return nil, reason.New(reason.UnsupportedFormat, "context prefix %q, want %q", p[:i+1], Prefix)
	}
	return nil, reason.New(reason.UnsupportedFormat, "no %q context prefix", Prefix)
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// inflate decompresses a zlib stream (RFC 1950, checksum verified) into at
// most maxOut bytes. More output is decompress_limit, reported as soon as the
// cap is crossed, so a bomb costs at most maxOut+1 bytes of memory. A broken
// stream, a bad checksum or trailing bytes after the stream are malformed.
func inflate(in []byte, maxOut int) ([]byte, *reason.Error) {
	br := bytes.NewReader(in)
	zr, err := zlib.NewReader(br)
	if err != nil {
		return nil, reason.New(reason.Malformed, "%v", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, int64(maxOut)+1))
	if err != nil {
		return nil, reason.New(reason.Malformed, "%v", err)
	}
	if len(out) > maxOut {
		return nil, reason.New(reason.DecompressLimit, "inflates to more than %d bytes", maxOut)
	}
	if br.Len() != 0 {
		return nil, reason.New(reason.Malformed, "zlib: %d trailing bytes after the stream", br.Len())
	}
	return out, nil
}

// checkExpiry applies the CWT validity window: iat ≤ at ≤ exp, both ends
// inclusive, as the dgc-testdata VALIDATIONCLOCK ("must be between iat and
// exp") requires; no skew. A missing iat or exp, or exp before iat, is
// claims_invalid.
func checkExpiry(c *cwtClaims, at time.Time) *reason.Error {
	switch {
	case c.iat.IsZero():
		return reason.New(reason.ClaimsInvalid, "iat (claim 6) missing")
	case c.exp.IsZero():
		return reason.New(reason.ClaimsInvalid, "exp (claim 4) missing")
	case c.exp.Before(c.iat):
		return reason.New(reason.ClaimsInvalid, "exp %s before iat %s", c.exp.Format(time.RFC3339), c.iat.Format(time.RFC3339))
	case at.Before(c.iat):
		return reason.New(reason.NotYetValid, "issued at %s, after the clock %s", c.iat.Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	case at.After(c.exp):
		return reason.New(reason.Expired, "expired at %s, clock %s", c.exp.Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	return nil
}

// Public-key limits (HCERT §3.3.2: ES256 primary, PS256 secondary; issue 4:
// RSA 2048–3072 bits).
const (
	minRSABits = 2048
	maxRSABits = 3072
)

// keyFits reports why pub cannot verify alg, or nil.
func keyFits(algName string, pub any) error {
	switch algName {
	case "ES256":
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return fmt.Errorf("DSC key is %T, ES256 needs ECDSA P-256", pub)
		}
	case "PS256":
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("DSC key is %T, PS256 needs RSA", pub)
		}
		if n := k.N.BitLen(); n < minRSABits || n > maxRSABits {
			return fmt.Errorf("DSC RSA key is %d bits, want %d–%d", n, minRSABits, maxRSABits)
		}
	}
	return nil
}
