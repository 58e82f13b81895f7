package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/identity"
	"github.com/roam-federation/roam/federation/issuance"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/federation/recognition"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func registerServices(n *Node) {
	roamv1.RegisterRegistryServiceServer(n.grpc, &registrySvc{n: n})
	roamv1.RegisterRecognitionServiceServer(n.grpc, &recognitionSvc{n: n})
	roamv1.RegisterPeeringServiceServer(n.grpc, &peeringSvc{n: n})
	roamv1.RegisterIssuanceServiceServer(n.grpc, &issuanceSvc{n: n})
}

// recoverUnary turns a handler panic into Internal instead of a crash; the
// panic is logged with its stack. No handler is expected to panic.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("handler panic", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return h(ctx, req)
	}
}

// recoverStream is recoverUnary for streaming handlers (Watch).
func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("handler panic", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return h(srv, ss)
	}
}

// maxUnaryDuration bounds every unary handler, whatever deadline (or none)
// the caller sent, so that a handler's own outbound calls (a write
// forwarded to the leader, a join or removal relayed to it, a backend
// lookup) inherit a deadline (issue 5 §6). The slowest legitimate call, a
// write waiting for a Raft commit, gives up after 10s.
const maxUnaryDuration = 30 * time.Second

// capDeadline gives each unary call at most d.
func capDeadline(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return h(ctx, req)
	}
}

func invalid(field, format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "%s: %s", field, fmt.Sprintf(format, args...))
}

// applyStatus maps Node.Apply errors to gRPC codes in one place.
func applyStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrBadCommand):
		return status.Error(codes.InvalidArgument, "command: "+err.Error())
	case errors.Is(err, registry.ErrUnauthorized), errors.Is(err, registry.ErrBadSignature):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, registry.ErrReplayed):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, registry.ErrRefused):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrOutcomeUnknown):
		return status.Error(codes.Unknown, err.Error())
	case errors.Is(err, ErrNoLeader):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unavailable, err.Error())
}

// --- RegistryService ---

type registrySvc struct {
	roamv1.UnimplementedRegistryServiceServer
	n *Node
	// watchers counts open Watch streams, per caller and in all.
	watchers watchLimit
}

// maxWatchers caps concurrent Watch streams on one node (issue 5 §6): each
// holds a goroutine and, while a batch is sent, up to the change ring
// (4096 changes).
const maxWatchers = 256

func (s *registrySvc) GetState(context.Context, *roamv1.GetStateRequest) (*roamv1.GetStateResponse, error) {
	st := s.n.fsm.State()
	return &roamv1.GetStateResponse{AppliedIndex: st.GetIndex(), Registry: st, NodeId: s.n.cfg.NodeID}, nil
}

func (s *registrySvc) Watch(req *roamv1.WatchRequest, stream grpc.ServerStreamingServer[roamv1.WatchResponse]) error {
	release, err := s.watchers.acquire(callerKey(stream.Context()))
	if err != nil {
		return err
	}
	defer release()
	from := req.GetFromIndex()
	for {
		chs, err := s.n.fsm.Changes(stream.Context(), from)
		if errors.Is(err, registry.ErrCompacted) {
			return status.Error(codes.OutOfRange, err.Error()+"; call GetState and watch from its applied_index")
		}
		if err != nil {
			return status.FromContextError(err).Err()
		}
		for _, c := range chs {
			if err := stream.Send(&roamv1.WatchResponse{Change: c}); err != nil {
				return err
			}
			from = c.GetIndex()
		}
	}
}

func (s *registrySvc) Propose(ctx context.Context, req *roamv1.ProposeRequest) (*roamv1.ProposeResponse, error) {
	if len(req.GetSigned().GetSignatures()) == 0 {
		return nil, invalid("signed", "required: a command signed with an admin key (roamctl signs with --admin-key)")
	}
	if isGenesis(req.GetSigned()) {
		return nil, invalid("signed", "a genesis command is applied by the bootstrapping node from its config, never proposed")
	}
	idx, err := s.n.Apply(ctx, req.GetSigned())
	if err != nil {
		return nil, applyStatus(err)
	}
	return &roamv1.ProposeResponse{Index: idx, CommandId: commandID(req.GetSigned())}, nil
}

