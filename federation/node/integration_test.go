package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/identity"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// testNode is one province in an integration cluster.
type testNode struct {
	id    string
	cfg   *Config
	node  *Node
	sim   *provsim.Server
	simTS *httptest.Server
	conn  *grpc.ClientConn
	tp    *sdktrace.TracerProvider
	creds credentials.TransportCredentials // TLS without a client certificate
}

// nodeTLS issues node id's certificate from ca into dir and returns the
// config's tls section and client credentials without a certificate.
func nodeTLS(t testing.TB, ca *identity.CA, pool *x509.CertPool, dir, id string) (*identity.Files, credentials.TransportCredentials) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(identity.ID{Jurisdiction: id, NodeID: id}, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files, err := identity.WriteFiles(filepath.Join(dir, id+"-tls"), "node", ca.PEM, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &files, credentials.NewTLS(identity.ClientConfig(nil, pool))
}

// certConn is a client connection to addr presenting tn's node
// certificate, closed when the test ends.
func certConn(t testing.TB, tn *testNode, addr string) *grpc.ClientConn {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(tn.cfg.TLS.Cert, tn.cfg.TLS.Key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(tn.cfg.TLS.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(identity.ClientConfig(&cert, pool))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// issueCode asks tn's node for a resident's code as the province's own
// systems do: with a client certificate naming its jurisdiction (here the
// node's own).
func issueCode(t testing.TB, ctx context.Context, tn *testNode, resident string) (*roamv1.IssueCodeResponse, error) {
	t.Helper()
	return roamv1.NewIssuanceServiceClient(certConn(t, tn, tn.node.GRPCAddr())).IssueCode(ctx, &roamv1.IssueCodeRequest{ResidentId: resident})
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startTestNode(t *testing.T, ctx context.Context, clk clock.Clock, tn *testNode, genesis *roamv1.SignedCommand) {
	t.Helper()
	n, err := Start(ctx, tn.cfg, Options{Clock: clk, Logger: quietLogger(), RaftLogLevel: "error", TracerProvider: tn.tp, Genesis: genesis})
	if err != nil {
		t.Fatalf("start %s: %v", tn.id, err)
	}
	tn.node = n
	if tn.conn, err = grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(tn.creds)); err != nil {
		t.Fatal(err)
	}
}

func (tn *testNode) waitReady(t testing.TB, ctx context.Context) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := tn.node.WaitReady(wctx); err != nil {
		t.Fatalf("%s ready: %v", tn.id, err)
	}
}

// memberOf is tn's registry member record.
func (tn *testNode) memberOf() *roamv1.Member {
	return &roamv1.Member{NodeId: tn.cfg.NodeID, Jurisdiction: tn.id, RaftAddress: tn.cfg.RaftAdvertise, GrpcAddress: tn.node.GRPCAddr(), Voter: tn.cfg.IsVoter()}
}

func (tn *testNode) stop() {
	if tn.conn != nil {
		tn.conn.Close()
	}
	if tn.node != nil {
		tn.node.Close()
	}
}

// TestIntegrationThreeNodesTCP starts three nodes over real TCP loopback
// (Raft, gRPC, HTTP to simulated backends) and, through a follower,
// activates an agreement, issues a code at one province, verifies it at
// another with a live status query, restarts a node from its data dir and
// checks its registry state survived (issue 2 §12).
func TestIntegrationThreeNodesTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	clk := clock.NewSim(time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST))
	dir := t.TempDir()
	ids := []string{"330000", "410000", "110000"}
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	kr, err := admin.NewKeyring(3, 2, ids...)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(m proto.Message, by ...*roamjws.Signer) *roamv1.SignedCommand {
		t.Helper()
		sc, err := kr.Sign(m, by...)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	// Mutual TLS with a throwaway CA, as in the demo and in production.
	ca, err := identity.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	genesis, err := kr.Genesis()
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*testNode{}
	var seedReg roamv1.RegistryServiceClient
	var seedPeer roamv1.PeeringServiceClient
	for i, id := range ids {
		sim, err := provsim.New(provsim.Config{Jurisdiction: id, Dialect: provsim.DialectFor(id), DBPath: filepath.Join(dir, id+"-provsim.db"), Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		tn := &testNode{id: id, sim: sim, simTS: httptest.NewServer(sim.Handler()), tp: tp}
		tn.cfg = &Config{
			Jurisdiction: id, Name: id, DataDir: filepath.Join(dir, id),
			RaftListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0",
			Backend:          Backend{URL: tn.simTS.URL},
			HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		}
		tn.cfg.TLS, tn.creds = nodeTLS(t, ca, pool, dir, id)
		if i == 0 {
			tn.cfg.Bootstrap = true
		}
		// The bootstrapping node and the restarted one advertise Raft by
		// name, as a Kubernetes pod does (its DNS name outlives its IP).
		if id == "330000" || id == "110000" {
			addr := freePort(t)
			tn.cfg.RaftListen, tn.cfg.RaftAdvertise = addr, strings.Replace(addr, "127.0.0.1", "localhost", 1)
		}
		// Every node pins the genesis; the first one also applies it.
		startTestNode(t, ctx, clk, tn, genesis)
		nodes[id] = tn
		if i == 0 {
			tn.waitReady(t, ctx)
			seedReg, seedPeer = roamv1.NewRegistryServiceClient(tn.conn), roamv1.NewPeeringServiceClient(tn.conn)
			// The national platform onboards the provinces and their admins.
			for _, j := range ids {
				cmds, err := kr.Onboard(j, j, SystemFor(j))
				if err != nil {
					t.Fatal(err)
				}
				for _, sc := range cmds {
					if _, err := seedReg.Propose(ctx, &roamv1.ProposeRequest{Signed: sc}); err != nil {
						t.Fatalf("onboard %s: %v", j, err)
					}
				}
			}
		}
		// A national admin adds the node; its province's admin registers
		// the node's issuer key.
		if _, err := seedPeer.Join(ctx, &roamv1.JoinRequest{Member: sign(&roamv1.UpsertMember{Member: tn.memberOf()}, kr.Nat())}); err != nil {
			t.Fatalf("join %s: %v", id, err)
		}
		tn.waitReady(t, ctx)
		pub, err := tn.node.IssuerPublicJWK()
		if err != nil {
			t.Fatal(err)
		}
		is := tn.node.Issuer().Signer()
		if _, err := seedReg.Propose(ctx, &roamv1.ProposeRequest{Signed: sign(&roamv1.AddKey{Key: &roamv1.IssuerKey{
			Kid: is.Kid(), Jurisdiction: id, Alg: is.Alg(), Jwk: pub, State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: clk.Now().Add(-time.Hour).Unix(),
		}}, kr.Admin(id))}); err != nil {
			t.Fatalf("issuer key of %s: %v", id, err)
		}
	}
	t.Cleanup(func() {
		for i := len(ids) - 1; i >= 0; i-- {
			nodes[ids[i]].stop()
			nodes[ids[i]].simTS.Close()
			nodes[ids[i]].sim.Close()
		}
	})
	if st := nodes["410000"].node.Raft().State().String(); st == "Leader" {
		t.Fatalf("410000 should be a follower, is %s", st)
	}
	// A join may not move an existing member or reuse its address, and an
	// unsigned or provincially signed join never reaches Raft.
	peer := roamv1.NewPeeringServiceClient(nodes["410000"].conn)
	moved := nodes["410000"].memberOf()
	moved.RaftAddress = "127.0.0.1:2"
	squat := &roamv1.Member{NodeId: "999999", Jurisdiction: "410000", RaftAddress: nodes["410000"].cfg.RaftAdvertise, GrpcAddress: "127.0.0.1:3", Voter: true}
	rogue := &roamv1.Member{NodeId: "rogue", Jurisdiction: "410000", RaftAddress: "127.0.0.1:4", GrpcAddress: "127.0.0.1:5", Voter: true}
	for _, j := range []struct {
		sc   *roamv1.SignedCommand
		want codes.Code
	}{
		{sign(&roamv1.UpsertMember{Member: moved}, kr.Nat()), codes.FailedPrecondition},
		{sign(&roamv1.UpsertMember{Member: squat}, kr.Nat()), codes.FailedPrecondition},
		{sign(&roamv1.UpsertMember{Member: rogue}, kr.Admin("410000")), codes.PermissionDenied},
		{&roamv1.SignedCommand{}, codes.InvalidArgument},
	} {
		if _, err := peer.Join(ctx, &roamv1.JoinRequest{Member: j.sc}); status.Code(err) != j.want {
			t.Fatalf("Join: err = %v, want %s", err, j.want)
		}
	}
	// A follower judges signatures itself before it forwards: junk signed
	// by a key nobody registered never reaches the leader (where it would
	// spend this follower's peer allowance); a good command passes.
	strangerKey, err := roamjws.GenerateKey(roamjws.ES256)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := roamjws.NewSigner(strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sc   *roamv1.SignedCommand
		want error
	}{
		{sign(&roamv1.UpsertMember{Member: rogue}, stranger), registry.ErrBadSignature},
		{sign(&roamv1.UpsertMember{Member: rogue}, kr.Nat()), nil},
	} {
		b, err := registry.EncodeSigned(c.sc)
		if err != nil {
			t.Fatal(err)
		}
		if err := nodes["410000"].node.precheckForward(b); !errors.Is(err, c.want) {
			t.Fatalf("precheckForward: %v, want %v", err, c.want)
		}
	}
	if n := len(nodes["330000"].node.Raft().GetConfiguration().Configuration().Servers); n != 3 {
		t.Fatalf("Raft configuration has %d servers, want 3", n)
	}

	henan := roamv1.NewRegistryServiceClient(nodes["410000"].conn)
	zhejiang := roamv1.NewRegistryServiceClient(nodes["330000"].conn)
	propose := func(c roamv1.RegistryServiceClient, m proto.Message, by *roamjws.Signer) uint64 {
		t.Helper()
		resp, err := c.Propose(ctx, &roamv1.ProposeRequest{Signed: sign(m, by)})
		if err != nil {
			t.Fatalf("propose %T: %v", m, err)
		}
		return resp.GetIndex()
	}

	// 1. Propose through the follower 410000 and accept as 330000.
	from := time.Date(2020, 2, 28, 0, 0, 0, 0, clock.CST).Unix()
	idx := propose(henan, &roamv1.ProposeAgreement{Host: "410000", Issuer: "330000", EffectiveFrom: from, ProposedBy: "410000",
		Terms: &roamv1.AgreementTerms{RequireLiveStatus: true}, At: clk.Now().Unix()}, kr.Admin("410000"))
	if idx == 0 {
		t.Fatal("propose returned index 0")
	}
	waitApplied(t, nodes["410000"].node, idx)
	// Henan's admin cannot accept on Zhejiang's behalf.
	if _, err := henan.Propose(ctx, &roamv1.ProposeRequest{Signed: sign(&roamv1.AcceptAgreement{Id: "410000-330000", Version: 1, AcceptedBy: "330000"}, kr.Admin("410000"))}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("accept signed by the wrong admin: %v", err)
	}
	idx = propose(henan, &roamv1.AcceptAgreement{Id: "410000-330000", Version: 1, AcceptedBy: "330000", At: clk.Now().Unix()}, kr.Admin("330000"))
	for _, id := range ids {
		waitApplied(t, nodes[id].node, idx)
	}
	// A refused command surfaces as FailedPrecondition and changes nothing.
	if _, err := zhejiang.Propose(ctx, &roamv1.ProposeRequest{Signed: sign(&roamv1.AcceptAgreement{Id: "410000-330000", Version: 1, AcceptedBy: "330000"}, kr.Admin("330000"))}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("accepting an active agreement again: %v, want FailedPrecondition", err)
	}

	// Raft is for members: a CA-signed certificate of a node that was never
	// added cannot even complete a handshake with a member's Raft port.
	rogueCert, rogueKey, err := ca.Issue(identity.ID{Jurisdiction: "120000", NodeID: "120000"}, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rogueFiles, err := identity.WriteFiles(filepath.Join(dir, "rogue-tls"), "node", ca.PEM, rogueCert, rogueKey)
	if err != nil {
		t.Fatal(err)
	}
	rc, rpool, err := identity.Load(rogueFiles, identity.ID{Jurisdiction: "120000", NodeID: "120000"})
	if err != nil {
		t.Fatal(err)
	}
	rogueCfg := identity.MutualConfig(rc, rpool, nil)
	expectRaftRefused(t, rogueCfg, nodes["410000"].cfg.RaftAdvertise)

	// Peering is for nodes: without a node certificate, QueryStatus and
	// Forward are refused.
	if _, err := roamv1.NewPeeringServiceClient(nodes["330000"].conn).QueryStatus(ctx, &roamv1.QueryStatusRequest{Issuer: "330000", CodeId: "x"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("QueryStatus without a node certificate: %v, want Unauthenticated", err)
	}

	// 2. Issue a code at 330000 for a resident of its backend.
	admin, err := provsim.NewClient(nodes["330000"].simTS.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.CloseIdleConnections()
	if _, err := admin.Enrol(ctx, provsim.Enrolment{IDNumber: "330106198801011234", Name: "张小三", Address: "杭州"}); err != nil {
		t.Fatal(err)
	}
	// Only Zhejiang's own systems issue its codes (found by review: an
	// anonymous caller could learn any resident's colour): no client
	// certificate, or another jurisdiction's, is PermissionDenied.
	for name, conn := range map[string]*grpc.ClientConn{"anonymous": nodes["330000"].conn, "Henan's certificate": certConn(t, nodes["410000"], nodes["330000"].node.GRPCAddr())} {
		if _, err := roamv1.NewIssuanceServiceClient(conn).IssueCode(ctx, &roamv1.IssueCodeRequest{ResidentId: "330106198801011234"}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("IssueCode at 330000, %s: %v, want PermissionDenied", name, err)
		}
	}
	issued, err := issueCode(t, ctx, nodes["330000"], "330106198801011234")
	if err != nil {
		t.Fatal(err)
	}

	// 3. Verify it at 410000: live status (agreement demands it) confirms green.
	rec := roamv1.NewRecognitionServiceClient(nodes["410000"].conn)
	// A host nobody registered is a bad request, not a decision.
	if _, err := rec.Verify(ctx, &roamv1.VerifyRequest{Payload: []byte(issued.GetCode()), Host: "999999", Checkpoint: "metro"}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "not a jurisdiction in the registry") {
		t.Fatalf("Verify for an unregistered host: %v, want InvalidArgument", err)
	}
	verify := func(at *timestamppb.Timestamp) *roamv1.Decision {
		t.Helper()
		resp, err := rec.Verify(ctx, &roamv1.VerifyRequest{Payload: []byte(issued.GetCode()), Checkpoint: "metro", At: at})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetDecision()
	}
	d := verify(nil)
	if d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS || d.GetReasons()[0].GetCode() != "status_confirmed" {
		t.Fatalf("decision = %v", d)
	}
	// One trace spans host verify → issuer status query (issue 2 §8).
	assertOneTrace(t, spans.Ended(), "recognition.Verify", "roam.v1.PeeringService/QueryStatus")
	// ...and shows every stage apart (issue 7 §1).
	assertTraceHas(t, spans.Ended(), "recognition.Verify", "roam.v1.RecognitionService/Verify", "roamjws.decode", "roamjws.signature",
		"recognition.agreement", "recognition.live_status", "roam.v1.PeeringService/QueryStatus", "recognition.policy")

	// The holder turns red; the next verification learns it from the issuer.
	if _, err := admin.SetStatus(ctx, "330106198801011234", adapters.Red, "close contact"); err != nil {
		t.Fatal(err)
	}
	d = verify(nil)
	if d.GetOutcome() != roamv1.Outcome_OUTCOME_QUARANTINE_14D || d.GetReasons()[0].GetCode() != "status_changed" {
		t.Fatalf("after turning red: %v", d)
	}
	// Asked about a time before the code was issued: not_yet_valid.
	d = verify(timestamppb.New(time.Date(2020, 2, 27, 12, 0, 0, 0, clock.CST)))
	if d.GetOutcome() != roamv1.Outcome_OUTCOME_REJECT || d.GetReasons()[0].GetCode() != "not_yet_valid" {
		t.Fatalf("before issue: %v", d)
	}

	// The host's decision log has the decisions, without the code or any
	// personal data.
	dl := nodes["410000"].node.Decisions()
	if err := dl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := dl.List(10)
	if err != nil || len(recs) != 3 || recs[0].Outcome != "REJECT" || recs[1].Reasons[0] != "status_changed" {
		t.Fatalf("decision log: %+v %v", recs, err)
	}
	if b, _ := json.Marshal(recs); strings.Contains(string(b), issued.GetCodeId()) || strings.Contains(string(b), "张") {
		t.Fatalf("decision log holds personal data: %s", b)
	}

	// Watch streams the registry's changes from an index.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	stream, err := henan.Watch(wctx, &roamv1.WatchRequest{FromIndex: 0})
	if err != nil {
		t.Fatal(err)
	}
	var sawAccept bool
	for !sawAccept {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		sawAccept = ev.GetChange().GetType() == roamv1.CommandType_COMMAND_TYPE_ACCEPT_AGREEMENT && ev.GetChange().GetError() == ""
	}
	wcancel()

	// 4. Restart 110000 from its data dir; 5. its registry is intact.
	// Let it catch up with the leader first, so "before" is all there is.
	waitApplied(t, nodes["110000"].node, nodes["330000"].node.FSM().AppliedIndex())
	before := nodes["110000"].node.FSM().State()
	nodes["110000"].stop()
	// Same addresses as before: Raft peers know it by its address.
	if strings.HasSuffix(nodes["110000"].cfg.RaftListen, ":0") {
		nodes["110000"].cfg.RaftListen = nodes["110000"].cfg.RaftAdvertise
	}
	nodes["110000"].cfg.GRPCListen = nodes["110000"].node.GRPCAddr()
	nodes["110000"].cfg.GRPCAdvertise = ""
	startTestNode(t, ctx, clk, nodes["110000"], genesis)
	nodes["110000"].waitReady(t, ctx)
	waitApplied(t, nodes["110000"].node, before.GetIndex())
	after := nodes["110000"].node.FSM().State()
	after.Index, before.Index = 0, 0
	if !proto.Equal(before, after) {
		t.Fatalf("registry after restart differs:\nbefore %v\nafter  %v", before, after)
	}
	// Raft and the registry keep the advertised names, not the IPs they
	// resolved to: a rescheduled pod keeps its name (found by the deploy/
	// review: the bootstrap entry was stored as an IP).
	f := nodes["330000"].node.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	for _, srv := range f.Configuration().Servers {
		want := nodes[string(srv.ID)].cfg.RaftAdvertise
		if (srv.ID == "330000" || srv.ID == "110000") && !strings.HasPrefix(want, "localhost:") {
			t.Errorf("%s advertises %s, want its configured localhost name", srv.ID, want)
		}
		if string(srv.Address) != want {
			t.Errorf("Raft configuration has %s at %s, want %s", srv.ID, srv.Address, want)
		}
		if m, ok := nodes["330000"].node.FSM().Member(string(srv.ID)); !ok || m.GetRaftAddress() != want {
			t.Errorf("member record of %s: %v, want raft address %s", srv.ID, m, want)
		}
	}
	// Membership changes are national acts: demote, promote, remove.
	role := func(voter bool) {
		t.Helper()
		m := nodes["110000"].memberOf()
		m.Voter = voter
		if _, err := seedPeer.Join(ctx, &roamv1.JoinRequest{Member: sign(&roamv1.UpsertMember{Member: m}, kr.Nat())}); err != nil {
			t.Fatalf("voter=%v: %v", voter, err)
		}
		for _, srv := range nodes["330000"].node.Raft().GetConfiguration().Configuration().Servers {
			if srv.ID == "110000" && (srv.Suffrage == raft.Voter) != voter {
				t.Fatalf("110000 suffrage %v, want voter=%v", srv.Suffrage, voter)
			}
		}
	}
	role(false)
	// A non-voter never opens Raft connections: its own certificate, used
	// by another process, is refused like a stranger's (found by review).
	waitApplied(t, nodes["410000"].node, nodes["330000"].node.FSM().AppliedIndex())
	nvCert, nvPool, err := identity.Load(*nodes["110000"].cfg.TLS, identity.ID{Jurisdiction: "110000", NodeID: "110000"})
	if err != nil {
		t.Fatal(err)
	}
	expectRaftRefused(t, identity.MutualConfig(nvCert, nvPool, nil), nodes["410000"].cfg.RaftAdvertise)
	role(true)

	// And it still serves decisions from its local replica.
	resp, err := roamv1.NewRegistryServiceClient(nodes["110000"].conn).GetState(ctx, &roamv1.GetStateRequest{})
	if err != nil || len(resp.GetRegistry().GetAgreements()) != 1 || resp.GetAppliedIndex() == 0 {
		t.Fatalf("GetState after restart: %v %v", resp, err)
	}

	// A province's admin cannot remove a node; a national admin can, and
	// the removed node shuts its Raft down.
	if _, err := seedPeer.Remove(ctx, &roamv1.RemoveRequest{Member: sign(&roamv1.RemoveMember{NodeId: "110000"}, kr.Admin("110000"))}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("remove signed by a province: %v", err)
	}
	if _, err := seedPeer.Remove(ctx, &roamv1.RemoveRequest{Member: sign(&roamv1.RemoveMember{NodeId: "110000"}, kr.Nat())}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	select {
	case <-nodes["110000"].node.Removed():
	case <-time.After(20 * time.Second):
		t.Fatal("the removed node did not shut its Raft down")
	}
}

func waitApplied(t testing.TB, n *Node, idx uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.FSM().AppliedIndex() < idx {
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not apply index %d (at %d)", n.Config().NodeID, idx, n.FSM().AppliedIndex())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertOneTrace checks that the last span named parent and a span named
// child share a trace id, with child under parent's trace.
func assertOneTrace(t *testing.T, spans []sdktrace.ReadOnlySpan, parent, child string) {
	t.Helper()
	var p sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == parent {
			p = s
		}
	}
	if p == nil {
		t.Fatalf("no %s span among %d", parent, len(spans))
	}
	var names []string
	for _, s := range spans {
		if s.SpanContext().TraceID() == p.SpanContext().TraceID() {
			names = append(names, s.Name())
			if s.Name() == child && s.SpanKind() == trace.SpanKindServer {
				return
			}
		}
	}
	t.Fatalf("trace of %s has no server span %s; it has %v", parent, child, names)
}

// assertTraceHas checks that the trace of the last span named root holds a
// span of every given name.
func assertTraceHas(t *testing.T, spans []sdktrace.ReadOnlySpan, root string, names ...string) {
	t.Helper()
	var r sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == root {
			r = s
		}
	}
	if r == nil {
		t.Fatalf("no %s span among %d", root, len(spans))
	}
	have := map[string]bool{}
	for _, s := range spans {
		if s.SpanContext().TraceID() == r.SpanContext().TraceID() {
			have[s.Name()] = true
		}
	}
	for _, n := range names {
		if !have[n] {
			t.Errorf("trace of %s has no %s span; it has %v", root, n, have)
		}
	}
}

// expectRaftRefused dials a Raft port with cfg and expects the server to
// refuse the certificate. TLS 1.3: the server judges the client certificate
// after the client's handshake; a refusal arrives as an alert on the first
// read, an acceptance as silence (Raft waits for a request).
func expectRaftRefused(t *testing.T, cfg *tls.Config, addr string) {
	t.Helper()
	l, err := identity.ListenTLS("127.0.0.1:0", nil, cfg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conn, err := l.Dial(raft.ServerAddress(addr), 2*time.Second)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the certificate was accepted on %s's Raft port (%v)", addr, err)
	}
}
