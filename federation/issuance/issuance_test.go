package issuance

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/adapters/zhejiang"
	"github.com/roam-federation/roam/federation/clock"
)

type keyMap map[string]*roamjws.Key

func (k keyMap) Key(kid string) (*roamjws.Key, bool) { v, ok := k[kid]; return v, ok }
func (keyMap) CodeRevoked(string, string) bool       { return false }

// setup runs a real provsim over HTTP and an Issuer in front of it.
func setup(t *testing.T) (*Issuer, *provsim.Client, *clock.Sim, *roamjws.Verifier) {
	t.Helper()
	clk := clock.NewSim(time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST))
	dir := t.TempDir()
	sim, err := provsim.New(provsim.Config{Jurisdiction: "330000", Dialect: "zhejiang", DBPath: filepath.Join(dir, "sim.db"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { ts.Close(); sim.Close() })
	native, err := zhejiang.New(ts.URL, "330000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(native.CloseIdleConnections)
	key, _ := roamjws.GenerateKey(roamjws.ES256)
	signer, _ := roamjws.NewSigner(key)
	is, err := New(Config{Native: native, Signer: signer, Clock: clk, DBPath: filepath.Join(dir, "issued.db"), SubjectKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	admin, _ := provsim.NewClient(ts.URL, nil)
	t.Cleanup(admin.CloseIdleConnections)
	pub, _ := key.PublicKey()
	var raw any
	_ = pub.Raw(&raw)
	v := &roamjws.Verifier{Keys: keyMap{signer.Kid(): {PublicKey: roamjws.PublicKey{Kid: signer.Kid(), Jurisdiction: "330000", Alg: "ES256", Raw: raw}, State: roamjws.KeyActive, NotBefore: 1}}}
	return is, admin, clk, v
}

func TestIssueAndStatus(t *testing.T) {
	is, admin, clk, v := setup(t)
	ctx := context.Background()
	const id = "330106198801011234"
	if _, err := admin.Enrol(ctx, provsim.Enrolment{IDNumber: id, Name: "张小三", Address: "杭州"}); err != nil {
		t.Fatal(err)
	}
	code, c, err := is.Issue(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// The code verifies, carries no name or ID number, and masks the name.
	got, err := v.Verify([]byte(code), clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Display != "张*三" || got.Color != adapters.Green || got.Subject == "" || got.System != zhejiang.System {
		t.Fatalf("claims %+v", got)
	}
	for _, secret := range []string{id, "张小三"} {
		if strings.Contains(code, secret) || strings.Contains(got.Subject, secret) {
			t.Fatalf("token leaks %q", secret)
		}
	}
	// exp is bounded by the backend's validity (enrolment + 7 days).
	if exp := time.Unix(c.Expires, 0); exp.After(time.Date(2020, 3, 9, 0, 0, 0, 0, clock.CST)) {
		t.Fatalf("exp %s is past the backend's validity", exp)
	}
	// The same resident gets the same pseudonymous sub on every code.
	_, c2, err := is.Issue(ctx, id)
	if err != nil || c2.Subject != c.Subject || c2.CodeID == c.CodeID {
		t.Fatalf("second code: %+v %v", c2, err)
	}

	// Status follows the backend's current colour.
	if _, err := admin.SetStatus(ctx, id, adapters.Red, "close contact"); err != nil {
		t.Fatal(err)
	}
	tok, sc, err := is.Status(ctx, c.CodeID)
	if err != nil {
		t.Fatal(err)
	}
	st, err := v.VerifyStatus([]byte(tok), clk.Now())
	if err != nil || st.Color != adapters.Red || st.Version != 2 || st.CodeID != c.CodeID || sc.Expires-sc.IssuedAt != 60 {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, _, err := is.Status(ctx, "AAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, ErrUnknownCode) {
		t.Fatalf("unknown code id: %v", err)
	}
	if _, _, err := is.Issue(ctx, "330106198801019999"); !errors.Is(err, adapters.ErrNotFound) {
		t.Fatalf("unknown resident: %v", err)
	}
}
