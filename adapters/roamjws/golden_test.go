package roamjws

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/roam-federation/roam/federation/reason"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	goldenDir     = "testdata/golden"
	goldenReasons = "testdata/golden/reasons.golden"
	goldenOK      = "ok" // the reason column of an accepted token
	// goldenRevokedJTI is revoked in the golden resolver.
	goldenRevokedJTI = "_____________________w"
)

// goldenKey loads the fixed test key for alg from testdata, creating it
// under -update if it does not exist yet. These keys sign test tokens only.
func goldenKey(tb testing.TB, alg string) *testKey {
	tb.Helper()
	path := filepath.Join(goldenDir, "key-"+strings.ToLower(alg)+".jwk")
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) && *update {
		k, err := GenerateKey(alg)
		if err != nil {
			tb.Fatal(err)
		}
		if data, err = json.MarshalIndent(k, "", "  "); err != nil {
			tb.Fatal(err)
		}
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			tb.Fatal(err)
		}
	} else if err != nil {
		tb.Fatal(err)
	}
	k, err := jwk.ParseKey(data)
	if err != nil {
		tb.Fatal(err)
	}
	return testKeyFromJWK(tb, k, zhejiang)
}

// goldenVerifier holds the two golden keys, both registered to Zhejiang,
// with goldenRevokedJTI revoked.
func goldenVerifier(tb testing.TB, keys ...*testKey) *Verifier {
	tb.Helper()
	res := newFakeResolver()
	for _, k := range keys {
		res.add(k.registered(tb))
	}
	res.revoked[zhejiang+"/"+goldenRevokedJTI] = true
	return &Verifier{Keys: res}
}

type goldenCase struct {
	name  string
	want  reason.Code // "" accepted
	build func(t testing.TB, es, ed *testKey) string
}

// goldenCases are the crafted tokens under testdata/golden. The intended
// reason is checked when the files are regenerated, so -update cannot bless
// a regression.
var goldenCases = []goldenCase{
	{"valid_es256", "", func(t testing.TB, es, ed *testKey) string {
		return es.forge(t, es.header(TypCode), claimsJSON(t, baseClaims(zhejiang)))
	}},
	{"valid_eddsa_prefixed", "", func(t testing.TB, es, ed *testKey) string {
		return Prefix + ed.forge(t, ed.header(TypCode), claimsJSON(t, baseClaims(zhejiang)))
	}},
	{"alg_none", reason.AlgNotAllowed, func(t testing.TB, es, ed *testKey) string {
		return signingInput(jsonObj("alg", q("none"), "kid", q(es.kid), "typ", q(TypCode)), claimsJSON(t, baseClaims(zhejiang))) + "."
	}},
	{"hs256_public_jwk_secret", reason.AlgNotAllowed, func(t testing.TB, es, ed *testKey) string {
		pub, err := PublicJWK(es.jwk)
		if err != nil {
			t.Fatal(err)
		}
		in := signingInput(jsonObj("alg", q("HS256"), "kid", q(es.kid), "typ", q(TypCode)), claimsJSON(t, baseClaims(zhejiang)))
		m := hmac.New(sha256.New, pub)
		m.Write([]byte(in))
		return in + "." + enc(m.Sum(nil))
	}},
	{"es256_header_on_eddsa_key", reason.AlgMismatch, func(t testing.TB, es, ed *testKey) string {
		return ed.forge(t, jsonObj("alg", q(ES256), "kid", q(ed.kid), "typ", q(TypCode)), claimsJSON(t, baseClaims(zhejiang)))
	}},
	{"jku_header", reason.HeaderForbidden, func(t testing.TB, es, ed *testKey) string {
		return es.forge(t, es.header(TypCode, "jku", q("https://evil.example/jwks.json")), claimsJSON(t, baseClaims(zhejiang)))
	}},
	{"status_as_code", reason.TypeInvalid, func(t testing.TB, es, ed *testKey) string {
		return es.forge(t, es.header(TypStatus), claimsJSON(t, baseClaims(zhejiang)))
	}},
	{"der_signature", reason.SignatureFormat, func(t testing.TB, es, ed *testKey) string {
		in := signingInput(es.header(TypCode), claimsJSON(t, baseClaims(zhejiang)))
		return in + "." + enc(es.derSig(t, in))
	}},
	{"flipped_signature_bit", reason.SignatureInvalid, func(t testing.TB, es, ed *testKey) string {
		in := signingInput(es.header(TypCode), claimsJSON(t, baseClaims(zhejiang)))
		sig := es.rawSig(t, in)
		sig[0] ^= 1
		return in + "." + enc(sig)
	}},
	{"expired_at_exp", reason.Expired, func(t testing.TB, es, ed *testKey) string {
		c := baseClaims(zhejiang)
		c.Expires = testAt.Unix()
		return es.forge(t, es.header(TypCode), claimsJSON(t, c))
	}},
	{"exp_milliseconds", reason.TimestampsInvalid, func(t testing.TB, es, ed *testKey) string {
		c := baseClaims(zhejiang)
		c.Expires *= 1000
		return es.forge(t, es.header(TypCode), claimsJSON(t, c))
	}},
	{"duplicate_color", reason.ClaimsInvalid, func(t testing.TB, es, ed *testKey) string {
		return es.forge(t, es.header(TypCode), addMember(t, claimsJSON(t, baseClaims(zhejiang)), "color", q("red")))
	}},
	{"color_Green", reason.ColorUnknown, func(t testing.TB, es, ed *testKey) string {
		c := baseClaims(zhejiang)
		c.Color = "Green"
		return es.forge(t, es.header(TypCode), claimsJSON(t, c))
	}},
	{"revoked_jti", reason.CodeRevoked, func(t testing.TB, es, ed *testKey) string {
		c := baseClaims(zhejiang)
		c.CodeID = goldenRevokedJTI
		return es.forge(t, es.header(TypCode), claimsJSON(t, c))
	}},
	{"trailing_newline", reason.Malformed, func(t testing.TB, es, ed *testKey) string {
		return es.forge(t, es.header(TypCode), claimsJSON(t, baseClaims(zhejiang))) + "\n"
	}},
	{"json_general_serialization", reason.SerializationNotCompact, func(t testing.TB, es, ed *testKey) string {
		tok := es.forge(t, es.header(TypCode), claimsJSON(t, baseClaims(zhejiang)))
		p := strings.Split(tok, ".")
		return jsonObj("payload", q(p[1]), "signatures", "["+jsonObj("protected", q(p[0]), "signature", q(p[2]))+"]")
	}},
}

