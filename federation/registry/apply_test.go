package registry

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// applyCase applies setup (which must all succeed, each signed as the right
// role) after genesis and the base jurisdictions, then cmd, signed as the
// right role (or by, when set), and checks the outcome. A refused command
// must leave State() unchanged except for the index and the audit chain
// head, and add exactly one rejected audit record.
type applyCase struct {
	name  string
	setup []proto.Message
	cmd   proto.Message // or raw
	raw   []byte
	by    []*admin // signers of cmd; default fixture.signersFor
	want  error    // nil, ErrRefused or ErrBadCommand
	// kind, when set, is the more specific sentinel the error must also
	// wrap (ErrUnauthorized, ErrBadSignature, ...). Cases whose refusal
	// moved from the handler to the authority check (issue 3) say so here.
	kind  error
	check func(t *testing.T, st *roamv1.RegistrySnapshot)
}

func runApplyCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.must(baseJurisdictions()...)
			h.must(tc.setup...)
			before := stateNoIndex(h.fsm)
			auditBefore := len(h.fsm.Audit(0, 0))
			data := tc.raw
			if tc.cmd != nil {
				data = h.entry(tc.cmd, tc.by...)
			}
			res := h.applyBytes(data)
			if h.fsm.AppliedIndex() != h.idx {
				t.Errorf("AppliedIndex = %d, want %d (refused commands still advance it)", h.fsm.AppliedIndex(), h.idx)
			}
			switch {
			case tc.want == nil && res.Err != nil:
				t.Fatalf("Apply: %v, want success", res.Err)
			case tc.want != nil && !errors.Is(res.Err, tc.want):
				t.Fatalf("Apply err = %v, want %v", res.Err, tc.want)
			case tc.kind != nil && !errors.Is(res.Err, tc.kind):
				t.Fatalf("Apply err = %v, want it to wrap %v", res.Err, tc.kind)
			}
			checkAuditTail(t, h.fsm, auditBefore, h.idx, res.Err)
			after := stateNoIndex(h.fsm)
			if tc.want != nil {
				if !proto.Equal(before, after) {
					t.Errorf("refused command changed the state:\nbefore %v\nafter  %v", before, after)
				}
				if res.Summary != "" {
					t.Errorf("refused command has summary %q", res.Summary)
				}
			} else {
				if res.Summary == "" {
					t.Error("accepted command has no summary")
				}
				// Every accepted command records its id; beyond that it
				// should change something.
				before.SeenCommands, after.SeenCommands = nil, nil
				if proto.Equal(before, after) && tc.check == nil {
					t.Error("accepted command changed nothing and the case has no check")
				}
			}
			if tc.check != nil {
				tc.check(t, h.fsm.State())
			}
		})
	}
}

// checkAuditTail checks that the entry at idx added exactly one audit
// record, with its outcome, chained onto the one before.
func checkAuditTail(t *testing.T, f *FSM, before int, idx uint64, err error) {
	t.Helper()
	recs := f.Audit(0, 0)
	if len(recs) != before+1 {
		t.Fatalf("audit grew from %d to %d records, want one more", before, len(recs))
	}
	r := recs[len(recs)-1]
	var prev []byte
	if before > 0 {
		prev = recs[before-1].GetChain()
	}
	if r.GetIndex() != idx || r.GetTime() != appendedAt.Unix() || r.GetAccepted() != (err == nil) ||
		!bytes.Equal(r.GetChain(), chainNext(prev, r)) || !bytes.Equal(f.State().GetChainHead(), r.GetChain()) {
		t.Errorf("audit record %v does not record entry %d (err %v) on the chain", r, idx, err)
	}
	if err != nil && r.GetReason() != err.Error() {
		t.Errorf("audit reason %q, want %q", r.GetReason(), err.Error())
	}
	if err == nil && r.GetReason() != "" {
		t.Errorf("accepted entry has audit reason %q", r.GetReason())
	}
}

func findKey(st *roamv1.RegistrySnapshot, kid string) *roamv1.IssuerKey {
	for _, k := range st.GetKeys() {
		if k.GetKid() == kid {
			return k
		}
	}
	return nil
}

func findAgreement(st *roamv1.RegistrySnapshot, id string) *roamv1.Agreement {
	for _, a := range st.GetAgreements() {
		if a.GetId() == id {
			return a
		}
	}
	return nil
}

func wantAgreement(id string, state roamv1.AgreementState, version uint64) func(*testing.T, *roamv1.RegistrySnapshot) {
	return func(t *testing.T, st *roamv1.RegistrySnapshot) {
		t.Helper()
		a := findAgreement(st, id)
		if a == nil {
			t.Fatalf("agreement %s missing", id)
		}
		if a.GetState() != state || a.GetVersion() != version {
			t.Fatalf("agreement %s is %s v%d, want %s v%d", id, a.GetState(), a.GetVersion(), state, version)
		}
	}
}

