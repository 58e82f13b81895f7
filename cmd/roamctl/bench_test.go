package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/node"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata (bench-report*.golden, verify-*.golden)")

// TestBenchFlagErrors: bad bench flags fail before anything is dialled
// (nothing listens on 127.0.0.1:1); an unreachable node fails at once.
func TestBenchFlagErrors(t *testing.T) {
	base := []string{"--addr", "127.0.0.1:1", "--timeout", "2s", "bench"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"neither duration nor count", nil, "give one of --duration (e.g. 15s) and --count (e.g. 10000), not neither"},
		{"both duration and count", []string{"--duration", "1s", "--count", "5"}, "not both"},
		{"negative duration", []string{"--duration", "-1s"}, "--duration -1s is negative"},
		{"negative count", []string{"--count", "-3"}, "--count -3 is negative"},
		{"zero concurrency", []string{"--count", "5", "--concurrency", "0"}, "--concurrency 0: want 1-4096 workers"},
		{"huge concurrency", []string{"--count", "5", "--concurrency", "100000"}, "--concurrency 100000: want 1-4096"},
		{"negative rate", []string{"--count", "5", "--rate", "-10"}, "--rate -10: want requests/s ≥ 0"},
		{"NaN rate", []string{"--count", "5", "--rate", "NaN"}, "--rate NaN"},
		{"infinite rate", []string{"--count", "5", "--rate", "+Inf"}, "--rate +Inf"},
		{"zipf exponent 1", []string{"--count", "5", "--zipf-s", "1"}, "--zipf-s 1: want a finite exponent > 1"},
		{"zipf exponent below 1", []string{"--count", "5", "--workload", "repeat", "--zipf-s", "0.5"}, "--zipf-s 0.5"},
		{"repeat ratio over 1", []string{"--count", "5", "--workload", "mix", "--repeat-ratio", "1.5"}, "--repeat-ratio 1.5: want 0-1"},
		{"unknown workload", []string{"--count", "5", "--workload", "burst"}, `--workload "burst": want unique, repeat or mix`},
		{"no codes", []string{"--count", "5", "--codes", "0"}, "--codes 0: want at least 1"},
		{"blank host", []string{"--count", "5", "--host", " "}, "--host is blank"},
		{"blank resident", []string{"--count", "5", "--resident", ""}, "--resident is blank"},
		{"empty checkpoint", []string{"--count", "5", "--checkpoint", ""}, "--checkpoint is empty"},
		{"issue addr without port", []string{"--count", "5", "--issue-addr", "127.0.0.1"}, "--issue-addr 127.0.0.1: missing port"},
		// Checked before any code is issued.
		{"unreachable node", []string{"--count", "5"}, "verify at --addr 127.0.0.1:1: Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, append(base, tt.args...)...)
			if !strings.Contains(got, tt.want) {
				t.Fatalf("roamctl bench %s\n got: %q\nwant: %q", strings.Join(tt.args, " "), got, tt.want)
			}
		})
	}
}

