package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/reason"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// changeLogSize bounds the in-memory change history Watch replays from.
const changeLogSize = 4096

// ErrCompacted is returned by Changes when the requested index is older than
// the in-memory change history; the caller should read GetState instead.
var ErrCompacted = errors.New("change history compacted")

// ApplyResult is what FSM.Apply returns for every log entry. Err wraps
// ErrRefused or ErrBadCommand when the command changed nothing.
type ApplyResult struct {
	Index   uint64
	Summary string
	Err     error
}

// FSM is the registry's raft.FSM. All methods are safe for concurrent use;
// reads never block on Raft.
type FSM struct {
	mu      sync.RWMutex
	st      *state
	applied uint64
	changes []*roamv1.RegistryChange // ring, oldest first
	// compacted is the highest index whose change is no longer held (dropped
	// from the ring, or behind a restored snapshot). Raft indexes have gaps
	// (configuration and no-op entries never reach Apply), so the oldest
	// held change alone cannot tell whether anything was lost.
	compacted uint64
	notify    chan struct{} // closed and replaced on every apply
	pinned    []byte        // the genesis entry this replica accepts, if pinned
}

var _ raft.FSM = (*FSM)(nil)

// NewFSM returns an empty registry.
func NewFSM() *FSM {
	return &FSM{st: newState(), notify: make(chan struct{})}
}

// Apply applies one committed log entry. It is deterministic: its result
// depends only on the entry and the current state.
func (f *FSM) Apply(l *raft.Log) any {
	res := &ApplyResult{Index: l.Index}
	if l.Type != raft.LogCommand {
		return res
	}
	f.mu.Lock()
	rec, summary, err := f.st.apply(l)
	res.Summary, res.Err = summary, err
	f.applied = l.Index
	ch := &roamv1.RegistryChange{Index: l.Index, Type: rec.GetType(), Summary: summary}
	if err != nil {
		ch.Error = err.Error()
	}
	if len(f.changes) >= changeLogSize {
		f.compacted = f.changes[0].GetIndex()
		// Drop the oldest from the front; append moves the ring to a new
		// array now and then, so each Apply copies O(1) pointers on
		// average rather than the whole ring. Changes hands out fresh
		// slices, never this one.
		f.changes[0] = nil
		f.changes = f.changes[1:]
	}
	f.changes = append(f.changes, ch)
	close(f.notify)
	f.notify = make(chan struct{})
	f.mu.Unlock()
	return res
}

// apply runs one signed log entry through verification, freshness,
// authority and its handler, and appends its audit record whatever the
// outcome. Deterministic: the only time it uses is the entry's AppendedAt.
func (s *state) apply(l *raft.Log) (*roamv1.AuditRecord, string, error) {
	appended := l.AppendedAt.Unix()
	rec := &roamv1.AuditRecord{Index: l.Index, Time: appended, Entry: l.Data}
	summary, err := func() (string, error) {
		cp, sg, err := s.openSigned(l.Data)
		if err != nil {
			return "", err
		}
		rec.CommandId = cp.GetId()
		rec.Type = cp.GetCommand().GetType()
		for _, x := range sg {
			rec.Signers = append(rec.Signers, x.kid)
			rec.SignerJurisdictions = append(rec.SignerJurisdictions, x.jurisdiction)
		}
		if err := s.checkFreshness(cp, appended); err != nil {
			return "", err
		}
		// A signed, fresh command uses up its id whatever the outcome: a
		// refused command can never be replayed into success later, when
		// the state has changed but its signers no longer mean it.
		s.remember(cp, appended)
		t, m, err := DecodePayload(cp.GetCommand())
		if err != nil {
			return "", err
		}
		genesis := t == roamv1.CommandType_COMMAND_TYPE_GENESIS
		switch {
		case !s.initialized() && !genesis:
			return "", reject(ErrNotInitialized, "only a genesis command can be applied first")
		case genesis:
			if s.pinned != nil && !bytes.Equal(s.pinned, l.Data) {
				return "", reject(ErrUnauthorized, "this is not the genesis this node was configured with")
			}
			if err := genesisQuorumMet(m.(*roamv1.Genesis), sg); err != nil {
				return "", err
			}
		default:
			if err := s.authorize(t, m, sg); err != nil {
				return "", err
			}
		}
		h, ok := handlers[t]
		if !ok {
			return "", fmt.Errorf("%w: no handler for %s", ErrBadCommand, t)
		}
		return h(s, m)
	}()
	rec.Accepted = err == nil
	rec.Summary = summary
	if err != nil {
		rec.Reason = err.Error()
	}
	rec.Chain = chainNext(s.chain, rec)
	s.chain = rec.Chain
	s.audit.append(rec)
	s.last = rec
	return rec, summary, err
}

