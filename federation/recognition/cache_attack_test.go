package recognition

// Adversarial review of the verified-code cache and the policy memo as the
// pipeline uses them (issue 6). These held; they guard what was tried.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestAttackConcurrentScansThenRevocation (run with -race): scanners share
// the pipeline, its cache (smaller than the working set) and the policy
// memo while the registry revokes one code id and then the issuer key.
// Every scan that starts after a revocation is applied must reject.
func TestAttackConcurrentScansThenRevocation(t *testing.T) {
	w := newWorld(t)
	w.agree(henan, zhejiangJ, fromHenan, nil)
	type code struct {
		payload []byte
		jti     string
	}
	var codes []code
	for range 24 {
		p, c := w.code()
		codes = append(codes, code{p, c.CodeID})
	}
	victim := codes[0].jti
	var codeRevoked, keyRevoked atomic.Bool
	var bad atomic.Int64
	var errs sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := codes[i%len(codes)]
				cr, kr := codeRevoked.Load(), keyRevoked.Load()
				d, _, err := w.p.Verify(context.Background(), Request{Payload: c.payload, Host: henan, Checkpoint: "metro", At: now})
				if err != nil {
					errs.Store(err.Error(), true)
					continue
				}
				pass := d.GetOutcome() == roamv1.Outcome_OUTCOME_PASS
				if pass && (kr || (cr && c.jti == victim)) {
					bad.Add(1)
				}
			}
		}()
	}
	time.Sleep(30 * time.Millisecond)
	at := now.Add(-time.Minute).Unix()
	w.apply(&roamv1.RevokeCode{Jurisdiction: zhejiangJ, CodeId: victim, At: at})
	codeRevoked.Store(true)
	time.Sleep(30 * time.Millisecond)
	w.apply(&roamv1.SetKeyState{Kid: w.keys[zhejiangJ].signer.Kid(), State: roamv1.KeyState_KEY_STATE_REVOKED, At: at})
	keyRevoked.Store(true)
	time.Sleep(30 * time.Millisecond)
	close(stop)
	wg.Wait()
	errs.Range(func(k, _ any) bool { t.Errorf("Verify error: %v", k); return true })
	if n := bad.Load(); n > 0 {
		t.Errorf("%d scans that started after a revocation passed", n)
	}
	if s := w.cache.Stats(); s.Hits == 0 || s.Entries > 64 {
		t.Errorf("cache stats %+v: want hits and at most 64 entries", s)
	}
}

// TestAttackMemoAcrossAgeThreshold: the same code scanned young (no status
// needed, PASS memoised) and then older than the agreement's
// max_age_without_status with the issuer down must not reuse the young
// scan's memoised PASS.
func TestAttackMemoAcrossAgeThreshold(t *testing.T) {
	for _, host := range []string{henan, shanghai} {
		t.Run(host, func(t *testing.T) {
			w := newWorld(t)
			w.agree(host, zhejiangJ, fromHenan, &roamv1.AgreementTerms{MaxAgeWithoutStatusSeconds: 12 * 3600})
			w.status.fn = func(context.Context, string, string) (*adapters.Claims, error) {
				return nil, errors.New("connection refused")
			}
			payload, _ := w.code()
			for range 2 {
				d, _ := w.verify(host, "metro", payload, now)
				check(t, d, "PASS", rPolicy)
			}
			d, _ := w.verify(host, "metro", payload, now.Add(13*time.Hour))
			if OutcomeName(d.GetOutcome()) == "PASS" {
				t.Errorf("13 h old with the issuer unreachable: PASS %v", reasonCodes(d))
			}
			if !containsReason(d, string(reason.IssuerUnreachable)) {
				t.Errorf("reasons %v lack issuer_unreachable", reasonCodes(d))
			}
		})
	}
}

// TestAttackMemoStatusChanged: a yellow code whose issuer now says green
// (newer ver) and the same code when the issuer confirms yellow give
// different outcomes although everything but the status is equal.
func TestAttackMemoStatusChanged(t *testing.T) {
	w := newWorld(t)
	w.agree(shanghai, zhejiangJ, fromHenan, &roamv1.AgreementTerms{RequireLiveStatus: true})
	payload, c := w.code(color(adapters.Yellow))
	var fresh atomic.Bool
	w.status.fn = func(_ context.Context, iss, jti string) (*adapters.Claims, error) {
		s := *c
		if fresh.Load() {
			s.Color, s.Version = adapters.Green, c.Version+1
		}
		return &s, nil
	}
	for _, tc := range []struct {
		fresh bool
		want  string
	}{{false, "QUARANTINE_7D"}, {true, "PASS"}, {false, "QUARANTINE_7D"}, {true, "PASS"}} {
		fresh.Store(tc.fresh)
		d, _ := w.verify(shanghai, "metro", payload, now)
		if got := OutcomeName(d.GetOutcome()); got != tc.want {
			t.Errorf("fresh status %v: %s %v, want %s", tc.fresh, got, reasonCodes(d), tc.want)
		}
	}
}

func containsReason(d *roamv1.Decision, code string) bool {
	for _, r := range d.GetReasons() {
		if r.GetCode() == code {
			return true
		}
	}
	return false
}
