package recognition

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/beijing"
	"github.com/roam-federation/roam/adapters/dcc"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/adapters/shc"
	"github.com/roam-federation/roam/adapters/zhejiang"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

const (
	pipelineSeedDir = "testdata/fuzz/FuzzPipelineVerify"
	// fuzzDSCPath is the fuzz world's Austrian DSC, signed once by
	// fuzzKey(3): ECDSA certificates are not reproducible, and the DCC kid
	// is a hash of the certificate.
	fuzzDSCPath = "testdata/fuzz-dsc.der"
	// maxVerifyTime bounds one Verify of any payload (generous: -race and
	// parallel fuzz workers).
	maxVerifyTime = 5 * time.Second
)

// fuzzKey is a fixed P-256 private key, so that codes signed in one process
// (the committed seed corpus, a fuzz coordinator's seeds) verify in
// another.
func fuzzKey(tb testing.TB, n byte) *ecdsa.PrivateKey {
	tb.Helper()
	d := sha256.Sum256([]byte{'r', 'o', 'a', 'm', n})
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// fixedSigner is a roam signer over a fixed private key, and its
// registrable public JWK.
func fixedSigner(tb testing.TB, raw any, alg string) (*roamjws.Signer, []byte) {
	tb.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		tb.Fatal(err)
	}
	if err := k.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg)); err != nil {
		tb.Fatal(err)
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		tb.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, s.Kid()); err != nil {
		tb.Fatal(err)
	}
	pub, err := roamjws.PublicJWK(k)
	if err != nil {
		tb.Fatal(err)
	}
	return s, pub
}

// fuzzWorld is newWorld plus fixed keys: a Zhejiang ES256 key, a Beijing
// EdDSA key, Austria's DSC and the US SHC issuer, with 410000 ← 330000
// from henanFrom and Beijing ← Austria, Beijing ← US from july1. Its
// pipeline has the adapters in a node's order (federation/node: roam, DCC,
// SHC, Zhejiang, Beijing) and a status source that keeps no state.
type fuzzWorld struct {
	*world
	zj, bj *roamjws.Signer
	at     *dcc.CertIssuer
	us     *shc.CardIssuer
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	tb.Helper()
	w := newWorld(tb)
	fw := &fuzzWorld{world: w}
	var pub []byte
	fw.zj, pub = fixedSigner(tb, fuzzKey(tb, 1), roamjws.ES256)
	w.apply(&roamv1.AddKey{Key: &roamv1.IssuerKey{
		Kid: fw.zj.Kid(), Jurisdiction: zhejiangJ, Alg: roamjws.ES256, Jwk: pub,
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: keysFrom.Unix(),
	}})
	seed := sha256.Sum256([]byte("roam-fuzz-beijing"))
	fw.bj, pub = fixedSigner(tb, ed25519.NewKeyFromSeed(seed[:]), roamjws.EdDSA)
	w.apply(&roamv1.AddKey{Key: &roamv1.IssuerKey{
		Kid: fw.bj.Kid(), Jurisdiction: beijingJ, Alg: roamjws.EdDSA, Jwk: pub,
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: keysFrom.Unix(),
	}})
	w.agree(henan, zhejiangJ, fromHenan, nil)

	fw.at = &dcc.CertIssuer{Key: fuzzKey(tb, 3), Country: "AT", DSC: fuzzDSC(tb, fuzzKey(tb, 3))}
	fw.us = &shc.CardIssuer{Key: fuzzKey(tb, 4), URL: shcURL}
	jwks, err := fw.us.JWKS()
	if err != nil {
		tb.Fatal(err)
	}
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: austria, Name: "Austria", CodeSystem: "eu-dcc"}})
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: usa, Name: "United States", CodeSystem: "smart-health-card"}})
	w.apply(&roamv1.AddDocumentSigner{Jurisdiction: austria, Der: fw.at.DSC.Raw})
	w.apply(&roamv1.SetShcIssuer{Jurisdiction: usa, Url: shcURL, Jwks: jwks})
	w.apply(&roamv1.ImposeAgreement{Host: beijingJ, Issuer: austria, EffectiveFrom: july1.Unix()})
	w.apply(&roamv1.ImposeAgreement{Host: beijingJ, Issuer: usa, EffectiveFrom: july1.Unix()})

	w.p.Adapters = []adapters.Adapter{
		roamjws.Adapter{V: &roamjws.Verifier{Keys: w.fsm}},
		dcc.Adapter{Registry: w.fsm},
		shc.Adapter{V: &shc.Verifier{Keys: registry.ShcKeys{F: w.fsm}}, JurisdictionOf: w.fsm.ShcIssuerJurisdiction},
		&zhejiang.Adapter{}, &beijing.Adapter{},
	}
	w.p.Status = greenStatus{}
	w.p.Log = discard
	return fw
}

