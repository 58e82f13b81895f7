package dcc

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/roam-federation/roam/federation/reason"
)

// CWT and HCERT claim keys (RFC 8392 §4; HCERT §2.6.3).
const (
	claimIss   = 1
	claimExp   = 4
	claimIat   = 6
	claimHcert = -260
	hcertDGCv1 = 1
)

// Allowed signature algorithms (HCERT §3.3.2).
var allowedAlgs = map[cose.Algorithm]string{
	cose.AlgorithmES256: "ES256",
	cose.AlgorithmPS256: "PS256",
}

// cborDec decodes the CWT claims and the DGC: definite and indefinite lengths
// (some issuers emit indefinite-length maps), duplicate keys rejected, nesting
// bounded, integers as int64, maps with text keys only.
var cborDec = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthAllowed,
		IntDec:           cbor.IntDecConvertSigned,
		MaxNestedLevels:  16,
		MaxArrayElements: 4096,
		MaxMapPairs:      4096,
		UTF8:             cbor.UTF8RejectInvalid,
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// cwtClaims are the CWT claims the verifier uses.
type cwtClaims struct {
	iss      string    // upper-cased ISO 3166-1 alpha-2
	iat, exp time.Time // zero if absent
}

// decoded is a COSE_Sign1 DCC after the decode stage.
type decoded struct {
	msg    *cose.Sign1Message
	alg    cose.Algorithm // from the protected header; 0 if absent
	kid    []byte         // protected wins over unprotected; nil if neither
	claims *cwtClaims
	dgc    map[string]any // the HCERT v1 DGC
}

// decodeCOSE parses a COSE_Sign1 (RFC 9052 §4.2), tagged (18) or untagged as
// HCERT §3.3.1 allows, optionally inside a CWT tag (61, RFC 8392 §6), then
// its CWT claims and the HCERT claim -260 → {1: DGC}. Structural failures are
// malformed; wrongly typed or out-of-range claims are claims_invalid.
func decodeCOSE(b []byte) (*decoded, *reason.Error) {
	if bytes.HasPrefix(b, []byte{0xd8, 0x3d}) { // tag 61: CWT
		b = b[2:]
	}
	if len(b) == 0 {
		return nil, reason.New(reason.Malformed, "empty COSE message")
	}
	var msg cose.Sign1Message
	var err error
	switch b[0] {
	case 0xd2: // tag 18
		err = msg.UnmarshalCBOR(b)
	case 0x84: // array(4)
		var u cose.UntaggedSign1Message
		err = u.UnmarshalCBOR(b)
		msg = cose.Sign1Message(u)
	default:
		return nil, reason.New(reason.Malformed, "not a COSE_Sign1 (first byte 0x%02x)", b[0])
	}
	if err != nil {
		return nil, reason.New(reason.Malformed, "COSE_Sign1: %v", err)
	}
	if msg.Payload == nil {
		return nil, reason.New(reason.Malformed, "COSE_Sign1 has a detached payload")
	}
	d := &decoded{msg: &msg}
	if alg, err := msg.Headers.Protected.Algorithm(); err == nil {
		d.alg = alg
	}
	d.kid = headerKid(msg.Headers.Protected)
	if d.kid == nil {
		d.kid = headerKid(msg.Headers.Unprotected)
	}

	var claims map[int64]cbor.RawMessage
	if err := cborDec.Unmarshal(msg.Payload, &claims); err != nil {
		return nil, reason.New(reason.Malformed, "CWT claims: %v", err)
	}
	c := &cwtClaims{}
	if raw, ok := claims[claimIss]; ok {
		var iss string
		if err := cborDec.Unmarshal(raw, &iss); err != nil {
			return nil, reason.New(reason.ClaimsInvalid, "iss (claim 1): %v", err)
		}
		if !isAlpha2(iss) {
			return nil, reason.New(reason.ClaimsInvalid, "iss %q is not an ISO 3166-1 alpha-2 code", iss)
		}
		c.iss = strings.ToUpper(iss)
	} else {
		return nil, reason.New(reason.ClaimsInvalid, "iss (claim 1) missing")
	}
	for _, t := range []struct {
		key int64
		dst *time.Time
	}{{claimIat, &c.iat}, {claimExp, &c.exp}} {
		raw, ok := claims[t.key]
		if !ok {
			continue // the expiry stage reports it
		}
		tm, err := numericDate(raw)
		if err != nil {
			return nil, reason.New(reason.ClaimsInvalid, "claim %d: %v", t.key, err)
		}
		*t.dst = tm
	}
	d.claims = c

	rawHcert, ok := claims[claimHcert]
	if !ok {
		return nil, reason.New(reason.Malformed, "hcert (claim -260) missing")
	}
	var hcert map[int64]cbor.RawMessage
	if err := cborDec.Unmarshal(rawHcert, &hcert); err != nil {
		return nil, reason.New(reason.Malformed, "hcert (claim -260): %v", err)
	}
	rawDGC, ok := hcert[hcertDGCv1]
	if !ok {
		return nil, reason.New(reason.Malformed, "hcert has no eu_DGC_v1 (key 1)")
	}
	if err := cborDec.Unmarshal(rawDGC, &d.dgc); err != nil {
		return nil, reason.New(reason.Malformed, "DGC: %v", err)
	}
	if d.dgc == nil {
		return nil, reason.New(reason.Malformed, "DGC is not a map")
	}
	return d, nil
}

