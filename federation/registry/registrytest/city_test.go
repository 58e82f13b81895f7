package registrytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/recognition"
	"github.com/roam-federation/roam/federation/registry"
	"github.com/roam-federation/roam/policies"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestCity checks what City builds, at a size every test run affords: the
// agreement count, every agreement in force, every issuer key registered
// to its jurisdiction, codes that verify, and a snapshot that restores.
func TestCity(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want int // agreements
	}{
		{"all-pairs", Options{Jurisdictions: 10, KeysEach: 2}, 90},
		{"all-pairs, one command per agreement", Options{Jurisdictions: 10, KeysEach: 2, SingleAgreements: true}, 90},
		{"ring", Options{Jurisdictions: 6, IssuersEach: 2, IssuerAlg: roamjws.EdDSA, AdminAlg: roamjws.ES256, Batch: 7}, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := City(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			n, k := c.Opts.Jurisdictions, c.Opts.KeysEach
			if len(c.Pairs) != tc.want {
				t.Fatalf("%d pairs, want %d", len(c.Pairs), tc.want)
			}
			// Batched: one proposal and one acceptance command per
			// jurisdiction (each well under batchItems agreements).
			agreementCommands := 2 * n
			if tc.opts.SingleAgreements {
				agreementCommands = 2 * tc.want
			}
			if want := 1 + 2*n + k*n + agreementCommands; c.Commands != want || c.Index != uint64(want) || c.FSM.AppliedIndex() != uint64(want) {
				t.Fatalf("commands %d, index %d, applied %d; want %d", c.Commands, c.Index, c.FSM.AppliedIndex(), want)
			}
			st := c.FSM.State()
			if len(st.GetAgreements()) != tc.want || len(st.GetKeys()) != n*k || len(st.GetJurisdictions()) != n+1 {
				t.Fatalf("state has %d agreements, %d keys, %d jurisdictions", len(st.GetAgreements()), len(st.GetKeys()), len(st.GetJurisdictions()))
			}
			if len(st.GetAdminKeys()) != n+c.Opts.NationalAdmins {
				t.Fatalf("%d admin keys, want %d", len(st.GetAdminKeys()), n+c.Opts.NationalAdmins)
			}
			at := c.InForce()
			seen := map[[2]string]bool{}
			for _, p := range c.Pairs {
				if p[0] == p[1] || seen[p] {
					t.Fatalf("pair %v repeated or with itself", p)
				}
				seen[p] = true
				a, idx, aerr := c.FSM.AgreementAt(p[0], p[1], at)
				if aerr != nil || a.GetState() != roamv1.AgreementState_AGREEMENT_STATE_ACTIVE || a.GetVersion() != 1 || idx != c.Index {
					t.Fatalf("AgreementAt(%v) = %v, %d, %+v", p, a, idx, aerr)
				}
			}
			if _, _, aerr := c.FSM.AgreementAt(c.IDs[0], c.IDs[0], at); aerr == nil {
				t.Fatal("an agreement of a jurisdiction with itself")
			}
			for _, id := range c.IDs {
				if len(c.Issuers[id]) != k {
					t.Fatalf("%s has %d issuer keys", id, len(c.Issuers[id]))
				}
				for _, is := range c.Issuers[id] {
					key, ok := c.FSM.Key(is.Kid)
					if !ok || key.Jurisdiction != id || key.Alg != c.Opts.IssuerAlg || key.State != roamjws.KeyActive {
						t.Fatalf("key %s of %s: %+v, %v", is.Kid, id, key, ok)
					}
				}
			}
			code, err := c.Code(c.IDs[1], adapters.Green, at.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if cl, err := (&roamjws.Verifier{Keys: c.FSM}).Verify(code, at); err != nil || cl.Issuer != c.IDs[1] {
				t.Fatalf("code of %s: %v, %v", c.IDs[1], cl, err)
			}
			// Further commands: the builder's keys still act.
			if _, err := c.Apply(&roamv1.SuspendAgreement{Id: registry.AgreementID(c.Pairs[0][0], c.Pairs[0][1]), By: c.Pairs[0][0], Reason: "test", At: at.Unix()}, c.Admins[c.Pairs[0][0]]); err != nil {
				t.Fatal(err)
			}
			if _, _, aerr := c.FSM.AgreementAt(c.Pairs[0][0], c.Pairs[0][1], at); aerr == nil {
				t.Fatal("suspended agreement still in force")
			}
			snap := persist(t, c.FSM, nil)
			back := registry.NewFSM()
			if err := back.Restore(readCloser{bytes.NewReader(snap)}); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(back.State(), c.FSM.State()) {
				t.Fatal("restored state differs")
			}
		})
	}
}

