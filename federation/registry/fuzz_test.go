package registry

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

const fuzzSeedDir = "testdata/fuzz/FuzzDecodeCommand"

// fuzzWorld is the registry every fuzz input is applied to, as snapshot
// bytes (restored per input), and the next log index.
type fuzzWorld struct {
	snap []byte
	next uint64
}

var (
	fuzzOnce sync.Once
	fuzzBase fuzzWorld
)

// fuzzRegistry is the fixture's genesis, the base jurisdictions with their
// admins, Zhejiang's ES256 issuer key, Henan ← Zhejiang proposed by Henan,
// Zhejiang ← Henan active, Henan in the hub and member n1. Every seed
// entry of fuzzSeeds applies to it.
func fuzzRegistry(tb testing.TB) fuzzWorld {
	tb.Helper()
	fuzzOnce.Do(func() {
		h := newHarness(tb)
		h.must(baseJurisdictions()...)
		h.must(
			addKey(fixedKey(tb, "330000-es256", roamjws.ES256), zhejiang),
			propose(henan, zhejiang, henan, t0, 0, "green"),
			propose(zhejiang, henan, zhejiang, t0, 0),
			accept(AgreementID(zhejiang, henan), 1, henan),
			&roamv1.JoinHub{Jurisdiction: henan, EffectiveFrom: t0},
			member("n1", zhejiang),
			&roamv1.AddDocumentSigner{Jurisdiction: austria, Der: testDSC(tb)},
			&roamv1.SetShcIssuer{Jurisdiction: austria, Url: testShcIssuer, Jwks: testJWKS(tb)},
		)
		fuzzBase = fuzzWorld{snap: snapshotBytes(tb, h.fsm), next: h.idx + 1}
	})
	if fuzzBase.snap == nil {
		tb.Fatal("fuzz registry setup failed")
	}
	return fuzzBase
}

