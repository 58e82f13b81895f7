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

func TestChangesAfterIndex(t *testing.T) {
	h := newHarness(t)
	h.must(jur(zhejiang, "Zhejiang"), jur(henan, "Henan"))
	h.apply(jur("bad", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for from, want := range map[uint64]string{0: "[1 2 3]", 1: "[2 3]", 2: "[3]"} {
		chs, err := h.fsm.Changes(ctx, from)
		if err != nil || fmt.Sprint(indexes(chs)) != want {
			t.Errorf("Changes(%d) = %v, %v; want %s", from, indexes(chs), err, want)
		}
	}
	chs, _ := h.fsm.Changes(ctx, 1)
	if chs[0].GetType() != roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION || chs[0].GetSummary() == "" || chs[0].GetError() != "" {
		t.Errorf("accepted change = %v", chs[0])
	}
	if chs[1].GetError() == "" || chs[1].GetSummary() != "" {
		t.Errorf("refused change = %v, want its error and no summary", chs[1])
	}
	// A command that does not decode is recorded without a type.
	h.applyBytes([]byte{0xff})
	chs, _ = h.fsm.Changes(ctx, 3)
	if len(chs) != 1 || chs[0].GetType() != roamv1.CommandType_COMMAND_TYPE_UNSPECIFIED || chs[0].GetError() == "" {
		t.Errorf("bad command change = %v", chs)
	}
}

func TestChangesBlocksUntilApply(t *testing.T) {
	h := newHarness(t)
	h.must(jur(zhejiang, "Zhejiang"))
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
		chs, err := h.fsm.Changes(ctx, 1)
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
	if r.err != nil || fmt.Sprint(indexes(r.chs)) != "[2]" {
		t.Fatalf("Changes = %v, %v; want [2]", indexes(r.chs), r.err)
	}
}

func TestChangesContext(t *testing.T) {
	h := newHarness(t)
	h.must(jur(zhejiang, "Zhejiang"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if chs, err := h.fsm.Changes(ctx, 1); !errors.Is(err, context.DeadlineExceeded) || chs != nil {
		t.Errorf("Changes after timeout = %v, %v; want DeadlineExceeded", chs, err)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.fsm.Changes(ctx2, 1)
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
	h.must(jur(zhejiang, "Zhejiang"))
	const extra = 10
	for i := range changeLogSize + extra - 1 {
		h.apply(revoke(zhejiang, fmt.Sprintf("jti-%d", i)))
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
	f := NewFSM()
	// Index 1 is the bootstrap configuration and 2 the new leader's no-op.
	applyAt(t, f, 3, encode(t, jur(zhejiang, "Zhejiang")))
	applyAt(t, f, 5, encode(t, jur(henan, "Henan")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for from, want := range map[uint64]string{0: "[3 5]", 1: "[3 5]", 2: "[3 5]", 3: "[5]", 4: "[5]"} {
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
	applyAt(t, f, snapIdx+2, encode(t, jur(shanghai, "Shanghai")))
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
	h.must(jur(zhejiang, "Zhejiang"))
	snap := snapshotBytes(t, h.fsm)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan []*roamv1.RegistryChange, 1)
	go func() {
		chs, _ := h.fsm.Changes(ctx, 1)
		done <- chs
	}()
	time.Sleep(10 * time.Millisecond)
	if err := h.fsm.Restore(readCloser{bytesReader(snap)}); err != nil {
		t.Fatal(err)
	}
	applyAt(t, h.fsm, 2, encode(t, jur(henan, "Henan")))
	if chs := <-done; fmt.Sprint(indexes(chs)) != "[2]" {
		t.Fatalf("watcher got %v, want [2]", indexes(chs))
	}
}
