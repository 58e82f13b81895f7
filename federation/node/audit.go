package node

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// DataDirReport is what VerifyDataDir checked.
type DataDirReport struct {
	SnapshotIndex   uint64 // 0 when there is no snapshot
	SnapshotRecords int    // audit records carried by the snapshot
	LogEntries      int    // command entries read from raft.db
	Replayed        int    // entries after the snapshot, replayed
	ChainHead       []byte // after the last entry
}

// VerifyDataDir re-verifies a stopped node's history from its data dir
// (issue 3 §5): the latest snapshot's audit records are replayed from
// genesis (every signature and authority decision again, and the hash
// chain up to the head the snapshot carries); every log entry the snapshot
// also covers must be byte-identical to its audit record; entries after
// the snapshot are replayed on top. Because nodes refuse entries whose
// signatures do not verify before appending them, a replayed entry that is
// undecodable or whose signature fails means the log was edited. The first
// inconsistency is returned, wrapping registry.ErrAuditMismatch.
//
// Entries after the last snapshot have no record to compare with (nodes
// snapshot when they stop cleanly, so normally there are none); pass
// expectHead — the chain head a live replica reports — to anchor them too.
func VerifyDataDir(dir string, expectHead []byte) (*DataDirReport, error) {
	rep := &DataDirReport{}
	var records []*roamv1.AuditRecord
	var snapshot *roamv1.RegistrySnapshot
	snaps, err := raft.NewFileSnapshotStore(dir, 1, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("snapshots in %s: %w", dir, err)
	}
	metas, err := snaps.List()
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	if len(metas) > 0 {
		_, rc, err := snaps.Open(metas[0].ID)
		if err != nil {
			return nil, fmt.Errorf("open snapshot %s: %w", metas[0].ID, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		var snap roamv1.RegistrySnapshot
		if err := proto.Unmarshal(b, &snap); err != nil {
			return nil, fmt.Errorf("%w: snapshot %s does not decode", registry.ErrAuditMismatch, metas[0].ID)
		}
		rep.SnapshotIndex, records = metas[0].Index, snap.GetAudit()
		snapshot = &snap
		rep.SnapshotRecords = len(records)
	}
	var f *registry.FSM
	if snapshot != nil {
		if f, err = registry.VerifySnapshot(snapshot); err != nil {
			return rep, fmt.Errorf("snapshot at index %d: %w", rep.SnapshotIndex, err)
		}
	} else {
		f = registry.NewFSM()
	}
	byIndex := make(map[uint64]*roamv1.AuditRecord, len(records))
	for _, r := range records {
		byIndex[r.GetIndex()] = r
	}

	path := filepath.Join(dir, "raft.db")
	if _, err := os.Stat(path); err != nil {
		return rep, fmt.Errorf("raft log: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bolt.Options{Timeout: 2 * time.Second}, NoSync: true})
	if err != nil {
		return rep, fmt.Errorf("open raft log %s (is the node still running?): %w", path, err)
	}
	defer store.Close()
	first, err := store.FirstIndex()
	if err != nil {
		return rep, err
	}
	last, err := store.LastIndex()
	if err != nil {
		return rep, err
	}
	for i := first; i <= last && i != 0; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			return rep, fmt.Errorf("%w: log entry %d is missing or unreadable: %v", registry.ErrAuditMismatch, i, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		rep.LogEntries++
		if i <= rep.SnapshotIndex {
			r, ok := byIndex[i]
			if !ok {
				return rep, fmt.Errorf("%w: log entry %d is not in the snapshot's audit records", registry.ErrAuditMismatch, i)
			}
			if string(r.GetEntry()) != string(l.Data) || l.AppendedAt.Unix() != r.GetTime() {
				return rep, fmt.Errorf("%w: log entry %d differs from the audit record the snapshot carries (edited)", registry.ErrAuditMismatch, i)
			}
			delete(byIndex, i)
			continue
		}
		rec := f.ReplayEntry(&l)
		rep.Replayed++
		if rec != nil && !rec.GetAccepted() && tampered(rec.GetReason()) {
			return rep, fmt.Errorf("%w: log entry %d: %s (nodes never append such an entry: it was edited)", registry.ErrAuditMismatch, i, rec.GetReason())
		}
	}
	// Every recorded command the log still spans must still be a command:
	// one turned into a no-op or deleted is history cut out.
	for idx := range byIndex {
		if idx >= first && idx <= last && first != 0 {
			return rep, fmt.Errorf("%w: the snapshot records a command at index %d, but the log there is no longer it (deleted or replaced)", registry.ErrAuditMismatch, idx)
		}
	}
	rep.ChainHead = f.State().GetChainHead()
	if snapshot == nil && rep.LogEntries > 0 && expectHead == nil {
		// Nodes snapshot when they stop; without one nothing anchors the log.
		return rep, fmt.Errorf("%w: no snapshot in %s, so nothing anchors its %d log entries; pass --expect-head with a live replica's chain head", registry.ErrAuditMismatch, dir, rep.LogEntries)
	}
	if expectHead != nil && string(expectHead) != string(rep.ChainHead) {
		return rep, fmt.Errorf("%w: chain head %x differs from the expected %x (history after index %d was cut or edited)", registry.ErrAuditMismatch, rep.ChainHead, expectHead, rep.SnapshotIndex)
	}
	return rep, nil
}

// tampered says whether a rejection reason can only come from bytes that
// changed after the node appended them.
func tampered(reason string) bool {
	for _, s := range []string{"signature_invalid", "signature_format", "not a valid", "malformed", "over a different command"} {
		if strings.Contains(reason, s) {
			return true
		}
	}
	return false
}