// fuzzSeeds returns the seed corpus: one validly signed entry of every
// command type (each accepted by fuzzRegistry, but for genesis, which only
// ever comes first) and bad entries. Ids and expiries are fixed and the
// admin keys EdDSA, so the bytes are reproducible.
func fuzzSeeds(tb testing.TB) map[string][]byte {
	tb.Helper()
	fx := testFixture(tb)
	n0, zj, hn := fx.national[0], fx.of[zhejiang], fx.of[henan]
	exp := appendedAt.Unix() + testTTL
	sign := func(name string, msg proto.Message, by ...*admin) []byte {
		return signEntry(tb, payloadOf(tb, msg, "seed-"+name, exp), by...)
	}
	zjEd := fixedKey(tb, "330000-eddsa", roamjws.EdDSA)
	zjES := fixedKey(tb, "330000-es256", roamjws.ES256)
	fwd, back := AgreementID(henan, zhejiang), AgreementID(zhejiang, henan)
	valid := map[roamv1.CommandType][]byte{
		roamv1.CommandType_COMMAND_TYPE_GENESIS:             fx.genesisEntry(tb),
		roamv1.CommandType_COMMAND_TYPE_UPSERT_JURISDICTION: sign("jur", jur(shanghai, "Shanghai"), n0),
		roamv1.CommandType_COMMAND_TYPE_REMOVE_JURISDICTION: sign("remove", &roamv1.RemoveJurisdiction{Id: austria}, n0),
		roamv1.CommandType_COMMAND_TYPE_ADD_ADMIN_KEY:       sign("admin", addAdmin(fx.second.rec), n0),
		roamv1.CommandType_COMMAND_TYPE_REVOKE_ADMIN_KEY:    sign("unadmin", &roamv1.RevokeAdminKey{Kid: fx.of[austria].kid()}, n0),
		roamv1.CommandType_COMMAND_TYPE_SET_NATIONAL_QUORUM: sign("quorum", &roamv1.SetNationalQuorum{Quorum: 3}, fx.quorum()...),
		roamv1.CommandType_COMMAND_TYPE_ADD_KEY:             sign("key", addKey(zjEd, zhejiang), zj),
		roamv1.CommandType_COMMAND_TYPE_SET_KEY_STATE:       sign("keystate", setKey(zjES.kid, roamv1.KeyState_KEY_STATE_RETIRED, t0+day), zj),
		roamv1.CommandType_COMMAND_TYPE_REVOKE_CODE:         sign("code", revoke(zhejiang, "AAECAwQFBgcICQoLDA0ODw"), zj),
		roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENT:   sign("propose", propose(beijing, zhejiang, beijing, t0, 0, "green", "yellow"), fx.of[beijing]),
		roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENT:    sign("accept", accept(fwd, 1, zhejiang), zj),
		roamv1.CommandType_COMMAND_TYPE_PROPOSE_AGREEMENTS: sign("propose-batch", &roamv1.ProposeAgreements{Proposals: []*roamv1.ProposeAgreement{
			propose(beijing, zhejiang, beijing, t0, 0, "green"), propose(beijing, henan, beijing, t0, 0, "green")}}, fx.of[beijing]),
		roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENTS:      sign("accept-batch", &roamv1.AcceptAgreements{Acceptances: []*roamv1.AcceptAgreement{accept(fwd, 1, zhejiang)}}, zj),
		roamv1.CommandType_COMMAND_TYPE_SUSPEND_AGREEMENT:      sign("suspend", suspend(back, henan), hn),
		roamv1.CommandType_COMMAND_TYPE_TERMINATE_AGREEMENT:    sign("terminate", terminate(back, National), n0),
		roamv1.CommandType_COMMAND_TYPE_IMPOSE_AGREEMENT:       sign("impose", &roamv1.ImposeAgreement{Host: beijing, Issuer: tianjin, EffectiveFrom: t0}, n0),
		roamv1.CommandType_COMMAND_TYPE_JOIN_HUB:               sign("join", &roamv1.JoinHub{Jurisdiction: zhejiang, EffectiveFrom: t0}, n0),
		roamv1.CommandType_COMMAND_TYPE_LEAVE_HUB:              sign("leave", &roamv1.LeaveHub{Jurisdiction: henan}, hn),
		roamv1.CommandType_COMMAND_TYPE_UPSERT_MEMBER:          sign("member", member("n2", henan), n0),
		roamv1.CommandType_COMMAND_TYPE_REMOVE_MEMBER:          sign("unmember", &roamv1.RemoveMember{NodeId: "n1"}, n0),
		roamv1.CommandType_COMMAND_TYPE_ADD_DOCUMENT_SIGNER:    sign("dsc", &roamv1.AddDocumentSigner{Jurisdiction: austria, Der: readTestdata(tb, "foreign/dsc2.der")}, n0),
		roamv1.CommandType_COMMAND_TYPE_REVOKE_DOCUMENT_SIGNER: sign("undsc", &roamv1.RevokeDocumentSigner{DerSha256: sha256Of(testDSC(tb))}, n0),
		roamv1.CommandType_COMMAND_TYPE_SET_SHC_ISSUER:         sign("shc", &roamv1.SetShcIssuer{Jurisdiction: austria, Url: testShcIssuer, Jwks: testJWKS(tb)}, n0),
		roamv1.CommandType_COMMAND_TYPE_REVOKE_SHC:             sign("unshc", &roamv1.RevokeShc{Url: testShcIssuer, Kid: testShcKid, Rid: "MKmOJ3nd2Mg"}, n0),
	}
	seeds := map[string][]byte{}
	for typ, b := range valid {
		seeds[seedName(typ)] = b
	}
	okTok := tokensOf(tb, seeds["upsert-jurisdiction"])[0]
	parts := strings.Split(okTok, ".")
	env := func(typ roamv1.CommandType, payload []byte) []byte {
		return signEntry(tb, &roamv1.CommandPayload{Id: "seed-bad", ExpiresAt: exp, Command: &roamv1.Command{Type: typ, Payload: payload}}, n0)
	}
	for name, b := range map[string][]byte{
		"garbage":          {0xff, 0xff, 0xff, 0xff},
		"unsigned-command": encode(tb, jur(shanghai, "Shanghai")),
		"unknown-type":     env(99, []byte{0x0a, 0x00}),
		"bad-payload":      env(roamv1.CommandType_COMMAND_TYPE_ADD_KEY, []byte{0x0a, 0x05, 0x01}),
		"invalid-utf8":     env(roamv1.CommandType_COMMAND_TYPE_REVOKE_CODE, []byte{0x0a, 0x02, 0xff, 0xfe}),
		"truncated-sig":    entryOf(tb, okTok[:len(okTok)-3]),
		"no-sig":           entryOf(tb, parts[0]+"."+parts[1]+"."),
		"tampered":         entryOf(tb, parts[0]+"."+parts[1][:len(parts[1])-2]+"AA."+parts[2]),
		"mixed-payloads":   entryOf(tb, okTok, tokensOf(tb, seeds["join-hub"])[0]),
		"stranger":         sign("stranger", jur(shanghai, "Shanghai"), fx.stranger),
		"unauthorized":     sign("unauthorized", jur(shanghai, "Shanghai"), zj),
		"other-issuer-key": sign("other", addKey(zjEd, henan), zj),
		"expired":          signEntry(tb, payloadOf(tb, jur(shanghai, "Shanghai"), "seed-expired", appendedAt.Unix()), n0),
		"too-far":          signEntry(tb, payloadOf(tb, jur(shanghai, "Shanghai"), "seed-far", appendedAt.Unix()+25*3600), n0),
		"no-id":            signEntry(tb, payloadOf(tb, jur(shanghai, "Shanghai"), "", exp), n0),
		"bad-window":       sign("window", propose(henan, beijing, henan, t0+day, t0), hn),
	} {
		seeds[name] = b
	}
	return seeds
}

func seedName(typ roamv1.CommandType) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(typ.String(), "COMMAND_TYPE_")), "_", "-")
}

