package shc

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// Defaults (DESIGN.md §4).
const (
	// DefaultMaxInput caps the presented payload, in bytes. A numeric QR
	// payload of a version-22 QR is at most about 3 KB.
	DefaultMaxInput = 8 << 10
	// DefaultMaxInflate caps the inflated JWS payload, in bytes (DESIGN.md
	// §4 rule 10).
	DefaultMaxInflate = 64 << 10
	// DefaultSkew is the clock skew allowed for nbf.
	DefaultSkew = 60 * time.Second
)

// Stage names, as issue 4 §5 ("explain mode") names them. SHC reports
// unprefix, decode (numeric QR → JWS and header), decompress, decode
// (claims JSON), signature and expiry (nbf, exp and rid revocation).
const (
	StageUnprefix   = "unprefix"
	StageDecode     = "decode"
	StageDecompress = "decompress"
	StageSignature  = "signature"
	StageExpiry     = "expiry"
)

// Keys gives an issuer's registered ES256 keys: the JWKS registered for the
// issuer URL (iss). Implementations must be safe for concurrent use.
type Keys interface {
	// Key returns the P-256 public key registered under kid (an RFC 7638
	// SHA-256 JWK thumbprint, base64url) for issuer URL issuer.
	Key(issuer, kid string) (*ecdsa.PublicKey, bool)
	// Revoked reports SHC revocation: whether revocation id rid (the
	// card's vc.rid) is listed in the issuer's card revocation list for
	// kid, when one is registered. iat is the card's nbf; a CRL entry
	// "rid.timestamp" revokes only cards with nbf before timestamp.
	Revoked(issuer, kid, rid string, iat time.Time) bool
}

// KeyIssuers is an optional extension of Keys. When Keys implements it, a
// kid that is not registered to the card's iss but is registered to another
// issuer is rejected with key_issuer_mismatch rather than unknown_key.
type KeyIssuers interface {
	// IssuersOf returns the issuer URLs kid is registered under.
	IssuersOf(kid string) []string
}

// Verifier checks SMART Health Cards against Keys. Zero values of MaxInput,
// MaxInflate and Skew mean the defaults. A Verifier is safe for concurrent
// use if its Keys is.
type Verifier struct {
	Keys       Keys
	MaxInput   int           // bytes of presented payload; default DefaultMaxInput
	MaxInflate int           // bytes of inflated JWS payload; default DefaultMaxInflate
	Skew       time.Duration // clock skew allowed for nbf; default DefaultSkew
}

// Stage is one verification stage as explain mode prints it. Reason is the
// reason code of a failed stage and empty for a passed one.
type Stage = adapters.Stage

// Result is what Verify learnt. Stages lists the stages reached, in order;
// the last one failed if Verify returned an error. Issuer, Kid, IssuedAt
// and Expires are filled as soon as they are decoded (so before the
// signature is checked: display them on a rejection only as "claimed").
// Facts is filled only for a card that verified.
type Result struct {
	Stages   []Stage
	Issuer   string    // iss: the issuer URL
	Kid      string    // JWS kid header
	IssuedAt time.Time // nbf (SHC's issuanceDate), UTC
	Expires  time.Time // exp, UTC; zero when the card has no exp
	Facts    Facts
}

// Facts are the normalised facts of a card's FHIR Bundle that policies see.
// Kind is "vaccination" when the bundle holds a completed Immunization, else
// "test" when it holds a lab Observation, else "".
type Facts struct {
	Kind        string
	Vaccination *Vaccination
	Test        *Test
}

// Vaccination summarises the completed Immunization resources of a card.
type Vaccination struct {
	Doses    int       // completed doses
	Complete bool      // ≥ 2 doses, or a dose of a single-dose product (CVX 212)
	Date     time.Time // date of the latest dose (occurrenceDateTime), UTC
	Product  string    // CVX code of the latest dose
}

// Test is the latest lab Observation of a card.
type Test struct {
	Type       string    // LOINC code
	Result     string    // "negative" (SNOMED 260385009), "positive" (10828004) or "unknown"
	SampleTime time.Time // effectiveDateTime, UTC
}