// fuzzDSC reads the committed DSC, or with ROAM_FUZZ_SEEDS=1 makes and
// writes it when missing.
func fuzzDSC(tb testing.TB, key *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	der, err := os.ReadFile(fuzzDSCPath)
	if os.IsNotExist(err) && os.Getenv("ROAM_FUZZ_SEEDS") == "1" {
		ci, gerr := dcc.NewCertIssuer("AT", key, july1.AddDate(0, -1, 0), july1.AddDate(1, 0, 0))
		if gerr != nil {
			tb.Fatal(gerr)
		}
		der, err = ci.DSC.Raw, os.WriteFile(fuzzDSCPath, ci.DSC.Raw, 0o644)
	}
	if err != nil {
		tb.Fatalf("%v (run ROAM_FUZZ_SEEDS=1 go test -run TestPipelineVerifySeeds to create it)", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		tb.Fatalf("%s is not for the fixed DSC key", fuzzDSCPath)
	}
	return c
}

// greenStatus answers every status query with a verified green assertion
// at version 1, without remembering the calls (a fuzz run makes millions).
type greenStatus struct{}

func (greenStatus) QueryStatus(_ context.Context, issuer, jti string) (*adapters.Claims, error) {
	return assertion(adapters.Green, 1)(context.Background(), issuer, jti)
}

// pipelineSeeds are the committed corpus of FuzzPipelineVerify: valid
// codes of every format the fuzz world accepts, and broken ones. want is
// the outcome at Henan and Beijing ("" if not checked).
func (fw *fuzzWorld) pipelineSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	at := foreign.Add(-time.Hour)
	roam := func(s *roamjws.Signer, j string, opts ...codeOpt) []byte {
		return sign(tb, s, mkClaims(tb, append([]codeOpt{iss(j), issued(at)}, opts...)...))
	}
	hc1, err := fw.at.Vaccination(july1, july1.AddDate(1, 0, 0), 2, 2, foreign.AddDate(0, 0, -30))
	if err != nil {
		tb.Fatal(err)
	}
	card, err := fw.us.VaccinationCard(foreign.AddDate(0, 0, -10), "207", foreign.AddDate(0, 0, -60), foreign.AddDate(0, 0, -30))
	if err != nil {
		tb.Fatal(err)
	}
	valid := roam(fw.zj, zhejiangJ)
	return map[string][]byte{
		"roam-zhejiang-green":  valid,
		"roam-zhejiang-red":    roam(fw.zj, zhejiangJ, color(adapters.Red), ver(3)),
		"roam-beijing-eddsa":   roam(fw.bj, beijingJ),
		"hc1-austria":          []byte(hc1),
		"shc-usa":              []byte(card),
		"roam-truncated":       valid[:len(valid)-5],
		"roam-two-parts":       valid[:len(roamjws.Prefix)+10],
		"roam-prefix-only":     []byte(roamjws.Prefix),
		"hc1-prefix-only":      []byte(dcc.Prefix),
		"hc1-truncated":        []byte(hc1[:len(hc1)/2]),
		"shc-odd-digits":       []byte(card[:len(card)-1]),
		"shc-prefix-only":      []byte(shc.Prefix),
		"zhejiang-native":      []byte("ZJHC:AAAAAAAAAAAAAAAAAAAAAA"),
		"beijing-native":       []byte("BJJKB:0123456789ABCDEF0123456789ABCDEF"),
		"empty":                {},
		"binary":               {0x00, 0xff, 0xfe, 0x0a},
		"oversized-roam":       append([]byte(roamjws.Prefix), bytes.Repeat([]byte("A"), roamjws.DefaultMaxInput)...),
		"roam-rogue-signature": sign(tb, fw.rogue, mkClaims(tb, issued(at))),
	}
}

// knownReasons is the reason catalogue, read from federation/reason's
// source so that a code added there needs no change here.
func knownReasons(tb testing.TB) map[string]bool {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "reason", "reason.go"), nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	known := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					c, err := strconv.Unquote(lit.Value)
					if err != nil {
						tb.Fatal(err)
					}
					known[c] = true
				}
			}
		}
	}
	if len(known) < 30 || !known[string(reason.Malformed)] || !known[string(reason.PolicyRule)] {
		tb.Fatalf("read %d reason codes from reason.go; the catalogue's layout changed", len(known))
	}
	return known
}

