package registry

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Signer roles of the authority matrix (issue 3 §3).
const (
	roleNational  = "national"  // one national admin
	roleQuorum    = "quorum"    // nationalQuorum (2) national admins
	roleHost      = "host"      // an admin of the row's host
	roleIssuer    = "issuer"    // an admin of the row's issuer
	roleUnrelated = "unrelated" // an admin of Beijing, party to nothing here
	roleUnknown   = "unknown"   // a key no registry holds
)

var matrixRoles = []string{roleNational, roleQuorum, roleHost, roleIssuer, roleUnrelated, roleUnknown}

// matrixRow is one command of the authority matrix. host and issuer are the
// jurisdictions whose admins play those roles: the agreement's parties for
// agreement commands; for commands about one jurisdiction (its issuer keys,
// code revocations, admin keys, registration, hub membership, a node of it)
// that jurisdiction, Zhejiang, plays both roles.
type matrixRow struct {
	name         string
	typ          roamv1.CommandType
	host, issuer string
	// setup runs after the base (genesis, base jurisdictions with their
	// admins, Zhejiang issuer key ed[0], member n1); role is the cell's.
	setup func(role string) []proto.Message
	// cmd builds the command; actor is the jurisdiction the signer acts as
	// where the command names one (proposed_by, accepted_by, by): the
	// signer's own (National for national admins, the host for the unknown
	// key, which impersonates it).
	cmd   func(actor string) proto.Message
	allow []string
	// deny overrides the expected sentinel of a denied cell (default
	// ErrUnauthorized; ErrBadSignature for the unknown key).
	deny  map[string]error
	check func(t *testing.T, st *roamv1.RegistrySnapshot) // effect when allowed
}

func (r *matrixRow) signers(fx *fixture, role string) []*admin {
	switch role {
	case roleNational:
		return fx.national[:1]
	case roleQuorum:
		return fx.quorum()
	case roleHost:
		return []*admin{fx.of[r.host]}
	case roleIssuer:
		return []*admin{fx.of[r.issuer]}
	case roleUnrelated:
		return []*admin{fx.of[beijing]}
	}
	return []*admin{fx.stranger}
}

func (r *matrixRow) actor(role string) string {
	switch role {
	case roleNational, roleQuorum:
		return National
	case roleIssuer:
		return r.issuer
	case roleUnrelated:
		return beijing
	}
	return r.host // host, and the unknown key impersonating it
}

func (r *matrixRow) want(role string) error {
	for _, a := range r.allow {
		if a == role {
			return nil
		}
	}
	if err, ok := r.deny[role]; ok {
		return err
	}
	if role == roleUnknown {
		return ErrBadSignature
	}
	return ErrUnauthorized
}

