package recognition

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/beijing"
	"github.com/roam-federation/roam/adapters/dcc"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/adapters/zhejiang"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/federation/registry"
	"github.com/roam-federation/roam/federation/registry/registrytest"
	"github.com/roam-federation/roam/policies"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Jurisdictions used in tests (GB/T 2260). Shanghai has no policy file of
// its own, so it runs the default policy.
const (
	henan     = "410000"
	zhejiangJ = "330000"
	hubei     = "420000"
	beijingJ  = "110000"
	shanghai  = "310000"
	guangdong = "440000"
)

// Times of the demo's 2020 facts (DESIGN.md §5), in China Standard Time.
var (
	// now is the simulated clock's time: Zhejiang green code at a Henan
	// checkpoint on 2020-03-02.
	now = time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST)
	// henanFrom is when 410000 ← 330000 came into force.
	henanFrom = time.Date(2020, 2, 28, 0, 0, 0, 0, clock.CST)
	// keysFrom is when every test issuer key became valid.
	keysFrom = time.Date(2020, 2, 1, 0, 0, 0, 0, clock.CST)
)

// The personal data a resident gave their province. Only the masked
// display name and the pseudonymous subject ever reach a token; none of
// these may reach a decision log.
const (
	residentName = "张三"
	residentID   = "330106198001011234"
	residentDisp = "张*三"
	residentSub  = "sub-7f3a9c1e5b2d4a6f8e0c"
)

// issuer is a jurisdiction's registered signing key.
type issuer struct {
	id     string
	signer *roamjws.Signer
}

// world is a real registry replica (FSM driven through Apply), real issuer
// keys and a pipeline reading them.
type world struct {
	t       testing.TB
	fsm     *registry.FSM
	index   uint64
	clock   *clock.Sim
	admins  *adminSet          // who signs registry commands
	keys    map[string]*issuer // by jurisdiction
	rogue   *roamjws.Signer    // a key no registry knows
	pols    *policies.Set
	status  *fakeStatus
	p       *Pipeline
	applied []string // summaries, for failure messages
	cache   *roamjws.Cache
}

// testJurisdictions are the jurisdictions every world registers, with the
// algorithm of their issuer key.
var testJurisdictions = []struct{ id, name, alg string }{
	{zhejiangJ, "Zhejiang", roamjws.ES256},
	{henan, "Henan", roamjws.ES256},
	{hubei, "Hubei", roamjws.ES256},
	{beijingJ, "Beijing", roamjws.EdDSA},
	{shanghai, "Shanghai", roamjws.ES256},
	{guangdong, "Guangdong", roamjws.ES256},
}

// adminSet is the registry's governance keys: the national platform's
// admins (genesis installs them with quorum) and one admin key per test
// jurisdiction. Every world uses the same set; it is generated once per
// test binary (see testAdmins).
type adminSet struct {
	national   []*roamjws.Signer
	nationalPB []*roamv1.AdminKey
	quorum     uint32
	signer     map[string]*roamjws.Signer  // jurisdiction admin, by jurisdiction
	pb         map[string]*roamv1.AdminKey // its AdminKey record
}

var (
	adminsOnce sync.Once
	admins     *adminSet
	adminsErr  error
)

// testAdmins returns the shared admin key set, generating it on first use.
func testAdmins(t testing.TB) *adminSet {
	t.Helper()
	adminsOnce.Do(func() { admins, adminsErr = genAdmins() })
	if adminsErr != nil {
		t.Fatalf("generate admin keys: %v", adminsErr)
	}
	return admins
}

func genAdmins() (*adminSet, error) {
	a := &adminSet{quorum: 2, signer: map[string]*roamjws.Signer{}, pb: map[string]*roamv1.AdminKey{}}
	mk := registrytest.NewAdmin
	for i, alg := range []string{roamjws.ES256, roamjws.EdDSA} {
		s, pb, err := mk(alg, registry.National, fmt.Sprintf("national admin %d", i+1))
		if err != nil {
			return nil, err
		}
		a.national, a.nationalPB = append(a.national, s), append(a.nationalPB, pb)
	}
	for _, j := range testJurisdictions {
		s, pb, err := mk(roamjws.ES256, j.id, j.name+" admin")
		if err != nil {
			return nil, err
		}
		a.signer[j.id], a.pb[j.id] = s, pb
	}
	return a, nil
}