// AppliedIndex is the index of the last log entry applied to this replica.
// HasJurisdiction reports whether id is a registered jurisdiction, without
// copying it.
func (f *FSM) HasJurisdiction(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.st.jurisdictions[id]
	return ok
}

// Sizes are the registry's entry counts, for metrics: cheap (no copy).
type Sizes struct {
	Jurisdictions, Keys, Agreements, Members, AdminKeys, RevokedCodes, AuditRecords int
}

// Sizes counts the registry's entries under the read lock.
func (f *FSM) Sizes() Sizes {
	f.mu.RLock()
	defer f.mu.RUnlock()
	z := Sizes{Jurisdictions: len(f.st.jurisdictions), Keys: len(f.st.keys), Agreements: len(f.st.agreements),
		Members: len(f.st.members), AdminKeys: len(f.st.admins), AuditRecords: f.st.audit.count()}
	for _, r := range f.st.revoked {
		z.RevokedCodes += len(r)
	}
	return z
}

func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// State returns a copy of the whole registry and the applied index.
// The audit trail is left out (see Audit); ChainHead is included.
func (f *FSM) State() *roamv1.RegistrySnapshot {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.snapshot(f.applied)
}

// Audit returns up to limit audit records with index > from, in log order.
func (f *FSM) Audit(from uint64, limit int) []*roamv1.AuditRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	i := f.st.audit.after(from)
	end := f.st.audit.count()
	if limit > 0 && i+limit < end {
		end = i + limit
	}
	var out []*roamv1.AuditRecord
	for ; i < end; i++ {
		out = append(out, f.st.audit.record(i))
	}
	return out
}

// AuditTail returns the newest limit audit records, oldest first, and the
// number of records in all.
func (f *FSM) AuditTail(limit int) ([]*roamv1.AuditRecord, int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n := f.st.audit.count()
	out := make([]*roamv1.AuditRecord, 0, min(limit, n))
	for i := max(0, n-limit); i < n; i++ {
		out = append(out, f.st.audit.record(i))
	}
	return out, n
}

// Initialized reports whether the registry has its genesis.
func (f *FSM) Initialized() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.initialized()
}

// Check runs everything Apply would check on a signed entry appended at
// appended (signatures, freshness, authority) against the current state,
// changing nothing. Nodes use it to refuse a membership change before
// touching the Raft configuration; Apply still decides for real.
func (f *FSM) Check(entry []byte, appended time.Time) (*roamv1.CommandPayload, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	cp, sg, err := f.st.openSigned(entry)
	if err != nil {
		return nil, err
	}
	if err := f.st.checkFreshness(cp, appended.Unix()); err != nil {
		return cp, err // the payload, for callers that look at a replay
	}
	t, m, err := DecodePayload(cp.GetCommand())
	if err != nil {
		return nil, err
	}
	if !f.st.initialized() {
		return nil, reject(ErrNotInitialized, "only a genesis command can be applied first")
	}
	return cp, f.st.authorize(t, m, sg)
}

// Changes returns applied changes with index > from, waiting up to ctx for
// at least one. It returns ErrCompacted if from is older than the history.
func (f *FSM) Changes(ctx context.Context, from uint64) ([]*roamv1.RegistryChange, error) {
	for {
		f.mu.RLock()
		var out []*roamv1.RegistryChange
		if from < f.compacted {
			f.mu.RUnlock()
			return nil, fmt.Errorf("%w: changes up to index %d are no longer held", ErrCompacted, f.compacted)
		}
		for _, c := range f.changes {
			if c.GetIndex() > from {
				out = append(out, c)
			}
		}
		wait := f.notify
		f.mu.RUnlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait:
		}
	}
}

// Key implements roamjws.KeyResolver over the local replica.
func (f *FSM) Key(kid string) (*roamjws.Key, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	k, ok := f.st.parsed[kid]
	return k, ok
}

// CodeRevoked implements roamjws.KeyResolver.
func (f *FSM) CodeRevoked(jurisdiction, jti string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.st.revoked[jurisdiction][jti]
	return ok
}

