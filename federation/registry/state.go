package registry

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// ErrRefused wraps every reason the FSM refuses a command. A refused command
// changes nothing; the refusal is the same on every replica.
var ErrRefused = errors.New("command refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// jurisdictionID matches a GB/T 2260 six-digit division code, or "XX-" plus
// an ISO 3166 alpha-2 code for foreign issuers (DESIGN.md §2).
var jurisdictionID = regexp.MustCompile(`^([0-9]{6}|XX-[A-Z]{2})$`)

// ValidJurisdictionID reports whether id is a GB/T 2260 code or XX-<ISO 3166>.
func ValidJurisdictionID(id string) bool { return jurisdictionID.MatchString(id) }

// state is the registry's data. It is only touched under the FSM's lock.
type state struct {
	jurisdictions map[string]*roamv1.Jurisdiction
	keys          map[string]*roamv1.IssuerKey
	parsed        map[string]*roamjws.Key // kid -> verification key
	agreements    map[string]*roamv1.Agreement
	byPair        map[string]string // host+"<"+issuer -> agreement id
	members       map[string]*roamv1.Member
	revoked       map[string]map[string]int64 // jurisdiction -> jti -> revoked_at

	// Governance (issue 3).
	admins   map[string]*adminKey         // kid -> admin key
	quorum   uint32                       // national M of N; 0 before genesis
	hub      map[string]*roamv1.HubMember // jurisdiction -> hub membership
	seen     map[string]int64             // command id -> expires_at
	expiries expiryHeap                   // seen's ids by expiry (remember)
	audit    auditLog                     // every record, encoded
	last     *roamv1.AuditRecord          // the newest record, as apply made it
	chain    []byte                       // hash chain head over audit
	pinned   []byte                       // the genesis entry this replica accepts (FSM.PinGenesis); not state
	pre      *preverified                 // signatures VerifyAudit checked ahead, during its replay only; not state

	// Foreign trust material (issue 4).
	dscs map[string]*dscEntry // hex SHA-256 of DER -> DSC
	shc  map[string]*shcEntry // issuer URL -> SHC issuer
}

func newState() *state {
	return &state{
		jurisdictions: map[string]*roamv1.Jurisdiction{},
		keys:          map[string]*roamv1.IssuerKey{},
		parsed:        map[string]*roamjws.Key{},
		agreements:    map[string]*roamv1.Agreement{},
		byPair:        map[string]string{},
		members:       map[string]*roamv1.Member{},
		revoked:       map[string]map[string]int64{},
		admins:        map[string]*adminKey{},
		hub:           map[string]*roamv1.HubMember{},
		seen:          map[string]int64{},
		dscs:          map[string]*dscEntry{},
		shc:           map[string]*shcEntry{},
	}
}

// AgreementID is the stable id of host ← issuer: "<host>-<issuer>".
func AgreementID(host, issuer string) string { return host + "-" + issuer }

func pairKey(host, issuer string) string { return host + "<" + issuer }

// handler applies one decoded command, returning a human summary of what it
// changed, or an error wrapping ErrRefused (and changing nothing).
type handler func(s *state, m proto.Message) (string, error)

var handlers = map[roamv1.CommandType]handler{
	roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION:    applyUpsertJurisdiction,
	roamv1.CommandType_COMMAND_TYPE_ADD_KEY:                applyAddKey,
	roamv1.CommandType_COMMAND_TYPE_SET_KEY_STATE:          applySetKeyState,
	roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENT:      applyPropose,
	roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENT:       applyAccept,
	roamv1.CommandType_COMMAND_TYPE_SUSPEND_AGREEMENT:      applySuspend,
	roamv1.CommandType_COMMAND_TYPE_TERMINATE_AGREEMENT:    applyTerminate,
	roamv1.CommandType_COMMAND_TYPE_REVOKE_CODE:            applyRevokeCode,
	roamv1.CommandType_COMMAND_TYPE_UPSERT_MEMBER:          applyUpsertMember,
	roamv1.CommandType_COMMAND_TYPE_REMOVE_MEMBER:          applyRemoveMember,
	roamv1.CommandType_COMMAND_TYPE_GENESIS:                applyGenesis,
	roamv1.CommandType_COMMAND_TYPE_ADD_ADMIN_KEY:          applyAddAdminKey,
	roamv1.CommandType_COMMAND_TYPE_REVOKE_ADMIN_KEY:       applyRevokeAdminKey,
	roamv1.CommandType_COMMAND_TYPE_SET_NATIONAL_QUORUM:    applySetQuorum,
	roamv1.CommandType_COMMAND_TYPE_IMPOSE_AGREEMENT:       applyImpose,
	roamv1.CommandType_COMMAND_TYPE_REMOVE_JURISDICTION:    applyRemoveJurisdiction,
	roamv1.CommandType_COMMAND_TYPE_JOIN_HUB:               applyJoinHub,
	roamv1.CommandType_COMMAND_TYPE_LEAVE_HUB:              applyLeaveHub,
	roamv1.CommandType_COMMAND_TYPE_ADD_DOCUMENT_SIGNER:    applyAddDSC,
	roamv1.CommandType_COMMAND_TYPE_REVOKE_DOCUMENT_SIGNER: applyRevokeDSC,
	roamv1.CommandType_COMMAND_TYPE_SET_SHC_ISSUER:         applySetShcIssuer,
	roamv1.CommandType_COMMAND_TYPE_REVOKE_SHC:             applyRevokeShc,
	roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENTS:     applyBatch,
	roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENTS:      applyBatch,
}

func applyUpsertJurisdiction(s *state, m proto.Message) (string, error) {
	j := m.(*roamv1.UpsertJurisdiction).GetJurisdiction()
	if j == nil || !ValidJurisdictionID(j.GetId()) {
		return "", refuse("jurisdiction.id %q must be a GB/T 2260 code or XX-<ISO 3166 alpha-2>", j.GetId())
	}
	if j.GetId() == National {
		return "", refuse("the national platform's record (000000) is fixed by the genesis")
	}
	if strings.TrimSpace(j.GetName()) == "" || len(j.GetName()) > 128 {
		return "", refuse("jurisdiction.name must be 1-128 bytes")
	}
	s.jurisdictions[j.GetId()] = proto.Clone(j).(*roamv1.Jurisdiction)
	return fmt.Sprintf("jurisdiction %s (%s) registered", j.GetId(), j.GetName()), nil
}

func applyAddKey(s *state, m proto.Message) (string, error) {
	k := m.(*roamv1.AddKey).GetKey()
	if k == nil {
		return "", refuse("key is required")
	}
	if _, ok := s.jurisdictions[k.GetJurisdiction()]; !ok {
		return "", refuse("key.jurisdiction %q is not registered", k.GetJurisdiction())
	}
	kid, raw, err := roamjws.ParsePublicJWK(k.GetJwk(), k.GetAlg())
	if err != nil {
		return "", refuse("key.jwk: %v", err)
	}
	if k.GetKid() != kid {
		return "", refuse("key.kid %q is not the RFC 7638 thumbprint %q", k.GetKid(), kid)
	}
	if _, ok := s.keys[kid]; ok {
		return "", refuse("key %s is already registered", kid)
	}
	if _, ok := s.admins[kid]; ok {
		return "", refuse("key %s is an admin key; issuer keys must be distinct", kid)
	}
	if k.GetState() != roamv1.KeyState_KEY_STATE_ACTIVE {
		return "", refuse("key.state must be ACTIVE when added")
	}
	if k.GetNotBefore() <= 0 || (k.GetNotAfter() != 0 && k.GetNotAfter() <= k.GetNotBefore()) {
		return "", refuse("key validity window: not_before must be > 0 and not_after 0 or after not_before")
	}
	c := proto.Clone(k).(*roamv1.IssuerKey)
	c.StateChangedAt = c.GetNotBefore()
	s.keys[kid] = c
	s.parsed[kid] = toVerifyKey(c, raw)
	return fmt.Sprintf("key %s of %s added (%s)", kid, k.GetJurisdiction(), k.GetAlg()), nil
}

func toVerifyKey(k *roamv1.IssuerKey, raw any) *roamjws.Key {
	return &roamjws.Key{
		PublicKey:      roamjws.PublicKey{Kid: k.GetKid(), Jurisdiction: k.GetJurisdiction(), Alg: k.GetAlg(), Raw: raw},
		State:          roamjws.KeyState(k.GetState()),
		NotBefore:      k.GetNotBefore(),
		NotAfter:       k.GetNotAfter(),
		StateChangedAt: k.GetStateChangedAt(),
	}
}

func applySetKeyState(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.SetKeyState)
	k, ok := s.keys[c.GetKid()]
	if !ok {
		return "", refuse("kid %q is not registered", c.GetKid())
	}
	if c.GetAt() <= 0 {
		return "", refuse("at is required (Unix seconds)")
	}
	from, to := k.GetState(), c.GetState()
	switch {
	case from == roamv1.KeyState_KEY_STATE_REVOKED:
		return "", refuse("key %s is revoked; revocation is final", c.GetKid())
	case to == roamv1.KeyState_KEY_STATE_RETIRED && from == roamv1.KeyState_KEY_STATE_ACTIVE,
		to == roamv1.KeyState_KEY_STATE_REVOKED:
	default:
		return "", refuse("key %s cannot go from %s to %s", c.GetKid(), from, to)
	}
	k.State, k.StateChangedAt = to, c.GetAt()
	vk := *s.parsed[c.GetKid()]
	vk.State, vk.StateChangedAt = roamjws.KeyState(to), c.GetAt()
	s.parsed[c.GetKid()] = &vk
	return fmt.Sprintf("key %s of %s %s", c.GetKid(), k.GetJurisdiction(), stateWord(to)), nil
}

