package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/roam-federation/roam/federation/recognition"
	"github.com/roam-federation/roam/policies"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// demoResident is the resident the bench issues codes for without
// --resident: 李四 at 330000 in `roamd demo` (cmd/roamd/demo.go), the one
// demo resident who is green and whose daily reports are up to date when
// the journey ends (the others are red, or refused: report overdue).
const demoResident = "330102199203045678"

// streamsPerConn is roamd's cap on concurrent streams per connection
// (federation/node maxStreamsPerConn); the bench opens one connection per
// this many workers so its own calls never queue for a stream.
const streamsPerConn = 64

// maxBenchConcurrency bounds --concurrency (workers).
const maxBenchConcurrency = 4096

// benchOptions are the flags of roamctl bench.
type benchOptions struct {
	issueAddr   string
	residents   []string
	codes       int           // distinct codes to issue
	concurrency int           // workers, each with one call in flight
	duration    time.Duration // how long to send (or count)
	count       int           // total requests (or duration)
	rate        float64       // target requests/s; 0: as fast as the workers go
	workload    string        // unique, repeat or mix
	repeatRatio float64       // mix: share of repeat scans, 0-1
	zipfS       float64       // Zipf exponent of repeat scans, > 1
	hosts       []string      // host jurisdictions, round-robin; none: the node's own
	checkpoint  string
}

