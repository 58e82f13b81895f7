package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Jurisdictions used in tests (GB/T 2260, DESIGN.md §1).
const (
	zhejiang  = "330000"
	henan     = "410000"
	beijing   = "110000"
	tianjin   = "120000"
	hebei     = "130000"
	shanghai  = "310000"
	austria   = "XX-AT"
	national  = "000000"
	unknownID = "440000" // Guangdong: valid id, never registered in tests
)

// t0 is the demo's simulated start (DESIGN.md §3 "Time"), as Unix seconds.
var t0 = time.Date(2020, 2, 26, 0, 0, 0, 0, time.FixedZone("CST", 8*3600)).Unix()

const day = int64(24 * 3600)

// appendedAt is the AppendedAt of every log entry the harness builds: the
// registry checks expiry against it, never a clock. Commands the harness
// signs expire testTTL seconds after it.
var appendedAt = time.Unix(t0, 0).UTC()

const testTTL = int64(600)

// harness applies signed commands to one FSM with increasing log indexes.
// newHarness starts it with the fixture's genesis at index 1.
type harness struct {
	tb  testing.TB
	fsm *FSM
	idx uint64
	seq int // command ids: "t-000001", ...
	fx  *fixture
}

// newHarness returns a registry whose genesis (the fixture's national
// admins, quorum 2 of 3) is applied at index 1.
func newHarness(tb testing.TB) *harness {
	tb.Helper()
	h := newBareHarness(tb)
	if res := h.applyBytes(h.fx.genesisEntry(tb)); res.Err != nil {
		tb.Fatalf("genesis: %v", res.Err)
	}
	return h
}

// newBareHarness returns a registry without genesis.
func newBareHarness(tb testing.TB) *harness {
	tb.Helper()
	return &harness{tb: tb, fsm: NewFSM(), fx: testFixture(tb)}
}

// nextID returns a fresh, deterministic command id.
func (h *harness) nextID() string {
	h.seq++
	return fmt.Sprintf("t-%06d", h.seq)
}

// entry signs msg with signers (the right role when none are given) under a
// fresh command id, expiring testTTL after appendedAt.
func (h *harness) entry(msg proto.Message, signers ...*admin) []byte {
	h.tb.Helper()
	if len(signers) == 0 {
		signers = h.fx.signersFor(msg, h.fsm)
	}
	return signEntry(h.tb, payloadOf(h.tb, msg, h.nextID(), appendedAt.Unix()+testTTL), signers...)
}

// applyBytes applies data as the next log entry.
func (h *harness) applyBytes(data []byte) *ApplyResult {
	h.tb.Helper()
	h.idx++
	return applyAt(h.tb, h.fsm, h.idx, data)
}

func applyAt(tb testing.TB, f *FSM, idx uint64, data []byte) *ApplyResult {
	tb.Helper()
	return applyAtTime(tb, f, idx, appendedAt, data)
}

func applyAtTime(tb testing.TB, f *FSM, idx uint64, at time.Time, data []byte) *ApplyResult {
	tb.Helper()
	out := f.Apply(&raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: at})
	res, ok := out.(*ApplyResult)
	if !ok {
		tb.Fatalf("Apply returned %T, want *ApplyResult", out)
	}
	if res.Index != idx {
		tb.Fatalf("ApplyResult.Index = %d, want %d", res.Index, idx)
	}
	return res
}

// apply signs msg as the right role (fixture.signersFor) and applies it.
func (h *harness) apply(msg proto.Message) *ApplyResult {
	h.tb.Helper()
	return h.applyBytes(h.entry(msg))
}

// applyAs signs msg with signers and applies it.
func (h *harness) applyAs(msg proto.Message, signers ...*admin) *ApplyResult {
	h.tb.Helper()
	if len(signers) == 0 {
		h.tb.Fatal("applyAs needs signers")
	}
	return h.applyBytes(h.entry(msg, signers...))
}