func stateWord(v fmt.Stringer) string {
	str := v.String()
	if i := strings.LastIndex(str, "_STATE_"); i >= 0 {
		str = str[i+len("_STATE_"):]
	}
	return strings.ToLower(str)
}

func (s *state) party(id, host, issuer, field string) error {
	if id == National && field == "by" {
		return nil // the national platform may suspend or terminate any agreement
	}
	if id != host && id != issuer {
		return refuse("%s %q is neither the host %s nor the issuer %s", field, id, host, issuer)
	}
	return nil
}

func applyPropose(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.ProposeAgreement)
	if err := s.validateProposal(c, false); err != nil {
		return "", err
	}
	return s.commitPropose(c), nil
}

// commitPropose records a proposal validateProposal accepted; it cannot
// fail. The agreement keeps c's terms message itself: every command
// message is decoded afresh from its log entry (DecodePayload) and held
// by nothing else, and a city-scale restore would otherwise copy 160,000
// of them.
func (s *state) commitPropose(c *roamv1.ProposeAgreement) string {
	t := c.GetTerms()
	if t == nil {
		t = &roamv1.AgreementTerms{}
	}
	id := AgreementID(c.GetHost(), c.GetIssuer())
	old, exists := s.agreements[id]
	if exists && (old.GetState() == roamv1.AgreementState_AGREEMENT_STATE_ACTIVE || old.GetState() == roamv1.AgreementState_AGREEMENT_STATE_SUSPENDED) {
		// The current version stays in force until the other party accepts
		// the new one: proposing new terms never switches recognition off.
		version := old.GetVersion() + 1
		if p := old.GetPending(); p != nil {
			version = p.GetVersion() + 1
		}
		old.Pending = &roamv1.AgreementProposal{
			Version: version, Terms: t,
			EffectiveFrom: c.GetEffectiveFrom(), EffectiveUntil: c.GetEffectiveUntil(),
			ProposedBy: c.GetProposedBy(), ProposedAt: c.GetAt(),
		}
		return fmt.Sprintf("agreement %s v%d proposed by %s (v%d stays %s until accepted)", id, version, c.GetProposedBy(), old.GetVersion(), stateWord(old.GetState()))
	}
	var version uint64 = 1
	if exists {
		// Proposed or terminated: a new version starts over as proposed.
		version = old.GetVersion() + 1
	}
	s.agreements[id] = &roamv1.Agreement{
		Id: id, Host: c.GetHost(), Issuer: c.GetIssuer(), Version: version,
		Terms:         t,
		EffectiveFrom: c.GetEffectiveFrom(), EffectiveUntil: c.GetEffectiveUntil(),
		State:      roamv1.AgreementState_AGREEMENT_STATE_PROPOSED,
		ProposedBy: c.GetProposedBy(), StateChangedAt: c.GetAt(),
	}
	s.byPair[pairKey(c.GetHost(), c.GetIssuer())] = id
	return fmt.Sprintf("agreement %s v%d proposed by %s", id, version, c.GetProposedBy())
}

