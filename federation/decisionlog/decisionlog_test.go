package decisionlog

import (
	"context"
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
