package decisionlog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roam-federation/roam/federation/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAppendListPruneReopen(t *testing.T) {
	clk := clock.NewSim(time.Date(2020, 3, 1, 9, 0, 0, 0, clock.CST))
	path := filepath.Join(t.TempDir(), "decisions.db")
	l, err := Open(path, clk, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l.Append(Record{Host: "410000", Outcome: "PASS", Reasons: []string{"policy_rule"}, CodeSHA256: "old"})
	clk.Advance(10 * 24 * time.Hour)
	l.Append(Record{Host: "410000", Outcome: "REJECT", Reasons: []string{"expired"}, CodeSHA256: "new"})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := l.List(10)
	if err != nil || len(got) != 2 || got[0].CodeSHA256 != "new" {
		t.Fatalf("List = %+v, %v", got, err)
	}
	// 15 days after the first record, it has expired; the second has not.
	clk.Advance(5 * 24 * time.Hour)
	if err := l.Prune(); err != nil {
		t.Fatal(err)
	}
	if got, _ = l.List(10); len(got) != 1 || got[0].CodeSHA256 != "new" {
		t.Fatalf("after prune: %+v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Records survive a restart.
	l, err = Open(path, clk, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, _ = l.List(10); len(got) != 1 {
		t.Fatalf("after reopen: %+v", got)
	}
}

func TestAppendNeverBlocks(t *testing.T) {
	clk := clock.NewSim(time.Unix(1583110800, 0))
	l, err := Open(filepath.Join(t.TempDir(), "d.db"), clk, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 3*queueSize; i++ {
			l.Append(Record{Outcome: "PASS"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Append blocked")
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := l.List(1 << 20)
	if uint64(len(got))+l.Dropped() != 3*queueSize {
		t.Fatalf("written %d + dropped %d != appended %d", len(got), l.Dropped(), 3*queueSize)
	}
}

// TestSequenceContinuesAfterReopen: records logged in the same second as
// records before a restart (every record, with a simulated clock) must not
// overwrite them.
func TestSequenceContinuesAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	clk := clock.NewSim(time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST))
	for round := 1; round <= 3; round++ {
		l, err := Open(path, clk, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			l.Append(Record{Host: "410000", Checkpoint: "metro", Outcome: "PASS", CodeSHA256: fmt.Sprint(round, i)})
		}
		if err := l.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		recs, err := l.List(1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 10*round {
			t.Fatalf("round %d: %d records, want %d (records before the reopen were overwritten)", round, len(recs), 10*round)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPeriodicReopen: the writer reopens the store every so many records
// (bbolt's per-page allocation map otherwise grows with the log) and loses
// nothing doing so.
func TestPeriodicReopen(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "decisions.db"), clock.NewSim(time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST)), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.every = 100
	const n = 2000
	for i := range n {
		l.Append(Record{Host: "410000", Checkpoint: "metro", Outcome: "PASS", CodeSHA256: fmt.Sprint(i)})
		if i%500 == 0 { // stay under the queue size
			if err := l.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, err := l.List(10 * n)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n || l.Dropped() != 0 {
		t.Fatalf("%d records, %d dropped; want %d, 0", len(recs), l.Dropped(), n)
	}
	if l.reopens.Load() < 5 {
		t.Fatalf("reopened %d times for %d records every %d", l.reopens.Load(), n, l.every)
	}
}
