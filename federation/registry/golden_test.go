package registry

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/snapshot.golden (and create missing testdata/keys/*.jwk)")

const goldenPath = "testdata/snapshot.golden"

// fixedKey loads testdata/keys/<name>.jwk, a public JWK. With -update a
// missing file is generated once; the private half is thrown away.
func fixedKey(t testing.TB, name, alg string) *tkey {
	t.Helper()
	path := filepath.Join("testdata", "keys", name+".jwk")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) && *update {
		k, gerr := roamjws.GenerateKey(alg)
		if gerr != nil {
			t.Fatal(gerr)
		}
		pub, gerr := roamjws.PublicJWK(k)
		if gerr != nil {
			t.Fatal(gerr)
		}
		var out bytes.Buffer
		if gerr := json.Indent(&out, pub, "", "  "); gerr != nil {
			t.Fatal(gerr)
		}
		out.WriteByte('\n')
		if gerr := os.MkdirAll(filepath.Dir(path), 0o755); gerr != nil {
			t.Fatal(gerr)
		}
		if gerr := os.WriteFile(path, out.Bytes(), 0o644); gerr != nil {
			t.Fatal(gerr)
		}
		b, err = out.Bytes(), nil
	}
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	k, err := jwk.ParseKey(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	kid, err := roamjws.Thumbprint(k)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer // registered compact, as roamjws.PublicJWK writes it
	if err := json.Compact(&pub, b); err != nil {
		t.Fatal(err)
	}
	return &tkey{alg: alg, kid: kid, pub: pub.Bytes()}
}

// cst is a date on the demo's clock (China Standard Time), as Unix seconds.
func cst(y int, m time.Month, d, h int) int64 {
	return time.Date(y, m, d, h, 0, 0, 0, time.FixedZone("CST", 8*3600)).Unix()
}

// goldenScript is the demo's spring 2020 (DESIGN.md §1) as commands, to
// apply after the fixture's genesis, each signed as the right role.
func goldenScript(t testing.TB) []proto.Message {
	fx := testFixture(t)
	zjES := fixedKey(t, "330000-es256", roamjws.ES256)
	zjEd := fixedKey(t, "330000-eddsa", roamjws.EdDSA)
	bjES := fixedKey(t, "110000-es256", roamjws.ES256)
	atEd := fixedKey(t, "XX-AT-eddsa", roamjws.EdDSA)
	feb26, feb28, mar1, mar18 := cst(2020, 2, 26, 0), cst(2020, 2, 28, 9), cst(2020, 3, 1, 0), cst(2020, 3, 18, 0)
	key := func(k *tkey, j string, nb, na int64) *roamv1.AddKey {
		ik := issuerKey(k, j)
		ik.NotBefore, ik.NotAfter = nb, na
		return &roamv1.AddKey{Key: ik}
	}
	p := func(host, issuer, by string, from, until, at int64, t *roamv1.AgreementTerms) *roamv1.ProposeAgreement {
		return &roamv1.ProposeAgreement{Host: host, Issuer: issuer, ProposedBy: by, EffectiveFrom: from, EffectiveUntil: until, At: at, Terms: t}
	}
	a := func(host, issuer string, v uint64, by string, at int64) *roamv1.AcceptAgreement {
		return &roamv1.AcceptAgreement{Id: AgreementID(host, issuer), Version: v, AcceptedBy: by, At: at}
	}
	green := &roamv1.AgreementTerms{Colors: []string{"green"}, MaxCodeAgeSeconds: 7 * day, MaxAgeWithoutStatusSeconds: day}
	all := &roamv1.AgreementTerms{MaxAgeWithoutStatusSeconds: 12 * 3600}
	live := &roamv1.AgreementTerms{Colors: []string{"green", "yellow"}, RequireLiveStatus: true}
	return []proto.Message{
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: zhejiang, Name: "浙江省 Zhejiang", CodeSystem: "zhejiang-health-code"}},
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: henan, Name: "河南省 Henan", CodeSystem: "henan-health-code"}},
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: beijing, Name: "北京市 Beijing", CodeSystem: "beijing-jiankangbao"}},
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: tianjin, Name: "天津市 Tianjin", CodeSystem: "tianjin-health-code"}},
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: hebei, Name: "河北省 Hebei", CodeSystem: "hebei-health-code"}},
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: austria, Name: "Austria", CodeSystem: "eu-dcc"}},
		// Each jurisdiction's admin key (issue 3), added by a national admin.
		addAdmin(fx.of[zhejiang].rec), addAdmin(fx.of[henan].rec), addAdmin(fx.of[beijing].rec),
		addAdmin(fx.of[tianjin].rec), addAdmin(fx.of[hebei].rec), addAdmin(fx.of[austria].rec),
		key(zjES, zhejiang, feb26, 0),
		key(zjEd, zhejiang, feb26, cst(2021, 2, 26, 0)),
		key(bjES, beijing, feb26, 0),
		key(atEd, austria, feb26, 0),
		setKey(zjEd.kid, roamv1.KeyState_KEY_STATE_RETIRED, mar1),
		setKey(atEd.kid, roamv1.KeyState_KEY_STATE_REVOKED, mar18),
		// 2020-02-28: Henan recognises Zhejiang's code.
		p(henan, zhejiang, henan, feb28, 0, feb28, green),
		a(henan, zhejiang, 1, zhejiang, feb28+3600),
		// 2020-03-01: Beijing, Tianjin and Hebei recognise each other.
		p(beijing, tianjin, beijing, mar1, 0, feb28, all),
		a(beijing, tianjin, 1, tianjin, feb28+7200),
		p(tianjin, beijing, beijing, mar1, 0, feb28, all),
		a(tianjin, beijing, 1, tianjin, feb28+7200),
		p(hebei, beijing, hebei, mar1, cst(2020, 12, 31, 0), feb28, live),
		a(hebei, beijing, 1, beijing, mar1),
		&roamv1.SuspendAgreement{Id: AgreementID(hebei, beijing), By: hebei, Reason: "cluster in Beijing", At: mar18},
		// Zhejiang proposes to recognise Henan, then revises its terms.
		p(zhejiang, henan, zhejiang, mar1, 0, mar1, green),
		p(zhejiang, henan, zhejiang, mar1, 0, mar1+day, all),
		// A foreign agreement that did not last.
		p(henan, austria, austria, mar18, 0, mar18, green),
		&roamv1.TerminateAgreement{Id: AgreementID(henan, austria), By: henan, Reason: "issuer key revoked", At: mar18 + day},
		&roamv1.RevokeCode{Jurisdiction: zhejiang, CodeId: "AAECAwQFBgcICQoLDA0ODw", At: mar1},
		&roamv1.RevokeCode{Jurisdiction: zhejiang, CodeId: "8PHy8_T19vf4-fr7_P3-_w", At: mar18},
		&roamv1.RevokeCode{Jurisdiction: beijing, CodeId: "AAECAwQFBgcICQoLDA0ODw", At: mar18},
		member("node-410000", henan),
		member("node-330000", zhejiang),
		member("node-110000", beijing),
		member("node-spare", beijing),
		&roamv1.RemoveMember{NodeId: "node-spare"},
	}
}

// renderStable renders m as indented protojson. protojson deliberately
// varies its whitespace between builds, so the output is compacted and
// re-indented by encoding/json; protojson's field order is stable.
func renderStable(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestSnapshotGolden(t *testing.T) {
	h := newHarness(t)
	h.must(goldenScript(t)...)
	st := h.fsm.State()
	got := renderStable(t, st)

	if *update {
		if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test ./federation/registry -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("state differs from %s (go test -update rewrites it):\n%s", goldenPath, lineDiff(string(want), string(got)))
	}

	// The golden file is the state, not just its text: it parses back into
	// an equal snapshot, and that snapshot restores into an equal FSM.
	var parsed roamv1.RegistrySnapshot
	if err := protojson.Unmarshal(want, &parsed); err != nil {
		t.Fatalf("golden does not parse: %v", err)
	}
	if !proto.Equal(&parsed, st) {
		t.Fatal("golden parses to a different snapshot")
	}
	// State() leaves the audit trail out (its chain head is in); with the
	// trail put back the snapshot restores, chain checked.
	parsed.Audit = h.fsm.Audit(0, 0)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&parsed)
	if err != nil {
		t.Fatal(err)
	}
	if back := restored(t, b); !bytes.Equal(snapshotBytes(t, back), snapshotBytes(t, h.fsm)) {
		t.Fatal("golden snapshot restores into a different registry")
	}
}

const auditGoldenPath = "testdata/audit.golden"

// TestAuditGolden pins the golden script's audit trail: who signed what,
// with which outcome, and the hash chain. Entry bytes are left out of the
// text (each record's chain commits to them, and the chain is in).
func TestAuditGolden(t *testing.T) {
	h := newHarness(t)
	h.must(goldenScript(t)...)
	// And a few rejections, so the trail shows reasons.
	fx := h.fx
	h.applyAs(jur(shanghai, "Shanghai"), fx.of[zhejiang])
	h.applyAs(revoke(zhejiang, "x"), fx.stranger)
	h.applyBytes(h.fx.genesisEntry(t))
	trail := &roamv1.RegistrySnapshot{ChainHead: h.fsm.State().GetChainHead()}
	for _, r := range h.fsm.Audit(0, 0) {
		c := proto.Clone(r).(*roamv1.AuditRecord)
		c.Entry = nil
		trail.Audit = append(trail.Audit, c)
	}
	got := renderStable(t, trail)
	if *update {
		if err := os.WriteFile(auditGoldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(auditGoldenPath)
	if err != nil {
		t.Fatalf("%v (run go test ./federation/registry -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("audit trail differs from %s (go test -update rewrites it):\n%s", auditGoldenPath, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first differing lines of two texts.
func lineDiff(want, got string) string {
	wl, gl := bytes.Split([]byte(want), []byte("\n")), bytes.Split([]byte(got), []byte("\n"))
	var out bytes.Buffer
	shown := 0
	for i := 0; i < max(len(wl), len(gl)) && shown < 10; i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			out.WriteString("line " + strconv.Itoa(i+1) + ":\n  - " + string(w) + "\n  + " + string(g) + "\n")
			shown++
		}
	}
	return out.String()
}
