package registry

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// randomScript returns n log entries: the fixture's genesis and the base
// jurisdictions with their admins, then a seeded mix of commands of every
// type, signed mostly as the right role but also by a wrong one, a key no
// registry holds, or mangled (tampered, truncated, re-signed under another
// kid, signatures over different payloads, expired, expiring too late,
// replayed, a reused id), plus undecodable bytes. Every entry is meant to
// be appended at appendedAt.
func randomScript(tb testing.TB, seed uint64, n int) [][]byte {
	tb.Helper()
	fx := testFixture(tb)
	ed, es := testKeys(tb)
	keys := append(append([]*tkey{}, ed...), es...)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	valid := []string{zhejiang, henan, beijing, tianjin, hebei, austria}
	ids := append(append([]string{}, valid...), "33000", "XX-at", "", unknownID)
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	party := func() string {
		if r.IntN(8) == 0 {
			return pick(ids)
		}
		return pick(valid)
	}
	colors := []string{"green", "yellow", "red", "purple"}
	states := []roamv1.KeyState{1, 2, 3, 0}
	at := func() int64 { return t0 + int64(r.IntN(100))*day - day }
	// Agreements the script proposed, so acceptances mostly name real ones.
	type pair struct{ host, issuer string }
	var pairs []pair
	proposals := map[string]int{} // a guess at each agreement's version
	keyOf := map[string]string{}  // issuer kid -> jurisdiction it was last added for
	agreement := func() (id, host, issuer string) {
		if len(pairs) == 0 || r.IntN(4) == 0 {
			host, issuer = party(), party()
		} else {
			p := pairs[r.IntN(len(pairs))]
			host, issuer = p.host, p.issuer
		}
		return AgreementID(host, issuer), host, issuer
	}
	side := func(host, issuer string) string {
		switch r.IntN(6) {
		case 0:
			return party()
		case 1:
			return National
		case 2, 3:
			return host
		}
		return issuer
	}
	// right is the role that may sign msg (as fixture.signersFor, with the
	// script's own idea of whose key is whose).
	right := func(msg proto.Message) []*admin {
		switch c := msg.(type) {
		case *roamv1.SetKeyState:
			return []*admin{fx.adminOf(keyOf[c.GetKid()], nil)}
		case *roamv1.RevokeAdminKey:
			for _, a := range fx.national {
				if a.kid() == c.GetKid() {
					return fx.quorum()
				}
			}
		}
		return fx.signersFor(msg, nil)
	}
	signers := func(msg proto.Message) []*admin {
		switch x := r.IntN(20); {
		case x < 14:
			return right(msg)
		case x < 16:
			return []*admin{fx.of[pick(valid)]}
		case x < 17:
			return fx.national[:1]
		case x < 18:
			return fx.national[:1+r.IntN(3)]
		case x < 19:
			return []*admin{fx.stranger}
		}
		return []*admin{fx.second}
	}
	var out [][]byte
	var usedIDs []string
	var payloads [][]byte
	seq := 0
	exp := appendedAt.Unix() + testTTL
	emit := func(msg proto.Message, by []*admin) {
		seq++
		cp := payloadOf(tb, msg, fmt.Sprintf("r%d-%d", seed, seq), exp)
		mangle := -1
		if len(out) > 11 && r.IntN(8) == 0 {
			mangle = r.IntN(8)
		}
		switch mangle {
		case 0:
			cp.ExpiresAt = appendedAt.Unix() - int64(r.IntN(1000))
		case 1:
			cp.ExpiresAt = appendedAt.Unix() + int64(MaxCommandTTL/time.Second) + 1 + int64(r.IntN(1000))
		case 2:
			cp.Id = usedIDs[r.IntN(len(usedIDs))]
		}
		payload := marshalPayload(tb, cp)
		toks := signTokens(tb, payload, by...)
		switch mangle {
		case 3: // tampered
			p := payloadBytes(tb, toks[0])
			p[r.IntN(len(p))] ^= byte(1 + r.IntN(255))
			toks[0] = withPayload(tb, toks[0], p)
		case 4: // truncated
			toks[0] = toks[0][:len(toks[0])-1-r.IntN(20)]
		case 5: // re-signed by a national key under a jurisdiction admin's kid
			toks[0] = signWithKid(tb, fx.national[r.IntN(3)].priv, fx.of[pick(valid)].kid(), payload)
		case 6: // a second signature over another payload
			toks = append(toks, signTokens(tb, payloads[r.IntN(len(payloads))], fx.national[1])...)
		case 7: // replay of an earlier entry
			out = append(out, out[r.IntN(len(out))])
			return
		}
		usedIDs = append(usedIDs, cp.GetId())
		payloads = append(payloads, payload)
		out = append(out, entryOf(tb, toks...))
	}
	emit(fx.genesisMsg(), fx.quorum())
	for _, m := range baseJurisdictions() {
		emit(m, right(m))
	}
	for len(out) < n {
		var m proto.Message
		switch r.IntN(18) {
		case 0:
			name := "J" + fmt.Sprint(r.IntN(5))
			if r.IntN(10) == 0 {
				name = " "
			}
			m = jur(pick(ids), name)
		case 1:
			k := keys[r.IntN(len(keys))]
			ik := issuerKey(k, party())
			switch r.IntN(6) {
			case 0:
				ik.Jwk = k.priv
			case 1:
				ik.Kid = keys[r.IntN(len(keys))].kid
			case 2:
				ik.State = states[r.IntN(len(states))]
			case 3:
				ik.NotAfter = ik.NotBefore - int64(r.IntN(2))
			}
			keyOf[ik.GetKid()] = ik.GetJurisdiction()
			m = &roamv1.AddKey{Key: ik}
		case 2:
			m = setKey(keys[r.IntN(len(keys))].kid, states[r.IntN(len(states))], at())
		case 3, 4:
			host, iss := party(), party()
			by := pick([]string{host, iss, party()})
			from := at()
			until := int64(0)
			if r.IntN(2) == 0 {
				until = from + int64(r.IntN(60)-5)*day
			}
			var cs []string
			for range r.IntN(3) {
				cs = append(cs, colors[r.IntN(len(colors))])
			}
			m = propose(host, iss, by, from, until, cs...)
			pairs = append(pairs, pair{host, iss})
			proposals[AgreementID(host, iss)]++
		case 5, 6:
			id, host, iss := agreement()
			m = accept(id, uint64(max(0, proposals[id]-r.IntN(3))), side(host, iss))
		case 7:
			id, host, iss := agreement()
			m = suspend(id, side(host, iss))
		case 8:
			id, host, iss := agreement()
			m = terminate(id, side(host, iss))
		case 9:
			m = revoke(party(), fmt.Sprintf("jti-%d", r.IntN(50)))
		case 10:
			if r.IntN(2) == 0 {
				m = member(fmt.Sprintf("n%d", r.IntN(6)), party())
			} else {
				m = &roamv1.RemoveMember{NodeId: fmt.Sprintf("n%d", r.IntN(6))}
			}
		case 11:
			b := make([]byte, r.IntN(24))
			for i := range b {
				b[i] = byte(r.UintN(256))
			}
			out = append(out, b)
			continue
		case 12:
			recs := []*roamv1.AdminKey{fx.of[hebei].rec, fx.of[shanghai].rec, fx.of[unknownID].rec, fx.second.rec, fx.spare.rec, fx.of[pick(valid)].rec}
			k := proto.Clone(recs[r.IntN(len(recs))]).(*roamv1.AdminKey)
			if r.IntN(6) == 0 {
				k.Jurisdiction = party()
			}
			m = addAdmin(k)
		case 13:
			kids := []string{fx.second.kid(), fx.of[austria].kid(), fx.stranger.kid(), fx.spare.kid()}
			if r.IntN(4) == 0 {
				kids = append(kids, fx.national[2].kid())
			}
			m = &roamv1.RevokeAdminKey{Kid: kids[r.IntN(len(kids))]}
		case 14:
			if r.IntN(2) == 0 {
				m = &roamv1.JoinHub{Jurisdiction: party(), EffectiveFrom: at(), Terms: &roamv1.AgreementTerms{Colors: []string{pick(colors)}}}
			} else {
				m = &roamv1.LeaveHub{Jurisdiction: party()}
			}
		case 15:
			host, iss := party(), party()
			from := at()
			m = &roamv1.ImposeAgreement{Host: host, Issuer: iss, EffectiveFrom: from, EffectiveUntil: from + int64(r.IntN(60)-5)*day}
			pairs = append(pairs, pair{host, iss})
		case 16:
			m = &roamv1.SetNationalQuorum{Quorum: uint32(r.IntN(5))}
		case 17:
			if r.IntN(3) == 0 {
				m = &roamv1.RemoveJurisdiction{Id: pick([]string{hebei, tianjin, unknownID, "33000", National})}
			} else {
				m = fx.genesisMsg()
			}
		}
		emit(m, signers(m))
	}
	return out[:n]
}

