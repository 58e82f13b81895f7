package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/beijing"
	"github.com/roam-federation/roam/adapters/dcc"
	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/adapters/shc"
	"github.com/roam-federation/roam/adapters/zhejiang"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/decisionlog"
	"github.com/roam-federation/roam/federation/identity"
	"github.com/roam-federation/roam/federation/issuance"
	"github.com/roam-federation/roam/federation/peering"
	"github.com/roam-federation/roam/federation/recognition"
	"github.com/roam-federation/roam/federation/registry"
	"github.com/roam-federation/roam/federation/telemetry"
	"github.com/roam-federation/roam/policies"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Sentinel errors callers branch on.
var (
	// ErrOutcomeUnknown means leadership was lost after the command was
	// submitted: it may or may not be committed. Read before retrying.
	ErrOutcomeUnknown = errors.New("outcome unknown: leadership lost before the write was confirmed; read the registry before retrying")
	// ErrNoLeader means no leader could be reached before the deadline.
	ErrNoLeader = errors.New("no leader reachable")
)

// Options are a node's runtime dependencies (injected, DESIGN.md §3 "Time").
type Options struct {
	Clock  clock.Clock  // defaults to the wall clock
	Logger *slog.Logger // defaults to slog.Default()
	// Policies defaults to the embedded policies (or cfg.PoliciesDir).
	Policies *policies.Set
	// TraceOutput receives stdout-exporter spans (default os.Stderr).
	TraceOutput io.Writer
	// TracerProvider, when set, replaces the one built from cfg.Telemetry
	// (tests record spans with it). The caller owns its shutdown.
	TracerProvider trace.TracerProvider
	// Genesis and JoinToken, when set, replace the files named by
	// cfg.Genesis and cfg.JoinToken (the demo and tests sign in-process).
	Genesis   *roamv1.SignedCommand
	JoinToken *roamv1.SignedCommand
	// RaftLogLevel is hashicorp/raft's log level: trace, debug, info, warn
	// (default) or error. Raft logs go to stderr through hclog.
	RaftLogLevel string

	// Fault injection (issue 5 fault tests; nil in production). They wrap
	// the real parts, never replace them: WrapRaftStream wraps the TLS
	// stream layer (so a test can partition real TCP connections; it needs
	// cfg.TLS), WrapLogStore wraps the raft-boltdb log store (so a test can
	// fail writes as a full disk or failed fsync would), and TuneRaft edits
	// the Raft configuration after roamd's own settings (TrailingLogs, to
	// force snapshot installs).
	WrapRaftStream func(raft.StreamLayer) raft.StreamLayer
	WrapLogStore   func(raft.LogStore) raft.LogStore
	TuneRaft       func(*raft.Config)
}

// Node is one running roamd node.
type Node struct {
	cfg   *Config
	opts  Options
	clock clock.Clock
	log   *slog.Logger
	fsm   *registry.FSM
	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	grpc  *grpc.Server
	lis   net.Listener
	// admin is the admin HTTP server on adminLis (adminhttp.go), if any.
	admin    *http.Server
	adminLis net.Listener
	// limiter is the gRPC server's per-caller rate limit, which the
	// console's API shares (nil when rate_limit.disabled).
	limiter *rateLimiter
	// console is the web console's HTTP server on consoleLis (console.go).
	console    *http.Server
	consoleLis net.Listener
	pool       *peering.Pool
	issuer     *issuance.Issuer
	native     adapters.Native
	pipe       *recognition.Pipeline
	// metrics is the OpenTelemetry meter provider behind /metrics.
	metrics *telemetry.Metrics
	// health is the gRPC health service (health.go); lastHealth the
	// status it last reported.
	health     *health.Server
	lastHealth atomic.Int32
	// verifyCache is the verified-code cache, nil when disabled.
	verifyCache *roamjws.Cache
	tp          trace.TracerProvider
	dlog        *decisionlog.Log
	// signingKey is the private issuer key (data_dir/issuer-key.jwk).
	signingKey jwk.Key
	// genesis (bootstrap) and joinToken (join) from config or Options.
	genesis   *roamv1.SignedCommand
	joinToken *roamv1.SignedCommand
	// raftTLS verifies Raft peers connecting to us, raftDialTLS those we
	// connect to; nil for plaintext.
	raftTLS, raftDialTLS *tls.Config
	// restarted: the data dir already held Raft state, so the node is a
	// member already and rejoins with its old id and data (no join).
	restarted bool
	tpStop    func(context.Context) error

	// leaderContact is when this node last heard from (or was) the Raft
	// leader, Unix nanoseconds; caughtUp latches once its replica has
	// applied everything committed since it started (freshness.go).
	leaderContact atomic.Int64
	caughtUp      atomic.Bool
	// catchUpTarget is the leader's applied index when this follower first
	// asked (catchUpFailed: when an ask last failed, Unix ns). Both are
	// written by trackLeaderContact only.
	catchUpTarget atomic.Uint64
	catchUpFailed atomic.Int64

	stop       chan struct{}
	wg         sync.WaitGroup
	closeMu    sync.Mutex
	closed     bool
	ready      chan struct{}
	removed    chan struct{}
	removeOnce sync.Once
	readyErr   error
}

