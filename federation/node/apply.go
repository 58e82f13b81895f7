package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// applyTimeout bounds one Raft apply on the leader.
const applyTimeout = 5 * time.Second

// Apply commits a signed command through Raft and returns its log index.
// On a follower it forwards to the leader over gRPC (PeeringService.Forward).
// Errors: registry.ErrBadCommand (undecodable), registry.ErrRefused (the
// FSM refused it: unauthorised or a rule, recorded in the audit log; or a
// bad signature, expired or replayed, refused before the log and so not
// audited), ErrOutcomeUnknown
// (leadership lost mid-write), ErrNoLeader, or the context's error.
func (n *Node) Apply(ctx context.Context, sc *roamv1.SignedCommand) (uint64, error) {
	b, err := registry.EncodeSigned(sc)
	if err != nil {
		return 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	// delivered: an earlier forward may have reached the leader before its
	// connection failed, so the command may be in the log. Then a retry
	// that finds its id used up, or running out of time, is "outcome
	// unknown", never "not applied" (issue 5: a write whose outcome is
	// unknown must be reported so, and read before it is retried).
	if n.raft.State() != raft.Leader {
		if err := n.precheckForward(b); err != nil {
			return 0, err
		}
	}
	delivered := false
	for {
		idx, err, retry := n.applyOnce(ctx, sc, b)
		if !retry {
			if delivered && errors.Is(err, registry.ErrReplayed) {
				return 0, fmt.Errorf("%w: an earlier attempt reached the leader and used up the command id (%v)", ErrOutcomeUnknown, err)
			}
			return idx, err
		}
		if status.Code(err) == codes.Unavailable {
			delivered = true
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ErrNoLeader
			}
			if delivered {
				return 0, fmt.Errorf("%w: a forwarded attempt may have reached the leader (%v)", ErrOutcomeUnknown, err)
			}
			return 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
		case <-n.stop:
			if delivered {
				return 0, ErrOutcomeUnknown
			}
			return 0, ErrNoLeader
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// applyOnce tries once, locally or forwarded; retry is true when the error
// is about leadership and the write certainly did not happen.
func (n *Node) applyOnce(ctx context.Context, sc *roamv1.SignedCommand, b []byte) (uint64, error, bool) {
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
	resp, err := roamv1.NewPeeringServiceClient(conn).Forward(ctx, &roamv1.ForwardRequest{Signed: sc})
	if err != nil {
		return fromForwardStatus(err)
	}
	n.awaitApplied(ctx, resp.GetIndex())
	return resp.GetIndex(), nil, false
}

// forwardVisibleWait bounds how long a follower waits, after the leader
// acknowledged a forwarded write, for its own replica to apply it.
const forwardVisibleWait = 2 * time.Second

// awaitApplied waits until this node's replica has applied idx, so a
// write acknowledged through a follower is visible there at once: an
// operator who revokes a key through their province's node and scans at
// that node sees the revocation (read-your-writes; found by
// TestRegistryLatencyTCP). The leader commits before it answers, so this
// is one commit notice, about Raft's CommitTimeout. It gives up after
// forwardVisibleWait or when ctx ends: the write is committed either way.
func (n *Node) awaitApplied(ctx context.Context, idx uint64) {
	deadline := time.Now().Add(forwardVisibleWait)
	for n.fsm.AppliedIndex() < idx && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-n.stop:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// precheckForward is a follower's check of a command's signatures against
// its replica before it forwards the command to the leader: the leader
// counts forwarded calls against this node's peer allowance, so unsigned
// junk from anonymous clients must stop here (found by review: a flood of
// junk joins through a follower starved its live status queries).
// A replica that has not caught up since start cannot refuse anything (it
// may lack the genesis): then the leader judges.
func (n *Node) precheckForward(b []byte) error {
	if !n.caughtUp.Load() {
		return nil
	}
	return n.judgeCaughtUp(func() error { return n.fsm.CheckBeforeLog(b, time.Now()) })
}

// precheckMember is precheckForward for a membership command (Join,
// Remove), as a gRPC status.
func (n *Node) precheckMember(sc *roamv1.SignedCommand) error {
	entry, err := registry.EncodeSigned(sc)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "member: %v", err)
	}
	if err := n.precheckForward(entry); err != nil {
		return applyStatus(err)
	}
	return nil
}

// errCatchUp: the leader could not bring its replica up to its log.
var errCatchUp = errors.New("leader could not apply its log before judging the command; retry")

// judgeCaughtUp runs a check against the local replica before a command
// reaches the log (or is forwarded to it). If it fails, the verdict may be
// the replica's fault: it may lack an admin key the leader has just
// committed, or — on a new leader restarted from its data dir that has not
// applied its log yet — even the genesis (found by the restart-all fault
// test, where a valid write was refused as "not initialized"). So a
// failure is judged again once the replica has caught up: a leader waits
// for a Raft barrier; a follower waits (at most a second) until it has
// applied what it knows to be committed. Errors: check's, or errCatchUp
// when a leader's barrier fails (nothing was written).
func (n *Node) judgeCaughtUp(check func() error) error {
	err := check()
	if err == nil {
		return nil
	}
	if n.raft.State() == raft.Leader {
		if n.raft.AppliedIndex() >= n.raft.LastIndex() {
			return err
		}
		if berr := n.raft.Barrier(applyTimeout).Error(); berr != nil {
			return fmt.Errorf("%w: %v", errCatchUp, berr)
		}
		return check()
	}
	time.Sleep(freshnessTick) // a heartbeat may bring a newer commit index
	for deadline := time.Now().Add(time.Second); !n.appliedKnownCommits() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return check()
}

func (n *Node) applyLocal(b []byte) (uint64, error, bool) {
	// Only entries whose signatures verify reach the log, so a signature
	// that fails on replay proves the log was edited (VerifyDataDir).
	// Expired and replayed commands stop here too (CheckBeforeLog): a
	// replay of a public signed command must not grow the log.
	err := n.judgeCaughtUp(func() error { return n.fsm.CheckBeforeLog(b, time.Now()) })
	if errors.Is(err, errCatchUp) {
		return 0, err, true
	}
	if err != nil {
		// Not in the log, so not in the audit trail: the node's log keeps it.
		n.log.Warn("refused a registry command before the log", "reason", err.Error())
		return 0, err, false
	}
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
	case codes.PermissionDenied:
		return 0, fmt.Errorf("%w: %w: %s", registry.ErrRefused, registry.ErrUnauthorized, trimPrefix(st.Message(), "command refused: unauthorized: ")), false
	case codes.AlreadyExists:
		return 0, fmt.Errorf("%w: %w: %s", registry.ErrRefused, registry.ErrReplayed, trimPrefix(st.Message(), "command refused: command replayed: ")), false
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

// leaderPeer is a Peering client to the current leader.
func (n *Node) leaderPeer() (roamv1.PeeringServiceClient, error) {
	leaderAddr, leaderID := n.raft.LeaderWithID()
	if leaderID == "" {
		return nil, status.Error(codes.Unavailable, "no leader elected yet; retry")
	}
	addr, err := n.grpcAddrOf(string(leaderID), string(leaderAddr))
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	conn, err := n.pool.Conn(addr)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return roamv1.NewPeeringServiceClient(conn), nil
}

// checkMembership checks a signed membership command against the registry
// (signatures, freshness, authority) before the Raft configuration is
// touched, and returns its log entry and decoded payload.
func (n *Node) checkMembership(sc *roamv1.SignedCommand) ([]byte, proto.Message, error) {
	entry, err := registry.EncodeSigned(sc)
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "member: %v", err)
	}
	var cp *roamv1.CommandPayload
	err = n.judgeCaughtUp(func() (err error) { cp, err = n.fsm.Check(entry, time.Now()); return err })
	if errors.Is(err, errCatchUp) {
		return nil, nil, status.Error(codes.Unavailable, err.Error())
	}
	if err != nil {
		n.log.Warn("refused a membership change before the log", "reason", err.Error())
		return nil, nil, applyStatus(err)
	}
	_, msg, err := registry.DecodePayload(cp.GetCommand())
	if err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "member: %v", err)
	}
	return entry, msg, nil
}

