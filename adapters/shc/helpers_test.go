package shc

import (
	"bytes"
	"compress/flate"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issuers of the generated cases.
const (
	issA = "https://issuer-a.example.org/shc"
	issB = "https://issuer-b.example.org"
)

// genAt is the verification time of the generated cases.
var genAt = time.Date(2022, 3, 1, 12, 0, 0, 0, time.UTC)

// testKey is an ES256 issuer key of the generated cases.
type testKey struct {
	priv *ecdsa.PrivateKey
	kid  string
}

func newTestKey(tb testing.TB) *testKey {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	kid, err := Thumbprint(&priv.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	return &testKey{priv: priv, kid: kid}
}

// jwks is the key's public JWK set, as an issuer publishes it.
func (k *testKey) jwks() []byte {
	pt, _ := k.priv.PublicKey.Bytes()
	enc := base64.RawURLEncoding.EncodeToString
	return fmt.Appendf(nil, `{"keys":[{"kty":"EC","kid":%q,"use":"sig","alg":"ES256","crv":"P-256","x":%q,"y":%q}]}`,
		k.kid, enc(pt[1:33]), enc(pt[33:]))
}

// sign builds a compact JWS from a raw header JSON and an already
// compressed payload, signed ES256 (64-byte r‖s).
func (k *testKey) sign(tb testing.TB, header string, payload []byte) string {
	tb.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	in := enc([]byte(header)) + "." + enc(payload)
	h := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, h[:])
	if err != nil {
		tb.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + enc(sig)
}

// header is the SHC header for k.
func (k *testKey) header() string {
	return `{"zip":"DEF","alg":"ES256","kid":"` + k.kid + `"}`
}

// card signs claims JSON as a SMART Health Card.
func (k *testKey) card(tb testing.TB, claims string) string {
	tb.Helper()
	return k.sign(tb, k.header(), deflate(tb, []byte(claims)))
}

func deflate(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// Claims builders. Times are Unix seconds.
const (
	vaxBundle = `{"resourceType":"Bundle","type":"collection","entry":[` +
		`{"fullUrl":"resource:0","resource":{"resourceType":"Patient","name":[{"family":"Doe","given":["Jane"]}],"birthDate":"1970-01-01"}},` +
		`{"fullUrl":"resource:1","resource":{"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"208"}]},"patient":{"reference":"resource:0"},"occurrenceDateTime":"2021-05-01"}},` +
		`{"fullUrl":"resource:2","resource":{"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"208"}]},"patient":{"reference":"resource:0"},"occurrenceDateTime":"2021-05-22"}}]}`
	janssenBundle = `{"resourceType":"Bundle","type":"collection","entry":[` +
		`{"fullUrl":"resource:0","resource":{"resourceType":"Patient","name":[{"family":"Doe"}]}},` +
		`{"fullUrl":"resource:1","resource":{"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"212"}]},"patient":{"reference":"resource:0"},"occurrenceDateTime":"2021-07-04"}},` +
		`{"fullUrl":"resource:2","resource":{"resourceType":"Immunization","status":"entered-in-error","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"212"}]},"patient":{"reference":"resource:0"},"occurrenceDateTime":"2021-08-04"}}]}`
	testBundle = `{"resourceType":"Bundle","type":"collection","entry":[` +
		`{"fullUrl":"resource:0","resource":{"resourceType":"Patient","name":[{"family":"Doe"}]}},` +
		`{"fullUrl":"resource:1","resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"94558-4"}]},"subject":{"reference":"resource:0"},"effectiveDateTime":"2022-02-28T08:30:00+01:00","valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"260385009"}]}}}]}`
)

// claimsJSON builds a card's claims. exp 0 leaves exp out; rid "" leaves
// vc.rid out.
func claimsJSON(iss string, nbf, exp int64, rid, bundle string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"iss":%q,"nbf":%d`, iss, nbf)
	if exp != 0 {
		fmt.Fprintf(&b, `,"exp":%d`, exp)
	}
	b.WriteString(`,"vc":{"type":["https://smarthealth.cards#health-card","https://smarthealth.cards#immunization"]`)
	if rid != "" {
		fmt.Fprintf(&b, `,"rid":%q`, rid)
	}
	fmt.Fprintf(&b, `,"credentialSubject":{"fhirVersion":"4.0.1","fhirBundle":%s}}}`, bundle)
	return b.String()
}

func readVector(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// specIssuer is the iss of the specification's example cards.
const specIssuer = "https://spec.smarthealth.cards/examples/issuer"

// specStore trusts the specification's example keys for specIssuer.
func specStore(tb testing.TB) *TrustStore {
	tb.Helper()
	s := &TrustStore{}
	if err := s.AddJWKS(specIssuer, readVector(tb, "issuer-jwks.json")); err != nil {
		tb.Fatal(err)
	}
	return s
}
