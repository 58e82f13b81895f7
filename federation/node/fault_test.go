package node

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/identity"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// The issue-5 fault tests: real roamd nodes (Raft over TCP loopback with
// mutual TLS, gRPC, HTTP to simulated backends) under a write and verify
// workload while one fault is injected and healed. Partitions cut the
// nodes' Raft TCP connections through a wrapped stream layer (faultLayer);
// a full disk fails the raft-boltdb log writes through a wrapped log store
// (faultStore); a kill stops a node without its clean-stop snapshot.
//
// After healing, each test checks that
//   - every acknowledged write is in every node's registry, with the result
//     the client was given, and no write was lost (the "lost" figure is 0);
//   - every node's FSM state is identical (proto.Equal at the same index),
//     so a write whose outcome was unknown is on all nodes or on none;
//   - the client history is linearizable (porcupine, registryModel);
//   - every verification a live node answered was a decision (PASS), even
//     while the cluster had no quorum: decisions come from the local replica.

// faultNode is one node of a fault-test cluster.
type faultNode struct {
	testNode
	layer *faultLayer
	store *faultStore
	up    atomic.Bool
	epoch atomic.Int64 // bumped by every stop and start
	// connMu guards testNode.conn, replaced on restart while the workload
	// runs.
	connMu sync.Mutex
}

// cc is fn's current client connection.
func (fn *faultNode) cc() *grpc.ClientConn {
	fn.connMu.Lock()
	defer fn.connMu.Unlock()
	return fn.conn
}

type faultCluster struct {
	t       testing.TB
	ctx     context.Context
	clk     clock.Clock
	kr      *admin.Keyring
	genesis *roamv1.SignedCommand
	nodes   []*faultNode
	tune    func(*raft.Config)
	code    string // a green roam code of 330000, verified at 410000
}