type outcome struct {
	class, err, summary string
}

func applyScript(tb testing.TB, f *FSM, first uint64, script [][]byte) []outcome {
	tb.Helper()
	out := make([]outcome, len(script))
	for i, data := range script {
		res := applyAt(tb, f, first+uint64(i), data)
		out[i] = outcome{class: errClass(res.Err), summary: res.Summary}
		if res.Err != nil {
			out[i].err = res.Err.Error()
		}
	}
	return out
}

func TestDeterministicApply(t *testing.T) {
	script := randomScript(t, 20200226, 500)
	a, b := NewFSM(), NewFSM()
	ra := applyScript(t, a, 1, script)
	rb := applyScript(t, b, 1, script)

	counts := map[string]int{}
	states := map[string]int{}
	for i := range ra {
		counts[ra[i].class]++
		if ra[i] != rb[i] {
			t.Errorf("entry %d: %+v vs %+v", i+1, ra[i], rb[i])
		}
	}
	t.Logf("outcomes: %v", counts)
	if counts["ok"] < 50 || counts["refused"] < 50 || counts["bad"] < 10 || counts["other"]+counts["both"] != 0 {
		t.Errorf("script mix %v: want many ok, refused and bad, and every error classed", counts)
	}
	kinds := map[string]int{}
	for _, r := range a.Audit(0, 0) {
		for _, k := range []struct {
			name string
			err  error
		}{{"unauthorized", ErrUnauthorized}, {"bad signature", ErrBadSignature}, {"expired", ErrExpired}, {"replayed", ErrReplayed}} {
			if strings.Contains(r.GetReason(), k.err.Error()+": ") {
				kinds[k.name]++
			}
		}
	}
	t.Logf("rejections: %v", kinds)
	for _, k := range []string{"unauthorized", "bad signature", "expired", "replayed"} {
		if kinds[k] < 3 {
			t.Errorf("script mix has %d %s rejections, want a few", kinds[k], k)
		}
	}
	sameAudit(t, a, b)
	st := a.State()
	for _, a := range st.GetAgreements() {
		states[a.GetState().String()]++
	}
	t.Logf("agreements: %v; keys: %d", states, len(st.GetKeys()))
	if states["AGREEMENT_STATE_ACTIVE"]+states["AGREEMENT_STATE_SUSPENDED"] == 0 || states["AGREEMENT_STATE_TERMINATED"] == 0 || len(st.GetKeys()) == 0 {
		t.Errorf("script reached too few states: agreements %v, %d keys", states, len(st.GetKeys()))
	}

	sa, sb := snapshotBytes(t, a), snapshotBytes(t, b)
	if !bytes.Equal(sa, sb) {
		t.Fatal("snapshots of two replicas differ")
	}
	if !bytes.Equal(sa, snapshotBytes(t, a)) {
		t.Fatal("two snapshots of one replica differ")
	}
}