// newWorld starts the registry with a genesis (two national admin keys,
// quorum 2), then registers 330000, 410000, 420000, 110000, 310000 and
// 440000, each with an admin key (added by the national platform) and an
// ES256 issuer key (110000: EdDSA) valid from keysFrom (added by the
// jurisdiction's admin), and no agreements. The pipeline uses the embedded
// policies and a fake status source that answers "unchanged" unless a test
// sets its func.
func newWorld(t testing.TB) *world {
	t.Helper()
	pols, err := policies.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		t: t, fsm: registry.NewFSM(), clock: clock.NewSim(now), admins: testAdmins(t),
		keys: map[string]*issuer{}, pols: pols, status: &fakeStatus{},
	}
	w.apply(&roamv1.Genesis{NationalAdmins: w.admins.nationalPB, Quorum: w.admins.quorum})
	for _, j := range testJurisdictions {
		w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: j.id, Name: j.name}})
		w.apply(&roamv1.AddAdminKey{Key: w.admins.pb[j.id]})
		s, pub := newSigner(t, j.alg)
		w.apply(&roamv1.AddKey{Key: &roamv1.IssuerKey{
			Kid: s.Kid(), Jurisdiction: j.id, Alg: j.alg, Jwk: pub,
			State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: keysFrom.Unix(),
		}})
		w.keys[j.id] = &issuer{id: j.id, signer: s}
	}
	w.rogue, _ = newSigner(t, roamjws.ES256)
	w.cache = roamjws.NewCache(64)
	w.p = &Pipeline{
		Registry: w.fsm,
		Adapters: []adapters.Adapter{
			// The node's shape: a verified-code cache in front of the
			// verifier (issue 6 §2), so every pipeline test runs through it.
			roamjws.Adapter{V: &roamjws.Verifier{Keys: w.fsm, Cache: w.cache}},
			dcc.Adapter{Registry: w.fsm},
			&zhejiang.Adapter{}, &beijing.Adapter{},
		},
		Policies: pols,
		Status:   w.status,
		Clock:    w.clock,
		Host:     henan,
	}
	return w
}