// must applies msgs, each signed as the right role, and fails the test on
// any refusal.
func (h *harness) must(msgs ...proto.Message) {
	h.tb.Helper()
	for _, m := range msgs {
		if res := h.apply(m); res.Err != nil {
			h.tb.Fatalf("setup %T %v: %v", m, m, res.Err)
		}
	}
}

// stateNoIndex is State() with Index, ChainHead and the seen command ids
// cleared, for before/after comparisons: every entry, accepted or not,
// moves the first two, and every signed, fresh entry uses up its id.
// Everything else (admin keys, quorum, hub) is kept.
func stateNoIndex(f *FSM) *roamv1.RegistrySnapshot {
	s := f.State()
	s.Index = 0
	s.ChainHead = nil
	s.SeenCommands = nil
	return s
}

// --- command builders ---

func jur(id, name string) *roamv1.UpsertJurisdiction {
	return &roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: id, Name: name, CodeSystem: "code-" + id}}
}

// baseJurisdictions registers the jurisdictions most tests need, each with
// its fixture admin key (so that jurisdiction's admin can sign).
func baseJurisdictions() []proto.Message {
	var out []proto.Message
	for _, j := range []struct{ id, name string }{
		{zhejiang, "Zhejiang"}, {henan, "Henan"}, {beijing, "Beijing"}, {tianjin, "Tianjin"}, {austria, "Austria"},
	} {
		out = append(out, onboard(j.id, j.name)...)
	}
	return out
}

// onboard registers jurisdiction id and its fixture admin key.
func onboard(id, name string) []proto.Message {
	return []proto.Message{jur(id, name), addAdmin(mustFixture().of[id].rec)}
}

func addAdmin(k *roamv1.AdminKey) *roamv1.AddAdminKey {
	return &roamv1.AddAdminKey{Key: proto.Clone(k).(*roamv1.AdminKey)}
}

func issuerKey(k *tkey, j string) *roamv1.IssuerKey {
	return &roamv1.IssuerKey{
		Kid: k.kid, Jurisdiction: j, Alg: k.alg, Jwk: k.pub,
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: t0, NotAfter: t0 + 365*day,
	}
}

func addKey(k *tkey, j string) *roamv1.AddKey { return &roamv1.AddKey{Key: issuerKey(k, j)} }

func setKey(kid string, st roamv1.KeyState, at int64) *roamv1.SetKeyState {
	return &roamv1.SetKeyState{Kid: kid, State: st, At: at}
}

func propose(host, issuer, by string, from, until int64, colors ...string) *roamv1.ProposeAgreement {
	return &roamv1.ProposeAgreement{
		Host: host, Issuer: issuer, ProposedBy: by, EffectiveFrom: from, EffectiveUntil: until, At: t0,
		Terms: &roamv1.AgreementTerms{Colors: colors, MaxCodeAgeSeconds: day, MaxAgeWithoutStatusSeconds: 3600},
	}
}

func accept(id string, version uint64, by string) *roamv1.AcceptAgreement {
	return &roamv1.AcceptAgreement{Id: id, Version: version, AcceptedBy: by, At: t0 + 60}
}

func suspend(id, by string) *roamv1.SuspendAgreement {
	return &roamv1.SuspendAgreement{Id: id, By: by, Reason: "outbreak", At: t0 + 2*day}
}

func terminate(id, by string) *roamv1.TerminateAgreement {
	return &roamv1.TerminateAgreement{Id: id, By: by, Reason: "ended", At: t0 + 3*day}
}

func revoke(j, jti string) *roamv1.RevokeCode {
	return &roamv1.RevokeCode{Jurisdiction: j, CodeId: jti, At: t0 + 3600}
}

func member(id, j string) *roamv1.UpsertMember {
	return &roamv1.UpsertMember{Member: &roamv1.Member{
		NodeId: id, Jurisdiction: j, RaftAddress: "127.0.0.1:7000", GrpcAddress: "127.0.0.1:8000", Voter: true,
	}}
}