// Start opens the data dir, starts Raft and the gRPC server, and begins
// registering this node (member record, jurisdiction, issuer key) with the
// cluster in the background; Ready reports when that is done.
func Start(ctx context.Context, cfg *Config, opts Options) (_ *Node, err error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, opts: opts, clock: opts.Clock, log: opts.Logger.With("node", cfg.NodeID), stop: make(chan struct{}), ready: make(chan struct{}), removed: make(chan struct{})}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if err := claimDataDir(cfg); err != nil {
		return nil, err
	}
	if opts.TracerProvider != nil {
		n.tp = opts.TracerProvider
	} else if n.tp, n.tpStop, err = telemetry.Provider(ctx, cfg.Telemetry, "roamd", cfg.NodeID, opts.TraceOutput); err != nil {
		return nil, err
	}

	// Issuer side: key, backend adapter, issued-code store.
	signer, key, subjectKey, err := loadSecrets(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n.signingKey = key
	if n.native, err = newNative(cfg); err != nil {
		return nil, err
	}
	n.issuer, err = issuance.New(issuance.Config{
		Native: n.native, Signer: signer, Clock: n.clock, SubjectKey: subjectKey,
		DBPath: filepath.Join(cfg.DataDir, "issued.db"), CodeTTL: cfg.CodeTTL,
	})
	if err != nil {
		return nil, err
	}

	if err := cfg.checkSecrets(opts.Genesis != nil || cfg.Genesis != "", opts.JoinToken != nil || cfg.JoinToken != ""); err != nil {
		return nil, err
	}
	n.genesis, n.joinToken = opts.Genesis, opts.JoinToken
	if n.genesis == nil && cfg.Genesis != "" {
		if n.genesis, err = ReadSignedCommand(cfg.Genesis); err != nil {
			return nil, fmt.Errorf("genesis: %w", err)
		}
	}
	if n.joinToken == nil && cfg.JoinToken != "" {
		if n.joinToken, err = ReadSignedCommand(cfg.JoinToken); err != nil {
			return nil, fmt.Errorf("join_token: %w", err)
		}
	}

	// Transport security: mutual TLS for Raft and node-to-node gRPC.
	var serverCreds, peerCreds credentials.TransportCredentials
	if cfg.TLS != nil {
		cert, pool, err := identity.Load(*cfg.TLS, identity.ID{Jurisdiction: cfg.Jurisdiction, NodeID: cfg.NodeID})
		if err != nil {
			return nil, err
		}
		n.raftTLS = identity.MutualConfig(cert, pool, n.raftPeerAllowed)
		n.raftDialTLS = identity.MutualConfig(cert, pool, n.raftServerAllowed)
		serverCreds = credentials.NewTLS(identity.ServerConfig(cert, pool))
		peerCreds = credentials.NewTLS(identity.ClientConfig(&cert, pool))
	}

	// Registry on Raft.
	n.fsm = registry.NewFSM()
	if n.genesis != nil {
		b, err := registry.EncodeSigned(n.genesis)
		if err != nil {
			return nil, fmt.Errorf("genesis: %w", err)
		}
		if err := checkGenesisPin(cfg.DataDir, b, cfg.Genesis); err != nil {
			return nil, err
		}
		n.fsm.PinGenesis(b)
	}
	if err := n.startRaft(opts.RaftLogLevel); err != nil {
		return nil, err
	}

	// Recognition.
	pols := opts.Policies
	if pols == nil {
		if cfg.PoliciesDir != "" {
			pols, err = policies.LoadDir(cfg.PoliciesDir)
		} else {
			pols, err = policies.LoadEmbedded()
		}
		if err != nil {
			return nil, fmt.Errorf("policies_dir: %w", err)
		}
	}
	if n.dlog, err = decisionlog.Open(filepath.Join(cfg.DataDir, "decisions.db"), n.clock, cfg.DecisionRetention); err != nil {
		return nil, err
	}
	if n.metrics, err = telemetry.NewMetrics("roamd", cfg.NodeID); err != nil {
		return nil, err
	}
	dialOpts := []grpc.DialOption{telemetry.DialOption(n.tp, n.metrics.Provider)}
	if peerCreds != nil {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(peerCreds))
	}
	n.pool = peering.NewPool(dialOpts...)
	verifier := &roamjws.Verifier{Keys: n.fsm}
	if !cfg.VerifyCache.Disabled {
		verifier.Cache = roamjws.NewCache(cfg.VerifyCache.Entries)
	}
	n.verifyCache = verifier.Cache
	n.pipe = &recognition.Pipeline{
		Registry: n.fsm,
		Adapters: []adapters.Adapter{
			roamjws.Adapter{V: verifier},
			dcc.Adapter{Registry: n.fsm},
			shc.Adapter{V: &shc.Verifier{Keys: registry.ShcKeys{F: n.fsm}}, JurisdictionOf: n.fsm.ShcIssuerJurisdiction},
			&zhejiang.Adapter{}, &beijing.Adapter{},
		},
		Policies:  pols,
		Status:    &peering.StatusClient{Pool: n.pool, Members: n.fsm, Verifier: verifier, Clock: n.clock, Timeout: cfg.PeerTimeout, RequireIdentity: cfg.TLS != nil},
		Clock:     n.clock,
		Host:      cfg.Jurisdiction,
		Tracer:    n.tp.Tracer("roam/recognition"),
		Log:       n.log,
		Decisions: n.dlog,

		Freshness:    n.freshness,
		MaxStaleness: cfg.MaxStaleness,
	}

	// gRPC.
	lis, err := net.Listen("tcp", cfg.GRPCListen)
	if err != nil {
		return nil, fmt.Errorf("grpc_listen %s: %w", cfg.GRPCListen, err)
	}
	n.lis = newConnLimitListener(lis)
	srvOpts := []grpc.ServerOption{}
	if serverCreds != nil {
		srvOpts = append(srvOpts, grpc.Creds(serverCreds))
	}
	// Resource bounds (issue 5 §6): message sizes, a TLS handshake deadline,
	// per-caller rate limits, and a deadline on every unary handler.
	limiter := newRateLimiter(cfg.RateLimit)
	n.limiter = limiter
	n.grpc = grpc.NewServer(append(srvOpts,
		telemetry.ServerOption(n.tp, n.metrics.Provider),
		grpc.MaxRecvMsgSize(peering.MaxMessageBytes),
		grpc.MaxSendMsgSize(peering.MaxResponseBytes),
		grpc.ConnectionTimeout(10*time.Second),
		// Stop (Close) waits for running handlers, which it cancels, so
		// none touches the stores Close shuts next (decision log, issuer).
		grpc.WaitForHandlers(true),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.MaxHeaderListSize(maxHeaderListBytes),
		// A connection lives at most 30 minutes (then a minute's grace for
		// running calls; Watch clients resume from their index), so nothing
		// can hold a stream open for ever.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute, MaxConnectionAge: 30 * time.Minute, MaxConnectionAgeGrace: time.Minute}),
		grpc.ChainUnaryInterceptor(recoverUnary(n.log), limiter.Unary(), capDeadline(maxUnaryDuration)),
		grpc.ChainStreamInterceptor(recoverStream(n.log), limiter.Stream()),
	)...)
	registerServices(n)
	registerHealth(n)
	if err := n.startMetrics(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := n.startAdmin(); err != nil {
		return nil, fmt.Errorf("admin_listen %s: %w", cfg.AdminListen, err)
	}
	if err := n.startConsole(); err != nil {
		return nil, fmt.Errorf("console_listen %s: %w", cfg.ConsoleListen, err)
	}
	n.wg.Add(4)
	go func() { defer n.wg.Done(); n.trackLeaderContact() }()
	go func() { defer n.wg.Done(); _ = n.grpc.Serve(n.lis) }()
	go func() { defer n.wg.Done(); n.register() }()
	go func() { defer n.wg.Done(); n.watchRemoval() }()
	return n, nil
}

