package roamjws

// One table per numbered rule of DESIGN.md §4 "Verifying a code". Every
// table has at least one row that a verifier without that rule would get
// wrong: either it would accept the token (a validly signed token that breaks
// only this rule) or it would report a different reason code.
//
// Rule 10 (compressed payloads inflate through a size cap) does not apply to
// roam JWS: roam codes are never compressed (no "zip" header is accepted, see
// rule 5), so decompress_limit belongs to the foreign-format adapters.
// Rule 11 is FuzzVerify and FuzzStrictJSON in fuzz_test.go.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// parts splits a compact token.
func parts(t *testing.T, tok string) (h, p, s string) {
	t.Helper()
	ps := strings.Split(tok, ".")
	if len(ps) != 3 {
		t.Fatalf("token has %d parts", len(ps))
	}
	return ps[0], ps[1], ps[2]
}

// withSig replaces a token's signature bytes.
func withSig(t *testing.T, tok string, f func([]byte) []byte) string {
	t.Helper()
	h, p, s := parts(t, tok)
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return h + "." + p + "." + enc(f(sig))
}

// tokenOfLen returns a valid ES256 code of exactly n bytes (with the "roam:"
// prefix when that is what it takes to hit n), padding the disp claim.
func tokenOfLen(t *testing.T, e *env, n int) string {
	t.Helper()
	hdrLen := len(strings.Split(e.code(t, e.es, nil), ".")[0])
	const sigLen = 86 // 64 bytes, base64url without padding
	for d := 0; d < n; d++ {
		c := baseClaims(zhejiang)
		c.Display = strings.Repeat("x", d)
		l := hdrLen + 1 + base64.RawURLEncoding.EncodedLen(len(claimsJSON(t, c))) + 1 + sigLen
		for _, prefix := range []string{"", Prefix} {
			if l+len(prefix) != n {
				continue
			}
			tok, err := e.es.signer.Sign(&c, TypCode)
			if err != nil {
				t.Fatal(err)
			}
			tok = prefix + tok
			if len(tok) != n {
				t.Fatalf("built %d bytes, want %d", len(tok), n)
			}
			return tok
		}
	}
	t.Fatalf("no token of %d bytes", n)
	return ""
}

func TestVerifyAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		key    func(*env) *testKey
		prefix string
		color  adapters.Color
	}{
		{"ES256 bare", func(e *env) *testKey { return e.es }, "", adapters.Green},
		{"ES256 roam: prefix", func(e *env) *testKey { return e.es }, Prefix, adapters.Yellow},
		{"EdDSA bare", func(e *env) *testKey { return e.ed }, "", adapters.Red},
		{"EdDSA roam: prefix", func(e *env) *testKey { return e.ed }, Prefix, adapters.Green},
		{"Beijing key for Beijing iss", func(e *env) *testKey { return e.other }, Prefix, adapters.Green},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			k := tc.key(e)
			want := baseClaims(k.iss)
			want.Color = tc.color
			tok, err := k.signer.Sign(&want, TypCode)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.v.Verify([]byte(tc.prefix+tok), testAt)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("claims\n got %+v\nwant %+v", *got, want)
			}
			a := Adapter{V: e.v}
			if !a.Detect([]byte(tc.prefix + tok)) {
				t.Error("Detect = false")
			}
			if _, err := a.Decode(context.Background(), []byte(tc.prefix+tok), testAt); err != nil {
				t.Errorf("Decode: %v", err)
			}
		})
	}
}

// Sign must write the protected headers alg, kid and typ and nothing else.
func TestSignHeaders(t *testing.T) {
	for _, alg := range []string{ES256, EdDSA} {
		k := newTestKey(t, alg, zhejiang)
		tok := newEnv(t).code(t, k, nil)
		h, _, _ := parts(t, tok)
		hb, err := base64.RawURLEncoding.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := strictUnmarshal(hb, &got, nil); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"alg": alg, "kid": k.kid, "typ": TypCode}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s header %v, want %v", alg, got, want)
		}
	}
}

