package registry

import (
	"testing"

	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestAttack2BatchReplay: batches (accepted and refused, new terms pending
// then accepted, terms moved from pending into force, re-proposed) replay
// to the same state through VerifyAudit (with and without signatures
// checked ahead) and a snapshot restore, and the state read before the
// later commands is not changed by them (no shared terms).
func TestAttack2BatchReplay(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	of := h.fx.of
	step := func(want bool, m proto.Message, s ...*admin) {
		t.Helper()
		if res := h.applyAs(m, s...); (res.Err == nil) != want {
			t.Fatalf("%T: err %v, want ok=%v", m, res.Err, want)
		}
	}
	step(true, proposals(propose(henan, zhejiang, henan, t0, 0, "green"), propose(henan, beijing, henan, t0, 0, "green")), of[henan])
	step(true, acceptances(accept(AgreementID(henan, zhejiang), 1, zhejiang)), of[zhejiang])
	step(true, acceptances(accept(AgreementID(henan, beijing), 1, beijing)), of[beijing])
	early := h.fsm.State()
	step(true, proposals(propose(henan, zhejiang, zhejiang, t0, 0, "yellow"), propose(henan, tianjin, henan, t0, 0, "red")), of[zhejiang], of[henan])
	step(false, acceptances(accept(AgreementID(henan, zhejiang), 2, henan), accept(AgreementID(henan, beijing), 2, henan)), of[henan])
	step(true, acceptances(accept(AgreementID(henan, zhejiang), 2, henan)), of[henan])
	step(true, proposals(propose(henan, zhejiang, henan, t0, 0, "green", "yellow")), of[henan])
	step(true, &roamv1.SuspendAgreement{Id: AgreementID(henan, zhejiang), By: National, At: t0}, h.fx.national[0])
	step(false, acceptances(accept(AgreementID(henan, zhejiang), 3, zhejiang)), of[zhejiang])
	step(true, &roamv1.ImposeAgreement{Host: henan, Issuer: zhejiang, EffectiveFrom: t0, Terms: &roamv1.AgreementTerms{Colors: []string{"green"}}}, h.fx.national[0])
	if !proto.Equal(early, func() *roamv1.RegistrySnapshot { e := early; return e }()) {
		t.Fatal("unreachable")
	}
	if a := findAgreement(early, AgreementID(henan, zhejiang)); len(a.GetTerms().GetColors()) != 1 || a.GetTerms().GetColors()[0] != "green" || a.GetPending() != nil {
		t.Fatalf("an earlier read changed: %v", a)
	}
	want := stateNoIndex(h.fsm)
	recs := h.fsm.Audit(0, 0)
	head := h.fsm.State().GetChainHead()
	for _, ahead := range []bool{false, true} {
		f, err := verifyAudit(recs, head, ahead)
		if err != nil {
			t.Fatalf("ahead=%v: %v", ahead, err)
		}
		if got := stateNoIndex(f); !proto.Equal(got, want) {
			t.Fatalf("ahead=%v: replay differs", ahead)
		}
	}
	r := restored(t, snapshotBytes(t, h.fsm))
	if got := stateNoIndex(r); !proto.Equal(got, want) {
		t.Fatal("restore differs")
	}
	for _, rec := range recs[len(recs)-10:] {
		t.Logf("%v ok=%v %q %q", rec.GetType(), rec.GetAccepted(), rec.GetSummary(), rec.GetReason())
	}
}
