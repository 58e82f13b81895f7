package node

import (
	"container/list"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/roam-federation/roam/federation/identity"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// minIdle is how long a caller's bucket is kept after its last call, at
// least; a bucket that takes longer to refill is kept until it would be
// full again, so dropping it never hands a caller more than it had.
const minIdle = time.Minute

// maxIdle caps how long an unused bucket is kept whatever its refill time.
const maxIdle = 24 * time.Hour

// peeringPrefix is the full-method prefix of node-to-node calls.
var peeringPrefix = "/" + roamv1.PeeringService_ServiceDesc.ServiceName + "/"

// rateLimiter is the gRPC server's per-caller rate limit (issue 5 §6): one
// bounded set of buckets for clients, one for peers (PeeringService).
type rateLimiter struct {
	clients, peers *limiterSet
}

// newRateLimiter returns the limiter cfg describes (nil when disabled: its
// interceptors then pass every call). cfg has its defaults filled.
func newRateLimiter(cfg RateLimit) *rateLimiter {
	if cfg.Disabled {
		return nil
	}
	cfg.defaults()
	return &rateLimiter{
		clients: newLimiterSet("client", "rate_limit.client_rps", cfg.ClientRPS, cfg.ClientBurst, cfg.MaxTracked, time.Now),
		peers:   newLimiterSet("peer", "rate_limit.peer_rps", cfg.PeerRPS, cfg.PeerBurst, cfg.MaxTracked, time.Now),
	}
}

// check takes one token from the caller's bucket for method, or returns
// ResourceExhausted.
func (r *rateLimiter) check(ctx context.Context, method string) error {
	if r == nil {
		return nil
	}
	key := callerKey(ctx)
	set := r.clients
	// Only a verified node gets the peer allowance; anyone else calling
	// PeeringService spends its own client tokens (found by review: an
	// anonymous caller had ten times the client rate there).
	if strings.HasPrefix(method, peeringPrefix) && strings.HasPrefix(key, "node ") {
		set = r.peers
	}
	return set.take(key)
}

// take spends one token from key's bucket, or returns ResourceExhausted
// naming the limit, with a RetryInfo detail saying when to retry. The
// gRPC interceptors and the web console's API share it.
func (s *limiterSet) take(key string) error {
	ok, retry := s.allow(key)
	if ok {
		return nil
	}
	// Round the hint up to a whole millisecond, never 0.
	retry = (retry + time.Millisecond - 1).Truncate(time.Millisecond)
	if retry <= 0 {
		retry = time.Millisecond
	}
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(
		"rate limit exceeded: %s %s may make %g calls/s with bursts of %d (%s, %s_burst); retry in %s",
		s.kind, key, float64(s.rps), s.burst, s.field, strings.TrimSuffix(s.field, "_rps"), retry))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retry)}); err == nil {
		st = d
	}
	return st.Err()
}

// Unary is the unary server interceptor.
func (r *rateLimiter) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := r.check(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// Stream is the stream server interceptor: opening a stream (Watch) costs
// one token.
func (r *rateLimiter) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := r.check(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return h(srv, ss)
	}
}

// callerKey names the caller: "node spiffe://roam/jurisdiction/J/node/N"
// when it presented a verified node certificate, else "ip A.B.C.D" (IPv6
// callers by their /64, which one host commonly owns whole).
func callerKey(ctx context.Context) string {
	if id, err := identity.Peer(ctx); err == nil {
		return "node " + id.String()
	}
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "ip unknown"
	}
	return addrKey(p.Addr)
}

// addrKey names a remote address for limits: "ip A.B.C.D", or an IPv6
// caller by its /64, which one host commonly owns whole.
func addrKey(a net.Addr) string { return hostKey(a.String()) }