func authorityMatrix(t *testing.T) []matrixRow {
	ed, _ := testKeys(t)
	fx := testFixture(t)
	id := AgreementID(henan, zhejiang)
	nat, quo, host, iss := roleNational, roleQuorum, roleHost, roleIssuer
	none := func(string) []proto.Message { return nil }
	active := func(string) []proto.Message {
		return []proto.Message{propose(henan, zhejiang, henan, t0, 0, "green"), accept(id, 1, zhejiang)}
	}
	agreementIs := func(st roamv1.AgreementState) func(*testing.T, *roamv1.RegistrySnapshot) {
		return func(t *testing.T, snap *roamv1.RegistrySnapshot) {
			if a := findAgreement(snap, id); a.GetState() != st {
				t.Fatalf("agreement %s = %v, want %s", id, a, st)
			}
		}
	}
	adminIs := func(kid string, present, revoked bool) func(*testing.T, *roamv1.RegistrySnapshot) {
		return func(t *testing.T, snap *roamv1.RegistrySnapshot) {
			for _, k := range snap.GetAdminKeys() {
				if k.GetKid() == kid {
					if !present || k.GetRevoked() != revoked {
						t.Fatalf("admin key %v, want present %v revoked %v", k, present, revoked)
					}
					return
				}
			}
			if present {
				t.Fatalf("admin key %s missing", kid)
			}
		}
	}
	inHub := func(want bool) func(*testing.T, *roamv1.RegistrySnapshot) {
		return func(t *testing.T, snap *roamv1.RegistrySnapshot) {
			got := len(snap.GetHubMembers()) == 1 && snap.GetHubMembers()[0].GetJurisdiction() == zhejiang
			if got != want {
				t.Fatalf("hub = %v, want zhejiang in it: %v", snap.GetHubMembers(), want)
			}
		}
	}
	zj := func(name string, typ roamv1.CommandType, setup func(string) []proto.Message, cmd proto.Message, allow ...string) matrixRow {
		return matrixRow{name: name, typ: typ, host: zhejiang, issuer: zhejiang, setup: setup,
			cmd: func(string) proto.Message { return cmd }, allow: allow}
	}
	at := func(name string, typ roamv1.CommandType, setup func(string) []proto.Message, cmd proto.Message, allow ...string) matrixRow {
		return matrixRow{name: name, typ: typ, host: austria, issuer: austria, setup: setup,
			cmd: func(string) proto.Message { return cmd }, allow: allow}
	}
	rows := []matrixRow{
		// Genesis only ever comes first; afterwards even the quorum is
		// refused, by the state ("already has its genesis"), not authority.
		func() matrixRow {
			r := zj("genesis again", roamv1.CommandType_COMMAND_TYPE_GENESIS, none, fx.genesisMsg())
			r.deny = map[string]error{quo: ErrRefused}
			return r
		}(),
		zj("rename a jurisdiction", roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION, none, jur(zhejiang, "Zhejiang Province"), nat, quo),
		zj("offboard a jurisdiction", roamv1.CommandType_COMMAND_TYPE_REMOVE_JURISDICTION, none, &roamv1.RemoveJurisdiction{Id: zhejiang}, nat, quo),
		zj("add a jurisdiction's admin key", roamv1.CommandType_COMMAND_TYPE_ADD_ADMIN_KEY, none, addAdmin(fx.second.rec), nat, quo),
		zj("add a national admin key", roamv1.CommandType_COMMAND_TYPE_ADD_ADMIN_KEY, none, addAdmin(fx.spare.rec), quo),
		zj("revoke a jurisdiction's admin key", roamv1.CommandType_COMMAND_TYPE_REVOKE_ADMIN_KEY,
			func(string) []proto.Message { return []proto.Message{addAdmin(fx.second.rec)} },
			&roamv1.RevokeAdminKey{Kid: fx.second.kid()}, nat, quo, host, iss),
		zj("revoke a national admin key", roamv1.CommandType_COMMAND_TYPE_REVOKE_ADMIN_KEY, none, &roamv1.RevokeAdminKey{Kid: fx.national[2].kid()}, quo),
		zj("change the national quorum", roamv1.CommandType_COMMAND_TYPE_SET_NATIONAL_QUORUM, none, &roamv1.SetNationalQuorum{Quorum: 3}, quo),
		zj("add an issuer key", roamv1.CommandType_COMMAND_TYPE_ADD_KEY, none, addKey(ed[1], zhejiang), host, iss),
		zj("retire an issuer key", roamv1.CommandType_COMMAND_TYPE_SET_KEY_STATE, none, setKey(ed[0].kid, roamv1.KeyState_KEY_STATE_RETIRED, t0+day), host, iss),
		zj("revoke a code id", roamv1.CommandType_COMMAND_TYPE_REVOKE_CODE, none, revoke(zhejiang, "AAECAwQFBgcICQoLDA0ODw"), host, iss),
		zj("admit to the hub", roamv1.CommandType_COMMAND_TYPE_JOIN_HUB, none, &roamv1.JoinHub{Jurisdiction: zhejiang, EffectiveFrom: t0}, nat, quo),
		zj("withdraw from the hub", roamv1.CommandType_COMMAND_TYPE_LEAVE_HUB,
			func(string) []proto.Message {
				return []proto.Message{&roamv1.JoinHub{Jurisdiction: zhejiang, EffectiveFrom: t0}}
			},
			&roamv1.LeaveHub{Jurisdiction: zhejiang}, nat, quo, host, iss),
		// Foreign trust material: the foreign jurisdiction (Austria) plays
		// host and issuer.
		at("add a DCC document signer", roamv1.CommandType_COMMAND_TYPE_ADD_DOCUMENT_SIGNER, none, &roamv1.AddDocumentSigner{Jurisdiction: austria, Der: testDSC(t)}, nat, quo, host, iss),
		at("revoke a DCC document signer", roamv1.CommandType_COMMAND_TYPE_REVOKE_DOCUMENT_SIGNER,
			func(string) []proto.Message {
				return []proto.Message{&roamv1.AddDocumentSigner{Jurisdiction: austria, Der: testDSC(t)}}
			},
			&roamv1.RevokeDocumentSigner{DerSha256: sha256Of(testDSC(t))}, nat, quo, host, iss),
		at("set an SHC issuer", roamv1.CommandType_COMMAND_TYPE_SET_SHC_ISSUER, none, &roamv1.SetShcIssuer{Jurisdiction: austria, Url: testShcIssuer, Jwks: testJWKS(t)}, nat, quo, host, iss),
		at("revoke an SHC rid", roamv1.CommandType_COMMAND_TYPE_REVOKE_SHC,
			func(string) []proto.Message {
				return []proto.Message{&roamv1.SetShcIssuer{Jurisdiction: austria, Url: testShcIssuer, Jwks: testJWKS(t)}}
			},
			&roamv1.RevokeShc{Url: testShcIssuer, Kid: testShcKid, Rid: "MKmOJ3nd2Mg"}, nat, quo, host, iss),
		zj("add a cluster member", roamv1.CommandType_COMMAND_TYPE_UPSERT_MEMBER, none, member("n2", zhejiang), nat, quo),
		zj("remove a cluster member", roamv1.CommandType_COMMAND_TYPE_REMOVE_MEMBER, none, &roamv1.RemoveMember{NodeId: "n1"}, nat, quo),
		{
			name: "propose an agreement", typ: roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENT, host: henan, issuer: zhejiang, setup: none,
			cmd:   func(actor string) proto.Message { return propose(henan, zhejiang, actor, t0, 0, "green") },
			allow: []string{host, iss}, check: agreementIs(roamv1.AgreementState_AGREEMENT_STATE_PROPOSED),
		},
		{
			// The other party proposed, so host and issuer may each accept.
			name: "accept an agreement", typ: roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENT, host: henan, issuer: zhejiang,
			setup: func(role string) []proto.Message {
				by := henan
				if role == roleHost {
					by = zhejiang
				}
				return []proto.Message{propose(henan, zhejiang, by, t0, 0, "green")}
			},
			cmd:   func(actor string) proto.Message { return accept(id, 1, actor) },
			allow: []string{host, iss}, check: agreementIs(roamv1.AgreementState_AGREEMENT_STATE_ACTIVE),
		},
		{
			name: "propose agreements (batch)", typ: roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENTS, host: henan, issuer: zhejiang, setup: none,
			cmd: func(actor string) proto.Message {
				return &roamv1.ProposeAgreements{Proposals: []*roamv1.ProposeAgreement{propose(henan, zhejiang, actor, t0, 0, "green")}}
			},
			allow: []string{host, iss}, check: agreementIs(roamv1.AgreementState_AGREEMENT_STATE_PROPOSED),
		},
		{
			name: "accept agreements (batch)", typ: roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENTS, host: henan, issuer: zhejiang,
			setup: func(role string) []proto.Message {
				by := henan
				if role == roleHost {
					by = zhejiang
				}
				return []proto.Message{propose(henan, zhejiang, by, t0, 0, "green")}
			},
			cmd: func(actor string) proto.Message {
				return &roamv1.AcceptAgreements{Acceptances: []*roamv1.AcceptAgreement{accept(id, 1, actor)}}
			},
			allow: []string{host, iss}, check: agreementIs(roamv1.AgreementState_AGREEMENT_STATE_ACTIVE),
		},
		{
			name: "suspend an agreement", typ: roamv1.CommandType_COMMAND_TYPE_SUSPEND_AGREEMENT, host: henan, issuer: zhejiang, setup: active,
			cmd:   func(actor string) proto.Message { return suspend(id, actor) },
			allow: []string{nat, quo, host, iss}, check: agreementIs(roamv1.AgreementState_AGREEMENT_STATE_SUSPENDED),
		},
		{
			name: "terminate an agreement", typ: roamv1.CommandType_COMMAND_TYPE_TERMINATE_AGREEMENT, host: henan, issuer: zhejiang, setup: active,
			cmd:   func(actor string) proto.Message { return terminate(id, actor) },
			allow: []string{nat, quo, host, iss}, check: agreementIs(roamv1.AgreementState_AGREEMENT_STATE_TERMINATED),
		},
		{
			name: "impose an agreement", typ: roamv1.CommandType_COMMAND_TYPE_IMPOSE_AGREEMENT, host: henan, issuer: zhejiang, setup: none,
			cmd: func(string) proto.Message {
				return &roamv1.ImposeAgreement{Host: henan, Issuer: zhejiang, EffectiveFrom: t0, Terms: &roamv1.AgreementTerms{Colors: []string{"green"}}}
			},
			allow: []string{nat, quo}, check: agreementIs(roamv1.AgreementState_AGREEMENT_STATE_ACTIVE),
		},
	}
	for i := range rows {
		switch rows[i].name {
		case "add a jurisdiction's admin key":
			rows[i].check = adminIs(fx.second.kid(), true, false)
		case "add a national admin key":
			rows[i].check = adminIs(fx.spare.kid(), true, false)
		case "revoke a jurisdiction's admin key":
			rows[i].check = adminIs(fx.second.kid(), true, true)
		case "revoke a national admin key":
			rows[i].check = adminIs(fx.national[2].kid(), true, true)
		case "admit to the hub":
			rows[i].check = inHub(true)
		case "withdraw from the hub":
			rows[i].check = inHub(false)
		case "change the national quorum":
			rows[i].check = func(t *testing.T, st *roamv1.RegistrySnapshot) {
				if st.GetNationalQuorum() != 3 {
					t.Fatalf("quorum = %d, want 3", st.GetNationalQuorum())
				}
			}
		}
	}
	return rows
}