// Rule 1: input size is capped before any parsing; trailing whitespace, a BOM
// or characters outside the base64url alphabet are rejected, not trimmed.
func TestVerifyRule1Input(t *testing.T) {
	valid := func(t *testing.T, e *env) string { return e.code(t, e.es, nil) }
	runRows(t, []row{
		{name: "valid", tok: valid},
		// At the cap the size check lets it through; only its padded disp
		// (longer than any masked name) refuses it.
		{name: "exactly 4096 bytes", want: reason.ClaimsInvalid, tok: func(t *testing.T, e *env) string { return tokenOfLen(t, e, DefaultMaxInput) }},
		// Validly signed: accepted if the cap were removed.
		{name: "4097 bytes validly signed", want: reason.InputTooLarge,
			tok: func(t *testing.T, e *env) string { return tokenOfLen(t, e, DefaultMaxInput+1) }},
		{name: "1 MiB of garbage", want: reason.InputTooLarge,
			tok: func(t *testing.T, e *env) string { return strings.Repeat("{", 1<<20) }},
		{name: "custom MaxInput", want: reason.InputTooLarge,
			setup: func(t *testing.T, e *env) { e.v.MaxInput = 100 },
			tok:   valid},
		{name: "BOM prefix", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return "\ufeff" + valid(t, e) }},
		{name: "BOM after roam:", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return Prefix + "\ufeff" + valid(t, e) }},
		// Go's base64 decoder skips \r and \n, so without the alphabet
		// check these would verify.
		{name: "trailing newline", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return valid(t, e) + "\n" }},
		{name: "trailing CRLF", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return valid(t, e) + "\r\n" }},
		{name: "newline inside signature", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { v := valid(t, e); return v[:len(v)-10] + "\n" + v[len(v)-10:] }},
		{name: "trailing space", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return valid(t, e) + " " }},
		{name: "leading space", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return " " + valid(t, e) }},
		{name: "trailing NUL", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return valid(t, e) + "\x00" }},
		{name: "standard base64 '+'", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { v := valid(t, e); return v[:len(v)-1] + "+" }},
		{name: "padding '=' on signature", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return valid(t, e) + "==" }},
		{name: "padding '=' on header", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string {
				h, p, s := parts(t, valid(t, e))
				hb, _ := base64.RawURLEncoding.DecodeString(h)
				return base64.URLEncoding.EncodeToString(hb) + "=." + p + "." + s
			}},
		{name: "non-ASCII", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return "张" + valid(t, e) }},
	})
}

// Rule 2: compact serialization only.
func TestVerifyRule2Compact(t *testing.T) {
	flattened := func(t *testing.T, e *env, unprotected bool) string {
		h, p, s := parts(t, e.code(t, e.es, nil))
		kv := []string{"payload", q(p), "protected", q(h)}
		if unprotected {
			kv = append(kv, "header", jsonObj("kid", q(e.es.kid)))
		}
		return jsonObj(append(kv, "signature", q(s))...)
	}
	general := func(t *testing.T, e *env) string {
		pl := e.payload(t, e.es, nil)
		h1, p, s1 := parts(t, e.es.forge(t, e.es.header(TypCode), pl))
		h2, _, s2 := parts(t, e.ed.forge(t, e.ed.header(TypCode), pl))
		return jsonObj("payload", q(p), "signatures", "["+
			jsonObj("protected", q(h1), "signature", q(s1))+","+
			jsonObj("protected", q(h2), "signature", q(s2))+"]")
	}
	runRows(t, []row{
		{name: "flattened JSON", want: reason.SerializationNotCompact,
			tok: func(t *testing.T, e *env) string { return flattened(t, e, false) }},
		{name: "flattened JSON with unprotected header", want: reason.SerializationNotCompact,
			tok: func(t *testing.T, e *env) string { return flattened(t, e, true) }},
		{name: "general JSON with 2 signatures", want: reason.SerializationNotCompact,
			tok: general},
		{name: "roam: + JSON", want: reason.SerializationNotCompact,
			tok: func(t *testing.T, e *env) string { return Prefix + flattened(t, e, false) }},
		{name: "whitespace + JSON", want: reason.SerializationNotCompact,
			tok: func(t *testing.T, e *env) string { return "\n\t " + general(t, e) }},
		{name: "2 parts", want: reason.SerializationNotCompact,
			tok: func(t *testing.T, e *env) string { h, p, _ := parts(t, e.code(t, e.es, nil)); return h + "." + p }},
		{name: "4 parts", want: reason.SerializationNotCompact,
			tok: func(t *testing.T, e *env) string { return e.code(t, e.es, nil) + ".AAAA" }},
		{name: "4 parts, trailing dot", want: reason.SerializationNotCompact,
			tok: func(t *testing.T, e *env) string { return e.code(t, e.es, nil) + "." }},
		{name: "5 parts (JWE shape)", want: reason.SerializationNotCompact,
			tok: func(t *testing.T, e *env) string {
				h, p, s := parts(t, e.code(t, e.es, nil))
				return h + ".." + p + ".AAAA." + s
			}},
	})
}