// cityFigures is what TestCityScale reports (ROAM_PERF_OUT).
type cityFigures struct {
	Jurisdictions int    `json:"jurisdictions"`
	KeysEach      int    `json:"keys_each"`
	Agreements    int    `json:"agreements"`
	Commands      int    `json:"commands"`
	IssuerAlg     string `json:"issuer_alg"`
	AdminAlg      string `json:"admin_alg"`
	GOMAXPROCS    int    `json:"gomaxprocs"`

	GenerateSeconds       float64 `json:"generate_seconds"`
	GenerateKeygenSeconds float64 `json:"generate_keygen_seconds"`
	GenerateApplySeconds  float64 `json:"generate_apply_seconds"`
	ApplyMicrosPerCommand float64 `json:"apply_us_per_command"`
	GenerateWaitSeconds   float64 `json:"generate_wait_for_signing_seconds"`
	BuilderHeapBytes      uint64  `json:"builder_heap_bytes"` // the generating process, after GC

	SnapshotSeconds float64 `json:"snapshot_seconds"` // FSM.Snapshot
	PersistSeconds  float64 `json:"persist_seconds"`  // Persist to a file sink
	SnapshotBytes   int64   `json:"snapshot_bytes"`

	Restore *childFigures `json:"restore"`

	Lookups []lookupFigures `json:"lookups"`
	Targets map[string]bool `json:"targets"`
}

// childFigures is what the restoring child process reports.
type childFigures struct {
	RestoreSeconds    float64 `json:"restore_seconds"`
	RestoreCPUSeconds float64 `json:"restore_cpu_seconds"` // user + system, all threads
	AppliedIndex      uint64  `json:"applied_index"`
	AuditRecords      int     `json:"audit_records"`
	ChainHead         string  `json:"chain_head"`
	HeapAllocBytes    uint64  `json:"heap_alloc_bytes"` // live heap after GC
	HeapSysBytes      uint64  `json:"heap_sys_bytes"`
	TotalAllocBytes   uint64  `json:"total_alloc_bytes"` // allocated during the process, restore included
	NumGC             uint32  `json:"num_gc"`
	BaseRSSBytes      uint64  `json:"base_rss_bytes"` // before reading the snapshot
	RSSBytes          uint64  `json:"rss_bytes"`      // VmRSS after restore and GC
	RSSAfterFreeBytes uint64  `json:"rss_after_free_os_memory_bytes"`
	PeakRSSBytes      uint64  `json:"peak_rss_bytes"` // VmHWM
	Error             string  `json:"error,omitempty"`
	Agreements        int     `json:"agreements"`
	StateSeconds      float64 `json:"state_seconds"` // FSM.State after restore
}

type lookupFigures struct {
	Name        string  `json:"name"`
	SmallNs     float64 `json:"small_ns_per_op"`
	CityNs      float64 `json:"city_ns_per_op"`
	Ratio       float64 `json:"ratio"` // city / small
	SmallAllocs int64   `json:"small_allocs_per_op"`
	CityAllocs  int64   `json:"city_allocs_per_op"`
	SmallBytes  int64   `json:"small_bytes_per_op"`
	CityBytes   int64   `json:"city_bytes_per_op"`
}

const childPrefix = "ROAM_CITY_CHILD "

