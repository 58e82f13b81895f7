package registry

import (
	"bytes"
	"container/heap"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Governance constants (issue 3).
const (
	// TypCommand is the JWS typ of a signed registry command.
	TypCommand = "roam-cmd+jws"
	// National is the national platform's jurisdiction id (DESIGN.md §2).
	National = "000000"
	// MaxCommandTTL bounds how far in the future a command may expire, so the
	// replay cache stays small.
	MaxCommandTTL = 24 * time.Hour
	// maxSignatures bounds the signatures on one command.
	maxSignatures = 16
)

// Reasons a signed command is rejected. Each wraps ErrRefused as well, so a
// caller that only cares whether anything changed checks ErrRefused.
var (
	ErrUnauthorized   = errors.New("unauthorized")
	ErrBadSignature   = errors.New("bad signature")
	ErrExpired        = errors.New("command expired")
	ErrReplayed       = errors.New("command replayed")
	ErrNotInitialized = errors.New("registry has no genesis yet")
)

func reject(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrRefused, kind, fmt.Sprintf(format, args...))
}

// signer is one valid signature's key.
type signer struct{ kid, jurisdiction string }

type signers []signer

func (ss signers) national() int {
	n := 0
	for _, s := range ss {
		if s.jurisdiction == National {
			n++
		}
	}
	return n
}

func (ss signers) adminOf(j string) bool {
	for _, s := range ss {
		if s.jurisdiction == j {
			return true
		}
	}
	return false
}

func (ss signers) String() string {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", s.kid, s.jurisdiction)
	}
	if b.Len() == 0 {
		return "nobody"
	}
	return b.String()
}

// adminKey is a parsed admin key.
type adminKey struct {
	pb  *roamv1.AdminKey
	raw any
}

// openSigned decodes a log entry, checks every signature against the admin
// keys (or, for genesis, the keys genesis installs) and returns the signed
// payload and its valid signers. Any bad signature rejects the whole entry:
// a tampered or re-signed command changes nothing.
func (s *state) openSigned(entry []byte) (*roamv1.CommandPayload, signers, error) {
	if len(entry) > MaxCommandBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCommand, len(entry), MaxCommandBytes)
	}
	var sc roamv1.SignedCommand
	if err := proto.Unmarshal(entry, &sc); err != nil {
		return nil, nil, fmt.Errorf("%w: entry is not a valid SignedCommand protobuf message", ErrBadCommand)
	}
	if n := len(sc.GetSignatures()); n == 0 || n > maxSignatures {
		return nil, nil, reject(ErrBadSignature, "a command carries 1-%d signatures, this one %d", maxSignatures, n)
	}
	var payload []byte
	parsed := make([]*roamjws.Compact, 0, len(sc.GetSignatures()))
	for i, sig := range sc.GetSignatures() {
		c, err := roamjws.ParseCompact([]byte(sig), TypCommand)
		if err != nil {
			return nil, nil, reject(ErrBadSignature, "signature %d: %v", i, err)
		}
		if payload == nil {
			payload = c.Payload
		} else if !bytes.Equal(payload, c.Payload) {
			return nil, nil, reject(ErrBadSignature, "signature %d is over a different command", i)
		}
		parsed = append(parsed, c)
	}
	var cp roamv1.CommandPayload
	if err := proto.Unmarshal(payload, &cp); err != nil {
		return nil, nil, fmt.Errorf("%w: signed payload is not a valid CommandPayload protobuf message", ErrBadCommand)
	}
	if cp.GetCommand() == nil {
		return nil, nil, fmt.Errorf("%w: command payload has no command", ErrBadCommand)
	}
	keys := s.admins
	genesis := cp.GetCommand().GetType() == roamv1.CommandType_COMMAND_TYPE_GENESIS
	switch {
	case !genesis && !s.initialized():
		// No admin key exists yet: say why, rather than "not an admin key".
		return nil, nil, reject(ErrNotInitialized, "only a genesis command can be applied first")
	case genesis && !s.initialized():
		// The first genesis is signed by the keys it installs (M of N); a
		// later one is checked against the registered admin keys, so keys
		// it merely names are never recorded as national signers.
		_, m, err := DecodePayload(cp.GetCommand())
		if err != nil {
			return nil, nil, err
		}
		if keys, err = parseAdminKeys(m.(*roamv1.Genesis).GetNationalAdmins(), National); err != nil {
			return nil, nil, reject(ErrBadSignature, "genesis: %v", err)
		}
	}
	var out signers
	seen := map[string]bool{}
	for i, c := range parsed {
		k, ok := keys[c.Kid]
		if !ok {
			return nil, nil, reject(ErrBadSignature, "signature %d: kid %q is not an admin key", i, c.Kid)
		}
		if k.pb.GetRevoked() {
			return nil, nil, reject(ErrBadSignature, "signature %d: admin key %s is revoked", i, c.Kid)
		}
		// VerifyAudit may have checked this signature with this very key.
		if !s.pre.verified(i, k) {
			if err := c.VerifyWith(k.pb.GetAlg(), k.raw); err != nil {
				return nil, nil, reject(ErrBadSignature, "signature %d by %s: %v", i, c.Kid, err)
			}
		}
		if !seen[c.Kid] {
			seen[c.Kid] = true
			out = append(out, signer{kid: c.Kid, jurisdiction: k.pb.GetJurisdiction()})
		}
	}
	return &cp, out, nil
}

