package node

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Issue 6 §4: the registry write path on a loopback cluster, measured.
//
//	go test ./federation/node -run TestRegistryLatencyTCP -v -count=1
//	ROAM_PERF_WRITES=1000 ROAM_PERF_LATENCY_OUT=latency.json go test ./federation/node -run TestRegistryLatencyTCP -v -count=1
//
// The cluster is the demo's shape: five real nodes (Raft over TCP loopback
// with mutual TLS, gRPC, HTTP to simulated backends), three voters and two
// non-voter replicas. The writes are what an issuer does most: revoke a
// code id (RevokeCode, signed by 330000's admin). They are sequential and
// isolated: each starts once every replica has applied the one before, so
// every figure is one write's, not a pipeline's.
//
//   - commit: from sending Propose until it returns success. The node
//     returns once the entry is in the leader's log (fsynced), on a
//     majority of voters (fsynced there too) and applied to the leader's
//     FSM (raft.Apply's future, apply.go applyLocal); through a follower
//     the follower first checks the signatures against its replica and
//     forwards to the leader (PeeringService.Forward), then waits until
//     its own replica has applied the entry (read-your-writes), so a
//     follower's commit includes one commit notice from the leader.
//   - propagation: from sending Propose until the last of all five replicas
//     (voters and non-voters) has applied the entry. Each replica's apply is
//     timed by a goroutine woken by its FSM's change feed (FSM.Changes, the
//     notification Watch uses), not by polling.
//   - revocation visible: every tenth write revokes the code id of a real
//     code (issued by 330000's node, PASS everywhere just before); each node
//     is asked over gRPC Verify every latencyVerifyPoll until it answers
//     REJECT code_revoked, timed from sending Propose. A last write revokes
//     330000's issuer key: REJECT key_revoked everywhere.
//
// It asserts correctness only (every write committed and applied by every
// replica, every node rejects the revoked code and key within 10 s, equal
// registries at the end): the machine is shared, so timing targets (commit
// p99 < 50 ms, propagation p99 < 200 ms) are read from the table, never
// asserted. ROAM_PERF_LATENCY_OUT=file.json writes the figures as JSON.

const (
	latencyDefaultWrites = 50
	// latencyVerifyPoll is the pause between one node's Verify calls while
	// waiting for a revocation to show: the resolution of "revocation
	// visible" is this plus one Verify round trip.
	latencyVerifyPoll    = 2 * time.Millisecond
	latencyVisibleMax    = 10 * time.Second
	latencyRevokeEvery   = 10 // every 10th write revokes a real code
	latencyFollowerEvery = 5  // every 5th write goes through a follower
)

// latencyApplies records when one replica applied each log index, as seen
// by a goroutine woken by the FSM's change feed.
type latencyApplies struct {
	mu   sync.Mutex
	at   map[uint64]time.Time
	wake chan struct{} // closed and replaced on every record
}

func watchApplies(ctx context.Context, wg *sync.WaitGroup, f *registry.FSM) *latencyApplies {
	a := &latencyApplies{at: map[uint64]time.Time{}, wake: make(chan struct{})}
	from := f.AppliedIndex()
	wg.Go(func() {
		for {
			chs, err := f.Changes(ctx, from)
			now := time.Now()
			if ctx.Err() != nil {
				return
			}
			if err != nil { // compacted: cannot happen within 4096 changes; missing indexes then time out
				from = f.AppliedIndex()
				continue
			}
			a.mu.Lock()
			for _, ch := range chs {
				a.at[ch.GetIndex()] = now
			}
			close(a.wake)
			a.wake = make(chan struct{})
			a.mu.Unlock()
			from = chs[len(chs)-1].GetIndex()
		}
	})
	return a
}