func TestApplyUpsertJurisdiction(t *testing.T) {
	ok := func(id string) func(*testing.T, *roamv1.RegistrySnapshot) {
		return func(t *testing.T, st *roamv1.RegistrySnapshot) {
			for _, j := range st.GetJurisdictions() {
				if j.GetId() == id {
					return
				}
			}
			t.Fatalf("jurisdiction %s not registered", id)
		}
	}
	cases := []applyCase{
		{name: "gb2260 province", cmd: jur(shanghai, "Shanghai"), check: ok(shanghai)},
		{name: "gb2260 city", cmd: jur("330100", "Hangzhou"), check: ok("330100")},
		{name: "national platform record is fixed by the genesis", cmd: jur(national, "Hijacked"), want: ErrRefused},
		{name: "foreign XX-AT", cmd: jur("XX-DE", "Germany"), check: ok("XX-DE")},
		{name: "rename", cmd: jur(zhejiang, "Zhejiang Province"), check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			for _, j := range st.GetJurisdictions() {
				if j.GetId() == zhejiang && j.GetName() == "Zhejiang Province" {
					return
				}
			}
			t.Fatalf("jurisdictions = %v, want Zhejiang renamed", st.GetJurisdictions())
		}},
		{name: "five digits", cmd: jur("33000", "x"), want: ErrRefused},
		{name: "seven digits", cmd: jur("3300000", "x"), want: ErrRefused},
		{name: "letters", cmd: jur("33000A", "x"), want: ErrRefused},
		{name: "fullwidth digits", cmd: jur("３３００００", "x"), want: ErrRefused},
		{name: "trailing newline", cmd: jur("330000\n", "x"), want: ErrRefused},
		{name: "leading space", cmd: jur(" 330000", "x"), want: ErrRefused},
		{name: "foreign lower case", cmd: jur("XX-at", "x"), want: ErrRefused},
		{name: "foreign alpha-3", cmd: jur("XX-AUT", "x"), want: ErrRefused},
		{name: "foreign without prefix", cmd: jur("AT", "x"), want: ErrRefused},
		{name: "foreign wrong prefix", cmd: jur("YY-AT", "x"), want: ErrRefused},
		{name: "empty id", cmd: jur("", "x"), want: ErrRefused},
		{name: "nil jurisdiction", cmd: &roamv1.UpsertJurisdiction{}, want: ErrRefused},
		{name: "empty name", cmd: jur(shanghai, ""), want: ErrRefused},
		{name: "blank name", cmd: jur(shanghai, " \t"), want: ErrRefused},
		{name: "name too long", cmd: jur(shanghai, strings.Repeat("n", 129)), want: ErrRefused},
		{name: "rename to blank refused", cmd: jur(zhejiang, " "), want: ErrRefused},
	}
	runApplyCases(t, cases)
}