// join adds a server to the Raft configuration on the leader, or forwards.
// The request carries an UpsertMember command signed by a national admin:
// the leader checks it against the registry first, so an unauthorised join
// never touches the Raft configuration, then applies it.
func (n *Node) join(ctx context.Context, req *roamv1.JoinRequest) (uint64, error) {
	if n.raft.State() != raft.Leader {
		if err := n.precheckMember(req.GetMember()); err != nil {
			return 0, err
		}
		peer, err := n.leaderPeer()
		if err != nil {
			return 0, err
		}
		resp, err := peer.Join(ctx, req)
		return resp.GetIndex(), err
	}
	entry, msg, err := n.checkMembership(req.GetMember())
	if err != nil {
		return 0, err
	}
	um, ok := msg.(*roamv1.UpsertMember)
	if !ok || um.GetMember() == nil {
		return 0, status.Error(codes.InvalidArgument, "member: must be a signed UpsertMember command")
	}
	m := um.GetMember()
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return 0, status.Error(codes.Unavailable, err.Error())
	}
	id, addr := raft.ServerID(m.GetNodeId()), raft.ServerAddress(m.GetRaftAddress())
	present := false
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == id && s.Address == addr && (s.Suffrage == raft.Voter) == m.GetVoter():
			present = true // already a member, same role: just (re)record it
		case s.ID == id && s.Address != addr:
			return 0, status.Errorf(codes.FailedPrecondition, "node %s is already a member at %s; remove it before it joins from %s", id, s.Address, addr)
		case s.ID != id && s.Address == addr:
			return 0, status.Errorf(codes.FailedPrecondition, "raft_address %s is already used by member %s", addr, s.ID)
		}
	}
	// Record the member first: Raft peers must be registry members before
	// the leader will connect to them (raftPeerAllowed).
	idx, err, _ := n.applyLocal(entry)
	if err != nil {
		return 0, applyStatus(err)
	}
	if !present {
		var f raft.IndexFuture
		switch {
		case m.GetVoter():
			f = n.raft.AddVoter(id, addr, 0, applyTimeout) // join or promote
		case n.isVoter(cf.Configuration(), id):
			f = n.raft.DemoteVoter(id, 0, applyTimeout)
		default:
			f = n.raft.AddNonvoter(id, addr, 0, applyTimeout)
		}
		if err := f.Error(); err != nil {
			if errors.Is(err, raft.ErrLeadershipLost) {
				return 0, status.Error(codes.Unknown, ErrOutcomeUnknown.Error())
			}
			return 0, status.Errorf(codes.Unavailable, "add %s: %v", id, err)
		}
		n.log.Info("member joined", "member", m.GetNodeId(), "voter", m.GetVoter(), "raft_address", m.GetRaftAddress())
	}
	return idx, nil
}