func TestSnapshotRestore(t *testing.T) {
	script := randomScript(t, 7, 500)
	const cut = 250
	live := NewFSM()
	applyScript(t, live, 1, script[:cut])
	snap := snapshotBytes(t, live)
	back := restored(t, snap)

	if !proto.Equal(live.State(), back.State()) {
		t.Fatalf("restored state differs:\n%v\n%v", live.State(), back.State())
	}
	if back.AppliedIndex() != cut {
		t.Fatalf("restored AppliedIndex = %d, want %d", back.AppliedIndex(), cut)
	}
	if !bytes.Equal(snap, snapshotBytes(t, back)) {
		t.Fatal("snapshot of a restored FSM differs from the one it was restored from")
	}
	sameReads(t, live, back)
	sameAudit(t, live, back)

	rl := applyScript(t, live, cut+1, script[cut:])
	rb := applyScript(t, back, cut+1, script[cut:])
	if !reflect.DeepEqual(rl, rb) {
		for i := range rl {
			if rl[i] != rb[i] {
				t.Errorf("entry %d after restore: %+v vs %+v", cut+1+i, rl[i], rb[i])
			}
		}
	}
	if !bytes.Equal(snapshotBytes(t, live), snapshotBytes(t, back)) {
		t.Fatal("live and restored replicas diverged after the same commands")
	}
	sameReads(t, live, back)
	sameAudit(t, live, back)

	// Restore replaces the state of a non-empty FSM (same genesis) entirely.
	other := NewFSM()
	applyScript(t, other, 1, script[:cut/2])
	if err := other.Restore(readCloser{bytes.NewReader(snap)}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap, snapshotBytes(t, other)) {
		t.Fatal("Restore over existing state kept some of it")
	}
	// A replica refuses a snapshot that starts from another genesis.
	stranger := NewFSM()
	applyScript(t, stranger, 1, randomScript(t, 99, 100))
	if err := stranger.Restore(readCloser{bytes.NewReader(snap)}); !errors.Is(err, ErrAuditMismatch) {
		t.Fatalf("snapshot from another genesis: %v", err)
	}
}

