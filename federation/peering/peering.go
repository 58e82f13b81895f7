package peering

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/identity"
	"github.com/roam-federation/roam/federation/reason"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// DefaultTimeout is the deadline of every peer call (issue 2 §7).
const DefaultTimeout = 500 * time.Millisecond

// MaxMessageBytes caps a gRPC request to a node (a node's receive limit,
// every client's send limit) and every message between nodes. A larger
// request fails with ResourceExhausted: at the sender when it applies this
// cap, at the node otherwise.
const MaxMessageBytes = 1 << 20

// MaxResponseBytes caps a gRPC response a node sends to a client (a node's
// send limit, a client's receive limit): GetState of a large registry,
// ListAudit pages.
const MaxResponseBytes = 4 * MaxMessageBytes

// CallSizeOptions are the message size caps every client of a node dials
// with (roamctl, the demo, tests): send at most MaxMessageBytes, receive at
// most MaxResponseBytes.
func CallSizeOptions() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(MaxMessageBytes), grpc.MaxCallRecvMsgSize(MaxResponseBytes))
}

// Members finds the nodes that serve a jurisdiction (the registry's member
// records).
type Members interface {
	MembersOf(jurisdiction string) []*roamv1.Member
}

// Pool keeps one gRPC client connection per peer address.
type Pool struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	opts  []grpc.DialOption
}

// NewPool returns a pool dialling with opts (plus insecure transport
// credentials and message size caps).
//
// Without a grpc.WithTransportCredentials option the pool dials in
// plaintext (tests, --insecure-dev); nodes pass mutual-TLS credentials.
func NewPool(opts ...grpc.DialOption) *Pool {
	base := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
	}
	return &Pool{conns: map[string]*grpc.ClientConn{}, opts: append(base, opts...)}
}

// Conn returns the shared connection to addr (host:port). Connecting is lazy.
func (p *Pool) Conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, p.opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

// Close closes every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		_ = c.Close()
		delete(p.conns, a)
	}
	return nil
}

// StatusClient asks issuer nodes for status assertions.
type StatusClient struct {
	Pool     *Pool
	Members  Members
	Verifier *roamjws.Verifier
	Clock    clock.Clock
	Timeout  time.Duration // per call; DefaultTimeout when 0
	// RequireIdentity makes the answering node prove, with its TLS
	// certificate, that it is a node of the issuer it answers for.
	RequireIdentity bool
}

// QueryStatus asks a node of issuer for the current status of code id jti
// and returns the verified assertion's claims. Failures are *reason.Error:
// issuer_unreachable (no member, timeout, transport or issuer error),
// code_unknown (the issuer answered that it never issued jti) or
// status_invalid (an assertion that does not verify or does not match).
func (s *StatusClient) QueryStatus(ctx context.Context, issuer, jti string) (*adapters.Claims, error) {
	members := s.Members.MembersOf(issuer)
	if len(members) == 0 {
		return nil, reason.New(reason.IssuerUnreachable, "no node of %s is registered", issuer)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for _, m := range members {
		conn, err := s.Pool.Conn(m.GetGrpcAddress())
		if err != nil {
			lastErr = err
			continue
		}
		var p peer.Peer
		resp, err := roamv1.NewPeeringServiceClient(conn).QueryStatus(ctx, &roamv1.QueryStatusRequest{Issuer: issuer, CodeId: jti}, grpc.Peer(&p))
		if s.RequireIdentity && (err == nil || status.Code(err) == codes.NotFound) {
			// Whatever it answers, the answering node must be a node of
			// the issuer (its certificate), not whoever holds the address.
			if id, ierr := serverIdentity(&p); ierr != nil || id.Jurisdiction != issuer || id.NodeID != m.GetNodeId() {
				return nil, reason.New(reason.StatusInvalid, "the node at %s is not %s of %s (%v %v)", m.GetGrpcAddress(), m.GetNodeId(), issuer, id, ierr)
			}
		}
		if status.Code(err) == codes.NotFound {
			// The issuer answered: it never issued this code id.
			return nil, reason.New(reason.CodeUnknown, "issuer %s has no record of code id %s", issuer, jti)
		}
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c, err := s.Verifier.VerifyStatus([]byte(resp.GetAssertion()), s.Clock.Now())
		if err != nil {
			return nil, reason.New(reason.StatusInvalid, "status assertion from %s: %v", m.GetNodeId(), err)
		}
		if c.Issuer != issuer || c.CodeID != jti {
			return nil, reason.New(reason.StatusInvalid, "status assertion is for %s/%s, asked %s/%s", c.Issuer, c.CodeID, issuer, jti)
		}
		return c, nil
	}
	return nil, reason.New(reason.IssuerUnreachable, "no answer from %s within %s: %v", issuer, timeout, lastErr)
}

// serverIdentity reads the verified server certificate's node identity.
func serverIdentity(p *peer.Peer) (identity.ID, error) {
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return identity.ID{}, identity.ErrNoIdentity
	}
	return identity.FromCert(ti.State.PeerCertificates[0])
}