// validateProposal checks the parties, window and terms of a proposal.
// nationalIssuer allows issuer 000000: the national code, which hosts
// recognise under an agreement the national platform imposes.
func (s *state) validateProposal(c *roamv1.ProposeAgreement, nationalIssuer bool) error {
	for _, f := range []struct{ name, id string }{{"host", c.GetHost()}, {"issuer", c.GetIssuer()}} {
		_, ok := s.jurisdictions[f.id]
		if !ok || (f.id == National && !(nationalIssuer && f.name == "issuer")) {
			return refuse("%s %q is not a registered province or city", f.name, f.id)
		}
	}
	if c.GetHost() == c.GetIssuer() {
		return refuse("host and issuer are the same jurisdiction")
	}
	if err := s.party(c.GetProposedBy(), c.GetHost(), c.GetIssuer(), "proposed_by"); err != nil {
		return err
	}
	if c.GetEffectiveFrom() <= 0 || (c.GetEffectiveUntil() != 0 && c.GetEffectiveUntil() <= c.GetEffectiveFrom()) {
		return refuse("effective window: effective_from must be > 0 and effective_until 0 or after it")
	}
	return validateTerms(c.GetTerms())
}

func validateTerms(t *roamv1.AgreementTerms) error {
	for _, col := range t.GetColors() {
		if _, err := adapters.ParseColor(col); err != nil {
			return refuse("terms.colors: %v", err)
		}
	}
	if t.GetMaxCodeAgeSeconds() < 0 || t.GetMaxAgeWithoutStatusSeconds() < 0 {
		return refuse("terms: ages are seconds >= 0")
	}
	return nil
}

