package registry

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/federation/reason"
)

func TestAgreementAt(t *testing.T) {
	id := AgreementID(henan, zhejiang)
	from, until := t0+day, t0+30*day
	p := propose(henan, zhejiang, henan, from, until, "green")
	open := propose(henan, zhejiang, henan, from, 0)
	acc := accept(id, 1, zhejiang)
	sec := func(s int64) time.Time { return time.Unix(s, 0) }
	cases := []struct {
		name      string
		setup     []proto.Message
		host, iss string
		at        time.Time
		code      reason.Code // "" = in force
		detail    reason.Code
		agreement bool // an agreement is returned with the error
	}{
		{name: "none", at: sec(from)},
		{name: "reverse direction only", setup: []proto.Message{propose(zhejiang, henan, zhejiang, from, until), accept(AgreementID(zhejiang, henan), 1, henan)}, at: sec(from), code: reason.NoAgreement},
		{name: "proposed", setup: []proto.Message{p}, at: sec(from), code: reason.NoAgreement, agreement: true},
		{name: "terminated", setup: []proto.Message{p, acc, terminate(id, zhejiang)}, at: sec(from), code: reason.NoAgreement, agreement: true},
		{name: "re-proposed after active stays in force", setup: []proto.Message{p, acc, p}, at: sec(from)},
		{name: "suspended", setup: []proto.Message{p, acc, suspend(id, zhejiang)}, at: sec(from), code: reason.AgreementSuspended, agreement: true},
		{name: "suspended outside window", setup: []proto.Message{p, acc, suspend(id, zhejiang)}, at: sec(until + 1), code: reason.AgreementSuspended, agreement: true},
		{name: "active before window", setup: []proto.Message{p, acc}, at: sec(from - 1), code: reason.NoAgreement, detail: reason.AgreementNotInForce, agreement: true},
		{name: "active at until", setup: []proto.Message{p, acc}, at: sec(until), code: reason.NoAgreement, detail: reason.AgreementNotInForce, agreement: true},
		{name: "active after until", setup: []proto.Message{p, acc}, at: sec(until + day), code: reason.NoAgreement, detail: reason.AgreementNotInForce, agreement: true},
		{name: "active at from", setup: []proto.Message{p, acc}, at: sec(from)},
		{name: "active just before until", setup: []proto.Message{p, acc}, at: sec(until - 1)},
		{name: "active sub-second before until", setup: []proto.Message{p, acc}, at: time.Unix(until-1, 999_999_999)},
		{name: "active in another zone", setup: []proto.Message{p, acc}, at: sec(from + 3600).In(time.FixedZone("CST", 8*3600))},
		{name: "open-ended far future", setup: []proto.Message{open, acc}, at: sec(from + 3650*day)},
		{name: "open-ended before from", setup: []proto.Message{open, acc}, at: sec(from - 1), code: reason.NoAgreement, detail: reason.AgreementNotInForce, agreement: true},
		{name: "re-accepted v2", setup: []proto.Message{p, acc, p, accept(id, 2, zhejiang)}, at: sec(from)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "none" {
				tc.code = reason.NoAgreement
			}
			h := newHarness(t)
			h.must(baseJurisdictions()...)
			h.must(tc.setup...)
			a, idx, aerr := h.fsm.AgreementAt(henan, zhejiang, tc.at)
			if idx != h.idx {
				t.Errorf("index = %d, want applied index %d", idx, h.idx)
			}
			if tc.code == "" {
				if aerr != nil {
					t.Fatalf("AgreementAt: %+v (detail %+v), want in force", aerr, aerr.Detail)
				}
				if a.GetId() != id || a.GetHost() != henan || a.GetIssuer() != zhejiang {
					t.Fatalf("agreement = %v", a)
				}
				return
			}
			if aerr == nil {
				t.Fatalf("AgreementAt = %v, nil error; want %s", a, tc.code)
			}
			if aerr.Code != tc.code || aerr.Message == "" {
				t.Errorf("code = %s (%q), want %s", aerr.Code, aerr.Message, tc.code)
			}
			switch {
			case tc.detail == "" && aerr.Detail != nil:
				t.Errorf("detail = %+v, want none", aerr.Detail)
			case tc.detail != "" && (aerr.Detail == nil || aerr.Detail.Code != tc.detail || aerr.Detail.Message == ""):
				t.Errorf("detail = %+v, want %s", aerr.Detail, tc.detail)
			}
			if (a != nil) != tc.agreement {
				t.Errorf("agreement returned = %v, want one: %v", a, tc.agreement)
			}
		})
	}
}

// AgreementAt hands out a copy: mutating it does not reach the registry.
func TestAgreementAtReturnsCopy(t *testing.T) {
	id := AgreementID(henan, zhejiang)
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	h.must(propose(henan, zhejiang, henan, t0, 0, "green"), accept(id, 1, zhejiang))
	a, _, _ := h.fsm.AgreementAt(henan, zhejiang, time.Unix(t0, 0))
	a.Terms.Colors[0] = "red"
	a.State = 0
	b, _, aerr := h.fsm.AgreementAt(henan, zhejiang, time.Unix(t0, 0))
	if aerr != nil || b.GetTerms().GetColors()[0] != "green" {
		t.Fatalf("registry agreement changed through a returned copy: %v %+v", b, aerr)
	}
}