// Rule 3: the algorithm comes from the registry's key; a different header alg
// is rejected; none and HMAC never.
func TestVerifyRule3Alg(t *testing.T) {
	withAlg := func(t *testing.T, k *testKey, alg string, sig []byte) string {
		hdr := jsonObj("alg", q(alg), "kid", q(k.kid), "typ", q(TypCode))
		in := signingInput(hdr, claimsJSON(t, baseClaims(k.iss)))
		return in + "." + enc(sig)
	}
	// hs256 signs with the key's own public JWK as the HMAC secret: the
	// classic alg-confusion forgery.
	hs256 := func(t *testing.T, k *testKey, secret []byte) string {
		hdr := jsonObj("alg", q("HS256"), "kid", q(k.kid), "typ", q(TypCode))
		in := signingInput(hdr, claimsJSON(t, baseClaims(k.iss)))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + enc(m.Sum(nil))
	}
	runRows(t, []row{
		{name: "alg none, empty signature", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string { return withAlg(t, e.es, "none", nil) }},
		{name: "alg None", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string { return withAlg(t, e.es, "None", nil) }},
		{name: "HS256 keyed with the public JWK", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string {
				pub, err := PublicJWK(e.es.jwk)
				if err != nil {
					t.Fatal(err)
				}
				return hs256(t, e.es, pub)
			}},
		{name: "HS256 keyed with the public point", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string {
				pub := e.es.priv.Public().(*ecdsa.PublicKey)
				b, err := pub.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				return hs256(t, e.es, b)
			}},
		{name: "HS512", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string {
				m := hmac.New(sha512.New, []byte("secret"))
				return withAlg(t, e.es, "HS512", m.Sum(nil))
			}},
		{name: "RS256", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string {
				sig := make([]byte, 256)
				rand.Read(sig)
				return withAlg(t, e.es, "RS256", sig)
			}},
		{name: "ES384 signed with P-384", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string {
				p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				hdr := jsonObj("alg", q("ES384"), "kid", q(e.es.kid), "typ", q(TypCode))
				in := signingInput(hdr, claimsJSON(t, baseClaims(zhejiang)))
				h := sha512.Sum384([]byte(in))
				r, s, err := ecdsa.Sign(rand.Reader, p384, h[:])
				if err != nil {
					t.Fatal(err)
				}
				sig := make([]byte, 96)
				r.FillBytes(sig[:48])
				s.FillBytes(sig[48:])
				return in + "." + enc(sig)
			}},
		{name: "ES256K", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string { return withAlg(t, e.es, "ES256K", make([]byte, 64)) }},
		{name: "lower-case es256", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string { return withAlg(t, e.es, "es256", e.es.rawSig(t, "x")) }},
		{name: "alg missing", want: reason.AlgNotAllowed,
			tok: func(t *testing.T, e *env) string {
				return e.es.forge(t, jsonObj("kid", q(e.es.kid), "typ", q(TypCode)), e.payload(t, e.es, nil))
			}},
		{name: "alg not a string", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string {
				return e.es.forge(t, jsonObj("alg", "256", "kid", q(e.es.kid), "typ", q(TypCode)), e.payload(t, e.es, nil))
			}},
		// Signed by the registered Ed25519 key: without the header/key
		// comparison this would verify.
		{name: "ES256 header on registered EdDSA key", want: reason.AlgMismatch,
			tok: func(t *testing.T, e *env) string {
				hdr := jsonObj("alg", q(ES256), "kid", q(e.ed.kid), "typ", q(TypCode))
				return e.ed.forge(t, hdr, e.payload(t, e.ed, nil))
			}},
		{name: "EdDSA header on registered ES256 key", want: reason.AlgMismatch,
			tok: func(t *testing.T, e *env) string {
				hdr := jsonObj("alg", q(EdDSA), "kid", q(e.es.kid), "typ", q(TypCode))
				return e.es.forge(t, hdr, e.payload(t, e.es, nil))
			}},
	})
}