func applyAccept(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.AcceptAgreement)
	a, err := s.checkAccept(c)
	if err != nil {
		return "", err
	}
	return commitAccept(a, c), nil
}

// checkAccept returns the agreement c accepts, or why it may not; it
// changes nothing.
func (s *state) checkAccept(c *roamv1.AcceptAgreement) (*roamv1.Agreement, error) {
	a, ok := s.agreements[c.GetId()]
	if !ok {
		return nil, refuse("agreement %q does not exist", c.GetId())
	}
	if err := s.party(c.GetAcceptedBy(), a.GetHost(), a.GetIssuer(), "accepted_by"); err != nil {
		return nil, err
	}
	if p := a.GetPending(); p != nil {
		if c.GetVersion() != p.GetVersion() {
			return nil, refuse("agreement %s has version %d pending; acceptance was for version %d", a.GetId(), p.GetVersion(), c.GetVersion())
		}
		if c.GetAcceptedBy() == p.GetProposedBy() {
			return nil, refuse("agreement %s v%d was proposed by %s; the other party must accept", a.GetId(), p.GetVersion(), p.GetProposedBy())
		}
		return a, nil
	}
	if a.GetState() != roamv1.AgreementState_AGREEMENT_STATE_PROPOSED {
		return nil, refuse("agreement %s is %s with no pending proposal; propose new terms first", a.GetId(), stateWord(a.GetState()))
	}
	if c.GetVersion() != a.GetVersion() {
		return nil, refuse("agreement %s is at version %d; acceptance was for version %d", a.GetId(), a.GetVersion(), c.GetVersion())
	}
	if c.GetAcceptedBy() == a.GetProposedBy() {
		return nil, refuse("agreement %s was proposed by %s; the other party must accept", a.GetId(), a.GetProposedBy())
	}
	return a, nil
}

// commitAccept makes a (checked by checkAccept) active; it cannot fail.
func commitAccept(a *roamv1.Agreement, c *roamv1.AcceptAgreement) string {
	if p := a.GetPending(); p != nil {
		a.Version, a.Terms = p.GetVersion(), p.GetTerms()
		a.EffectiveFrom, a.EffectiveUntil, a.ProposedBy = p.GetEffectiveFrom(), p.GetEffectiveUntil(), p.GetProposedBy()
		a.Pending, a.SuspendedBy = nil, ""
		a.State, a.StateChangedAt = roamv1.AgreementState_AGREEMENT_STATE_ACTIVE, c.GetAt()
		return fmt.Sprintf("agreement %s v%d active (new terms accepted by %s)", a.GetId(), a.GetVersion(), c.GetAcceptedBy())
	}
	a.State, a.StateChangedAt = roamv1.AgreementState_AGREEMENT_STATE_ACTIVE, c.GetAt()
	return fmt.Sprintf("agreement %s v%d active (accepted by %s)", a.GetId(), a.GetVersion(), c.GetAcceptedBy())
}

func applySuspend(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.SuspendAgreement)
	a, ok := s.agreements[c.GetId()]
	if !ok {
		return "", refuse("agreement %q does not exist", c.GetId())
	}
	if err := s.party(c.GetBy(), a.GetHost(), a.GetIssuer(), "by"); err != nil {
		return "", err
	}
	// The national platform may also take over a party's suspension, so
	// that only it can lift it.
	nationalOverParty := c.GetBy() == National && a.GetState() == roamv1.AgreementState_AGREEMENT_STATE_SUSPENDED && a.GetSuspendedBy() != National
	if a.GetState() != roamv1.AgreementState_AGREEMENT_STATE_ACTIVE && !nationalOverParty {
		return "", refuse("agreement %s is %s; only an active agreement can be suspended", a.GetId(), stateWord(a.GetState()))
	}
	a.State, a.StateChangedAt, a.SuspendedBy = roamv1.AgreementState_AGREEMENT_STATE_SUSPENDED, c.GetAt(), c.GetBy()
	return fmt.Sprintf("agreement %s suspended by %s: %s", a.GetId(), c.GetBy(), c.GetReason()), nil
}

