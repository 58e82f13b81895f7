package recognition

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/decisionlog"
)

// sumSpy is the roam adapter, recording how the pipeline called it.
type sumSpy struct {
	roamjws.Adapter
	sums  [][32]byte
	plain int
}

func (s *sumSpy) Decode(ctx context.Context, p []byte, at time.Time) (*adapters.Claims, error) {
	s.plain++
	return s.Adapter.Decode(ctx, p, at)
}

func (s *sumSpy) DecodeWithSum(ctx context.Context, p []byte, sum [32]byte, at time.Time) (*adapters.Claims, error) {
	s.sums = append(s.sums, sum)
	return s.Adapter.DecodeWithSum(ctx, p, sum, at)
}

// TestPayloadHashedOnce: with a decision log, the pipeline hashes each
// payload once and hands that SHA-256 to the roam adapter's cache
// (adapters.SumDecoder), the same one the decision log records; the next
// scan of the code is a cache hit under it.
func TestPayloadHashedOnce(t *testing.T) {
	w := newWorld(t)
	w.agree(henan, zhejiangJ, fromHenan, nil)
	dl, err := decisionlog.Open(filepath.Join(t.TempDir(), "decisions.db"), w.clock, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	spy := &sumSpy{Adapter: w.p.Adapters[0].(roamjws.Adapter)}
	w.p.Adapters[0], w.p.Decisions = spy, dl
	payload, _ := w.code()
	want := sha256.Sum256(payload)
	for range 2 {
		if d, _, err := w.p.Verify(context.Background(), Request{Payload: payload, Host: henan, Checkpoint: "metro", At: now}); err != nil || OutcomeName(d.GetOutcome()) != "PASS" {
			t.Fatalf("Verify = %v, %v", d, err)
		}
	}
	if spy.plain != 0 || len(spy.sums) != 2 || spy.sums[0] != want || spy.sums[1] != want {
		t.Fatalf("adapter called %d times without the sum, with sums %x; want 2 calls with %x", spy.plain, spy.sums, want)
	}
	if st := w.cache.Stats(); st.Hits != 1 || st.Misses != 1 {
		t.Errorf("cache under the pipeline's sum: %+v, want 1 miss then 1 hit", st)
	}
	if err := dl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := dl.List(10)
	if err != nil || len(recs) != 2 || recs[0].CodeSHA256 != hex.EncodeToString(want[:16]) {
		t.Fatalf("decision log %+v, %v; want 2 records of %x", recs, err, want[:16])
	}
}
