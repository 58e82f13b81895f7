package roamjws

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/roam-federation/roam/adapters"
)

// Token types (the JWS "typ" header). A status assertion can never pass as a
// code, nor a code as a status assertion.
const (
	TypCode   = "roam-code+jwt"
	TypStatus = "roam-status+jwt"
)

// Prefix is the QR form's prefix: "roam:" followed by the compact JWS.
const Prefix = "roam:"

// Signer signs roam codes and status assertions with one private issuer key.
type Signer struct {
	key jwk.Key
	alg jwa.SignatureAlgorithm
	kid string
}

// NewSigner returns a Signer for a private JWK made by GenerateKey (or
// parsed from one). The key's alg must be ES256 or EdDSA.
func NewSigner(key jwk.Key) (*Signer, error) {
	alg := key.Algorithm().String()
	if alg != ES256 && alg != EdDSA {
		return nil, fmt.Errorf("%w: signing algorithm %q not allowed (ES256 or EdDSA)", ErrBadKey, alg)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	kid, err := Thumbprint(pub)
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, alg: jwa.SignatureAlgorithm(alg), kid: kid}, nil
}

// Kid is the signing key's RFC 7638 thumbprint.
func (s *Signer) Kid() string { return s.kid }

// Alg is the signing algorithm, "ES256" or "EdDSA".
func (s *Signer) Alg() string { return s.alg.String() }

// Sign returns a compact JWS over claims with protected headers alg, kid and
// typ only (DESIGN.md §4). typ is TypCode or TypStatus.
func (s *Signer) Sign(c *adapters.Claims, typ string) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return s.SignPayload(payload, typ)
}

// SignPayload returns a compact JWS over arbitrary payload bytes with
// protected headers alg, kid and typ only. Registry commands use it.
func (s *Signer) SignPayload(payload []byte, typ string) (string, error) {
	hdr := jws.NewHeaders()
	for k, v := range map[string]any{jws.KeyIDKey: s.kid, jws.TypeKey: typ} {
		if err := hdr.Set(k, v); err != nil {
			return "", err
		}
	}
	out, err := jws.Sign(payload, jws.WithKey(s.alg, s.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return string(out), nil
}

// NewCodeID returns a random 128-bit code id, base64url without padding
// (22 characters), for the jti claim.
func NewCodeID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
