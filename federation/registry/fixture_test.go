package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// The governance fixture (issue 3): three national admins with quorum 2, a
// spare national key that genesis does not install, one admin key per test
// jurisdiction (plus a second one for Zhejiang) and a stranger key that no
// registry ever holds. All are EdDSA keys loaded from
// testdata/keys/admin-*.jwk (private JWKs of throwaway test keys, created by
// go test -update when missing): Ed25519 signatures are deterministic, so
// with fixed command ids and expiries every signed entry, the audit chain
// and the golden snapshot are byte-for-byte reproducible.

// nationalQuorum is the fixture genesis's M of N (N = 3).
const nationalQuorum = 2

// admin is one admin signing key.
type admin struct {
	name   string
	signer *roamjws.Signer
	priv   jwk.Key
	rec    *roamv1.AdminKey // the record AddAdminKey / Genesis registers
}

func (a *admin) kid() string { return a.signer.Kid() }

type fixture struct {
	national []*admin // installed by genesis
	spare    *admin   // a national key genesis does not install
	of       map[string]*admin
	second   *admin // a second Zhejiang admin key
	stranger *admin // registered nowhere
}

// quorum returns the first nationalQuorum national admins.
func (fx *fixture) quorum() []*admin { return fx.national[:nationalQuorum] }

var (
	fixtureOnce sync.Once
	fixtureVal  *fixture
	fixtureErr  error
)

// testFixture loads the fixture once per test binary.
func testFixture(tb testing.TB) *fixture {
	tb.Helper()
	fx, err := loadFixtureOnce()
	if err != nil {
		tb.Fatalf("governance fixture: %v", err)
	}
	return fx
}

// mustFixture is testFixture for helpers without a testing.TB.
func mustFixture() *fixture {
	fx, err := loadFixtureOnce()
	if err != nil {
		panic(fmt.Sprintf("governance fixture: %v", err))
	}
	return fx
}

func loadFixtureOnce() (*fixture, error) {
	fixtureOnce.Do(func() { fixtureVal, fixtureErr = loadFixture() })
	return fixtureVal, fixtureErr
}

func loadFixture() (*fixture, error) {
	fx := &fixture{of: map[string]*admin{}}
	load := func(name, jurisdiction, holder string) (*admin, error) {
		return loadAdmin(name, jurisdiction, holder)
	}
	for i := 1; i <= 3; i++ {
		a, err := load(fmt.Sprintf("national-%d", i), National, fmt.Sprintf("national admin %d", i))
		if err != nil {
			return nil, err
		}
		fx.national = append(fx.national, a)
	}
	var err error
	if fx.spare, err = load("national-4", National, "national admin 4"); err != nil {
		return nil, err
	}
	// unknownID (Guangdong) is never registered: its admin key can never
	// be added, so it always fails as an unknown key.
	for _, j := range []string{zhejiang, henan, beijing, tianjin, hebei, shanghai, austria, unknownID} {
		if fx.of[j], err = load(j, j, j+" admin"); err != nil {
			return nil, err
		}
	}
	if fx.second, err = load(zhejiang+"-2", zhejiang, zhejiang+" second admin"); err != nil {
		return nil, err
	}
	if fx.stranger, err = load("stranger", zhejiang, "nobody"); err != nil {
		return nil, err
	}
	return fx, nil
}

// loadAdmin reads testdata/keys/admin-<name>.jwk, a private EdDSA JWK. With
// -update a missing file is generated.
func loadAdmin(name, jurisdiction, holder string) (*admin, error) {
	path := filepath.Join("testdata", "keys", "admin-"+name+".jwk")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) && *update {
		k, gerr := roamjws.GenerateKey(roamjws.EdDSA)
		if gerr != nil {
			return nil, gerr
		}
		raw, gerr := json.Marshal(k)
		if gerr != nil {
			return nil, gerr
		}
		var out bytes.Buffer
		if gerr := json.Indent(&out, raw, "", "  "); gerr != nil {
			return nil, gerr
		}
		out.WriteByte('\n')
		if gerr := os.WriteFile(path, out.Bytes(), 0o644); gerr != nil {
			return nil, gerr
		}
		b, err = out.Bytes(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w (go test -update creates it)", err)
	}
	k, err := jwk.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rec, err := AdminKeyOf(k, jurisdiction, holder)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &admin{name: name, signer: s, priv: k, rec: rec}, nil
}

// newAdmin generates a throwaway admin key (benchmarks, ES256 tests).
func newAdmin(tb testing.TB, alg, jurisdiction string) *admin {
	tb.Helper()
	k, err := roamjws.GenerateKey(alg)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := AdminKeyOf(k, jurisdiction, jurisdiction+" admin")
	if err != nil {
		tb.Fatal(err)
	}
	return &admin{name: jurisdiction, signer: s, priv: k, rec: rec}
}

// genesisMsg installs the three national admins with quorum 2.
func (fx *fixture) genesisMsg() *roamv1.Genesis {
	g := &roamv1.Genesis{Quorum: nationalQuorum}
	for _, a := range fx.national {
		g.NationalAdmins = append(g.NationalAdmins, proto.Clone(a.rec).(*roamv1.AdminKey))
	}
	return g
}