func verifyCode(v *Verifier, tok []byte) string {
	_, err := v.Verify(tok, testAt)
	if err == nil {
		return goldenOK
	}
	return string(reason.Of(err))
}

func TestGolden(t *testing.T) {
	es, ed := goldenKey(t, ES256), goldenKey(t, EdDSA)
	v := goldenVerifier(t, es, ed)
	if *update {
		writeGolden(t, v, es, ed)
	}
	f, err := os.Open(goldenReasons)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, want, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad golden line %q", sc.Text())
		}
		names = append(names, name)
		tok, err := os.ReadFile(filepath.Join(goldenDir, name+".jws"))
		if err != nil {
			t.Fatal(err)
		}
		if got := verifyCode(v, tok); got != want {
			t.Errorf("%s: %s, golden says %s", name, got, want)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.jws"))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		files[i] = strings.TrimSuffix(filepath.Base(f), ".jws")
	}
	slices.Sort(names)
	if !slices.Equal(files, names) {
		t.Errorf("token files %v do not match golden entries %v (run with -update)", files, names)
	}
}

func writeGolden(t *testing.T, v *Verifier, es, ed *testKey) {
	old, _ := filepath.Glob(filepath.Join(goldenDir, "*.jws"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	for _, gc := range goldenCases {
		tok := gc.build(t, es, ed)
		want := goldenOK
		if gc.want != "" {
			want = string(gc.want)
		}
		if got := verifyCode(v, []byte(tok)); got != want {
			t.Fatalf("refusing to bless %s: verifier says %s, the case intends %s", gc.name, got, want)
		}
		if err := os.WriteFile(filepath.Join(goldenDir, gc.name+".jws"), []byte(tok), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s %s\n", gc.name, want)
	}
	if err := os.WriteFile(goldenReasons, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSeeds(t, es, ed)
}

// writeSeeds rewrites the named seed files of the fuzz corpora (crashers the
// fuzzer saved under other names are kept).
func writeSeeds(t *testing.T, es, ed *testKey) {
	valid := es.forge(t, es.header(TypCode), claimsJSON(t, baseClaims(zhejiang)))
	p := strings.Split(valid, ".")
	seeds := map[string]string{
		"seed-valid-es256":        valid,
		"seed-valid-es256-prefix": Prefix + valid,
		"seed-valid-eddsa":        ed.forge(t, ed.header(TypCode), claimsJSON(t, baseClaims(zhejiang))),
		"seed-empty":              "",
		"seed-prefix-only":        Prefix,
		"seed-bom":                "\ufeff" + valid,
		"seed-four-parts":         valid + ".AAAA",
		"seed-deep-header":        enc([]byte(strings.Repeat(`{"a":`, 100))) + "." + p[1] + "." + p[2],
		"seed-huge-kid":           signingInput(jsonObj("alg", q(ES256), "kid", q(strings.Repeat("k", 3000)), "typ", q(TypCode)), "{}") + ".",
	}
	for _, gc := range goldenCases {
		if strings.HasPrefix(gc.name, "valid") {
			continue
		}
		seeds["seed-"+gc.name] = gc.build(t, es, ed)
	}
	writeCorpus(t, "FuzzVerify", seeds)

	claims := claimsJSON(t, baseClaims(zhejiang))
	writeCorpus(t, "FuzzStrictJSON", map[string]string{
		"seed-claims":           claims,
		"seed-header":           es.header(TypCode),
		"seed-dup-top":          `{"a":1,"a":2}`,
		"seed-dup-escaped":      `{"a":1,"\u0061":2}`,
		"seed-dup-nested":       `{"a":{"b":[{"c":1,"c":1}]}}`,
		"seed-dup-invalid-utf8": "{\"\xff\":1,\"\xfe\":2}",
		"seed-deep-16":          strings.Repeat(`{"a":`, 15) + "{}" + strings.Repeat("}", 15),
		"seed-deep-17":          strings.Repeat(`{"a":`, 16) + "{}" + strings.Repeat("}", 16),
		"seed-deep-array":       `{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + "}",
		"seed-trailing":         `{"a":1} {"b":2}`,
		"seed-not-object":       `[1,2,3]`,
		"seed-big-number":       `{"a":1e999,"b":-0.0e-5}`,
		"seed-unterminated":     `{"a":`,
	})
}

func writeCorpus(t *testing.T, target string, seeds map[string]string) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The golden claims decode to exactly what was signed.
func TestGoldenValidClaims(t *testing.T) {
	es, ed := goldenKey(t, ES256), goldenKey(t, EdDSA)
	v := goldenVerifier(t, es, ed)
	tok, err := os.ReadFile(filepath.Join(goldenDir, "valid_es256.jws"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok, testAt)
	if err != nil {
		t.Fatal(err)
	}
	if want := baseClaims(zhejiang); *got != want {
		t.Fatalf("claims %+v, want %+v", *got, want)
	}
}