func newBenchCmd(g *globals) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench (--duration 15s | --count N) [--rate R] [--workload unique|repeat|mix]",
		Short: "Load-test a node's Verify API with real codes and report throughput and latency percentiles",
		Long: `bench first issues --codes distinct roam codes through the IssuanceService
of --issue-addr (default --addr), round-robin over --resident, then sends
Verify requests for them to --addr from --concurrency workers, and reports
throughput, latency percentiles, decision outcomes and gRPC errors. Issuing
is setup, not measured (each code is a call to the provincial backend; the
demo's does a few hundred a second).

Codes: every code is a fresh token (its own jti) even when several come from
one resident. Without --resident the bench uses 330102199203045678, the
demo's resident at 330000 who is green and up to date with daily reports
once the journey is over (so --issue-addr must be the demo's 330000 node,
by default 127.0.0.1:7410). Only roam codes are sent: the demo's EU DCC
and SMART Health Card travellers are signed inside the demo with keys it
does not export, so there is no format mix to bench.

Workloads: unique sends each code once, in turn; when there are more
requests than codes it starts over, and the result says so (a verified-token
cache would then serve those repeats: give --codes ≥ the requests for scans
that are all first sightings). repeat picks every code from a Zipf
distribution over the issued codes (exponent --zipf-s: a few codes are
scanned again and again, as at a busy gate). mix does a repeat scan with
probability --repeat-ratio, else the next unique code. --host (repeatable)
sets the host jurisdictions, taken round-robin.

Load: with --rate 0 (the default) the loop is closed: each worker sends its
next request when the last one returns, which finds the maximum throughput.
With --rate R requests are scheduled at R per second whatever the node does
(open loop) and every latency is measured from the request's scheduled send
time, so a stall counts against every request it delays (no coordinated
omission); give enough --concurrency that workers are rarely all busy.
Every call has the --timeout deadline. Ctrl-C stops sending, waits for calls
in flight and prints the partial result.

Latency percentiles cover the calls that got a decision, in microseconds
(HdrHistogram, 3 significant figures); failed calls are counted by gRPC code,
not timed. Nodes rate-limit each client (rate_limit.client_rps, default 100
calls/s per client IP): ResourceExhausted errors mean the limiter, not the
node, set the pace. The demo's nodes allow 100000 calls/s.

--json prints one object: addr, issue_addr, workload, repeat_ratio (mix),
zipf_s (repeat, mix), mode ("closed" or "open"), target_rate_rps (open loop;
requests/s), concurrency, hosts, checkpoint, residents (count), codes
(distinct codes issued), requests (calls completed), duration_s (seconds from
the first send to the last answer), throughput_rps (requests/s),
latency_us {count, mean, p50, p90, p99, p999, max} (microseconds),
send_lag_us (open loop, same fields: how late each request left against its
schedule; part of its latency, large when workers were all busy or this
machine was slow), outcomes {PASS: n, …}, errors {ResourceExhausted: n, …},
codes_repeated (unique workload sent some code twice), interrupted (Ctrl-C)
and notes.

It exits 1 when nothing could be issued, the node is unreachable or refuses
the request, or no call got a decision.`,
		Example: `  # Against the demo: Henan (7411) verifies codes Zhejiang (7410) issues.
  roamctl --addr 127.0.0.1:7411 bench --issue-addr 127.0.0.1:7410 --duration 15s
  roamctl --addr 127.0.0.1:7411 bench --issue-addr 127.0.0.1:7410 --duration 15s --rate 500 --concurrency 32`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, g, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.issueAddr, "issue-addr", "", "gRPC address of the node that issues the codes (default: --addr)")
	f.StringArrayVar(&o.residents, "resident", nil, "resident ID number at the issuing node's backend; repeatable, codes are issued round-robin (default: "+demoResident+", the demo's green resident at 330000)")
	f.IntVar(&o.codes, "codes", 1000, "how many distinct codes to issue")
	f.IntVar(&o.concurrency, "concurrency", 8, "workers, each with one call in flight")
	f.DurationVar(&o.duration, "duration", 0, "how long to send, e.g. 15s (give this or --count)")
	f.IntVar(&o.count, "count", 0, "how many requests to send (give this or --duration)")
	f.Float64Var(&o.rate, "rate", 0, "target requests/s, open loop (0: closed loop, as fast as the node answers)")
	f.StringVar(&o.workload, "workload", "unique", "unique, repeat or mix")
	f.Float64Var(&o.repeatRatio, "repeat-ratio", 0.5, "mix: share of requests that are repeat scans, 0-1")
	f.Float64Var(&o.zipfS, "zipf-s", 1.1, "Zipf exponent of repeat scans (> 1; larger: fewer codes take more of the scans)")
	f.StringArrayVar(&o.hosts, "host", nil, "host jurisdiction to verify at; repeatable, round-robin (default: the node's own)")
	f.StringVar(&o.checkpoint, "checkpoint", "metro", "checkpoint kind: metro, residential, intercity, workplace or venue")
	_ = cmd.RegisterFlagCompletionFunc("checkpoint", cobra.FixedCompletions(policies.Checkpoints(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("workload", cobra.FixedCompletions([]string{"unique", "repeat", "mix"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// validate checks the flags before anything is dialled.
func (o *benchOptions) validate() error {
	switch {
	case o.concurrency < 1 || o.concurrency > maxBenchConcurrency:
		return fmt.Errorf("--concurrency %d: want 1-%d workers", o.concurrency, maxBenchConcurrency)
	case o.duration < 0:
		return fmt.Errorf("--duration %s is negative", o.duration)
	case o.count < 0:
		return fmt.Errorf("--count %d is negative", o.count)
	case (o.duration > 0) == (o.count > 0):
		return fmt.Errorf("give one of --duration (e.g. 15s) and --count (e.g. 10000), not %s", map[bool]string{true: "both", false: "neither"}[o.duration > 0])
	case math.IsNaN(o.rate) || math.IsInf(o.rate, 0) || o.rate < 0:
		return fmt.Errorf("--rate %v: want requests/s ≥ 0 (0: closed loop)", o.rate)
	case o.codes < 1:
		return fmt.Errorf("--codes %d: want at least 1", o.codes)
	case !slices.Contains([]string{"unique", "repeat", "mix"}, o.workload):
		return fmt.Errorf("--workload %q: want unique, repeat or mix", o.workload)
	case math.IsNaN(o.repeatRatio) || o.repeatRatio < 0 || o.repeatRatio > 1:
		return fmt.Errorf("--repeat-ratio %v: want 0-1", o.repeatRatio)
	case math.IsNaN(o.zipfS) || math.IsInf(o.zipfS, 0) || o.zipfS <= 1:
		return fmt.Errorf("--zipf-s %v: want a finite exponent > 1", o.zipfS)
	case o.checkpoint == "":
		return fmt.Errorf("--checkpoint is empty")
	}
	for _, h := range o.hosts {
		if strings.TrimSpace(h) == "" {
			return fmt.Errorf("--host is blank")
		}
	}
	for _, r := range o.residents {
		if strings.TrimSpace(r) == "" {
			return fmt.Errorf("--resident is blank")
		}
	}
	return nil
}

func runBench(cmd *cobra.Command, g *globals, o *benchOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.issueAddr == "" {
		o.issueAddr = g.addr
	}
	if err := checkAddr(o.issueAddr); err != nil {
		return errors.New(strings.Replace(err.Error(), "--addr", "--issue-addr", 1))
	}
	// One connection per streamsPerConn workers, all from g.dial.
	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	nconn := (o.concurrency + streamsPerConn - 1) / streamsPerConn
	for range nconn {
		c, err := g.dial()
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	issueConn := conns[0]
	if o.issueAddr != g.addr {
		ig := *g
		ig.addr = o.issueAddr
		c, err := ig.dial()
		if err != nil {
			return err
		}
		conns = append(conns, c)
		issueConn = c
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	// Before issuing anything (seconds for thousands of codes): --addr
	// answers, and takes every --host and --checkpoint. A junk payload is
	// a REJECT there, not an error.
	probeHosts := o.hosts
	if len(probeHosts) == 0 {
		probeHosts = []string{""}
	}
	for _, h := range probeHosts {
		pctx, cancel := context.WithTimeout(ctx, g.timeout)
		_, err := roamv1.NewRecognitionServiceClient(conns[0]).Verify(pctx, &roamv1.VerifyRequest{Payload: []byte("roam:bench-probe"), Host: h, Checkpoint: o.checkpoint})
		cancel()
		if err != nil && status.Code(err) != codes.ResourceExhausted {
			return fmt.Errorf("verify at --addr %s: %s", g.addr, describe(err))
		}
	}
	codeList, residents, notes, err := issueCodes(ctx, roamv1.NewIssuanceServiceClient(issueConn), o, g.timeout, stderr)
	if err != nil {
		return err
	}
	// A first call, not counted, opens the connection and shows at once
	// that --addr answers and accepts the request.
	warm, cancel := context.WithTimeout(ctx, g.timeout)
	_, err = roamv1.NewRecognitionServiceClient(conns[0]).Verify(warm, &roamv1.VerifyRequest{Payload: []byte(codeList[0]), Host: hostAt(o.hosts, 0), Checkpoint: o.checkpoint})
	cancel()
	if err != nil && status.Code(err) != codes.ResourceExhausted {
		return fmt.Errorf("verify at --addr %s: %s", g.addr, describe(err))
	}
	var clients []roamv1.RecognitionServiceClient
	for _, c := range conns[:nconn] {
		clients = append(clients, roamv1.NewRecognitionServiceClient(c))
	}
	res := runLoad(ctx, clients, codeList, o, g.timeout, stderr)
	res.Addr, res.IssueAddr, res.Residents = g.addr, o.issueAddr, residents
	res.Notes = append(notes, res.Notes...)
	res.addNotes()
	out := cmd.OutOrStdout()
	if g.json {
		err = jsonOut(out, res)
	} else {
		err = res.render(out, g.styler(cmd))
	}
	if err != nil {
		return err
	}
	if len(res.Outcomes) == 0 {
		return fmt.Errorf("no call got a decision (%d failed; see errors above)", res.Requests)
	}
	return nil
}

// issueCodes issues o.codes distinct codes round-robin over the residents
// and returns them, how many residents there were, and notes for the result.
func issueCodes(ctx context.Context, client roamv1.IssuanceServiceClient, o *benchOptions, timeout time.Duration, stderr io.Writer) ([]string, int, []string, error) {
	residents := o.residents
	if len(residents) == 0 {
		residents = []string{demoResident}
	}
	var notes []string
	var mu sync.Mutex
	seen := map[string]bool{}
	var codeList []string
	dups := 0
	add := func(code string) {
		mu.Lock()
		defer mu.Unlock()
		if seen[code] {
			dups++
			return
		}
		seen[code] = true
		codeList = append(codeList, code)
	}
	// One code per resident first, in turn: a wrong resident or an
	// unreachable node shows up at once, with its own error.
	for _, r := range residents {
		resp, err := issueOne(ctx, client, r, timeout)
		switch status.Code(err) {
		case codes.OK:
			add(resp.GetCode())
			continue
		case codes.NotFound, codes.InvalidArgument, codes.FailedPrecondition:
			hint := ""
			if len(o.residents) == 0 {
				hint = " (the default: the demo's resident at 330000; give --resident ID_NUMBER of a resident of the --issue-addr node's backend)"
			}
			return nil, 0, nil, fmt.Errorf("nothing could be issued for --resident %s%s: %s", r, hint, describe(err))
		}
		return nil, 0, nil, fmt.Errorf("issue a code at --issue-addr %s: %s", o.issueAddr, describe(err))
	}
	// The rest concurrently; the first error stops them all.
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	next.Store(int64(len(residents)))
	var firstErr error
	var once sync.Once
	stop := startProgress(stderr, "issuing codes", int64(o.codes), func() int64 { mu.Lock(); defer mu.Unlock(); return int64(len(codeList)) })
	var wg sync.WaitGroup
	for range min(o.concurrency, o.codes) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(o.codes); i = next.Add(1) - 1 {
				r := residents[i%int64(len(residents))]
				resp, err := issueOne(ictx, client, r, timeout)
				if err != nil {
					once.Do(func() {
						firstErr = fmt.Errorf("issue a code for %s at --issue-addr %s: %s", r, o.issueAddr, describe(err))
						cancel()
					})
					return
				}
				add(resp.GetCode())
			}
		})
	}
	wg.Wait()
	stop()
	if firstErr != nil {
		return nil, 0, nil, firstErr
	}
	if dups > 0 {
		notes = append(notes, fmt.Sprintf("the issuer returned %d code(s) twice; %d distinct codes are used", dups, len(codeList)))
	}
	if len(codeList) > o.codes {
		codeList = codeList[:o.codes]
	}
	return codeList, len(residents), notes, nil
}

// issueOne asks for one code; a ResourceExhausted answer is retried after
// the delay the node names (issuing is setup, not the measurement), unless
// that delay is longer than timeout.
func issueOne(ctx context.Context, client roamv1.IssuanceServiceClient, resident string, timeout time.Duration) (*roamv1.IssueCodeResponse, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		resp, err := client.IssueCode(cctx, &roamv1.IssueCodeRequest{ResidentId: resident})
		cancel()
		if status.Code(err) != codes.ResourceExhausted {
			return resp, err
		}
		wait := 100 * time.Millisecond
		for _, d := range status.Convert(err).Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				wait = ri.GetRetryDelay().AsDuration()
			}
		}
		if wait > timeout {
			return nil, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// job is one request to send.
type job struct {
	seq int64     // request number from 0: picks the host
	at  time.Time // scheduled send time (open loop); zero: send now
}

// tally is one worker's results; runLoad merges them.
type tally struct {
	hist     *hdrhistogram.Histogram // latency, microseconds
	lag      *hdrhistogram.Histogram // send time - scheduled time, microseconds
	outcomes map[string]int64
	errors   map[string]int64
}

// maxLatencyUS is the largest latency the histogram tracks (an hour, in
// microseconds); anything longer is recorded as an hour.
const maxLatencyUS = int64(time.Hour / time.Microsecond)

func newTally() *tally {
	return &tally{hist: hdrhistogram.New(1, maxLatencyUS, 3), lag: hdrhistogram.New(1, maxLatencyUS, 3), outcomes: map[string]int64{}, errors: map[string]int64{}}
}

// runLoad sends the requests o describes and returns the result.
func runLoad(ctx context.Context, clients []roamv1.RecognitionServiceClient, codeList []string, o *benchOptions, timeout time.Duration, stderr io.Writer) *benchResult {
	jobs := make(chan job)
	start := time.Now()
	feedCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.duration > 0 && o.rate == 0 {
		feedCtx, cancel = context.WithDeadline(ctx, start.Add(o.duration))
		defer cancel()
	}
	go feed(feedCtx, jobs, o, start)

	// Calls in flight when Ctrl-C comes finish (within --timeout) and count.
	rpcCtx := context.WithoutCancel(ctx)
	var unique atomic.Int64 // next unique code
	var done atomic.Int64
	total := int64(o.count)
	if o.duration > 0 {
		total = -1 // unknown
	}
	stop := startProgress(stderr, "verifying", total, done.Load)
	tallies := make([]*tally, o.concurrency)
	var wg sync.WaitGroup
	for w := range o.concurrency {
		t := newTally()
		tallies[w] = t
		client := clients[w%len(clients)]
		rng := rand.New(rand.NewPCG(uint64(w), 0x726f616d))
		zipf := rand.NewZipf(rng, o.zipfS, 1, uint64(len(codeList)-1))
		wg.Go(func() {
			for j := range jobs {
				var code string
				if o.workload == "repeat" || (o.workload == "mix" && rng.Float64() < o.repeatRatio) {
					code = codeList[zipf.Uint64()]
				} else {
					code = codeList[(unique.Add(1)-1)%int64(len(codeList))]
				}
				at, sent := j.at, time.Now()
				if at.IsZero() {
					at = sent
				}
				_ = t.lag.RecordValue(min(sent.Sub(at).Microseconds(), maxLatencyUS))
				cctx, cancel := context.WithTimeout(rpcCtx, timeout)
				resp, err := client.Verify(cctx, &roamv1.VerifyRequest{Payload: []byte(code), Host: hostAt(o.hosts, j.seq), Checkpoint: o.checkpoint})
				cancel()
				if err != nil {
					t.errors[status.Code(err).String()]++
				} else {
					t.outcomes[recognition.OutcomeName(resp.GetDecision().GetOutcome())]++
					_ = t.hist.RecordValue(min(time.Since(at).Microseconds(), maxLatencyUS))
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()

	res := &benchResult{
		Workload: o.workload, Mode: "closed", Concurrency: o.concurrency, Hosts: o.hosts, Checkpoint: o.checkpoint,
		Codes: len(codeList), Requests: done.Load(), DurationS: elapsed.Seconds(),
		Outcomes: map[string]int64{}, Errors: map[string]int64{},
		CodesRepeated: o.workload == "unique" && unique.Load() > int64(len(codeList)),
		Interrupted:   ctx.Err() != nil,
	}
	if o.rate > 0 {
		res.Mode, res.TargetRate = "open", o.rate
	}
	if o.workload != "unique" {
		res.ZipfS = o.zipfS
	}
	if o.workload == "mix" {
		res.RepeatRatio = o.repeatRatio
	}
	if elapsed > 0 {
		res.ThroughputRPS = float64(res.Requests) / elapsed.Seconds()
	}
	all := newTally()
	for _, t := range tallies {
		all.hist.Merge(t.hist)
		all.lag.Merge(t.lag)
		for k, v := range t.outcomes {
			res.Outcomes[k] += v
		}
		for k, v := range t.errors {
			res.Errors[k] += v
		}
	}
	res.LatencyUS = latencyOf(all.hist)
	if o.rate > 0 {
		lag := latencyOf(all.lag)
		res.SendLagUS = &lag
	}
	return res
}

// feed schedules the requests: closed loop, each as soon as a worker takes
// it, until the count is reached or ctx ends (at the duration); open loop,
// request i at start + i/rate, until the count or the duration is reached.
// An open-loop request whose worker was late keeps its scheduled time.
func feed(ctx context.Context, jobs chan<- job, o *benchOptions, start time.Time) {
	defer close(jobs)
	end := start.Add(o.duration)
	for seq := int64(0); o.count == 0 || seq < int64(o.count); seq++ {
		j := job{seq: seq}
		if o.rate > 0 {
			j.at = start.Add(time.Duration(float64(seq) / o.rate * float64(time.Second)))
			if o.duration > 0 && !j.at.Before(end) {
				return
			}
			if d := time.Until(j.at); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
			return
		}
	}
}

func hostAt(hosts []string, seq int64) string {
	if len(hosts) == 0 {
		return ""
	}
	return hosts[seq%int64(len(hosts))]
}

// startProgress shows a live progress line on w while it is a terminal,
// counting n() up to total (-1: unknown, show a spinner); the returned func
// stops and clears it.
func startProgress(w io.Writer, what string, total int64, n func() int64) (stop func()) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("req"),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	bar.StartWithoutRender() // the rate counts from now, not from the first update
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				_ = bar.Set64(n())
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-exited
		_ = bar.Finish()
	}
}

// benchResult is what bench prints; --json prints it as is (the fields are
// documented in the command's help).
type benchResult struct {
	Addr          string           `json:"addr"`
	IssueAddr     string           `json:"issue_addr"`
	Workload      string           `json:"workload"`
	RepeatRatio   float64          `json:"repeat_ratio,omitempty"`
	ZipfS         float64          `json:"zipf_s,omitempty"`
	Mode          string           `json:"mode"`                      // "closed" or "open"
	TargetRate    float64          `json:"target_rate_rps,omitempty"` // requests/s, open loop
	Concurrency   int              `json:"concurrency"`
	Hosts         []string         `json:"hosts"` // empty: the node's own
	Checkpoint    string           `json:"checkpoint"`
	Residents     int              `json:"residents"`
	Codes         int              `json:"codes"`
	Requests      int64            `json:"requests"`       // calls completed, decided or failed
	DurationS     float64          `json:"duration_s"`     // seconds, first send to last answer
	ThroughputRPS float64          `json:"throughput_rps"` // requests/s
	LatencyUS     latencySummary   `json:"latency_us"`
	SendLagUS     *latencySummary  `json:"send_lag_us,omitempty"` // open loop: how late requests left against the schedule
	Outcomes      map[string]int64 `json:"outcomes"`              // by decision outcome
	Errors        map[string]int64 `json:"errors"`                // by gRPC status code
	CodesRepeated bool             `json:"codes_repeated"`
	Interrupted   bool             `json:"interrupted"`
	Notes         []string         `json:"notes"`
}

// latencySummary is the latency of decided calls, in microseconds.
type latencySummary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	Max   int64   `json:"max"`
}

func latencyOf(h *hdrhistogram.Histogram) latencySummary {
	return latencySummary{
		Count: h.TotalCount(), Mean: math.Round(h.Mean()*10) / 10,
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99), P999: h.ValueAtQuantile(99.9), Max: h.Max(),
	}
}

// addNotes explains what the numbers alone do not.
func (r *benchResult) addNotes() {
	if r.Hosts == nil {
		r.Hosts = []string{}
	}
	if r.Notes == nil {
		r.Notes = []string{}
	}
	if r.CodesRepeated {
		r.Notes = append(r.Notes, fmt.Sprintf("unique workload: %d requests over %d codes, so codes were sent more than once (a verified-token cache would serve the repeats); give --codes ≥ the requests for first sightings only", r.Requests, r.Codes))
	}
	if n := r.Errors[codes.ResourceExhausted.String()]; n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d calls were refused with ResourceExhausted: the node's rate_limit (client_rps, client_burst; default 100 calls/s, bursts of 200, per client IP) throttled this bench; raise them or set rate_limit.disabled: true on a test node", n))
	}
	if r.Interrupted {
		r.Notes = append(r.Notes, "interrupted: a partial result")
	}
}

// render prints r as aligned tables, coloured by st.
func (r *benchResult) render(w io.Writer, st styler) error {
	hosts := "the node's own"
	if len(r.Hosts) > 0 {
		hosts = strings.Join(r.Hosts, ", ")
	}
	load := fmt.Sprintf("closed loop, %d workers", r.Concurrency)
	if r.Mode == "open" {
		load = fmt.Sprintf("open loop at %g req/s, %d workers", r.TargetRate, r.Concurrency)
	}
	workload := r.Workload
	switch r.Workload {
	case "repeat":
		workload += fmt.Sprintf(" (zipf s=%g)", r.ZipfS)
	case "mix":
		workload += fmt.Sprintf(" (%g repeat, zipf s=%g)", r.RepeatRatio, r.ZipfS)
	}
	t := st.table(w).colorBy(stateSGR, 0)
	t.row("node", fmt.Sprintf("%s (codes from %s: %d codes of %d residents)", r.Addr, r.IssueAddr, r.Codes, r.Residents))
	t.row("workload", fmt.Sprintf("%s, %s, host %s, checkpoint %s", workload, load, hosts, r.Checkpoint))
	t.row("requests", r.Requests)
	t.row("duration", fmt.Sprintf("%.2f s", r.DurationS))
	t.row("throughput", fmt.Sprintf("%.1f req/s", r.ThroughputRPS))
	l := r.LatencyUS
	for _, p := range []struct {
		name string
		us   int64
	}{{"p50", l.P50}, {"p90", l.P90}, {"p99", l.P99}, {"p99.9", l.P999}, {"max", l.Max}} {
		t.row("latency "+p.name, fmt.Sprintf("%d µs", p.us))
	}
	t.row("latency mean", fmt.Sprintf("%.0f µs over %d decided calls", l.Mean, l.Count))
	if g := r.SendLagUS; g != nil {
		t.row("send lag", fmt.Sprintf("p50 %d µs, p99 %d µs, max %d µs behind schedule", g.P50, g.P99, g.Max))
	}
	for _, sec := range []struct {
		title string
		m     map[string]int64
	}{{"OUTCOME", r.Outcomes}, {"ERROR (gRPC code)", r.Errors}} {
		if len(sec.m) == 0 {
			continue
		}
		t.row()
		t.header(sec.title, "REQUESTS", "SHARE")
		keys := slices.Collect(maps.Keys(sec.m))
		// Most frequent first, then by name.
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Or(cmp.Compare(sec.m[b], sec.m[a]), strings.Compare(a, b))
		})
		for _, k := range keys {
			t.row(k, sec.m[k], fmt.Sprintf("%.1f%%", 100*float64(sec.m[k])/float64(max(r.Requests, 1))))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
	return nil
}
