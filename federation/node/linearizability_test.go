package node

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The linearizability model of the registry writes the fault tests make
// (issue 5 §2): agreement propose/accept/suspend/terminate and issuer key
// add/retire/revoke. It is a second, much smaller statement of the FSM
// rules in federation/registry/state.go for those commands, written from
// DESIGN.md and the command docs, so that the checker compares the
// cluster's behaviour with the rules and not with itself. The history is
// partitioned by agreement id and by kid: operations on different objects
// commute.

type linOp int

const (
	opPropose linOp = iota
	opAccept
	opSuspend
	opTerminate
	opAddKey
	opRetireKey
	opRevokeKey
)

var linOpNames = [...]string{"propose", "accept", "suspend", "terminate", "add-key", "retire-key", "revoke-key"}

func (o linOp) String() string { return linOpNames[o] }

// linResult is what the client saw.
type linResult int

const (
	resOK      linResult = iota // acknowledged: committed and applied
	resRefused                  // committed, refused by the FSM (nothing changed)
	resUnknown                  // timed out, leadership lost, connection cut
)

func (r linResult) String() string { return [...]string{"ok", "refused", "unknown"}[r] }

// linInput is one registry write. Key is the agreement id or the kid.
type linInput struct {
	Op      linOp
	Key     string
	By      string // the acting party (agreements)
	Version uint64 // accept: the version accepted
	ID      string // the signed command's id
}

// linState is one object's state: an agreement or an issuer key. It is
// comparable, so porcupine's == equality works.
type linState struct {
	Exists     bool
	State      string // proposed, active, suspended, terminated / active, retired, revoked
	Version    uint64
	ProposedBy string
	PendingVer uint64
	PendingBy  string
}

// linStep applies one write to s: the new state and whether it is accepted.
func linStep(s linState, in linInput) (linState, bool) {
	switch in.Op {
	case opPropose:
		if s.Exists && (s.State == "active" || s.State == "suspended") {
			v := s.Version + 1
			if s.PendingVer != 0 {
				v = s.PendingVer + 1
			}
			s.PendingVer, s.PendingBy = v, in.By
			return s, true
		}
		v := uint64(1)
		if s.Exists {
			v = s.Version + 1
		}
		return linState{Exists: true, State: "proposed", Version: v, ProposedBy: in.By}, true
	case opAccept:
		if !s.Exists {
			return s, false
		}
		if s.PendingVer != 0 {
			if in.Version != s.PendingVer || in.By == s.PendingBy {
				return s, false
			}
			s.Version, s.ProposedBy, s.State = s.PendingVer, s.PendingBy, "active"
			s.PendingVer, s.PendingBy = 0, ""
			return s, true
		}
		if s.State != "proposed" || in.Version != s.Version || in.By == s.ProposedBy {
			return s, false
		}
		s.State = "active"
		return s, true
	case opSuspend:
		if !s.Exists || s.State != "active" {
			return s, false
		}
		s.State = "suspended"
		return s, true
	case opTerminate:
		if !s.Exists || s.State == "terminated" {
			return s, false
		}
		s.State, s.PendingVer, s.PendingBy = "terminated", 0, ""
		return s, true
	case opAddKey:
		if s.Exists {
			return s, false
		}
		return linState{Exists: true, State: "active"}, true
	case opRetireKey:
		if !s.Exists || s.State != "active" {
			return s, false
		}
		s.State = "retired"
		return s, true
	case opRevokeKey:
		if !s.Exists || s.State == "revoked" {
			return s, false
		}
		s.State = "revoked"
		return s, true
	}
	return s, false
}

// registryModel treats an unknown outcome as nondeterministic: the write
// either took effect (with whatever result the rules give) or did not.
var registryModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(linInput).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() []interface{} { return []interface{}{linState{}} },
	Step: func(st, in, out interface{}) []interface{} {
		s, i, r := st.(linState), in.(linInput), out.(linResult)
		next, accepted := linStep(s, i)
		switch r {
		case resOK:
			if accepted {
				return []interface{}{next}
			}
		case resRefused:
			if !accepted {
				return []interface{}{s}
			}
		case resUnknown:
			return []interface{}{s, next}
		}
		return nil
	},
	DescribeOperation: func(in, out interface{}) string {
		i := in.(linInput)
		return fmt.Sprintf("%s %s by=%s v=%d -> %s", i.Op, i.Key, i.By, i.Version, out.(linResult))
	},
	DescribeState: func(st interface{}) string { return fmt.Sprintf("%+v", st.(linState)) },
}

// history records client-side operations with call and return times.
type history struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.start)) }

// add records an operation. Unknown outcomes get an open-ended return
// time: the write may take effect at any later point.
func (h *history) add(client int, in linInput, call int64, res linResult) {
	ret := h.now()
	if res == resUnknown {
		ret = 1 << 62
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: res, Return: ret})
	h.mu.Unlock()
}

