package node

import (
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestReadinessThroughQuorumLoss (written by a reviewer): /readyz and the gRPC health service through quorum loss. The
// deploy kit routes checkpoint traffic only to ready pods, so readiness
// must stay true while decisions still come from the local replica
// (within max_staleness), turn false past it, and come back with quorum.
// A survivor restarted during quorum loss must stay unready (not caught
// up). No existing test covers these transitions (health_test.go checks
// only registration states).
func TestReadinessThroughQuorumLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	const maxStale = 2 * time.Second
	c := newFaultCluster(t, 3, 0, nil)
	l := c.leader()
	survivor := c.followers(l)[0]
	c.kill(survivor)
	survivor.cfg.MaxStaleness = maxStale
	c.restart(survivor)
	survivor.waitReady(t, c.ctx)
	c.converge()
	health := func() healthpb.HealthCheckResponse_ServingStatus {
		r, err := healthpb.NewHealthClient(survivor.cc()).Check(c.ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	waitFor := func(want bool, within time.Duration) (bool, string) {
		var ok bool
		var why string
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if ok, why = survivor.node.readiness(); ok == want {
				return ok, why
			}
		}
		return ok, why
	}
	if ok, why := waitFor(true, 5*time.Second); !ok {
		t.Fatalf("healthy follower not ready: %s", why)
	}
	for _, fn := range c.followers(survivor) {
		c.kill(fn)
	}
	lost := time.Now()
	time.Sleep(maxStale / 2)
	if ok, why := survivor.node.readiness(); !ok {
		t.Errorf("%s after quorum loss (max_staleness %s): not ready (%s); decisions still PASS from the replica", time.Since(lost).Round(time.Millisecond), maxStale, why)
	}
	if ok, why := waitFor(false, 2*maxStale); ok {
		t.Errorf("past max_staleness: still ready (%s)", why)
	} else {
		t.Logf("past max_staleness: %q", why)
	}
	time.Sleep(300 * time.Millisecond)
	if st := health(); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("gRPC health past max_staleness = %v, want NOT_SERVING", st)
	}
	// Restart the survivor while quorum is still lost: not ready.
	c.kill(survivor)
	c.restart(survivor)
	time.Sleep(2 * time.Second)
	if ok, why := survivor.node.readiness(); ok {
		t.Errorf("restarted without quorum: ready")
	} else {
		t.Logf("restarted without quorum: %q", why)
	}
	for _, fn := range c.followers(survivor) {
		c.restart(fn)
	}
	c.converge()
	if ok, why := waitFor(true, 15*time.Second); !ok {
		t.Errorf("quorum back: not ready (%s)", why)
	}
	time.Sleep(300 * time.Millisecond)
	if st := health(); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health with quorum back = %v, want SERVING", st)
	}
}