// newSigner makes a private key and returns its signer and registrable
// public JWK. The kid is checked against the RFC 7638 thumbprint.
func newSigner(t testing.TB, alg string) (*roamjws.Signer, []byte) {
	t.Helper()
	k, err := roamjws.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := roamjws.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if kid, err := roamjws.Thumbprint(pk); err != nil || kid != s.Kid() {
		t.Fatalf("thumbprint %q (%v) != signer kid %q", kid, err, s.Kid())
	}
	pub, err := roamjws.PublicJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// apply commits one command, signed by whoever the registry requires for
// it (see signersFor), as the next Raft log entry and fails the test if the
// FSM refuses it.
func (w *world) apply(msg proto.Message) {
	w.t.Helper()
	w.applyAs(msg, w.signersFor(msg)...)
}

// applyAs is apply with explicit signers.
func (w *world) applyAs(msg proto.Message, signers ...*roamjws.Signer) {
	w.t.Helper()
	if err := w.tryApplyAs(msg, signers...); err != nil {
		w.t.Fatalf("apply %T: %v (after %q)", msg, err, w.applied)
	}
}

// tryApplyAs signs msg with signers and applies it as the next log entry,
// appended at the instant it was signed (the registry checks a command's
// expiry against the entry's AppendedAt, never the simulated clock).
func (w *world) tryApplyAs(msg proto.Message, signers ...*roamjws.Signer) error {
	w.t.Helper()
	at := time.Now()
	sc, _, err := registry.SignCommand(msg, at, registry.DefaultCommandTTL, signers...)
	if err != nil {
		w.t.Fatalf("sign %T: %v", msg, err)
	}
	data, err := registry.EncodeSigned(sc)
	if err != nil {
		w.t.Fatalf("encode %T: %v", msg, err)
	}
	w.index++
	out := w.fsm.Apply(&raft.Log{Index: w.index, Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: at})
	res, ok := out.(*registry.ApplyResult)
	if !ok {
		w.t.Fatalf("Apply returned %T", out)
	}
	if res.Err == nil {
		w.applied = append(w.applied, res.Summary)
	}
	return res.Err
}

// signersFor returns the admin keys that may sign msg under the registry's
// authority rules: the acting jurisdiction's admin for issuer keys, code
// revocations and agreement moves, the national admins (all of them, so any
// quorum is met) for everything else.
func (w *world) signersFor(msg proto.Message) []*roamjws.Signer {
	w.t.Helper()
	switch c := msg.(type) {
	case *roamv1.AddKey:
		return w.adminOf(c.GetKey().GetJurisdiction())
	case *roamv1.SetKeyState:
		if k, ok := w.fsm.Key(c.GetKid()); ok {
			return w.adminOf(k.Jurisdiction)
		}
	case *roamv1.RevokeCode:
		return w.adminOf(c.GetJurisdiction())
	case *roamv1.ProposeAgreement:
		return w.adminOf(c.GetProposedBy())
	case *roamv1.AcceptAgreement:
		return w.adminOf(c.GetAcceptedBy())
	case *roamv1.SuspendAgreement:
		return w.adminOf(c.GetBy())
	case *roamv1.TerminateAgreement:
		return w.adminOf(c.GetBy())
	case *roamv1.LeaveHub:
		return w.adminOf(c.GetJurisdiction())
	}
	return w.admins.national
}

// adminOf returns jurisdiction j's admin signer (the national admins for
// the national platform).
func (w *world) adminOf(j string) []*roamjws.Signer {
	w.t.Helper()
	if j == registry.National {
		return w.admins.national
	}
	s, ok := w.admins.signer[j]
	if !ok {
		w.t.Fatalf("no admin key for jurisdiction %q", j)
	}
	return []*roamjws.Signer{s}
}

// window is an agreement's effective window; a zero until is open-ended.
type window struct{ from, until time.Time }

var fromHenan = window{from: henanFrom}

// propose puts host ← iss in the proposed state (the issuer proposes).
func (w *world) propose(host, iss string, win window, terms *roamv1.AgreementTerms) string {
	w.t.Helper()
	var until int64
	if !win.until.IsZero() {
		until = win.until.Unix()
	}
	w.apply(&roamv1.ProposeAgreement{
		Host: host, Issuer: iss, Terms: terms,
		EffectiveFrom: win.from.Unix(), EffectiveUntil: until,
		ProposedBy: iss, At: henanFrom.Add(-24 * time.Hour).Unix(),
	})
	return registry.AgreementID(host, iss)
}

// agree makes host ← iss active: the issuer proposes, the host accepts.
func (w *world) agree(host, iss string, win window, terms *roamv1.AgreementTerms) string {
	w.t.Helper()
	id := w.propose(host, iss, win, terms)
	a := w.agreement(id)
	w.apply(&roamv1.AcceptAgreement{Id: id, Version: a.GetVersion(), AcceptedBy: host, At: henanFrom.Add(-12 * time.Hour).Unix()})
	return id
}

func (w *world) agreement(id string) *roamv1.Agreement {
	w.t.Helper()
	for _, a := range w.fsm.State().GetAgreements() {
		if a.GetId() == id {
			return a
		}
	}
	w.t.Fatalf("agreement %s not in the registry", id)
	return nil
}

// code is a roam code's claims, built by mkClaims and changed by opts.
type codeOpt func(*adapters.Claims)

func color(c adapters.Color) codeOpt { return func(cl *adapters.Claims) { cl.Color = c } }
func ver(v int64) codeOpt            { return func(cl *adapters.Claims) { cl.Version = v } }
func iss(id string) codeOpt          { return func(cl *adapters.Claims) { cl.Issuer = id } }

// issued sets iat and nbf to t and exp 7 days later.
func issued(t time.Time) codeOpt {
	return func(cl *adapters.Claims) {
		cl.IssuedAt, cl.NotBefore, cl.Expires = t.Unix(), t.Unix(), t.Add(7*24*time.Hour).Unix()
	}
}

// mkClaims returns a green Zhejiang code, version 1, issued an hour before
// now and valid for 7 days.
func mkClaims(t testing.TB, opts ...codeOpt) *adapters.Claims {
	t.Helper()
	jti, err := roamjws.NewCodeID()
	if err != nil {
		t.Fatal(err)
	}
	c := &adapters.Claims{
		Issuer: zhejiangJ, CodeID: jti, Subject: residentSub, Display: residentDisp,
		Color: adapters.Green, System: "zhejiang-health-code", Version: 1,
	}
	issued(now.Add(-time.Hour))(c)
	for _, o := range opts {
		o(c)
	}
	return c
}

// sign signs c with s as a roam code in its QR form ("roam:" + JWS).
func sign(t testing.TB, s *roamjws.Signer, c *adapters.Claims) []byte {
	t.Helper()
	tok, err := s.Sign(c, roamjws.TypCode)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(roamjws.Prefix + tok)
}

// code signs claims with the registered key of the claims' issuer.
func (w *world) code(opts ...codeOpt) ([]byte, *adapters.Claims) {
	w.t.Helper()
	c := mkClaims(w.t, opts...)
	k, ok := w.keys[c.Issuer]
	if !ok {
		w.t.Fatalf("no key for %s", c.Issuer)
	}
	return sign(w.t, k.signer, c), c
}

// fakeStatus is a StatusSource backed by a func. It records every call.
// With fn nil it answers status_invalid, so that an unexpected call shows
// up in the decision as well as in calls.
type fakeStatus struct {
	mu    sync.Mutex
	fn    func(ctx context.Context, issuer, jti string) (*adapters.Claims, error)
	calls []string // issuer/jti
}

func (f *fakeStatus) QueryStatus(ctx context.Context, issuer, jti string) (*adapters.Claims, error) {
	f.mu.Lock()
	f.calls = append(f.calls, issuer+"/"+jti)
	fn := f.fn
	f.mu.Unlock()
	if fn == nil {
		return nil, errNoStatusFunc
	}
	return fn(ctx, issuer, jti)
}

func (f *fakeStatus) set(fn func(ctx context.Context, issuer, jti string) (*adapters.Claims, error)) {
	f.mu.Lock()
	f.fn = fn
	f.mu.Unlock()
}

func (f *fakeStatus) numCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// assertion returns a status func answering a verified assertion for the
// asked code id with colour c and status version v.
func assertion(c adapters.Color, v int64) func(context.Context, string, string) (*adapters.Claims, error) {
	return func(_ context.Context, issuer, jti string) (*adapters.Claims, error) {
		return &adapters.Claims{
			Issuer: issuer, CodeID: jti, Color: c, Version: v,
			IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(5 * time.Minute).Unix(),
		}, nil
	}
}

// failing returns a status func that fails with err.
func failing(err error) func(context.Context, string, string) (*adapters.Claims, error) {
	return func(context.Context, string, string) (*adapters.Claims, error) { return nil, err }
}

// hanging returns a status func that blocks until ctx is done and then
// returns ctx's error, as a naive client without its own timeout would.
func hanging(ctx context.Context, _, _ string) (*adapters.Claims, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// reasonCodes lists a decision's reason codes in order.
func reasonCodes(d *roamv1.Decision) []string {
	out := make([]string, 0, len(d.GetReasons()))
	for _, r := range d.GetReasons() {
		out = append(out, r.GetCode())
	}
	return out
}

// stageView is a Stage as a comparable value: name, ok, reason.
type stageView struct {
	Name   string
	OK     bool
	Reason string
}

func stageViews(st []*roamv1.Stage) []stageView {
	out := make([]stageView, 0, len(st))
	for _, s := range st {
		out = append(out, stageView{s.GetName(), s.GetOk(), s.GetReason()})
	}
	return out
}

var errNoStatusFunc = reason.New(reason.StatusInvalid, "fake status source has no answer configured")

// discard is a logger for pipelines whose log a test does not read.
var discard = slog.New(slog.DiscardHandler)
