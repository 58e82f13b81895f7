package roamjws

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Algorithms roam signs and verifies with (DESIGN.md §4): ES256 by default,
// EdDSA (Ed25519) allowed. Nothing else is ever accepted.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// ErrBadKey is returned for a JWK that roam cannot register or sign with.
var ErrBadKey = errors.New("bad key")

// Thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of key, base64url
// without padding: roam's kid.
func Thumbprint(key jwk.Key) (string, error) {
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// GenerateKey makes a new private signing key for alg (ES256 or EdDSA) and
// returns it as a JWK whose kid is the RFC 7638 thumbprint of its public key.
func GenerateKey(alg string) (jwk.Key, error) {
	var raw any
	switch alg {
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		raw = k
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		raw = k
	default:
		return nil, fmt.Errorf("%w: algorithm %q not allowed (ES256 or EdDSA)", ErrBadKey, alg)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, err
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, err
	}
	kid, err := Thumbprint(pub)
	if err != nil {
		return nil, err
	}
	if err := key.Set(jwk.KeyIDKey, kid); err != nil {
		return nil, err
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg)); err != nil {
		return nil, err
	}
	return key, nil
}

// PublicJWK returns the public half of key as JSON (RFC 7517), with kid and
// alg set: the bytes to register in the trust registry.
func PublicJWK(key jwk.Key) ([]byte, error) {
	pub, err := key.PublicKey()
	if err != nil {
		return nil, err
	}
	return jsonMarshal(pub)
}

// PublicKey is a registered issuer key ready for verification.
type PublicKey struct {
	Kid          string
	Jurisdiction string
	Alg          string
	// Raw is *ecdsa.PublicKey (P-256) for ES256 or ed25519.PublicKey for EdDSA.
	Raw any
}

// ParsePublicJWK parses a registered public JWK and checks it is usable with
// alg: the right key type and curve, no private part, and a kid (if present)
// equal to its RFC 7638 thumbprint. It returns the thumbprint and the raw
// public key. Errors wrap ErrBadKey.
func ParsePublicJWK(data []byte, alg string) (kid string, raw any, err error) {
	key, err := jwk.ParseKey(data)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	switch key.(type) {
	case jwk.ECDSAPublicKey, jwk.OKPPublicKey:
	default:
		return "", nil, fmt.Errorf("%w: not a public EC or OKP key (private keys are never registered)", ErrBadKey)
	}
	if err := key.Raw(&raw); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	// A key that parses but can never verify is refused here, for every
	// caller: crypto/ed25519 panics on a key that is not 32 bytes, so a
	// token naming its kid would crash every verifier.
	switch alg {
	case ES256:
		pk, ok := raw.(*ecdsa.PublicKey)
		if !ok || pk.Curve != elliptic.P256() {
			return "", nil, fmt.Errorf("%w: ES256 needs a P-256 EC key", ErrBadKey)
		}
		if _, err := pk.ECDH(); err != nil {
			return "", nil, fmt.Errorf("%w: EC public key is not a valid P-256 point", ErrBadKey)
		}
	case EdDSA:
		pk, ok := raw.(ed25519.PublicKey)
		if !ok {
			return "", nil, fmt.Errorf("%w: EdDSA needs an Ed25519 OKP key", ErrBadKey)
		}
		if len(pk) != ed25519.PublicKeySize {
			return "", nil, fmt.Errorf("%w: Ed25519 public key is %d bytes, want %d", ErrBadKey, len(pk), ed25519.PublicKeySize)
		}
	default:
		return "", nil, fmt.Errorf("%w: algorithm %q not allowed (ES256 or EdDSA)", ErrBadKey, alg)
	}
	if a, ok := key.Get(jwk.AlgorithmKey); ok && fmt.Sprint(a) != alg {
		return "", nil, fmt.Errorf("%w: JWK alg %v differs from registered alg %s", ErrBadKey, a, alg)
	}
	kid, err = Thumbprint(key)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if k := key.KeyID(); k != "" && k != kid {
		return "", nil, fmt.Errorf("%w: kid %q is not the RFC 7638 thumbprint %q", ErrBadKey, k, kid)
	}
	return kid, raw, nil
}
