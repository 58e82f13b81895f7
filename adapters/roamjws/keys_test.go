package roamjws

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
const rfc7638Key = `{
  "kty": "RSA",
  "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
  "e": "AQAB",
  "alg": "RS256",
  "kid": "2011-04-29"
}`

func TestThumbprintRFC7638(t *testing.T) {
	key, err := jwk.ParseKey([]byte(rfc7638Key))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Thumbprint(key)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
}

func mustJWK(t *testing.T, raw any, set map[string]any) []byte {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	for n, v := range set {
		if err := k.Set(n, v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePublicJWK(t *testing.T) {
	es := newTestKey(t, ES256, zhejiang)
	ed := newTestKey(t, EdDSA, zhejiang)
	esPub, err := PublicJWK(es.jwk)
	if err != nil {
		t.Fatal(err)
	}
	edPub, err := PublicJWK(ed.jwk)
	if err != nil {
		t.Fatal(err)
	}
	esPriv, err := json.Marshal(es.jwk)
	if err != nil {
		t.Fatal(err)
	}
	edPriv, err := json.Marshal(ed.jwk)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edRaw := ed.priv.Public().(ed25519.PublicKey)
	esRaw := es.priv.Public().(*ecdsa.PublicKey)

	for _, tc := range []struct {
		name    string
		data    []byte
		alg     string
		wantKid string // "" means ErrBadKey
	}{
		{"ES256 public", esPub, ES256, es.kid},
		{"EdDSA public", edPub, EdDSA, ed.kid},
		{"ES256 without kid or alg", mustJWK(t, esRaw, nil), ES256, es.kid},
		{"EdDSA without kid or alg", mustJWK(t, edRaw, nil), EdDSA, ed.kid},
		{"ES256 private key refused", esPriv, ES256, ""},
		{"EdDSA private key refused", edPriv, EdDSA, ""},
		{"P-384 for ES256", mustJWK(t, &p384.PublicKey, nil), ES256, ""},
		{"EC key for EdDSA", esPub, EdDSA, ""},
		{"Ed25519 key for ES256", edPub, ES256, ""},
		{"X25519 for EdDSA", []byte(`{"kty":"OKP","crv":"X25519","x":"` + enc(x25519.PublicKey().Bytes()) + `"}`), EdDSA, ""},
		{"RSA key", []byte(rfc7638Key), ES256, ""},
		{"kid not the thumbprint", mustJWK(t, esRaw, map[string]any{jwk.KeyIDKey: "2011-04-29"}), ES256, ""},
		{"kid of another key", mustJWK(t, esRaw, map[string]any{jwk.KeyIDKey: ed.kid}), ES256, ""},
		{"JWK alg differs", mustJWK(t, esRaw, map[string]any{jwk.AlgorithmKey: "ES384"}), ES256, ""},
		{"HS256 registration", esPub, "HS256", ""},
		{"symmetric key", []byte(`{"kty":"oct","k":"c2VjcmV0"}`), ES256, ""},
		{"not JSON", []byte("eyJ"), ES256, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kid, raw, err := ParsePublicJWK(tc.data, tc.alg)
			if tc.wantKid == "" {
				if !errors.Is(err, ErrBadKey) {
					t.Fatalf("err = %v, want ErrBadKey", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kid != tc.wantKid {
				t.Errorf("kid %s, want %s", kid, tc.wantKid)
			}
			switch tc.alg {
			case ES256:
				if pk, ok := raw.(*ecdsa.PublicKey); !ok || !pk.Equal(esRaw) {
					t.Errorf("raw %T is not the ES256 key", raw)
				}
			case EdDSA:
				if pk, ok := raw.(ed25519.PublicKey); !ok || !pk.Equal(edRaw) {
					t.Errorf("raw %T is not the EdDSA key", raw)
				}
			}
		})
	}
}

func TestGenerateKeyAndSigner(t *testing.T) {
	for _, alg := range []string{"HS256", "RS256", "ES384", "none", ""} {
		if _, err := GenerateKey(alg); !errors.Is(err, ErrBadKey) {
			t.Errorf("GenerateKey(%q) err = %v, want ErrBadKey", alg, err)
		}
	}
	k, err := GenerateKey(ES256)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.AlgorithmKey, "ES384"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(k); !errors.Is(err, ErrBadKey) {
		t.Errorf("NewSigner with alg ES384: err = %v, want ErrBadKey", err)
	}
	id, err := NewCodeID()
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 22 {
		t.Errorf("NewCodeID %q is %d characters, want 22", id, len(id))
	}
}

// TestParsePublicJWKRefusesUnusableKeys: keys that parse but can never
// verify (short Ed25519, off-curve P-256) are refused at registration, not
// left to panic or fail inside a verifier. Found by the registry's tests.
func TestParsePublicJWKRefusesUnusableKeys(t *testing.T) {
	for _, tt := range []struct{ name, alg, jwk string }{
		{"short Ed25519", EdDSA, `{"kty":"OKP","crv":"Ed25519","x":"AAAA"}`},
		{"empty Ed25519", EdDSA, `{"kty":"OKP","crv":"Ed25519","x":""}`},
		{"33-byte Ed25519", EdDSA, `{"kty":"OKP","crv":"Ed25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
		{"off-curve P-256", ES256, `{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ParsePublicJWK([]byte(tt.jwk), tt.alg); !errors.Is(err, ErrBadKey) {
				t.Fatalf("err = %v, want ErrBadKey", err)
			}
		})
	}
}