// TestCityScale measures a registry at prefecture-city scale (issue 6 §5):
// 400 jurisdictions × 5 keys and every directed agreement (159,600), built
// by City. It reports generation time; snapshot time and size; the restore
// time, Go heap and RSS of a fresh process restoring that snapshot; and
// AgreementAt, Key and verify cost against a 6-jurisdiction registry.
//
// It runs only with ROAM_CITY=1. ROAM_CITY_N and ROAM_CITY_KEYS change the
// size, ROAM_CITY_KEEP=dir keeps the snapshot there, ROAM_PERF_OUT=file
// writes the figures as JSON, and ROAM_CITY_CPUPROFILE / ROAM_CITY_MEMPROFILE
// profile the child's restore. With ROAM_CITY_RESTORE=file it is the child:
// it restores file and prints its figures.
func TestCityScale(t *testing.T) {
	if path := os.Getenv("ROAM_CITY_RESTORE"); path != "" {
		restoreChild(t, path)
		return
	}
	if os.Getenv("ROAM_CITY") != "1" {
		t.Skip("ROAM_CITY=1 runs the city-scale measurement (minutes, GBs)")
	}
	n, keys := envInt(t, "ROAM_CITY_N", 400), envInt(t, "ROAM_CITY_KEYS", 5)
	fig := &cityFigures{GOMAXPROCS: runtime.GOMAXPROCS(0), Targets: map[string]bool{}}

	c, err := City(Options{Jurisdictions: n, KeysEach: keys, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	fig.Jurisdictions, fig.KeysEach, fig.Agreements, fig.Commands = n, keys, len(c.Pairs), c.Commands
	fig.IssuerAlg, fig.AdminAlg = c.Opts.IssuerAlg, c.Opts.AdminAlg
	fig.GenerateSeconds = c.Timing.Total.Seconds()
	fig.GenerateKeygenSeconds = c.Timing.Keygen.Seconds()
	fig.GenerateApplySeconds = c.Timing.Apply.Seconds()
	fig.GenerateWaitSeconds = c.Timing.Waiting.Seconds()
	fig.ApplyMicrosPerCommand = float64(c.Timing.Apply.Microseconds()) / float64(c.Commands)
	fig.BuilderHeapBytes = liveHeap()
	t.Logf("generated: %d commands in %.1fs (apply %.1fs, %.1f µs/command); builder heap %s",
		c.Commands, fig.GenerateSeconds, fig.GenerateApplySeconds, fig.ApplyMicrosPerCommand, mb(fig.BuilderHeapBytes))

	dir := os.Getenv("ROAM_CITY_KEEP")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("city-%d-%d.snap", n, keys))
	persist(t, c.FSM, &persistFigures{path: path, fig: fig})
	t.Logf("snapshot: %s in %.2fs (Snapshot) + %.2fs (Persist) -> %s", mb(uint64(fig.SnapshotBytes)), fig.SnapshotSeconds, fig.PersistSeconds, path)

	child, err := runChild(path)
	if err != nil {
		t.Fatalf("restore child: %v", err)
	}
	fig.Restore = child
	if child.Error != "" {
		t.Errorf("child restore: %s", child.Error)
	}
	t.Logf("restore (fresh process): %.2fs (%.1f CPU-s); heap %s live, RSS %s after GC (%s after FreeOSMemory, base %s), peak %s",
		child.RestoreSeconds, child.RestoreCPUSeconds, mb(child.HeapAllocBytes), mb(child.RSSBytes), mb(child.RSSAfterFreeBytes), mb(child.BaseRSSBytes), mb(child.PeakRSSBytes))
	head := c.FSM.State().GetChainHead()
	if child.AppliedIndex != c.FSM.AppliedIndex() || child.ChainHead != hex.EncodeToString(head) || child.Agreements != len(c.Pairs) {
		t.Errorf("child restored index %d head %s, %d agreements; want %d %x, %d", child.AppliedIndex, child.ChainHead, child.Agreements, c.FSM.AppliedIndex(), head, len(c.Pairs))
	}

	small, err := City(Options{Jurisdictions: 6, KeysEach: keys})
	if err != nil {
		t.Fatal(err)
	}
	fig.Lookups = compareLookups(t, small, c)
	for _, l := range fig.Lookups {
		t.Logf("%-18s small %9.1f ns/op (%d allocs)  city %9.1f ns/op (%d allocs)  ratio %.2f", l.Name, l.SmallNs, l.SmallAllocs, l.CityNs, l.CityAllocs, l.Ratio)
		if l.Name == "verify" {
			fig.Targets["verify_within_10pct"] = l.Ratio <= 1.10
		}
	}
	fig.Targets["restore_under_3s"] = child.RestoreSeconds < 3
	fig.Targets["rss_under_300MB"] = child.RSSBytes < 300<<20
	t.Logf("targets: %v", fig.Targets)

	if out := os.Getenv("ROAM_PERF_OUT"); out != "" {
		b, err := json.MarshalIndent(fig, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runtime.KeepAlive(c)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 {
		t.Fatalf("%s=%q: want a number >= 2", name, v)
	}
	return n
}

type persistFigures struct {
	path string
	fig  *cityFigures
}

// persist runs FSM.Snapshot and Persist, into memory (and returns the
// bytes) or, with pf, into pf.path (timing both and returning nil).
func persist(t *testing.T, f *registry.FSM, pf *persistFigures) []byte {
	t.Helper()
	start := time.Now()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	took := time.Since(start)
	if pf == nil {
		var sink memSink
		if err := snap.Persist(&sink); err != nil {
			t.Fatalf("Persist: %v", err)
		}
		return sink.Bytes()
	}
	file, err := os.Create(pf.path)
	if err != nil {
		t.Fatal(err)
	}
	sink := &fileSink{File: file}
	start = time.Now()
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	pf.fig.SnapshotSeconds, pf.fig.PersistSeconds = took.Seconds(), time.Since(start).Seconds()
	fi, err := os.Stat(pf.path)
	if err != nil {
		t.Fatal(err)
	}
	pf.fig.SnapshotBytes = fi.Size()
	return nil
}

// memSink and fileSink are raft.SnapshotSinks.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string       { return "mem" }
func (*memSink) Close() error     { return nil }
func (*memSink) Cancel() error    { return nil }
func (s *fileSink) ID() string    { return "file" }
func (s *fileSink) Cancel() error { return s.File.Close() }

type fileSink struct{ *os.File }

func (s *fileSink) Close() error {
	if err := s.File.Sync(); err != nil {
		s.File.Close()
		return err
	}
	return s.File.Close()
}

var (
	_ raft.SnapshotSink = (*memSink)(nil)
	_ raft.SnapshotSink = (*fileSink)(nil)
)

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// runChild re-executes this test binary as a fresh node that only restores
// the snapshot at path, and returns what it reports.
func runChild(path string) (*childFigures, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCityScale$", "-test.count=1")
	cmd.Env = append(os.Environ(), "ROAM_CITY_RESTORE="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), childPrefix); ok {
			var cf childFigures
			if jerr := json.Unmarshal([]byte(line), &cf); jerr != nil {
				return nil, jerr
			}
			return &cf, nil
		}
	}
	return nil, fmt.Errorf("no figures (%v); stdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
}

// restoreChild is the child's side: restore, measure, print one line.
func restoreChild(t *testing.T, path string) {
	var cf childFigures
	defer func() {
		b, _ := json.Marshal(&cf)
		fmt.Println(childPrefix + string(b))
	}()
	runtime.GC()
	cf.BaseRSSBytes, _ = procStatus()
	if p := os.Getenv("ROAM_CITY_CPUPROFILE"); p != "" {
		pf, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.Open(path)
	if err != nil {
		cf.Error = err.Error()
		return
	}
	f := registry.NewFSM()
	start, cpu := time.Now(), cpuTime()
	err = f.Restore(file)
	cf.RestoreSeconds, cf.RestoreCPUSeconds = time.Since(start).Seconds(), (cpuTime() - cpu).Seconds()
	if os.Getenv("ROAM_CITY_CPUPROFILE") != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		cf.Error = err.Error()
		return
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cf.HeapAllocBytes, cf.HeapSysBytes, cf.TotalAllocBytes, cf.NumGC = ms.HeapAlloc, ms.HeapSys, ms.TotalAlloc, ms.NumGC
	cf.RSSBytes, cf.PeakRSSBytes = procStatus()
	debug.FreeOSMemory()
	cf.RSSAfterFreeBytes, _ = procStatus()
	if p := os.Getenv("ROAM_CITY_MEMPROFILE"); p != "" {
		pf, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(pf); err != nil {
			t.Fatal(err)
		}
		pf.Close()
	}
	cf.AppliedIndex = f.AppliedIndex()
	cf.AuditRecords = len(f.Audit(0, 0))
	start = time.Now()
	st := f.State()
	cf.StateSeconds = time.Since(start).Seconds()
	cf.Agreements = len(st.GetAgreements())
	cf.ChainHead = hex.EncodeToString(st.GetChainHead())
}

// procStatus returns VmRSS and VmHWM in bytes.
func procStatus() (rss, hwm uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// compareLookups benchmarks the lookups a verification makes, on small and
// on city, alternating three rounds and keeping each side's fastest.
func compareLookups(t *testing.T, small, city *Registry) []lookupFigures {
	t.Helper()
	type bench struct {
		name string
		mk   func(c *Registry) func(b *testing.B)
	}
	benches := []bench{
		{"AgreementAt", func(c *Registry) func(b *testing.B) {
			pairs := sample(c.Pairs, 1<<16)
			at := c.InForce()
			return func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					p := pairs[i&(len(pairs)-1)]
					if _, _, aerr := c.FSM.AgreementAt(p[0], p[1], at); aerr != nil {
						b.Fatal(aerr)
					}
					i++
				}
			}
		}},
		{"AgreementAtNone", func(c *Registry) func(b *testing.B) {
			at := c.InForce()
			return func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					id := c.IDs[i%len(c.IDs)]
					if _, _, aerr := c.FSM.AgreementAt(id, id, at); aerr == nil {
						b.Fatal("agreement with itself")
					}
					i++
				}
			}
		}},
		{"Key", func(c *Registry) func(b *testing.B) {
			var kids []string
			for _, id := range c.IDs {
				for _, is := range c.Issuers[id] {
					kids = append(kids, is.Kid)
				}
			}
			kids = sample(kids, 1<<16)
			return func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, ok := c.FSM.Key(kids[i&(len(kids)-1)]); !ok {
						b.Fatal("key missing")
					}
					i++
				}
			}
		}},
		{"verify", func(c *Registry) func(b *testing.B) {
			p, reqs := pipeline(t, c)
			return func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				i := 0
				for b.Loop() {
					d, _, err := p.Verify(ctx, reqs[i&(len(reqs)-1)])
					if err != nil || recognition.OutcomeName(d.GetOutcome()) != "PASS" {
						b.Fatalf("Verify = %v, %v", d, err)
					}
					i++
				}
			}
		}},
	}
	var out []lookupFigures
	for _, bn := range benches {
		lf := lookupFigures{Name: bn.name}
		fs, fc := bn.mk(small), bn.mk(city)
		for range 3 {
			rs, rc := testing.Benchmark(fs), testing.Benchmark(fc)
			if rs.N == 0 || rc.N == 0 {
				t.Fatalf("%s: benchmark failed", bn.name)
			}
			if ns := float64(rs.T.Nanoseconds()) / float64(rs.N); lf.SmallNs == 0 || ns < lf.SmallNs {
				lf.SmallNs, lf.SmallAllocs, lf.SmallBytes = ns, rs.AllocsPerOp(), rs.AllocedBytesPerOp()
			}
			if ns := float64(rc.T.Nanoseconds()) / float64(rc.N); lf.CityNs == 0 || ns < lf.CityNs {
				lf.CityNs, lf.CityAllocs, lf.CityBytes = ns, rc.AllocsPerOp(), rc.AllocedBytesPerOp()
			}
		}
		lf.Ratio = lf.CityNs / lf.SmallNs
		out = append(out, lf)
	}
	return out
}

