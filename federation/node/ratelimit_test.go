package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/identity"
	"github.com/roam-federation/roam/federation/peering"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// fakeClock is a settable now() for limiterSet.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC)} }
func testSet(rps float64, burst, max int, c *fakeClock) *limiterSet {
	return newLimiterSet("client", "rate_limit.client_rps", rps, burst, max, c.now)
}

func TestLimiterSetAllow(t *testing.T) {
	tests := []struct {
		name      string
		rps       float64
		burst     int
		calls     int           // made at once
		wantOK    int           // of which allowed
		wantRetry time.Duration // hint after the last refused one
	}{
		{"within burst", 10, 5, 5, 5, 0},
		{"one over burst", 10, 5, 6, 5, 100 * time.Millisecond},
		{"far over burst", 10, 5, 50, 5, 100 * time.Millisecond},
		{"slow rate", 0.5, 1, 2, 1, 2 * time.Second},
		{"burst of one", 1000, 1, 3, 1, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeClock()
			s := testSet(tt.rps, tt.burst, 10, c)
			ok, retry := 0, time.Duration(0)
			for range tt.calls {
				a, r := s.allow("ip 192.0.2.1")
				if a {
					ok++
				} else {
					retry = r
				}
			}
			if ok != tt.wantOK {
				t.Errorf("%d of %d calls allowed, want %d", ok, tt.calls, tt.wantOK)
			}
			if d := retry - tt.wantRetry; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("retry hint %s, want %s", retry, tt.wantRetry)
			}
			if tt.wantRetry > 0 {
				// After the hint, exactly one more call goes through.
				c.add(retry)
				if a, _ := s.allow("ip 192.0.2.1"); !a {
					t.Error("refused after waiting the retry hint")
				}
				if a, _ := s.allow("ip 192.0.2.1"); a {
					t.Error("two calls allowed after one token's wait")
				}
			}
		})
	}
}