// TestAuthorityMatrix is issue 3 §3's table: every command type × every
// signer role, each cell allowed or denied with its reason. A denied
// command changes nothing but the audit trail, which records it.
func TestAuthorityMatrix(t *testing.T) {
	ed, _ := testKeys(t)
	fx := testFixture(t)
	rows := authorityMatrix(t)
	covered := map[roamv1.CommandType]bool{}
	grid := map[string]map[string]string{}
	cells := 0
	for _, row := range rows {
		covered[row.typ] = true
		grid[row.name] = map[string]string{}
		for _, role := range matrixRoles {
			cells++
			want := row.want(role)
			t.Run(row.name+"/"+role, func(t *testing.T) {
				h := newHarness(t)
				h.must(baseJurisdictions()...)
				h.must(addKey(ed[0], zhejiang), member("n1", zhejiang))
				h.must(row.setup(role)...)
				before := stateNoIndex(h.fsm)
				nAudit := len(h.fsm.Audit(0, 0))
				signers := row.signers(fx, role)
				res := h.applyAs(row.cmd(row.actor(role)), signers...)
				checkAuditTail(t, h.fsm, nAudit, h.idx, res.Err)
				rec := lastAudit(t, h.fsm)
				if want == nil {
					if res.Err != nil {
						t.Fatalf("%s by %s: %v, want allowed", row.name, role, res.Err)
					}
					if rec.GetType() != row.typ || len(rec.GetSigners()) != len(signers) {
						t.Errorf("audit record %v, want type %s and %d signers", rec, row.typ, len(signers))
					}
					after := stateNoIndex(h.fsm)
					before.SeenCommands, after.SeenCommands = nil, nil
					if proto.Equal(before, after) {
						t.Error("allowed command changed nothing")
					}
					if row.check != nil {
						row.check(t, h.fsm.State())
					}
					return
				}
				if !errors.Is(res.Err, want) || !errors.Is(res.Err, ErrRefused) {
					t.Fatalf("%s by %s: %v, want %v", row.name, role, res.Err, want)
				}
				for _, other := range []error{ErrUnauthorized, ErrBadSignature, ErrExpired, ErrReplayed, ErrNotInitialized, ErrBadCommand} {
					if other != want && errors.Is(res.Err, other) {
						t.Errorf("%s by %s: %v also wraps %v", row.name, role, res.Err, other)
					}
				}
				if after := stateNoIndex(h.fsm); !proto.Equal(before, after) {
					t.Errorf("denied command changed the state:\nbefore %v\nafter  %v", before, after)
				}
			})
			grid[row.name][role] = cellText(want)
		}
	}
	for v := range roamv1.CommandType_name {
		if typ := roamv1.CommandType(v); typ != roamv1.CommandType_COMMAND_TYPE_UNSPECIFIED && !covered[typ] {
			t.Errorf("the authority matrix has no row for %s", typ)
		}
	}
	// The matrix, for people: ok = allowed, unauth = ErrUnauthorized,
	// badsig = ErrBadSignature, refused = refused by the state.
	var b strings.Builder
	fmt.Fprintf(&b, "%d cells\n%-34s", cells, "")
	for _, role := range matrixRoles {
		fmt.Fprintf(&b, " %-9s", role)
	}
	for _, row := range rows {
		fmt.Fprintf(&b, "\n%-34s", row.name)
		for _, role := range matrixRoles {
			fmt.Fprintf(&b, " %-9s", grid[row.name][role])
		}
	}
	t.Log(b.String())
}

func cellText(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrUnauthorized):
		return "unauth"
	case errors.Is(err, ErrBadSignature):
		return "badsig"
	}
	return "refused"
}

// --- bad input (issue 3 "Bad input") ---

// splitJWS returns a compact JWS's three parts.
func splitJWS(t testing.TB, tok string) []string {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	return p
}

// tokensOf returns the signatures of a log entry.
func tokensOf(t testing.TB, entry []byte) []string {
	t.Helper()
	var sc roamv1.SignedCommand
	if err := proto.Unmarshal(entry, &sc); err != nil {
		t.Fatal(err)
	}
	return sc.GetSignatures()
}

