package node

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/roam-federation/roam/console"
	"github.com/roam-federation/roam/policies"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// startConsole serves the web console (issue 7 §2) on Config.ConsoleListen
// when one is configured. The console reaches the node only through
// consoleBackend: the same service methods gRPC clients call.
func (n *Node) startConsole() error {
	if n.cfg.ConsoleListen == "" {
		return nil
	}
	lis, err := net.Listen("tcp", n.cfg.ConsoleListen)
	if err != nil {
		return err
	}
	h := console.New(consoleBackend{n: n, rec: &recognitionSvc{n: n}, reg: &registrySvc{n: n}}, console.Options{LocalOnly: loopback(n.cfg.ConsoleListen)})
	h = n.limitConsole(h)
	n.console = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
	n.consoleLis = lis
	n.serveHTTP("console", n.console, lis)
	return nil
}

// limitConsole spends the caller's rate_limit.client tokens on every
// console API call, keyed by the remote IP as a gRPC client is: the
// console reaches the same pipeline (and, for a live status, the same
// issuer nodes), so it gets no more (found by review: 30,000 anonymous
// verifies ran at 1000/s, each a QueryStatus to Zhejiang). Pages and their
// assets are not counted. Behind a reverse proxy every client shares the
// proxy's address: raise client_rps there.
func (n *Node) limitConsole(h http.Handler) http.Handler {
	if n.limiter == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			if err := n.limiter.clients.take(hostKey(r.RemoteAddr)); err != nil {
				st := status.Convert(err)
				retry := time.Second
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok {
						retry = ri.GetRetryDelay().AsDuration()
					}
				}
				w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
				console.WriteError(w, http.StatusTooManyRequests, "rate_limited", st.Message())
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// ConsoleAddr is the web console's address, "" when there is none.
func (n *Node) ConsoleAddr() string {
	if n.consoleLis == nil {
		return ""
	}
	return n.consoleLis.Addr().String()
}

// consoleBackend implements console.Backend with the node's own gRPC
// service methods, so a decision or a change made in the browser follows
// exactly the path of one made with roamctl.
type consoleBackend struct {
	n   *Node
	rec *recognitionSvc
	reg *registrySvc
}

func (b consoleBackend) Info() console.Info {
	return console.Info{NodeID: b.n.cfg.NodeID, Jurisdiction: b.n.cfg.Jurisdiction, Name: b.n.cfg.Name, Checkpoints: policies.Checkpoints()}
}

func (b consoleBackend) Verify(ctx context.Context, payload []byte, checkpoint string) (*roamv1.Decision, error) {
	resp, err := b.rec.Verify(ctx, &roamv1.VerifyRequest{Payload: payload, Checkpoint: checkpoint})
	if err != nil {
		return nil, err
	}
	return resp.GetDecision(), nil
}

func (b consoleBackend) Registry() *roamv1.RegistrySnapshot { return b.n.fsm.State() }

func (b consoleBackend) Audit(limit int) ([]*roamv1.AuditRecord, int) {
	return b.n.fsm.AuditTail(limit)
}

func (b consoleBackend) Now() time.Time { return b.n.clock.Now() }

func (b consoleBackend) Propose(ctx context.Context, sc *roamv1.SignedCommand) (*roamv1.ProposeResponse, error) {
	return b.reg.Propose(ctx, &roamv1.ProposeRequest{Signed: sc})
}

// Cluster is this node's GetCluster, with every other member's applied
// index asked over mutual-TLS gRPC, concurrently and bounded by ctx. Lag
// is the leader's commit index minus the member's applied index.
func (b consoleBackend) Cluster(ctx context.Context) (*console.Cluster, error) {
	self, err := b.reg.GetCluster(ctx, &roamv1.GetClusterRequest{})
	if err != nil {
		return nil, err
	}
	out := &console.Cluster{NodeID: self.GetNodeId(), State: self.GetState(), Term: self.GetTerm(),
		CommitIndex: self.GetCommitIndex(), AppliedIndex: self.GetAppliedIndex(), LastContactMs: self.GetLastContactMs()}
	out.Members = make([]console.Member, len(self.GetServers()))
	views := make([]*roamv1.GetClusterResponse, len(self.GetServers()))
	errs := make([]error, len(self.GetServers()))
	var wg sync.WaitGroup
	for i, s := range self.GetServers() {
		out.Members[i] = console.Member{ID: s.GetId(), RaftAddress: s.GetRaftAddress(), GRPCAddress: s.GetGrpcAddress(), Voter: s.GetVoter(), Leader: s.GetLeader()}
		if s.GetId() == b.n.cfg.NodeID {
			views[i] = self
			continue
		}
		if s.GetGrpcAddress() == "" {
			errs[i] = errors.New("gRPC address not registered yet")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := b.n.pool.Conn(s.GetGrpcAddress())
			if err != nil {
				errs[i] = err
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			views[i], errs[i] = roamv1.NewRegistryServiceClient(conn).GetCluster(cctx, &roamv1.GetClusterRequest{})
		}()
	}
	wg.Wait()
	leaderCommit := uint64(0)
	for i, v := range views {
		if v != nil && out.Members[i].Leader {
			leaderCommit = v.GetCommitIndex()
		}
	}
	for i, v := range views {
		m := &out.Members[i]
		if v == nil {
			if errs[i] != nil {
				m.Error = errs[i].Error()
			}
			continue
		}
		m.State, m.AppliedIndex = v.GetState(), v.GetAppliedIndex()
		if leaderCommit > 0 {
			m.Lag = int64(leaderCommit) - int64(v.GetAppliedIndex())
		}
	}
	return out, nil
}
