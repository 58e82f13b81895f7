package recognition

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters/dcc"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestForeignDCC: an EU DCC is verified against the registry's DSCs, its
// facts reach Beijing's policy, and Explain shows the DCC stages (issue 4
// §5); a DSC registered to another country gives key_issuer_mismatch.
func TestForeignDCC(t *testing.T) {
	w := newWorld(t)
	july1 := time.Date(2021, 7, 1, 0, 0, 0, 0, time.UTC)
	at := july1.AddDate(0, 0, 19)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	atIssuer, err := dcc.NewCertIssuer("AT", key, july1.AddDate(0, -1, 0), july1.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: "XX-AT", Name: "Austria", CodeSystem: "eu-dcc"}})
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: "XX-DE", Name: "Germany", CodeSystem: "eu-dcc"}})
	w.apply(&roamv1.AddDocumentSigner{Jurisdiction: "XX-AT", Der: atIssuer.DSC.Raw})
	w.apply(&roamv1.ImposeAgreement{Host: beijingJ, Issuer: "XX-AT", EffectiveFrom: july1.Unix()})
	w.apply(&roamv1.ImposeAgreement{Host: beijingJ, Issuer: "XX-DE", EffectiveFrom: july1.Unix()})

	code, err := atIssuer.Vaccination(july1, july1.AddDate(1, 0, 0), 2, 2, at.AddDate(0, 0, -30))
	if err != nil {
		t.Fatal(err)
	}
	d, st := w.verify(beijingJ, "intercity", []byte(code), at)
	if d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS || d.GetAgreementId() != "110000-XX-AT" {
		t.Fatalf("decision %v", d)
	}
	var names []string
	for _, s := range st {
		names = append(names, s.GetName())
	}
	want := []string{"unprefix", "base45", "decompress", "decode", "signature", "expiry", "key_usage", "schema", "agreement", "policy"}
	if len(names) != len(want) {
		t.Fatalf("stages %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] || !st[i].GetOk() {
			t.Fatalf("stages %v, want %v all ok", st, want)
		}
	}

	// Austria's DSC signing a certificate that claims Germany.
	deIssuer := &dcc.CertIssuer{Key: key, DSC: atIssuer.DSC, Country: "DE"}
	forged, err := deIssuer.Vaccination(july1, july1.AddDate(1, 0, 0), 2, 2, at.AddDate(0, 0, -30))
	if err != nil {
		t.Fatal(err)
	}
	d, _ = w.verify(beijingJ, "intercity", []byte(forged), at)
	check(t, d, "REJECT", "key_issuer_mismatch")
}