func parseAdminKeys(ks []*roamv1.AdminKey, jurisdiction string) (map[string]*adminKey, error) {
	out := map[string]*adminKey{}
	for _, k := range ks {
		ak, err := parseAdminKey(k)
		if err != nil {
			return nil, err
		}
		if k.GetJurisdiction() != jurisdiction {
			return nil, fmt.Errorf("admin key %s is for %s, want %s", k.GetKid(), k.GetJurisdiction(), jurisdiction)
		}
		out[k.GetKid()] = ak
	}
	return out, nil
}

func parseAdminKey(k *roamv1.AdminKey) (*adminKey, error) {
	kid, raw, err := roamjws.ParsePublicJWK(k.GetJwk(), k.GetAlg())
	if err != nil {
		return nil, err
	}
	if kid != k.GetKid() {
		return nil, fmt.Errorf("admin key kid %q is not the RFC 7638 thumbprint %q", k.GetKid(), kid)
	}
	return &adminKey{pb: proto.Clone(k).(*roamv1.AdminKey), raw: raw}, nil
}

// checkFreshness applies the expiry and replay rules against the entry's
// append time (Raft's AppendedAt, identical on every replica).
func (s *state) checkFreshness(cp *roamv1.CommandPayload, appended int64) error {
	id := cp.GetId()
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: command id must be 1-64 bytes", ErrBadCommand)
	}
	if cp.GetExpiresAt() <= appended {
		return reject(ErrExpired, "command %s expired at %s, appended at %s", id, unixText(cp.GetExpiresAt()), unixText(appended))
	}
	if cp.GetExpiresAt() > appended+int64(MaxCommandTTL/time.Second) {
		return reject(ErrExpired, "command %s expires more than %s after it was appended", id, MaxCommandTTL)
	}
	if _, ok := s.seen[id]; ok {
		return reject(ErrReplayed, "command id %s was already applied", id)
	}
	return nil
}

func unixText(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }

// remember records an applied command id and, once more than 1024 are
// held, forgets every expired one. The ids wait in a heap by expiry, so
// forgetting costs only what expired: a scan of every held id on every
// command made a burst of commands within one TTL (a city onboarding
// 320,000 commands in minutes, issue 6 §5) quadratic. Each held id has
// exactly one heap entry (an id is remembered only when not held, and
// forgotten only by popping its entry), so the ids forgotten are exactly
// those a scan would find.
func (s *state) remember(cp *roamv1.CommandPayload, appended int64) {
	s.seen[cp.GetId()] = cp.GetExpiresAt()
	heap.Push(&s.expiries, seenExpiry{exp: cp.GetExpiresAt(), id: cp.GetId()})
	if len(s.seen) > 1024 {
		for len(s.expiries) > 0 && s.expiries[0].exp <= appended {
			e := heap.Pop(&s.expiries).(seenExpiry)
			if exp, ok := s.seen[e.id]; ok && exp == e.exp {
				delete(s.seen, e.id)
			}
		}
	}
}

