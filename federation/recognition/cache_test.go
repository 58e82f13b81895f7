package recognition

import (
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/reason"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestCacheRegistryChangeNextScan: a rider's code passes twice (the second
// scan answered from the verified-code cache), then a registry change is
// applied, and the very next scan must decide on it (issue 6 §2). Each
// row also checks that scan still hit the cache: the change must take
// effect through the checks a hit repeats, not by luck of a miss.
func TestCacheRegistryChangeNextScan(t *testing.T) {
	at := now.Add(-time.Minute).Unix()
	cases := []struct {
		name    string
		change  func(w *world, id, jti string)
		reasons []string
	}{
		{"agreement suspended by the host", func(w *world, id, _ string) {
			w.apply(&roamv1.SuspendAgreement{Id: id, By: henan, Reason: "outbreak", At: at})
		}, []string{string(reason.AgreementSuspended)}},
		{"agreement terminated by the issuer", func(w *world, id, _ string) {
			w.apply(&roamv1.TerminateAgreement{Id: id, By: zhejiangJ, Reason: "test", At: at})
		}, []string{string(reason.NoAgreement)}},
		{"issuer key revoked", func(w *world, _, _ string) {
			w.apply(&roamv1.SetKeyState{Kid: w.keys[zhejiangJ].signer.Kid(), State: roamv1.KeyState_KEY_STATE_REVOKED, At: at})
		}, []string{string(reason.KeyRevoked)}},
		{"code id revoked by its issuer", func(w *world, _, jti string) {
			w.apply(&roamv1.RevokeCode{Jurisdiction: zhejiangJ, CodeId: jti, At: at})
		}, []string{string(reason.CodeRevoked)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			id := w.agree(henan, zhejiangJ, fromHenan, nil)
			payload, claims := w.code()
			for i := range 2 {
				d, _ := w.verify(henan, "metro", payload, now)
				check(t, d, "PASS", rPolicy)
				if got := w.cache.Stats().Hits; got != uint64(i) {
					t.Fatalf("scan %d: %d cache hits, want %d", i+1, got, i)
				}
			}
			c.change(w, id, claims.CodeID)
			d, _ := w.verify(henan, "metro", payload, now)
			check(t, d, "REJECT", c.reasons...)
			if got := w.cache.Stats().Hits; got != 2 {
				t.Errorf("the scan after the change was not a cache hit (%d hits)", got)
			}
		})
	}
}