// typ separates codes from status assertions (DESIGN.md §4, sign.go).
func TestVerifyTyp(t *testing.T) {
	status := func(t *testing.T, e *env) string {
		c := baseClaims(zhejiang)
		tok, err := e.es.signer.Sign(&c, TypStatus)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	withTyp := func(typ string) func(t *testing.T, e *env) string {
		return func(t *testing.T, e *env) string {
			return e.es.forge(t, jsonObj("alg", q(ES256), "kid", q(e.es.kid), "typ", q(typ)), e.payload(t, e.es, nil))
		}
	}
	runRows(t, []row{
		{name: "status assertion as status", status: true, tok: status},
		{name: "status assertion presented as a code", want: reason.TypeInvalid, tok: status},
		{name: "code presented as a status assertion", status: true, want: reason.TypeInvalid,
			tok: func(t *testing.T, e *env) string { return e.code(t, e.es, nil) }},
		{name: "typ JWT", want: reason.TypeInvalid, tok: withTyp("JWT")},
		{name: "typ upper case", want: reason.TypeInvalid, tok: withTyp(strings.ToUpper(TypCode))},
		{name: "typ missing", want: reason.TypeInvalid,
			tok: func(t *testing.T, e *env) string {
				return e.es.forge(t, jsonObj("alg", q(ES256), "kid", q(e.es.kid)), e.payload(t, e.es, nil))
			}},
	})
}

// Rule 4: kid is required and must name a key registered to the token's iss.
func TestVerifyRule4Kid(t *testing.T) {
	withKid := func(kidJSON string) func(t *testing.T, e *env) string {
		return func(t *testing.T, e *env) string {
			return e.es.forge(t, jsonObj("alg", q(ES256), "kid", kidJSON, "typ", q(TypCode)), e.payload(t, e.es, nil))
		}
	}
	runRows(t, []row{
		{name: "kid missing", want: reason.KidMissing,
			tok: func(t *testing.T, e *env) string {
				return e.es.forge(t, jsonObj("alg", q(ES256), "typ", q(TypCode)), e.payload(t, e.es, nil))
			}},
		{name: "kid empty", want: reason.KidMissing, tok: withKid(`""`)},
		{name: "kid null", want: reason.KidMissing, tok: withKid(`null`)},
		{name: "kid unknown, signed by that key", want: reason.UnknownKey,
			tok: func(t *testing.T, e *env) string {
				stranger := newTestKey(t, ES256, zhejiang)
				return e.code(t, stranger, nil)
			}},
		{name: "kid upper-cased", want: reason.UnknownKey,
			tok: func(t *testing.T, e *env) string { return withKid(q(strings.ToUpper(e.es.kid)))(t, e) }},
		// An oversized kid is refused before the registry sees it.
		{name: "huge kid", want: reason.UnknownKey, tok: withKid(q(strings.Repeat("A", 2000))), after: noLookups},
		{name: "kid just over the bound", want: reason.UnknownKey, tok: withKid(q(strings.Repeat("A", maxKid+1))), after: noLookups},
		// Valid Beijing signature over a Zhejiang iss: accepted without
		// the issuer check.
		{name: "key of another jurisdiction, valid signature", want: reason.KeyIssuerMismatch,
			tok: func(t *testing.T, e *env) string {
				return e.other.forge(t, e.other.header(TypCode), e.payload(t, e.es, nil))
			}},
		{name: "iss missing", want: reason.ClaimsInvalid,
			tok: func(t *testing.T, e *env) string {
				return e.es.forge(t, e.es.header(TypCode), e.payload(t, e.es, func(c *adapters.Claims) { c.Issuer = "" }))
			}},
	})
}

// Rule 5: jku, x5u, jwk and any crit are rejected; headers are never
// followed. Every extra header here is signed by the registered key.
func TestVerifyRule5Headers(t *testing.T) {
	extra := func(kv ...string) func(t *testing.T, e *env) string {
		return func(t *testing.T, e *env) string {
			return e.es.forge(t, e.es.header(TypCode, kv...), e.payload(t, e.es, nil))
		}
	}
	runRows(t, []row{
		{name: "jku", want: reason.HeaderForbidden, tok: extra("jku", q("https://evil.example/jwks.json"))},
		{name: "x5u", want: reason.HeaderForbidden, tok: extra("x5u", q("https://evil.example/cert.pem"))},
		{name: "jwk", want: reason.HeaderForbidden,
			tok: func(t *testing.T, e *env) string {
				pub, err := PublicJWK(e.es.jwk)
				if err != nil {
					t.Fatal(err)
				}
				return extra("jwk", string(pub))(t, e)
			}},
		{name: "crit", want: reason.HeaderForbidden, tok: extra("crit", `["exp"]`)},
		{name: "crit empty", want: reason.HeaderForbidden, tok: extra("crit", `[]`)},
		{name: "b64 false", want: reason.HeaderForbidden, tok: extra("b64", `false`, "crit", `["b64"]`)},
		{name: "x5c", want: reason.HeaderForbidden, tok: extra("x5c", `["MIIB"]`)},
		{name: "x5t#S256", want: reason.HeaderForbidden, tok: extra("x5t#S256", q("abc"))},
		{name: "zip", want: reason.HeaderForbidden, tok: extra("zip", q("DEF"))},
		{name: "unknown header", want: reason.HeaderForbidden, tok: extra("foo", q("bar"))},
		// encoding/json matches names case-insensitively: a "KID" must not
		// reach the decoder as a second kid.
		{name: "case variant KID", want: reason.HeaderForbidden, tok: extra("KID", q("x"))},
		{name: "duplicate alg", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string {
				return e.es.forge(t, e.es.header(TypCode)[:1]+`"alg":"none",`+e.es.header(TypCode)[1:], e.payload(t, e.es, nil))
			}},
		{name: "duplicate kid", want: reason.Malformed, tok: extra("kid", q("other"))},
		{name: "header not an object", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string { return e.es.forge(t, `["ES256"]`, e.payload(t, e.es, nil)) }},
		{name: "header trailing data", want: reason.Malformed,
			tok: func(t *testing.T, e *env) string {
				return e.es.forge(t, e.es.header(TypCode)+"{}", e.payload(t, e.es, nil))
			}},
	})
}

// Rule 6: ECDSA signatures are 64-byte r‖s; DER is rejected.
func TestVerifyRule6Signature(t *testing.T) {
	es := func(t *testing.T, e *env) string { return e.code(t, e.es, nil) }
	ed := func(t *testing.T, e *env) string { return e.code(t, e.ed, nil) }
	runRows(t, []row{
		{name: "DER signature of the right message", want: reason.SignatureFormat,
			tok: func(t *testing.T, e *env) string {
				in := signingInput(e.es.header(TypCode), e.payload(t, e.es, nil))
				return in + "." + enc(e.es.derSig(t, in))
			}},
		{name: "ES256 63 bytes", want: reason.SignatureFormat,
			tok: func(t *testing.T, e *env) string {
				return withSig(t, es(t, e), func(s []byte) []byte { return s[:63] })
			}},
		{name: "ES256 65 bytes", want: reason.SignatureFormat,
			tok: func(t *testing.T, e *env) string {
				return withSig(t, es(t, e), func(s []byte) []byte { return append(s, 0) })
			}},
		{name: "EdDSA 63 bytes", want: reason.SignatureFormat,
			tok: func(t *testing.T, e *env) string {
				return withSig(t, ed(t, e), func(s []byte) []byte { return s[:63] })
			}},
		{name: "EdDSA 65 bytes", want: reason.SignatureFormat,
			tok: func(t *testing.T, e *env) string {
				return withSig(t, ed(t, e), func(s []byte) []byte { return append(s, 0) })
			}},
		{name: "empty signature", want: reason.SignatureFormat,
			tok: func(t *testing.T, e *env) string { h, p, _ := parts(t, es(t, e)); return h + "." + p + "." }},
		{name: "signature not base64url (length 4n+1)", want: reason.SignatureFormat,
			tok: func(t *testing.T, e *env) string { return es(t, e) + "A" }},
		// 64 bytes encode to 86 characters whose last carries 4 unused
		// bits; they must be zero.
		{name: "non-canonical base64 trailing bits", want: reason.SignatureFormat,
			tok: func(t *testing.T, e *env) string {
				v := withSig(t, es(t, e), func(s []byte) []byte { s[63] = 0; return s })
				return v[:len(v)-1] + "B"
			}},
		{name: "flipped signature bit", want: reason.SignatureInvalid,
			tok: func(t *testing.T, e *env) string {
				return withSig(t, es(t, e), func(s []byte) []byte { s[10] ^= 1; return s })
			}},
		{name: "flipped EdDSA signature bit", want: reason.SignatureInvalid,
			tok: func(t *testing.T, e *env) string {
				return withSig(t, ed(t, e), func(s []byte) []byte { s[40] ^= 0x80; return s })
			}},
		{name: "r and s swapped", want: reason.SignatureInvalid,
			tok: func(t *testing.T, e *env) string {
				return withSig(t, es(t, e), func(s []byte) []byte { return append(append([]byte{}, s[32:]...), s[:32]...) })
			}},
		{name: "all-zero signature", want: reason.SignatureInvalid,
			tok: func(t *testing.T, e *env) string {
				return withSig(t, es(t, e), func([]byte) []byte { return make([]byte, 64) })
			}},
		{name: "payload changed after signing", want: reason.SignatureInvalid,
			tok: func(t *testing.T, e *env) string {
				h, _, s := parts(t, es(t, e))
				red := e.payload(t, e.es, func(c *adapters.Claims) { c.Color = adapters.Red })
				return h + "." + enc([]byte(red)) + "." + s
			}},
		{name: "signed by an impostor under our kid", want: reason.SignatureInvalid,
			tok: func(t *testing.T, e *env) string {
				impostor := newTestKey(t, ES256, zhejiang)
				return impostor.forge(t, e.es.header(TypCode), e.payload(t, e.es, nil))
			}},
	})
}

// Rule 7: nbf ≤ at + skew, at < exp, exp > nbf; seconds only.
func TestVerifyRule7Time(t *testing.T) {
	at := testAt.Unix()
	const ms = 1000
	signed := func(mut func(c *adapters.Claims)) func(t *testing.T, e *env) string {
		return func(t *testing.T, e *env) string { return e.code(t, e.es, mut) }
	}
	exp := baseClaims(zhejiang).Expires
	runRows(t, []row{
		{name: "nbf beyond skew", want: reason.NotYetValid,
			tok: signed(func(c *adapters.Claims) { c.NotBefore = at + 61 })},
		// A code issued in the future would also dodge every age limit.
		{name: "iat in the future, nbf now", want: reason.NotYetValid,
			tok: signed(func(c *adapters.Claims) { c.IssuedAt, c.Expires = at+5*86400, at+6*86400 })},
		{name: "iat at the skew edge", tok: signed(func(c *adapters.Claims) { c.IssuedAt = at + 60 })},
		{name: "nbf at the skew edge", tok: signed(func(c *adapters.Claims) { c.NotBefore = at + 60 })},
		{name: "nbf within custom skew", tok: signed(func(c *adapters.Claims) { c.NotBefore = at + 10 }),
			setup: func(t *testing.T, e *env) { e.v.Skew = 10 * time.Second }},
		{name: "nbf beyond custom skew", want: reason.NotYetValid,
			tok:   signed(func(c *adapters.Claims) { c.NotBefore = at + 11 }),
			setup: func(t *testing.T, e *env) { e.v.Skew = 10 * time.Second }},
		{name: "one second before exp", tok: signed(nil), at: time.Unix(exp-1, 0)},
		{name: "at == exp", want: reason.Expired, tok: signed(nil), at: time.Unix(exp, 0)},
		{name: "after exp", want: reason.Expired, tok: signed(nil), at: time.Unix(exp+1, 0)},
		// Skew applies to nbf only, never to exp.
		{name: "exp within skew in the past", want: reason.Expired,
			tok: signed(func(c *adapters.Claims) { c.Expires = at - 30 })},
		{name: "exp == nbf", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.NotBefore, c.Expires = at+30, at+30 })},
		{name: "exp < nbf", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.NotBefore, c.Expires = at+50, at+30 })},
		{name: "iat == exp", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.IssuedAt, c.Expires = at+30, at+30 })},
		{name: "iat > exp", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.IssuedAt, c.Expires = at+40, at+30 })},
		// Only exp in milliseconds: every other check passes.
		{name: "exp in milliseconds", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.Expires *= ms })},
		{name: "all timestamps in milliseconds", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.IssuedAt *= ms; c.NotBefore *= ms; c.Expires *= ms }),
			at:  time.UnixMilli(at)},
		{name: "nbf missing", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.NotBefore = 0 })},
		{name: "iat negative", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.IssuedAt = -1 })},
		{name: "exp max int64", want: reason.TimestampsInvalid,
			tok: signed(func(c *adapters.Claims) { c.Expires = 1<<63 - 1 })},
	})
}