// seenExpiry is a remembered command id by its expiry.
type seenExpiry struct {
	exp int64
	id  string
}

// expiryHeap is a min-heap of remembered ids by expiry (container/heap).
type expiryHeap []seenExpiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(seenExpiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// authorize says whether signers may apply command m (issue 3 §3). It reads
// the state at this log index only.
func (s *state) authorize(t roamv1.CommandType, m proto.Message, sg signers) error {
	national := sg.national() > 0
	needNational := func(what string) error {
		if national {
			return nil
		}
		return reject(ErrUnauthorized, "%s needs a national admin's signature; signed by %s", what, sg)
	}
	needQuorum := func(what string) error {
		if n := sg.national(); n < int(s.quorum) {
			return reject(ErrUnauthorized, "%s needs %d of the national admins' signatures; has %d", what, s.quorum, n)
		}
		return nil
	}
	needAdminOf := func(j, what string) error {
		if sg.adminOf(j) {
			return nil
		}
		return reject(ErrUnauthorized, "%s needs a signature of a %s admin; signed by %s", what, j, sg)
	}
	switch c := m.(type) {
	case *roamv1.Genesis:
		return nil // checked by openSigned and applyGenesis
	case *roamv1.UpsertJurisdiction:
		return needNational("onboarding a jurisdiction")
	case *roamv1.RemoveJurisdiction:
		return needNational("offboarding a jurisdiction")
	case *roamv1.AddAdminKey:
		if c.GetKey().GetJurisdiction() == National {
			return needQuorum("adding a national admin key")
		}
		return needNational("adding an admin key")
	case *roamv1.RevokeAdminKey:
		k, ok := s.admins[c.GetKid()]
		if !ok {
			return nil // the handler refuses it
		}
		if j := k.pb.GetJurisdiction(); j == National {
			return needQuorum("revoking a national admin key")
		} else if national || sg.adminOf(j) {
			return nil
		}
		return reject(ErrUnauthorized, "revoking a %s admin key needs a national or %s admin; signed by %s", k.pb.GetJurisdiction(), k.pb.GetJurisdiction(), sg)
	case *roamv1.SetNationalQuorum:
		return needQuorum("changing the national quorum")
	case *roamv1.AddKey:
		return needAdminOf(c.GetKey().GetJurisdiction(), "adding an issuer key of "+c.GetKey().GetJurisdiction())
	case *roamv1.SetKeyState:
		k, ok := s.keys[c.GetKid()]
		if !ok {
			return nil
		}
		return needAdminOf(k.GetJurisdiction(), "changing an issuer key of "+k.GetJurisdiction())
	case *roamv1.RevokeCode:
		return needAdminOf(c.GetJurisdiction(), "revoking a code of "+c.GetJurisdiction())
	case *roamv1.ProposeAgreement:
		if p := c.GetProposedBy(); p == "" || (p != c.GetHost() && p != c.GetIssuer()) {
			return reject(ErrUnauthorized, "proposing %s: proposed_by %q is neither its host nor its issuer", AgreementID(c.GetHost(), c.GetIssuer()), p)
		}
		// A national suspension survives a party's termination: the
		// parties cannot start the pair over without the national platform.
		if err := s.nationalHold(AgreementID(c.GetHost(), c.GetIssuer()), false); err != nil {
			return err
		}
		return needAdminOf(c.GetProposedBy(), "proposing as "+c.GetProposedBy())
	case *roamv1.ProposeAgreements, *roamv1.AcceptAgreements:
		return s.authorizeBatch(c, sg)
	case *roamv1.AcceptAgreement:
		if err := s.notAParty(c.GetId(), c.GetAcceptedBy(), "accepting"); err != nil {
			return err
		}
		if err := s.nationalHold(c.GetId(), true); err != nil {
			return err
		}
		return needAdminOf(c.GetAcceptedBy(), "accepting as "+c.GetAcceptedBy())
	case *roamv1.SuspendAgreement:
		if c.GetBy() == National {
			return needNational("suspending as the national platform")
		}
		if err := s.notAParty(c.GetId(), c.GetBy(), "suspending"); err != nil {
			return err
		}
		return needAdminOf(c.GetBy(), "suspending as "+c.GetBy())
	case *roamv1.TerminateAgreement:
		if c.GetBy() == National {
			return needNational("terminating as the national platform")
		}
		if err := s.notAParty(c.GetId(), c.GetBy(), "terminating"); err != nil {
			return err
		}
		return needAdminOf(c.GetBy(), "terminating as "+c.GetBy())
	case *roamv1.ImposeAgreement:
		return needNational("imposing an agreement")
	case *roamv1.JoinHub:
		return needNational("admitting a jurisdiction to the hub")
	case *roamv1.LeaveHub:
		if national || sg.adminOf(c.GetJurisdiction()) {
			return nil
		}
		return reject(ErrUnauthorized, "withdrawing %s from the hub needs a national or %s admin; signed by %s", c.GetJurisdiction(), c.GetJurisdiction(), sg)
	case *roamv1.UpsertMember, *roamv1.RemoveMember:
		return needNational("changing cluster membership")
	case *roamv1.AddDocumentSigner, *roamv1.RevokeDocumentSigner, *roamv1.SetShcIssuer, *roamv1.RevokeShc:
		// Foreign trust material: the foreign jurisdiction's admin (the
		// national platform acting for it, in practice) or a national admin.
		j := s.foreignJurisdictionOf(m)
		if national || (j != "" && sg.adminOf(j)) {
			return nil
		}
		return reject(ErrUnauthorized, "changing %s trust material needs a national or %s admin; signed by %s", j, j, sg)
	}
	return reject(ErrUnauthorized, "no authority rule for %s", t)
}

// notAParty refuses, as unauthorized, an act on an existing agreement in the
// name of a jurisdiction that is neither its host nor its issuer (issue 3
// §3: only the parties, or a national admin, act on an agreement). An
// unknown agreement is left to the handler.
// nationalHold refuses a party's act on agreement id that the national
// platform suspended. For a new proposal the hold outlives a party's
// termination (suspended_by stays); for an acceptance (stillSuspended) it
// applies while the agreement is suspended.
func (s *state) nationalHold(id string, stillSuspended bool) error {
	a, ok := s.agreements[id]
	if !ok || a.GetSuspendedBy() != National || (stillSuspended && a.GetState() != roamv1.AgreementState_AGREEMENT_STATE_SUSPENDED) {
		return nil
	}
	return reject(ErrUnauthorized, "agreement %s was suspended by the national platform; only a national admin can lift it (roamctl agreement impose)", id)
}

func (s *state) notAParty(id, by, what string) error {
	a, ok := s.agreements[id]
	if !ok || by == a.GetHost() || by == a.GetIssuer() {
		return nil
	}
	return reject(ErrUnauthorized, "%s %s as %q: neither its host %s nor its issuer %s", what, id, by, a.GetHost(), a.GetIssuer())
}

// chainNext is SHA-256(prev || index || time || entry || accepted || reason).
func chainNext(prev []byte, r *roamv1.AuditRecord) []byte {
	h := sha256.New()
	h.Write(prev)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], r.GetIndex())
	h.Write(b[:])
	// The append time decides expiry, so it is part of what is committed.
	binary.BigEndian.PutUint64(b[:], uint64(r.GetTime()))
	h.Write(b[:])
	h.Write(r.GetEntry())
	if r.GetAccepted() {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	h.Write([]byte(r.GetReason()))
	return h.Sum(nil)
}