// withPayload returns tok with its payload replaced (signature kept).
func withPayload(t testing.TB, tok string, payload []byte) string {
	t.Helper()
	p := splitJWS(t, tok)
	return p[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + p[2]
}

func payloadBytes(t testing.TB, tok string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(splitJWS(t, tok)[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signWithKid signs payload with priv (EdDSA) but names kid in the header: a
// re-signed command that claims another admin's key. (jws.Sign would put
// the signing key's own kid in the header.)
func signWithKid(t testing.TB, priv jwk.Key, kid string, payload []byte) string {
	t.Helper()
	return signRawHeader(t, priv, `{"alg":"EdDSA","kid":"`+kid+`","typ":"`+TypCommand+`"}`, payload)
}

// signRawHeader builds a JWS with an arbitrary protected header over
// payload, signed with priv (EdDSA).
func signRawHeader(t testing.TB, priv jwk.Key, header string, payload []byte) string {
	t.Helper()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(payload)
	s, err := jws.NewSigner(jwa.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := priv.Raw(&raw); err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign([]byte(in), raw)
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

type badCase struct {
	name  string
	bare  bool // no genesis
	setup []proto.Message
	entry func(t *testing.T, h *harness) []byte
	at    time.Time // AppendedAt; default appendedAt
	want  error     // the exact sentinel (ErrRefused alone: a state refusal)
}

func TestBadInput(t *testing.T) {
	ed, _ := testKeys(t)
	fx := testFixture(t)
	n0, n1, n2 := fx.national[0], fx.national[1], fx.national[2]
	zjAdmin := fx.of[zhejiang]
	exp := appendedAt.Unix() + testTTL
	sh := jur(shanghai, "Shanghai")
	// at signs msg with a fixed id and expiry.
	at := func(msg proto.Message, id string, expires int64, by ...*admin) func(*testing.T, *harness) []byte {
		return func(t *testing.T, h *harness) []byte { return signEntry(t, payloadOf(t, msg, id, expires), by...) }
	}
	genesis := func(q uint32, keys ...*admin) *roamv1.Genesis {
		g := &roamv1.Genesis{Quorum: q}
		for _, k := range keys {
			g.NationalAdmins = append(g.NationalAdmins, proto.Clone(k.rec).(*roamv1.AdminKey))
		}
		return g
	}
	strangerNational := proto.Clone(fx.stranger.rec).(*roamv1.AdminKey)
	strangerNational.Jurisdiction = National
	cases := []badCase{
		{name: "tampered payload", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			tok := tokensOf(t, h.entry(sh, n0))[0]
			p := payloadBytes(t, tok)
			i := bytes.Index(p, []byte("Shanghai"))
			p[i+7] ^= 0x01 // "Shanghah": still a valid protobuf message
			return entryOf(t, withPayload(t, tok, p))
		}},
		{name: "tampered command id", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			tok := tokensOf(t, h.entry(sh, n0))[0]
			p := payloadBytes(t, tok)
			i := bytes.Index(p, []byte("t-0"))
			p[i] = 'u'
			return entryOf(t, withPayload(t, tok, p))
		}},
		{name: "truncated signature", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			tok := tokensOf(t, h.entry(sh, n0))[0]
			return entryOf(t, tok[:len(tok)-4])
		}},
		{name: "signature removed", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			p := splitJWS(t, tokensOf(t, h.entry(sh, n0))[0])
			return entryOf(t, p[0]+"."+p[1]+".")
		}},
		{name: "one of a quorum's signatures truncated", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			toks := tokensOf(t, h.entry(&roamv1.SetNationalQuorum{Quorum: 1}, n0, n1))
			toks[1] = toks[1][:len(toks[1])-1]
			return entryOf(t, toks...)
		}},
		{name: "re-signed by another key with the same kid", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			return entryOf(t, signWithKid(t, n1.priv, n0.kid(), marshalPayload(t, payloadOf(t, sh, "resigned", exp))))
		}},
		{name: "re-signed by a stranger as a jurisdiction's admin", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			return entryOf(t, signWithKid(t, fx.stranger.priv, zjAdmin.kid(), marshalPayload(t, payloadOf(t, revoke(zhejiang, "x"), "resigned", exp))))
		}},
		{name: "signatures over different payloads", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			a := signTokens(t, marshalPayload(t, payloadOf(t, &roamv1.SetNationalQuorum{Quorum: 1}, "q-a", exp)), n0)
			b := signTokens(t, marshalPayload(t, payloadOf(t, &roamv1.SetNationalQuorum{Quorum: 1}, "q-b", exp)), n1)
			return entryOf(t, a[0], b[0])
		}},
		{name: "unknown key", want: ErrBadSignature, entry: at(sh, "stranger", exp, fx.stranger)},
		{name: "issuer key signs a command", want: ErrBadSignature, setup: []proto.Message{addKey(ed[0], zhejiang)}, entry: func(t *testing.T, h *harness) []byte {
			k, err := jwk.ParseKey(ed[0].priv)
			if err != nil {
				t.Fatal(err)
			}
			s, err := roamjws.NewSigner(k)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.SignPayload(marshalPayload(t, payloadOf(t, revoke(zhejiang, "x"), "issuer-key", exp)), TypCommand)
			if err != nil {
				t.Fatal(err)
			}
			return entryOf(t, tok)
		}},
		{name: "code token type instead of command", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			tok, err := n0.signer.SignPayload(marshalPayload(t, payloadOf(t, sh, "typ", exp)), roamjws.TypCode)
			if err != nil {
				t.Fatal(err)
			}
			return entryOf(t, tok)
		}},
		{name: "alg none", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + n0.kid() + `","typ":"` + TypCommand + `"}`))
			return entryOf(t, hdr+"."+base64.RawURLEncoding.EncodeToString(marshalPayload(t, payloadOf(t, sh, "none", exp)))+".")
		}},
		{name: "extra header", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			return entryOf(t, signRawHeader(t, n0.priv, `{"alg":"EdDSA","kid":"`+n0.kid()+`","typ":"`+TypCommand+`","jku":"https://x"}`,
				marshalPayload(t, payloadOf(t, sh, "jku", exp))))
		}},
		{name: "signed by a revoked admin key", want: ErrBadSignature,
			setup: []proto.Message{addKey(ed[0], zhejiang), &roamv1.RevokeAdminKey{Kid: zjAdmin.kid()}},
			entry: at(setKey(ed[0].kid, roamv1.KeyState_KEY_STATE_REVOKED, t0+day), "revoked-signer", exp, zjAdmin)},
		{name: "quorum including a revoked national key", want: ErrBadSignature,
			setup: []proto.Message{&roamv1.RevokeAdminKey{Kid: n2.kid()}},
			entry: at(&roamv1.SetNationalQuorum{Quorum: 1}, "revoked-quorum", exp, n0, n2)},
		{name: "signed by an offboarded jurisdiction's admin", want: ErrBadSignature,
			setup: []proto.Message{&roamv1.RemoveJurisdiction{Id: austria}},
			entry: at(revoke(austria, "x"), "offboarded", exp, fx.of[austria])},
		{name: "issuer key added for another jurisdiction", want: ErrUnauthorized,
			entry: at(addKey(ed[0], henan), "other-jurisdiction", exp, zjAdmin)},
		{name: "issuer key added by a national admin", want: ErrUnauthorized,
			entry: at(addKey(ed[0], zhejiang), "national-key", exp, n0)},
		{name: "jurisdiction admin adds its own admin key", want: ErrUnauthorized,
			entry: at(addAdmin(fx.second.rec), "self-admin", exp, zjAdmin)},
		{name: "one national admin adds a national key", want: ErrUnauthorized,
			entry: at(addAdmin(fx.spare.rec), "one-national", exp, n0)},
		{name: "same national admin signs twice for a quorum", want: ErrUnauthorized,
			entry: at(&roamv1.SetNationalQuorum{Quorum: 1}, "twice", exp, n0, n0)},
		{name: "agreement window ends before it starts", want: ErrRefused,
			entry: at(propose(henan, zhejiang, henan, t0+day, t0), "window", exp, fx.of[henan])},
		{name: "imposed agreement window ends before it starts", want: ErrRefused,
			entry: at(&roamv1.ImposeAgreement{Host: henan, Issuer: zhejiang, EffectiveFrom: t0 + day, EffectiveUntil: t0}, "impose-window", exp, n0)},
		{name: "issuer key window ends before it starts", want: ErrRefused, entry: func(t *testing.T, h *harness) []byte {
			k := addKey(ed[0], zhejiang)
			k.Key.NotAfter = k.Key.NotBefore - 1
			return signEntry(t, payloadOf(t, k, "key-window", exp), zjAdmin)
		}},
		{name: "ill-formed jurisdiction code", want: ErrRefused, entry: at(jur("33000", "x"), "ill-formed", exp, n0)},
		{name: "ill-formed foreign code", want: ErrRefused, entry: at(jur("XX-at", "x"), "ill-formed-foreign", exp, n0)},
		{name: "agreement with an unknown host", want: ErrRefused, entry: at(propose(unknownID, zhejiang, zhejiang, t0, 0), "unknown-host", exp, zjAdmin)},
		{name: "imposed agreement with an ill-formed issuer", want: ErrRefused,
			entry: at(&roamv1.ImposeAgreement{Host: henan, Issuer: "33000", EffectiveFrom: t0}, "impose-unknown", exp, n0)},
		{name: "admin key for an unknown jurisdiction", want: ErrRefused, entry: at(addAdmin(fx.of[unknownID].rec), "unknown-admin", exp, n0)},
		{name: "admin key with an ill-formed jurisdiction", want: ErrRefused, entry: func(t *testing.T, h *harness) []byte {
			k := proto.Clone(fx.second.rec).(*roamv1.AdminKey)
			k.Jurisdiction = "3300"
			return signEntry(t, payloadOf(t, addAdmin(k), "ill-admin", exp), n0)
		}},
		{name: "hub admission of an unknown jurisdiction", want: ErrRefused, entry: at(&roamv1.JoinHub{Jurisdiction: unknownID, EffectiveFrom: t0}, "hub-unknown", exp, n0)},
		{name: "offboarding an unknown jurisdiction", want: ErrRefused, entry: at(&roamv1.RemoveJurisdiction{Id: unknownID}, "remove-unknown", exp, n0)},
		{name: "offboarding the national platform", want: ErrRefused, entry: at(&roamv1.RemoveJurisdiction{Id: National}, "remove-national", exp, n0)},
		{name: "revoking an unknown admin key", want: ErrRefused, entry: at(&roamv1.RevokeAdminKey{Kid: fx.stranger.kid()}, "revoke-unknown", exp, n0)},
		{name: "revoking below the quorum", want: ErrRefused,
			setup: []proto.Message{&roamv1.RevokeAdminKey{Kid: n2.kid()}},
			entry: at(&roamv1.RevokeAdminKey{Kid: n1.kid()}, "below-quorum", exp, n0, n1)},
		{name: "quorum above the active national keys", want: ErrRefused, entry: at(&roamv1.SetNationalQuorum{Quorum: 4}, "quorum-4", exp, n0, n1)},
		{name: "quorum zero", want: ErrRefused, entry: at(&roamv1.SetNationalQuorum{Quorum: 0}, "quorum-0", exp, n0, n1)},
		{name: "expired: expires_at equals AppendedAt", want: ErrExpired, entry: at(sh, "exp-eq", appendedAt.Unix(), n0)},
		{name: "expired: expires_at before AppendedAt", want: ErrExpired, entry: at(sh, "exp-before", appendedAt.Unix()-1, n0)},
		{name: "expired long ago", want: ErrExpired, entry: at(sh, "exp-zero", 0, n0)},
		{name: "expires more than 24h after AppendedAt", want: ErrExpired, entry: at(sh, "exp-far", appendedAt.Unix()+int64(MaxCommandTTL/time.Second)+1, n0)},
		{name: "appended after it expired", want: ErrExpired, at: appendedAt.Add(time.Duration(testTTL) * time.Second), entry: at(sh, "late", exp, n0)},
		{name: "non-genesis command first", bare: true, want: ErrNotInitialized, entry: at(sh, "first", exp, n0)},
		{name: "unsigned garbage first", bare: true, want: ErrBadCommand, entry: func(*testing.T, *harness) []byte { return []byte{0xff} }},
		{name: "second genesis by the quorum", want: ErrRefused, entry: at(fx.genesisMsg(), "genesis-2", exp, n0, n1)},
		{name: "second genesis by keys it installs", want: ErrBadSignature, entry: func(t *testing.T, h *harness) []byte {
			g := &roamv1.Genesis{Quorum: 1, NationalAdmins: []*roamv1.AdminKey{strangerNational}}
			return signEntry(t, payloadOf(t, g, "genesis-forged", exp), fx.stranger)
		}},
		{name: "genesis below quorum", bare: true, want: ErrUnauthorized, entry: at(genesis(2, n0, n1, n2), "genesis", exp, n0)},
		{name: "genesis signed twice by one key", bare: true, want: ErrUnauthorized, entry: at(genesis(2, n0, n1, n2), "genesis", exp, n0, n0)},
		// No set of distinct signatures can reach a quorum above N: the
		// signature count is checked first.
		{name: "genesis with quorum above N", bare: true, want: ErrUnauthorized, entry: at(genesis(4, n0, n1, n2), "genesis", exp, n0, n1, n2)},
		{name: "genesis with quorum zero", bare: true, want: ErrRefused, entry: at(genesis(0, n0, n1, n2), "genesis", exp, n0)},
		{name: "genesis signed by a key it does not install", bare: true, want: ErrBadSignature, entry: at(genesis(1, n0), "genesis", exp, n1)},
		{name: "genesis installing a jurisdiction's key", bare: true, want: ErrBadSignature, entry: at(genesis(1, zjAdmin), "genesis", exp, zjAdmin)},
		{name: "genesis without keys", bare: true, want: ErrBadSignature, entry: at(genesis(0), "genesis", exp, n0)},
		{name: "expired genesis", bare: true, want: ErrExpired, entry: at(genesis(2, n0, n1, n2), "genesis", appendedAt.Unix(), n0, n1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newBareHarness(t)
			if !tc.bare {
				h = newHarness(t)
				h.must(baseJurisdictions()...)
			}
			h.must(tc.setup...)
			data := tc.entry(t, h)
			before := stateNoIndex(h.fsm)
			nAudit := len(h.fsm.Audit(0, 0))
			h.idx++
			when := appendedAt
			if !tc.at.IsZero() {
				when = tc.at
			}
			res := applyAtTime(t, h.fsm, h.idx, when, data)
			assertExactly(t, res.Err, tc.want)
			if after := stateNoIndex(h.fsm); !proto.Equal(before, after) {
				t.Errorf("rejected entry changed the state:\nbefore %v\nafter  %v", before, after)
			}
			recs := h.fsm.Audit(0, 0)
			if len(recs) != nAudit+1 {
				t.Fatalf("audit has %d records, want %d", len(recs), nAudit+1)
			}
			if r := recs[nAudit]; r.GetAccepted() || r.GetReason() != res.Err.Error() || r.GetIndex() != h.idx || r.GetTime() != when.Unix() || !bytes.Equal(r.GetEntry(), data) {
				t.Errorf("audit record %v does not record the rejection %v", r, res.Err)
			}
			if h.fsm.AppliedIndex() != h.idx {
				t.Errorf("AppliedIndex = %d, want %d", h.fsm.AppliedIndex(), h.idx)
			}
		})
	}
}