// Jurisdiction returns a registered jurisdiction.
func (f *FSM) Jurisdiction(id string) (*roamv1.Jurisdiction, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	j, ok := f.st.jurisdictions[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(j).(*roamv1.Jurisdiction), true
}

// Members returns the registered cluster members.
func (f *FSM) Members() []*roamv1.Member {
	return f.State().GetMembers()
}

// Member returns one member by node id.
func (f *FSM) Member(nodeID string) (*roamv1.Member, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.st.members[nodeID]
	if !ok {
		return nil, false
	}
	return proto.Clone(m).(*roamv1.Member), true
}

// MembersOf returns the members that serve jurisdiction, sorted by node id.
func (f *FSM) MembersOf(jurisdiction string) []*roamv1.Member {
	var out []*roamv1.Member
	for _, m := range f.Members() {
		if m.GetJurisdiction() == jurisdiction {
			out = append(out, m)
		}
	}
	return out
}

// AgreementAt finds the agreement host ← issuer in force at at (DESIGN.md §4
// pipeline step 3). It returns the agreement (when one exists at all), the
// applied index it read, and a *reason.Error when none is in force:
// no_agreement (none, proposed, terminated, or outside its effective window,
// the latter also carrying agreement_not_in_force in Detail) or
// agreement_suspended.
func (f *FSM) AgreementAt(host, issuer string, at time.Time) (*roamv1.Agreement, uint64, *AgreementError) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	id, ok := f.st.byPair[pairKey(host, issuer)]
	if !ok {
		// No bilateral agreement: the national platform hub (DESIGN.md §1
		// mode 2) recognises members' codes among each other.
		if a, aerr := f.st.hubAgreement(host, issuer, at); a != nil || aerr != nil {
			return a, f.applied, aerr
		}
		return nil, f.applied, &AgreementError{Code: reason.NoAgreement, Message: fmt.Sprintf("%s has no agreement recognising %s's codes", host, issuer)}
	}
	a := proto.Clone(f.st.agreements[id]).(*roamv1.Agreement)
	sec := at.Unix()
	switch a.GetState() {
	case roamv1.AgreementState_AGREEMENT_STATE_ACTIVE:
	case roamv1.AgreementState_AGREEMENT_STATE_SUSPENDED:
		return a, f.applied, &AgreementError{Code: reason.AgreementSuspended, Message: fmt.Sprintf("agreement %s v%d is suspended", id, a.GetVersion())}
	default:
		return a, f.applied, &AgreementError{Code: reason.NoAgreement, Message: fmt.Sprintf("agreement %s v%d is %s, not active", id, a.GetVersion(), stateWord(a.GetState()))}
	}
	if sec < a.GetEffectiveFrom() || (a.GetEffectiveUntil() != 0 && sec >= a.GetEffectiveUntil()) {
		window := fmt.Sprintf("in force from %s", time.Unix(a.GetEffectiveFrom(), 0).In(clock.CST).Format(time.RFC3339))
		if a.GetEffectiveUntil() != 0 {
			window += " until " + time.Unix(a.GetEffectiveUntil(), 0).In(clock.CST).Format(time.RFC3339)
		}
		return a, f.applied, &AgreementError{
			Code:    reason.NoAgreement,
			Message: fmt.Sprintf("%s recognised no %s codes at %s", host, issuer, at.In(clock.CST).Format(time.RFC3339)),
			Detail:  &reason.Error{Code: reason.AgreementNotInForce, Message: fmt.Sprintf("agreement %s v%d is %s", id, a.GetVersion(), window)},
		}
	}
	return a, f.applied, nil
}

// AgreementError explains why no agreement is in force. Detail, when set,
// is a second, more specific reason.
type AgreementError struct {
	Code    reason.Code
	Message string
	Detail  *reason.Error
}

// Snapshot captures the whole registry. The returned snapshot is immutable.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	snap := f.st.snapshot(f.applied)
	audit := f.st.audit.frozen()
	f.mu.RUnlock()
	b, err := marshalSnapshot(snap, audit)
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: b}, nil
}

