package registry

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

const (
	// testShcIssuer is the SMART Health Cards spec's example issuer; its
	// JWKS is testdata/foreign/shc-jwks.json (from the spec's examples).
	testShcIssuer = "https://spec.smarthealth.cards/examples/issuer"
	testShcKid    = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"
)

func testDSC(tb testing.TB) []byte { return readTestdata(tb, "foreign/dsc.der") }

func testJWKS(tb testing.TB) []byte { return readTestdata(tb, "foreign/shc-jwks.json") }

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func sha256Of(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

// TestForeignTrust: DSCs and SHC issuers live under XX- jurisdictions, are
// found by kid, and can be revoked; bad material is refused.
func TestForeignTrust(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	der := testDSC(t)
	h.must(&roamv1.AddDocumentSigner{Jurisdiction: austria, Der: der})
	if got := h.fsm.DSCs(DCCKid(der)); len(got) != 1 {
		t.Fatalf("DSCs(kid) = %d certificates, want 1", len(got))
	}
	if j, ok := h.fsm.DSCJurisdiction(der); !ok || j != austria {
		t.Fatalf("DSCJurisdiction = %q %v", j, ok)
	}
	h.must(&roamv1.RevokeDocumentSigner{DerSha256: sha256Of(der)})
	if got := h.fsm.DSCs(DCCKid(der)); len(got) != 0 {
		t.Fatal("a revoked DSC is still trusted")
	}

	h.must(&roamv1.SetShcIssuer{Jurisdiction: austria, Url: testShcIssuer, Jwks: testJWKS(t)})
	if _, ok := h.fsm.ShcKey(testShcIssuer, testShcKid); !ok {
		t.Fatal("SHC key not found")
	}
	if _, ok := h.fsm.ShcKey("https://other.example", testShcKid); ok {
		t.Fatal("an SHC key answered for another issuer")
	}
	h.must(&roamv1.RevokeShc{Url: testShcIssuer, Kid: testShcKid, Rid: "MKmOJ3nd2Mg"})
	if !h.fsm.ShcRevoked(testShcIssuer, testShcKid, "MKmOJ3nd2Mg") || h.fsm.ShcRevoked(testShcIssuer, testShcKid, "other") {
		t.Fatal("rid revocation")
	}
	// Replacing the JWKS keeps revocations.
	h.must(&roamv1.SetShcIssuer{Jurisdiction: austria, Url: testShcIssuer, Jwks: testJWKS(t)})
	if !h.fsm.ShcRevoked(testShcIssuer, testShcKid, "MKmOJ3nd2Mg") {
		t.Fatal("a JWKS update dropped revocations")
	}

	for _, tc := range []struct {
		name string
		msg  *roamv1.SetShcIssuer
	}{
		{"provincial jurisdiction", &roamv1.SetShcIssuer{Jurisdiction: zhejiang, Url: testShcIssuer, Jwks: testJWKS(t)}},
		{"http url", &roamv1.SetShcIssuer{Jurisdiction: austria, Url: "http://x.example", Jwks: testJWKS(t)}},
		{"not a JWKS", &roamv1.SetShcIssuer{Jurisdiction: austria, Url: "https://x.example", Jwks: []byte("{}")}},
	} {
		if res := h.apply(tc.msg); !errors.Is(res.Err, ErrRefused) {
			t.Errorf("%s: %v, want refused", tc.name, res.Err)
		}
	}
	if res := h.apply(&roamv1.AddDocumentSigner{Jurisdiction: austria, Der: []byte("not DER")}); !errors.Is(res.Err, ErrRefused) {
		t.Errorf("bad DER: %v", res.Err)
	}
	if res := h.apply(&roamv1.AddDocumentSigner{Jurisdiction: zhejiang, Der: der}); !errors.Is(res.Err, ErrRefused) {
		t.Errorf("DSC for a province: %v", res.Err)
	}
}