// FuzzDecodeCommand feeds arbitrary log entry bytes to FSM.Apply on a
// registry that has its genesis, admins, keys and agreements. Apply must not
// panic; every error wraps ErrBadCommand or ErrRefused, not both; Check
// refuses nothing Apply accepts; nothing rejected changes the state; every
// entry adds exactly one audit record on the chain; whatever results
// survives a snapshot round trip.
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})                           // one empty signature
	f.Add(append([]byte{0x0a, 0x80, 0x80, 0x04}, 0x01)) // signature length runs off the end
	world := fuzzRegistry(f)

	f.Fuzz(func(t *testing.T, data []byte) {
		// The envelope decoder must not panic either.
		if _, _, err := Decode(data); err != nil && !errors.Is(err, ErrBadCommand) {
			t.Fatalf("Decode error does not wrap ErrBadCommand: %v", err)
		}
		fsm := restored(t, world.snap)
		before := stateNoIndex(fsm)
		nAudit := len(fsm.Audit(0, 0))
		_, cerr := fsm.Check(data, appendedAt)
		res := applyAt(t, fsm, world.next, data)
		switch {
		case res.Err == nil:
		case errors.Is(res.Err, ErrBadCommand) && errors.Is(res.Err, ErrRefused):
			t.Fatalf("Apply error wraps both sentinels: %v", res.Err)
		case errors.Is(res.Err, ErrBadCommand), errors.Is(res.Err, ErrRefused):
		default:
			t.Fatalf("Apply error wraps neither ErrBadCommand nor ErrRefused: %v", res.Err)
		}
		if cerr != nil && (res.Err == nil || res.Err.Error() != cerr.Error()) {
			t.Fatalf("Check refused (%v) but Apply said %v", cerr, res.Err)
		}
		if res.Err != nil && !proto.Equal(before, stateNoIndex(fsm)) {
			t.Fatalf("failed command (%v) changed the state", res.Err)
		}
		if fsm.AppliedIndex() != world.next {
			t.Fatalf("AppliedIndex = %d, want %d", fsm.AppliedIndex(), world.next)
		}
		checkAuditTail(t, fsm, nAudit, world.next, res.Err)
		if r := lastAudit(t, fsm); !bytes.Equal(r.GetEntry(), data) {
			t.Fatal("audit record does not hold the entry")
		}

		back := restored(t, snapshotBytes(t, fsm))
		if !proto.Equal(fsm.State(), back.State()) {
			t.Fatalf("snapshot round trip changed the state after %v", res.Err)
		}
		sameAudit(t, fsm, back)
	})
}

// TestFuzzSeedCorpus checks the committed seed corpus is fuzzSeeds exactly
// (-update rewrites it, removing stale files), and that each command
// type's seed is validly signed and, genesis apart, accepted by
// fuzzRegistry.
func TestFuzzSeedCorpus(t *testing.T) {
	seeds := fuzzSeeds(t)
	if *update {
		if err := os.MkdirAll(fuzzSeedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, err := os.ReadDir(fuzzSeedDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range old {
			if _, ok := seeds[e.Name()]; !ok {
				if err := os.Remove(filepath.Join(fuzzSeedDir, e.Name())); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, b := range seeds {
			if err := os.WriteFile(filepath.Join(fuzzSeedDir, name), []byte(corpusFile(b)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(fuzzSeedDir)
	if err != nil {
		t.Fatalf("%v (go test -update writes the seed corpus)", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		want, ok := seeds[e.Name()]
		if !ok {
			t.Errorf("%s: stale seed (go test -update removes it)", e.Name())
			continue
		}
		body, err := os.ReadFile(filepath.Join(fuzzSeedDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != corpusFile(want) {
			t.Errorf("%s differs from fuzzSeeds (go test -update rewrites it)", e.Name())
		}
	}
	if len(names) != len(seeds) {
		sort.Strings(names)
		t.Errorf("corpus has %v, want %d seeds", names, len(seeds))
	}
	world := fuzzRegistry(t)
	for v := range roamv1.CommandType_name {
		typ := roamv1.CommandType(v)
		if typ == roamv1.CommandType_COMMAND_TYPE_UNSPECIFIED {
			continue
		}
		b, ok := seeds[seedName(typ)]
		if !ok {
			t.Errorf("no seed for %s", typ)
			continue
		}
		fsm := restored(t, world.snap)
		res := applyAt(t, fsm, world.next, b)
		r := lastAudit(t, fsm)
		if r.GetType() != typ || len(r.GetSigners()) == 0 {
			t.Errorf("seed %s: audit %v, want a validly signed %s", seedName(typ), r, typ)
		}
		if typ != roamv1.CommandType_COMMAND_TYPE_GENESIS && res.Err != nil {
			t.Errorf("seed %s: %v, want accepted", seedName(typ), res.Err)
		}
	}
}

func corpusFile(b []byte) string {
	return fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
}