func newNative(cfg *Config) (adapters.Native, error) {
	dialect := cfg.Backend.Dialect
	if dialect == "" {
		dialect = provsim.DialectFor(cfg.Jurisdiction)
	}
	sys := cfg.Backend.System
	if sys == "" {
		sys = SystemFor(cfg.Jurisdiction)
	}
	if dialect == "beijing" {
		return beijing.New(cfg.Backend.URL, cfg.Jurisdiction, beijing.WithSystem(sys))
	}
	return zhejiang.New(cfg.Backend.URL, cfg.Jurisdiction, zhejiang.WithSystem(sys))
}

// loadSecrets loads (or creates on first start) the node's private issuer
// key and its subject-hash key, both 0600 files in the data dir.
func loadSecrets(dir string) (*roamjws.Signer, jwk.Key, []byte, error) {
	keyPath := filepath.Join(dir, "issuer-key.jwk")
	b, err := os.ReadFile(keyPath)
	var key jwk.Key
	switch {
	case errors.Is(err, os.ErrNotExist):
		if key, err = roamjws.GenerateKey(roamjws.ES256); err != nil {
			return nil, nil, nil, err
		}
		if b, err = jsonMarshalKey(key); err != nil {
			return nil, nil, nil, err
		}
		if err := os.WriteFile(keyPath, b, 0o600); err != nil {
			return nil, nil, nil, fmt.Errorf("write issuer key: %w", err)
		}
		pub, err := roamjws.PublicJWK(key)
		if err != nil {
			return nil, nil, nil, err
		}
		// The public half, for the jurisdiction admin to register.
		if err := os.WriteFile(filepath.Join(dir, "issuer-key.pub.jwk"), pub, 0o644); err != nil {
			return nil, nil, nil, fmt.Errorf("write issuer public key: %w", err)
		}
	case err != nil:
		return nil, nil, nil, fmt.Errorf("read issuer key: %w", err)
	default:
		if key, err = jwk.ParseKey(b); err != nil {
			return nil, nil, nil, fmt.Errorf("issuer key %s: %w", keyPath, err)
		}
	}
	signer, err := roamjws.NewSigner(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("issuer key %s: %w", keyPath, err)
	}
	subPath := filepath.Join(dir, "subject.key")
	sk, err := os.ReadFile(subPath)
	if errors.Is(err, os.ErrNotExist) {
		sk = make([]byte, 32)
		if _, err := rand.Read(sk); err != nil {
			return nil, nil, nil, err
		}
		if err := os.WriteFile(subPath, sk, 0o600); err != nil {
			return nil, nil, nil, fmt.Errorf("write subject key: %w", err)
		}
	} else if err != nil {
		return nil, nil, nil, fmt.Errorf("read subject key: %w", err)
	}
	return signer, key, sk, nil
}

