package shc

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/reason"
)

// genFixture is two issuers with their own keys, and a CRL for issuer A.
type genFixture struct {
	a, b  *testKey
	store *TrustStore
	v     *Verifier
	nbf   int64
}

func newGenFixture(t *testing.T) *genFixture {
	t.Helper()
	f := &genFixture{a: newTestKey(t), b: newTestKey(t), store: &TrustStore{}, nbf: genAt.Add(-24 * time.Hour).Unix()}
	if err := f.store.AddJWKS(issA, f.a.jwks()); err != nil {
		t.Fatal(err)
	}
	if err := f.store.AddJWKS(issB, f.b.jwks()); err != nil {
		t.Fatal(err)
	}
	cutoff := genAt.Add(-12 * time.Hour).Unix() // after nbf
	crl := `{"kid":"` + f.a.kid + `","method":"rid","ctr":3,"rids":["revokedRid01","laterRid02.` + strconv.FormatInt(cutoff, 10) + `","earlyRid03.1000000000"]}`
	if err := f.store.AddCRL(issA, []byte(crl)); err != nil {
		t.Fatal(err)
	}
	f.v = &Verifier{Keys: f.store}
	return f
}

func (f *genFixture) good(t *testing.T) string {
	return f.a.card(t, claimsJSON(issA, f.nbf, 0, "", vaxBundle))
}

func TestGeneratedValid(t *testing.T) {
	f := newGenFixture(t)
	for _, tc := range []struct {
		name   string
		claims string
		check  func(t *testing.T, fc Facts)
	}{
		{"vaccination", claimsJSON(issA, f.nbf, genAt.Add(time.Hour).Unix(), "someOtherRid", vaxBundle), func(t *testing.T, fc Facts) {
			want := Vaccination{Doses: 2, Complete: true, Date: time.Date(2021, 5, 22, 0, 0, 0, 0, time.UTC), Product: "208"}
			if fc.Kind != "vaccination" || fc.Vaccination == nil || *fc.Vaccination != want {
				t.Fatalf("facts %+v", fc)
			}
		}},
		{"janssen single dose", claimsJSON(issA, f.nbf, 0, "", janssenBundle), func(t *testing.T, fc Facts) {
			want := Vaccination{Doses: 1, Complete: true, Date: time.Date(2021, 7, 4, 0, 0, 0, 0, time.UTC), Product: "212"}
			if fc.Kind != "vaccination" || fc.Vaccination == nil || *fc.Vaccination != want {
				t.Fatalf("facts %+v", fc)
			}
		}},
		{"one dose of two", claimsJSON(issA, f.nbf, 0, "", strings.Replace(vaxBundle, `"status":"completed"`, `"status":"not-done"`, 1)), func(t *testing.T, fc Facts) {
			if fc.Vaccination == nil || fc.Vaccination.Doses != 1 || fc.Vaccination.Complete {
				t.Fatalf("facts %+v", fc.Vaccination)
			}
		}},
		{"negative test", claimsJSON(issA, f.nbf, 0, "", testBundle), func(t *testing.T, fc Facts) {
			want := Test{Type: "94558-4", Result: "negative", SampleTime: time.Date(2022, 2, 28, 7, 30, 0, 0, time.UTC)}
			if fc.Kind != "test" || fc.Vaccination != nil || fc.Test == nil || *fc.Test != want {
				t.Fatalf("facts %+v", fc)
			}
		}},
		{"positive test", claimsJSON(issA, f.nbf, 0, "", strings.Replace(testBundle, "260385009", "10828004", 1)), func(t *testing.T, fc Facts) {
			if fc.Test == nil || fc.Test.Result != "positive" {
				t.Fatalf("facts %+v", fc.Test)
			}
		}},
		{"nbf within skew", claimsJSON(issA, genAt.Add(30*time.Second).Unix(), 0, "", vaxBundle), nil},
		{"revoked rid, card issued after the cutoff", claimsJSON(issA, genAt.Add(-time.Hour).Unix(), 0, "laterRid02", vaxBundle), nil},
		{"revoked rid with an old cutoff", claimsJSON(issA, f.nbf, 0, "earlyRid03", vaxBundle), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := f.a.card(t, tc.claims)
			for _, in := range []string{tok, JWSToNumeric(tok)} {
				r, err := f.v.Verify([]byte(in), genAt)
				if err != nil {
					t.Fatalf("Verify(%.20s…): %v (stages %+v)", in, err, r.Stages)
				}
				if r.Issuer != issA || r.Kid != f.a.kid || len(r.Stages) != 6 {
					t.Fatalf("result %+v", r)
				}
				if tc.check != nil {
					tc.check(t, r.Facts)
				}
			}
		})
	}
}

