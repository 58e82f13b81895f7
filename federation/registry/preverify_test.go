package registry

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Every replay the tests run (Restore, VerifySnapshot, VerifyAudit) checks
// signatures ahead, so the restore, fuzz and determinism tests all cover
// that path; the sequential path is what Apply runs everywhere else.
func init() { preverifyMin = 2 }

// TestPreverifyEquivalent: checking signatures ahead, on every core, never
// changes what a replay decides. Random histories (every command type,
// wrong signers, tampered, re-signed and expired entries, undecodable
// bytes), as recorded and with edited records (a signature byte flipped,
// entries swapped or moved, a signature of one entry put on another), give
// the same error, the same audit records and the same state either way.
func TestPreverifyEquivalent(t *testing.T) {
	for _, seed := range []uint64{7, 20200226} {
		script := randomScript(t, seed, 300)
		f := NewFSM()
		applyScript(t, f, 1, script)
		// Admin keys added and revoked mid-history, and a signature by a
		// key before it is added and after it is revoked.
		h := &harness{tb: t, fsm: f, idx: uint64(len(script)), fx: testFixture(t), seq: 1 << 20}
		late := newAdmin(t, "EdDSA", zhejiang)
		for _, m := range []struct {
			msg proto.Message
			by  []*admin
		}{
			{revoke(zhejiang, "early"), []*admin{late}},
			{addAdmin(late.rec), h.fx.national[:1]},
			{revoke(zhejiang, "mid"), []*admin{late}},
			{&roamv1.RevokeAdminKey{Kid: late.kid()}, h.fx.national[:1]},
			{revoke(zhejiang, "after"), []*admin{late}},
		} {
			h.applyAs(m.msg, m.by...)
		}
		recs := f.Audit(0, 0)
		head := f.State().GetChainHead()

		variants := map[string][]*roamv1.AuditRecord{"as recorded": recs}
		r := rand.New(rand.NewPCG(seed, 1))
		for v := range 8 {
			edited := make([]*roamv1.AuditRecord, len(recs))
			for i, rec := range recs {
				edited[i] = proto.Clone(rec).(*roamv1.AuditRecord)
			}
			i, j := 1+r.IntN(len(edited)-1), 1+r.IntN(len(edited)-1)
			switch v % 4 {
			case 0: // flip a byte near the end (the signature of the last token)
				e := edited[i].Entry
				e[len(e)-1-r.IntN(min(len(e), 40))] ^= 1 << r.IntN(8)
			case 1: // swap two entries
				edited[i].Entry, edited[j].Entry = edited[j].Entry, edited[i].Entry
			case 2: // one entry twice
				edited[i].Entry = bytes.Clone(edited[j].Entry)
			case 3: // another entry's first signature on this one
				var a, b roamv1.SignedCommand
				if proto.Unmarshal(edited[i].Entry, &a) == nil && proto.Unmarshal(edited[j].Entry, &b) == nil && len(a.Signatures) > 0 && len(b.Signatures) > 0 {
					a.Signatures[0] = b.Signatures[0]
					edited[i].Entry, _ = proto.Marshal(&a)
				}
			}
			variants[fmt.Sprintf("edit %d (%d, %d)", v, i, j)] = edited
		}
		for name, rs := range variants {
			seq, serr := verifyAudit(rs, head, false)
			par, perr := verifyAudit(rs, head, true)
			if fmt.Sprint(serr) != fmt.Sprint(perr) {
				t.Fatalf("seed %d, %s: sequential %v; ahead %v", seed, name, serr, perr)
			}
			if !proto.Equal(seq.State(), par.State()) || seq.AppliedIndex() != par.AppliedIndex() {
				t.Fatalf("seed %d, %s: replayed states differ", seed, name)
			}
			sameAudit(t, seq, par)
			if name == "as recorded" && serr != nil {
				t.Fatalf("seed %d: the recorded history does not verify: %v", seed, serr)
			}
			if par.st.pre != nil {
				t.Fatalf("seed %d, %s: the replayed FSM kept its pre-verified signatures", seed, name)
			}
			// The edited history as Apply records it verifies ahead too,
			// deciding every entry after the edit as Apply did.
			again := NewFSM()
			for _, rec := range rs {
				applyAtTime(t, again, rec.GetIndex(), unix(rec.GetTime()), rec.GetEntry())
			}
			back, err := verifyAudit(again.Audit(0, 0), again.State().GetChainHead(), true)
			if err != nil {
				t.Fatalf("seed %d, %s, as applied: %v", seed, name, err)
			}
			if !proto.Equal(back.State(), again.State()) {
				t.Fatalf("seed %d, %s, as applied: replayed state differs", seed, name)
			}
			sameAudit(t, back, again)
		}
	}
}

// TestMayInstallAdminKeys: the quick look at an entry's command type only
// ever rules out entries that are neither a genesis nor an added admin key,
// and does rule out the others as Marshal writes them.
func TestMayInstallAdminKeys(t *testing.T) {
	entries := map[string][]byte{}
	for name, e := range fuzzSeeds(t) {
		entries[name] = e
	}
	for i, e := range randomScript(t, 3, 200) {
		entries[fmt.Sprintf("random %d", i)] = e
	}
	ruledOut := 0
	for name, e := range entries {
		may := mayInstallAdminKeys(e)
		var sc roamv1.SignedCommand
		if proto.Unmarshal(e, &sc) != nil || len(sc.GetSignatures()) == 0 {
			continue
		}
		c, err := roamjws.ParseCompact([]byte(sc.GetSignatures()[0]), TypCommand)
		if err != nil {
			continue
		}
		var cp roamv1.CommandPayload
		if proto.Unmarshal(c.Payload, &cp) != nil {
			continue
		}
		switch cp.GetCommand().GetType() {
		case roamv1.CommandType_COMMAND_TYPE_GENESIS, roamv1.CommandType_COMMAND_TYPE_ADD_ADMIN_KEY:
			if !may {
				t.Errorf("%s: a %s ruled out", name, cp.GetCommand().GetType())
			}
		default:
			if may {
				t.Errorf("%s: a %s not ruled out", name, cp.GetCommand().GetType())
			}
			ruledOut++
		}
	}
	if ruledOut < 100 {
		t.Errorf("only %d entries ruled out", ruledOut)
	}
}