// assertExactly checks err wraps want and no other governance sentinel;
// want ErrRefused alone means a refusal by the state (a handler), which
// wraps none of the specific sentinels.
func assertExactly(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	if want != ErrBadCommand && !errors.Is(err, ErrRefused) {
		t.Errorf("err = %v does not wrap ErrRefused", err)
	}
	for _, other := range []error{ErrUnauthorized, ErrBadSignature, ErrExpired, ErrReplayed, ErrNotInitialized, ErrBadCommand} {
		if other != want && errors.Is(err, other) {
			t.Errorf("err = %v also wraps %v, want exactly %v", err, other, want)
		}
	}
	if want == ErrBadCommand && errors.Is(err, ErrRefused) {
		t.Errorf("err = %v wraps both ErrBadCommand and ErrRefused", err)
	}
}

// Flipping any one bit of a signed payload never gets through: the entry
// is rejected (bad signature, or undecodable) and changes nothing.
func TestTamperEveryPayloadByte(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	tok := tokensOf(t, h.entry(propose(henan, zhejiang, henan, t0, 0, "green"), h.fx.of[henan]))[0]
	p := payloadBytes(t, tok)
	before := stateNoIndex(h.fsm)
	for i := range p {
		q := append([]byte{}, p...)
		q[i] ^= 0x01
		res := h.applyBytes(entryOf(t, withPayload(t, tok, q)))
		if !errors.Is(res.Err, ErrBadSignature) && !errors.Is(res.Err, ErrBadCommand) {
			t.Fatalf("payload byte %d flipped: %v, want a bad signature or bad command", i, res.Err)
		}
	}
	if !proto.Equal(before, stateNoIndex(h.fsm)) {
		t.Fatal("a tampered entry changed the state")
	}
	if res := h.applyBytes(entryOf(t, tok)); res.Err != nil {
		t.Fatalf("the untampered entry: %v", res.Err)
	}
}

func TestReplay(t *testing.T) {
	fx := testFixture(t)
	n0, zj := fx.national[0], fx.of[zhejiang]
	exp := appendedAt.Unix() + testTTL

	t.Run("same entry twice", func(t *testing.T) {
		h := newHarness(t)
		h.must(baseJurisdictions()...)
		e := h.entry(jur(shanghai, "Shanghai"), n0)
		if res := h.applyBytes(e); res.Err != nil {
			t.Fatal(res.Err)
		}
		before := stateNoIndex(h.fsm)
		res := h.applyBytes(e)
		assertExactly(t, res.Err, ErrReplayed)
		if !proto.Equal(before, stateNoIndex(h.fsm)) {
			t.Fatal("replay changed the state")
		}
		// The genesis entry too.
		assertExactly(t, h.applyBytes(fx.genesisEntry(t)).Err, ErrReplayed)
	})
	t.Run("same id, another command", func(t *testing.T) {
		h := newHarness(t)
		h.must(baseJurisdictions()...)
		if res := h.applyBytes(signEntry(t, payloadOf(t, revoke(zhejiang, "a"), "dup", exp), zj)); res.Err != nil {
			t.Fatal(res.Err)
		}
		assertExactly(t, h.applyBytes(signEntry(t, payloadOf(t, revoke(zhejiang, "b"), "dup", exp), zj)).Err, ErrReplayed)
		if h.fsm.CodeRevoked(zhejiang, "b") {
			t.Fatal("a command reusing an id was applied")
		}
	})
	t.Run("a rejected command's id is used up", func(t *testing.T) {
		// A signed, fresh command uses up its id even when refused: it can
		// never be replayed into success after the state changes.
		h := newHarness(t)
		h.must(baseJurisdictions()...)
		early := signEntry(t, payloadOf(t, accept(AgreementID(henan, zhejiang), 1, zhejiang), "early", exp), zj)
		assertExactly(t, h.applyBytes(early).Err, ErrRefused) // nothing to accept yet
		h.must(propose(henan, zhejiang, henan, 1582819200, 0))
		assertExactly(t, h.applyBytes(early).Err, ErrReplayed)
	})
	t.Run("forgotten ids are expired anyway", func(t *testing.T) {
		h := newHarness(t)
		h.must(baseJurisdictions()...)
		first := signEntry(t, payloadOf(t, revoke(zhejiang, "first"), "first", appendedAt.Unix()+60), zj)
		if res := h.applyBytes(first); res.Err != nil {
			t.Fatal(res.Err)
		}
		// More than 1024 remembered ids, appended after "first" expired:
		// the replay cache drops it.
		later := appendedAt.Add(120 * time.Second)
		for i := range 1025 {
			h.idx++
			e := signEntry(t, payloadOf(t, revoke(zhejiang, fmt.Sprint(i)), fmt.Sprintf("fill-%d", i), later.Unix()+testTTL), zj)
			if res := applyAtTime(t, h.fsm, h.idx, later, e); res.Err != nil {
				t.Fatal(res.Err)
			}
		}
		for _, c := range h.fsm.State().GetSeenCommands() {
			if c.GetId() == "first" {
				t.Fatal("the replay cache still holds an expired id")
			}
		}
		h.idx++
		assertExactly(t, applyAtTime(t, h.fsm, h.idx, later, first).Err, ErrExpired)
	})
}