func (n *Node) isVoter(c raft.Configuration, id raft.ServerID) bool {
	for _, s := range c.Servers {
		if s.ID == id {
			return s.Suffrage == raft.Voter
		}
	}
	return false
}

// remove takes a node out of the Raft configuration on the leader (or
// forwards): the request carries a RemoveMember signed by a national admin,
// checked before the configuration changes, then applied.
func (n *Node) remove(ctx context.Context, req *roamv1.RemoveRequest) (uint64, error) {
	if req.GetNotify() {
		return n.removedNotice(req)
	}
	if n.raft.State() != raft.Leader {
		if err := n.precheckMember(req.GetMember()); err != nil {
			return 0, err
		}
		peer, err := n.leaderPeer()
		if err != nil {
			return 0, err
		}
		resp, err := peer.Remove(ctx, req)
		return resp.GetIndex(), err
	}
	entry, msg, err := n.checkMembership(req.GetMember())
	if err != nil {
		return 0, err
	}
	rm, ok := msg.(*roamv1.RemoveMember)
	if !ok || rm.GetNodeId() == "" {
		return 0, status.Error(codes.InvalidArgument, "member: must be a signed RemoveMember command")
	}
	if rm.GetNodeId() == n.cfg.NodeID {
		return 0, status.Error(codes.FailedPrecondition, "the leader cannot remove itself; transfer leadership first or ask another node after it leads")
	}
	if f := n.raft.RemoveServer(raft.ServerID(rm.GetNodeId()), 0, applyTimeout); f.Error() != nil {
		if errors.Is(f.Error(), raft.ErrLeadershipLost) {
			return 0, status.Error(codes.Unknown, ErrOutcomeUnknown.Error())
		}
		return 0, status.Errorf(codes.Unavailable, "remove %s: %v", rm.GetNodeId(), f.Error())
	}
	n.log.Info("member removed", "member", rm.GetNodeId())
	gone, hadRecord := n.fsm.Member(rm.GetNodeId())
	idx, err, _ := n.applyLocal(entry)
	if err != nil {
		return 0, applyStatus(err)
	}
	// The removed node gets no further log: tell it, best effort.
	if hadRecord {
		if conn, err := n.pool.Conn(gone.GetGrpcAddress()); err == nil {
			nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := roamv1.NewPeeringServiceClient(conn).Remove(nctx, &roamv1.RemoveRequest{Member: req.GetMember(), Notify: true})
			cancel()
			if err != nil {
				n.log.Warn("could not tell the removed node", "member", rm.GetNodeId(), "err", err)
			}
		}
	}
	return idx, nil
}

