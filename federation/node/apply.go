package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// applyTimeout bounds one Raft apply on the leader.
const applyTimeout = 5 * time.Second

// Apply commits cmd through Raft and returns its log index. On a follower
// it forwards to the leader over gRPC (PeeringService.Forward). Errors:
// registry.ErrBadCommand (bad input), registry.ErrRefused (the FSM refused;
// nothing changed), ErrOutcomeUnknown (leadership lost mid-write),
// ErrNoLeader, or the context's error.
func (n *Node) Apply(ctx context.Context, cmd *roamv1.Command) (uint64, error) {
	b, err := registry.Encode(cmd)
	if err != nil {
		return 0, err
	}
	if _, _, err := registry.DecodePayload(cmd); err != nil {
		return 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	for {
		idx, err, retry := n.applyOnce(ctx, cmd, b)
		if !retry {
			return idx, err
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ErrNoLeader
			}
			return 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
		case <-n.stop:
			return 0, ErrNoLeader
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// applyOnce tries once, locally or forwarded; retry is true when the error
// is about leadership and the write certainly did not happen.
func (n *Node) applyOnce(ctx context.Context, cmd *roamv1.Command, b []byte) (uint64, error, bool) {
	if n.raft.State() == raft.Leader {
		return n.applyLocal(b)
	}
	leaderAddr, leaderID := n.raft.LeaderWithID()
	if leaderID == "" {
		return 0, errors.New("no leader elected yet"), true
	}
	addr, err := n.grpcAddrOf(string(leaderID), string(leaderAddr))
	if err != nil {
		return 0, err, true
	}
	conn, err := n.pool.Conn(addr)
	if err != nil {
		return 0, err, true
	}
	resp, err := roamv1.NewPeeringServiceClient(conn).Forward(ctx, &roamv1.ForwardRequest{Command: cmd})
	if err != nil {
		return fromForwardStatus(err)
	}
	return resp.GetIndex(), nil, false
}

func (n *Node) applyLocal(b []byte) (uint64, error, bool) {
	f := n.raft.Apply(b, applyTimeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
			return 0, err, true // never reached the log
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
			return 0, ErrOutcomeUnknown, false
		default:
			return 0, fmt.Errorf("%w: %v", ErrOutcomeUnknown, err), false
		}
	}
	res, ok := f.Response().(*registry.ApplyResult)
	if !ok {
		return f.Index(), nil, false
	}
	return res.Index, res.Err, false
}

// fromForwardStatus maps the leader's gRPC status back to Apply's errors.
func fromForwardStatus(err error) (uint64, error, bool) {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.FailedPrecondition:
		return 0, fmt.Errorf("%w: %s", registry.ErrRefused, trimPrefix(st.Message(), registry.ErrRefused.Error()+": ")), false
	case codes.InvalidArgument:
		return 0, fmt.Errorf("%w: %s", registry.ErrBadCommand, st.Message()), false
	case codes.Unknown:
		return 0, ErrOutcomeUnknown, false
	case codes.Unavailable:
		return 0, err, true // not the leader, or not reachable: not applied
	case codes.DeadlineExceeded, codes.Canceled:
		return 0, fmt.Errorf("%w: forwarded write timed out: %v", ErrOutcomeUnknown, st.Message()), false
	}
	return 0, err, false
}

func trimPrefix(s, p string) string {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// grpcAddrOf finds a node's gRPC address: its registry member record, else
// the bootstrap peer list.
func (n *Node) grpcAddrOf(nodeID, raftAddr string) (string, error) {
	if nodeID == n.cfg.NodeID {
		return n.GRPCAddr(), nil
	}
	if m, ok := n.fsm.Member(nodeID); ok {
		return m.GetGrpcAddress(), nil
	}
	for _, p := range n.cfg.Peers {
		if p.ID == nodeID || p.RaftAddress == raftAddr {
			return p.GRPCAddress, nil
		}
	}
	return "", fmt.Errorf("gRPC address of leader %s is not known yet", nodeID)
}

// join adds a server to the Raft configuration on the leader, or forwards.
func (n *Node) join(ctx context.Context, req *roamv1.JoinRequest) (uint64, error) {
	if n.raft.State() != raft.Leader {
		leaderAddr, leaderID := n.raft.LeaderWithID()
		if leaderID == "" {
			return 0, status.Error(codes.Unavailable, "no leader elected yet; retry")
		}
		addr, err := n.grpcAddrOf(string(leaderID), string(leaderAddr))
		if err != nil {
			return 0, status.Error(codes.Unavailable, err.Error())
		}
		conn, err := n.pool.Conn(addr)
		if err != nil {
			return 0, status.Error(codes.Unavailable, err.Error())
		}
		resp, err := roamv1.NewPeeringServiceClient(conn).Join(ctx, req)
		if err != nil {
			return 0, err
		}
		return resp.GetIndex(), nil
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return 0, status.Error(codes.Unavailable, err.Error())
	}
	id, addr := raft.ServerID(req.GetNodeId()), raft.ServerAddress(req.GetRaftAddress())
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == id && s.Address == addr && (s.Suffrage == raft.Voter) == req.GetVoter():
			return n.raft.AppliedIndex(), nil // already a member, same role
		case s.ID == id && s.Address != addr:
			return 0, status.Errorf(codes.FailedPrecondition, "node %s is already a member at %s; remove it before it joins from %s", id, s.Address, addr)
		case s.ID != id && s.Address == addr:
			return 0, status.Errorf(codes.FailedPrecondition, "raft_address %s is already used by member %s", addr, s.ID)
		}
	}
	var f raft.IndexFuture
	if req.GetVoter() {
		f = n.raft.AddVoter(id, addr, 0, applyTimeout)
	} else {
		f = n.raft.AddNonvoter(id, addr, 0, applyTimeout)
	}
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrLeadershipLost) {
			return 0, status.Error(codes.Unknown, ErrOutcomeUnknown.Error())
		}
		return 0, status.Errorf(codes.Unavailable, "add %s: %v", id, err)
	}
	n.log.Info("member joined", "member", req.GetNodeId(), "voter", req.GetVoter(), "raft_address", req.GetRaftAddress())
	return f.Index(), nil
}