func TestValidJurisdictionID(t *testing.T) {
	for id, want := range map[string]bool{
		"330000": true, "000000": true, "XX-AT": true, "XX-CN": true,
		"": false, "33000": false, "3300001": false, "XX-A": false, "XX-ATT": false,
		"xx-AT": false, "XX-at": false, "XX_AT": false, "330000 ": false, "٣٣٠٠٠٠": false,
	} {
		if got := ValidJurisdictionID(id); got != want {
			t.Errorf("ValidJurisdictionID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestApplyAddKey(t *testing.T) {
	ed, es := testKeys(t)
	k := func(mut func(*roamv1.IssuerKey)) *roamv1.AddKey {
		ik := issuerKey(ed[0], zhejiang)
		mut(ik)
		return &roamv1.AddKey{Key: ik}
	}
	added := func(kid string, alg string) func(*testing.T, *roamv1.RegistrySnapshot) {
		return func(t *testing.T, st *roamv1.RegistrySnapshot) {
			got := findKey(st, kid)
			if got == nil || got.GetAlg() != alg || got.GetState() != roamv1.KeyState_KEY_STATE_ACTIVE {
				t.Fatalf("key %s = %v, want active %s", kid, got, alg)
			}
			if got.GetStateChangedAt() != got.GetNotBefore() {
				t.Errorf("state_changed_at = %d, want not_before %d", got.GetStateChangedAt(), got.GetNotBefore())
			}
		}
	}
	cases := []applyCase{
		{name: "EdDSA ok", cmd: addKey(ed[0], zhejiang), check: added(ed[0].kid, "EdDSA")},
		{name: "ES256 ok", cmd: addKey(es[0], beijing), check: added(es[0].kid, "ES256")},
		{name: "foreign jurisdiction ok", cmd: addKey(ed[1], austria), check: added(ed[1].kid, "EdDSA")},
		{name: "open-ended not_after ok", cmd: k(func(ik *roamv1.IssuerKey) { ik.NotAfter = 0 }), check: added(ed[0].kid, "EdDSA")},
		{name: "jwk without kid member ok", cmd: k(func(ik *roamv1.IssuerKey) { ik.Jwk = withJWKField(t, ik.Jwk, "kid", nil) }), check: added(ed[0].kid, "EdDSA")},
		{name: "nil key", cmd: &roamv1.AddKey{}, want: ErrRefused},
		// No admin can act for an unregistered jurisdiction: since issue 3
		// these are refused by the authority check, before the handler.
		{name: "unregistered jurisdiction", cmd: addKey(ed[0], unknownID), want: ErrRefused, kind: ErrUnauthorized},
		{name: "empty jurisdiction", cmd: addKey(ed[0], ""), want: ErrRefused, kind: ErrUnauthorized},
		// Admin keys and issuer keys are distinct (issue 3 §1), both ways.
		{name: "admin key as issuer key", cmd: &roamv1.AddKey{Key: func() *roamv1.IssuerKey {
			a := mustFixture().of[zhejiang].rec
			ik := issuerKey(ed[0], zhejiang)
			ik.Kid, ik.Alg, ik.Jwk = a.GetKid(), a.GetAlg(), a.GetJwk()
			return ik
		}()}, want: ErrRefused},
		{name: "private EdDSA jwk", cmd: k(func(ik *roamv1.IssuerKey) { ik.Jwk = ed[0].priv }), want: ErrRefused},
		{name: "private ES256 jwk", cmd: &roamv1.AddKey{Key: func() *roamv1.IssuerKey {
			ik := issuerKey(es[0], zhejiang)
			ik.Jwk = es[0].priv
			return ik
		}()}, want: ErrRefused},
		{name: "kid not thumbprint", cmd: k(func(ik *roamv1.IssuerKey) { ik.Kid = ed[1].kid }), want: ErrRefused},
		{name: "kid empty", cmd: k(func(ik *roamv1.IssuerKey) { ik.Kid = "" }), want: ErrRefused},
		{name: "jwk kid member not thumbprint", cmd: k(func(ik *roamv1.IssuerKey) { ik.Jwk = withJWKField(t, ik.Jwk, "kid", ed[1].kid) }), want: ErrRefused},
		{name: "duplicate kid", setup: []proto.Message{addKey(ed[0], zhejiang)}, cmd: addKey(ed[0], zhejiang), want: ErrRefused},
		{name: "duplicate kid other jurisdiction", setup: []proto.Message{addKey(ed[0], zhejiang)}, cmd: addKey(ed[0], henan), want: ErrRefused},
		{name: "state unspecified", cmd: k(func(ik *roamv1.IssuerKey) { ik.State = roamv1.KeyState_KEY_STATE_UNSPECIFIED }), want: ErrRefused},
		{name: "state retired", cmd: k(func(ik *roamv1.IssuerKey) { ik.State = roamv1.KeyState_KEY_STATE_RETIRED }), want: ErrRefused},
		{name: "state revoked", cmd: k(func(ik *roamv1.IssuerKey) { ik.State = roamv1.KeyState_KEY_STATE_REVOKED }), want: ErrRefused},
		{name: "state out of range", cmd: k(func(ik *roamv1.IssuerKey) { ik.State = 42 }), want: ErrRefused},
		{name: "not_before zero", cmd: k(func(ik *roamv1.IssuerKey) { ik.NotBefore = 0 }), want: ErrRefused},
		{name: "not_before negative", cmd: k(func(ik *roamv1.IssuerKey) { ik.NotBefore = -1 }), want: ErrRefused},
		{name: "not_after equals not_before", cmd: k(func(ik *roamv1.IssuerKey) { ik.NotAfter = ik.NotBefore }), want: ErrRefused},
		{name: "not_after before not_before", cmd: k(func(ik *roamv1.IssuerKey) { ik.NotAfter = ik.NotBefore - 1 }), want: ErrRefused},
		{name: "alg mismatch EdDSA key as ES256", cmd: k(func(ik *roamv1.IssuerKey) { ik.Alg = "ES256" }), want: ErrRefused},
		{name: "alg mismatch ES256 key as EdDSA", cmd: &roamv1.AddKey{Key: func() *roamv1.IssuerKey {
			ik := issuerKey(es[0], zhejiang)
			ik.Alg = "EdDSA"
			return ik
		}()}, want: ErrRefused},
		{name: "alg HS256", cmd: k(func(ik *roamv1.IssuerKey) { ik.Alg = "HS256" }), want: ErrRefused},
		{name: "alg none", cmd: k(func(ik *roamv1.IssuerKey) { ik.Alg = "none" }), want: ErrRefused},
		{name: "jwk alg member differs", cmd: k(func(ik *roamv1.IssuerKey) { ik.Jwk = withJWKField(t, ik.Jwk, "alg", "ES256") }), want: ErrRefused},
		{name: "jwk not json", cmd: k(func(ik *roamv1.IssuerKey) { ik.Jwk = []byte("not json") }), want: ErrRefused},
		{name: "jwk empty", cmd: k(func(ik *roamv1.IssuerKey) { ik.Jwk = nil }), want: ErrRefused},
		{name: "jwk symmetric", cmd: k(func(ik *roamv1.IssuerKey) { ik.Jwk = []byte(`{"kty":"oct","k":"c2VjcmV0"}`) }), want: ErrRefused},
		// Ed25519 public keys are 32 bytes; crypto/ed25519 panics on any
		// other length, so the registry must never hold one.
		{name: "ed25519 x too short", cmd: shortKey(t, "AAAA", "EdDSA"), want: ErrRefused},
		{name: "ed25519 x empty", cmd: shortKey(t, "", "EdDSA"), want: ErrRefused},
		{name: "ed25519 x too long", cmd: shortKey(t, strings.Repeat("A", 44), "EdDSA"), want: ErrRefused},
		// A P-256 point that is not on the curve never verifies anything.
		{name: "p256 point off curve", cmd: rawJWKKey(t, `{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}`, "ES256"), want: ErrRefused},
	}
	runApplyCases(t, cases)
}

// rawJWKKey builds an AddKey for zhejiang from hand-written JWK JSON, with
// the kid it claims to be (its thumbprint as computed by the JWK library).
func rawJWKKey(t *testing.T, jwkJSON, alg string) *roamv1.AddKey {
	t.Helper()
	kid, err := thumbprintOf([]byte(jwkJSON))
	if err != nil {
		t.Fatal(err)
	}
	return &roamv1.AddKey{Key: &roamv1.IssuerKey{
		Kid: kid, Jurisdiction: zhejiang, Alg: alg, Jwk: []byte(jwkJSON),
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: t0,
	}}
}

func shortKey(t *testing.T, x, alg string) *roamv1.AddKey {
	return rawJWKKey(t, `{"kty":"OKP","crv":"Ed25519","x":"`+x+`"}`, alg)
}

func TestApplySetKeyState(t *testing.T) {
	ed, _ := testKeys(t)
	kid := ed[0].kid
	const (
		active  = roamv1.KeyState_KEY_STATE_ACTIVE
		retired = roamv1.KeyState_KEY_STATE_RETIRED
		revoked = roamv1.KeyState_KEY_STATE_REVOKED
	)
	at := t0 + 10*day
	with := func(extra ...proto.Message) []proto.Message {
		return append([]proto.Message{addKey(ed[0], zhejiang)}, extra...)
	}
	is := func(st roamv1.KeyState) func(*testing.T, *roamv1.RegistrySnapshot) {
		return func(t *testing.T, snap *roamv1.RegistrySnapshot) {
			k := findKey(snap, kid)
			if k.GetState() != st || k.GetStateChangedAt() != at {
				t.Fatalf("key = %s at %d, want %s at %d", k.GetState(), k.GetStateChangedAt(), st, at)
			}
		}
	}
	cases := []applyCase{
		{name: "active to retired", setup: with(), cmd: setKey(kid, retired, at), check: is(retired)},
		{name: "active to revoked", setup: with(), cmd: setKey(kid, revoked, at), check: is(revoked)},
		{name: "retired to revoked", setup: with(setKey(kid, retired, at-day)), cmd: setKey(kid, revoked, at), check: is(revoked)},
		{name: "revoked to active", setup: with(setKey(kid, revoked, at)), cmd: setKey(kid, active, at+1), want: ErrRefused},
		{name: "revoked to retired", setup: with(setKey(kid, revoked, at)), cmd: setKey(kid, retired, at+1), want: ErrRefused},
		{name: "revoked to revoked", setup: with(setKey(kid, revoked, at)), cmd: setKey(kid, revoked, at+1), want: ErrRefused},
		{name: "retired to active", setup: with(setKey(kid, retired, at)), cmd: setKey(kid, active, at+1), want: ErrRefused},
		{name: "retired to retired", setup: with(setKey(kid, retired, at)), cmd: setKey(kid, retired, at+1), want: ErrRefused},
		{name: "active to active", setup: with(), cmd: setKey(kid, active, at), want: ErrRefused},
		{name: "to unspecified", setup: with(), cmd: setKey(kid, roamv1.KeyState_KEY_STATE_UNSPECIFIED, at), want: ErrRefused},
		{name: "to out of range", setup: with(), cmd: setKey(kid, 9, at), want: ErrRefused},
		{name: "unknown kid", setup: with(), cmd: setKey(ed[1].kid, retired, at), want: ErrRefused},
		{name: "empty kid", setup: with(), cmd: setKey("", retired, at), want: ErrRefused},
		{name: "missing at", setup: with(), cmd: setKey(kid, retired, 0), want: ErrRefused},
		{name: "negative at", setup: with(), cmd: setKey(kid, revoked, -5), want: ErrRefused},
	}
	runApplyCases(t, cases)
}

func TestSetKeyStateUpdatesVerifierView(t *testing.T) {
	ed, _ := testKeys(t)
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	h.must(addKey(ed[0], zhejiang))
	k0, ok := h.fsm.Key(ed[0].kid)
	if !ok || k0.Jurisdiction != zhejiang || k0.Alg != "EdDSA" || k0.Raw == nil {
		t.Fatalf("Key = %+v, %v", k0, ok)
	}
	h.must(setKey(ed[0].kid, roamv1.KeyState_KEY_STATE_RETIRED, t0+day))
	k1, _ := h.fsm.Key(ed[0].kid)
	if int(k1.State) != int(roamv1.KeyState_KEY_STATE_RETIRED) || k1.StateChangedAt != t0+day {
		t.Fatalf("after retire: %+v", k1)
	}
	if int(k0.State) != int(roamv1.KeyState_KEY_STATE_ACTIVE) {
		t.Fatalf("a Key returned earlier was mutated: %+v", k0)
	}
	if _, ok := h.fsm.Key("nope"); ok {
		t.Fatal("unknown kid found")
	}
}

func TestApplyAgreements(t *testing.T) {
	const (
		proposed   = roamv1.AgreementState_AGREEMENT_STATE_PROPOSED
		active     = roamv1.AgreementState_AGREEMENT_STATE_ACTIVE
		suspended  = roamv1.AgreementState_AGREEMENT_STATE_SUSPENDED
		terminated = roamv1.AgreementState_AGREEMENT_STATE_TERMINATED
	)
	id := AgreementID(henan, zhejiang)
	if id != "410000-330000" {
		t.Fatalf("AgreementID = %q", id)
	}
	from, until := t0, t0+90*day
	p := propose(henan, zhejiang, henan, from, until, "green")
	pi := propose(henan, zhejiang, zhejiang, from, until, "green", "yellow")
	acc := accept(id, 1, zhejiang)
	cases := []applyCase{
		// Propose.
		{name: "propose by host", cmd: p, check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			a := findAgreement(st, id)
			want := &roamv1.Agreement{
				Id: id, Host: henan, Issuer: zhejiang, Version: 1, Terms: p.GetTerms(),
				EffectiveFrom: from, EffectiveUntil: until, State: proposed, ProposedBy: henan, StateChangedAt: t0,
			}
			if !proto.Equal(a, want) {
				t.Fatalf("agreement = %v\nwant %v", a, want)
			}
		}},
		{name: "propose by issuer", cmd: pi, check: wantAgreement(id, proposed, 1)},
		{name: "propose open-ended", cmd: propose(henan, zhejiang, henan, from, 0), check: wantAgreement(id, proposed, 1)},
		{name: "propose no terms", cmd: &roamv1.ProposeAgreement{Host: henan, Issuer: zhejiang, ProposedBy: henan, EffectiveFrom: from, At: t0}, check: wantAgreement(id, proposed, 1)},
		{name: "propose all colours", cmd: propose(henan, zhejiang, henan, from, until, "green", "yellow", "red"), check: wantAgreement(id, proposed, 1)},
		{name: "propose foreign issuer", cmd: propose(henan, austria, henan, from, until), check: wantAgreement(AgreementID(henan, austria), proposed, 1)},
		{name: "reverse direction is another agreement", setup: []proto.Message{p, acc}, cmd: propose(zhejiang, henan, zhejiang, from, until), check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			wantAgreement(id, active, 1)(t, st)
			wantAgreement(AgreementID(zhejiang, henan), proposed, 1)(t, st)
		}},
		// Acting for an agreement one is not a party to is an authority
		// question since issue 3: ErrUnauthorized (still ErrRefused).
		{name: "proposer not a party", cmd: propose(henan, zhejiang, beijing, from, until), want: ErrRefused, kind: ErrUnauthorized},
		{name: "proposer empty", cmd: propose(henan, zhejiang, "", from, until), want: ErrRefused, kind: ErrUnauthorized},
		{name: "host equals issuer", cmd: propose(henan, henan, henan, from, until), want: ErrRefused},
		{name: "unknown host", cmd: propose(unknownID, zhejiang, zhejiang, from, until), want: ErrRefused},
		{name: "unknown issuer", cmd: propose(henan, unknownID, henan, from, until), want: ErrRefused},
		{name: "empty host", cmd: propose("", zhejiang, zhejiang, from, until), want: ErrRefused},
		{name: "effective_from zero", cmd: propose(henan, zhejiang, henan, 0, until), want: ErrRefused},
		{name: "effective_from negative", cmd: propose(henan, zhejiang, henan, -1, 0), want: ErrRefused},
		{name: "until equals from", cmd: propose(henan, zhejiang, henan, from, from), want: ErrRefused},
		{name: "until before from", cmd: propose(henan, zhejiang, henan, from, from-1), want: ErrRefused},
		{name: "bad colour", cmd: propose(henan, zhejiang, henan, from, until, "green", "purple"), want: ErrRefused},
		{name: "colour wrong case", cmd: propose(henan, zhejiang, henan, from, until, "Green"), want: ErrRefused},
		{name: "colour empty", cmd: propose(henan, zhejiang, henan, from, until, ""), want: ErrRefused},
		{name: "negative max code age", cmd: func() proto.Message {
			c := proto.Clone(p).(*roamv1.ProposeAgreement)
			c.Terms.MaxCodeAgeSeconds = -1
			return c
		}(), want: ErrRefused},
		{name: "negative max age without status", cmd: func() proto.Message {
			c := proto.Clone(p).(*roamv1.ProposeAgreement)
			c.Terms.MaxAgeWithoutStatusSeconds = -1
			return c
		}(), want: ErrRefused},
		{name: "bad re-propose leaves active agreement", setup: []proto.Message{p, acc}, cmd: propose(henan, zhejiang, henan, from, until, "blue"), want: ErrRefused},

		// Accept.
		{name: "accept by issuer", setup: []proto.Message{p}, cmd: acc, check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			wantAgreement(id, active, 1)(t, st)
			if a := findAgreement(st, id); a.GetStateChangedAt() != acc.GetAt() || a.GetProposedBy() != henan {
				t.Fatalf("agreement = %v", a)
			}
		}},
		{name: "accept by host", setup: []proto.Message{pi}, cmd: accept(id, 1, henan), check: wantAgreement(id, active, 1)},
		{name: "accept by proposer", setup: []proto.Message{p}, cmd: accept(id, 1, henan), want: ErrRefused},
		{name: "accept by third party", setup: []proto.Message{p}, cmd: accept(id, 1, beijing), want: ErrRefused, kind: ErrUnauthorized},
		{name: "accept stale version", setup: []proto.Message{p, acc, pi}, cmd: accept(id, 1, henan), want: ErrRefused},
		{name: "accept future version", setup: []proto.Message{p}, cmd: accept(id, 2, zhejiang), want: ErrRefused},
		{name: "accept version zero", setup: []proto.Message{p}, cmd: accept(id, 0, zhejiang), want: ErrRefused},
		{name: "accept current version after re-propose", setup: []proto.Message{p, acc, pi}, cmd: accept(id, 2, henan), check: wantAgreement(id, active, 2)},
		{name: "accept unknown agreement", setup: []proto.Message{p}, cmd: accept("410000-110000", 1, beijing), want: ErrRefused},
		{name: "accept already active", setup: []proto.Message{p, acc}, cmd: acc, want: ErrRefused},
		{name: "accept suspended", setup: []proto.Message{p, acc, suspend(id, henan)}, cmd: acc, want: ErrRefused},
		{name: "accept terminated", setup: []proto.Message{p, terminate(id, henan)}, cmd: acc, want: ErrRefused},

		// Re-propose.
		{name: "re-propose active keeps v1 in force, v2 pending", setup: []proto.Message{p, acc}, cmd: pi, check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			wantAgreement(id, active, 1)(t, st)
			a := findAgreement(st, id)
			pd := a.GetPending()
			if pd.GetVersion() != 2 || pd.GetProposedBy() != zhejiang || !proto.Equal(pd.GetTerms(), pi.GetTerms()) || a.GetProposedBy() != henan {
				t.Fatalf("agreement = %v", a)
			}
		}},
		{name: "re-propose proposed bumps version", setup: []proto.Message{p}, cmd: p, check: wantAgreement(id, proposed, 2)},
		{name: "re-propose suspended keeps it suspended, v2 pending", setup: []proto.Message{p, acc, suspend(id, zhejiang)}, cmd: p, check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			wantAgreement(id, suspended, 1)(t, st)
			if findAgreement(st, id).GetPending().GetVersion() != 2 {
				t.Fatal("no pending v2")
			}
		}},
		{name: "accepting pending v2 of a suspended agreement resumes it", setup: []proto.Message{p, acc, suspend(id, zhejiang), p}, cmd: accept(id, 2, zhejiang), check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			wantAgreement(id, active, 2)(t, st)
			if findAgreement(st, id).GetPending() != nil {
				t.Fatal("pending left behind")
			}
		}},
		{name: "accepting pending by its proposer", setup: []proto.Message{p, acc, pi}, cmd: accept(id, 2, zhejiang), want: ErrRefused},
		{name: "a second re-propose supersedes the pending one", setup: []proto.Message{p, acc, pi, p}, cmd: accept(id, 2, zhejiang), want: ErrRefused},
		{name: "re-propose terminated starts a new proposed version", setup: []proto.Message{p, acc, terminate(id, zhejiang)}, cmd: p, check: wantAgreement(id, proposed, 2)},

		// Suspend.
		{name: "suspend active by host", setup: []proto.Message{p, acc}, cmd: suspend(id, henan), check: wantAgreement(id, suspended, 1)},
		{name: "suspend active by issuer", setup: []proto.Message{p, acc}, cmd: suspend(id, zhejiang), check: wantAgreement(id, suspended, 1)},
		{name: "suspend by third party", setup: []proto.Message{p, acc}, cmd: suspend(id, beijing), want: ErrRefused, kind: ErrUnauthorized},
		{name: "suspend proposed", setup: []proto.Message{p}, cmd: suspend(id, henan), want: ErrRefused},
		{name: "suspend suspended", setup: []proto.Message{p, acc, suspend(id, henan)}, cmd: suspend(id, zhejiang), want: ErrRefused},
		{name: "suspend terminated", setup: []proto.Message{p, acc, terminate(id, henan)}, cmd: suspend(id, henan), want: ErrRefused},
		{name: "suspend unknown", cmd: suspend(id, henan), want: ErrRefused},

		// Terminate.
		{name: "terminate active", setup: []proto.Message{p, acc}, cmd: terminate(id, zhejiang), check: wantAgreement(id, terminated, 1)},
		{name: "terminate proposed", setup: []proto.Message{p}, cmd: terminate(id, henan), check: wantAgreement(id, terminated, 1)},
		{name: "terminate suspended", setup: []proto.Message{p, acc, suspend(id, henan)}, cmd: terminate(id, henan), check: wantAgreement(id, terminated, 1)},
		{name: "terminate twice", setup: []proto.Message{p, terminate(id, henan)}, cmd: terminate(id, zhejiang), want: ErrRefused},
		{name: "terminate by third party", setup: []proto.Message{p, acc}, cmd: terminate(id, beijing), want: ErrRefused, kind: ErrUnauthorized},
		{name: "terminate unknown", cmd: terminate(id, henan), want: ErrRefused},
		// Found by the issue-5 linearizability model: pending terms must not
		// outlive a termination, or the other party could revive the pair.
		{name: "terminate drops pending terms", setup: []proto.Message{p, acc, pi}, cmd: terminate(id, henan), check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			wantAgreement(id, terminated, 1)(t, st)
			if findAgreement(st, id).GetPending() != nil {
				t.Fatal("pending v2 survived the termination")
			}
		}},
		{name: "accepting terms pending before a termination", setup: []proto.Message{p, acc, pi, terminate(id, henan)}, cmd: accept(id, 2, henan), want: ErrRefused},
	}
	runApplyCases(t, cases)
}