// Rule 8: the key must be active or retired at iat; a revoked key rejects
// everything; a revoked jti rejects.
func TestVerifyRule8KeyState(t *testing.T) {
	at := testAt.Unix()
	valid := func(t *testing.T, e *env) string { return e.code(t, e.es, nil) }
	iat := baseClaims(zhejiang).IssuedAt
	state := func(s KeyState, changed int64) func(t *testing.T, e *env) {
		return func(t *testing.T, e *env) {
			k := e.res.keys[e.es.kid]
			k.State, k.StateChangedAt = s, changed
		}
	}
	runRows(t, []row{
		{name: "revoked key", want: reason.KeyRevoked, tok: valid, setup: state(KeyRevoked, at-60)},
		{name: "revoked key, iat long before revocation", want: reason.KeyRevoked, tok: valid, setup: state(KeyRevoked, at+3600)},
		{name: "retired key, iat before retirement", tok: valid, setup: state(KeyRetired, iat+1)},
		{name: "retired key, iat at retirement", want: reason.KeyNotValidAtIat, tok: valid, setup: state(KeyRetired, iat)},
		{name: "retired key, iat after retirement", want: reason.KeyNotValidAtIat, tok: valid, setup: state(KeyRetired, iat-1)},
		// A state the verifier does not know is neither active nor
		// retired, so it must not sign.
		{name: "key in no known state", want: reason.KeyNotValidAtIat, tok: valid, setup: state(0, 0)},
		{name: "key state out of range", want: reason.KeyNotValidAtIat, tok: valid, setup: state(KeyRevoked+1, 0)},
		{name: "iat before key NotBefore", want: reason.KeyNotValidAtIat, tok: valid,
			setup: func(t *testing.T, e *env) { e.res.keys[e.es.kid].NotBefore = iat + 1 }},
		{name: "iat at key NotBefore", tok: valid,
			setup: func(t *testing.T, e *env) { e.res.keys[e.es.kid].NotBefore = iat }},
		{name: "iat at key NotAfter", want: reason.KeyNotValidAtIat, tok: valid,
			setup: func(t *testing.T, e *env) { e.res.keys[e.es.kid].NotAfter = iat }},
		{name: "iat just before key NotAfter", tok: valid,
			setup: func(t *testing.T, e *env) { e.res.keys[e.es.kid].NotAfter = iat + 1 }},
		{name: "revoked jti", want: reason.CodeRevoked, tok: valid,
			setup: func(t *testing.T, e *env) { e.res.revoked[zhejiang+"/"+testJTI] = true }},
		{name: "jti revoked by another jurisdiction only", tok: valid,
			setup: func(t *testing.T, e *env) { e.res.revoked[beijing+"/"+testJTI] = true }},
	})
}