// removedNotice handles the leader's notice that this node was removed:
// the signed RemoveMember must name this node and carry a national
// admin's authority, then Raft shuts down.
func (n *Node) removedNotice(req *roamv1.RemoveRequest) (uint64, error) {
	entry, err := registry.EncodeSigned(req.GetMember())
	if err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "member: %v", err)
	}
	// The notice is the leader's copy of a command this node never got:
	// it must be fresh and unseen here too.
	// If this node already applied it (the entry raced the configuration
	// change), the removal is committed: its member record is gone.
	cp, err := n.fsm.Check(entry, time.Now())
	if errors.Is(err, registry.ErrReplayed) {
		if _, member := n.fsm.Member(n.cfg.NodeID); !member {
			err = nil
		}
	}
	if err != nil {
		return 0, applyStatus(err)
	}
	_, msg, err := registry.DecodePayload(cp.GetCommand())
	if err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "member: %v", err)
	}
	if rm, ok := msg.(*roamv1.RemoveMember); !ok || rm.GetNodeId() != n.cfg.NodeID {
		return 0, status.Error(codes.InvalidArgument, "member: a removal notice must name this node")
	}
	n.removeOnce.Do(func() {
		n.log.Warn("this node was removed from the cluster by a national admin; shutting Raft down")
		go func() {
			_ = n.raft.Shutdown().Error()
			close(n.removed)
		}()
	})
	return n.fsm.AppliedIndex(), nil
}

