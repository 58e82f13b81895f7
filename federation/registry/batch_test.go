package registry

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func proposals(ps ...*roamv1.ProposeAgreement) *roamv1.ProposeAgreements {
	return &roamv1.ProposeAgreements{Proposals: ps}
}

func acceptances(as ...*roamv1.AcceptAgreement) *roamv1.AcceptAgreements {
	return &roamv1.AcceptAgreements{Acceptances: as}
}

// TestBatchAgreements: ProposeAgreements and AcceptAgreements apply every
// item as its single command would, or none: a refused item, an item its
// signer may not sign, a duplicate, an empty or oversized batch leave the
// registry exactly as it was (issue 6 §5).
func TestBatchAgreements(t *testing.T) {
	const (
		proposed = roamv1.AgreementState_AGREEMENT_STATE_PROPOSED
		active   = roamv1.AgreementState_AGREEMENT_STATE_ACTIVE
	)
	hosts := []string{zhejiang, beijing, tianjin}
	// Three hosts each propose to recognise Henan's codes, one command
	// each; Henan accepts them all in one.
	setup := func(h *harness) {
		h.must(baseJurisdictions()...)
		for _, host := range hosts {
			if res := h.applyAs(proposals(propose(host, henan, host, t0, 0, "green")), h.fx.of[host]); res.Err != nil {
				t.Fatalf("%s proposes: %v", host, res.Err)
			}
		}
	}
	var accepts []*roamv1.AcceptAgreement
	for _, host := range hosts {
		accepts = append(accepts, accept(AgreementID(host, henan), 1, henan))
	}
	many := make([]*roamv1.ProposeAgreement, MaxBatch+1)
	for i := range many {
		many[i] = propose(henan, fmt.Sprintf("%06d", 500000+i*100), henan, t0, 0, "green")
	}
	cases := []struct {
		name  string
		cmd   proto.Message
		by    string
		want  error // nil: accepted
		state map[string]roamv1.AgreementState
	}{
		{name: "accept all three", cmd: acceptances(accepts...), by: henan,
			state: map[string]roamv1.AgreementState{"330000-410000": active, "110000-410000": active, "120000-410000": active}},
		{name: "propose two as host", cmd: proposals(propose(henan, zhejiang, henan, t0, 0, "green"), propose(henan, beijing, henan, t0, 0)), by: henan,
			state: map[string]roamv1.AgreementState{"410000-330000": proposed, "410000-110000": proposed, "330000-410000": proposed}},
		{name: "one acceptance the acceptor proposed", want: ErrRefused, by: henan,
			cmd: acceptances(accepts[0], accepts[1], accept(AgreementID(henan, zhejiang), 1, henan))},
		{name: "one item for an unknown jurisdiction", want: ErrRefused, by: henan,
			cmd: proposals(propose(henan, zhejiang, henan, t0, 0, "green"), propose(henan, "530000", henan, t0, 0, "green"))},
		{name: "new terms then a bad item: the pending terms are undone", want: ErrRefused, by: zhejiang,
			cmd: proposals(propose(zhejiang, henan, zhejiang, t0, 0, "green", "yellow"), propose(zhejiang, zhejiang, zhejiang, t0, 0))},
		{name: "one item the signer is no party to", want: ErrUnauthorized, by: henan,
			cmd: proposals(propose(henan, zhejiang, henan, t0, 0, "green"), propose(beijing, tianjin, beijing, t0, 0, "green"))},
		{name: "the same agreement twice", want: ErrBatch, by: henan,
			cmd: proposals(propose(henan, zhejiang, henan, t0, 0, "green"), propose(henan, zhejiang, henan, t0, 0, "yellow"))},
		{name: "empty", want: ErrBatch, by: henan, cmd: proposals()},
		{name: "empty acceptances", want: ErrBatch, by: henan, cmd: acceptances()},
	}
	// A batch over MaxBatch is refused as a whole (at about 800 items the
	// signed entry is over MaxCommandBytes anyway).
	if _, err := batchItems(proposals(many...)); !errors.Is(err, ErrBatch) {
		t.Errorf("batch of %d: %v, want ErrBatch", len(many), err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			setup(h)
			if c.name == "new terms then a bad item: the pending terms are undone" {
				if res := h.applyAs(acceptances(accepts[0]), h.fx.of[henan]); res.Err != nil {
					t.Fatal(res.Err)
				}
			}
			if c.name == "one acceptance the acceptor proposed" {
				if res := h.applyAs(proposals(propose(henan, zhejiang, henan, t0, 0, "green")), h.fx.of[henan]); res.Err != nil {
					t.Fatal(res.Err)
				}
			}
			before := stateNoIndex(h.fsm)
			res := h.applyAs(c.cmd, h.fx.of[c.by])
			if c.want != nil {
				if !errors.Is(res.Err, c.want) {
					t.Fatalf("err = %v, want %v", res.Err, c.want)
				}
				if after := stateNoIndex(h.fsm); !proto.Equal(before, after) {
					t.Fatalf("a refused batch changed the registry:\nbefore %v\nafter  %v", before, after)
				}
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			st := h.fsm.State()
			for id, want := range c.state {
				if a := findAgreement(st, id); a.GetState() != want {
					t.Errorf("%s: %v, want %v", id, a.GetState(), want)
				}
			}
		})
	}
}
