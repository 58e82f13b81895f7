package shc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"slices"

	"github.com/roam-federation/roam/adapters/jwscompact"
	"github.com/roam-federation/roam/federation/reason"
)

// maxKid bounds the kid header, in bytes; an RFC 7638 SHA-256 thumbprint
// in base64url is 43.
const maxKid = 128

// compact is a compact JWS parsed under the SHC header profile, not yet
// verified.
type compact struct {
	kid          string
	payload      []byte // still DEFLATE-compressed
	signingInput []byte
	sig          []byte
}

// headers SHC allows; any other gets header_forbidden. jku, x5u, jwk, x5c
// and crit are never followed (DESIGN.md §4 rule 5).
var allowedHeaders = map[string]bool{"alg": true, "kid": true, "zip": true}

// parseCompact parses tok as a compact JWS (RFC 7515 §7.1) with SHC's
// header profile: strict base64url (no padding, no whitespace), three parts,
// a strict-JSON header holding only alg "ES256", kid and zip "DEF".
// Errors: serialization_not_compact, malformed, header_forbidden,
// alg_not_allowed, kid_missing, unsupported_format (zip other than DEF).
func parseCompact(tok []byte) (*compact, error) {
	p, err := jwscompact.Split(tok)
	if err != nil {
		return nil, err
	}
	hb := p.Header
	var forbidden string
	if err := scanStrict(hb, func(k string) {
		if forbidden == "" && !allowedHeaders[k] {
			forbidden = k
		}
	}); err != nil {
		return nil, reason.New(reason.Malformed, "header: %v", err)
	}
	if forbidden != "" {
		return nil, reason.New(reason.HeaderForbidden, "header %q is not allowed; a SMART Health Card header holds only alg, kid and zip", forbidden)
	}
	var h struct {
		Alg *string `json:"alg"`
		Kid *string `json:"kid"`
		Zip *string `json:"zip"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, reason.New(reason.Malformed, "header: %v", err)
	}
	if h.Alg == nil || *h.Alg != "ES256" {
		alg := "<missing>"
		if h.Alg != nil {
			alg = *h.Alg
		}
		return nil, reason.New(reason.AlgNotAllowed, "alg %q is not allowed; SMART Health Cards are ES256 only", alg)
	}
	if h.Kid == nil || *h.Kid == "" {
		return nil, reason.New(reason.KidMissing, "kid header is required")
	}
	if len(*h.Kid) > maxKid {
		return nil, reason.New(reason.UnknownKey, "kid is %d bytes; a JWK thumbprint is 43", len(*h.Kid))
	}
	if h.Zip == nil {
		return nil, reason.New(reason.Malformed, `zip header is required: SMART Health Card payloads are raw DEFLATE ("zip":"DEF")`)
	}
	if *h.Zip != "DEF" {
		return nil, reason.New(reason.UnsupportedFormat, `zip %q is not supported; want "DEF"`, *h.Zip)
	}
	if len(p.Payload) == 0 {
		return nil, reason.New(reason.Malformed, "payload is empty (detached payloads are not accepted)")
	}
	pb, err := jwscompact.Decode(p.Payload)
	if err != nil {
		return nil, reason.New(reason.Malformed, "payload: %v", err)
	}
	sig, err := jwscompact.Decode(p.Signature)
	if err != nil {
		return nil, reason.New(reason.SignatureFormat, "signature: %v", err)
	}
	return &compact{
		kid:          *h.Kid,
		payload:      pb,
		signingInput: p.SigningInput,
		sig:          sig,
	}, nil
}

// checkSignature finds the key registered for (iss, kid) and verifies the
// ES256 signature (RFC 7518 §3.4: 64-byte r‖s over the signing input).
// Errors: signature_format (DER or any other length), unknown_key,
// key_issuer_mismatch, signature_invalid.
func (v *Verifier) checkSignature(c *compact, iss string) error {
	if len(c.sig) != 64 {
		return reason.New(reason.SignatureFormat, "ES256 signature is %d bytes, want 64 (raw r‖s; DER is rejected)", len(c.sig))
	}
	if v.Keys == nil {
		return reason.New(reason.UnknownKey, "no SMART Health Card keys are configured")
	}
	pub, ok := v.Keys.Key(iss, c.kid)
	if !ok || pub == nil {
		if ki, ok := v.Keys.(KeyIssuers); ok {
			if others := slices.DeleteFunc(ki.IssuersOf(c.kid), func(s string) bool { return s == iss }); len(others) > 0 {
				return reason.New(reason.KeyIssuerMismatch, "kid %q is registered to %s, but iss is %s", c.kid, others[0], iss)
			}
		}
		return reason.New(reason.UnknownKey, "kid %q is not registered to issuer %s", c.kid, iss)
	}
	if pub.Curve != elliptic.P256() {
		return reason.New(reason.UnknownKey, "kid %q is not a P-256 key", c.kid)
	}
	if tp, err := Thumbprint(pub); err != nil || tp != c.kid {
		return reason.New(reason.UnknownKey, "kid %q is not the RFC 7638 thumbprint of the key registered under it", c.kid)
	}
	h := sha256.Sum256(c.signingInput)
	r := new(big.Int).SetBytes(c.sig[:32])
	s := new(big.Int).SetBytes(c.sig[32:])
	if !ecdsa.Verify(pub, h[:], r, s) {
		return reason.New(reason.SignatureInvalid, "signature does not verify with kid %q", c.kid)
	}
	return nil
}

// Thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of a P-256 public
// key, base64url without padding: the SHC kid of that key.
func Thumbprint(pub *ecdsa.PublicKey) (string, error) {
	pt, err := pub.Bytes() // 0x04 ‖ X ‖ Y
	if err != nil {
		return "", err
	}
	if len(pt) != 65 {
		return "", reason.New(reason.UnknownKey, "not a P-256 point")
	}
	enc := base64.RawURLEncoding.EncodeToString
	// Required members in lexicographic order, no whitespace (RFC 7638 §3.2).
	j := `{"crv":"P-256","kty":"EC","x":"` + enc(pt[1:33]) + `","y":"` + enc(pt[33:]) + `"}`
	sum := sha256.Sum256([]byte(j))
	return enc(sum[:]), nil
}