func (h *history) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

func (h *history) counts() (ok, refused, unknown int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, op := range h.ops {
		switch op.Output.(linResult) {
		case resOK:
			ok++
		case resRefused:
			refused++
		default:
			unknown++
		}
	}
	return
}

// checkLinearizable runs porcupine for at most timeout. On a violation (or
// a timeout) it writes porcupine's HTML visualisation into
// $ROAM_TEST_ARTIFACTS (default: the test's temp dir) and fails the test.
func checkLinearizable(t *testing.T, h *history, timeout time.Duration) porcupine.CheckResult {
	t.Helper()
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	model := registryModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if res == porcupine.Ok {
		return res
	}
	dir := os.Getenv("ROAM_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path, err := visualise(model, info, dir, t.Name())
	if err != nil {
		t.Logf("visualisation: %v", err)
	}
	if res == porcupine.Unknown {
		t.Errorf("linearizability check timed out after %s on %d operations; visualisation: %s", timeout, len(ops), path)
	} else {
		t.Errorf("history of %d operations is NOT linearizable; visualisation: %s", len(ops), path)
	}
	return res
}

// visualise writes porcupine's HTML visualisation of info into dir and
// returns its path.
func visualise(model porcupine.Model, info porcupine.LinearizationInfo, dir, test string) (string, error) {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(test)
	path := filepath.Join(dir, "linearizability-"+name+".html")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return path, err
	}
	return path, porcupine.VisualizePath(model, info, path)
}

// TestLinearizabilityModel checks the model and the checker on hand-made
// histories, so that a model that accepts everything cannot pass.
func TestLinearizabilityModel(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	op := func(c int, in linInput, call, ret int64, out linResult) porcupine.Operation {
		if out == resUnknown {
			ret = 1 << 62
		}
		return porcupine.Operation{ClientId: c, Input: in, Call: ms(call), Return: ms(ret), Output: out}
	}
	const a = "410000-330000"
	prop := linInput{Op: opPropose, Key: a, By: "410000"}
	acc := linInput{Op: opAccept, Key: a, By: "330000", Version: 1}
	sus := linInput{Op: opSuspend, Key: a, By: "410000"}
	add := linInput{Op: opAddKey, Key: "kid1"}
	rev := linInput{Op: opRevokeKey, Key: "kid1"}
	cases := []struct {
		name string
		h    []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"sequential propose accept suspend", []porcupine.Operation{op(0, prop, 0, 1, resOK), op(0, acc, 2, 3, resOK), op(0, sus, 4, 5, resOK)}, porcupine.Ok},
		{"accept before any propose is refused", []porcupine.Operation{op(0, acc, 0, 1, resRefused), op(0, prop, 2, 3, resOK)}, porcupine.Ok},
		{"accept acknowledged before the propose was called", []porcupine.Operation{op(0, acc, 0, 1, resOK), op(1, prop, 2, 3, resOK)}, porcupine.Illegal},
		{"lost write: acknowledged add then add accepted again", []porcupine.Operation{op(0, add, 0, 1, resOK), op(1, add, 2, 3, resOK)}, porcupine.Illegal},
		{"concurrent accept and propose may order either way", []porcupine.Operation{op(0, acc, 0, 3, resOK), op(1, prop, 1, 2, resOK)}, porcupine.Ok},
		{"unknown propose may have happened", []porcupine.Operation{op(0, prop, 0, 1, resUnknown), op(1, acc, 5, 6, resOK)}, porcupine.Ok},
		{"unknown propose may not have happened", []porcupine.Operation{op(0, prop, 0, 1, resUnknown), op(1, acc, 5, 6, resRefused)}, porcupine.Ok},
		{"stale read of a revoked key: revoke twice acknowledged", []porcupine.Operation{op(0, add, 0, 1, resOK), op(0, rev, 2, 3, resOK), op(1, rev, 4, 5, resOK)}, porcupine.Illegal},
		{"refused suspend of an active agreement", []porcupine.Operation{op(0, prop, 0, 1, resOK), op(0, acc, 2, 3, resOK), op(1, sus, 4, 5, resRefused)}, porcupine.Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, info := porcupine.CheckOperationsVerbose(registryModel.ToModel(), c.h, 5*time.Second)
			if got != c.want {
				t.Fatalf("check = %s, want %s", got, c.want)
			}
			if got != porcupine.Illegal {
				return
			}
			// A violation leaves a visualisation for the CI artifact.
			path, err := visualise(registryModel.ToModel(), info, t.TempDir(), t.Name())
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || !strings.Contains(string(b), "<html") {
				t.Fatalf("visualisation %s: %v, %d bytes", path, err, len(b))
			}
		})
	}
}