// TestLimiterSetBounded: however many distinct callers come (an attacker
// rotating addresses), the set holds at most max buckets; idle ones go
// first, and a caller in the middle of a burst keeps its bucket while idle
// ones are dropped.
func TestLimiterSetBounded(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		keys     int
		spacing  time.Duration // between two new callers
		wantSize int
		wantEvic bool // buckets evicted at the cap (not idle)
	}{
		{"under the cap", 100, 50, 0, 50, false},
		{"many callers at once", 1000, 100_000, 0, 1000, true},
		{"callers spread over time: idle ones dropped", 1000, 100_000, time.Second, 60, false},
		{"cap of one", 1, 10, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeClock()
			s := testSet(100, 200, tt.max, c)
			for i := range tt.keys {
				s.allow(fmt.Sprintf("ip 10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
				if n := s.size(); n > tt.max {
					t.Fatalf("after %d callers the set holds %d buckets, over its cap %d", i+1, n, tt.max)
				}
				c.add(tt.spacing)
			}
			if n := s.size(); n != tt.wantSize {
				t.Errorf("holds %d buckets, want %d", n, tt.wantSize)
			}
			if (s.evicted > 0) != tt.wantEvic {
				t.Errorf("evicted %d at the cap, want evictions: %v", s.evicted, tt.wantEvic)
			}
			if len(s.entries) != s.lru.Len() {
				t.Errorf("map holds %d, list %d", len(s.entries), s.lru.Len())
			}
		})
	}

	// An active caller's empty bucket survives a flood of idle-then-new
	// callers only as long as it is more recently used than they are; an
	// idle bucket is dropped only once it would be full again.
	c := newFakeClock()
	s := testSet(1, 100, 10, c) // refills in 100s: kept at least 100s idle
	for range 100 {
		s.allow("ip 192.0.2.1")
	}
	if a, _ := s.allow("ip 192.0.2.1"); a {
		t.Fatal("burst not exhausted")
	}
	c.add(90 * time.Second)
	s.allow("ip 192.0.2.2") // triggers the idle sweep
	if _, held := s.entries["ip 192.0.2.1"]; !held {
		t.Fatal("a bucket that is not yet full again was dropped as idle")
	}
	c.add(11 * time.Second)
	s.allow("ip 192.0.2.2")
	if _, held := s.entries["ip 192.0.2.1"]; held {
		t.Fatal("a bucket idle past its refill time was kept")
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "unix" }
func (a fakeAddr) String() string  { return string(a) }

func TestCallerKey(t *testing.T) {
	ca, err := identity.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.Issue(identity.ID{Jurisdiction: "330000", NodeID: "zj-1"}, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	tcp := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	tests := []struct {
		name string
		p    *peer.Peer
		want string
	}{
		{"no peer", nil, "ip unknown"},
		{"ipv4", &peer.Peer{Addr: tcp("192.0.2.7:5000")}, "ip 192.0.2.7"},
		{"ipv4-mapped ipv6", &peer.Peer{Addr: tcp("[::ffff:192.0.2.7]:5000")}, "ip 192.0.2.7"},
		{"ipv6 by /64", &peer.Peer{Addr: tcp("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:5000")}, "ip 2001:db8:1:2::/64"},
		{"same /64, same key", &peer.Peer{Addr: tcp("[2001:db8:1:2::1]:5000")}, "ip 2001:db8:1:2::/64"},
		{"unix socket", &peer.Peer{Addr: fakeAddr("/run/roam.sock")}, "addr /run/roam.sock"},
		{"tls without a client certificate", &peer.Peer{Addr: tcp("192.0.2.7:5000"), AuthInfo: credentials.TLSInfo{}}, "ip 192.0.2.7"},
		{"verified node certificate", &peer.Peer{Addr: tcp("192.0.2.7:5000"), AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}}}, "node spiffe://roam/jurisdiction/330000/node/zj-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.p != nil {
				ctx = peer.NewContext(ctx, tt.p)
			}
			if got := callerKey(ctx); got != tt.want {
				t.Errorf("callerKey = %q, want %q", got, tt.want)
			}
		})
	}
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

// assertRateLimited checks err is the limiter's ResourceExhausted, naming
// the limit's fields and carrying a retry hint.
func assertRateLimited(t *testing.T, err error, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("err = %v, want ResourceExhausted", err)
	}
	for _, w := range []string{"rate limit exceeded", field + "_rps", field + "_burst", "retry in "} {
		if !strings.Contains(st.Message(), w) {
			t.Errorf("message %q lacks %q", st.Message(), w)
		}
	}
	var hint bool
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
			hint = true
		}
	}
	if !hint {
		t.Errorf("no RetryInfo detail in %v", st.Details())
	}
}