// register runs until this node's member record, jurisdiction and issuer
// key are in the registry, joining the cluster first when configured to.
func (n *Node) register() {
	defer close(n.ready)
	cfg := n.cfg
	if len(cfg.Join) > 0 {
		if err := n.joinCluster(); err != nil {
			n.readyErr = err
			return
		}
	}
	signer := n.issuer.Signer()
	pub, err := roamjws.PublicJWK(signerKey(n))
	if err != nil {
		n.readyErr = err
		return
	}
	for {
		err := n.registerOnce(signer, pub)
		if err == nil {
			n.log.Info("node registered", "jurisdiction", cfg.Jurisdiction, "kid", signer.Kid(), "grpc", n.GRPCAddr())
			return
		}
		n.log.Debug("registration pending", "err", err)
		select {
		case <-n.stop:
			n.readyErr = errors.New("node stopped before it was registered")
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (n *Node) registerOnce(signer *roamjws.Signer, pub []byte) error {
	cfg := n.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var cmds []proto.Message
	me := &roamv1.Member{NodeId: cfg.NodeID, Jurisdiction: cfg.Jurisdiction, RaftAddress: cfg.RaftAdvertise, GrpcAddress: n.advertisedGRPC(), Voter: cfg.IsVoter()}
	if m, ok := n.fsm.Member(cfg.NodeID); !ok || !proto.Equal(m, me) {
		cmds = append(cmds, &roamv1.UpsertMember{Member: me})
	}
	if _, ok := n.fsm.Jurisdiction(cfg.Jurisdiction); !ok {
		name := cfg.Name
		if name == "" {
			name = cfg.Jurisdiction
		}
		cmds = append(cmds, &roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: cfg.Jurisdiction, Name: name, CodeSystem: sysName(n.cfg)}})
	}
	if _, ok := n.fsm.Key(signer.Kid()); !ok {
		cmds = append(cmds, &roamv1.AddKey{Key: &roamv1.IssuerKey{
			Kid: signer.Kid(), Jurisdiction: cfg.Jurisdiction, Alg: signer.Alg(), Jwk: pub,
			State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: n.clock.Now().Add(-time.Minute).Unix(),
		}})
	}
	for _, m := range cmds {
		cmd, err := registry.NewCommand(m)
		if err != nil {
			return err
		}
		if _, err := n.Apply(ctx, cmd); err != nil && !errors.Is(err, registry.ErrRefused) {
			return err
		}
	}
	if len(cmds) > 0 {
		return errors.New("registration applied; confirming")
	}
	return nil
}

func (n *Node) advertisedGRPC() string {
	if _, port, _ := net.SplitHostPort(n.cfg.GRPCAdvertise); port == "0" {
		return n.GRPCAddr()
	}
	return n.cfg.GRPCAdvertise
}

// joinCluster asks the configured members to add this node, retrying until
// one accepts or the node stops.
func (n *Node) joinCluster() error {
	req := &roamv1.JoinRequest{NodeId: n.cfg.NodeID, Jurisdiction: n.cfg.Jurisdiction, RaftAddress: n.cfg.RaftAdvertise, GrpcAddress: n.advertisedGRPC(), Voter: n.cfg.IsVoter()}
	for {
		for _, addr := range n.cfg.Join {
			conn, err := n.pool.Conn(addr)
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = roamv1.NewPeeringServiceClient(conn).Join(ctx, req)
			cancel()
			if err == nil {
				return nil
			}
			n.log.Debug("join pending", "via", addr, "err", err)
		}
		select {
		case <-n.stop:
			return errors.New("node stopped before it joined")
		case <-time.After(200 * time.Millisecond):
		}
	}
}