func TestApplyRevokeCode(t *testing.T) {
	const jti = "AAECAwQFBgcICQoLDA0ODw"
	revokedAt := func(j, jti string, at int64) func(*testing.T, *roamv1.RegistrySnapshot) {
		return func(t *testing.T, st *roamv1.RegistrySnapshot) {
			for _, r := range st.GetRevokedCodes() {
				if r.GetJurisdiction() == j && r.GetCodeId() == jti && r.GetRevokedAt() == at {
					return
				}
			}
			t.Fatalf("revoked codes %v lack %s/%s at %d", st.GetRevokedCodes(), j, jti, at)
		}
	}
	cases := []applyCase{
		{name: "ok", cmd: revoke(zhejiang, jti), check: revokedAt(zhejiang, jti, t0+3600)},
		{name: "same jti other jurisdiction", setup: []proto.Message{revoke(zhejiang, jti)}, cmd: revoke(henan, jti), check: revokedAt(henan, jti, t0+3600)},
		{name: "64-byte id", cmd: revoke(zhejiang, strings.Repeat("a", 64)), check: revokedAt(zhejiang, strings.Repeat("a", 64), t0+3600)},
		{name: "unknown jurisdiction", cmd: revoke(unknownID, jti), want: ErrRefused, kind: ErrUnauthorized},
		{name: "empty code id", cmd: revoke(zhejiang, ""), want: ErrRefused},
		{name: "65-byte id", cmd: revoke(zhejiang, strings.Repeat("a", 65)), want: ErrRefused},
	}
	runApplyCases(t, cases)

	h := newHarness(t)
	h.must(baseJurisdictions()...)
	h.must(revoke(zhejiang, jti))
	if !h.fsm.CodeRevoked(zhejiang, jti) || h.fsm.CodeRevoked(henan, jti) || h.fsm.CodeRevoked(zhejiang, "other") {
		t.Fatal("CodeRevoked disagrees with the applied RevokeCode")
	}
}