// startLimitedNode starts a node that is neither bootstrapping nor joining
// (it serves gRPC from an empty registry), with the given rate limits.
func startLimitedNode(t *testing.T, rl RateLimit) *Node {
	t.Helper()
	cfg := &Config{Jurisdiction: "330000", DataDir: t.TempDir(), RaftListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0",
		Backend: Backend{URL: "http://127.0.0.1:1"}, RateLimit: rl}
	n, err := Start(context.Background(), cfg, Options{Logger: quietLogger(), RaftLogLevel: "off"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// dialFrom connects to addr from the local address ip (all of 127.0.0.0/8
// is loopback on Linux), so that the node sees a distinct client.
func dialFrom(t *testing.T, ip, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	dialer := func(ctx context.Context, a string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return d.DialContext(ctx, "tcp", a)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dialer)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestRateLimitNode: over a real node's gRPC server, a client's burst past
// its limit gets ResourceExhausted while another client (another address)
// is unaffected; opening a Watch stream costs a token too; an anonymous
// PeeringService call draws from the client bucket, not the peer one.
func TestRateLimitNode(t *testing.T) {
	n := startLimitedNode(t, RateLimit{ClientRPS: 0.01, ClientBurst: 3, PeerRPS: 0.01, PeerBurst: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := dialFrom(t, "127.0.0.1", n.GRPCAddr())
	b := dialFrom(t, "127.0.0.2", n.GRPCAddr())
	getState := func(c *grpc.ClientConn) error {
		_, err := roamv1.NewRegistryServiceClient(c).GetState(ctx, &roamv1.GetStateRequest{})
		return err
	}
	for i := range 3 {
		if err := getState(a); err != nil {
			t.Fatalf("call %d within the burst: %v", i+1, err)
		}
	}
	for range 2 {
		assertRateLimited(t, getState(a), "rate_limit.client")
	}
	// Another client is unaffected.
	for i := range 3 {
		if err := getState(b); err != nil {
			t.Fatalf("other client, call %d: %v", i+1, err)
		}
	}
	// Streams: Watch from the exhausted client is refused when opened.
	stream, err := roamv1.NewRegistryServiceClient(a).Watch(ctx, &roamv1.WatchRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	assertRateLimited(t, err, "rate_limit.client")
	// PeeringService without a node certificate is not a peer: it spends
	// the caller's client tokens (already gone), never the peer allowance.
	_, err = roamv1.NewPeeringServiceClient(a).QueryStatus(ctx, &roamv1.QueryStatusRequest{Issuer: "410000", CodeId: "x"})
	assertRateLimited(t, err, "rate_limit.client")
}

// TestRateLimitByNodeIdentity: behind one address, callers with different
// node certificates have their own buckets; a caller without one is keyed
// by its address.
func TestRateLimitByNodeIdentity(t *testing.T) {
	ca, err := identity.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	keyPair := func(id identity.ID) tls.Certificate {
		c, k, err := ca.Issue(id, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	lim := newRateLimiter(RateLimit{ClientRPS: 0.01, ClientBurst: 2, PeerRPS: 0.01, PeerBurst: 2})
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(identity.ServerConfig(keyPair(identity.ID{Jurisdiction: "330000", NodeID: "330000"}), pool))),
		grpc.ChainUnaryInterceptor(lim.Unary()), grpc.ChainStreamInterceptor(lim.Stream()))
	roamv1.RegisterRegistryServiceServer(srv, &stubRegistry{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()

	dial := func(cert *tls.Certificate) roamv1.RegistryServiceClient {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(identity.ClientConfig(cert, pool))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return roamv1.NewRegistryServiceClient(conn)
	}
	henan, beijing := keyPair(identity.ID{Jurisdiction: "410000", NodeID: "410000"}), keyPair(identity.ID{Jurisdiction: "110000", NodeID: "110000"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name   string
		client roamv1.RegistryServiceClient
		key    string
	}{
		{"node 410000", dial(&henan), "node spiffe://roam/jurisdiction/410000/node/410000"},
		{"node 110000, same address", dial(&beijing), "node spiffe://roam/jurisdiction/110000/node/110000"},
		{"no certificate: by address", dial(nil), "ip 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 {
				if _, err := tc.client.GetState(ctx, &roamv1.GetStateRequest{}); err != nil {
					t.Fatalf("call %d within its own burst: %v", i+1, err)
				}
			}
			_, err := tc.client.GetState(ctx, &roamv1.GetStateRequest{})
			assertRateLimited(t, err, "rate_limit.client")
			if msg := status.Convert(err).Message(); !strings.Contains(msg, tc.key) {
				t.Errorf("message %q does not name the caller %q", msg, tc.key)
			}
		})
	}
}

type stubRegistry struct {
	roamv1.UnimplementedRegistryServiceServer
}

func (stubRegistry) GetState(context.Context, *roamv1.GetStateRequest) (*roamv1.GetStateResponse, error) {
	return &roamv1.GetStateResponse{}, nil
}

// TestRateLimitDisabled: disabled passes everything (nil limiter).
func TestRateLimitDisabled(t *testing.T) {
	lim := newRateLimiter(RateLimit{Disabled: true, ClientRPS: 0.001, ClientBurst: 1})
	for range 100 {
		if err := lim.check(context.Background(), "/roam.v1.RegistryService/GetState"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMessageSizeLimits: an oversized request fails fast with
// ResourceExhausted, whether the client applies the cap (roamctl, peers:
// peering.CallSizeOptions / Pool) or only the node does.
func TestMessageSizeLimits(t *testing.T) {
	n := startLimitedNode(t, RateLimit{})
	big := make([]byte, peering.MaxMessageBytes+1024)
	for i := range big {
		big[i] = 'A'
	}
	pool := peering.NewPool()
	defer pool.Close()
	poolConn, err := pool.Conn(n.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		conn *grpc.ClientConn
	}{
		{"client caps what it sends", dialFrom(t, "127.0.0.1", n.GRPCAddr(), peering.CallSizeOptions())},
		{"node caps what it receives", dialFrom(t, "127.0.0.1", n.GRPCAddr(), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8*peering.MaxMessageBytes)))},
		{"peer pool caps what it sends", poolConn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			_, err := roamv1.NewRecognitionServiceClient(tt.conn).Verify(ctx, &roamv1.VerifyRequest{Payload: big})
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("err = %v, want ResourceExhausted", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s to refuse", d)
			}
			// The connection still works for a normal call.
			if _, err := roamv1.NewRegistryServiceClient(tt.conn).GetState(ctx, &roamv1.GetStateRequest{}); err != nil {
				t.Errorf("normal call after the oversized one: %v", err)
			}
		})
	}
}

// TestWatchStreamsCapped: a node serves at most maxWatchers Watch streams
// at once; one more is refused with ResourceExhausted, and a slot freed by
// a closed stream is reused.
func TestWatchStreamsCapped(t *testing.T) {
	kr, err := admin.NewKeyring(1, 1, "330000")
	if err != nil {
		t.Fatal(err)
	}
	g, err := kr.Genesis()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Jurisdiction: "330000", DataDir: t.TempDir(), RaftListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0", Bootstrap: true,
		Backend: Backend{URL: "http://127.0.0.1:1"}, HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		RateLimit: RateLimit{ClientBurst: 10 * maxWatchers}}
	n, err := Start(context.Background(), cfg, Options{Logger: quietLogger(), RaftLogLevel: "off", Genesis: g})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// Callers from maxWatchers/maxWatchersPerCaller addresses fill the
	// node; one more address then finds it full.
	var clients []roamv1.RegistryServiceClient
	for i := range maxWatchers/maxWatchersPerCaller + 1 {
		clients = append(clients, roamv1.NewRegistryServiceClient(dialFrom(t, fmt.Sprintf("127.0.0.%d", i+1), n.GRPCAddr())))
	}
	extra := clients[len(clients)-1]
	// open starts a Watch from index 0: a stream the node serves sends the
	// genesis change at once, a refused one fails.
	open := func(client roamv1.RegistryServiceClient) (context.CancelFunc, error) {
		sctx, scancel := context.WithCancel(ctx)
		stream, err := client.Watch(sctx, &roamv1.WatchRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		if err != nil {
			scancel()
			return nil, err
		}
		return scancel, nil
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		held []context.CancelFunc
		errs []error
	)
	defer func() {
		for _, c := range held {
			c()
		}
	}()
	for i := range maxWatchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := open(clients[i/maxWatchersPerCaller])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			held = append(held, c)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d streams refused under the cap: %v", len(errs), maxWatchers, errs[0])
	}
	if c, err := open(extra); status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "Watch streams") {
		if c != nil {
			c()
		}
		t.Fatalf("stream %d: err = %v, want ResourceExhausted", maxWatchers+1, err)
	}
	held[0]()
	held = held[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := open(extra)
		if err == nil {
			held = append(held, c)
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("no slot after a stream closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCapDeadline: a handler never runs longer than the cap, whatever the
// client asked for (none, a longer one), and a shorter client deadline
// stands.
func TestCapDeadline(t *testing.T) {
	const capD = 50 * time.Millisecond
	ic := capDeadline(capD)
	for _, tt := range []struct {
		name   string
		client time.Duration // 0: none
		want   time.Duration
	}{
		{"no client deadline", 0, capD},
		{"longer client deadline", time.Hour, capD},
		{"shorter client deadline", 10 * time.Millisecond, 10 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.client > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.client)
				defer cancel()
			}
			start := time.Now()
			_, err := ic(ctx, nil, nil, func(ctx context.Context, _ any) (any, error) {
				dl, ok := ctx.Deadline()
				if !ok || time.Until(dl) > tt.want {
					t.Errorf("handler deadline %v (set %v), want within %s", time.Until(dl), ok, tt.want)
				}
				<-ctx.Done() // a handler that would hang
				return nil, ctx.Err()
			})
			if err == nil || time.Since(start) > tt.want+2*time.Second {
				t.Fatalf("err %v after %s", err, time.Since(start))
			}
		})
	}
}

// TestConnLimitListener: connections over the per-IP cap are closed at
// accept, and a closed connection frees its slot.
func TestConnLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimitListener(inner)
	defer l.Close()
	accepted := make(chan net.Conn, maxConnsPerIP+8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		return c
	}
	var served []net.Conn
	for range maxConnsPerIP {
		dial()
		served = append(served, <-accepted)
	}
	// One more from the same IP is closed by the server before any byte.
	extra := dial()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection over the per-IP cap was not closed: %v", err)
	}
	if total, fromIP := l.open("ip 127.0.0.1"); total != maxConnsPerIP || fromIP != maxConnsPerIP {
		t.Fatalf("open = %d total, %d from the IP; want %d", total, fromIP, maxConnsPerIP)
	}
	// Closing a served connection frees its slot.
	served[0].Close()
	served[0].Close() // twice: released once
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	for _, c := range served[1:] {
		c.Close()
	}
	if total, _ := l.open("ip 127.0.0.1"); total != 0 {
		t.Fatalf("%d connections still counted after all closed", total)
	}
}

// TestWatchLimitPerCaller: one caller cannot hold every Watch slot.
func TestWatchLimitPerCaller(t *testing.T) {
	var w watchLimit
	var releases []func()
	for range maxWatchersPerCaller {
		r, err := w.acquire("ip 10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	if _, err := w.acquire("ip 10.0.0.1"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("over the per-caller cap: %v", err)
	}
	r, err := w.acquire("ip 10.0.0.2")
	if err != nil {
		t.Fatalf("another caller: %v", err)
	}
	r()
	releases[0]()
	if r, err := w.acquire("ip 10.0.0.1"); err != nil {
		t.Fatalf("after a release: %v", err)
	} else {
		r()
	}
	for _, r := range releases[1:] {
		r()
	}
	if w.total != 0 || len(w.open) != 0 {
		t.Fatalf("after all released: total %d, %v", w.total, w.open)
	}
}

// TestHeaderListCap: a request whose header block is over
// maxHeaderListBytes is refused; grpc-go would otherwise hold up to 16 MiB
// of headers per waiting stream (found by review).
func TestHeaderListCap(t *testing.T) {
	n := startLimitedNode(t, RateLimit{Disabled: true})
	conn := dialFrom(t, "127.0.0.1", n.GRPCAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name string
		pad  int
		ok   bool
	}{
		{"small header", 1 << 10, true},
		{"header over the cap", 64 << 10, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mctx := metadata.AppendToOutgoingContext(ctx, "x-pad", strings.Repeat("a", tt.pad))
			_, err := roamv1.NewRegistryServiceClient(conn).GetState(mctx, &roamv1.GetStateRequest{})
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	// The connection still serves a normal call.
	if _, err := roamv1.NewRegistryServiceClient(conn).GetState(ctx, &roamv1.GetStateRequest{}); err != nil {
		t.Fatal(err)
	}
}