var faultIDs = []string{"330000", "410000", "110000", "120000", "130000"}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newFaultCluster starts n voters with fixed loopback ports (so killed
// nodes come back at the same addresses), onboards them, registers
// 330000's issuer key, activates 410000 ← 330000 and issues a green code.
func newFaultCluster(t testing.TB, n int, snapshotThreshold uint64, tune func(*raft.Config)) *faultCluster {
	t.Helper()
	ctx := context.Background()
	c := &faultCluster{t: t, ctx: ctx, clk: clock.NewSim(time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST)), tune: tune}
	ids := faultIDs[:n]
	var err error
	if c.kr, err = admin.NewKeyring(3, 2, ids...); err != nil {
		t.Fatal(err)
	}
	if c.genesis, err = c.kr.Genesis(); err != nil {
		t.Fatal(err)
	}
	ca, err := identity.NewCA("fault CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	dir := t.TempDir()
	t.Cleanup(func() {
		for i := len(c.nodes) - 1; i >= 0; i-- {
			fn := c.nodes[i]
			if fn.up.Load() {
				fn.stop()
			}
			fn.simTS.Close()
			fn.sim.Close()
		}
	})
	for i, id := range ids {
		sim, err := provsim.New(provsim.Config{Jurisdiction: id, Dialect: provsim.DialectFor(id), DBPath: filepath.Join(dir, id+"-provsim.db"), Clock: c.clk})
		if err != nil {
			t.Fatal(err)
		}
		fn := &faultNode{testNode: testNode{id: id, sim: sim, simTS: httptest.NewServer(sim.Handler())}}
		c.nodes = append(c.nodes, fn)
		raftAddr := freePort(t)
		fn.cfg = &Config{
			Jurisdiction: id, Name: id, DataDir: filepath.Join(dir, id),
			RaftListen: raftAddr, RaftAdvertise: raftAddr, GRPCListen: freePort(t),
			Backend:          Backend{URL: fn.simTS.URL},
			HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
			SnapshotThreshold: snapshotThreshold,
			Bootstrap:         i == 0,
			// All test clients share 127.0.0.1: one client to the limiter.
			RateLimit: RateLimit{ClientRPS: 10000, ClientBurst: 10000},
		}
		fn.cfg.TLS, fn.creds = nodeTLS(t, ca, pool, dir, id)
		c.start(fn)
		if i == 0 {
			fn.waitReady(t, ctx)
			for _, j := range ids {
				cmds, err := c.kr.Onboard(j, j, SystemFor(j))
				if err != nil {
					t.Fatal(err)
				}
				for _, sc := range cmds {
					c.mustPropose(fn, sc)
				}
			}
		}
		join := c.sign(&roamv1.UpsertMember{Member: fn.memberOf()}, c.kr.Nat())
		c.retrySetup("join "+id, func() error {
			_, err := roamv1.NewPeeringServiceClient(c.nodes[0].cc()).Join(ctx, &roamv1.JoinRequest{Member: join})
			return err
		})
		fn.waitReady(t, ctx)
		fn.cfg.GRPCAdvertise = "" // restarts advertise the same listen address
	}
	// 330000 issues; 410000 recognises it (no live status: decisions come
	// from the local replica alone, so they must survive quorum loss).
	zj := c.nodes[0]
	pub, err := zj.node.IssuerPublicJWK()
	if err != nil {
		t.Fatal(err)
	}
	is := zj.node.Issuer().Signer()
	c.mustPropose(zj, c.sign(&roamv1.AddKey{Key: &roamv1.IssuerKey{Kid: is.Kid(), Jurisdiction: "330000", Alg: is.Alg(), Jwk: pub,
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: c.clk.Now().Add(-time.Hour).Unix()}}, c.kr.Admin("330000")))
	from := time.Date(2020, 2, 28, 0, 0, 0, 0, clock.CST).Unix()
	c.mustPropose(zj, c.sign(&roamv1.ProposeAgreement{Host: "410000", Issuer: "330000", EffectiveFrom: from, ProposedBy: "410000", Terms: &roamv1.AgreementTerms{}, At: c.clk.Now().Unix()}, c.kr.Admin("410000")))
	c.mustPropose(zj, c.sign(&roamv1.AcceptAgreement{Id: "410000-330000", Version: 1, AcceptedBy: "330000", At: c.clk.Now().Unix()}, c.kr.Admin("330000")))
	bk, err := provsim.NewClient(zj.simTS.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.CloseIdleConnections()
	if _, err := bk.Enrol(ctx, provsim.Enrolment{IDNumber: "330106198801011234", Name: "张小三", Address: "杭州"}); err != nil {
		t.Fatal(err)
	}
	issued, err := issueCode(t, ctx, &zj.testNode, "330106198801011234")
	if err != nil {
		t.Fatal(err)
	}
	c.code = issued.GetCode()
	c.converge()
	return c
}

func (c *faultCluster) sign(m proto.Message, by ...*roamjws.Signer) *roamv1.SignedCommand {
	c.t.Helper()
	sc, err := c.kr.Sign(m, by...)
	if err != nil {
		c.t.Fatal(err)
	}
	return sc
}

// mustPropose writes a setup command. On a loaded machine leadership can
// move while the cluster forms, so an unknown outcome or no leader is
// retried with the same signed command; "replayed" then means an earlier
// try was committed.
func (c *faultCluster) mustPropose(fn *faultNode, sc *roamv1.SignedCommand) {
	c.t.Helper()
	c.retrySetup(fn.id, func() error {
		_, err := roamv1.NewRegistryServiceClient(fn.cc()).Propose(c.ctx, &roamv1.ProposeRequest{Signed: sc})
		return err
	})
}

func (c *faultCluster) retrySetup(what string, call func() error) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := call()
		switch status.Code(err) {
		case codes.OK, codes.AlreadyExists:
			return
		case codes.Unknown, codes.Unavailable, codes.DeadlineExceeded:
			if time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		c.t.Fatalf("setup via %s: %v", what, err)
	}
}

// start starts (or restarts) fn from its data dir with fresh injectors.
func (c *faultCluster) start(fn *faultNode) {
	c.t.Helper()
	opts := Options{Clock: c.clk, Logger: quietLogger(), RaftLogLevel: "off", Genesis: c.genesis,
		WrapRaftStream: func(s raft.StreamLayer) raft.StreamLayer { fn.layer = newFaultLayer(s); return fn.layer },
		WrapLogStore:   func(s raft.LogStore) raft.LogStore { fn.store = &faultStore{LogStore: s}; return fn.store },
		TuneRaft:       c.tune,
	}
	n, err := Start(c.ctx, fn.cfg, opts)
	if err != nil {
		c.t.Fatalf("start %s: %v", fn.id, err)
	}
	conn, err := newClientConn(n.GRPCAddr(), fn.creds)
	if err != nil {
		c.t.Fatal(err)
	}
	fn.connMu.Lock()
	fn.node, fn.conn = n, conn
	fn.connMu.Unlock()
	fn.epoch.Add(1)
	fn.up.Store(true)
}

// kill stops fn as a crash would: no clean-stop snapshot.
func (c *faultCluster) kill(fn *faultNode) {
	fn.up.Store(false)
	fn.epoch.Add(1)
	fn.cc().Close()
	if err := fn.node.close(false); err != nil {
		c.t.Logf("kill %s: %v", fn.id, err)
	}
}

func (c *faultCluster) restart(fn *faultNode) {
	c.t.Helper()
	c.start(fn)
}

// leader waits for a live leader.
func (c *faultCluster) leader() *faultNode {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, fn := range c.nodes {
			if fn.up.Load() && fn.node.Raft().State() == raft.Leader {
				return fn
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader within 30s")
	return nil
}

func (c *faultCluster) followers(l *faultNode) []*faultNode {
	var out []*faultNode
	for _, fn := range c.nodes {
		if fn != l {
			out = append(out, fn)
		}
	}
	return out
}

// partition cuts Raft traffic between the two groups, both ways.
func (c *faultCluster) partition(a, b []*faultNode) {
	for _, x := range a {
		for _, y := range b {
			x.layer.block(raft.ServerAddress(y.cfg.RaftAdvertise))
			y.layer.block(raft.ServerAddress(x.cfg.RaftAdvertise))
		}
	}
}

func (c *faultCluster) healNetwork() {
	for _, fn := range c.nodes {
		if fn.layer != nil {
			fn.layer.heal()
		}
	}
}

// converge waits until every node has applied everything the leader has
// committed (a Raft barrier) and returns that index.
func (c *faultCluster) converge() uint64 {
	c.t.Helper()
	var idx uint64
	deadline := time.Now().Add(45 * time.Second)
	for {
		l := c.leader()
		if err := l.node.Raft().Barrier(5 * time.Second).Error(); err == nil {
			idx = l.node.FSM().AppliedIndex()
			break
		} else if time.Now().After(deadline) {
			c.t.Fatalf("barrier: %v", err)
		}
	}
	for _, fn := range c.nodes {
		waitApplied(c.t, fn.node, idx)
	}
	return idx
}

// workload drives registry writes and verifications until stop is closed.
type workload struct {
	c        *faultCluster
	h        *history
	clients  atomic.Int64
	keys     []*roamv1.IssuerKey
	proposes sync.Map      // agreement id -> *atomic.Uint64, proposes sent
	acked    sync.Map      // command id -> linResult (ok or refused)
	unknown  sync.Map      // command id -> struct{}
	pause    time.Duration // between one client's writes (0: 5-20ms)
	vpause   time.Duration // between one node's verifications (0: 10ms)

	verifies, verifyErrs, notPass, stale atomic.Int64
	firstVerifyErr                       atomic.Value
	maxVerify                            atomic.Int64 // ns
}

var faultAgreements = [][2]string{{"110000", "410000"}, {"410000", "110000"}, {"110000", "330000"}}

func newWorkload(c *faultCluster) *workload {
	w := &workload{c: c, h: newHistory()}
	for range 6 {
		k, err := roamjws.GenerateKey(roamjws.ES256)
		if err != nil {
			c.t.Fatal(err)
		}
		s, err := roamjws.NewSigner(k)
		if err != nil {
			c.t.Fatal(err)
		}
		pub, err := roamjws.PublicJWK(k)
		if err != nil {
			c.t.Fatal(err)
		}
		w.keys = append(w.keys, &roamv1.IssuerKey{Kid: s.Kid(), Jurisdiction: "110000", Alg: roamjws.ES256, Jwk: pub,
			State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: c.clk.Now().Add(-time.Hour).Unix()})
	}
	return w
}

func (w *workload) randomUp(r *rand.Rand) *faultNode {
	for range 50 {
		fn := w.c.nodes[r.IntN(len(w.c.nodes))]
		if fn.up.Load() {
			return fn
		}
	}
	return nil
}

// nextOp builds a random registry write.
func (w *workload) nextOp(r *rand.Rand) (linInput, proto.Message, *roamjws.Signer) {
	at := w.c.clk.Now().Unix()
	if r.IntN(3) == 0 {
		k := w.keys[r.IntN(len(w.keys))]
		admin := w.c.kr.Admin("110000")
		switch r.IntN(3) {
		case 0:
			return linInput{Op: opAddKey, Key: k.GetKid()}, &roamv1.AddKey{Key: k}, admin
		case 1:
			return linInput{Op: opRetireKey, Key: k.GetKid()}, &roamv1.SetKeyState{Kid: k.GetKid(), State: roamv1.KeyState_KEY_STATE_RETIRED, At: at}, admin
		default:
			return linInput{Op: opRevokeKey, Key: k.GetKid()}, &roamv1.SetKeyState{Kid: k.GetKid(), State: roamv1.KeyState_KEY_STATE_REVOKED, At: at}, admin
		}
	}
	pair := faultAgreements[r.IntN(len(faultAgreements))]
	id := pair[0] + "-" + pair[1]
	by := pair[r.IntN(2)]
	cnt, _ := w.proposes.LoadOrStore(id, new(atomic.Uint64))
	n := cnt.(*atomic.Uint64)
	from := time.Date(2020, 2, 28, 0, 0, 0, 0, clock.CST).Unix()
	switch op := r.IntN(10); {
	case op < 3:
		n.Add(1)
		return linInput{Op: opPropose, Key: id, By: by}, &roamv1.ProposeAgreement{Host: pair[0], Issuer: pair[1], EffectiveFrom: from, ProposedBy: by, Terms: &roamv1.AgreementTerms{}, At: at}, w.c.kr.Admin(by)
	case op < 7:
		v := n.Load()
		if v > 1 && r.IntN(3) == 0 {
			v--
		}
		return linInput{Op: opAccept, Key: id, By: by, Version: v}, &roamv1.AcceptAgreement{Id: id, Version: v, AcceptedBy: by, At: at}, w.c.kr.Admin(by)
	case op < 9:
		return linInput{Op: opSuspend, Key: id, By: by}, &roamv1.SuspendAgreement{Id: id, By: by, Reason: "fault test", At: at}, w.c.kr.Admin(by)
	default:
		return linInput{Op: opTerminate, Key: id, By: by}, &roamv1.TerminateAgreement{Id: id, By: by, Reason: "fault test", At: at}, w.c.kr.Admin(by)
	}
}

// writer is one client: sequential writes through random live nodes. A
// write with an unknown outcome retires the client id (porcupine treats
// the operation as pending forever) and the client goes on as a new one.
func (w *workload) writer(stop <-chan struct{}, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed*7+1))
	client := int(w.clients.Add(1)) - 1
	for {
		select {
		case <-stop:
			return
		default:
		}
		fn := w.randomUp(r)
		if fn == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		in, m, by := w.nextOp(r)
		sc, err := w.c.kr.Sign(m, by)
		if err != nil {
			panic(err)
		}
		in.ID = commandID(sc)
		call := w.h.now()
		ctx, cancel := context.WithTimeout(w.c.ctx, 6*time.Second)
		_, err = roamv1.NewRegistryServiceClient(fn.cc()).Propose(ctx, &roamv1.ProposeRequest{Signed: sc})
		cancel()
		var res linResult
		switch status.Code(err) {
		case codes.OK:
			res = resOK
		case codes.FailedPrecondition:
			res = resRefused
		case codes.ResourceExhausted:
			continue // refused before the log: it never happened
		default:
			res = resUnknown
		}
		w.h.add(client, in, call, res)
		if res == resUnknown {
			w.unknown.Store(in.ID, struct{}{})
			client = int(w.clients.Add(1)) - 1
		} else {
			w.acked.Store(in.ID, res)
		}
		if w.pause > 0 {
			time.Sleep(w.pause)
		} else {
			time.Sleep(time.Duration(5+r.IntN(15)) * time.Millisecond)
		}
	}
}

// verifier verifies the code at fn over gRPC, as a checkpoint would.
func (w *workload) verifier(stop <-chan struct{}, fn *faultNode) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if !fn.up.Load() {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		epoch, conn := fn.epoch.Load(), fn.cc()
		ctx, cancel := context.WithTimeout(w.c.ctx, 5*time.Second)
		t0 := time.Now()
		resp, err := roamv1.NewRecognitionServiceClient(conn).Verify(ctx, &roamv1.VerifyRequest{Payload: []byte(w.c.code), Host: "410000", Checkpoint: "metro"})
		d := time.Since(t0)
		cancel()
		if fn.epoch.Load() != epoch { // stopped or restarted during the call
			continue
		}
		w.verifies.Add(1)
		for {
			old := w.maxVerify.Load()
			if int64(d) <= old || w.maxVerify.CompareAndSwap(old, int64(d)) {
				break
			}
		}
		if err != nil {
			w.verifyErrs.Add(1)
			w.firstVerifyErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", fn.id, err))
		} else if d := resp.GetDecision(); d.GetOutcome() == roamv1.Outcome_OUTCOME_UNDECIDED && len(d.GetReasons()) > 0 && d.GetReasons()[0].GetCode() == "registry_stale" {
			// A node restarted from its data dir that has not caught up
			// with a leader yet says so; it never decides from an old
			// replica (which could wrongly REJECT with unknown_key).
			w.stale.Add(1)
		} else if d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS {
			w.notPass.Add(1)
			w.firstVerifyErr.CompareAndSwap(nil, fmt.Sprintf("%s: %s %v", fn.id, resp.GetDecision().GetOutcome(), resp.GetDecision().GetReasons()))
		}
		if w.vpause > 0 {
			time.Sleep(w.vpause)
		} else if w.vpause == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// faultCase injects one fault and returns how to heal it.
type faultCase struct {
	name     string
	nodes    int
	snapshot uint64 // snapshot threshold (0: default)
	tune     func(*raft.Config)
	inject   func(c *faultCluster) (heal func())
	after    func(t *testing.T, c *faultCluster) // extra checks after convergence
}

func TestFaultsTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("fault tests start real clusters")
	}
	var lagging struct {
		node    *faultNode
		applied uint64
	}
	var diskNode *faultNode
	cases := []faultCase{
		{name: "kill leader", nodes: 3, inject: func(c *faultCluster) func() {
			l := c.leader()
			c.kill(l)
			return func() { c.restart(l) }
		}},
		{name: "kill follower", nodes: 3, inject: func(c *faultCluster) func() {
			f := c.followers(c.leader())[0]
			c.kill(f)
			return func() { c.restart(f) }
		}},
		{name: "partition leader from majority", nodes: 5, inject: func(c *faultCluster) func() {
			l := c.leader()
			fs := c.followers(l)
			c.partition([]*faultNode{l, fs[0]}, fs[1:])
			return c.healNetwork
		}},
		{name: "partition one follower", nodes: 3, inject: func(c *faultCluster) func() {
			l := c.leader()
			f := c.followers(l)[0]
			c.partition([]*faultNode{f}, c.followers(f))
			return c.healNetwork
		}},
		{name: "restart every node at once", nodes: 3, inject: func(c *faultCluster) func() {
			for _, fn := range c.nodes {
				c.kill(fn)
			}
			var wg sync.WaitGroup
			for _, fn := range c.nodes {
				wg.Go(func() { c.restart(fn) })
			}
			wg.Wait()
			return func() {}
		}},
		{name: "lagging follower catches up by snapshot install", nodes: 3, snapshot: 16,
			tune: func(rc *raft.Config) { rc.TrailingLogs = 4; rc.SnapshotInterval = 100 * time.Millisecond },
			inject: func(c *faultCluster) func() {
				l := c.leader()
				f := c.followers(l)[0]
				c.partition([]*faultNode{f}, c.followers(f))
				lagging.node, lagging.applied = f, f.node.FSM().AppliedIndex()
				return func() {
					// Let the leader run past what the follower has, then
					// snapshot and compact so logs alone cannot catch it up.
					deadline := time.Now().Add(20 * time.Second)
					for l.node.FSM().AppliedIndex() < lagging.applied+30 && time.Now().Before(deadline) {
						time.Sleep(50 * time.Millisecond)
					}
					if err := l.node.Raft().Snapshot().Error(); err != nil {
						t.Logf("leader snapshot: %v", err)
					}
					f.store.lowest.Store(^uint64(0))
					c.healNetwork()
				}
			},
			after: func(t *testing.T, c *faultCluster) {
				low := lagging.node.store.lowest.Load()
				if low == ^uint64(0) {
					t.Logf("follower %s had applied %d; after healing it caught up by snapshot installs alone (stored no log entry)", lagging.node.id, lagging.applied)
					return
				}
				if low <= lagging.applied+1 {
					t.Fatalf("follower %s stored log %d after healing (it had applied %d): it caught up by log replay, not by installing a snapshot", lagging.node.id, low, lagging.applied)
				}
				t.Logf("follower %s had applied %d; installed a snapshot and stored logs only from %d", lagging.node.id, lagging.applied, low)
			}},
		{name: "disk full on the leader", nodes: 3, inject: func(c *faultCluster) func() {
			diskNode = c.leader()
			diskNode.store.fail.Store(true)
			return func() { diskNode.store.fail.Store(false) }
		}, after: func(t *testing.T, c *faultCluster) {
			if diskNode.store.failed.Load() == 0 {
				t.Fatal("the injected disk fault never hit a write")
			}
			t.Logf("%d log writes on %s failed with %q", diskNode.store.failed.Load(), diskNode.id, errDiskFull)
		}},
	}
	for _, fc := range cases {
		t.Run(fc.name, func(t *testing.T) { runFaultCase(t, fc) })
	}
}