func TestApplyMembers(t *testing.T) {
	noAddr := member("n2", henan)
	noAddr.Member.GrpcAddress = ""
	noRaft := member("n2", henan)
	noRaft.Member.RaftAddress = ""
	moved := member("n1", zhejiang)
	moved.Member.GrpcAddress = "10.0.0.1:8000"
	cases := []applyCase{
		{name: "upsert", cmd: member("n1", zhejiang), check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			if len(st.GetMembers()) != 1 || !proto.Equal(st.GetMembers()[0], member("n1", zhejiang).GetMember()) {
				t.Fatalf("members = %v", st.GetMembers())
			}
		}},
		{name: "upsert replaces", setup: []proto.Message{member("n1", zhejiang)}, cmd: moved, check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			if len(st.GetMembers()) != 1 || st.GetMembers()[0].GetGrpcAddress() != "10.0.0.1:8000" {
				t.Fatalf("members = %v", st.GetMembers())
			}
		}},
		{name: "nil member", cmd: &roamv1.UpsertMember{}, want: ErrRefused},
		{name: "no node id", cmd: member("", henan), want: ErrRefused},
		{name: "no grpc address", cmd: noAddr, want: ErrRefused},
		{name: "no raft address", cmd: noRaft, want: ErrRefused},
		{name: "remove", setup: []proto.Message{member("n1", zhejiang), member("n2", henan)}, cmd: &roamv1.RemoveMember{NodeId: "n1"}, check: func(t *testing.T, st *roamv1.RegistrySnapshot) {
			if len(st.GetMembers()) != 1 || st.GetMembers()[0].GetNodeId() != "n2" {
				t.Fatalf("members = %v", st.GetMembers())
			}
		}},
		{name: "remove unknown", setup: []proto.Message{member("n1", zhejiang)}, cmd: &roamv1.RemoveMember{NodeId: "n9"}, want: ErrRefused},
		{name: "remove empty", cmd: &roamv1.RemoveMember{}, want: ErrRefused},
	}
	runApplyCases(t, cases)

	h := newHarness(t)
	h.must(baseJurisdictions()...)
	h.must(member("n2", henan), member("n1", zhejiang), member("n3", zhejiang))
	if m, ok := h.fsm.Member("n2"); !ok || m.GetJurisdiction() != henan {
		t.Fatalf("Member(n2) = %v, %v", m, ok)
	}
	if _, ok := h.fsm.Member("n9"); ok {
		t.Fatal("Member(n9) found")
	}
	var ids []string
	for _, m := range h.fsm.MembersOf(zhejiang) {
		ids = append(ids, m.GetNodeId())
	}
	if strings.Join(ids, ",") != "n1,n3" {
		t.Fatalf("MembersOf(zhejiang) = %v, want n1,n3 in order", ids)
	}
}