// --- audit ---

func TestAuditTrail(t *testing.T) {
	fx := testFixture(t)
	n0, n1 := fx.national[0], fx.national[1]
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	type step struct {
		data    []byte
		at      time.Time
		id      string
		typ     roamv1.CommandType
		signers []*admin
		err     error
	}
	exp := appendedAt.Unix() + testTTL
	ok := signEntry(t, payloadOf(t, jur(shanghai, "Shanghai"), "a-ok", exp), n0)
	steps := []step{
		{data: ok, id: "a-ok", typ: roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION, signers: []*admin{n0}},
		{data: signEntry(t, payloadOf(t, &roamv1.SetNationalQuorum{Quorum: 3}, "a-quorum", exp), n0, n1), id: "a-quorum",
			typ: roamv1.CommandType_COMMAND_TYPE_SET_NATIONAL_QUORUM, signers: []*admin{n0, n1}},
		{data: signEntry(t, payloadOf(t, jur(hebei, "Hebei"), "a-unauth", exp), fx.of[henan]), id: "a-unauth",
			typ: roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION, signers: []*admin{fx.of[henan]}, err: ErrUnauthorized},
		{data: signEntry(t, payloadOf(t, jur(hebei, "Hebei"), "a-badsig", exp), fx.stranger), err: ErrBadSignature},
		{data: []byte("not a command"), err: ErrBadCommand},
		{data: signEntry(t, payloadOf(t, jur(hebei, "Hebei"), "a-expired", exp), n0), at: appendedAt.Add(time.Hour), id: "a-expired",
			typ: roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION, signers: []*admin{n0}, err: ErrExpired},
		{data: ok, id: "a-ok", typ: roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION, signers: []*admin{n0}, err: ErrReplayed},
		{data: signEntry(t, payloadOf(t, &roamv1.RemoveMember{NodeId: "nobody"}, "a-refused", exp), n0), id: "a-refused",
			typ: roamv1.CommandType_COMMAND_TYPE_REMOVE_MEMBER, signers: []*admin{n0}, err: ErrRefused},
	}
	startAudit := len(h.fsm.Audit(0, 0))
	firstIdx := h.idx + 1
	for i, s := range steps {
		h.idx++
		when := appendedAt
		if !s.at.IsZero() {
			when = s.at
		}
		res := applyAtTime(t, h.fsm, h.idx, when, s.data)
		if s.err == nil && res.Err != nil || s.err != nil && !errors.Is(res.Err, s.err) {
			t.Fatalf("step %d: %v, want %v", i, res.Err, s.err)
		}
		r := lastAudit(t, h.fsm)
		var kids, js []string
		for _, a := range s.signers {
			kids = append(kids, a.kid())
			js = append(js, a.rec.GetJurisdiction())
		}
		want := &roamv1.AuditRecord{
			Index: h.idx, Time: when.Unix(), CommandId: s.id, Type: s.typ, Signers: kids, SignerJurisdictions: js,
			Accepted: s.err == nil, Entry: s.data, Summary: res.Summary, Chain: r.GetChain(),
		}
		if s.err != nil {
			want.Reason = res.Err.Error()
		}
		if !proto.Equal(r, want) {
			t.Errorf("step %d: audit record\n%v\nwant\n%v", i, r, want)
		}
	}

	// Exactly one record per entry, in order, each chained on the last,
	// and the head is the fold of chainNext over them all.
	recs := h.fsm.Audit(0, 0)
	if len(recs) != int(h.idx) || len(recs)-startAudit != len(steps) {
		t.Fatalf("%d audit records for %d entries", len(recs), h.idx)
	}
	var chain []byte
	for i, r := range recs {
		if r.GetIndex() != uint64(i+1) {
			t.Fatalf("audit record %d has index %d", i, r.GetIndex())
		}
		chain = chainNext(chain, r)
		if !bytes.Equal(chain, r.GetChain()) {
			t.Fatalf("audit record %d: chain does not follow", r.GetIndex())
		}
	}
	if !bytes.Equal(chain, h.fsm.State().GetChainHead()) || len(chain) != 32 {
		t.Fatalf("chain head %x, want the fold %x", h.fsm.State().GetChainHead(), chain)
	}
	// Paging.
	if got := h.fsm.Audit(firstIdx-1, 2); len(got) != 2 || got[0].GetIndex() != firstIdx || got[1].GetIndex() != firstIdx+1 {
		t.Errorf("Audit(%d, 2) = %d records from %d", firstIdx-1, len(got), got[0].GetIndex())
	}
	if got := h.fsm.Audit(h.idx, 0); len(got) != 0 {
		t.Errorf("Audit(last) = %d records", len(got))
	}
	if h.fsm.State().GetAudit() != nil {
		t.Error("State() carries the audit trail")
	}

	// Snapshot → Restore keeps audit and chain, and both replicas go on
	// chaining identically.
	snap := snapshotBytes(t, h.fsm)
	back := restored(t, snap)
	sameAudit(t, h.fsm, back)
	e := h.entry(jur(hebei, "Hebei"))
	h.idx++
	applyAt(t, h.fsm, h.idx, e)
	applyAt(t, back, h.idx, e)
	sameAudit(t, h.fsm, back)
	if !bytes.Equal(snapshotBytes(t, h.fsm), snapshotBytes(t, back)) {
		t.Fatal("restored replica diverged")
	}
}

func sameAudit(t *testing.T, x, y *FSM) {
	t.Helper()
	ax, ay := x.Audit(0, 0), y.Audit(0, 0)
	if len(ax) != len(ay) {
		t.Fatalf("audit lengths %d vs %d", len(ax), len(ay))
	}
	for i := range ax {
		if !proto.Equal(ax[i], ay[i]) {
			t.Fatalf("audit record %d differs:\n%v\n%v", i, ax[i], ay[i])
		}
	}
	if !bytes.Equal(x.State().GetChainHead(), y.State().GetChainHead()) {
		t.Fatal("chain heads differ")
	}
}

