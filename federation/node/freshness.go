package node

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// freshnessTick is how often trackLeaderContact samples Raft.
const freshnessTick = 100 * time.Millisecond

// trackLeaderContact records when this node last heard from the Raft
// leader (or was the leader) and latches caughtUp once the replica has
// applied everything committed since the node started. hashicorp/raft
// restores the latest snapshot at start but applies later log entries only
// after a leader tells it they are committed, so until then the replica
// may be older than what the node decided before it stopped.
func (n *Node) trackLeaderContact() {
	t := time.NewTicker(freshnessTick)
	defer t.Stop()
	for {
		n.sampleLeaderContact()
		n.updateHealth()
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

func (n *Node) sampleLeaderContact() {
	contact := n.raft.LastContact()
	if n.raft.State() == raft.Leader {
		contact = time.Now()
	}
	if !contact.IsZero() && contact.UnixNano() > n.leaderContact.Load() {
		n.leaderContact.Store(contact.UnixNano()) // this goroutine is the only writer
	}
	if n.caughtUp.Load() || n.leaderContact.Load() == 0 {
		return
	}
	if n.raft.State() == raft.Leader {
		// A leader's commit index is the cluster's.
		if n.raft.CommitIndex() > 0 && n.appliedKnownCommits() {
			n.caughtUp.Store(true)
		}
		return
	}
	// A follower's commit index only covers the entries it has received,
	// (one batch at a time while it catches up), so it asks the leader how
	// far the registry is (found by review).
	target := n.catchUpTarget.Load()
	if target == 0 {
		target = n.fetchCatchUpTarget()
	}
	if target > 0 && n.fsm.AppliedIndex() >= target {
		n.caughtUp.Store(true)
	}
}

// fetchCatchUpTarget asks the leader for its applied index (GetCluster,
// at most 500ms), and after a failed ask, not again for freshnessTick; 0
// when it cannot say.
func (n *Node) fetchCatchUpTarget() uint64 {
	if t := n.catchUpTarget.Load(); t > 0 {
		return t
	}
	if last := n.catchUpFailed.Load(); last != 0 && time.Since(time.Unix(0, last)) < freshnessTick {
		return 0
	}
	target := n.askLeaderApplied()
	if target == 0 {
		n.catchUpFailed.Store(time.Now().UnixNano())
		return 0
	}
	n.catchUpTarget.Store(target)
	return target
}

func (n *Node) askLeaderApplied() uint64 {
	leaderAddr, leaderID := n.raft.LeaderWithID()
	if leaderID == "" {
		return 0
	}
	addr, err := n.grpcAddrOf(string(leaderID), string(leaderAddr))
	if err != nil {
		return 0
	}
	conn, err := n.pool.Conn(addr)
	if err != nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	resp, err := roamv1.NewRegistryServiceClient(conn).GetCluster(ctx, &roamv1.GetClusterRequest{})
	if err != nil {
		return 0
	}
	return resp.GetAppliedIndex()
}

// appliedKnownCommits reports whether the FSM has applied every registry
// command this node knows to be committed. raft.AppliedIndex counts
// entries handed to the FSM goroutine, not ones it has applied, and no-op
// and configuration entries never reach the FSM, so it compares the FSM's
// own index with the last command at or below the commit index.
func (n *Node) appliedKnownCommits() bool {
	return n.fsm.AppliedIndex() >= n.lastCommandAtOrBelow(n.raft.CommitIndex())
}

// lastCommandAtOrBelow is the index of the last registry command in the
// log at or below idx; 0 when the entries there were compacted into the
// snapshot the FSM restored at start (so they are applied already).
func (n *Node) lastCommandAtOrBelow(idx uint64) uint64 {
	for i := idx; i > 0; i-- {
		var l raft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}

// freshness is the pipeline's view of the replica (recognition.Pipeline
// Freshness): time since the leader was last heard from, measured on the
// wall clock whatever clock decisions use (it is about this process's
// network, not the evaluated instant), and whether it has caught up.
// It only reads what trackLeaderContact samples: nothing here touches the
// network or the log store, on the verify path.
func (n *Node) freshness() (time.Duration, bool) {
	if !n.caughtUp.Load() {
		return 0, false
	}
	if n.raft.State() == raft.Leader {
		return 0, true
	}
	last := n.leaderContact.Load()
	return time.Since(time.Unix(0, last)), true
}