// when waits until idx was applied, or the deadline.
func (a *latencyApplies) when(idx uint64, deadline time.Time) (time.Time, bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		a.mu.Lock()
		at, ok := a.at[idx]
		wake := a.wake
		a.mu.Unlock()
		if ok {
			return at, true
		}
		select {
		case <-wake:
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

// latencyVerify verifies code at fn over gRPC, at host 410000 (which
// recognises 330000 from every node's replica, without live status).
func latencyVerify(ctx context.Context, fn *faultNode, code string) (*roamv1.Decision, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := roamv1.NewRecognitionServiceClient(fn.cc()).Verify(ctx, &roamv1.VerifyRequest{Payload: []byte(code), Host: "410000", Checkpoint: "metro"})
	return resp.GetDecision(), err
}

func rejectedFor(d *roamv1.Decision, want reason.Code) bool {
	if d.GetOutcome() != roamv1.Outcome_OUTCOME_REJECT {
		return false
	}
	for _, r := range d.GetReasons() {
		if r.GetCode() == string(want) {
			return true
		}
	}
	return false
}

// pollRevoked asks every node to verify code until it is rejected for
// want, and returns a wait function giving each node's time since sent
// (the slowest node's is the revocation's "visible" time). The pollers
// stop when ctx ends.
func pollRevoked(ctx context.Context, nodes []*faultNode, code string, want reason.Code, sent time.Time) func() ([]time.Duration, error) {
	out := make([]time.Duration, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, fn := range nodes {
		wg.Go(func() {
			deadline := sent.Add(latencyVisibleMax)
			var last string
			for {
				d, err := latencyVerify(ctx, fn, code)
				if err == nil && rejectedFor(d, want) {
					out[i] = time.Since(sent)
					return
				}
				if err != nil {
					last = err.Error()
				} else {
					last = fmt.Sprintf("%s %v", d.GetOutcome(), d.GetReasons())
				}
				if time.Now().After(deadline) {
					errs[i] = fmt.Errorf("%s still answers %s %s after the revocation was sent, want REJECT %s", fn.id, last, latencyVisibleMax, want)
					return
				}
				select {
				case <-ctx.Done():
					errs[i] = fmt.Errorf("%s: stopped waiting for %s: %v", fn.id, want, ctx.Err())
					return
				case <-time.After(latencyVerifyPoll):
				}
			}
		})
	}
	return func() ([]time.Duration, error) {
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

// latencyRow is one line of the table (milliseconds).
type latencyRow struct {
	Name string  `json:"name"`
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
}

// latencyReport is what ROAM_PERF_LATENCY_OUT receives.
type latencyReport struct {
	Test               string       `json:"test"`
	Date               string       `json:"date"`
	Writes             int          `json:"writes"`
	Voters             []string     `json:"voters"`
	NonVoters          []string     `json:"non_voters"`
	Leader             string       `json:"leader"`
	CommitTimeoutMs    float64      `json:"raft_commit_timeout_ms"`
	HeartbeatTimeoutMs float64      `json:"raft_heartbeat_timeout_ms"`
	BatchApplyCh       bool         `json:"raft_batch_apply_ch"`
	VerifyPollMs       float64      `json:"verify_poll_ms"`
	GOMAXPROCS         int          `json:"gomaxprocs"`
	GoVersion          string       `json:"go_version"`
	Rows               []latencyRow `json:"rows"`
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func latencyRowOf(name string, ds []time.Duration) latencyRow {
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return latencyRow{Name: name, N: len(s), P50: ms(percentile(s, .50)), P90: ms(percentile(s, .90)), P99: ms(percentile(s, .99)), Max: ms(percentile(s, 1))}
}

// fsyncProbe times n fsyncs of a 4 KiB write in dir, the disk cost every
// Raft log append pays (raft-boltdb syncs each batch).
func fsyncProbe(t *testing.T, dir string, n int) []time.Duration {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var out []time.Duration
	for range n {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(t0))
	}
	return out
}

// storeLogsProbe times n single-entry appends to a raft-boltdb log store in
// dir: one Raft log append as the leader and each follower pay it (a bbolt
// transaction: page writes and fsyncs).
func storeLogsProbe(t *testing.T, dir string, n int) []time.Duration {
	t.Helper()
	st, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "probe-raft.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data := make([]byte, 1024)
	var out []time.Duration
	for i := range n {
		l := &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
		t0 := time.Now()
		if err := st.StoreLogs([]*raft.Log{l}); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(t0))
	}
	return out
}

func TestRegistryLatencyTCP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	writes := latencyDefaultWrites
	if s := os.Getenv("ROAM_PERF_WRITES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ROAM_PERF_WRITES=%q: want a positive integer", s)
		}
		writes = n
	}
	// Record the Raft settings the nodes run with (roamd's own plus the
	// test cluster's timeouts). ROAM_PERF_COMMIT_TIMEOUT overrides
	// CommitTimeout, only to study its effect on propagation.
	var cfgMu sync.Mutex
	var rcSeen raft.Config
	var commitTimeout time.Duration
	if s := os.Getenv("ROAM_PERF_COMMIT_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("ROAM_PERF_COMMIT_TIMEOUT=%q: want a positive duration", s)
		}
		commitTimeout = d
	}
	c := newFaultCluster(t, 5, 0, func(rc *raft.Config) {
		if commitTimeout > 0 {
			rc.CommitTimeout = commitTimeout
		}
		cfgMu.Lock()
		rcSeen = *rc
		cfgMu.Unlock()
	})
	ctx := c.ctx

	// 3 voters + 2 non-voters, as in the demo. newFaultCluster joins every
	// node as a voter, so a national admin's signed UpsertMember with
	// voter=false demotes two followers (what `roamctl cluster demote`
	// signs): the same Raft configuration and member records as joining
	// them as non-voters.
	l := c.leader()
	fs := c.followers(l)
	nonVoters := fs[len(fs)-2:]
	var voters []*faultNode
	for _, fn := range c.nodes {
		if !slices.Contains(nonVoters, fn) {
			voters = append(voters, fn)
		}
	}
	for _, fn := range nonVoters {
		no := false
		fn.cfg.Voter = &no
		sc := c.sign(&roamv1.UpsertMember{Member: fn.memberOf()}, c.kr.Nat())
		c.retrySetup("demote "+fn.id, func() error {
			_, err := roamv1.NewPeeringServiceClient(c.leader().cc()).Join(ctx, &roamv1.JoinRequest{Member: sc})
			return err
		})
	}
	cf := c.leader().node.Raft().GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	nv := 0
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			nv++
		}
	}
	if len(cf.Configuration().Servers) != 5 || nv != len(nonVoters) {
		t.Fatalf("Raft configuration %+v, want 3 voters and 2 non-voters", cf.Configuration().Servers)
	}
	for _, fn := range nonVoters {
		if m, ok := c.leader().node.FSM().Member(fn.id); !ok || m.GetVoter() {
			t.Fatalf("member record of %s: %v, want a non-voter", fn.id, m)
		}
	}
	c.converge()

	// Real codes to revoke: issued by 330000's node for its enrolled
	// resident (newFaultCluster enrolled it), one per revocation sample.
	zj := c.nodes[0]
	type realCode struct{ code, id string }
	var codes []realCode
	for i := range writes {
		if i%latencyRevokeEvery == latencyRevokeEvery-1 {
			issued, err := issueCode(t, ctx, &zj.testNode, "330106198801011234")
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, realCode{issued.GetCode(), issued.GetCodeId()})
		}
	}

	// Apply watchers, one per replica.
	wctx, stopWatch := context.WithCancel(ctx)
	var wwg sync.WaitGroup
	defer func() { stopWatch(); wwg.Wait() }()
	applies := make([]*latencyApplies, len(c.nodes))
	for i, fn := range c.nodes {
		applies[i] = watchApplies(wctx, &wwg, fn.node.FSM())
	}
	isVoter := func(i int) bool { return !slices.Contains(nonVoters, c.nodes[i]) }

	admin := c.kr.Admin("330000")
	revokeCode := func(id string) *roamv1.SignedCommand {
		return c.sign(&roamv1.RevokeCode{Jurisdiction: "330000", CodeId: id, At: c.clk.Now().Unix()}, admin)
	}
	// Warm-up, not measured: one forwarded write through each follower
	// opens its peering connection to the leader.
	warmUp := c.followers(c.leader())
	for i, fn := range warmUp {
		c.mustPropose(fn, revokeCode(fmt.Sprintf("latency-warmup-%d", i)))
	}
	c.converge()

	// sample is one write, timed from sending Propose: commit (Propose
	// returned), prop (the last replica applied), voters and nonVoter (the
	// last of each applied), spread (last minus first replica apply).
	type sample struct {
		route                          string // leader, voter, nonvoter, revoke, key
		commit, prop, voters, nonVoter time.Duration
		spread                         time.Duration
	}
	var samples []sample
	var visible []time.Duration // per revocation: the slowest node
	revoked := []string{}       // code ids every replica must hold revoked
	// propose sends sc to fn, then waits until every replica applied it.
	propose := func(fn *faultNode, sc *roamv1.SignedCommand, route string, sent time.Time) sample {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := roamv1.NewRegistryServiceClient(fn.cc()).Propose(pctx, &roamv1.ProposeRequest{Signed: sc})
		commit := time.Since(sent)
		cancel()
		if err != nil {
			t.Fatalf("write via %s (%s): %v", fn.id, route, err)
		}
		idx := resp.GetIndex()
		// Read-your-writes: the node that acknowledged the write has
		// applied it (apply.go awaitApplied).
		if got := fn.node.FSM().AppliedIndex(); got < idx {
			t.Fatalf("write via %s (%s) acknowledged at index %d, but %s has applied only %d", fn.id, route, idx, fn.id, got)
		}
		s := sample{route: route, commit: commit}
		first := time.Time{}
		deadline := time.Now().Add(20 * time.Second)
		for i, a := range applies {
			at, ok := a.when(idx, deadline)
			if !ok {
				t.Fatalf("%s did not apply index %d within 20s (at %d)", c.nodes[i].id, idx, c.nodes[i].node.FSM().AppliedIndex())
			}
			d := at.Sub(sent)
			s.prop = max(s.prop, d)
			if isVoter(i) {
				s.voters = max(s.voters, d)
			} else {
				s.nonVoter = max(s.nonVoter, d)
			}
			if first.IsZero() || at.Before(first) {
				first = at
			}
		}
		s.spread = sent.Add(s.prop).Sub(first)
		return s
	}

	// revoke writes sc to the leader while every node verifies code, and
	// returns the write's sample and when the slowest node rejected code
	// for want.
	revoke := func(sc *roamv1.SignedCommand, code string, want reason.Code, route string) (sample, time.Duration) {
		t.Helper()
		pctx, stopPoll := context.WithCancel(ctx)
		sent := time.Now()
		wait := pollRevoked(pctx, c.nodes, code, want, sent)
		defer func() { stopPoll(); _, _ = wait() }() // no poller outlives a failed write
		s := propose(c.leader(), sc, route, sent)
		per, err := wait()
		if err != nil {
			t.Fatal(err)
		}
		return s, slices.Max(per)
	}

	nextCode, follower := 0, 0
	for i := range writes {
		switch {
		case i%latencyRevokeEvery == latencyRevokeEvery-1:
			rc := codes[nextCode]
			nextCode++
			for _, fn := range c.nodes {
				if d, err := latencyVerify(ctx, fn, rc.code); err != nil || d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS {
					t.Fatalf("%s before the revocation: %v %v, want PASS", fn.id, d, err)
				}
			}
			s, vis := revoke(revokeCode(rc.id), rc.code, reason.CodeRevoked, "revoke")
			samples = append(samples, s)
			visible = append(visible, vis)
			revoked = append(revoked, rc.id)
		case i%latencyFollowerEvery == 2:
			// Alternately a voter follower and a non-voter.
			route, fn := "voter", (*faultNode)(nil)
			if follower%2 == 1 {
				route, fn = "nonvoter", nonVoters[(follower/2)%len(nonVoters)]
			} else {
				l := c.leader()
				for _, v := range voters {
					if v != l {
						fn = v
						break
					}
				}
			}
			follower++
			id := fmt.Sprintf("latency-%05d", i)
			sc := revokeCode(id)
			samples = append(samples, propose(fn, sc, route, time.Now()))
			revoked = append(revoked, id)
		default:
			id := fmt.Sprintf("latency-%05d", i)
			sc := revokeCode(id)
			samples = append(samples, propose(c.leader(), sc, "leader", time.Now()))
			revoked = append(revoked, id)
		}
	}

	// Key revocation: 330000's issuer key; the code no write revoked is
	// rejected everywhere with key_revoked.
	for _, fn := range c.nodes {
		if d, err := latencyVerify(ctx, fn, c.code); err != nil || d.GetOutcome() != roamv1.Outcome_OUTCOME_PASS {
			t.Fatalf("%s before the key revocation: %v %v, want PASS", fn.id, d, err)
		}
	}
	kid := zj.node.Issuer().Signer().Kid()
	sc := c.sign(&roamv1.SetKeyState{Kid: kid, State: roamv1.KeyState_KEY_STATE_REVOKED, At: c.clk.Now().Unix()}, admin)
	keySample, keyVisible := revoke(sc, c.code, reason.KeyRevoked, "key")

	// Correctness: every replica holds every revocation, and all registries
	// are equal.
	idx := c.converge()
	for _, fn := range c.nodes {
		f := fn.node.FSM()
		for _, id := range revoked {
			if !f.CodeRevoked("330000", id) {
				t.Fatalf("%s: code %s is not revoked", fn.id, id)
			}
		}
		if k, ok := f.Key(kid); !ok || k.State != roamjws.KeyRevoked {
			t.Fatalf("%s: issuer key %s is not revoked", fn.id, kid)
		}
	}
	ref := c.nodes[0].node.FSM().State()
	for _, fn := range c.nodes[1:] {
		if st := fn.node.FSM().State(); !proto.Equal(ref, st) {
			t.Fatalf("registry of %s differs from %s's at index %d", fn.id, c.nodes[0].id, idx)
		}
	}

	// Figures.
	pick := func(f func(sample) (time.Duration, bool)) []time.Duration {
		var out []time.Duration
		for _, s := range samples {
			if d, ok := f(s); ok {
				out = append(out, d)
			}
		}
		return out
	}
	route := func(r string, v func(sample) time.Duration) []time.Duration {
		return pick(func(s sample) (time.Duration, bool) { return v(s), s.route == r })
	}
	all := func(v func(sample) time.Duration) []time.Duration {
		return pick(func(s sample) (time.Duration, bool) { return v(s), true })
	}
	commitOf := func(s sample) time.Duration { return s.commit }
	propOf := func(s sample) time.Duration { return s.prop }
	rows := []latencyRow{
		latencyRowOf("commit: to the leader", route("leader", commitOf)),
		latencyRowOf("commit: via a voter follower", route("voter", commitOf)),
		latencyRowOf("commit: via a non-voter", route("nonvoter", commitOf)),
		latencyRowOf("commit: code revocation, verify polling", route("revoke", commitOf)),
		latencyRowOf("propagation: all writes", all(propOf)),
		latencyRowOf("propagation: writes to the leader", route("leader", propOf)),
		latencyRowOf("applied by all voters", all(func(s sample) time.Duration { return s.voters })),
		latencyRowOf("applied by all non-voters", all(func(s sample) time.Duration { return s.nonVoter })),
		latencyRowOf("spread: last - first replica apply", all(func(s sample) time.Duration { return s.spread })),
		latencyRowOf("revocation visible: code_revoked", visible),
		latencyRowOf("revocation visible: key_revoked", []time.Duration{keyVisible}),
		latencyRowOf("key revocation propagation", []time.Duration{keySample.prop}),
		latencyRowOf("disk: fsync 4 KiB (same fs)", fsyncProbe(t, t.TempDir(), 50)),
		latencyRowOf("disk: raft-boltdb append, 1 entry", storeLogsProbe(t, t.TempDir(), 50)),
	}
	cfgMu.Lock()
	rc := rcSeen
	cfgMu.Unlock()
	ids := func(ns []*faultNode) []string {
		var out []string
		for _, fn := range ns {
			out = append(out, fn.id)
		}
		return out
	}
	rep := latencyReport{
		Test: "TestRegistryLatencyTCP", Date: time.Now().UTC().Format(time.RFC3339), Writes: writes,
		Voters: ids(voters), NonVoters: ids(nonVoters), Leader: c.leader().id,
		CommitTimeoutMs: float64(rc.CommitTimeout.Microseconds()) / 1000, HeartbeatTimeoutMs: float64(rc.HeartbeatTimeout.Microseconds()) / 1000,
		BatchApplyCh: rc.BatchApplyCh, VerifyPollMs: float64(latencyVerifyPoll.Microseconds()) / 1000,
		GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), Rows: rows,
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nregistry writes: %d RevokeCode (+%d warm-up, +1 key revocation), sequential, each after the last one reached every replica\n", writes, len(warmUp))
	fmt.Fprintf(&sb, "cluster: voters %v, non-voters %v, leader %s; TCP loopback, mutual TLS; GOMAXPROCS=%d %s\n", rep.Voters, rep.NonVoters, rep.Leader, rep.GOMAXPROCS, rep.GoVersion)
	fmt.Fprintf(&sb, "raft: CommitTimeout=%s HeartbeatTimeout=%s BatchApplyCh=%v; verify poll %s\n", rc.CommitTimeout, rc.HeartbeatTimeout, rc.BatchApplyCh, latencyVerifyPoll)
	fmt.Fprintf(&sb, "%-42s %5s %9s %9s %9s %9s\n", "series (ms)", "n", "p50", "p90", "p99", "max")
	for _, r := range rows {
		fmt.Fprintf(&sb, "%-42s %5d %9.2f %9.2f %9.2f %9.2f\n", r.Name, r.N, r.P50, r.P90, r.P99, r.Max)
	}
	t.Log(sb.String())
	if out := os.Getenv("ROAM_PERF_LATENCY_OUT"); out != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