// FuzzPipelineVerify runs the whole Pipeline.Verify, with a node's
// adapters, on arbitrary payload bytes at a Henan and a Beijing checkpoint.
// It must never panic, never return an error (only a bad host or
// checkpoint is one), decide a valid outcome with reasons that are all in
// the catalogue, give every REJECT a reason, and finish in bounded time.
func FuzzPipelineVerify(f *testing.F) {
	fw := newFuzzWorld(f)
	known := knownReasons(f)
	// Seeds signed in this process verify here whatever the committed
	// corpus holds.
	for _, b := range fw.pipelineSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, req := range []Request{
			{Payload: payload, Host: henan, Checkpoint: "metro", At: foreign},
			{Payload: payload, Host: beijingJ, Checkpoint: "intercity", At: foreign},
		} {
			start := time.Now()
			d, st, err := fw.p.Verify(context.Background(), req)
			if el := time.Since(start); el > maxVerifyTime {
				t.Errorf("Verify at %s took %s (limit %s)", req.Host, el, maxVerifyTime)
			}
			if err != nil {
				t.Fatalf("Verify at %s returned an error for a payload: %v", req.Host, err)
			}
			checkFuzzDecision(t, known, d, st)
		}
	})
}

func checkFuzzDecision(t *testing.T, known map[string]bool, d *roamv1.Decision, st []*roamv1.Stage) {
	t.Helper()
	if d == nil {
		t.Fatal("nil decision and no error")
	}
	o := d.GetOutcome()
	if _, ok := roamv1.Outcome_name[int32(o)]; !ok || o == roamv1.Outcome_OUTCOME_UNSPECIFIED {
		t.Fatalf("outcome %v is not a decision", o)
	}
	if o == roamv1.Outcome_OUTCOME_REJECT && len(d.GetReasons()) == 0 {
		t.Fatal("REJECT without a reason")
	}
	for _, r := range d.GetReasons() {
		if !known[r.GetCode()] {
			t.Fatalf("reason code %q (%s) is not in the catalogue", r.GetCode(), r.GetMessage())
		}
	}
	for _, s := range st {
		if s.GetName() == "" || (s.GetReason() != "" && !known[s.GetReason()]) || (!s.GetOk() && s.GetReason() == "") {
			t.Fatalf("stage %v: want a name, and a catalogue reason when not ok", s)
		}
	}
}

// TestPipelineVerifySeeds checks that the committed corpus of
// FuzzPipelineVerify is still meaningful: its valid codes pass in the fuzz
// world (they are signed by its fixed keys). ROAM_FUZZ_SEEDS=1 rewrites
// the corpus (and the DSC, when missing).
func TestPipelineVerifySeeds(t *testing.T) {
	fw := newFuzzWorld(t)
	known := knownReasons(t)
	seeds := fw.pipelineSeeds(t)
	if os.Getenv("ROAM_FUZZ_SEEDS") == "1" {
		if err := os.MkdirAll(pipelineSeedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
			if err := os.WriteFile(filepath.Join(pipelineSeedDir, "seed-"+name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	pass := map[string]string{ // committed seed → host it passes at
		"seed-roam-zhejiang-green": henan,
		"seed-roam-beijing-eddsa":  beijingJ,
		"seed-hc1-austria":         beijingJ,
		"seed-shc-usa":             beijingJ,
	}
	for name, host := range pass {
		b, err := os.ReadFile(filepath.Join(pipelineSeedDir, name))
		if err != nil {
			t.Fatal(err)
		}
		payload := corpusBytes(t, b)
		d, st := fw.verify(host, "intercity", payload, foreign)
		checkFuzzDecision(t, known, d, st)
		if d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS {
			t.Errorf("%s at %s: %v %v", name, host, OutcomeName(d.GetOutcome()), d.GetReasons())
		}
	}
}

// corpusBytes decodes a one-[]byte "go test fuzz v1" corpus file.
func corpusBytes(t *testing.T, file []byte) []byte {
	t.Helper()
	const head, open = "go test fuzz v1\n", "[]byte("
	s := string(file)
	if len(s) < len(head)+len(open)+2 || s[:len(head)] != head || s[len(head):len(head)+len(open)] != open {
		t.Fatalf("not a []byte corpus file: %.60q", s)
	}
	body := s[len(head)+len(open):]
	for len(body) > 0 && (body[len(body)-1] == '\n' || body[len(body)-1] == ')') {
		body = body[:len(body)-1]
	}
	v, err := strconv.Unquote(body)
	if err != nil {
		t.Fatalf("corpus file: %v", err)
	}
	return []byte(v)
}