func applyGenesis(s *state, m proto.Message) (string, error) {
	g := m.(*roamv1.Genesis)
	if s.initialized() {
		return "", refuse("the registry already has its genesis")
	}
	keys, err := parseAdminKeys(g.GetNationalAdmins(), National)
	if err != nil {
		return "", refuse("genesis: %v", err)
	}
	if len(keys) == 0 || g.GetQuorum() < 1 || int(g.GetQuorum()) > len(keys) {
		return "", refuse("genesis: quorum %d must be 1..%d (the national admin keys given)", g.GetQuorum(), len(keys))
	}
	s.admins, s.quorum = keys, g.GetQuorum()
	s.jurisdictions[National] = &roamv1.Jurisdiction{Id: National, Name: "National platform", CodeSystem: "national-health-code"}
	return fmt.Sprintf("genesis: %d national admin keys, quorum %d", len(keys), g.GetQuorum()), nil
}

// genesisQuorumMet is checked after authorize for genesis: at least quorum
// of the installed keys signed.
func genesisQuorumMet(g *roamv1.Genesis, sg signers) error {
	if n := sg.national(); n < int(g.GetQuorum()) {
		return reject(ErrUnauthorized, "genesis needs %d signatures of the keys it installs; has %d", g.GetQuorum(), n)
	}
	return nil
}