func (s *registrySvc) ListAudit(_ context.Context, req *roamv1.ListAuditRequest) (*roamv1.ListAuditResponse, error) {
	limit := int(req.GetLimit())
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	recs := s.n.fsm.Audit(req.GetFromIndex(), limit)
	return &roamv1.ListAuditResponse{Records: recs, AppliedIndex: s.n.fsm.AppliedIndex(), ChainHead: s.n.fsm.State().GetChainHead()}, nil
}

func (s *registrySvc) GetCluster(context.Context, *roamv1.GetClusterRequest) (*roamv1.GetClusterResponse, error) {
	n := s.n
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	_, leaderID := n.raft.LeaderWithID()
	out := &roamv1.GetClusterResponse{
		NodeId: n.cfg.NodeID, State: n.raft.State().String(),
		AppliedIndex: n.fsm.AppliedIndex(), CommitIndex: n.raft.CommitIndex(),
	}
	stats := n.raft.Stats()
	fmt.Sscan(stats["term"], &out.Term)
	if n.raft.State() != raft.Leader {
		out.LastContactMs = time.Since(n.raft.LastContact()).Milliseconds()
	}
	for _, srv := range f.Configuration().Servers {
		cs := &roamv1.ClusterServer{Id: string(srv.ID), RaftAddress: string(srv.Address), Voter: srv.Suffrage == raft.Voter, Leader: srv.ID == leaderID}
		if m, ok := n.fsm.Member(string(srv.ID)); ok {
			cs.GrpcAddress = m.GetGrpcAddress()
		}
		out.Servers = append(out.Servers, cs)
	}
	return out, nil
}

// --- RecognitionService ---

type recognitionSvc struct {
	roamv1.UnimplementedRecognitionServiceServer
	n *Node
}

func (s *recognitionSvc) decide(ctx context.Context, payload []byte, host, checkpoint string, at *timestamppb.Timestamp) (*roamv1.Decision, []*roamv1.Stage, error) {
	if len(payload) == 0 {
		return nil, nil, invalid("payload", "required: the presented code, e.g. roam:eyJ…")
	}
	if host != "" && !registry.ValidJurisdictionID(host) {
		return nil, nil, invalid("host", "%q is not a GB/T 2260 code (e.g. 410000)", host)
	}
	// A node decides for its own jurisdiction, or for another one the
	// registry knows (a province's node serving a city's checkpoints);
	// never for one nobody registered (found by review).
	if host != "" && host != s.n.cfg.Jurisdiction {
		// Only a caught-up replica can say a jurisdiction does not exist;
		// a stale one answers registry_stale in the pipeline.
		if _, ok := s.n.fsm.Jurisdiction(host); !ok && s.n.caughtUp.Load() {
			return nil, nil, invalid("host", "%s is not a jurisdiction in the registry; omit host to decide for this node's %s", host, s.n.cfg.Jurisdiction)
		}
	}
	req := recognition.Request{Payload: payload, Host: host, Checkpoint: checkpoint}
	if at != nil {
		if err := at.CheckValid(); err != nil {
			return nil, nil, invalid("at", "%v", err)
		}
		if t := at.AsTime(); t.Year() < 2000 || t.Year() > 2200 {
			return nil, nil, invalid("at", "%s is outside 2000-2200; give the instant to decide at, or omit it for now", t.Format(time.RFC3339))
		}
		req.At = at.AsTime()
	}
	d, st, err := s.n.pipe.Verify(ctx, req)
	if errors.Is(err, recognition.ErrBadRequest) {
		return nil, nil, invalid("checkpoint", "%v", err)
	}
	return d, st, err
}

func (s *recognitionSvc) Verify(ctx context.Context, req *roamv1.VerifyRequest) (*roamv1.VerifyResponse, error) {
	d, _, err := s.decide(ctx, req.GetPayload(), req.GetHost(), req.GetCheckpoint(), req.GetAt())
	if err != nil {
		return nil, err
	}
	return &roamv1.VerifyResponse{Decision: d}, nil
}