// hostKey is addrKey for a host or host:port string (an http.Request's
// RemoteAddr).
func hostKey(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return "addr " + host // a unix socket or other non-IP transport
	case ip.To4() != nil:
		return "ip " + ip.To4().String()
	default:
		return "ip " + (&net.IPNet{IP: ip.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
	}
}

// limiterSet is a bounded map of token buckets, least recently used last.
type limiterSet struct {
	kind, field string // "client", "rate_limit.client_rps": for messages
	rps         rate.Limit
	burst       int
	max         int
	idle        time.Duration
	now         func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *bucket
	lru     list.List                // front: most recently used
	evicted uint64                   // buckets dropped at the cap before they were idle
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	last time.Time
}

func newLimiterSet(kind, field string, rps float64, burst, max int, now func() time.Time) *limiterSet {
	idle := minIdle
	if refill := float64(burst) / rps; refill > maxIdle.Seconds() {
		idle = maxIdle
	} else if d := time.Duration(refill * float64(time.Second)); d > idle {
		idle = d
	}
	if max < 1 {
		max = 1
	}
	return &limiterSet{kind: kind, field: field, rps: rate.Limit(rps), burst: burst, max: max, idle: idle, now: now, entries: map[string]*list.Element{}}
}

// allow takes a token from key's bucket; when there is none it returns how
// long until there is.
func (s *limiterSet) allow(key string) (bool, time.Duration) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropIdle(now)
	e, ok := s.entries[key]
	if ok {
		s.lru.MoveToFront(e)
	} else {
		if len(s.entries) >= s.max {
			old := s.lru.Back()
			s.lru.Remove(old)
			delete(s.entries, old.Value.(*bucket).key)
			s.evicted++
		}
		e = s.lru.PushFront(&bucket{key: key, lim: rate.NewLimiter(s.rps, s.burst)})
		s.entries[key] = e
	}
	b := e.Value.(*bucket)
	b.last = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, time.Duration(missing / float64(s.rps) * float64(time.Second))
}

// dropIdle drops the buckets unused for s.idle, oldest first (they are full
// again: a fresh bucket is the same).
func (s *limiterSet) dropIdle(now time.Time) {
	for e := s.lru.Back(); e != nil; e = s.lru.Back() {
		b := e.Value.(*bucket)
		if now.Sub(b.last) < s.idle {
			return
		}
		s.lru.Remove(e)
		delete(s.entries, b.key)
	}
}

// size is how many buckets are held.
func (s *limiterSet) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Connection bounds (issue 5 §6). A gRPC stream holds memory from its
// HEADERS frame on, before any rate limit or handler deadline applies
// (found by review: 50,000 header-only streams on one connection took
// 700 MB). So the server caps streams per connection, and connLimit caps
// connections per remote IP and in all.
//
// Worst case, every allowed stream held open with its largest header block
// (maxHeaderListBytes) and grpc-go's per-stream state (about 14 KB):
// maxConns × maxStreamsPerConn × ~30 KB ≈ 1 GB per node, and only from at
// least maxConns/maxConnsPerIP = 16 distinct addresses; about 60 MB from
// one. A client waits for stream quota rather than fail, so a gateway that
// multiplexes more than 64 calls on one connection queues.
const (
	maxStreamsPerConn  = 64
	maxConnsPerIP      = 32
	maxConns           = 512
	maxHeaderListBytes = 16 << 10 // grpc-go's default is 16 MiB per stream (found by review)
)

// connLimitListener closes connections over the per-IP or total cap at
// accept, before TLS.
type connLimitListener struct {
	net.Listener
	mu    sync.Mutex
	perIP map[string]int
	total int
}

func newConnLimitListener(l net.Listener) *connLimitListener {
	return &connLimitListener{Listener: l, perIP: map[string]int{}}
}

func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := addrKey(c.RemoteAddr())
		l.mu.Lock()
		if l.total >= maxConns || l.perIP[ip] >= maxConnsPerIP {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.total++
		l.perIP[ip]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *connLimitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// open reports the connections held, in all and from ip.
func (l *connLimitListener) open(ip string) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.perIP[ip]
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// watchLimit caps open Watch streams per caller (and maxWatchers in all),
// so one caller cannot hold every slot.
type watchLimit struct {
	mu    sync.Mutex
	open  map[string]int
	total int
}

const maxWatchersPerCaller = 16

// acquire takes a slot for key or says why not; release gives it back.
func (w *watchLimit) acquire(key string) (release func(), err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.total >= maxWatchers:
		return nil, status.Errorf(codes.ResourceExhausted, "this node already serves %d Watch streams, its limit; retry later or watch another node", maxWatchers)
	case w.open[key] >= maxWatchersPerCaller:
		return nil, status.Errorf(codes.ResourceExhausted, "%s already has %d Watch streams open on this node, the limit per caller; close one first", key, maxWatchersPerCaller)
	}
	if w.open == nil {
		w.open = map[string]int{}
	}
	w.open[key]++
	w.total++
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.total--
		if w.open[key]--; w.open[key] <= 0 {
			delete(w.open, key)
		}
	}, nil
}