// Rule 9: the payload is strict JSON; duplicate keys, unknown claims and
// unknown colours are rejected. Every payload here is signed correctly.
func TestVerifyRule9Claims(t *testing.T) {
	raw := func(f func(t *testing.T, p string) string) func(t *testing.T, e *env) string {
		return func(t *testing.T, e *env) string {
			return e.es.forge(t, e.es.header(TypCode), f(t, e.payload(t, e.es, nil)))
		}
	}
	replace := func(old, new string) func(t *testing.T, e *env) string {
		return raw(func(t *testing.T, p string) string { return edit(t, p, old, new) })
	}
	add := func(kv ...string) func(t *testing.T, e *env) string {
		return raw(func(t *testing.T, p string) string { return addMember(t, p, kv...) })
	}
	signed := func(mut func(c *adapters.Claims)) func(t *testing.T, e *env) string {
		return func(t *testing.T, e *env) string { return e.code(t, e.es, mut) }
	}
	iat := baseClaims(zhejiang).IssuedAt
	runRows(t, []row{
		// A decoder without the duplicate check keeps the last: red.
		{name: "duplicate color", want: reason.ClaimsInvalid, tok: add("color", q("red"))},
		{name: "duplicate via escaped name", want: reason.ClaimsInvalid, tok: add(`\u0063olor`, q("red"))},
		{name: "duplicate iss", want: reason.ClaimsInvalid, tok: add("iss", q(beijing))},
		{name: "duplicate in nested object", want: reason.ClaimsInvalid,
			tok: replace(`"sub":"k7Jq2mUfV0b4sXWc1Hn8pA"`, `"sub":{"a":1,"a":2}`)},
		{name: "unknown claim", want: reason.ClaimsInvalid, tok: add("name", q("张三"))},
		// encoding/json would map "Color" onto color; the claim check must
		// see it first.
		{name: "case variant Color", want: reason.ClaimsInvalid, tok: add("Color", q("red"))},
		{name: "case variant EXP", want: reason.ClaimsInvalid, tok: add("EXP", "99999999999")},
		{name: "invalid UTF-8 in disp", want: reason.ClaimsInvalid, tok: replace(`"disp":"`, "\"disp\":\"\xff")},
		{name: "lone surrogate in disp", want: reason.ClaimsInvalid, tok: replace(`"disp":"`, `"disp":"\ud800`)},
		{name: "color Green", want: reason.ColorUnknown, tok: signed(func(c *adapters.Claims) { c.Color = "Green" })},
		{name: "color blue", want: reason.ColorUnknown, tok: signed(func(c *adapters.Claims) { c.Color = "blue" })},
		{name: "color empty", want: reason.ColorUnknown, tok: signed(func(c *adapters.Claims) { c.Color = "" })},
		{name: "color padded", want: reason.ColorUnknown, tok: signed(func(c *adapters.Claims) { c.Color = " green" })},
		{name: "color null", want: reason.ColorUnknown, tok: replace(`"color":"green"`, `"color":null`)},
		{name: "color a number", want: reason.ClaimsInvalid, tok: replace(`"color":"green"`, `"color":1`)},
		{name: "ver float", want: reason.ClaimsInvalid, tok: replace(`"ver":1,`, `"ver":1.5,`)},
		{name: "ver 1.0", want: reason.ClaimsInvalid, tok: replace(`"ver":1,`, `"ver":1.0,`)},
		{name: "ver string", want: reason.ClaimsInvalid, tok: replace(`"ver":1,`, `"ver":"1",`)},
		{name: "ver zero", want: reason.ClaimsInvalid, tok: signed(func(c *adapters.Claims) { c.Version = 0 })},
		{name: "iat float", want: reason.ClaimsInvalid,
			tok: replace(`"iat":`+itoa(iat), `"iat":`+itoa(iat)+`.5`)},
		{name: "iat exponent", want: reason.ClaimsInvalid,
			tok: replace(`"iat":`+itoa(iat), `"iat":1.5e9`)},
		{name: "jti 15 bytes", want: reason.ClaimsInvalid,
			tok: signed(func(c *adapters.Claims) { c.CodeID = enc(make([]byte, 15)) })},
		{name: "jti 17 bytes", want: reason.ClaimsInvalid,
			tok: signed(func(c *adapters.Claims) { c.CodeID = enc(make([]byte, 17)) })},
		{name: "jti padded", want: reason.ClaimsInvalid,
			tok: signed(func(c *adapters.Claims) { c.CodeID = base64.URLEncoding.EncodeToString(make([]byte, 16)) })},
		{name: "jti standard base64", want: reason.ClaimsInvalid,
			tok: signed(func(c *adapters.Claims) { c.CodeID = "+/+/+/+/+/+/+/+/+/+/+w" })},
		{name: "jti missing", want: reason.ClaimsInvalid, tok: signed(func(c *adapters.Claims) { c.CodeID = "" })},
		{name: "sub missing", want: reason.ClaimsInvalid, tok: signed(func(c *adapters.Claims) { c.Subject = "" })},
		{name: "sys missing", want: reason.ClaimsInvalid, tok: signed(func(c *adapters.Claims) { c.System = "" })},
		{name: "sys too long", want: reason.ClaimsInvalid, tok: signed(func(c *adapters.Claims) { c.System = strings.Repeat("s", maxSystem+1) })},
		{name: "sys at its limit", tok: signed(func(c *adapters.Claims) { c.System = strings.Repeat("s", maxSystem) })},
		{name: "sub too long", want: reason.ClaimsInvalid, tok: signed(func(c *adapters.Claims) { c.Subject = strings.Repeat("s", maxSubject+1) })},
		{name: "disp too long", want: reason.ClaimsInvalid, tok: signed(func(c *adapters.Claims) { c.Display = strings.Repeat("张", maxDisplay/3+1) })},
		{name: "payload null", want: reason.ClaimsInvalid, tok: raw(func(t *testing.T, p string) string { return "null" })},
		{name: "trailing object", want: reason.ClaimsInvalid,
			tok: raw(func(t *testing.T, p string) string { return p + "{}" })},
		{name: "payload an array", want: reason.ClaimsInvalid,
			tok: raw(func(t *testing.T, p string) string { return "[" + p + "]" })},
		{name: "payload empty", want: reason.ClaimsInvalid,
			tok: raw(func(t *testing.T, p string) string { return "" })},
		{name: "nested too deep", want: reason.ClaimsInvalid,
			tok: replace(`"sub":"k7Jq2mUfV0b4sXWc1Hn8pA"`, `"sub":`+strings.Repeat("[", 40)+strings.Repeat("]", 40))},
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func noLookups(t *testing.T, e *env) {
	t.Helper()
	if len(e.res.lookups) != 0 {
		t.Errorf("resolver was asked for %d kid(s) of up to %d bytes", len(e.res.lookups), len(slices.MaxFunc(e.res.lookups, func(a, b string) int { return len(a) - len(b) })))
	}
}

// scanStrict directly: the duplicate and depth limits hold for nesting the
// claims struct would reject anyway, so Verify alone cannot show them.
func TestScanStrict(t *testing.T) {
	// objs is n nested objects; arrs is an object holding n-1 nested arrays.
	objs := func(n int) string { return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1) }
	arrs := func(n int) string { return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + "}" }
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"claims", `{"iss":"330000","ver":1}`, true},
		{"empty object", `{}`, true},
		{"trailing whitespace", "{}\n ", true},
		{"objects 16 deep", objs(maxDepth), true},
		{"objects 17 deep", objs(maxDepth + 1), false},
		{"arrays to depth 16", arrs(maxDepth), true},
		{"arrays to depth 17", arrs(maxDepth + 1), false},
		{"duplicate", `{"a":1,"a":1}`, false},
		{"duplicate by escape", `{"a":1,"\u0061":1}`, false},
		{"duplicate in array of objects", `{"x":[{"a":1},{"a":1,"b":2,"a":3}]}`, false},
		{"same key in sibling objects", `{"x":{"a":1},"y":{"a":1}}`, true},
		{"not an object", `[]`, false},
		{"string", `"x"`, false},
		{"empty", ``, false},
		{"unterminated", `{"a":1`, false},
		{"trailing comma", `{"a":1,}`, false},
		{"missing colon", `{"a" 1}`, false},
		{"non-string key", `{1:1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := scanStrict([]byte(tc.in), nil)
			if tc.ok != (err == nil) {
				t.Fatalf("scanStrict(%s) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			var m map[string]any
			if err := strictUnmarshal([]byte(tc.in), &m, nil); tc.ok != (err == nil) {
				t.Fatalf("strictUnmarshal(%s) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}