// Restore replaces the registry with a snapshot written by Snapshot.
//
// A snapshot is not trusted as it stands: its audit records are replayed
// from genesis — every signature and authority decision again — and the
// state they produce must equal the state the snapshot carries, byte for
// byte. A snapshot that starts from another genesis than this replica's (or
// the pinned one), or that has none over a registry that has one, is
// refused, and a pinned genesis stays pinned. A Raft peer can therefore
// install nothing that admins did not sign.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	var snap roamv1.RegistrySnapshot
	if err := proto.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("decode snapshot: %w", err)
	}
	f.mu.RLock()
	ours := f.pinned
	initialized := f.st.audit.count() > 0
	if ours == nil && initialized {
		ours = f.st.audit.record(0).GetEntry()
	}
	f.mu.RUnlock()
	switch {
	case initialized && len(snap.GetAudit()) == 0:
		// A registry with a genesis never goes back to none: that would
		// let a rogue leader wipe it and then apply a genesis of its own.
		return fmt.Errorf("%w: snapshot has no genesis, but this registry has one", ErrAuditMismatch)
	case ours != nil && len(snap.GetAudit()) > 0 && !bytes.Equal(ours, snap.GetAudit()[0].GetEntry()):
		return fmt.Errorf("%w: snapshot starts from another genesis than this registry's", ErrAuditMismatch)
	}
	replayed, err := VerifySnapshot(&snap)
	if err != nil {
		return err
	}
	st := replayed.st
	f.mu.Lock()
	st.pinned = f.pinned // the pin is configuration, not state: it survives
	f.st = st
	f.applied = snap.GetIndex()
	f.changes = nil
	f.compacted = snap.GetIndex()
	close(f.notify)
	f.notify = make(chan struct{})
	f.mu.Unlock()
	// Decoding and replaying a snapshot takes a few times the registry's
	// size in transient memory (city scale: ~380 MB for a ~100 MB
	// registry); hand it back to the OS now rather than over the
	// scavenger's minutes, so a node's RSS is its registry (issue 6 §5).
	// Restores are rare; this costs one GC, in the background.
	go debug.FreeOSMemory()
	return nil
}

// VerifySnapshot replays a snapshot's audit records from genesis and checks
// that the state they produce is exactly the state the snapshot carries. It
// returns the replayed FSM, or an error wrapping ErrAuditMismatch.
func VerifySnapshot(snap *roamv1.RegistrySnapshot) (*FSM, error) {
	replayed, err := VerifyAudit(snap.GetAudit(), snap.GetChainHead())
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	// proto.Equal(replay, snap), the audit records compared apart (see
	// auditLog.equal) rather than decoded again.
	if got := replayed.st.snapshot(snap.GetIndex()); !proto.Equal(got, withoutAudit(snap)) || !replayed.st.audit.equal(snap.GetAudit()) {
		return nil, fmt.Errorf("%w: snapshot state differs from the replay of its own audit records (edited)", ErrAuditMismatch)
	}
	return replayed, nil
}

// PinGenesis fixes the genesis entry this replica accepts: another genesis
// is refused when applied, and a snapshot from another genesis is refused
// on restore. Nodes pin the genesis file from their config, so a rogue
// leader cannot give a fresh node a registry of its own making.
func (f *FSM) PinGenesis(entry []byte) {
	f.mu.Lock()
	f.pinned = append([]byte(nil), entry...)
	f.st.pinned = f.pinned
	f.mu.Unlock()
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// HubAgreementID names the hub route host ← issuer in decisions.
func HubAgreementID(host, issuer string) string { return "hub/" + host + "-" + issuer }

// hubAgreement is the synthetic agreement host ← issuer through the hub:
// both are members; it is in force from the later of their joining dates,
// under the issuer's hub terms. It returns (nil, nil) when either is not a
// member.
func (s *state) hubAgreement(host, issuer string, at time.Time) (*roamv1.Agreement, *AgreementError) {
	h, ok1 := s.hub[host]
	i, ok2 := s.hub[issuer]
	if !ok1 || !ok2 {
		return nil, nil
	}
	from := max(h.GetEffectiveFrom(), i.GetEffectiveFrom())
	a := &roamv1.Agreement{
		Id: HubAgreementID(host, issuer), Host: host, Issuer: issuer, Version: 1,
		Terms: proto.Clone(i.GetTerms()).(*roamv1.AgreementTerms), EffectiveFrom: from,
		State: roamv1.AgreementState_AGREEMENT_STATE_ACTIVE, ProposedBy: National,
	}
	if a.Terms == nil {
		a.Terms = &roamv1.AgreementTerms{}
	}
	if at.Unix() < from {
		return a, &AgreementError{
			Code:    reason.NoAgreement,
			Message: fmt.Sprintf("%s recognised no %s codes at %s", host, issuer, at.In(clock.CST).Format(time.RFC3339)),
			Detail:  &reason.Error{Code: reason.AgreementNotInForce, Message: fmt.Sprintf("both are in the national platform hub from %s", time.Unix(from, 0).In(clock.CST).Format(time.RFC3339))},
		}
	}
	return a, nil
}