// Verify checks one SMART Health Card as of at. payload is the numeric QR
// content ("shc:/" followed by digit pairs) or a bare compact JWS; a
// .smart-health-card file goes through ParseFile first. Nothing is trimmed:
// whitespace, a BOM or a wrong prefix is rejected.
//
// It always returns a Result listing the stages reached. A rejection is a
// *reason.Error: input_too_large, malformed, unsupported_format,
// serialization_not_compact, header_forbidden, alg_not_allowed, kid_missing,
// decompress_limit, claims_invalid, timestamps_invalid, unknown_key,
// key_issuer_mismatch, signature_format, signature_invalid, not_yet_valid,
// expired or code_revoked.
func (v *Verifier) Verify(payload []byte, at time.Time) (*Result, error) {
	r := &Result{}
	pass := func(name string) { r.Stages = append(r.Stages, Stage{Name: name, OK: true}) }
	fail := func(name string, err error) (*Result, error) {
		re := asReason(err, reason.Malformed)
		r.Stages = append(r.Stages, Stage{Name: name, Reason: string(re.Code)})
		return r, re
	}

	// unprefix: size cap before any parsing, then the QR header.
	if max := v.maxInput(); len(payload) > max {
		return fail(StageUnprefix, reason.New(reason.InputTooLarge, "payload is %d bytes; the limit is %d", len(payload), max))
	}
	numeric, err := unprefix(payload)
	if err != nil {
		return fail(StageUnprefix, err)
	}
	pass(StageUnprefix)

	// decode: numeric QR → compact JWS → header.
	tok := payload
	if numeric {
		s, err := NumericToJWS(string(payload))
		if err != nil {
			return fail(StageDecode, err)
		}
		tok = []byte(s)
	}
	cj, err := parseCompact(tok)
	if err != nil {
		return fail(StageDecode, err)
	}
	r.Kid = cj.kid
	pass(StageDecode)

	// decompress: raw DEFLATE through the cap.
	raw, err := inflate(cj.payload, v.maxInflate())
	if err != nil {
		return fail(StageDecompress, err)
	}
	pass(StageDecompress)

	// decode: the claims JSON, the credential and its FHIR Bundle.
	c, err := parseClaims(raw)
	if err != nil {
		return fail(StageDecode, err)
	}
	r.Issuer, r.IssuedAt, r.Expires = c.iss, c.nbf, c.exp
	pass(StageDecode)

	// signature: kid registered to iss, ES256 r‖s.
	if err := v.checkSignature(cj, c.iss); err != nil {
		return fail(StageSignature, err)
	}
	pass(StageSignature)

	// expiry: nbf, exp, then revocation of the card (rid).
	if err := v.checkValidity(c, cj.kid, at); err != nil {
		return fail(StageExpiry, err)
	}
	pass(StageExpiry)

	r.Facts = c.facts
	return r, nil
}

// unprefix classifies payload: "shc:/" numeric (true) or a bare compact JWS
// (false). Errors: malformed (wrong QR header, BOM), serialization_not_compact
// (JSON), unsupported_format (anything else).
func unprefix(p []byte) (numeric bool, err error) {
	switch {
	case bytes.HasPrefix(p, []byte(Prefix)):
		return true, nil
	case len(p) >= 4 && bytes.EqualFold(p[:4], []byte("shc:")):
		return false, reason.New(reason.Malformed, "wrong QR header: SMART Health Card QR content starts with %q", Prefix)
	case bytes.HasPrefix(p, []byte("\xef\xbb\xbf")):
		return false, reason.New(reason.Malformed, "input starts with a byte-order mark; it is rejected, not trimmed")
	case len(p) > 0 && p[0] == '{':
		return false, reason.New(reason.SerializationNotCompact, "JSON input: JWS JSON serialization is not accepted; a .smart-health-card file goes through ParseFile")
	case bytes.HasPrefix(p, []byte("eyJ")):
		return false, nil
	}
	return false, reason.New(reason.UnsupportedFormat, "not a SMART Health Card: want %q numeric QR content or a compact JWS", Prefix)
}

func (v *Verifier) maxInput() int {
	if v.MaxInput <= 0 {
		return DefaultMaxInput
	}
	return v.MaxInput
}

func (v *Verifier) maxInflate() int {
	if v.MaxInflate <= 0 {
		return DefaultMaxInflate
	}
	return v.MaxInflate
}

func (v *Verifier) skew() time.Duration {
	if v.Skew <= 0 {
		return DefaultSkew
	}
	return v.Skew
}

// asReason returns err as a *reason.Error, wrapping any other error under
// fallback so that no failure surfaces without a code.
func asReason(err error, fallback reason.Code) *reason.Error {
	var re *reason.Error
	if errors.As(err, &re) {
		return re
	}
	return reason.New(fallback, "%v", err)
}