// sample returns n (a power of two) elements of in drawn at random, so a
// benchmark touches the whole registry rather than one cached corner.
func sample[T any](in []T, n int) []T {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]T, n)
	for i := range out {
		out[i] = in[r.IntN(len(in))]
	}
	return out
}

// pipeline is the offline path of a metro gate over c: roam codes only, the
// embedded policies, no live status; with 256 green codes of random
// issuers presented at random hosts that recognise them.
func pipeline(t *testing.T, c *Registry) (*recognition.Pipeline, []recognition.Request) {
	t.Helper()
	pols, err := policies.LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	at := c.InForce()
	p := &recognition.Pipeline{
		Registry: c.FSM,
		Adapters: []adapters.Adapter{roamjws.Adapter{V: &roamjws.Verifier{Keys: c.FSM}}},
		Policies: pols,
		Status:   noStatus{},
		Clock:    clock.NewSim(at),
	}
	var reqs []recognition.Request
	for _, pr := range sample(c.Pairs, 256) {
		code, err := c.Code(pr[1], adapters.Green, at.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, recognition.Request{Payload: code, Host: pr[0], Checkpoint: "metro", At: at})
	}
	return p, reqs
}

type noStatus struct{}

func (noStatus) QueryStatus(context.Context, string, string) (*adapters.Claims, error) {
	return nil, errors.New("no live status in this measurement")
}