func applyAddAdminKey(s *state, m proto.Message) (string, error) {
	k := m.(*roamv1.AddAdminKey).GetKey()
	if k == nil {
		return "", refuse("key is required")
	}
	if _, ok := s.jurisdictions[k.GetJurisdiction()]; !ok {
		return "", refuse("key.jurisdiction %q is not registered", k.GetJurisdiction())
	}
	ak, err := parseAdminKey(k)
	if err != nil {
		return "", refuse("key: %v", err)
	}
	if old, ok := s.admins[k.GetKid()]; ok {
		if old.pb.GetRevoked() {
			return "", refuse("admin key %s was revoked; revocation is final, register a new key", k.GetKid())
		}
		return "", refuse("admin key %s is already registered", k.GetKid())
	}
	if _, ok := s.keys[k.GetKid()]; ok {
		return "", refuse("key %s is an issuer key; admin keys must be distinct", k.GetKid())
	}
	ak.pb.Revoked = false
	s.admins[k.GetKid()] = ak
	return fmt.Sprintf("admin key %s of %s added (%s)", k.GetKid(), k.GetJurisdiction(), k.GetHolder()), nil
}

func applyRevokeAdminKey(s *state, m proto.Message) (string, error) {
	kid := m.(*roamv1.RevokeAdminKey).GetKid()
	k, ok := s.admins[kid]
	if !ok {
		return "", refuse("admin key %q is not registered", kid)
	}
	if k.pb.GetRevoked() {
		return "", refuse("admin key %s is already revoked", kid)
	}
	if k.pb.GetJurisdiction() == National && s.activeNational()-1 < int(s.quorum) {
		return "", refuse("revoking %s would leave fewer national admin keys than the quorum %d", kid, s.quorum)
	}
	c := *k
	c.pb = proto.Clone(k.pb).(*roamv1.AdminKey)
	c.pb.Revoked = true
	s.admins[kid] = &c
	return fmt.Sprintf("admin key %s of %s revoked", kid, k.pb.GetJurisdiction()), nil
}

func (s *state) activeNational() int {
	n := 0
	for _, k := range s.admins {
		if k.pb.GetJurisdiction() == National && !k.pb.GetRevoked() {
			n++
		}
	}
	return n
}

func applySetQuorum(s *state, m proto.Message) (string, error) {
	q := m.(*roamv1.SetNationalQuorum).GetQuorum()
	if q < 1 || int(q) > s.activeNational() {
		return "", refuse("quorum %d must be 1..%d (the active national admin keys)", q, s.activeNational())
	}
	s.quorum = q
	return fmt.Sprintf("national quorum is now %d of %d", q, s.activeNational()), nil
}

func applyImpose(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.ImposeAgreement)
	p := &roamv1.ProposeAgreement{Host: c.GetHost(), Issuer: c.GetIssuer(), Terms: c.GetTerms(),
		EffectiveFrom: c.GetEffectiveFrom(), EffectiveUntil: c.GetEffectiveUntil(), ProposedBy: c.GetHost()}
	if err := s.validateProposal(p, true); err != nil {
		return "", err
	}
	id := AgreementID(c.GetHost(), c.GetIssuer())
	var version uint64 = 1
	if old, ok := s.agreements[id]; ok {
		version = old.GetVersion() + 1
		if p := old.GetPending(); p != nil && p.GetVersion() >= version {
			version = p.GetVersion() + 1
		}
	}
	terms := c.GetTerms()
	if terms == nil {
		terms = &roamv1.AgreementTerms{}
	}
	s.agreements[id] = &roamv1.Agreement{
		Id: id, Host: c.GetHost(), Issuer: c.GetIssuer(), Version: version,
		Terms:         proto.Clone(terms).(*roamv1.AgreementTerms),
		EffectiveFrom: c.GetEffectiveFrom(), EffectiveUntil: c.GetEffectiveUntil(),
		State: roamv1.AgreementState_AGREEMENT_STATE_ACTIVE, ProposedBy: National,
	}
	s.byPair[pairKey(c.GetHost(), c.GetIssuer())] = id
	return fmt.Sprintf("agreement %s v%d imposed by the national platform", id, version), nil
}