func applyTerminate(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.TerminateAgreement)
	a, ok := s.agreements[c.GetId()]
	if !ok {
		return "", refuse("agreement %q does not exist", c.GetId())
	}
	if err := s.party(c.GetBy(), a.GetHost(), a.GetIssuer(), "by"); err != nil {
		return "", err
	}
	if a.GetState() == roamv1.AgreementState_AGREEMENT_STATE_TERMINATED {
		return "", refuse("agreement %s is already terminated", a.GetId())
	}
	// Pending terms die with the agreement: otherwise the other party could
	// accept them later and revive what one party ended.
	a.State, a.StateChangedAt, a.Pending = roamv1.AgreementState_AGREEMENT_STATE_TERMINATED, c.GetAt(), nil
	return fmt.Sprintf("agreement %s terminated by %s: %s", a.GetId(), c.GetBy(), c.GetReason()), nil
}

func applyRevokeCode(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.RevokeCode)
	if _, ok := s.jurisdictions[c.GetJurisdiction()]; !ok {
		return "", refuse("jurisdiction %q is not registered", c.GetJurisdiction())
	}
	if c.GetCodeId() == "" || len(c.GetCodeId()) > 64 {
		return "", refuse("code_id must be 1-64 bytes")
	}
	set := s.revoked[c.GetJurisdiction()]
	if set == nil {
		set = map[string]int64{}
		s.revoked[c.GetJurisdiction()] = set
	}
	set[c.GetCodeId()] = c.GetAt()
	return fmt.Sprintf("code %s of %s revoked", c.GetCodeId(), c.GetJurisdiction()), nil
}

func applyUpsertMember(s *state, m proto.Message) (string, error) {
	mem := m.(*roamv1.UpsertMember).GetMember()
	if mem.GetNodeId() == "" || mem.GetGrpcAddress() == "" || mem.GetRaftAddress() == "" {
		return "", refuse("member needs node_id, raft_address and grpc_address")
	}
	if _, ok := s.jurisdictions[mem.GetJurisdiction()]; !ok {
		return "", refuse("member.jurisdiction %q is not registered; onboard it first", mem.GetJurisdiction())
	}
	s.members[mem.GetNodeId()] = proto.Clone(mem).(*roamv1.Member)
	return fmt.Sprintf("member %s (%s) at %s", mem.GetNodeId(), mem.GetJurisdiction(), mem.GetGrpcAddress()), nil
}

func applyRemoveMember(s *state, m proto.Message) (string, error) {
	id := m.(*roamv1.RemoveMember).GetNodeId()
	if _, ok := s.members[id]; !ok {
		return "", refuse("member %q is not known", id)
	}
	delete(s.members, id)
	return fmt.Sprintf("member %s removed", id), nil
}

// snapshot returns the state in canonical order, without the audit records.
func (s *state) snapshot(index uint64) *roamv1.RegistrySnapshot {
	out := &roamv1.RegistrySnapshot{Index: index}
	for _, id := range sortedKeys(s.jurisdictions) {
		out.Jurisdictions = append(out.Jurisdictions, proto.Clone(s.jurisdictions[id]).(*roamv1.Jurisdiction))
	}
	for _, id := range sortedKeys(s.keys) {
		out.Keys = append(out.Keys, proto.Clone(s.keys[id]).(*roamv1.IssuerKey))
	}
	for _, id := range sortedKeys(s.agreements) {
		out.Agreements = append(out.Agreements, proto.Clone(s.agreements[id]).(*roamv1.Agreement))
	}
	for _, id := range sortedKeys(s.members) {
		out.Members = append(out.Members, proto.Clone(s.members[id]).(*roamv1.Member))
	}
	for _, j := range sortedKeys(s.revoked) {
		for _, jti := range sortedKeys(s.revoked[j]) {
			out.RevokedCodes = append(out.RevokedCodes, &roamv1.RevokedCode{Jurisdiction: j, CodeId: jti, RevokedAt: s.revoked[j][jti]})
		}
	}
	out.AdminKeys = s.sortedAdmins()
	out.NationalQuorum = s.quorum
	for _, j := range sortedKeys(s.hub) {
		out.HubMembers = append(out.HubMembers, proto.Clone(s.hub[j]).(*roamv1.HubMember))
	}
	out.SeenCommands = s.sortedSeen()
	s.sortedForeign(out)
	// The audit records stay encoded: FSM.Snapshot splices them in, and
	// VerifySnapshot compares them on their own.
	out.ChainHead = s.chain
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