func (s *recognitionSvc) Explain(ctx context.Context, req *roamv1.ExplainRequest) (*roamv1.ExplainResponse, error) {
	d, st, err := s.decide(ctx, req.GetPayload(), req.GetHost(), req.GetCheckpoint(), req.GetAt())
	if err != nil {
		return nil, err
	}
	return &roamv1.ExplainResponse{Decision: d, Stages: st}, nil
}

// --- PeeringService ---

type peeringSvc struct {
	roamv1.UnimplementedPeeringServiceServer
	n *Node
}

// requireNode checks, when the node runs TLS, that the caller presented a
// verified node certificate: only nodes call QueryStatus and Forward.
func (n *Node) requireNode(ctx context.Context) error {
	if n.cfg.TLS == nil {
		return nil
	}
	id, err := identity.Peer(ctx)
	if err != nil {
		return status.Error(codes.Unauthenticated, "a node certificate (spiffe://roam/jurisdiction/…/node/…) is required: "+err.Error())
	}
	if m, ok := n.fsm.Member(id.NodeID); !ok || m.GetJurisdiction() != id.Jurisdiction {
		return status.Errorf(codes.PermissionDenied, "%s is not a member of this cluster", id)
	}
	return nil
}

func (s *peeringSvc) QueryStatus(ctx context.Context, req *roamv1.QueryStatusRequest) (*roamv1.QueryStatusResponse, error) {
	if err := s.n.requireNode(ctx); err != nil {
		return nil, err
	}
	if req.GetIssuer() != s.n.cfg.Jurisdiction {
		return nil, status.Errorf(codes.NotFound, "issuer: this node issues for %s, not %q", s.n.cfg.Jurisdiction, req.GetIssuer())
	}
	if id := req.GetCodeId(); id == "" || len(id) > 64 {
		return nil, invalid("code_id", "must be 1-64 bytes")
	}
	tok, _, err := s.n.issuer.Status(ctx, req.GetCodeId())
	if err != nil {
		return nil, backendStatus(err)
	}
	return &roamv1.QueryStatusResponse{Assertion: tok}, nil
}

func (s *peeringSvc) Forward(ctx context.Context, req *roamv1.ForwardRequest) (*roamv1.ForwardResponse, error) {
	if err := s.n.requireNode(ctx); err != nil {
		return nil, err
	}
	if len(req.GetSigned().GetSignatures()) == 0 {
		return nil, invalid("signed", "required")
	}
	if isGenesis(req.GetSigned()) {
		return nil, invalid("signed", "a genesis command is never forwarded")
	}
	if s.n.raft.State() != raft.Leader {
		return nil, status.Error(codes.Unavailable, "not the leader; retry")
	}
	b, err := registry.EncodeSigned(req.GetSigned())
	if err != nil {
		return nil, invalid("signed", "%v", err)
	}
	idx, err, _ := s.n.applyLocal(b)
	if err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return nil, status.Error(codes.Unavailable, "not the leader; retry")
		}
		return nil, applyStatus(err)
	}
	return &roamv1.ForwardResponse{Index: idx}, nil
}

func (s *peeringSvc) Join(ctx context.Context, req *roamv1.JoinRequest) (*roamv1.JoinResponse, error) {
	if len(req.GetMember().GetSignatures()) == 0 {
		return nil, invalid("member", "required: an UpsertMember command signed by a national admin (roamctl cluster join-token)")
	}
	idx, err := s.n.join(ctx, req)
	if err != nil {
		return nil, err
	}
	return &roamv1.JoinResponse{Index: idx}, nil
}

func (s *peeringSvc) Remove(ctx context.Context, req *roamv1.RemoveRequest) (*roamv1.RemoveResponse, error) {
	if len(req.GetMember().GetSignatures()) == 0 {
		return nil, invalid("member", "required: a RemoveMember command signed by a national admin (roamctl cluster remove)")
	}
	if req.GetNotify() {
		// Only the current leader sends removal notices.
		if err := s.n.requireNode(ctx); err != nil {
			return nil, err
		}
		if id, err := identity.Peer(ctx); s.n.cfg.TLS != nil && (err != nil || !s.n.isLeader(id)) {
			return nil, status.Error(codes.PermissionDenied, "only the cluster's leader sends removal notices")
		}
	}
	idx, err := s.n.remove(ctx, req)
	if err != nil {
		return nil, err
	}
	return &roamv1.RemoveResponse{Index: idx}, nil
}

