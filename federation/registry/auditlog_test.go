package registry

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestSnapshotEncoding: the audit trail is kept encoded and spliced into a
// snapshot, which must stay byte for byte the deterministic encoding of
// the whole registry with its records (snapshots from before stay valid,
// and replicas agree).
func TestSnapshotEncoding(t *testing.T) {
	for _, f := range []*FSM{NewFSM(), newHarness(t).fsm, scripted(t, 11, 300)} {
		full := f.State()
		full.Audit = f.Audit(0, 0)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(full)
		if err != nil {
			t.Fatal(err)
		}
		if got := snapshotBytes(t, f); !bytes.Equal(got, want) {
			t.Fatalf("snapshot of %d records is not the encoding of the registry with its records", len(full.Audit))
		}
	}
}

func scripted(t *testing.T, seed uint64, n int) *FSM {
	t.Helper()
	f := NewFSM()
	applyScript(t, f, 1, randomScript(t, seed, n))
	return f
}

// TestAuditLogEqual: comparing records by their encoding says what
// proto.Equal says, for edits of every field and unknown fields.
func TestAuditLogEqual(t *testing.T) {
	f := scripted(t, 5, 120)
	recs := f.Audit(0, 0)
	if !f.st.audit.equal(recs) {
		t.Fatal("the log differs from its own records")
	}
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1)
	edits := map[string]func(r *roamv1.AuditRecord){
		"index":               func(r *roamv1.AuditRecord) { r.Index++ },
		"time":                func(r *roamv1.AuditRecord) { r.Time-- },
		"command id":          func(r *roamv1.AuditRecord) { r.CommandId += "x" },
		"type":                func(r *roamv1.AuditRecord) { r.Type++ },
		"signer added":        func(r *roamv1.AuditRecord) { r.Signers = append(r.Signers, "k") },
		"signers dropped":     func(r *roamv1.AuditRecord) { r.Signers = nil },
		"jurisdiction added":  func(r *roamv1.AuditRecord) { r.SignerJurisdictions = append(r.SignerJurisdictions, National) },
		"accepted":            func(r *roamv1.AuditRecord) { r.Accepted = !r.Accepted },
		"reason":              func(r *roamv1.AuditRecord) { r.Reason += "." },
		"entry":               func(r *roamv1.AuditRecord) { r.Entry = append(bytes.Clone(r.Entry), 0) },
		"chain":               func(r *roamv1.AuditRecord) { r.Chain = append(bytes.Clone(r.Chain[:31]), r.Chain[31]^1) },
		"summary":             func(r *roamv1.AuditRecord) { r.Summary += "!" },
		"unknown field":       func(r *roamv1.AuditRecord) { r.ProtoReflect().SetUnknown(unknown) },
		"empty slices, equal": func(r *roamv1.AuditRecord) { r.Signers, r.SignerJurisdictions = []string{}, []string{} },
	}
	for name, edit := range edits {
		for _, i := range []int{0, len(recs) / 2, len(recs) - 1} {
			c := make([]*roamv1.AuditRecord, len(recs))
			copy(c, recs)
			c[i] = proto.Clone(recs[i]).(*roamv1.AuditRecord)
			edit(c[i])
			if eq := proto.Equal(c[i], recs[i]); f.st.audit.equal(c) != eq {
				t.Errorf("%s of record %d: proto.Equal %v, log equal %v", name, i, eq, !eq)
			}
		}
	}
	if f.st.audit.equal(recs[1:]) || f.st.audit.equal(append(recs, recs[0])) {
		t.Error("a cut or longer trail compares equal")
	}
}

// TestRestoreRefusesUnknownFields: Restore compares the replay with the
// snapshot as proto.Equal does, unknown fields included, in the registry
// and in an audit record.
func TestRestoreRefusesUnknownFields(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	good := snapshotBytes(t, h.fsm)
	extra := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7)
	for name, edit := range map[string]func(s *roamv1.RegistrySnapshot){
		"registry": func(s *roamv1.RegistrySnapshot) { s.ProtoReflect().SetUnknown(extra) },
		"record":   func(s *roamv1.RegistrySnapshot) { s.Audit[2].ProtoReflect().SetUnknown(extra) },
		"key":      func(s *roamv1.RegistrySnapshot) { s.AdminKeys[1].ProtoReflect().SetUnknown(extra) },
	} {
		var s roamv1.RegistrySnapshot
		if err := proto.Unmarshal(good, &s); err != nil {
			t.Fatal(err)
		}
		edit(&s)
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		if err := NewFSM().Restore(readCloser{bytes.NewReader(b)}); !errors.Is(err, ErrAuditMismatch) {
			t.Errorf("unknown field in the %s: Restore = %v, want ErrAuditMismatch", name, err)
		}
	}
}

// TestSnapshotWhileApplying: Snapshot reads the encoded records after it
// releases the lock, while Apply appends more; every snapshot restores.
func TestSnapshotWhileApplying(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	entries := make([][]byte, 300)
	for i := range entries {
		entries[i] = h.entry(revoke(zhejiang, fmt.Sprintf("jti-%d", i)))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, e := range entries {
			h.applyBytes(e)
		}
	})
	var snaps [][]byte
	for range 20 {
		snaps = append(snaps, snapshotBytes(t, h.fsm))
	}
	wg.Wait()
	for _, s := range snaps {
		restored(t, s)
	}
}

// TestRememberForgetsAsAScan: the replay cache forgets, through its expiry
// heap, exactly the ids a scan of every held id would: random bursts well
// past 1024 held ids, ids reused once forgotten, and append times that
// jump forward and (after a leader change) back.
func TestRememberForgetsAsAScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s := newState()
	ref := map[string]int64{}
	appended := int64(1_000_000)
	most := 0
	for step := range 40000 {
		switch r.IntN(1000) { // bursts of ~1000 commands between jumps
		case 0:
			appended -= int64(r.IntN(300))
		case 1:
			appended += int64(r.IntN(3000))
		}
		id := fmt.Sprintf("c%d", r.IntN(6000))
		if _, held := ref[id]; held {
			continue // checkFreshness refuses a held id before remember
		}
		exp := appended + 1 + int64(r.IntN(3000))
		s.remember(&roamv1.CommandPayload{Id: id, ExpiresAt: exp}, appended)
		ref[id] = exp
		most = max(most, len(ref))
		if len(ref) > 1024 {
			for k, e := range ref {
				if e <= appended {
					delete(ref, k)
				}
			}
		}
		if !maps.Equal(ref, s.seen) {
			t.Fatalf("step %d: %d ids held, a scan holds %d", step, len(s.seen), len(ref))
		}
	}
	t.Logf("held up to %d ids", most)
	if most <= 1025 {
		t.Fatalf("the test never held more than 1025 ids (%d)", most)
	}
}
