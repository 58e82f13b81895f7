package registry

import (
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// attack2Setup builds a registry with agreements in every interesting state:
// proposed, active, pending new terms, party-suspended, nationally
// suspended, nationally suspended then terminated, imposed (incl. issuer
// 000000), hub members, and a foreign jurisdiction.
func attack2Setup(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	n0 := h.fx.national[0]
	ok := func(m proto.Message, s ...*admin) {
		t.Helper()
		if res := h.applyAs(m, s...); res.Err != nil {
			t.Fatalf("setup %T: %v", m, res.Err)
		}
	}
	of := h.fx.of
	// proposed: beijing <- henan by beijing
	ok(propose(beijing, henan, beijing, t0, 0, "green"), of[beijing])
	// active: zhejiang <- henan
	ok(propose(zhejiang, henan, zhejiang, t0, 0, "green"), of[zhejiang])
	ok(accept(AgreementID(zhejiang, henan), 1, henan), of[henan])
	// active with pending v2 by zhejiang: henan <- zhejiang
	ok(propose(henan, zhejiang, henan, t0, 0, "green"), of[henan])
	ok(accept(AgreementID(henan, zhejiang), 1, zhejiang), of[zhejiang])
	ok(propose(henan, zhejiang, zhejiang, t0, 0, "green", "yellow"), of[zhejiang])
	// nationally suspended: tianjin <- henan
	ok(propose(tianjin, henan, tianjin, t0, 0, "green"), of[tianjin])
	ok(accept(AgreementID(tianjin, henan), 1, henan), of[henan])
	ok(suspend(AgreementID(tianjin, henan), National), n0)
	// nationally suspended, pending new terms, by henan: henan <- tianjin
	ok(propose(henan, tianjin, henan, t0, 0, "green"), of[henan])
	ok(accept(AgreementID(henan, tianjin), 1, tianjin), of[tianjin])
	ok(propose(henan, tianjin, tianjin, t0, 0, "yellow"), of[tianjin])
	ok(suspend(AgreementID(henan, tianjin), National), n0)
	// nationally suspended then terminated by a party: henan <- beijing
	ok(propose(henan, beijing, henan, t0, 0, "green"), of[henan])
	ok(accept(AgreementID(henan, beijing), 1, beijing), of[beijing])
	ok(suspend(AgreementID(henan, beijing), National), n0)
	ok(terminate(AgreementID(henan, beijing), beijing), of[beijing])
	// party-suspended with pending terms: beijing <- zhejiang
	ok(propose(beijing, zhejiang, beijing, t0, 0, "green"), of[beijing])
	ok(accept(AgreementID(beijing, zhejiang), 1, zhejiang), of[zhejiang])
	ok(suspend(AgreementID(beijing, zhejiang), beijing), of[beijing])
	ok(propose(beijing, zhejiang, zhejiang, t0, 0, "red"), of[zhejiang])
	// imposed: tianjin <- beijing, henan <- 000000
	ok(&roamv1.ImposeAgreement{Host: tianjin, Issuer: beijing, EffectiveFrom: t0}, n0)
	ok(&roamv1.ImposeAgreement{Host: henan, Issuer: National, EffectiveFrom: t0}, n0)
	// hub
	ok(&roamv1.JoinHub{Jurisdiction: henan, EffectiveFrom: t0}, n0)
	ok(&roamv1.JoinHub{Jurisdiction: austria, EffectiveFrom: t0}, n0)
	// foreign pair proposed: austria <- henan? (host foreign) by henan
	ok(propose(austria, henan, henan, t0, 0, "green"), of[henan])
	return h
}

func attack2Items() []proto.Message {
	js := []string{henan, zhejiang, beijing, tianjin, austria, National, unknownID}
	var items []proto.Message
	for _, host := range js {
		for _, iss := range js {
			for _, by := range []string{host, iss, National, ""} {
				items = append(items, propose(host, iss, by, t0, 0, "green"))
			}
		}
	}
	for _, host := range js {
		for _, iss := range js {
			for _, by := range []string{host, iss, National} {
				for v := uint64(1); v <= 2; v++ {
					items = append(items, accept(AgreementID(host, iss), v, by))
				}
			}
		}
	}
	return items
}

func agreementsOf(f *FSM) *roamv1.RegistrySnapshot {
	s := f.State()
	return &roamv1.RegistrySnapshot{Agreements: s.GetAgreements(), HubMembers: s.GetHubMembers()}
}

func batchOf(items ...proto.Message) proto.Message {
	if _, ok := items[0].(*roamv1.ProposeAgreement); ok {
		b := &roamv1.ProposeAgreements{}
		for _, it := range items {
			b.Proposals = append(b.Proposals, it.(*roamv1.ProposeAgreement))
		}
		return b
	}
	b := &roamv1.AcceptAgreements{}
	for _, it := range items {
		b.Acceptances = append(b.Acceptances, it.(*roamv1.AcceptAgreement))
	}
	return b
}

// TestAttack2BatchEqualsSingles: for every signer set and every item (and a
// sample of pairs of items of one kind), the batch is accepted iff the
// singles applied in order are all accepted, and then leaves the same
// agreements; a refused batch changes nothing.
func TestAttack2BatchEqualsSingles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hundreds of registries")
	}
	// Every tenth case by default (about 10 s, a minute under -race);
	// ROAM_LONG=1 runs all of them (about 90 s, several minutes under -race).
	stride := 10
	if os.Getenv("ROAM_LONG") != "" {
		stride = 1
	}
	base := attack2Setup(t)
	snap := snapshotBytes(t, base.fsm)
	fresh := func() *harness {
		h := &harness{tb: t, fsm: restored(t, snap), fx: base.fx, idx: base.idx, seq: base.seq}
		return h
	}
	fx := base.fx
	signerSets := map[string][]*admin{
		"henan":          {fx.of[henan]},
		"national":       {fx.national[0]},
		"henan+national": {fx.of[henan], fx.national[0]},
		"henan+zhejiang": {fx.of[henan], fx.of[zhejiang]},
		"austria":        {fx.of[austria]},
		"tianjin":        {fx.of[tianjin]},
	}
	items := attack2Items()
	var groups [][]proto.Message
	for _, it := range items {
		groups = append(groups, []proto.Message{it})
	}
	r := rand.New(rand.NewSource(1))
	for len(groups) < len(items)+400 {
		a, b := items[r.Intn(len(items))], items[r.Intn(len(items))]
		if fmt.Sprintf("%T", a) != fmt.Sprintf("%T", b) || itemID(a) == itemID(b) {
			continue
		}
		groups = append(groups, []proto.Message{a, b})
	}
	fails := 0
	n := 0
	for _, name := range slices.Sorted(maps.Keys(signerSets)) {
		sg := signerSets[name]
		for _, g := range groups {
			if n++; n%stride != 0 {
				continue
			}
			hs := fresh()
			allOK := true
			for _, it := range g {
				if res := hs.applyAs(it, sg...); res.Err != nil {
					allOK = false
				}
			}
			hb := fresh()
			before := agreementsOf(hb.fsm)
			res := hb.applyAs(batchOf(g...), sg...)
			var ids []string
			for _, it := range g {
				ids = append(ids, fmt.Sprintf("%T%v", it, it))
			}
			switch {
			case (res.Err == nil) != allOK:
				fails++
				t.Errorf("signers %s, items %s: batch err=%v, singles all ok=%v", name, strings.Join(ids, " | "), res.Err, allOK)
			case res.Err == nil && !proto.Equal(agreementsOf(hs.fsm), agreementsOf(hb.fsm)):
				fails++
				t.Errorf("signers %s, items %s: batch state differs from singles", name, strings.Join(ids, " | "))
			case res.Err != nil && !proto.Equal(before, agreementsOf(hb.fsm)):
				fails++
				t.Errorf("signers %s, items %s: refused batch changed state", name, strings.Join(ids, " | "))
			}
			if fails > 20 {
				t.Fatal("too many")
			}
		}
	}
}

var _ = errors.Is
