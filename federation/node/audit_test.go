package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// singleNode runs a one-node cluster in dir with a fresh genesis, applies
// the national onboarding of 330000 and 410000 and an agreement, snapshots
// halfway, and stops. It returns the indexes of one entry covered by the
// snapshot and one after it.
func singleNode(t *testing.T, dir string) (covered, after uint64) {
	t.Helper()
	ctx := context.Background()
	kr, err := admin.NewKeyring(2, 1, "330000", "410000")
	if err != nil {
		t.Fatal(err)
	}
	g, err := kr.Genesis()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Jurisdiction: "330000", DataDir: dir, RaftListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0", Bootstrap: true,
		Backend: Backend{URL: "http://127.0.0.1:1"}, HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond}
	n, err := Start(ctx, cfg, Options{Clock: clock.NewSim(time.Date(2020, 2, 26, 8, 0, 0, 0, clock.CST)), Logger: quietLogger(), RaftLogLevel: "off", Genesis: g})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := n.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	apply := func(sc *roamv1.SignedCommand) uint64 {
		t.Helper()
		idx, err := n.Apply(ctx, sc)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	for _, j := range []string{"330000", "410000"} {
		cmds, err := kr.Onboard(j, j, SystemFor(j))
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range cmds {
			covered = apply(sc)
		}
	}
	if err := n.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	sc, err := kr.Sign(&roamv1.ProposeAgreement{Host: "410000", Issuer: "330000", EffectiveFrom: 1582819200, ProposedBy: "410000"}, kr.Admin("410000"))
	if err != nil {
		t.Fatal(err)
	}
	after = apply(sc)
	return covered, after
}

func TestVerifyDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	dir := t.TempDir()
	singleNode(t, dir)
	rep, err := VerifyDataDir(dir, nil)
	if err != nil {
		t.Fatalf("untouched data dir: %v", err)
	}
	// The node snapshotted when it stopped: all history is anchored.
	if rep.SnapshotIndex == 0 || rep.LogEntries == 0 || len(rep.ChainHead) != 32 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := VerifyDataDir(dir, rep.ChainHead); err != nil {
		t.Fatalf("expected head: %v", err)
	}
	if _, err := VerifyDataDir(dir, make([]byte, 32)); !errors.Is(err, registry.ErrAuditMismatch) {
		t.Fatalf("a different expected head: %v", err)
	}

	// Each way of editing a stopped node's log (found by review: only a
	// byte flip used to be caught).
	for _, tc := range []struct {
		name string
		at   func(covered, after uint64) uint64
		edit func(l *raft.Log)
	}{
		{"byte flipped, early entry", func(c, _ uint64) uint64 { return c }, flipByte},
		{"byte flipped, last entry", func(_, a uint64) uint64 { return a }, flipByte},
		{"append time moved", func(c, _ uint64) uint64 { return c }, func(l *raft.Log) { l.AppendedAt = l.AppendedAt.Add(-time.Hour) }},
		{"command turned into a no-op", func(c, _ uint64) uint64 { return c }, func(l *raft.Log) { l.Type, l.Data = raft.LogNoop, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := t.TempDir()
			covered2, after2 := singleNode(t, edited)
			editLogEntry(t, filepath.Join(edited, "raft.db"), tc.at(covered2, after2), tc.edit)
			if _, err := VerifyDataDir(edited, nil); !errors.Is(err, registry.ErrAuditMismatch) {
				t.Fatalf("err = %v, want ErrAuditMismatch", err)
			}
		})
	}
	t.Run("snapshot deleted", func(t *testing.T) {
		// Found by review: without the snapshot nothing anchored the log.
		edited := t.TempDir()
		singleNode(t, edited)
		if err := os.RemoveAll(filepath.Join(edited, "snapshots")); err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyDataDir(edited, nil); !errors.Is(err, registry.ErrAuditMismatch) {
			t.Fatalf("err = %v, want ErrAuditMismatch", err)
		}
	})
	t.Run("entry deleted", func(t *testing.T) {
		edited := t.TempDir()
		covered2, _ := singleNode(t, edited)
		store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(edited, "raft.db")})
		if err != nil {
			t.Fatal(err)
		}
		// A hole in the middle; cutting the tail back to before the snapshot
		// looks like a snapshot install and needs --expect-head.
		if err := store.DeleteRange(covered2, covered2); err != nil {
			t.Fatal(err)
		}
		store.Close()
		if _, err := VerifyDataDir(edited, nil); !errors.Is(err, registry.ErrAuditMismatch) {
			t.Fatalf("err = %v, want ErrAuditMismatch", err)
		}
	})
}

func flipByte(l *raft.Log) {
	data := append([]byte(nil), l.Data...)
	// A byte well inside the JWS payload part: the signature no longer fits.
	i := len(data) / 2
	if data[i] == 'A' {
		data[i] = 'B'
	} else {
		data[i] = 'A'
	}
	l.Data = data
}

// editLogEntry rewrites log entry idx of a stopped node's raft.db.
func editLogEntry(t *testing.T, path string, idx uint64, edit func(*raft.Log)) {
	t.Helper()
	store, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var l raft.Log
	if err := store.GetLog(idx, &l); err != nil {
		t.Fatal(err)
	}
	edit(&l)
	if err := store.StoreLog(&l); err != nil {
		t.Fatal(err)
	}
}