// --- keys ---

// tkey is an issuer key: its public JWK (registered) and private JWK (never
// registered; used to prove the registry refuses private keys).
type tkey struct {
	alg  string
	kid  string
	pub  []byte
	priv []byte
}

func newTKey(tb testing.TB, alg string) *tkey {
	tb.Helper()
	k, err := roamjws.GenerateKey(alg)
	if err != nil {
		tb.Fatal(err)
	}
	return tkeyFromJWK(tb, k, alg)
}

func tkeyFromJWK(tb testing.TB, k jwk.Key, alg string) *tkey {
	tb.Helper()
	pub, err := roamjws.PublicJWK(k)
	if err != nil {
		tb.Fatal(err)
	}
	pk, err := k.PublicKey()
	if err != nil {
		tb.Fatal(err)
	}
	kid, err := roamjws.Thumbprint(pk)
	if err != nil {
		tb.Fatal(err)
	}
	priv, err := json.Marshal(k)
	if err != nil {
		tb.Fatal(err)
	}
	return &tkey{alg: alg, kid: kid, pub: pub, priv: priv}
}

var (
	keysOnce sync.Once
	keyPool  struct{ ed, es []*tkey }
)

// testKeys returns 4 EdDSA and 2 ES256 keys, generated once per test binary.
func testKeys(tb testing.TB) (ed, es []*tkey) {
	tb.Helper()
	keysOnce.Do(func() {
		for range 4 {
			keyPool.ed = append(keyPool.ed, newTKey(tb, roamjws.EdDSA))
		}
		for range 2 {
			keyPool.es = append(keyPool.es, newTKey(tb, roamjws.ES256))
		}
	})
	return keyPool.ed, keyPool.es
}

// withJWKField returns jwkJSON with field set to v (or removed when v is nil).
func withJWKField(tb testing.TB, jwkJSON []byte, field string, v any) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(jwkJSON, &m); err != nil {
		tb.Fatal(err)
	}
	if v == nil {
		delete(m, field)
	} else {
		m[field] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// --- snapshots ---

// bufSink is a raft.SnapshotSink over a bytes.Buffer.
type bufSink struct {
	bytes.Buffer
	closed, cancelled bool
}

var _ raft.SnapshotSink = (*bufSink)(nil)

func (s *bufSink) ID() string { return "test" }
func (s *bufSink) Close() error {
	if s.closed {
		return errors.New("sink closed twice")
	}
	s.closed = true
	return nil
}
func (s *bufSink) Cancel() error { s.cancelled = true; return nil }

// snapshotBytes runs Snapshot and Persist and returns what was persisted.
func snapshotBytes(tb testing.TB, f *FSM) []byte {
	tb.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		tb.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		tb.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		tb.Fatalf("Persist left sink closed=%v cancelled=%v, want closed and not cancelled", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

// restored returns a fresh FSM restored from b.
func restored(tb testing.TB, b []byte) *FSM {
	tb.Helper()
	f := NewFSM()
	if err := f.Restore(readCloser{bytes.NewReader(b)}); err != nil {
		tb.Fatalf("Restore: %v", err)
	}
	return f
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// errClass names the sentinel an Apply error wraps.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrBadCommand) && errors.Is(err, ErrRefused):
		return "both"
	case errors.Is(err, ErrBadCommand):
		return "bad"
	case errors.Is(err, ErrRefused):
		return "refused"
	}
	return "other"
}

// thumbprintOf parses a JWK and returns its RFC 7638 thumbprint.
func thumbprintOf(b []byte) (string, error) {
	k, err := jwk.ParseKey(b)
	if err != nil {
		return "", err
	}
	return roamjws.Thumbprint(k)
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func rlog(idx uint64, data []byte) *raft.Log {
	return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: appendedAt}
}