// genesisEntry is the fixture's genesis, signed by the quorum, id "genesis".
func (fx *fixture) genesisEntry(tb testing.TB) []byte {
	tb.Helper()
	return signEntry(tb, payloadOf(tb, fx.genesisMsg(), "genesis", appendedAt.Unix()+testTTL), fx.quorum()...)
}

// payloadOf wraps msg in a CommandPayload with a given id and expiry
// (SignCommand draws random ids; tests need fixed ones).
func payloadOf(tb testing.TB, msg proto.Message, id string, expiresAt int64) *roamv1.CommandPayload {
	tb.Helper()
	cmd, err := NewCommand(msg)
	if err != nil {
		tb.Fatalf("NewCommand(%T): %v", msg, err)
	}
	return &roamv1.CommandPayload{Id: id, ExpiresAt: expiresAt, Command: cmd}
}

func marshalPayload(tb testing.TB, cp *roamv1.CommandPayload) []byte {
	tb.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(cp)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// signTokens signs payload bytes once per signer.
func signTokens(tb testing.TB, payload []byte, signers ...*admin) []string {
	tb.Helper()
	var out []string
	for _, s := range signers {
		tok, err := s.signer.SignPayload(payload, TypCommand)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, tok)
	}
	return out
}

// signEntry returns the log entry of cp signed by every signer.
func signEntry(tb testing.TB, cp *roamv1.CommandPayload, signers ...*admin) []byte {
	tb.Helper()
	return entryOf(tb, signTokens(tb, marshalPayload(tb, cp), signers...)...)
}

// entryOf encodes compact JWS tokens as a SignedCommand log entry.
func entryOf(tb testing.TB, tokens ...string) []byte {
	tb.Helper()
	b, err := EncodeSigned(&roamv1.SignedCommand{Signatures: tokens})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// adminOf returns the signer acting for jurisdiction j: a national admin
// for National, else j's fixture admin. When j has no admin registered in
// f (unknown, ill-formed or unregistered ids), nobody can act for it; a
// national admin signs so that the registry, not a bad signature, decides.
func (fx *fixture) adminOf(j string, f *FSM) *admin {
	if j == National {
		return fx.national[0]
	}
	a, ok := fx.of[j]
	switch {
	case !ok:
		return fx.national[0]
	case f == nil:
		return a
	}
	for _, k := range f.State().GetAdminKeys() {
		if k.GetKid() == a.kid() && !k.GetRevoked() {
			return a
		}
	}
	return fx.national[0]
}

// signersFor picks the role that may apply msg (issue 3 §3), reading f (may
// be nil) for the jurisdiction of an existing key:
//   - national admin: jurisdictions, members, hub admission, imposed
//     agreements, jurisdictions' admin keys;
//   - national quorum: genesis, national admin keys, the quorum;
//   - the named jurisdiction's admin: issuer keys, code revocations,
//     proposals, acceptances, suspensions, terminations, leaving the hub.
func (fx *fixture) signersFor(msg proto.Message, f *FSM) []*admin {
	one := func(a *admin) []*admin { return []*admin{a} }
	switch c := msg.(type) {
	case *roamv1.Genesis, *roamv1.SetNationalQuorum:
		return fx.quorum()
	case *roamv1.AddAdminKey:
		if c.GetKey().GetJurisdiction() == National {
			return fx.quorum()
		}
	case *roamv1.RevokeAdminKey:
		if f != nil {
			for _, k := range f.State().GetAdminKeys() {
				if k.GetKid() == c.GetKid() && k.GetJurisdiction() == National {
					return fx.quorum()
				}
			}
		}
	case *roamv1.AddKey:
		return one(fx.adminOf(c.GetKey().GetJurisdiction(), f))
	case *roamv1.SetKeyState:
		if f != nil {
			if k, ok := f.Key(c.GetKid()); ok {
				return one(fx.adminOf(k.Jurisdiction, f))
			}
		}
	case *roamv1.RevokeCode:
		return one(fx.adminOf(c.GetJurisdiction(), f))
	case *roamv1.ProposeAgreement:
		return one(fx.adminOf(c.GetProposedBy(), f))
	case *roamv1.AcceptAgreement:
		return one(fx.adminOf(c.GetAcceptedBy(), f))
	case *roamv1.SuspendAgreement:
		return one(fx.adminOf(c.GetBy(), f))
	case *roamv1.TerminateAgreement:
		return one(fx.adminOf(c.GetBy(), f))
	case *roamv1.LeaveHub:
		return one(fx.adminOf(c.GetJurisdiction(), f))
	}
	return one(fx.national[0])
}

// encode wraps msg in the unsigned Command envelope (what Encode writes; no
// longer a valid log entry on its own).
func encode(tb testing.TB, msg proto.Message) []byte {
	tb.Helper()
	cmd, err := NewCommand(msg)
	if err != nil {
		tb.Fatalf("NewCommand(%T): %v", msg, err)
	}
	b, err := Encode(cmd)
	if err != nil {
		tb.Fatalf("Encode(%T): %v", msg, err)
	}
	return b
}

// lastAudit returns the newest audit record.
func lastAudit(tb testing.TB, f *FSM) *roamv1.AuditRecord {
	tb.Helper()
	recs := f.Audit(0, 0)
	if len(recs) == 0 {
		tb.Fatal("no audit records")
	}
	return recs[len(recs)-1]
}