// namedAddr is a Raft address kept as configured ("roamd-0.peers:7420"),
// so the Raft configuration and the registry's member record hold the name
// peers dial, not the IP it resolved to when this process started (a
// rescheduled pod keeps its DNS name, not its IP; found by the deploy/
// review).
type namedAddr string

func (a namedAddr) Network() string { return "tcp" }
func (a namedAddr) String() string  { return string(a) }

// raftAdvertise is the address to advertise for Raft: nil when the port is
// 0 (the listener's real address is used: tests, the demo); the configured
// host:port as is over TLS, whose stream layer dials names; a resolved
// *net.TCPAddr for plain TCP, which hashicorp/raft's TCP transport needs.
func raftAdvertise(hostport string, tls bool) (net.Addr, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	if port == "0" {
		return nil, nil
	}
	if tls && net.ParseIP(host) == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil, fmt.Errorf("port %q: %w", port, err)
		}
		return namedAddr(hostport), nil
	}
	return net.ResolveTCPAddr("tcp", hostport)
}

// genesisPinFile, in the data dir, holds the SHA-256 (hex) of the genesis
// entry the node first started with.
const genesisPinFile = "genesis.sha256"

// checkGenesisPin refuses to start a node whose data dir was founded by
// another genesis than entry: its registry would refuse every snapshot and
// the log's own genesis, so it could never be ready. Found by review: a
// deploy script that re-signed the genesis on every run left restarted
// nodes failing with raft's "failed to load any existing snapshots". The
// first start records the pin. path names the genesis file for the error.
func checkGenesisPin(dataDir string, entry []byte, path string) error {
	sum := sha256.Sum256(entry)
	want := hex.EncodeToString(sum[:])
	pin := filepath.Join(dataDir, genesisPinFile)
	got, err := os.ReadFile(pin)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return err
		}
		return os.WriteFile(pin, []byte(want+"\n"), 0o600)
	}
	if err != nil {
		return fmt.Errorf("genesis pin: %w", err)
	}
	if have := strings.TrimSpace(string(got)); have != want {
		if path == "" {
			path = "the genesis given"
		}
		return fmt.Errorf("genesis: %s (sha256 %s…) is not the genesis this node's data dir was founded with (%s holds %s…): a node never changes federation; restore the federation's original genesis file (renewing certificates must not re-sign it)",
			path, want[:12], pin, have[:min(12, len(have))])
	}
	return nil
}