// A snapshot whose history was edited or cut does not restore.
func TestRestoreDetectsEditedAudit(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	h.apply(jur("bad", "x")) // a rejected record, with a reason
	h.must(jur(shanghai, "Shanghai"))
	good := snapshotBytes(t, h.fsm)
	var snap roamv1.RegistrySnapshot
	if err := proto.Unmarshal(good, &snap); err != nil {
		t.Fatal(err)
	}
	rejected := -1
	for i, r := range snap.GetAudit() {
		if !r.GetAccepted() {
			rejected = i
		}
	}
	if rejected < 0 {
		t.Fatal("no rejected record")
	}
	edits := map[string]func(s *roamv1.RegistrySnapshot){
		// Found by review: a snapshot whose state (not its audit) was edited
		// used to be installed as it stood.
		"state edited, audit untouched": func(s *roamv1.RegistrySnapshot) {
			s.NationalQuorum = 1
		},
		"admin key added to the state only": func(s *roamv1.RegistrySnapshot) {
			k := proto.Clone(s.AdminKeys[0]).(*roamv1.AdminKey)
			k.Holder = "rogue"
			s.AdminKeys[0] = k
		},
		"reason edited": func(s *roamv1.RegistrySnapshot) { s.Audit[rejected].Reason = "nothing to see" },
		"reason erased": func(s *roamv1.RegistrySnapshot) { s.Audit[rejected].Reason = "" },
		"accepted flipped": func(s *roamv1.RegistrySnapshot) {
			s.Audit[rejected].Accepted = true
		},
		"entry edited": func(s *roamv1.RegistrySnapshot) {
			e := s.Audit[2].Entry
			s.Audit[2].Entry = append(append([]byte{}, e[:len(e)-1]...), e[len(e)-1]^1)
		},
		"index edited": func(s *roamv1.RegistrySnapshot) { s.Audit[3].Index++ },
		"first record cut": func(s *roamv1.RegistrySnapshot) {
			s.Audit = s.Audit[1:]
		},
		"middle record cut": func(s *roamv1.RegistrySnapshot) {
			s.Audit = append(append([]*roamv1.AuditRecord{}, s.Audit[:3]...), s.Audit[4:]...)
		},
		"last record cut": func(s *roamv1.RegistrySnapshot) { s.Audit = s.Audit[:len(s.Audit)-1] },
		"history cut":     func(s *roamv1.RegistrySnapshot) { s.Audit = nil },
		"head edited": func(s *roamv1.RegistrySnapshot) {
			s.ChainHead = append([]byte{}, s.ChainHead...)
			s.ChainHead[0] ^= 1
		},
		"head and last record rechained after an edit": func(s *roamv1.RegistrySnapshot) {
			// Re-chaining only the edited tail is not enough: the edited
			// record's successors still commit to its old hash.
			s.Audit[rejected].Reason = "nothing to see"
			s.Audit[rejected].Chain = chainNext(s.Audit[rejected-1].GetChain(), s.Audit[rejected])
		},
	}
	if rejected == 0 || len(snap.GetAudit()) < 5 {
		t.Fatalf("the edits below need a rejected record after the first and 5 records; have %d", len(snap.GetAudit()))
	}
	names := make([]string, 0, len(edits))
	for n := range edits {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c := proto.Clone(&snap).(*roamv1.RegistrySnapshot)
			edits[name](c)
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			f := restored(t, good)
			before := snapshotBytes(t, f)
			err = f.Restore(readCloser{bytes.NewReader(b)})
			// Restore replays the snapshot's records, so an edit shows as
			// a replay that disagrees, a broken chain, or another genesis.
			if !errors.Is(err, ErrAuditMismatch) {
				t.Fatalf("Restore of an edited snapshot: %v, want ErrAuditMismatch", err)
			}
			if !bytes.Equal(before, snapshotBytes(t, f)) {
				t.Fatal("failed Restore changed the replica")
			}
		})
	}
}

// VerifyAudit (roamctl audit verify) replays a trail through a fresh FSM
// and reports the first record the replay disagrees with.
func TestVerifyAudit(t *testing.T) {
	h := newHarness(t)
	h.must(goldenScript(t)...)
	h.applyAs(jur(shanghai, "Shanghai"), h.fx.of[zhejiang]) // a rejection
	recs, head := h.fsm.Audit(0, 0), h.fsm.State().GetChainHead()
	f, err := VerifyAudit(recs, head)
	if err != nil {
		t.Fatalf("VerifyAudit of an untouched trail: %v", err)
	}
	if !proto.Equal(f.State(), h.fsm.State()) {
		t.Fatal("the replay reached another state")
	}
	last := len(recs) - 1
	edit := func(i int, mut func(r *roamv1.AuditRecord)) []*roamv1.AuditRecord {
		out := make([]*roamv1.AuditRecord, len(recs))
		for j, r := range recs {
			out[j] = proto.Clone(r).(*roamv1.AuditRecord)
		}
		mut(out[i])
		return out
	}
	for name, c := range map[string]struct {
		recs []*roamv1.AuditRecord
		head []byte
	}{
		"reason edited":     {edit(last, func(r *roamv1.AuditRecord) { r.Reason = "fine" }), head},
		"rejection hidden":  {edit(last, func(r *roamv1.AuditRecord) { r.Accepted, r.Reason = true, "" }), head},
		"entry edited":      {edit(5, func(r *roamv1.AuditRecord) { r.Entry = append(append([]byte{}, r.Entry[:len(r.Entry)-2]...), 'A', 'A') }), head},
		"time past expiry":  {edit(5, func(r *roamv1.AuditRecord) { r.Time += testTTL }), head},
		"record cut":        {append(append([]*roamv1.AuditRecord{}, recs[:5]...), recs[6:]...), head},
		"last records cut":  {recs[:last-1], head},
		"head edited":       {recs, append([]byte{1}, head[1:]...)},
		"indexes reordered": {edit(6, func(r *roamv1.AuditRecord) { r.Index = recs[5].GetIndex() }), head},
	} {
		if _, err := VerifyAudit(c.recs, c.head); !errors.Is(err, ErrAuditMismatch) {
			t.Errorf("VerifyAudit(%s) = %v, want ErrAuditMismatch", name, err)
		}
	}
}

// --- Check, SignCommand, ES256 admins ---

func TestCheck(t *testing.T) {
	fx := testFixture(t)
	exp := appendedAt.Unix() + testTTL
	add := signEntry(t, payloadOf(t, member("n9", zhejiang), "check-ok", exp), fx.national[0])

	bare := newBareHarness(t)
	if _, err := bare.fsm.Check(add, appendedAt); !errors.Is(err, ErrNotInitialized) {
		t.Errorf("Check before genesis: %v, want ErrNotInitialized", err)
	}

	h := newHarness(t)
	h.must(baseJurisdictions()...)
	before, nAudit, idx := snapshotBytes(t, h.fsm), len(h.fsm.Audit(0, 0)), h.fsm.AppliedIndex()
	cp, err := h.fsm.Check(add, appendedAt)
	if err != nil || cp.GetId() != "check-ok" || cp.GetCommand().GetType() != roamv1.CommandType_COMMAND_TYPE_UPSERT_MEMBER {
		t.Fatalf("Check = %v, %v", cp, err)
	}
	for name, c := range map[string]struct {
		entry []byte
		at    time.Time
		want  error
	}{
		"unauthorized":  {signEntry(t, payloadOf(t, member("n9", zhejiang), "check-zj", exp), fx.of[zhejiang]), appendedAt, ErrUnauthorized},
		"bad signature": {signEntry(t, payloadOf(t, member("n9", zhejiang), "check-x", exp), fx.stranger), appendedAt, ErrBadSignature},
		"expired":       {add, appendedAt.Add(time.Hour), ErrExpired},
		"garbage":       {[]byte{0xff}, appendedAt, ErrBadCommand},
	} {
		if _, err := h.fsm.Check(c.entry, c.at); !errors.Is(err, c.want) {
			t.Errorf("Check(%s) = %v, want %v", name, err, c.want)
		}
	}
	if !bytes.Equal(before, snapshotBytes(t, h.fsm)) || len(h.fsm.Audit(0, 0)) != nAudit || h.fsm.AppliedIndex() != idx {
		t.Fatal("Check changed the registry")
	}
	// Apply agrees, then Check sees the replay.
	h.idx++
	if res := applyAt(t, h.fsm, h.idx, add); res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, err := h.fsm.Check(add, appendedAt); !errors.Is(err, ErrReplayed) {
		t.Errorf("Check after Apply: %v, want ErrReplayed", err)
	}
}

