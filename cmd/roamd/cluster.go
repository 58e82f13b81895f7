package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/identity"
	"github.com/roam-federation/roam/federation/node"
	"github.com/roam-federation/roam/federation/peering"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// province is one demo jurisdiction (DESIGN.md §5).
type province struct {
	ID, Name string
	Voter    bool
}

// demoProvinces: three Raft voters and two non-voter replicas.
var demoProvinces = []province{
	{"330000", "Zhejiang", true},
	{"410000", "Henan", true},
	{"110000", "Beijing", true},
	{"120000", "Tianjin", false},
	{"130000", "Hebei", false},
}

// member is one running province: its backend and its node.
type member struct {
	province
	sim      *provsim.Server
	http     *http.Server
	simURL   string
	simAdmin *provsim.Client
	node     *node.Node
	conn     *grpc.ClientConn
}

// cluster is the demo's five provinces on loopback.
type cluster struct {
	clock  *clock.Sim
	auth   *admin.Keyring
	caFile string // the run's CA certificate, for roamctl (ROAM_TLS_CA)
	// appCert, appKey: 330000's client certificate for roamctl code issue
	// and bench (ROAM_TLS_CERT, ROAM_TLS_KEY).
	appCert, appKey string
	members         map[string]*member
	order           []string
}

// startCluster starts every province's backend and node. basePort 0 picks
// free ports; otherwise gRPC is basePort+10+i, Raft basePort+20+i and the
// backends basePort+30+i. 330000 bootstraps with the genesis (national admin
// keys); the national platform onboards every province and its admin key
// and adds each node to the cluster; each province's admin registers its
// node's issuer key. Every registry change is a signed command.
func startCluster(ctx context.Context, dir string, basePort int, clk *clock.Sim, log *slog.Logger, raftLevel string, auth *admin.Keyring) (_ *cluster, err error) {
	c := &cluster{clock: clk, members: map[string]*member{}, auth: auth}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	port := func(off, i int) string {
		if basePort == 0 {
			return "127.0.0.1:0"
		}
		return "127.0.0.1:" + strconv.Itoa(basePort+off+i)
	}
	genesis, err := auth.Genesis()
	if err != nil {
		return nil, err
	}
	// Kept beside the admin keys, for roamctl audit verify --genesis.
	if err := node.WriteSignedCommand(filepath.Join(dir, "admin-keys", "genesis.json"), genesis); err != nil {
		return nil, err
	}
	// A throwaway CA for this run: every node gets a certificate naming its
	// jurisdiction, and Raft and node-to-node gRPC use mutual TLS.
	ca, err := identity.NewCA("roam demo CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	c.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(c.caFile, ca.PEM, 0o644); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	seed := demoProvinces[0].ID
	for i, p := range demoProvinces {
		m := &member{province: p}
		c.members[p.ID] = m
		c.order = append(c.order, p.ID)
		pdir := filepath.Join(dir, p.ID)
		if m.sim, err = provsim.New(provsim.Config{Jurisdiction: p.ID, Dialect: provsim.DialectFor(p.ID), DBPath: filepath.Join(pdir + "-provsim.db"), Clock: clk}); err != nil {
			return nil, fmt.Errorf("provsim %s: %w", p.ID, err)
		}
		lis, err := net.Listen("tcp", port(30, i))
		if err != nil {
			return nil, fmt.Errorf("provsim %s listen: %w (is another demo running? try --base-port)", p.ID, err)
		}
		m.http = &http.Server{Handler: m.sim.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = m.http.Serve(lis) }()
		m.simURL = "http://" + lis.Addr().String()
		if m.simAdmin, err = provsim.NewClient(m.simURL, nil); err != nil {
			return nil, err
		}
		certPEM, keyPEM, err := ca.Issue(identity.ID{Jurisdiction: p.ID, NodeID: p.ID}, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
		if err != nil {
			return nil, err
		}
		tlsFiles, err := identity.WriteFiles(filepath.Join(pdir, "tls"), "node", ca.PEM, certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		voter := p.Voter
		cfg := &node.Config{
			TLS:    &tlsFiles,
			NodeID: p.ID, Jurisdiction: p.ID, Name: p.Name, DataDir: pdir,
			RaftListen: port(20, i), GRPCListen: port(10, i),
			// /metrics, /healthz and /readyz (base+40..; loopback only).
			AdminListen: port(40, i),
			// The web console: checkpoint and admin pages (issue 7 §2).
			ConsoleListen: port(50, i),
			Voter:         &voter, Backend: node.Backend{URL: m.simURL},
			// The demo is a single-machine playground that `roamctl bench`
			// drives from loopback: the default 100 calls/s per client IP
			// would measure the limiter, not the node. The limiter stays in
			// the call path (its cost is part of what a bench measures) but
			// never throttles loopback. Production configs keep the defaults.
			RateLimit: node.RateLimit{ClientRPS: 100_000, ClientBurst: 100_000},
		}
		// Every node pins the genesis; the first one also applies it.
		opts := node.Options{Clock: clk, Logger: log, RaftLogLevel: raftLevel, Genesis: genesis}
		cfg.Bootstrap = i == 0
		if m.node, err = node.Start(ctx, cfg, opts); err != nil {
			return nil, fmt.Errorf("node %s: %w (is another demo running? try --base-port)", p.ID, err)
		}
		// The province's own systems (its health-code app's backend) hold a
		// client certificate naming the jurisdiction: only they may issue
		// its codes. The demo plays them over m.conn, and writes 330000's
		// for roamctl (ROAM_TLS_CERT, ROAM_TLS_KEY).
		appCert, appKey, err := ca.Issue(identity.ID{Jurisdiction: p.ID, NodeID: "app"}, nil, 24*time.Hour)
		if err != nil {
			return nil, err
		}
		appFiles, err := identity.WriteFiles(filepath.Join(dir, "clients"), "app-"+p.ID, ca.PEM, appCert, appKey)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			c.appCert, c.appKey = appFiles.Cert, appFiles.Key
		}
		kp, err := tls.X509KeyPair(appCert, appKey)
		if err != nil {
			return nil, err
		}
		creds := credentials.NewTLS(identity.ClientConfig(&kp, pool))
		if m.conn, err = grpc.NewClient(m.node.GRPCAddr(), grpc.WithTransportCredentials(creds), peering.CallSizeOptions()); err != nil {
			return nil, err
		}
		if i == 0 {
			if err := c.waitReady(ctx, m); err != nil {
				return nil, err
			}
			for _, q := range demoProvinces {
				cmds, err := auth.Onboard(q.ID, q.Name, node.SystemFor(q.ID))
				if err != nil {
					return nil, err
				}
				for _, sc := range cmds {
					if _, err := c.proposeSigned(ctx, seed, sc); err != nil {
						return nil, fmt.Errorf("onboard %s: %w", q.ID, err)
					}
				}
			}
		}
		// The national platform adds the node (voters one at a time, so
		// quorum grows with live members), then the province's admin
		// registers the node's issuer key.
		if err := c.join(ctx, seed, m); err != nil {
			return nil, err
		}
		if err := c.waitReady(ctx, m); err != nil {
			return nil, err
		}
		if err := c.registerIssuerKey(ctx, m); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *cluster) waitReady(ctx context.Context, m *member) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return m.node.WaitReady(wctx)
}

// join asks the cluster, through node via, to add m, with an UpsertMember
// signed by a national admin (what `roamctl cluster join` does).
func (c *cluster) join(ctx context.Context, via string, m *member) error {
	cfg := m.node.Config()
	sc, err := c.auth.Sign(&roamv1.UpsertMember{Member: &roamv1.Member{
		NodeId: cfg.NodeID, Jurisdiction: cfg.Jurisdiction, RaftAddress: cfg.RaftAdvertise,
		GrpcAddress: m.node.GRPCAddr(), Voter: cfg.IsVoter(),
	}}, c.auth.Nat())
	if err != nil {
		return err
	}
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := roamv1.NewPeeringServiceClient(c.members[via].conn).Join(jctx, &roamv1.JoinRequest{Member: sc}); err != nil {
		return fmt.Errorf("join %s: %w", cfg.NodeID, err)
	}
	return nil
}

// registerIssuerKey has m's province admin register m's node issuer key,
// valid from the start of the demo's 2020 clock.
func (c *cluster) registerIssuerKey(ctx context.Context, m *member) error {
	signer := m.node.Issuer().Signer()
	pub, err := m.node.IssuerPublicJWK()
	if err != nil {
		return err
	}
	sc, err := c.auth.Sign(&roamv1.AddKey{Key: &roamv1.IssuerKey{
		Kid: signer.Kid(), Jurisdiction: m.ID, Alg: signer.Alg(), Jwk: pub,
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: c.clock.Now().Add(-time.Hour).Unix(),
	}}, c.auth.Admin(m.ID))
	if err != nil {
		return err
	}
	_, err = c.proposeSigned(ctx, m.ID, sc)
	return err
}

// Close stops nodes (non-voters first) and backends.
func (c *cluster) Close() {
	for i := len(c.order) - 1; i >= 0; i-- {
		m := c.members[c.order[i]]
		if m.conn != nil {
			_ = m.conn.Close()
		}
		if m.node != nil {
			_ = m.node.Close()
		}
		if m.http != nil {
			_ = m.http.Close()
		}
		if m.simAdmin != nil {
			m.simAdmin.CloseIdleConnections()
		}
		if m.sim != nil {
			_ = m.sim.Close()
		}
	}
}

func (c *cluster) registry(id string) roamv1.RegistryServiceClient {
	return roamv1.NewRegistryServiceClient(c.members[id].conn)
}

// propose signs msg as the given admins and submits it through node via.
func (c *cluster) propose(ctx context.Context, via string, msg proto.Message, by ...*roamjws.Signer) (uint64, error) {
	sc, err := c.auth.Sign(msg, by...)
	if err != nil {
		return 0, err
	}
	return c.proposeSigned(ctx, via, sc)
}

func (c *cluster) proposeSigned(ctx context.Context, via string, sc *roamv1.SignedCommand) (uint64, error) {
	resp, err := c.registry(via).Propose(ctx, &roamv1.ProposeRequest{Signed: sc})
	if err != nil {
		return 0, err
	}
	return resp.GetIndex(), nil
}

// waitApplied waits until node id has applied index idx.
func (c *cluster) waitApplied(ctx context.Context, id string, idx uint64) error {
	for {
		if c.members[id].node.FSM().AppliedIndex() >= idx {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not apply index %d: %w", id, idx, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// agree makes host ← issuer active: the host proposes through its own node,
// the issuer accepts through its own node.
func (c *cluster) agree(ctx context.Context, host, issuer string, from time.Time, terms *roamv1.AgreementTerms) (uint64, error) {
	idx, err := c.propose(ctx, host, &roamv1.ProposeAgreement{
		Host: host, Issuer: issuer, Terms: terms, EffectiveFrom: from.Unix(), ProposedBy: host, At: c.clock.Now().Unix(),
	}, c.auth.Admin(host))
	if err != nil {
		return 0, fmt.Errorf("propose %s ← %s: %w", host, issuer, err)
	}
	if err := c.waitApplied(ctx, issuer, idx); err != nil {
		return 0, err
	}
	var version uint64
	for _, a := range c.members[issuer].node.FSM().State().GetAgreements() {
		if a.GetId() == registry.AgreementID(host, issuer) {
			version = a.GetVersion()
		}
	}
	if version == 0 {
		return 0, errors.New("proposed agreement not found")
	}
	idx, err = c.propose(ctx, issuer, &roamv1.AcceptAgreement{Id: registry.AgreementID(host, issuer), Version: version, AcceptedBy: issuer, At: c.clock.Now().Unix()}, c.auth.Admin(issuer))
	if err != nil {
		return 0, fmt.Errorf("accept %s ← %s: %w", host, issuer, err)
	}
	return idx, nil
}