func (n *Node) startRaft(level string) error {
	cfg := n.cfg
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		lvl = hclog.Warn
	}
	// JSON, like every other log line (found by review: Raft's were text).
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft." + cfg.NodeID, Level: lvl, Output: os.Stderr, JSONFormat: true})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hl
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout / 2
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	// A follower learns an entry is committed only on the leader's next
	// append, at most CommitTimeout later (heartbeats do not carry the
	// commit index). 5ms makes a revocation reach every replica in about
	// 14ms at the median instead of 42 (issue 6 §4, TestRegistryLatencyTCP),
	// for about 200 empty appends a second to each follower when idle.
	rc.CommitTimeout = 5 * time.Millisecond

	advertise, err := raftAdvertise(cfg.RaftAdvertise, n.raftTLS != nil)
	if err != nil {
		return fmt.Errorf("raft_advertise: %w", err)
	}
	if n.raftTLS != nil {
		stream, err := identity.ListenTLS(cfg.RaftListen, advertise, n.raftTLS, n.raftDialTLS)
		if err != nil {
			return fmt.Errorf("raft_listen %s: %w", cfg.RaftListen, err)
		}
		var layer raft.StreamLayer = stream
		if n.opts.WrapRaftStream != nil {
			layer = n.opts.WrapRaftStream(stream)
		}
		n.trans = raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, hl)
	} else if n.opts.WrapRaftStream != nil {
		return errors.New("fault injection: WrapRaftStream needs tls in the config")
	} else if n.trans, err = raft.NewTCPTransportWithLogger(cfg.RaftListen, advertise, 3, 10*time.Second, hl); err != nil {
		return fmt.Errorf("raft_listen %s: %w", cfg.RaftListen, err)
	}
	cfg.RaftAdvertise = string(n.trans.LocalAddr())
	if n.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")}); err != nil {
		return fmt.Errorf("open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hl)
	if err != nil {
		return fmt.Errorf("open snapshot store: %w", err)
	}
	existing, err := raft.HasExistingState(n.store, n.store, snaps)
	if err != nil {
		return err
	}
	n.restarted = existing
	var logs raft.LogStore = n.store
	if n.opts.WrapLogStore != nil {
		logs = n.opts.WrapLogStore(n.store)
	}
	if n.opts.TuneRaft != nil {
		n.opts.TuneRaft(rc)
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.store, snaps, n.trans); err != nil {
		return fmt.Errorf("start raft: %w", err)
	}
	if cfg.Bootstrap && !existing {
		servers := []raft.Server{{ID: rc.LocalID, Address: raft.ServerAddress(cfg.RaftAdvertise), Suffrage: raft.Voter}}
		for _, p := range cfg.Peers {
			if p.ID == cfg.NodeID {
				continue
			}
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddress), Suffrage: raft.Voter})
		}
		if err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	return nil
}