func runFaultCase(t *testing.T, fc faultCase) {
	c := newFaultCluster(t, fc.nodes, fc.snapshot, fc.tune)
	w := newWorkload(c)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { w.writer(stop, uint64(i+1)) })
	}
	for _, fn := range c.nodes {
		wg.Go(func() { w.verifier(stop, fn) })
	}
	time.Sleep(time.Second)
	heal := fc.inject(c)
	time.Sleep(3 * time.Second)
	heal()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	idx := c.converge()

	// FSMs identical at the same index.
	ref := c.nodes[0].node.FSM().State()
	for _, fn := range c.nodes[1:] {
		if st := fn.node.FSM().State(); !proto.Equal(ref, st) {
			t.Fatalf("registry of %s differs from %s's at index %d", fn.id, c.nodes[0].id, idx)
		}
	}
	// Every acknowledged write is there with the result the client got.
	var seen0 map[string]bool
	for _, fn := range c.nodes {
		seen := auditResults(fn.node)
		if seen0 == nil {
			seen0 = seen
		}
		lost := 0
		w.acked.Range(func(k, v any) bool {
			accepted, ok := seen[k.(string)]
			if !ok || accepted != (v.(linResult) == resOK) {
				lost++
				t.Errorf("%s: acknowledged write %s (%s) is missing or has another result", fn.id, k, v)
			}
			return true
		})
		if lost != 0 {
			t.Fatalf("%s lost %d acknowledged writes", fn.id, lost)
		}
	}
	applied := 0
	w.unknown.Range(func(k, _ any) bool {
		if _, ok := seen0[k.(string)]; ok {
			applied++
		}
		return true
	})
	okN, refused, unknown := w.h.counts()
	if okN == 0 {
		t.Fatal("no write succeeded: the workload did not run")
	}
	if w.verifyErrs.Load() != 0 || w.notPass.Load() != 0 {
		t.Fatalf("%d of %d verifications failed and %d were not PASS; first: %v", w.verifyErrs.Load(), w.verifies.Load(), w.notPass.Load(), w.firstVerifyErr.Load())
	}
	res := checkLinearizable(t, w.h, 60*time.Second)
	t.Logf("FAULT %q nodes=%d writes=%d ok=%d refused=%d unknown=%d (applied=%d) lost=0 verifies=%d verify_errors=0 stale=%d max_verify=%s linearizable=%s index=%d",
		fc.name, fc.nodes, okN+refused+unknown, okN, refused, unknown, applied, w.verifies.Load(), w.stale.Load(), time.Duration(w.maxVerify.Load()).Round(time.Millisecond), res, idx)
	if fc.after != nil {
		fc.after(t, c)
	}
}