func TestApplyBadCommands(t *testing.T) {
	fx := testFixture(t)
	exp := appendedAt.Unix() + testTTL
	env := func(typ roamv1.CommandType, payload []byte) *roamv1.Command {
		return &roamv1.Command{Type: typ, Payload: payload}
	}
	// signed is a validly signed entry (a national admin, fresh id) around
	// an arbitrary envelope: whatever is wrong is past the signature.
	signed := func(cmd *roamv1.Command) []byte {
		return signEntry(t, &roamv1.CommandPayload{Id: "bad-command", ExpiresAt: exp, Command: cmd}, fx.national[0])
	}
	valid := signEntry(t, payloadOf(t, jur(shanghai, "Shanghai"), "valid", exp), fx.national[0])
	oversized := append(append([]byte{}, valid...), make([]byte, MaxCommandBytes)...) // too large before anything else
	bigName := &roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: shanghai, Name: "Shanghai", CodeSystem: strings.Repeat("x", MaxCommandBytes)}}
	bigBytes, err := proto.Marshal(&roamv1.SignedCommand{Signatures: signTokens(t, marshalPayload(t, payloadOf(t, bigName, "big", exp)), fx.national[0])})
	if err != nil {
		t.Fatal(err)
	}
	tooMany := make([]string, maxSignatures+1)
	for i := range tooMany {
		tooMany[i] = signTokens(t, marshalPayload(t, payloadOf(t, jur(shanghai, "Shanghai"), "many", exp)), fx.national[i%3])[0]
	}
	cases := []applyCase{
		{name: "valid control", raw: valid, check: func(t *testing.T, st *roamv1.RegistrySnapshot) {}},
		{name: "unspecified type", raw: signed(env(roamv1.CommandType_COMMAND_TYPE_UNSPECIFIED, nil)), want: ErrBadCommand},
		{name: "unknown type", raw: signed(env(99, mustMarshal(t, jur(shanghai, "Shanghai")))), want: ErrBadCommand},
		{name: "negative type", raw: signed(env(-1, nil)), want: ErrBadCommand},
		{name: "garbage bytes", raw: []byte{0xff, 0xff, 0xff, 0xff}, want: ErrBadCommand},
		{name: "truncated entry", raw: valid[:len(valid)-1], want: ErrBadCommand},
		{name: "garbage payload", raw: signed(env(roamv1.CommandType_COMMAND_TYPE_ADD_KEY, []byte{0x0a, 0x05, 0x01})), want: ErrBadCommand},
		{name: "payload with invalid utf-8", raw: signed(env(roamv1.CommandType_COMMAND_TYPE_REVOKE_CODE, []byte{0x0a, 0x02, 0xff, 0xfe})), want: ErrBadCommand},
		{name: "oversized entry", raw: oversized, want: ErrBadCommand},
		{name: "oversized valid protobuf", raw: bigBytes, want: ErrBadCommand},
		{name: "signed bytes are not a CommandPayload", raw: entryOf(t, signTokens(t, []byte{0xff, 0xff}, fx.national[0])...), want: ErrBadCommand},
		{name: "payload without a command", raw: signEntry(t, &roamv1.CommandPayload{Id: "no-command", ExpiresAt: exp}, fx.national[0]), want: ErrBadCommand},
		{name: "empty command id", raw: signEntry(t, payloadOf(t, jur(shanghai, "Shanghai"), "", exp), fx.national[0]), want: ErrBadCommand},
		{name: "65-byte command id", raw: signEntry(t, payloadOf(t, jur(shanghai, "Shanghai"), strings.Repeat("i", 65), exp), fx.national[0]), want: ErrBadCommand},
		// Since issue 3 the log holds SignedCommands. The pre-issue-3
		// unsigned Command envelope, like an empty entry, decodes to a
		// SignedCommand without signatures: refused as a bad signature
		// (an empty entry was ErrBadCommand before).
		{name: "unsigned command envelope", raw: encode(t, jur(shanghai, "Shanghai")), want: ErrRefused, kind: ErrBadSignature},
		{name: "empty entry", raw: nil, want: ErrRefused, kind: ErrBadSignature},
		{name: "too many signatures", raw: entryOf(t, tooMany...), want: ErrRefused, kind: ErrBadSignature},
		{name: "signature not a JWS", raw: entryOf(t, "not a jws"), want: ErrRefused, kind: ErrBadSignature},
	}
	runApplyCases(t, cases)

	if _, err := Encode(&roamv1.Command{Type: roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION, Payload: mustMarshal(t, bigName)}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("Encode of an oversized command: %v, want ErrBadCommand", err)
	}
	if _, err := EncodeSigned(&roamv1.SignedCommand{Signatures: []string{strings.Repeat("a", MaxCommandBytes)}}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("EncodeSigned of an oversized command: %v, want ErrBadCommand", err)
	}
	if _, err := NewCommand(&roamv1.Jurisdiction{Id: shanghai}); !errors.Is(err, ErrBadCommand) {
		t.Errorf("NewCommand(non-command): %v, want ErrBadCommand", err)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every command type has a payload, a handler, and a builder in this file;
// a new type added to the enum without all three fails here.
func TestEveryCommandTypeHandled(t *testing.T) {
	for v := range roamv1.CommandType_name {
		typ := roamv1.CommandType(v)
		if typ == roamv1.CommandType_COMMAND_TYPE_UNSPECIFIED {
			continue
		}
		if payloadFor[typ] == nil || handlers[typ] == nil {
			t.Errorf("%s: payload %v, handler %v", typ, payloadFor[typ] != nil, handlers[typ] != nil)
			continue
		}
		cmd, err := NewCommand(payloadFor[typ]())
		if err != nil || cmd.GetType() != typ {
			t.Errorf("NewCommand(%s payload) = %v, %v", typ, cmd, err)
		}
	}
}

func TestApplyIgnoresNonCommandEntries(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	before := h.fsm.State()
	res := h.fsm.Apply(&raft.Log{Index: 100, Type: raft.LogNoop, Data: []byte("junk")}).(*ApplyResult)
	if res.Err != nil || res.Summary != "" {
		t.Fatalf("non-command entry: %+v", res)
	}
	if !proto.Equal(before, h.fsm.State()) {
		t.Fatal("non-command entry changed the state")
	}
}