// headerKid returns the kid (label 4) of a header map if it is a byte string.
func headerKid(h map[any]any) []byte {
	if k, ok := h[cose.HeaderLabelKeyID].([]byte); ok && len(k) > 0 {
		return k
	}
	return nil
}

func isAlpha2(s string) bool {
	if len(s) != 2 {
		return false
	}
	for _, c := range []byte(s) {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// maxNumericDate bounds NumericDate claims to year 9999 (seconds).
const maxNumericDate = 253402300799

// numericDate decodes an RFC 8392 NumericDate: integer or floating seconds
// since the Unix epoch, non-negative, up to year 9999; fractions truncated.
func numericDate(raw cbor.RawMessage) (time.Time, error) {
	var v any
	if err := cborDec.Unmarshal(raw, &v); err != nil {
		return time.Time{}, err
	}
	var secs int64
	switch n := v.(type) {
	case int64:
		secs = n
	case uint64:
		if n > maxNumericDate {
			return time.Time{}, fmt.Errorf("NumericDate %d out of range", n)
		}
		secs = int64(n)
	case float64:
		if math.IsNaN(n) || n < 0 || n > maxNumericDate {
			return time.Time{}, fmt.Errorf("NumericDate %v out of range", n)
		}
		secs = int64(n)
	default:
		return time.Time{}, fmt.Errorf("NumericDate is %T, want a number", v)
	}
	if secs < 0 || secs > maxNumericDate {
		return time.Time{}, fmt.Errorf("NumericDate %d out of range", secs)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// verifySignature checks the COSE_Sign1 signature (RFC 9052 §4.4, no external
// AAD) against every DSC the trust list gives for the kid, and returns the
// first that verifies. No kid, or no DSC for it, is unknown_key; an algorithm
// other than ES256/PS256 in the protected header is alg_not_allowed; an ES256
// signature that is not 64 bytes is signature_format; no DSC that verifies is
// signature_invalid.
func verifySignature(d *decoded, trust TrustList) (*x509.Certificate, *reason.Error) {
	if d.kid == nil {
		return nil, reason.New(reason.UnknownKey, "no kid in either header")
	}
	var dscs []*x509.Certificate
	if trust != nil {
		dscs = trust.DSCs(d.kid)
	}
	if len(dscs) == 0 {
		return nil, reason.New(reason.UnknownKey, "no DSC for kid %x", d.kid)
	}
	name, ok := allowedAlgs[d.alg]
	if !ok {
		return nil, reason.New(reason.AlgNotAllowed, "protected alg %d not allowed (ES256, PS256)", int64(d.alg))
	}
	// DESIGN.md §4 rule 6: an ECDSA signature is 64-byte r‖s (RFC 9053
	// §2.1); DER or any other length is a format error, not a bad signature.
	if name == "ES256" && len(d.msg.Signature) != 64 {
		return nil, reason.New(reason.SignatureFormat, "ES256 signature is %d bytes, want 64 (raw r‖s; DER is rejected)", len(d.msg.Signature))
	}
	var errs []string
	for _, dsc := range dscs {
		if dsc == nil {
			continue
		}
		if err := keyFits(name, dsc.PublicKey); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		ver, err := cose.NewVerifier(d.alg, dsc.PublicKey)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if err := d.msg.Verify(nil, ver); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		return dsc, nil
	}
	return nil, reason.New(reason.SignatureInvalid, "%s: no DSC of %d for kid %x verifies: %v", name, len(dscs), d.kid, strings.Join(errs, "; "))
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