// sameReads checks the derived indexes (verifier keys, agreement pairs,
// revoked codes) agree between two replicas, not just their snapshots.
func sameReads(t *testing.T, x, y *FSM) {
	t.Helper()
	ed, es := testKeys(t)
	for _, k := range append(append([]*tkey{}, ed...), es...) {
		kx, okx := x.Key(k.kid)
		ky, oky := y.Key(k.kid)
		if okx != oky || (okx && !reflect.DeepEqual(*kx, *ky)) {
			t.Errorf("Key(%s): %+v %v vs %+v %v", k.kid, kx, okx, ky, oky)
		}
	}
	ids := []string{zhejiang, henan, beijing, tianjin, hebei, austria}
	for _, h := range ids {
		for _, i := range ids {
			for _, at := range []int64{t0, t0 + 20*day, t0 + 80*day} {
				ax, ix, ex := x.AgreementAt(h, i, unix(at))
				ay, iy, ey := y.AgreementAt(h, i, unix(at))
				if !proto.Equal(ax, ay) || ix != iy || !reflect.DeepEqual(ex, ey) {
					t.Errorf("AgreementAt(%s, %s, %d) differs: %v %+v vs %v %+v", h, i, at, ax, ex, ay, ey)
				}
			}
		}
		for j := range 50 {
			jti := fmt.Sprintf("jti-%d", j)
			if x.CodeRevoked(h, jti) != y.CodeRevoked(h, jti) {
				t.Errorf("CodeRevoked(%s, %s) differs", h, jti)
			}
		}
	}
}

// A snapshot that does not decode, or holds a key that does not parse,
// fails Restore and leaves the replica as it was.
func TestRestoreRejectsGarbage(t *testing.T) {
	h := newHarness(t)
	h.must(baseJurisdictions()...)
	before := h.fsm.State()
	badKey, err := proto.Marshal(&roamv1.RegistrySnapshot{Index: 9, Keys: []*roamv1.IssuerKey{{Kid: "x", Alg: "EdDSA", Jwk: []byte("{}")}}})
	if err != nil {
		t.Fatal(err)
	}
	good := snapshotBytes(t, h.fsm)
	var snap roamv1.RegistrySnapshot
	if err := proto.Unmarshal(good, &snap); err != nil {
		t.Fatal(err)
	}
	edited := func(edit func(s *roamv1.RegistrySnapshot)) []byte {
		c := proto.Clone(&snap).(*roamv1.RegistrySnapshot)
		edit(c)
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"garbage":       {0xff, 0x01},
		"bad key":       badKey,
		"bad admin key": edited(func(s *roamv1.RegistrySnapshot) { s.AdminKeys[0].Jwk = []byte("{}") }),
		"admin kid not its thumbprint": edited(func(s *roamv1.RegistrySnapshot) {
			s.AdminKeys[0].Kid = s.AdminKeys[1].GetKid()
		}),
		"audit record edited": edited(func(s *roamv1.RegistrySnapshot) { s.Audit[1].Reason = "x" }),
	} {
		if err := h.fsm.Restore(readCloser{bytes.NewReader(b)}); err == nil {
			t.Errorf("Restore(%s) succeeded", name)
		}
		if !proto.Equal(before, h.fsm.State()) {
			t.Errorf("failed Restore(%s) changed the state", name)
		}
	}
}

func unix(s int64) time.Time { return time.Unix(s, 0) }