func TestSignCommand(t *testing.T) {
	fx := testFixture(t)
	n0 := fx.national[0].signer
	h := newHarness(t)
	now := appendedAt.Add(time.Minute)
	sc, id, err := SignCommand(jur(shanghai, "Shanghai"), now, DefaultCommandTTL, n0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := EncodeSigned(sc)
	if err != nil {
		t.Fatal(err)
	}
	h.idx++
	if res := applyAtTime(t, h.fsm, h.idx, now, data); res.Err != nil {
		t.Fatal(res.Err)
	}
	if r := lastAudit(t, h.fsm); r.GetCommandId() != id || len(id) != 22 || !r.GetAccepted() {
		t.Fatalf("audit %v, command id %q", r, id)
	}
	_, id2, err := SignCommand(jur(shanghai, "Shanghai"), now, DefaultCommandTTL, n0)
	if err != nil || id2 == id {
		t.Fatalf("second SignCommand id %q (first %q): %v", id2, id, err)
	}
	// A quorum command carries one signature per signer.
	sc, _, err = SignCommand(&roamv1.SetNationalQuorum{Quorum: 1}, now, time.Minute, fx.national[0].signer, fx.national[1].signer)
	if err != nil || len(sc.GetSignatures()) != nationalQuorum {
		t.Fatalf("quorum SignCommand: %v, %v", sc, err)
	}
	data, _ = EncodeSigned(sc)
	h.idx++
	if res := applyAtTime(t, h.fsm, h.idx, now, data); res.Err != nil {
		t.Fatal(res.Err)
	}
	// Appended after its expiry, it is refused.
	sc, _, _ = SignCommand(jur(hebei, "Hebei"), now, time.Minute, n0)
	data, _ = EncodeSigned(sc)
	h.idx++
	assertExactly(t, applyAtTime(t, h.fsm, h.idx, now.Add(time.Minute), data).Err, ErrExpired)

	for name, f := range map[string]func() error{
		"no signer": func() error { _, _, err := SignCommand(jur(hebei, "Hebei"), now, time.Minute); return err },
		"zero ttl":  func() error { _, _, err := SignCommand(jur(hebei, "Hebei"), now, 0, n0); return err },
		"ttl > 24h": func() error {
			_, _, err := SignCommand(jur(hebei, "Hebei"), now, MaxCommandTTL+time.Second, n0)
			return err
		},
		"no command": func() error { _, _, err := SignCommand(&roamv1.Jurisdiction{}, now, time.Minute, n0); return err },
	} {
		if err := f(); !errors.Is(err, ErrBadCommand) {
			t.Errorf("SignCommand(%s) = %v, want ErrBadCommand", name, err)
		}
	}
}

// An ES256 admin key signs as well as an EdDSA one (randomised signatures:
// not used by the deterministic fixture).
func TestES256AdminKey(t *testing.T) {
	ed, _ := testKeys(t)
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	es := newAdmin(t, roamjws.ES256, zhejiang)
	h.must(addAdmin(es.rec))
	if res := h.applyAs(addKey(ed[0], zhejiang), es); res.Err != nil {
		t.Fatalf("ES256 admin: %v", res.Err)
	}
	if r := lastAudit(t, h.fsm); len(r.GetSigners()) != 1 || r.GetSigners()[0] != es.kid() || r.GetSignerJurisdictions()[0] != zhejiang {
		t.Fatalf("audit %v", r)
	}
	// Its alg is the registered one: an EdDSA signature naming its kid fails.
	e := entryOf(t, signWithKid(t, h.fx.of[zhejiang].priv, es.kid(), marshalPayload(t, payloadOf(t, revoke(zhejiang, "x"), "es-kid", appendedAt.Unix()+testTTL))))
	assertExactly(t, h.applyBytes(e).Err, ErrBadSignature)
}

// TestNationalSuspensionStays: after a national suspension the parties
// cannot lift it by accepting new terms; a national admin can, by imposing.
// Found by review: Beijing proposed v2 and Tianjin accepted it.
func TestNationalSuspensionStays(t *testing.T) {
	fx := testFixture(t)
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	id := AgreementID(henan, zhejiang)
	h.must(propose(henan, zhejiang, henan, 1582819200, 0), accept(id, 1, zhejiang))
	if res := h.applyAs(&roamv1.SuspendAgreement{Id: id, By: national, Reason: "national review"}, fx.national[0]); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := h.apply(propose(henan, zhejiang, henan, 1582819200, 0)); !errors.Is(res.Err, ErrUnauthorized) {
		t.Fatalf("parties proposing new terms under a national suspension: %v, want ErrUnauthorized", res.Err)
	}
	if res := h.apply(accept(id, 2, zhejiang)); !errors.Is(res.Err, ErrRefused) {
		t.Fatalf("parties lifting a national suspension: %v", res.Err)
	}
	if res := h.applyAs(&roamv1.ImposeAgreement{Host: henan, Issuer: zhejiang, EffectiveFrom: 1582819200}, fx.national[0]); res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, _, aerr := h.fsm.AgreementAt(henan, zhejiang, time.Unix(1583110800, 0)); aerr != nil {
		t.Fatalf("after impose: %v", aerr)
	}
}

// TestMemberNeedsRegisteredJurisdiction: a node cannot be recorded for a
// jurisdiction that was never onboarded. Found by review.
func TestMemberNeedsRegisteredJurisdiction(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	res := h.apply(&roamv1.UpsertMember{Member: &roamv1.Member{NodeId: "x", Jurisdiction: "440000", RaftAddress: "h:1", GrpcAddress: "h:2"}})
	if !errors.Is(res.Err, ErrRefused) {
		t.Fatalf("member of an unregistered jurisdiction: %v", res.Err)
	}
}

// TestNationalSuspensionBypasses: the two ways a second review found around
// a national suspension — a party suspending first, and terminating then
// starting the pair over — are closed.
func TestNationalSuspensionBypasses(t *testing.T) {
	fx := testFixture(t)
	id := AgreementID(henan, zhejiang)
	active := func(t *testing.T) *harness {
		h := newHarness(t)
		h.must(baseJurisdictions()...)
		h.must(propose(henan, zhejiang, henan, 1582819200, 0), accept(id, 1, zhejiang))
		return h
	}
	t.Run("party suspends first, national takes over", func(t *testing.T) {
		h := active(t)
		h.must(&roamv1.SuspendAgreement{Id: id, By: henan, Reason: "local"})
		if res := h.applyAs(&roamv1.SuspendAgreement{Id: id, By: national, Reason: "national review"}, fx.national[0]); res.Err != nil {
			t.Fatalf("national suspension of a suspended agreement: %v", res.Err)
		}
		if res := h.apply(propose(henan, zhejiang, henan, 1582819200, 0)); !errors.Is(res.Err, ErrUnauthorized) {
			t.Fatalf("new terms after a national suspension: %v", res.Err)
		}
	})
	t.Run("terminate and start over", func(t *testing.T) {
		h := active(t)
		if res := h.applyAs(&roamv1.SuspendAgreement{Id: id, By: national, Reason: "national review"}, fx.national[0]); res.Err != nil {
			t.Fatal(res.Err)
		}
		h.must(&roamv1.TerminateAgreement{Id: id, By: henan, Reason: "give up"})
		if res := h.apply(propose(henan, zhejiang, henan, 1582819200, 0)); !errors.Is(res.Err, ErrUnauthorized) {
			t.Fatalf("starting over after a national suspension: %v", res.Err)
		}
	})
}

// TestPinnedGenesis: a replica pinned to one genesis (a joining node with
// the genesis file in its config) refuses another genesis in the log and a
// snapshot that starts from another. Found by review: an empty node took
// whatever registry the first CA-signed leader sent.
func TestPinnedGenesis(t *testing.T) {
	fx := testFixture(t)
	ours := fx.genesisEntry(t)
	// Another federation: same fixture keys, a different genesis command.
	g2 := fx.genesisMsg()
	g2.Quorum = 1
	theirs := signEntry(t, payloadOf(t, g2, "other-genesis", appendedAt.Unix()+testTTL), fx.national[0])

	f := NewFSM()
	f.PinGenesis(ours)
	res := applyAtTime(t, f, 1, appendedAt, theirs)
	if !errors.Is(res.Err, ErrUnauthorized) || f.Initialized() {
		t.Fatalf("another genesis on a pinned replica: %v (initialized %v)", res.Err, f.Initialized())
	}

	other := NewFSM()
	if res := applyAtTime(t, other, 1, appendedAt, theirs); res.Err != nil {
		t.Fatal(res.Err)
	}
	snap := snapshotBytes(t, other)
	g := NewFSM()
	g.PinGenesis(ours)
	if err := g.Restore(readCloser{bytes.NewReader(snap)}); !errors.Is(err, ErrAuditMismatch) {
		t.Fatalf("snapshot from another genesis on a pinned replica: %v", err)
	}
}
