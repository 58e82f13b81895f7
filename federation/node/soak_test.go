package node

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"
)

// TestSoakTCP is the on-demand load soak (issue 5 §7), not run in CI:
//
//	ROAM_SOAK=10m go test ./federation/node -run TestSoakTCP -v -timeout 30m
//
// ROAM_SOAK_DUMP=DIR also writes goroutine and heap profiles at every
// sample (compare two with go tool pprof -base).
//
// Three nodes over TCP loopback; every node verifies as fast as 4
// checkpoint clients each can (no pause), 4 clients write to the registry
// at an admin's pace (one write each every 5 s: agreements and keys change
// rarely, and every write stays in the in-memory audit trail), and one
// follower is killed and restarted midway. Every 10% of the run it logs
// the live heap (HeapAlloc after a GC; HeapInuse too) and goroutines, for
// the whole process (all three nodes). It fails if, in the second half,
// either grew more than 25% (+16 MiB, +100 goroutines of slack) over its
// level at 30% of the run: growth without bound shows up as a steady climb.
func TestSoakTCP(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("ROAM_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set ROAM_SOAK=10m to run the load soak")
	}
	c := newFaultCluster(t, 3, 0, nil)
	w := newWorkload(c)
	w.pause, w.vpause = 5*time.Second, -1
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { w.writer(stop, uint64(i+1)) })
	}
	for _, fn := range c.nodes {
		for range 4 {
			wg.Go(func() { w.verifier(stop, fn) })
		}
	}
	type sample struct {
		at         time.Duration
		heap       uint64
		goroutines int
		verifies   int64
	}
	var samples []sample
	measure := func(at time.Duration) sample {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := sample{at: at, heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine(), verifies: w.verifies.Load()}
		audit := 0
		for _, fn := range c.nodes {
			if fn.up.Load() {
				audit += len(fn.node.FSM().Audit(0, 1<<30))
			}
		}
		samples = append(samples, s)
		if dir := os.Getenv("ROAM_SOAK_DUMP"); dir != "" {
			if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("goroutines-%03d.txt", len(samples)))); err == nil {
				_ = pprof.Lookup("goroutine").WriteTo(f, 1)
				f.Close()
			}
			if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%03d.pb.gz", len(samples)))); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
		t.Logf("SOAK t=%-6s heap_live=%6.1f MiB heap_inuse=%6.1f MiB goroutines=%4d verifies=%d writes=%d audit_records=%d", at.Round(time.Second), float64(s.heap)/(1<<20), float64(ms.HeapInuse)/(1<<20), s.goroutines, s.verifies, w.h.len(), audit)
		return s
	}
	start := time.Now()
	var victim *faultNode
	for i := 1; i <= 10; i++ {
		time.Sleep(d / 10)
		switch i {
		case 5:
			victim = c.followers(c.leader())[0]
			t.Logf("SOAK killing %s", victim.id)
			c.kill(victim)
		case 6:
			t.Logf("SOAK restarting %s", victim.id)
			c.restart(victim)
		}
		measure(time.Since(start))
	}
	close(stop)
	wg.Wait()
	c.converge()
	base := samples[2]
	for _, s := range samples[5:] {
		if s.heap > base.heap+base.heap/4+16<<20 {
			t.Errorf("live heap grew from %.1f MiB at %s to %.1f MiB at %s", float64(base.heap)/(1<<20), base.at.Round(time.Second), float64(s.heap)/(1<<20), s.at.Round(time.Second))
		}
		if s.goroutines > base.goroutines+base.goroutines/4+100 {
			t.Errorf("goroutines grew from %d at %s to %d at %s", base.goroutines, base.at.Round(time.Second), s.goroutines, s.at.Round(time.Second))
		}
	}
	if w.verifyErrs.Load() != 0 || w.notPass.Load() != 0 {
		t.Errorf("%d verifications failed, %d not PASS; first: %v", w.verifyErrs.Load(), w.notPass.Load(), w.firstVerifyErr.Load())
	}
	checkLinearizable(t, w.h, 5*time.Minute)
	okN, refused, unknown := w.h.counts()
	t.Logf("SOAK done: %s, %d verifications (%.0f/s, %d registry_stale while %s caught up), writes ok=%d refused=%d unknown=%d, lost=0",
		d, w.verifies.Load(), float64(w.verifies.Load())/d.Seconds(), w.stale.Load(), victim.id, okN, refused, unknown)
}