// TestLatencyOf: percentiles come from the histogram in microseconds.
func TestLatencyOf(t *testing.T) {
	h := hdrhistogram.New(1, maxLatencyUS, 3)
	for v := int64(1); v <= 1000; v++ {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	got := latencyOf(h)
	want := latencySummary{Count: 1000, Mean: 500.5, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if got != want {
		t.Fatalf("latencyOf = %+v, want %+v", got, want)
	}
}

// TestBenchReportGolden: the table and the JSON object for a fixed result
// (go test ./cmd/roamctl -run BenchReport -update rewrites them).
func TestBenchReportGolden(t *testing.T) {
	r := &benchResult{
		Addr: "127.0.0.1:7411", IssueAddr: "127.0.0.1:7410", Workload: "mix", RepeatRatio: 0.3, ZipfS: 1.1,
		Mode: "open", TargetRate: 500, Concurrency: 32, Hosts: []string{"410000", "110000"}, Checkpoint: "metro",
		Residents: 2, Codes: 1000, Requests: 7500, DurationS: 15.0021, ThroughputRPS: 499.93,
		LatencyUS:   latencySummary{Count: 7480, Mean: 1520.4, P50: 1203, P90: 2411, P99: 8191, P999: 20479, Max: 31023},
		SendLagUS:   &latencySummary{Count: 7500, Mean: 40.2, P50: 12, P90: 30, P99: 850, P999: 4000, Max: 9001},
		Outcomes:    map[string]int64{"PASS": 3740, "REJECT": 3740},
		Errors:      map[string]int64{"ResourceExhausted": 18, "DeadlineExceeded": 2},
		Interrupted: true,
	}
	r.addNotes()
	var text, js bytes.Buffer
	if err := r.render(&text, styler{}); err != nil {
		t.Fatal(err)
	}
	if err := jsonOut(&js, r); err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "bench-report.golden", text.Bytes())
	compareGolden(t, "bench-report.json.golden", js.Bytes())
	for _, want := range []string{"rate_limit", "ResourceExhausted", "interrupted"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
}

// benchNode starts one plaintext node for 330000 with rate limit rl and a
// simulated backend where residents are enrolled, and returns its gRPC
// address.
func benchNode(t *testing.T, rl node.RateLimit, residents ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clk := clock.NewSim(time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST))
	dir := t.TempDir()
	sim, err := provsim.New(provsim.Config{Jurisdiction: "330000", Dialect: provsim.DialectFor("330000"), DBPath: filepath.Join(dir, "provsim.db"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim.Handler())
	kr, err := admin.NewKeyring(1, 1, "330000", "410000")
	if err != nil {
		t.Fatal(err)
	}
	genesis, err := kr.Genesis()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &node.Config{Jurisdiction: "330000", DataDir: filepath.Join(dir, "node"), RaftListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0", Bootstrap: true,
		Backend: node.Backend{URL: ts.URL}, HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		RateLimit: rl}
	n, err := node.Start(ctx, cfg, node.Options{Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RaftLogLevel: "off", Genesis: genesis})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Close()
		ts.Close()
		sim.Close()
	})
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	apply := func(sc *roamv1.SignedCommand, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Apply(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	for _, j := range []string{"330000", "410000"} {
		cmds, err := kr.Onboard(j, j, node.SystemFor(j))
		if err != nil {
			t.Fatal(err)
		}
		for _, sc := range cmds {
			apply(sc, nil)
		}
	}
	pub, err := n.IssuerPublicJWK()
	if err != nil {
		t.Fatal(err)
	}
	s := n.Issuer().Signer()
	apply(kr.Sign(&roamv1.AddKey{Key: &roamv1.IssuerKey{Kid: s.Kid(), Jurisdiction: "330000", Alg: s.Alg(), Jwk: pub,
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: clk.Now().Add(-time.Hour).Unix()}}, kr.Admin("330000")))
	simAdmin, err := provsim.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer simAdmin.CloseIdleConnections()
	for i, id := range residents {
		if _, err := simAdmin.Enrol(ctx, provsim.Enrolment{IDNumber: id, Name: "测试" + string(rune('甲'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	return n.GRPCAddr()
}

// TestBenchEndToEnd issues real codes at a real node and verifies them
// there: green codes PASS at the issuer's own node and REJECT at a host
// with no agreement, hosts taken in turn; the codes of one resident are
// distinct tokens.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	const green1, green2 = "330106198801011234", "330104198507079012"
	// Rate limiting off, as the demo's nodes allow loopback benchmarks.
	addr := benchNode(t, node.RateLimit{Disabled: true}, green1, green2)
	bench := func(args ...string) benchResult {
		t.Helper()
		out, errText := runOut(t, append([]string{"--addr", addr, "--json", "bench", "--resident", green1, "--resident", green2}, args...)...)
		if errText != "" {
			t.Fatalf("bench %s: %s\n%s", strings.Join(args, " "), errText, out)
		}
		var r benchResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("not one JSON object: %v\n%s", err, out)
		}
		return r
	}

	r := bench("--codes", "50", "--count", "200", "--concurrency", "4", "--host", "330000", "--host", "410000")
	if r.Codes != 50 || r.Residents != 2 {
		t.Fatalf("codes %d of %d residents, want 50 distinct codes of 2 (notes %q)", r.Codes, r.Residents, r.Notes)
	}
	if r.Requests != 200 || r.Outcomes["PASS"] != 100 || r.Outcomes["REJECT"] != 100 || len(r.Outcomes) != 2 || len(r.Errors) != 0 {
		t.Fatalf("requests %d, outcomes %v, errors %v; want 200: PASS 100 (330000, own codes), REJECT 100 (410000, no agreement)", r.Requests, r.Outcomes, r.Errors)
	}
	if r.LatencyUS.Count != 200 || r.LatencyUS.P50 <= 0 || r.LatencyUS.Max < r.LatencyUS.P999 || !r.CodesRepeated || r.Mode != "closed" {
		t.Fatalf("latency %+v, codes_repeated %v, mode %s", r.LatencyUS, r.CodesRepeated, r.Mode)
	}

	// Repeat scans, paced (open loop): every one a PASS at the node's own jurisdiction.
	r = bench("--codes", "10", "--count", "100", "--workload", "mix", "--repeat-ratio", "0.8", "--rate", "2000", "--concurrency", "8")
	if r.Requests != 100 || r.Outcomes["PASS"] != 100 || len(r.Errors) != 0 || r.Mode != "open" || r.TargetRate != 2000 || r.SendLagUS == nil || r.SendLagUS.Count != 100 {
		t.Fatalf("mix: requests %d, outcomes %v, errors %v, mode %s %v", r.Requests, r.Outcomes, r.Errors, r.Mode, r.TargetRate)
	}

	// Ctrl-C (here: the context ends) stops sending; calls in flight
	// finish and count, and the partial result is printed.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"--addr", addr, "--json", "bench", "--resident", green1, "--codes", "5", "--duration", "30s"})
	start := time.Now()
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("interrupted bench: %v", err)
	}
	r = benchResult{}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("interrupted bench: not one JSON object: %v\n%s", err, out.String())
	}
	if took := time.Since(start); took > 10*time.Second || !r.Interrupted || r.Requests == 0 || len(r.Errors) != 0 {
		t.Fatalf("interrupted bench took %s: interrupted %v, requests %d, errors %v", took, r.Interrupted, r.Requests, r.Errors)
	}

	// A resident the backend does not know is an error naming it.
	if _, errText := runOut(t, "--addr", addr, "bench", "--resident", "330100200001010000", "--count", "5"); !strings.Contains(errText, "nothing could be issued for --resident 330100200001010000: NotFound") {
		t.Fatalf("unknown resident: %q", errText)
	}
}

// TestBenchRateLimited: against a node whose limiter runs dry mid-run,
// refused scans are counted as ResourceExhausted (not timed, not fatal)
// and the report carries a hint naming rate_limit.
func TestBenchRateLimited(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	const green = "330106198801011234"
	// One bucket for issuing and scanning: a burst of 100 at 1 call/s
	// lets the 30 issues and the warm-up through and then about 69 of the
	// 200 scans, whatever the machine's speed.
	addr := benchNode(t, node.RateLimit{ClientRPS: 1, ClientBurst: 100}, green)
	out, errText := runOut(t, "--addr", addr, "--json", "bench", "--resident", green, "--codes", "30", "--count", "200")
	if errText != "" {
		t.Fatalf("bench: %s\n%s", errText, out)
	}
	var r benchResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	refused := r.Errors["ResourceExhausted"]
	if r.Codes != 30 || refused == 0 || r.Outcomes["PASS"]+refused != 200 || r.LatencyUS.Count != r.Outcomes["PASS"] {
		t.Fatalf("codes %d, outcomes %v, errors %v, latency count %d", r.Codes, r.Outcomes, r.Errors, r.LatencyUS.Count)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "rate_limit") {
		t.Fatalf("notes %q lack the rate_limit hint", r.Notes)
	}
}