// isGenesis peeks at a signed command's type without verifying it.
func isGenesis(sc *roamv1.SignedCommand) bool {
	cp := peekPayload(sc)
	return cp != nil && cp.GetCommand().GetType() == roamv1.CommandType_COMMAND_TYPE_GENESIS
}

func commandID(sc *roamv1.SignedCommand) string { return peekPayload(sc).GetId() }

// peekPayload decodes the payload of the first signature, unverified.
func peekPayload(sc *roamv1.SignedCommand) *roamv1.CommandPayload {
	if len(sc.GetSignatures()) == 0 || len(sc.GetSignatures()[0]) > registry.MaxCommandBytes {
		return nil
	}
	c, err := roamjws.ParseCompact([]byte(sc.GetSignatures()[0]), registry.TypCommand)
	if err != nil {
		return nil
	}
	var cp roamv1.CommandPayload
	if proto.Unmarshal(c.Payload, &cp) != nil {
		return nil
	}
	return &cp
}

// --- IssuanceService ---

type issuanceSvc struct {
	roamv1.UnimplementedIssuanceServiceServer
	n *Node
}

func (s *issuanceSvc) IssueCode(ctx context.Context, req *roamv1.IssueCodeRequest) (*roamv1.IssueCodeResponse, error) {
	if err := s.n.requireOwnJurisdiction(ctx); err != nil {
		return nil, err
	}
	if !residentID.MatchString(req.GetResidentId()) {
		return nil, invalid("resident_id", "must be the resident's 18-character ID number at the provincial backend (17 digits and a digit or X)")
	}
	code, c, err := s.n.issuer.Issue(ctx, req.GetResidentId())
	if err != nil {
		return nil, backendStatus(err)
	}
	return &roamv1.IssueCodeResponse{Code: code, CodeId: c.CodeID, Color: string(c.Color), Version: c.Version, ExpiresAt: tsOf(c.Expires)}, nil
}

// requireOwnJurisdiction admits a caller whose client certificate (from
// the federation CA) names this node's jurisdiction: the province's own
// systems — its health-code app's backend, its operators. Issuing a code
// reads a resident's colour from the provincial backend by ID number, so
// an anonymous caller must never reach it (found by review: anyone with
// the public CA certificate could learn any resident's colour). A node
// without TLS (--insecure-dev) cannot tell callers apart and admits all.
func (n *Node) requireOwnJurisdiction(ctx context.Context) error {
	if n.cfg.TLS == nil {
		return nil
	}
	id, err := identity.Peer(ctx)
	if err != nil {
		return status.Errorf(codes.PermissionDenied, "IssueCode needs a client certificate from the federation CA naming jurisdiction %s (the province's own systems; roamctl --tls-cert/--tls-key): %v", n.cfg.Jurisdiction, err)
	}
	if id.Jurisdiction != n.cfg.Jurisdiction {
		return status.Errorf(codes.PermissionDenied, "IssueCode at %s: certificate %s belongs to jurisdiction %s; only %s's own systems issue its codes", n.cfg.Jurisdiction, id, id.Jurisdiction, n.cfg.Jurisdiction)
	}
	return nil
}

// residentID is the shape of a GB 11643 citizen ID number.
var residentID = regexp.MustCompile(`^[0-9]{17}[0-9X]$`)

// backendStatus maps provincial-backend errors to gRPC codes.
func backendStatus(err error) error {
	switch {
	case errors.Is(err, issuance.ErrUnknownCode), errors.Is(err, adapters.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, adapters.ErrRefused):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if reason.Of(err) == reason.Expired {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unavailable, "provincial backend: "+err.Error())
}

func tsOf(sec int64) *timestamppb.Timestamp { return timestamppb.New(time.Unix(sec, 0)) }

// isLeader reports whether a certificate identity is the leader this node
// knows: same node id and the jurisdiction the registry records for it.
func (n *Node) isLeader(id identity.ID) bool {
	_, leader := n.raft.LeaderWithID()
	m, ok := n.fsm.Member(id.NodeID)
	return string(leader) == id.NodeID && ok && m.GetJurisdiction() == id.Jurisdiction
}