// auditResults maps each command id in n's audit trail to whether the FSM
// accepted it.
func auditResults(n *Node) map[string]bool {
	seen := map[string]bool{}
	for from := uint64(0); ; {
		recs := n.FSM().Audit(from, 1000)
		if len(recs) == 0 {
			return seen
		}
		for _, r := range recs {
			seen[r.GetCommandId()] = r.GetAccepted()
		}
		from = recs[len(recs)-1].GetIndex() // Audit returns records after from
	}
}

func newClientConn(addr string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
}

// TestQuorumLossStalenessTCP: with quorum lost, the surviving node keeps
// deciding from its local replica and says how stale it is; past
// max_staleness its decisions turn UNDECIDED with registry_stale (issue 5
// §3). Three voters over TCP loopback; two are killed.
func TestQuorumLossStalenessTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	const maxStale = 2 * time.Second
	c := newFaultCluster(t, 3, 0, nil)
	verify := func(fn *faultNode) *roamv1.Decision {
		t.Helper()
		resp, err := roamv1.NewRecognitionServiceClient(fn.conn).Verify(c.ctx, &roamv1.VerifyRequest{Payload: []byte(c.code), Host: "410000", Checkpoint: "metro"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetDecision()
	}
	l := c.leader()
	survivor := c.followers(l)[0]
	// Restart the survivor with a short max_staleness.
	c.kill(survivor)
	survivor.cfg.MaxStaleness = maxStale
	c.restart(survivor)
	survivor.waitReady(t, c.ctx)
	c.converge()
	if d := verify(survivor); d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS || d.GetRegistryStalenessMs() < 0 || d.GetRegistryStalenessMs() > 1000 {
		t.Fatalf("healthy follower: %s staleness %dms, want PASS within 1s", d.GetOutcome(), d.GetRegistryStalenessMs())
	}
	if d := verify(l); d.GetRegistryStalenessMs() != 0 {
		t.Fatalf("leader reports staleness %dms, want 0", d.GetRegistryStalenessMs())
	}
	for _, fn := range c.followers(survivor) {
		c.kill(fn)
	}
	lost := time.Now()
	// The sampler may not have seen the last appends the others sent
	// before they died (one every CommitTimeout): let it catch up once.
	time.Sleep(2 * freshnessTick)
	// Quorum is gone: still PASS from the local replica, staleness growing.
	var last int64 = -1
	for time.Since(lost) < maxStale-500*time.Millisecond {
		d := verify(survivor)
		if d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS {
			t.Fatalf("%s after quorum loss: %s %v, want PASS from the local replica", time.Since(lost).Round(time.Millisecond), d.GetOutcome(), d.GetReasons())
		}
		if d.GetRegistryStalenessMs() < last {
			t.Fatalf("staleness went back from %d to %d ms", last, d.GetRegistryStalenessMs())
		}
		last = d.GetRegistryStalenessMs()
		time.Sleep(100 * time.Millisecond)
	}
	if last < 500 {
		t.Fatalf("staleness %dms after %s without a leader", last, time.Since(lost).Round(time.Millisecond))
	}
	time.Sleep(maxStale)
	d := verify(survivor)
	if d.GetOutcome() != roamv1.Outcome_OUTCOME_UNDECIDED || len(d.GetReasons()) == 0 || d.GetReasons()[0].GetCode() != "registry_stale" || d.GetRegistryStalenessMs() <= maxStale.Milliseconds() {
		t.Fatalf("past max_staleness: %s %v staleness %dms, want UNDECIDED registry_stale", d.GetOutcome(), d.GetReasons(), d.GetRegistryStalenessMs())
	}
	// Quorum back: fresh again.
	for _, fn := range c.followers(survivor) {
		c.restart(fn)
	}
	c.converge()
	deadline := time.Now().Add(10 * time.Second)
	for d := verify(survivor); d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS; d = verify(survivor) {
		if time.Now().After(deadline) {
			t.Fatalf("after quorum came back: %s %v", d.GetOutcome(), d.GetReasons())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