func TestGeneratedRejections(t *testing.T) {
	f := newGenFixture(t)
	good := f.good(t)
	goodParts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	goodPayload := deflate(t, []byte(claimsJSON(issA, f.nbf, 0, "", vaxBundle)))
	hdr := func(h string) string { return f.a.sign(t, h, goodPayload) }

	// A DEFLATE bomb: 4 MiB of zeros in a few KiB.
	bomb := f.a.sign(t, f.a.header(), deflate(t, bytes.Repeat([]byte{'0'}, 4<<20)))
	var zl bytes.Buffer
	zw := zlib.NewWriter(&zl)
	zw.Write([]byte(claimsJSON(issA, f.nbf, 0, "", vaxBundle)))
	zw.Close()

	// A DER signature by the right key.
	h := sha256.Sum256([]byte(goodParts[0] + "." + goodParts[1]))
	der, err := ecdsa.SignASN1(rand.Reader, f.a.priv, h[:])
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		in    string
		code  reason.Code
		stage string
	}{
		// unprefix
		{"oversized", "shc:/" + strings.Repeat("56", DefaultMaxInput), reason.InputTooLarge, StageUnprefix},
		{"wrong QR header", "shc:" + JWSToNumeric(good)[5:], reason.Malformed, StageUnprefix},
		{"upper-case QR header", "SHC:/" + JWSToNumeric(good)[5:], reason.Malformed, StageUnprefix},
		{"BOM", "\ufeff" + good, reason.Malformed, StageUnprefix},
		{"JSON serialization", `{"payload":"x","signatures":[]}`, reason.SerializationNotCompact, StageUnprefix},
		{"leading space", " " + good, reason.UnsupportedFormat, StageUnprefix},
		{"other format", "HC1:NCFOXN%TS3DH", reason.UnsupportedFormat, StageUnprefix},
		{"empty", "", reason.UnsupportedFormat, StageUnprefix},
		// decode: numeric
		{"numeric odd length", JWSToNumeric(good) + "5", reason.Malformed, StageDecode},
		{"numeric pair above 77", "shc:/5678" + JWSToNumeric(good)[5:], reason.Malformed, StageDecode},
		{"numeric non-digit", "shc:/56a6", reason.Malformed, StageDecode},
		{"numeric trailing newline", JWSToNumeric(good) + "\n", reason.Malformed, StageDecode},
		{"numeric multi-chunk", "shc:/1/2/" + JWSToNumeric(good)[5:], reason.UnsupportedFormat, StageDecode},
		{"numeric empty", "shc:/", reason.Malformed, StageDecode},
		// decode: JWS and header
		{"trailing newline", good + "\n", reason.Malformed, StageDecode},
		{"padding", good + "=", reason.Malformed, StageDecode},
		{"two parts", goodParts[0] + "." + goodParts[1], reason.SerializationNotCompact, StageDecode},
		{"four parts", good + ".AA", reason.SerializationNotCompact, StageDecode},
		{"alg ES384", hdr(`{"zip":"DEF","alg":"ES384","kid":"` + f.a.kid + `"}`), reason.AlgNotAllowed, StageDecode},
		{"alg none", hdr(`{"zip":"DEF","alg":"none","kid":"` + f.a.kid + `"}`), reason.AlgNotAllowed, StageDecode},
		{"alg HS256", hdr(`{"zip":"DEF","alg":"HS256","kid":"` + f.a.kid + `"}`), reason.AlgNotAllowed, StageDecode},
		{"no alg", hdr(`{"zip":"DEF","kid":"` + f.a.kid + `"}`), reason.AlgNotAllowed, StageDecode},
		{"no kid", hdr(`{"zip":"DEF","alg":"ES256"}`), reason.KidMissing, StageDecode},
		{"empty kid", hdr(`{"zip":"DEF","alg":"ES256","kid":""}`), reason.KidMissing, StageDecode},
		{"no zip", hdr(`{"alg":"ES256","kid":"` + f.a.kid + `"}`), reason.Malformed, StageDecode},
		{"zip GZIP", hdr(`{"zip":"GZIP","alg":"ES256","kid":"` + f.a.kid + `"}`), reason.UnsupportedFormat, StageDecode},
		{"header jku", hdr(`{"zip":"DEF","alg":"ES256","kid":"` + f.a.kid + `","jku":"https://evil.example/jwks.json"}`), reason.HeaderForbidden, StageDecode},
		{"header x5u", hdr(`{"zip":"DEF","alg":"ES256","kid":"` + f.a.kid + `","x5u":"https://evil.example/c.pem"}`), reason.HeaderForbidden, StageDecode},
		{"header jwk", hdr(`{"zip":"DEF","alg":"ES256","kid":"` + f.a.kid + `","jwk":{"kty":"EC"}}`), reason.HeaderForbidden, StageDecode},
		{"header crit", hdr(`{"zip":"DEF","alg":"ES256","kid":"` + f.a.kid + `","crit":["exp"]}`), reason.HeaderForbidden, StageDecode},
		{"header typ", hdr(`{"zip":"DEF","alg":"ES256","kid":"` + f.a.kid + `","typ":"JWT"}`), reason.HeaderForbidden, StageDecode},
		{"duplicate header key", hdr(`{"zip":"DEF","alg":"ES256","alg":"ES256","kid":"` + f.a.kid + `"}`), reason.Malformed, StageDecode},
		{"header not JSON", hdr(`{"zip":"DEF",`), reason.Malformed, StageDecode},
		{"header kid not a string", hdr(`{"zip":"DEF","alg":"ES256","kid":7}`), reason.Malformed, StageDecode},
		{"empty payload", goodParts[0] + ".." + goodParts[2], reason.Malformed, StageDecode},
		// decompress
		{"bomb", bomb, reason.DecompressLimit, StageDecompress},
		{"zlib-wrapped payload", f.a.sign(t, f.a.header(), zl.Bytes()), reason.Malformed, StageDecompress},
		{"uncompressed payload", f.a.sign(t, f.a.header(), []byte(claimsJSON(issA, f.nbf, 0, "", vaxBundle))), reason.Malformed, StageDecompress},
		{"bytes after DEFLATE stream", f.a.sign(t, f.a.header(), append(append([]byte{}, goodPayload...), 0, 0)), reason.Malformed, StageDecompress},
		{"truncated DEFLATE", f.a.sign(t, f.a.header(), goodPayload[:len(goodPayload)/2]), reason.Malformed, StageDecompress},
		// decode: claims
		{"duplicate claim", f.a.card(t, `{"iss":"`+issA+`","iss":"`+issB+`","nbf":1,"vc":{}}`), reason.ClaimsInvalid, StageDecode},
		{"duplicate key in bundle", f.a.card(t, claimsJSON(issA, f.nbf, 0, "", strings.Replace(vaxBundle, `"status":"completed"`, `"status":"completed","status":"completed"`, 1))), reason.ClaimsInvalid, StageDecode},
		{"trailing data in claims", f.a.card(t, claimsJSON(issA, f.nbf, 0, "", vaxBundle)+" {}"), reason.ClaimsInvalid, StageDecode},
		{"claims not JSON", f.a.card(t, "not json"), reason.ClaimsInvalid, StageDecode},
		{"claims invalid UTF-8", f.a.card(t, `{"iss":"`+issA+"\xff"+`"}`), reason.ClaimsInvalid, StageDecode},
		{"iss http", f.a.card(t, claimsJSON("http://issuer-a.example.org/shc", f.nbf, 0, "", vaxBundle)), reason.ClaimsInvalid, StageDecode},
		{"iss trailing slash", f.a.card(t, claimsJSON(issA+"/", f.nbf, 0, "", vaxBundle)), reason.ClaimsInvalid, StageDecode},
		{"iss missing", f.a.card(t, `{"nbf":1,"vc":{}}`), reason.ClaimsInvalid, StageDecode},
		{"nbf missing", f.a.card(t, `{"iss":"`+issA+`","vc":{}}`), reason.ClaimsInvalid, StageDecode},
		{"nbf string", f.a.card(t, `{"iss":"`+issA+`","nbf":"1600000000","vc":{}}`), reason.ClaimsInvalid, StageDecode},
		{"nbf milliseconds", f.a.card(t, claimsJSON(issA, f.nbf*1000, 0, "", vaxBundle)), reason.TimestampsInvalid, StageDecode},
		{"exp milliseconds", f.a.card(t, claimsJSON(issA, f.nbf, f.nbf*1000, "", vaxBundle)), reason.TimestampsInvalid, StageDecode},
		{"exp before nbf", f.a.card(t, claimsJSON(issA, f.nbf, f.nbf-1, "", vaxBundle)), reason.TimestampsInvalid, StageDecode},
		{"no health-card type", f.a.card(t, strings.Replace(claimsJSON(issA, f.nbf, 0, "", vaxBundle), "#health-card", "#other", 1)), reason.ClaimsInvalid, StageDecode},
		{"no fhirBundle", f.a.card(t, `{"iss":"`+issA+`","nbf":1,"vc":{"type":["`+HealthCardType+`"],"credentialSubject":{}}}`), reason.ClaimsInvalid, StageDecode},
		{"fhirBundle not a Bundle", f.a.card(t, claimsJSON(issA, f.nbf, 0, "", `{"resourceType":"Patient"}`)), reason.ClaimsInvalid, StageDecode},
		{"rid too long", f.a.card(t, claimsJSON(issA, f.nbf, 0, strings.Repeat("A", 25), vaxBundle)), reason.ClaimsInvalid, StageDecode},
		{"rid not base64url", f.a.card(t, claimsJSON(issA, f.nbf, 0, "ab+c", vaxBundle)), reason.ClaimsInvalid, StageDecode},
		{"immunization without CVX", f.a.card(t, claimsJSON(issA, f.nbf, 0, "", strings.Replace(vaxBundle, SystemCVX, "urn:other", -1))), reason.ClaimsInvalid, StageDecode},
		{"bad occurrenceDateTime", f.a.card(t, claimsJSON(issA, f.nbf, 0, "", strings.Replace(vaxBundle, "2021-05-01", "May 1st", 1))), reason.ClaimsInvalid, StageDecode},
		// signature
		{"DER signature", goodParts[0] + "." + goodParts[1] + "." + enc(der), reason.SignatureFormat, StageSignature},
		{"short signature", goodParts[0] + "." + goodParts[1] + ".AAAA", reason.SignatureFormat, StageSignature},
		{"kid of another issuer", f.b.card(t, claimsJSON(issA, f.nbf, 0, "", vaxBundle)), reason.KeyIssuerMismatch, StageSignature},
		{"unknown kid", newTestKey(t).card(t, claimsJSON(issA, f.nbf, 0, "", vaxBundle)), reason.UnknownKey, StageSignature},
		{"unknown issuer", f.a.card(t, claimsJSON("https://nobody.example", f.nbf, 0, "", vaxBundle)), reason.KeyIssuerMismatch, StageSignature},
		{"signed by another key under A's kid", (&testKey{priv: f.b.priv, kid: f.a.kid}).card(t, claimsJSON(issA, f.nbf, 0, "", vaxBundle)), reason.SignatureInvalid, StageSignature},
		{"payload swapped", goodParts[0] + "." + enc(deflate(t, []byte(claimsJSON(issA, f.nbf-1, 0, "", vaxBundle)))) + "." + goodParts[2], reason.SignatureInvalid, StageSignature},
		// expiry
		{"expired", f.a.card(t, claimsJSON(issA, f.nbf, genAt.Unix(), "", vaxBundle)), reason.Expired, StageExpiry},
		{"nbf in the future", f.a.card(t, claimsJSON(issA, genAt.Add(2*time.Minute).Unix(), 0, "", vaxBundle)), reason.NotYetValid, StageExpiry},
		{"revoked rid", f.a.card(t, claimsJSON(issA, f.nbf, 0, "revokedRid01", vaxBundle)), reason.CodeRevoked, StageExpiry},
		{"revoked rid before cutoff", f.a.card(t, claimsJSON(issA, f.nbf, 0, "laterRid02", vaxBundle)), reason.CodeRevoked, StageExpiry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := f.v.Verify([]byte(tc.in), genAt)
			var re *reason.Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
			}
			if re.Code != tc.code {
				t.Fatalf("code %s (%v), want %s", re.Code, err, tc.code)
			}
			if r == nil || len(r.Stages) == 0 {
				t.Fatal("no stages")
			}
			last := r.Stages[len(r.Stages)-1]
			if last.Name != tc.stage || last.OK || last.Reason != string(tc.code) {
				t.Fatalf("stages %+v, want %s to fail", r.Stages, tc.stage)
			}
			for _, s := range r.Stages[:len(r.Stages)-1] {
				if !s.OK {
					t.Fatalf("stages %+v", r.Stages)
				}
			}
			if r.Facts.Kind != "" || r.Facts.Vaccination != nil || r.Facts.Test != nil {
				t.Fatalf("rejected card has facts %+v", r.Facts)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	f := newGenFixture(t)
	good := f.good(t)
	// MaxInput: the same card passes at its size and fails one byte under.
	v := &Verifier{Keys: f.store, MaxInput: len(good)}
	if _, err := v.Verify([]byte(good), genAt); err != nil {
		t.Fatal(err)
	}
	v.MaxInput = len(good) - 1
	if _, err := v.Verify([]byte(good), genAt); reason.Of(err) != reason.InputTooLarge {
		t.Fatalf("got %v, want input_too_large", err)
	}
	// MaxInflate: the claims' exact size passes, one byte less fails.
	n := len(claimsJSON(issA, f.nbf, 0, "", vaxBundle))
	v = &Verifier{Keys: f.store, MaxInflate: n}
	if _, err := v.Verify([]byte(good), genAt); err != nil {
		t.Fatal(err)
	}
	v.MaxInflate = n - 1
	if _, err := v.Verify([]byte(good), genAt); reason.Of(err) != reason.DecompressLimit {
		t.Fatalf("got %v, want decompress_limit", err)
	}
	// Skew: a card 2 minutes early passes with a 5-minute skew.
	early := f.a.card(t, claimsJSON(issA, genAt.Add(2*time.Minute).Unix(), 0, "", vaxBundle))
	v = &Verifier{Keys: f.store, Skew: 5 * time.Minute}
	if _, err := v.Verify([]byte(early), genAt); err != nil {
		t.Fatal(err)
	}
	// exp is exclusive: one second before it passes.
	exp := f.a.card(t, claimsJSON(issA, f.nbf, genAt.Unix(), "", vaxBundle))
	if _, err := f.v.Verify([]byte(exp), genAt.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	// No keys at all.
	if _, err := (&Verifier{}).Verify([]byte(good), genAt); reason.Of(err) != reason.UnknownKey {
		t.Fatalf("got %v, want unknown_key", err)
	}
}

func TestAnyIssuerKeys(t *testing.T) {
	k := newTestKey(t)
	s := &TrustStore{}
	if err := s.AddJWKS(AnyIssuer, k.jwks()); err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: s}
	for _, iss := range []string{issA, issB} {
		tok := k.card(t, claimsJSON(iss, genAt.Add(-time.Hour).Unix(), 0, "", vaxBundle))
		if _, err := v.Verify([]byte(tok), genAt); err != nil {
			t.Fatalf("%s: %v", iss, err)
		}
	}
}

func TestParseFile(t *testing.T) {
	f := newGenFixture(t)
	one := f.good(t)
	two := f.a.card(t, claimsJSON(issA, f.nbf, 0, "", testBundle))
	file := []byte(`{"verifiableCredential":["` + one + `","` + two + `"]}`)
	jws, err := ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(jws) != 2 || jws[0] != one || jws[1] != two {
		t.Fatalf("got %d credentials", len(jws))
	}
	kinds := []string{"vaccination", "test"}
	for i, j := range jws {
		r, err := f.v.Verify([]byte(j), genAt)
		if err != nil {
			t.Fatalf("credential %d: %v", i, err)
		}
		if r.Facts.Kind != kinds[i] {
			t.Fatalf("credential %d kind %q", i, r.Facts.Kind)
		}
	}
	for _, tc := range []struct {
		name string
		in   string
		code reason.Code
	}{
		{"duplicate key", `{"verifiableCredential":["a"],"verifiableCredential":["b"]}`, reason.Malformed},
		{"unknown member", `{"verifiableCredential":["a"],"x":1}`, reason.Malformed},
		{"empty list", `{"verifiableCredential":[]}`, reason.Malformed},
		{"missing", `{}`, reason.Malformed},
		{"not strings", `{"verifiableCredential":[1]}`, reason.Malformed},
		{"null entry", `{"verifiableCredential":[null]}`, reason.Malformed},
		{"trailing data", `{"verifiableCredential":["a"]}x`, reason.Malformed},
		{"array", `["a"]`, reason.Malformed},
		{"invalid UTF-8", "{\"verifiableCredential\":[\"\xff\"]}", reason.Malformed},
		{"too large", `{"verifiableCredential":["` + strings.Repeat("a", MaxFile) + `"]}`, reason.InputTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tc.in))
			var re *reason.Error
			if !errors.As(err, &re) || re.Code != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
}

func TestNumericToJWS(t *testing.T) {
	if got, err := NumericToJWS("shc:/5676"); err != nil || got != "ey" {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, err := NumericToJWS("shc:/0077"); err != nil || got != "-z" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, in := range []string{"shc:/567", "shc:/5678", "shc:/78", "shc:/99", "shc:/5x", "shc:", "5676", "shc:/", "shc:/1/2/5676", "shc://5676", "shc:/56/76"} {
		if _, err := NumericToJWS(in); err == nil {
			t.Fatalf("%q accepted", in)
		} else if _, ok := err.(*reason.Error); !ok {
			t.Fatalf("%q: %T", in, err)
		}
	}
	tok := "eyJhbGciOiJFUzI1NiJ9.e30.AAAA-_"
	if got, err := NumericToJWS(JWSToNumeric(tok)); err != nil || got != tok {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	if JWSToNumeric("a b") != "" {
		t.Fatal("JWSToNumeric accepted a space")
	}
}

func TestTrustStore(t *testing.T) {
	k := newTestKey(t)
	for _, tc := range []struct {
		name, iss, jwks string
	}{
		{"http issuer", "http://x.example", string(k.jwks())},
		{"not JSON", issA, "{"},
		{"empty set", issA, `{"keys":[]}`},
		{"kid not thumbprint", issA, strings.Replace(string(k.jwks()), k.kid, "abc", 1)},
		{"alg ES384", issA, strings.Replace(string(k.jwks()), `"ES256"`, `"ES384"`, 1)},
		{"use enc", issA, strings.Replace(string(k.jwks()), `"sig"`, `"enc"`, 1)},
		{"symmetric key", issA, `{"keys":[{"kty":"oct","k":"AAAA","kid":"x"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &TrustStore{}
			if err := s.AddJWKS(tc.iss, []byte(tc.jwks)); err == nil {
				t.Fatal("accepted")
			}
			if _, ok := s.Key(tc.iss, k.kid); ok {
				t.Fatal("registered on error")
			}
		})
	}
	s := &TrustStore{}
	for _, crl := range []string{
		`{"kid":"x","method":"hash-fhir","ctr":1,"rids":[]}`,
		`{"kid":"","method":"rid","ctr":1,"rids":[]}`,
		`{"kid":"x","method":"rid","ctr":1,"rids":["a+b"]}`,
		`{"kid":"x","method":"rid","ctr":1,"rids":["abc.notatime"]}`,
		`{"kid":"x","kid":"y","method":"rid","ctr":1,"rids":[]}`,
	} {
		if err := s.AddCRL(issA, []byte(crl)); err == nil {
			t.Fatalf("CRL %s accepted", crl)
		}
	}
	if err := s.AddCRL(issA, []byte(`{"kid":"x","method":"rid","ctr":1,"rids":["r1.2000","r1"]}`)); err != nil {
		t.Fatal(err)
	}
	if !s.Revoked(issA, "x", "r1", time.Unix(5000, 0)) {
		t.Fatal("a plain entry revokes regardless of nbf")
	}
	if s.Revoked(issB, "x", "r1", time.Unix(0, 0)) || s.Revoked(issA, "y", "r1", time.Unix(0, 0)) {
		t.Fatal("CRL applied to another issuer or kid")
	}
}