func applyRemoveJurisdiction(s *state, m proto.Message) (string, error) {
	id := m.(*roamv1.RemoveJurisdiction).GetId()
	if id == National {
		return "", refuse("the national platform cannot be offboarded")
	}
	if _, ok := s.jurisdictions[id]; !ok {
		return "", refuse("jurisdiction %q is not registered", id)
	}
	delete(s.jurisdictions, id)
	for kid, k := range s.keys {
		if k.GetJurisdiction() == id && k.GetState() != roamv1.KeyState_KEY_STATE_REVOKED {
			k.State = roamv1.KeyState_KEY_STATE_REVOKED
			vk := *s.parsed[kid]
			vk.State = roamjws.KeyRevoked
			s.parsed[kid] = &vk
		}
	}
	for kid, k := range s.admins {
		if k.pb.GetJurisdiction() == id && !k.pb.GetRevoked() {
			c := *k
			c.pb = proto.Clone(k.pb).(*roamv1.AdminKey)
			c.pb.Revoked = true
			s.admins[kid] = &c
		}
	}
	for _, a := range s.agreements {
		if a.GetHost() == id || a.GetIssuer() == id {
			a.State, a.Pending = roamv1.AgreementState_AGREEMENT_STATE_TERMINATED, nil
		}
	}
	delete(s.hub, id)
	return fmt.Sprintf("jurisdiction %s offboarded: keys revoked, agreements terminated", id), nil
}

func applyJoinHub(s *state, m proto.Message) (string, error) {
	c := m.(*roamv1.JoinHub)
	if _, ok := s.jurisdictions[c.GetJurisdiction()]; !ok || c.GetJurisdiction() == National {
		return "", refuse("jurisdiction %q is not a registered province or city", c.GetJurisdiction())
	}
	if c.GetEffectiveFrom() <= 0 {
		return "", refuse("effective_from must be > 0 (Unix seconds)")
	}
	if err := validateTerms(c.GetTerms()); err != nil {
		return "", err
	}
	terms := c.GetTerms()
	if terms == nil {
		terms = &roamv1.AgreementTerms{}
	}
	s.hub[c.GetJurisdiction()] = &roamv1.HubMember{Jurisdiction: c.GetJurisdiction(), Terms: proto.Clone(terms).(*roamv1.AgreementTerms), EffectiveFrom: c.GetEffectiveFrom()}
	return fmt.Sprintf("%s joined the national platform hub", c.GetJurisdiction()), nil
}

func applyLeaveHub(s *state, m proto.Message) (string, error) {
	j := m.(*roamv1.LeaveHub).GetJurisdiction()
	if _, ok := s.hub[j]; !ok {
		return "", refuse("%s is not in the hub", j)
	}
	delete(s.hub, j)
	return fmt.Sprintf("%s left the national platform hub", j), nil
}

func (s *state) initialized() bool { return s.quorum > 0 }

func (s *state) sortedAdmins() []*roamv1.AdminKey {
	out := make([]*roamv1.AdminKey, 0, len(s.admins))
	for _, id := range sortedKeys(s.admins) {
		out = append(out, proto.Clone(s.admins[id].pb).(*roamv1.AdminKey))
	}
	return out
}

func (s *state) sortedSeen() []*roamv1.SeenCommand {
	out := make([]*roamv1.SeenCommand, 0, len(s.seen))
	for id, exp := range s.seen {
		out = append(out, &roamv1.SeenCommand{Id: id, ExpiresAt: exp})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetId() < out[j].GetId() })
	return out
}
