package registry

import (
	"fmt"
	"testing"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestAttack2MaxBatchFitsCommandCap: a batch of MaxBatch agreements, with
// full terms as roamctl builds them (--until, --colors green,yellow,
// --max-code-age 24h), signs to an entry under MaxCommandBytes (a reviewer
// found 1024 did not fit).
func TestAttack2MaxBatchFitsCommandCap(t *testing.T) {
	h := newHarness(t)
	ps := make([]*roamv1.ProposeAgreement, MaxBatch)
	as := make([]*roamv1.AcceptAgreement, MaxBatch)
	for i := range ps {
		iss := fmt.Sprintf("%06d", 500000+i*100)
		// As roamctl builds it with --until, --colors green,yellow,
		// --max-code-age 24h (every pair carries its own copy of the terms).
		ps[i] = &roamv1.ProposeAgreement{Host: henan, Issuer: iss, ProposedBy: henan, EffectiveFrom: 1767196800, EffectiveUntil: 1798732800, At: 1767196800,
			Terms: &roamv1.AgreementTerms{Colors: []string{"green", "yellow"}, MaxCodeAgeSeconds: 86400}}
		as[i] = &roamv1.AcceptAgreement{Id: AgreementID(henan, iss), Version: 1, AcceptedBy: henan, At: 1767196800}
	}
	for name, m := range map[string]any{"propose": &roamv1.ProposeAgreements{Proposals: ps}, "accept": &roamv1.AcceptAgreements{Acceptances: as}} {
		var n int
		switch m := m.(type) {
		case *roamv1.ProposeAgreements:
			n = len(h.entry(m, h.fx.of[henan]))
		case *roamv1.AcceptAgreements:
			n = len(h.entry(m, h.fx.of[henan]))
		}
		t.Logf("%s: %d items, one signature: %d bytes (cap %d)", name, MaxBatch, n, MaxCommandBytes)
		if n > MaxCommandBytes {
			t.Errorf("%s batch of MaxBatch=%d minimal items with one signature is %d bytes > MaxCommandBytes %d: MaxBatch is unreachable", name, MaxBatch, n, MaxCommandBytes)
		}
	}
}
