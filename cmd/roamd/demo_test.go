package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters/provsim"
)

// TestDemoJourney runs `roamd demo --once --json` in-process on free ports
// and checks every DESIGN.md §5 step got its expected outcome and reasons.
func TestDemoJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := runDemo(ctx, &out, demoOptions{Once: true, JSON: true, BasePort: 0, LogLevel: "error"}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	want := []struct {
		step, outcome, reason string // reason "" = any
	}{
		{"zj-green-henan", "PASS", ""},
		{"zj-green-henan-before", "REJECT", "no_agreement"},
		{"zj-yellow-henan", "QUARANTINE_7D", ""},
		{"zj-red-henan", "QUARANTINE_14D", ""},
		{"bj-normal-hebei", "PASS", ""},
		{"bj-normal-zhejiang", "REJECT", "no_agreement"},
		{"zj-turned-red", "QUARANTINE_14D", "status_changed"},
		{"zj-recovered", "PASS", ""},
		{"forged", "REJECT", "unknown_key"},
		{"expired", "REJECT", "expired"},
		{"wrong-issuer-key", "REJECT", "key_issuer_mismatch"},
		{"zj-green-beijing-hub", "PASS", ""},
		{"national-code-hebei", "PASS", ""},
		{"eu-dcc-beijing", "PASS", "policy_rule"},
		{"shc-beijing", "PASS", "policy_rule"},
	}
	sc := bufio.NewScanner(&out)
	i := 0
	for sc.Scan() {
		var r stepResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not one JSON object: %v: %s", i+1, err, sc.Text())
		}
		if i >= len(want) {
			t.Fatalf("extra line: %s", sc.Text())
		}
		w := want[i]
		if r.Step != w.step || r.Outcome != w.outcome {
			t.Errorf("step %d = %s %s, want %s %s", i, r.Step, r.Outcome, w.step, w.outcome)
		}
		if w.reason != "" && (len(r.Reasons) == 0 || r.Reasons[0].Code != w.reason) {
			t.Errorf("step %s reasons = %+v, want first %s", r.Step, r.Reasons, w.reason)
		}
		if want := map[string]string{"zj-green-beijing-hub": "hub/110000-330000", "national-code-hebei": "130000-000000", "zj-green-henan": "410000-330000", "eu-dcc-beijing": "110000-XX-AT", "shc-beijing": "110000-XX-US"}[r.Step]; want != "" && r.AgreementID != want {
			t.Errorf("step %s agreement_id = %q, want %q", r.Step, r.AgreementID, want)
		}
		if r.Host == "" || r.RegistryIndex == 0 || !r.AsExpected {
			t.Errorf("step %s: host %q, registry_index %d, as_expected %v", r.Step, r.Host, r.RegistryIndex, r.AsExpected)
		}
		i++
	}
	if i != len(want) {
		t.Fatalf("got %d steps, want %d", i, len(want))
	}
}

// lockedBuffer is a bytes.Buffer safe for the nodes' concurrent loggers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestDemoLogsNoPersonalData plays the whole journey with every node
// logging at debug level and checks that no log line carries a resident's
// ID number, name or address, or a presented code (issue 7 §1; DESIGN.md
// §4 step 6: a decision is logged with the code's hash only), and that
// every line is JSON.
func TestDemoLogsNoPersonalData(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var logs lockedBuffer
	if err := runDemo(ctx, &out, demoOptions{Once: true, JSON: true, BasePort: 0, LogLevel: "debug", LogOutput: &logs}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	var secrets []string
	for _, r := range []provsim.Enrolment{resGreen, resYellow, resTurns, resRed, resBeijing} {
		secrets = append(secrets, r.IDNumber, r.Name, r.Address)
	}
	secrets = append(secrets, "roam:eyJ")
	lines, decisions := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(logs.b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		lines++
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %d is not JSON: %q", lines, line)
		}
		if rec["msg"] == "decision" {
			decisions++
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line %d carries %q: %s", lines, s, line)
			}
		}
	}
	if decisions == 0 {
		t.Fatalf("no decision lines among %d debug log lines: the test would prove nothing", lines)
	}
	t.Logf("%d log lines, %d decisions, none with personal data", lines, decisions)
}
