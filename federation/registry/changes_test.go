package registry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func indexes(chs []*roamv1.RegistryChange) []uint64 {
	out := make([]uint64, len(chs))
	for i, c := range chs {
		out[i] = c.GetIndex()
	}
	return out
}

// Index 1 is the genesis (newHarness), so the commands below are 2, 3, 4.
func TestChangesAfterIndex(t *testing.T) {
	h := newHarness(t)
	h.must(jur(zhejiang, "Zhejiang"), jur(henan, "Henan"))
	h.apply(jur("bad", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for from, want := range map[uint64]string{0: "[1 2 3 4]", 1: "[2 3 4]", 2: "[3 4]", 3: "[4]"} {
		chs, err := h.fsm.Changes(ctx, from)
		if err != nil || fmt.Sprint(indexes(chs)) != want {
			t.Errorf("Changes(%d) = %v, %v; want %s", from, indexes(chs), err, want)
		}
	}
	chs, _ := h.fsm.Changes(ctx, 0)
	if chs[0].GetType() != roamv1.CommandType_COMMAND_TYPE_GENESIS || chs[0].GetError() != "" {
		t.Errorf("genesis change = %v", chs[0])
	}
	chs, _ = h.fsm.Changes(ctx, 2)
	if chs[0].GetType() != roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION || chs[0].GetSummary() == "" || chs[0].GetError() != "" {
		t.Errorf("accepted change = %v", chs[0])
	}
	if chs[1].GetError() == "" || chs[1].GetSummary() != "" {
		t.Errorf("refused change = %v, want its error and no summary", chs[1])
	}
	// A command that does not decode is recorded without a type.
	h.applyBytes([]byte{0xff})
	chs, _ = h.fsm.Changes(ctx, 4)
	if len(chs) != 1 || chs[0].GetType() != roamv1.CommandType_COMMAND_TYPE_UNSPECIFIED || chs[0].GetError() == "" {
		t.Errorf("bad command change = %v", chs)
	}
}

func TestChangesBlocksUntilApply(t *testing.T) {
	h := newHarness(t)
	h.must(jur(zhejiang, "Zhejiang")) // index 2, after genesis
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type result struct {
		chs []*roamv1.RegistryChange
		err error
	}
	started := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		close(started)
		chs, err := h.fsm.Changes(ctx, 2)
		done <- result{chs, err}
	}()
	<-started
	select {
	case r := <-done:
		t.Fatalf("Changes returned before any new apply: %v, %v", indexes(r.chs), r.err)
	case <-time.After(50 * time.Millisecond):
	}
	h.must(jur(henan, "Henan"))
	r := <-done
	if r.err != nil || fmt.Sprint(indexes(r.chs)) != "[3]" {
		t.Fatalf("Changes = %v, %v; want [3]", indexes(r.chs), r.err)
	}
}

func TestChangesContext(t *testing.T) {
	h := newHarness(t)
	h.must(jur(zhejiang, "Zhejiang"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if chs, err := h.fsm.Changes(ctx, h.idx); !errors.Is(err, context.DeadlineExceeded) || chs != nil {
		t.Errorf("Changes after timeout = %v, %v; want DeadlineExceeded", chs, err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.fsm.Changes(ctx2, h.idx)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel2()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Changes after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Changes did not return after cancel")
	}
}

func TestChangesCompacted(t *testing.T) {
	h := newHarness(t)
	h.must(onboard(zhejiang, "Zhejiang")...) // indexes 1-3 with genesis
	const extra = 10
	zj := h.fx.of[zhejiang]
	for i := range changeLogSize + extra - 3 {
		if res := h.applyAs(revoke(zhejiang, fmt.Sprintf("jti-%d", i)), zj); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	last := h.idx // changeLogSize + extra
	oldest := last - changeLogSize + 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, from := range []uint64{0, 1, 5, oldest - 2} {
		if chs, err := h.fsm.Changes(ctx, from); !errors.Is(err, ErrCompacted) {
			t.Errorf("Changes(%d) = %d changes, %v; want ErrCompacted (oldest held is %d)", from, len(chs), err, oldest)
		}
	}
	chs, err := h.fsm.Changes(ctx, oldest-1)
	if err != nil || len(chs) != changeLogSize || chs[0].GetIndex() != oldest || chs[len(chs)-1].GetIndex() != last {
		t.Fatalf("Changes(%d) = %d changes from %v, %v; want all %d held", oldest-1, len(chs), chs[0].GetIndex(), err, changeLogSize)
	}
	if chs, err := h.fsm.Changes(ctx, last-1); err != nil || len(chs) != 1 {
		t.Fatalf("Changes(last-1) = %v, %v", indexes(chs), err)
	}
}

// Raft log indexes have gaps: configuration, no-op and barrier entries never
// reach FSM.Apply. A gap before the first held change is not compaction.
func TestChangesIndexGaps(t *testing.T) {
	h := newBareHarness(t)
	f := h.fsm
	// Index 1 is the bootstrap configuration and 2 the new leader's no-op;
	// the genesis is 3.
	applyAt(t, f, 3, h.fx.genesisEntry(t))
	applyAt(t, f, 5, h.entry(jur(zhejiang, "Zhejiang")))
	applyAt(t, f, 8, h.entry(jur(henan, "Henan")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for from, want := range map[uint64]string{0: "[3 5 8]", 1: "[3 5 8]", 2: "[3 5 8]", 3: "[5 8]", 4: "[5 8]", 5: "[8]", 7: "[8]"} {
		chs, err := f.Changes(ctx, from)
		if err != nil || fmt.Sprint(indexes(chs)) != want {
			t.Errorf("Changes(%d) = %v, %v; want %s", from, indexes(chs), err, want)
		}
	}
}

// After Restore the history before the snapshot is gone: a watcher behind
// the snapshot must hear ErrCompacted, one at the snapshot must not.
func TestChangesAfterRestore(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	snap := snapshotBytes(t, h.fsm)
	snapIdx := h.idx

	f := restored(t, snap)
	if f.AppliedIndex() != snapIdx {
		t.Fatalf("restored AppliedIndex = %d, want %d", f.AppliedIndex(), snapIdx)
	}
	// The next command after a restart follows the new leader's no-op.
	if res := applyAt(t, f, snapIdx+2, h.entry(jur(shanghai, "Shanghai"))); res.Err != nil {
		t.Fatal(res.Err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, from := range []uint64{0, 1, snapIdx - 1} {
		if chs, err := f.Changes(ctx, from); !errors.Is(err, ErrCompacted) {
			t.Errorf("Changes(%d) after restore = %v, %v; want ErrCompacted", from, indexes(chs), err)
		}
	}
	for _, from := range []uint64{snapIdx, snapIdx + 1} {
		chs, err := f.Changes(ctx, from)
		if err != nil || fmt.Sprint(indexes(chs)) != fmt.Sprint([]uint64{snapIdx + 2}) {
			t.Errorf("Changes(%d) after restore = %v, %v; want [%d]", from, indexes(chs), err, snapIdx+2)
		}
	}
}

// Restore wakes watchers, who then keep waiting for the next change.
func TestChangesRestoreWakesWatchers(t *testing.T) {
	h := newHarness(t)
	h.must(jur(zhejiang, "Zhejiang")) // index 2, after genesis
	snap := snapshotBytes(t, h.fsm)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan []*roamv1.RegistryChange, 1)
	go func() {
		chs, _ := h.fsm.Changes(ctx, 2)
		done <- chs
	}()
	time.Sleep(10 * time.Millisecond)
	if err := h.fsm.Restore(readCloser{bytesReader(snap)}); err != nil {
		t.Fatal(err)
	}
	if res := applyAt(t, h.fsm, 3, h.entry(jur(henan, "Henan"))); res.Err != nil {
		t.Fatal(res.Err)
	}
	if chs := <-done; fmt.Sprint(indexes(chs)) != "[3]" {
		t.Fatalf("watcher got %v, want [3]", indexes(chs))
	}
}