// Close stops the node: gRPC, Raft, stores. Safe to call twice.
func (n *Node) Close() error { return n.close(true) }

// close stops the node; snapshot false leaves the data dir as a crash
// would (the fault tests' kill), true anchors the history first.
func (n *Node) close(snapshot bool) error {
	n.closeMu.Lock()
	if n.closed {
		n.closeMu.Unlock()
		return nil
	}
	n.closed = true
	close(n.stop)
	n.closeMu.Unlock()
	if n.health != nil {
		n.health.Shutdown() // NOT_SERVING for every service, for clients still watching
	}
	if n.grpc != nil {
		n.grpc.Stop()
	}
	if n.admin != nil {
		n.admin.Close()
	}
	if n.console != nil {
		n.console.Close()
	}
	n.wg.Wait()
	var errs []error
	if n.raft != nil && snapshot {
		// A snapshot on a clean stop anchors the whole history in the data
		// dir (its audit records and chain head), for audit verify.
		if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) && !errors.Is(err, raft.ErrRaftShutdown) {
			n.log.Warn("snapshot on stop failed", "err", err)
		}
	}
	if n.raft != nil {
		errs = append(errs, n.raft.Shutdown().Error())
	}
	if n.trans != nil {
		// Close does not close pooled outbound connections; their reader
		// goroutines would outlive the node (found by goleak).
		n.trans.CloseStreams()
		errs = append(errs, n.trans.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	if n.issuer != nil {
		errs = append(errs, n.issuer.Close())
	}
	if n.dlog != nil {
		errs = append(errs, n.dlog.Close())
	}
	if n.pool != nil {
		errs = append(errs, n.pool.Close())
	}
	if n.metrics != nil {
		errs = append(errs, n.metrics.Provider.Shutdown(context.Background()))
	}
	if n.tpStop != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, n.tpStop(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// Accessors.

// FSM is the node's local registry replica.
func (n *Node) FSM() *registry.FSM { return n.fsm }

// Raft is the node's Raft instance.
func (n *Node) Raft() *raft.Raft { return n.raft }

// Pipeline is the node's recognition pipeline.
func (n *Node) Pipeline() *recognition.Pipeline { return n.pipe }

// Issuer is the node's issuer side.
func (n *Node) Issuer() *issuance.Issuer { return n.issuer }

// Config is the node's effective configuration.
func (n *Node) Config() *Config { return n.cfg }

// GRPCAddr is the address the gRPC server listens on.
func (n *Node) GRPCAddr() string { return n.lis.Addr().String() }

// Ready is closed once the node is registered with the cluster (member
// record, jurisdiction and issuer key committed).
func (n *Node) Ready() <-chan struct{} { return n.ready }

// WaitReady blocks until Ready or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	select {
	case <-n.ready:
		return n.readyErr
	case <-ctx.Done():
		return fmt.Errorf("node %s not ready: %w", n.cfg.NodeID, ctx.Err())
	}
}

// VerifyCache returns the verified-code cache, nil when verify_cache is
// disabled.
func (n *Node) VerifyCache() *roamjws.Cache { return n.verifyCache }

// Decisions is the node's local decision log.
func (n *Node) Decisions() *decisionlog.Log { return n.dlog }

// dataDirOwner is data_dir/node.json: which node a data dir belongs to.
type dataDirOwner struct {
	NodeID       string `json:"node_id"`
	Jurisdiction string `json:"jurisdiction"`
}

// claimDataDir refuses a data dir that belongs to another node, so a config
// pointed at the wrong dir fails at start-up instead of joining Raft under
// another node's identity and log.
func claimDataDir(cfg *Config) error {
	path := filepath.Join(cfg.DataDir, "node.json")
	me := dataDirOwner{NodeID: cfg.NodeID, Jurisdiction: cfg.Jurisdiction}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b, err := json.Marshal(me)
		if err != nil {
			return err
		}
		return os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	var owner dataDirOwner
	if err := json.Unmarshal(b, &owner); err != nil {
		return fmt.Errorf("data_dir: %s is corrupt: %v", path, err)
	}
	if owner != me {
		return fmt.Errorf("data_dir: %s belongs to node %s (jurisdiction %s), not %s (%s); point data_dir at this node's own directory", cfg.DataDir, owner.NodeID, owner.Jurisdiction, me.NodeID, me.Jurisdiction)
	}
	return nil
}

// ReadSignedCommand reads a signed command file written by roamctl
// (genesis, join tokens): protobuf JSON of a SignedCommand.
func ReadSignedCommand(path string) (*roamv1.SignedCommand, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sc roamv1.SignedCommand
	if err := protojson.Unmarshal(b, &sc); err != nil {
		return nil, fmt.Errorf("%s is not a signed command file: %v", path, err)
	}
	return &sc, nil
}

// WriteSignedCommand writes sc as protobuf JSON, mode 0600.
func WriteSignedCommand(path string, sc *roamv1.SignedCommand) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(sc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// IssuerPublicJWK is the public half of the node's issuer key (RFC 7517
// JSON), for its jurisdiction's admin to register.
func (n *Node) IssuerPublicJWK() ([]byte, error) { return roamjws.PublicJWK(n.signingKey) }

// Removed is closed when this node has been removed from the cluster and
// has shut its Raft down; roamd serve exits then.
func (n *Node) Removed() <-chan struct{} { return n.removed }

// raftPeerAllowed decides whether a node certificate may open a Raft
// connection to this node: its node id must be a voting registry member
// (recorded by a national admin's signed UpsertMember) of the same
// jurisdiction. A node whose registry has no genesis yet (joining) accepts
// the CA-signed leader that brings it the registry; with the genesis file
// in its config (pinned), it refuses any other registry.
func (n *Node) raftPeerAllowed(id identity.ID) error {
	if n.fsm == nil || !n.fsm.Initialized() {
		return nil
	}
	// Only voters start Raft connections (leaders and candidates);
	// non-voters and non-members never do.
	m, ok := n.fsm.Member(id.NodeID)
	if !ok || m.GetJurisdiction() != id.Jurisdiction || !m.GetVoter() {
		n.log.Warn("refused a Raft connection from a node that is not a voting member", "peer", id.String())
		return fmt.Errorf("node %s is not a voting member of this cluster", id)
	}
	return nil
}

// raftServerAllowed decides whether a node we dial for Raft is who it
// should be: a registry member (voter or not) of its jurisdiction.
func (n *Node) raftServerAllowed(id identity.ID) error {
	if n.fsm == nil || !n.fsm.Initialized() {
		return nil
	}
	if m, ok := n.fsm.Member(id.NodeID); !ok || m.GetJurisdiction() != id.Jurisdiction {
		return fmt.Errorf("node %s is not a member of this cluster", id)
	}
	return nil
}
