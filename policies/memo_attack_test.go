package policies

// Adversarial review of the per-policy memo (d9085db). Tests named
// TestAttack*Fails* demonstrate a problem and fail until it is fixed; the
// others held and guard what was tried.

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAttackReadsTimeEveryWay: every way found of reading the time or the
// code's age without writing a plain `at` or `code.age_seconds` either is
// seen by readsTime, or gives the same answer memoised as evaluated.
func TestAttackReadsTimeEveryWay(t *testing.T) {
	lit := `policies.codeVars{iss: "330000", color: "green", sys: "zhejiang-health-code", ver: 1, age_seconds: 60}`
	exprs := []string{
		`.at < timestamp("2020-03-02T10:00:00Z")`,       // root-qualified at
		`.code.age_seconds < 3600`,                      // root-qualified code
		`.code == ` + lit,                               // whole code vs a struct literal that names age_seconds
		`code == ` + lit,                                //
		`.code in [` + lit + `]`,                        // membership
		`[` + lit + `].exists(c, c == .code)`,           // inside a comprehension
		`[1].exists(code, code == 1) || code == ` + lit, // a comprehension variable shadowing code, then code
		`[.code].exists(c, c.age_seconds < 3600)`,       // alias
		`[code].all(c, c.color == "green") && dyn(code) == dyn(` + lit + `)`,
		`{"k": code}["k"] == ` + lit,                                // map literal
		`has(code.age_seconds) && code.age_seconds < 3600`,          // has()
		`int(at) < 1583114400`,                                      // conversions
		`string(at) < "2020-03-02T01:00:00Z"`,                       //
		`at.getHours() < 2`,                                         // member functions
		`[at].exists(x, x < timestamp("2020-03-02T10:00:00Z"))`,     //
		`code.age_seconds / 3600 == 1`,                              // arithmetic
		`duration(string(code.age_seconds) + "s") < duration("1h")`, //
	}
	for _, e := range exprs {
		y := strings.Replace(validYAML, `'code.color == "green"'`, "'"+e+"'", 1)
		p, err := LoadBytes("410000.yaml", []byte(y))
		if err != nil {
			t.Logf("does not compile (so cannot bypass): %s: %v", e, err)
			continue
		}
		early := in("410000", "330000", "green", func(x *Input) { x.AgeSeconds, x.At = 60, at })
		late := in("410000", "330000", "green", func(x *Input) { x.AgeSeconds, x.At = 7200, at.Add(20*time.Hour) })
		for _, x := range []Input{early, late, early, late} {
			got, gerr := p.Evaluate(x)
			want, werr := p.evaluate(&x)
			if got != want || (gerr == nil) != (werr == nil) {
				t.Errorf("%s (timeFree=%v): memoised %+v, evaluated %+v", e, p.timeFree, got, want)
			}
		}
	}
}

// TestAttackMemoKeyCoversInput: two inputs that differ in any field but the
// time must not share an entry (a policy reading each field in turn).
func TestAttackMemoKeyCoversInput(t *testing.T) {
	fields := map[string]struct {
		expr string
		mut  func(*Input)
	}{
		"host":                {`host == "410000"`, func(x *Input) { x.Host = "420000" }},
		"iss":                 {`code.iss == "330000"`, func(x *Input) { x.Issuer = "420000" }},
		"checkpoint":          {`checkpoint == "intercity"`, func(x *Input) { x.Checkpoint = CheckpointMetro }},
		"color":               {`code.color == "green"`, func(x *Input) { x.Color = "red" }},
		"sys":                 {`code.sys == "zhejiang-health-code"`, func(x *Input) { x.System = "other" }},
		"ver":                 {`code.ver == 1`, func(x *Input) { x.Version = 2 }},
		"agreement":           {`agreement.id.startsWith("agr-")`, func(x *Input) { x.AgreementID = "hub/1" }},
		"require_live_status": {`!agreement.require_live_status`, func(x *Input) { x.RequireLiveStatus = true }},
		"required":            {`!status.required`, func(x *Input) { x.StatusRequired = true }},
		"checked":             {`!status.checked`, func(x *Input) { x.StatusChecked = true }},
		"reachable":           {`!status.reachable`, func(x *Input) { x.StatusReachable = true }},
		"changed":             {`!status.changed`, func(x *Input) { x.StatusChanged = true }},
		"facts":               {`facts.kind == ""`, func(x *Input) { x.Facts.Kind = "vaccination" }},
	}
	for name, f := range fields {
		y := strings.Replace(validYAML, `'code.color == "green"'`, "'"+f.expr+"'", 1)
		y = strings.Replace(y, `live_status: 'checkpoint == "intercity"'`, `live_status: '`+f.expr+`'`, 1)
		p, err := LoadBytes("410000.yaml", []byte(y))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		a := in("410000", "330000", "green")
		b := a
		f.mut(&b)
		b.At, b.AgeSeconds = a.At.Add(time.Hour), a.AgeSeconds+3600
		for _, x := range []Input{a, b, a, b} {
			got, _ := p.Evaluate(x)
			want, _ := p.evaluate(&x)
			if got != want {
				t.Errorf("%s: memoised %+v, evaluated %+v", name, got, want)
			}
			gl, _ := p.NeedsLiveStatus(x)
			wl, _ := evalBool(p.liveStatus, newActivation(&x))
			if gl != wl {
				t.Errorf("%s: NeedsLiveStatus memoised %v, evaluated %v", name, gl, wl)
			}
		}
	}
}

// TestAttackMemoFullStillLearns: one issuer whose codes carry many
// distinct sys or ver values fills a policy's memo; it must still learn a
// new hot key afterwards (LRU eviction), not stop memoising for good.
func TestAttackMemoFullStillLearns(t *testing.T) {
	p, err := LoadBytes("410000.yaml", []byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	for i := range memoCap + 100 {
		x := in("410000", "330000", "green", func(x *Input) { x.Version = int64(i + 1) })
		if _, err := p.Evaluate(x); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.memo.Len(); n != memoCap {
		t.Fatalf("memo holds %d entries, cap %d", n, memoCap)
	}
	hot := in("410000", "330000", "green", func(x *Input) { x.Checkpoint = CheckpointMetro })
	if _, err := p.Evaluate(hot); err != nil {
		t.Fatal(err)
	}
	key, _ := p.memoKeyOf(&hot, false)
	if !p.memo.Contains(key) {
		t.Error("a full memo did not take a new key")
	}
}

// TestAttackMemoCapConcurrent: concurrent evaluations of distinct inputs
// never push the memo past memoCap.
func TestAttackMemoCapConcurrent(t *testing.T) {
	p, err := LoadBytes("410000.yaml", []byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	procs := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for g := range 4 * procs {
		wg.Go(func() {
			for i := range memoCap / 2 {
				x := in("410000", "330000", "green", func(x *Input) { x.System = fmt.Sprint(g, "/", i) })
				if _, err := p.Evaluate(x); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := p.memo.Len(); n > memoCap {
		t.Errorf("memo holds %d entries, cap %d", n, memoCap)
	}
}
