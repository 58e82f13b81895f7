package recognition

import (
	"context"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/policies"
)

// policySet compiles inline policy files (name -> YAML) into a Set. Each
// file goes through LoadBytes first so a broken fixture fails with the
// file's own error.
func policySet(t *testing.T, files map[string]string) *policies.Set {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, src := range files {
		if _, err := policies.LoadBytes(name, []byte(src)); err != nil {
			t.Fatalf("fixture %s: %v", name, err)
		}
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	set, err := policies.LoadFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestCustomPolicy runs testdata/policies: 440000 demands a live status by
// code age (its own live_status), and sees status.changed.
func TestCustomPolicy(t *testing.T) {
	set, err := policies.LoadFS(os.DirFS("testdata/policies"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		host    string
		code    []codeOpt
		status  func(context.Context, string, string) (*adapters.Claims, error)
		calls   int
		want    string
		reasons []string
		rule    string
		version string
	}{
		{"440000 young code: offline", guangdong, []codeOpt{issued(now.Add(-time.Hour))}, assertion(adapters.Red, 2),
			0, "PASS", []string{rPolicy}, "green_pass", "440000-test.1"},
		{"440000 older code: policy asks", guangdong, []codeOpt{issued(now.Add(-2 * time.Hour))}, assertion(adapters.Green, 1),
			1, "PASS", []string{rConfirmed, rPolicy}, "green_pass", "440000-test.1"},
		{"440000 recovered since issue: policy sees status.changed", guangdong,
			[]codeOpt{issued(now.Add(-2 * time.Hour)), color(adapters.Yellow)}, assertion(adapters.Green, 2),
			1, "TEST_REQUIRED", []string{rChanged, rPolicy}, "recovered_needs_test", "440000-test.1"},
		{"440000 older code, issuer unreachable", guangdong, []codeOpt{issued(now.Add(-2 * time.Hour))},
			failing(reason.New(reason.IssuerUnreachable, "timeout")),
			1, "UNDECIDED", []string{rUnreachable, rPolicy}, "issuer_unreachable", "440000-test.1"},
		{"host without a file gets the set's default", shanghai, nil, nil,
			0, "PASS", []string{rPolicy}, "green_pass", "default-test.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.p.Policies = set
			w.agree(tt.host, zhejiangJ, fromHenan, nil)
			w.status.set(tt.status)
			payload, _ := w.code(tt.code...)
			d, _ := w.verify(tt.host, "metro", payload, now)
			check(t, d, tt.want, tt.reasons...)
			checkRule(t, d, tt.rule)
			if n := w.status.numCalls(); n != tt.calls {
				t.Errorf("status queried %d times, want %d", n, tt.calls)
			}
			if d.GetPolicyVersion() != tt.version {
				t.Errorf("policy_version = %q, want %q", d.GetPolicyVersion(), tt.version)
			}
		})
	}

	t.Run("no rule matches: default_outcome, unnamed", func(t *testing.T) {
		w := newWorld(t)
		w.p.Policies = set
		w.agree(shanghai, zhejiangJ, fromHenan, nil)
		payload, _ := w.code(color(adapters.Yellow))
		d, _ := w.verify(shanghai, "metro", payload, now)
		check(t, d, "UNDECIDED", rPolicy)
		if m := d.GetReasons()[0].GetMessage(); m != "no policy rule matched" {
			t.Errorf("message = %q, want the default message", m)
		}
	})
}

// TestPolicyError: a policy that fails at run time cannot decide safely.
func TestPolicyError(t *testing.T) {
	const okDefault = `jurisdiction: default
version: "default-ok.1"
rules:
  - name: green_pass
    when: 'code.color == "green"'
    outcome: PASS
default_outcome: UNDECIDED
`
	tests := []struct {
		name    string
		files   map[string]string
		calls   int
		version string
	}{
		{"rule divides by zero", map[string]string{"default.yaml": `jurisdiction: default
version: "default-broken.1"
rules:
  - name: broken
    when: 'code.ver / (code.ver - code.ver) == 1'
    outcome: PASS
default_outcome: UNDECIDED
`}, 0, "default-broken.1"},
		{"live_status divides by zero", map[string]string{"default.yaml": okDefault, "310000.yaml": `jurisdiction: "310000"
version: "310000-broken.1"
live_status: 'code.ver / (code.ver - 1) == 0'
rules:
  - name: green_pass
    when: 'code.color == "green"'
    outcome: PASS
default_outcome: UNDECIDED
`}, 0, "310000-broken.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.p.Policies = policySet(t, tt.files)
			w.agree(shanghai, zhejiangJ, fromHenan, nil)
			w.status.set(assertion(adapters.Green, 1))
			payload, _ := w.code()
			d, _ := w.verify(shanghai, "intercity", payload, now)
			check(t, d, "UNDECIDED", string(reason.PolicyError))
			if d.GetPolicyVersion() != tt.version {
				t.Errorf("policy_version = %q, want %q", d.GetPolicyVersion(), tt.version)
			}
			if n := w.status.numCalls(); n != tt.calls {
				t.Errorf("status queried %d times, want %d", n, tt.calls)
			}
		})
	}
}