// watchRemoval shuts Raft down once this node has been removed from the
// configuration (issue 3 §6), and closes Removed.
func (n *Node) watchRemoval() {
	seen := false
	for {
		select {
		case <-n.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		f := n.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		in := false
		for _, s := range f.Configuration().Servers {
			in = in || s.ID == raft.ServerID(n.cfg.NodeID)
		}
		if in {
			seen = true
			continue
		}
		if seen {
			n.removeOnce.Do(func() {
				n.log.Warn("this node was removed from the cluster; shutting Raft down")
				_ = n.raft.Shutdown().Error()
				close(n.removed)
			})
			return
		}
	}
}

// register brings the node into service: a bootstrapping node applies the
// genesis command once it leads; a joining node presents its join token.
// Ready closes when this replica holds the genesis. Registering the node's
// issuer key is an admin act (roamctl key add), so the node only says what
// to run while its key is missing.
func (n *Node) register() {
	defer close(n.ready)
	if n.genesis != nil && n.cfg.Bootstrap {
		if err := n.applyGenesis(); err != nil {
			n.readyErr = err
			return
		}
	}
	if n.joinToken != nil && !n.restarted {
		if err := n.joinCluster(); err != nil {
			n.readyErr = err
			return
		}
	}
	for !n.fsm.Initialized() {
		select {
		case <-n.stop:
			n.readyErr = errors.New("node stopped before the registry reached it")
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	if n.genesis != nil && n.restarted {
		n.log.Info("the genesis file is not used: this registry already has its genesis")
	}
	// Ready once the replica has caught up with the leader (so decisions
	// right after it are not registry_stale), and the issuer key is checked
	// only then, so a restart does not warn about a key that is registered.
	for deadline := time.Now().Add(5 * time.Second); !n.caughtUp.Load() && time.Now().Before(deadline); {
		select {
		case <-n.stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	if m, ok := n.fsm.Member(n.cfg.NodeID); ok && (m.GetRaftAddress() != n.cfg.RaftAdvertise || m.GetGrpcAddress() != n.advertisedGRPC()) {
		n.log.Error("this node's addresses differ from its registry member record; peers cannot reach it until a national admin records the new ones (roamctl cluster join with the new --raft/--grpc, after cluster remove)",
			"recorded_raft", m.GetRaftAddress(), "recorded_grpc", m.GetGrpcAddress(), "raft", n.cfg.RaftAdvertise, "grpc", n.advertisedGRPC())
	}
	if _, ok := n.fsm.Key(n.issuer.Signer().Kid()); !ok {
		n.log.Warn("this node's issuer key is not in the registry yet; a jurisdiction admin must register it",
			"kid", n.issuer.Signer().Kid(), "public_jwk", filepath.Join(n.cfg.DataDir, "issuer-key.pub.jwk"),
			"command", fmt.Sprintf("roamctl key add --jurisdiction %s --jwk %s --not-before <date> --admin-key <%s admin key>", n.cfg.Jurisdiction, filepath.Join(n.cfg.DataDir, "issuer-key.pub.jwk"), n.cfg.Jurisdiction))
	}
}

// applyGenesis waits for leadership after bootstrap and applies the genesis
// command, unless the registry already has one.
func (n *Node) applyGenesis() error {
	for {
		if n.fsm.Initialized() {
			return nil
		}
		if n.raft.State() == raft.Leader {
			b, err := registry.EncodeSigned(n.genesis)
			if err != nil {
				return err
			}
			_, err, retry := n.applyLocal(b)
			if err != nil && !retry {
				return fmt.Errorf("genesis: %w", err)
			}
			if err == nil {
				n.log.Info("genesis applied: national admin keys installed")
				return nil
			}
		}
		select {
		case <-n.stop:
			return errors.New("node stopped before genesis")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (n *Node) advertisedGRPC() string {
	if _, port, _ := net.SplitHostPort(n.cfg.GRPCAdvertise); port == "0" {
		return n.GRPCAddr()
	}
	return n.cfg.GRPCAdvertise
}

// joinCluster presents the join token (a signed UpsertMember) to the
// configured members until one accepts or the node stops.
func (n *Node) joinCluster() error {
	req := &roamv1.JoinRequest{Member: n.joinToken}
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
			if c := status.Code(err); c == codes.PermissionDenied || c == codes.InvalidArgument || c == codes.FailedPrecondition {
				return fmt.Errorf("join refused via %s: %w", addr, err)
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
