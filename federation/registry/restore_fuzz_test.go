package registry

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

const restoreSeedDir = "testdata/fuzz/FuzzRestore"

// restoreSeeds are the committed corpus of FuzzRestore: the golden
// registry (testdata/snapshot.golden's state with its audit trail, which
// restores), the fuzz registry, and snapshots that must not restore.
func restoreSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	h := newHarness(tb)
	h.must(goldenScript(tb)...)
	golden := snapshotBytes(tb, h.fsm)

	var edited roamv1.RegistrySnapshot
	if err := proto.Unmarshal(golden, &edited); err != nil {
		tb.Fatal(err)
	}
	edited.GetJurisdictions()[1].Name = "edited"
	editedB, err := proto.MarshalOptions{Deterministic: true}.Marshal(&edited)
	if err != nil {
		tb.Fatal(err)
	}
	noAudit := proto.Clone(&edited).(*roamv1.RegistrySnapshot)
	noAudit.Audit = nil
	noAuditB, err := proto.MarshalOptions{Deterministic: true}.Marshal(noAudit)
	if err != nil {
		tb.Fatal(err)
	}
	return map[string][]byte{
		"golden":         golden,
		"fuzz-registry":  fuzzRegistry(tb).snap,
		"genesis-only":   snapshotBytes(tb, newHarness(tb).fsm),
		"edited-state":   editedB,
		"no-audit":       noAuditB,
		"truncated":      golden[:len(golden)/2],
		"empty":          {},
		"bad-wire-type":  {0x0f, 0xff},
		"length-overrun": {0x0a, 0x80, 0x80, 0x04, 0x01},
	}
}

// FuzzRestore: a snapshot comes from whichever peer Raft installs it from.
// Restore of arbitrary bytes must not panic, and an error must leave the
// registry as it was (empty, or the fuzz registry); a snapshot it accepts
// survives its own snapshot round trip, and into a registry with a pinned
// genesis only a snapshot starting from that genesis restores.
func FuzzRestore(f *testing.F) {
	world := fuzzRegistry(f)
	genesis := testFixture(f).genesisEntry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		empty := NewFSM()
		err := empty.Restore(readCloser{bytes.NewReader(data)})
		if err != nil {
			if !proto.Equal(empty.State(), NewFSM().State()) || empty.AppliedIndex() != 0 {
				t.Fatalf("failed Restore (%v) changed an empty registry", err)
			}
		} else {
			back := restored(t, snapshotBytes(t, empty))
			if !proto.Equal(empty.State(), back.State()) || back.AppliedIndex() != empty.AppliedIndex() {
				t.Fatal("restored registry does not survive a snapshot round trip")
			}
			sameAudit(t, empty, back)
		}

		full := restored(t, world.snap)
		before, idx := full.State(), full.AppliedIndex()
		ferr := full.Restore(readCloser{bytes.NewReader(data)})
		if ferr != nil && (!proto.Equal(before, full.State()) || full.AppliedIndex() != idx) {
			t.Fatalf("failed Restore (%v) changed the registry", ferr)
		}
		if (err == nil) != (ferr == nil) && !errors.Is(ferr, ErrAuditMismatch) {
			t.Fatalf("Restore into an empty registry: %v; into the fuzz registry: %v", err, ferr)
		}
		if a := full.Audit(0, 0); len(a) == 0 || !bytes.Equal(a[0].GetEntry(), genesis) {
			t.Fatalf("Restore (%v) took the fuzz registry off its genesis", ferr)
		}

		pinned := NewFSM()
		pinned.PinGenesis(genesis)
		perr := pinned.Restore(readCloser{bytes.NewReader(data)})
		if a := pinned.Audit(0, 0); perr == nil && len(a) > 0 && !bytes.Equal(a[0].GetEntry(), genesis) {
			t.Fatal("a registry with a pinned genesis restored another genesis")
		}
		if !bytes.Equal(pinned.st.pinned, genesis) {
			t.Fatalf("Restore (%v) dropped the pinned genesis", perr)
		}
	})
}

// TestRestoreSeedCorpus checks the committed corpus of FuzzRestore holds
// what its names say: the golden, fuzz, genesis-only and empty registries
// restore, the others fail. -update rewrites it.
func TestRestoreSeedCorpus(t *testing.T) {
	seeds := restoreSeeds(t)
	if *update {
		if err := os.MkdirAll(restoreSeedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			if err := os.WriteFile(filepath.Join(restoreSeedDir, "seed-"+name), []byte(corpusFile(b)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range seeds {
		body, err := os.ReadFile(filepath.Join(restoreSeedDir, "seed-"+name))
		if err != nil {
			t.Fatalf("%v (go test -update writes the seed corpus)", err)
		}
		if string(body) != corpusFile(b) {
			t.Errorf("seed-%s differs from restoreSeeds (go test -update rewrites it)", name)
		}
		err = NewFSM().Restore(readCloser{bytes.NewReader(b)})
		switch name {
		case "golden", "fuzz-registry", "genesis-only", "empty": // an empty registry's snapshot is empty
			if err != nil {
				t.Errorf("seed-%s: %v, want restored", name, err)
			}
		default:
			if err == nil {
				t.Errorf("seed-%s restored", name)
			}
		}
	}
}

// TestRestoreKeepsGenesis: found by FuzzRestore's seeds. A snapshot
// without audit records restored over a registry that has a genesis wiped
// it, and Restore dropped the replica's pinned genesis, so a rogue leader
// could install an empty snapshot and then a genesis of its own.
func TestRestoreKeepsGenesis(t *testing.T) {
	fx := testFixture(t)
	ours := fx.genesisEntry(t)
	g2 := fx.genesisMsg()
	g2.Quorum = 1
	theirs := signEntry(t, payloadOf(t, g2, "other-genesis", appendedAt.Unix()+testTTL), fx.national[0])
	empty := snapshotBytes(t, NewFSM())

	h := newHarness(t)
	before := h.fsm.State()
	if err := h.fsm.Restore(readCloser{bytes.NewReader(empty)}); !errors.Is(err, ErrAuditMismatch) {
		t.Fatalf("empty snapshot over a registry with a genesis: %v", err)
	}
	if !proto.Equal(before, h.fsm.State()) {
		t.Fatal("refused snapshot changed the registry")
	}

	for name, snap := range map[string][]byte{"empty": empty, "ours": snapshotBytes(t, newHarness(t).fsm)} {
		f := NewFSM()
		f.PinGenesis(ours)
		if err := f.Restore(readCloser{bytes.NewReader(snap)}); err != nil {
			t.Fatalf("%s snapshot on a pinned replica: %v", name, err)
		}
		if res := applyAtTime(t, f, 2, appendedAt, theirs); !errors.Is(res.Err, ErrUnauthorized) {
			t.Fatalf("another genesis after restoring the %s snapshot on a pinned replica: %v", name, res.Err)
		}
	}
}
