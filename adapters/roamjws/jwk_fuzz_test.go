package roamjws

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// FuzzParsePublicJWK: the registry parses the JWK of every AddKey command
// with ParsePublicJWK, so its bytes come from whoever signs commands. It
// must never panic; every error wraps ErrBadKey; an accepted key is one a
// verifier can use (a P-256 point for ES256, 32 Ed25519 bytes for EdDSA),
// its kid is the RFC 7638 thumbprint, and it parses again to the same kid.
// Checking a signature with it must not panic either.
func FuzzParsePublicJWK(f *testing.F) {
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"KocV4pEORmL7nGKtbtY4ZnSUfoV7MO9C1lbGN5f96KI"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"AAAA"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, alg := range []string{ES256, EdDSA} {
			kid, raw, err := ParsePublicJWK(data, alg)
			if err != nil {
				if !errors.Is(err, ErrBadKey) {
					t.Fatalf("%s: error %v does not wrap ErrBadKey", alg, err)
				}
				if kid != "" || raw != nil {
					t.Fatalf("%s: rejected (%v) but returned a key", alg, err)
				}
				continue
			}
			switch pk := raw.(type) {
			case *ecdsa.PublicKey:
				if alg != ES256 || pk.Curve != elliptic.P256() || !pk.Curve.IsOnCurve(pk.X, pk.Y) {
					t.Fatalf("%s accepted an unusable EC key", alg)
				}
			case ed25519.PublicKey:
				if alg != EdDSA || len(pk) != ed25519.PublicKeySize {
					t.Fatalf("%s accepted a %d-byte Ed25519 key", alg, len(pk))
				}
			default:
				t.Fatalf("%s accepted a %T", alg, raw)
			}
			k, err := jwk.ParseKey(data)
			if err != nil {
				t.Fatalf("accepted what jwk.ParseKey refuses: %v", err)
			}
			if tp, err := Thumbprint(k); err != nil || tp != kid {
				t.Fatalf("kid %q, thumbprint %q (%v)", kid, tp, err)
			}
			again, err := jwk.FromRaw(raw)
			if err != nil {
				t.Fatal(err)
			}
			b, err := PublicJWK(again)
			if err != nil {
				t.Fatal(err)
			}
			if kid2, _, err := ParsePublicJWK(b, alg); err != nil || kid2 != kid {
				t.Fatalf("re-encoded key %s: kid %q (%v), want %q", b, kid2, err, kid)
			}
			c := &Compact{Alg: alg, Kid: kid, signingInput: []byte("e30.e30"), sig: make([]byte, 64)}
			_ = c.VerifyWith(alg, raw)
		}
	})
}
