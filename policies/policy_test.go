package policies

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/decisions.golden")

// at is inside the demo window (DESIGN.md §5: simulated clock from 2020-02-26).
var at = time.Date(2020, 3, 2, 9, 0, 0, 0, time.UTC)

var hosts = []string{"110000", "120000", "130000", "330000", "410000"}

func mustEmbedded(t testing.TB) *Set {
	t.Helper()
	s, err := LoadEmbedded()
	if err != nil {
		t.Fatalf("LoadEmbedded: %v", err)
	}
	return s
}

// in builds an Input for a Zhejiang code at an intercity checkpoint,
// changed by the options.
func in(host, iss, color string, opts ...func(*Input)) Input {
	x := Input{
		Host: host, Issuer: iss, Checkpoint: CheckpointIntercity,
		Color: color, System: "zhejiang-health-code", Version: 1, AgeSeconds: 3600,
		AgreementID: "agr-" + host + "-" + iss, At: at,
	}
	for _, o := range opts {
		o(&x)
	}
	return x
}

func checkpoint(c string) func(*Input) { return func(x *Input) { x.Checkpoint = c } }

// statusUnreachable: a live status was required but the issuer did not answer.
func statusUnreachable(x *Input) { x.StatusRequired = true }

// statusChanged: required, answered, and the colour changed (Color is the fresh one).
func statusChanged(x *Input) {
	x.StatusRequired, x.StatusChecked, x.StatusReachable, x.StatusChanged = true, true, true, true
}

// statusUnusable: answered, but no valid assertion came back.
func statusUnusable(x *Input) { x.StatusRequired, x.StatusReachable = true, true }

func TestEmbeddedSet(t *testing.T) {
	s := mustEmbedded(t)
	if got, want := strings.Join(s.Jurisdictions(), ","), strings.Join(hosts, ","); got != want {
		t.Errorf("Jurisdictions() = %s, want %s", got, want)
	}
	for _, h := range hosts {
		p := s.For(h)
		if p.Jurisdiction != h || !strings.HasPrefix(p.Version, h+"-") || p.Source != h+".yaml" {
			t.Errorf("For(%s) = %s %s %s", h, p.Jurisdiction, p.Version, p.Source)
		}
	}
	for _, h := range []string{"310000", "440000", "", "XX-AT"} {
		if p := s.For(h); p != s.Default() || p.Jurisdiction != DefaultJurisdiction {
			t.Errorf("For(%q) = %s, want default", h, p.Jurisdiction)
		}
		if _, ok := s.Lookup(h); ok {
			t.Errorf("Lookup(%q) found a policy", h)
		}
	}
	if s.Default().Version == "" || s.Default().DefaultOutcome() != OutcomeUndecided {
		t.Errorf("default policy: version %q default_outcome %q", s.Default().Version, s.Default().DefaultOutcome())
	}
}

type evalCase struct {
	name     string
	in       Input
	outcome  string
	rule     string
	inDemand bool // what NeedsLiveStatus must say
}

// commonCases hold for every shipped policy, host or default.
func commonCases(host string) []evalCase {
	return []evalCase{
		{"green", in(host, "330000", "green"), OutcomePass, "green_pass", false},
		{"yellow", in(host, "330000", "yellow"), OutcomeQuarantine7D, "yellow_quarantine", false},
		{"red", in(host, "330000", "red"), OutcomeQuarantine14D, "red_quarantine", false},
		{"unknown colour", in(host, "330000", "blue"), OutcomeUndecided, "", false},
		{"empty colour", in(host, "330000", ""), OutcomeUndecided, "", false},
		{"colour is case-sensitive", in(host, "330000", "GREEN"), OutcomeUndecided, "", false},
		{"unreachable green", in(host, "330000", "green", statusUnreachable), OutcomeUndecided, "issuer_unreachable", false},
		{"unreachable red", in(host, "330000", "red", statusUnreachable), OutcomeUndecided, "issuer_unreachable", false},
		{"no valid assertion", in(host, "330000", "green", statusUnusable), OutcomeUndecided, "live_status_missing", false},
		{"turned red", in(host, "330000", "red", statusChanged), OutcomeQuarantine14D, "red_quarantine", false},
		{"recovered", in(host, "330000", "green", statusChanged), OutcomePass, "green_pass", false},
		{"not required, not reachable", in(host, "330000", "green", func(x *Input) { x.StatusReachable = false }), OutcomePass, "green_pass", false},
		{"agreement demands status, unreachable", in(host, "330000", "green", func(x *Input) { x.RequireLiveStatus, x.StatusRequired = true, true }), OutcomeUndecided, "issuer_unreachable", false},
		{"foreign issuer", in(host, "XX-AT", "green"), OutcomePass, "green_pass", false},
	}
}

func TestEvaluateEmbedded(t *testing.T) {
	s := mustEmbedded(t)
	for _, h := range append([]string{DefaultJurisdiction}, hosts...) {
		p := s.For(h)
		cases := commonCases(h)
		hubeiGreen, hubeiRule := OutcomeTestRequired, "hubei_test_required"
		if h == DefaultJurisdiction {
			hubeiGreen, hubeiRule = OutcomePass, "green_pass"
		}
		cases = append(cases,
			evalCase{"hubei green", in(h, "420000", "green"), hubeiGreen, hubeiRule, false},
			evalCase{"wuhan green", in(h, "420100", "green"), hubeiGreen, hubeiRule, false},
			evalCase{"hubei green at metro", in(h, "420000", "green", checkpoint(CheckpointMetro)), hubeiGreen, hubeiRule, false},
			// A test is never weaker than the colour's own quarantine.
			evalCase{"hubei yellow", in(h, "420000", "yellow"), OutcomeQuarantine7D, "yellow_quarantine", false},
			evalCase{"hubei red", in(h, "420000", "red"), OutcomeQuarantine14D, "red_quarantine", false},
			evalCase{"hubei unknown colour", in(h, "420000", "purple"), OutcomeUndecided, "", false},
			evalCase{"hubei unreachable", in(h, "420000", "green", statusUnreachable), OutcomeUndecided, "issuer_unreachable", false},
			// Only six-digit 42xxxx divisions are Hubei.
			evalCase{"not hubei: 42", in(h, "42", "green"), OutcomePass, "green_pass", false},
			evalCase{"not hubei: 4200001", in(h, "4200001", "green"), OutcomePass, "green_pass", false},
			evalCase{"not hubei: 142000", in(h, "142000", "green"), OutcomePass, "green_pass", false},
		)
		for _, cp := range Checkpoints() {
			want := h != DefaultJurisdiction && cp == CheckpointIntercity
			cases = append(cases, evalCase{"green at " + cp, in(h, "330000", "green", checkpoint(cp)), OutcomePass, "green_pass", want})
		}
		for _, c := range cases {
			t.Run(h+"/"+c.name, func(t *testing.T) {
				got, err := p.Evaluate(c.in)
				if err != nil {
					t.Fatalf("Evaluate: %v", err)
				}
				if got.Outcome != c.outcome || got.Rule != c.rule {
					t.Errorf("Evaluate = %s/%q, want %s/%q", got.Outcome, got.Rule, c.outcome, c.rule)
				}
				if got.Message == "" {
					t.Errorf("Evaluate gave no message")
				}
				if c.in.Checkpoint == CheckpointIntercity && c.name != "green at intercity" {
					return // demand at intercity is covered by the per-checkpoint cases
				}
				need, err := p.NeedsLiveStatus(c.in)
				if err != nil {
					t.Fatalf("NeedsLiveStatus: %v", err)
				}
				if need != c.inDemand {
					t.Errorf("NeedsLiveStatus = %v, want %v", need, c.inDemand)
				}
			})
		}
	}
}

// TestDemoHenan pins the policy half of the DESIGN.md §5 Henan steps.
func TestDemoHenan(t *testing.T) {
	p := mustEmbedded(t).For("410000")
	for _, c := range []struct {
		step, color string
		opt         func(*Input)
		want        string
	}{
		{"zj-green-henan", "green", nil, OutcomePass},
		{"zj-yellow-henan", "yellow", nil, OutcomeQuarantine7D},
		{"zj-red-henan", "red", nil, OutcomeQuarantine14D},
		{"zj-turned-red", "red", statusChanged, OutcomeQuarantine14D},
		{"zj-recovered", "green", statusChanged, OutcomePass},
	} {
		x := in("410000", "330000", c.color)
		if c.opt != nil {
			c.opt(&x)
		}
		need, err := p.NeedsLiveStatus(x)
		if err != nil || !need {
			t.Errorf("%s: NeedsLiveStatus = %v, %v; want true at intercity", c.step, need, err)
		}
		got, err := p.Evaluate(x)
		if err != nil || got.Outcome != c.want {
			t.Errorf("%s: Evaluate = %+v, %v; want %s", c.step, got, err, c.want)
		}
	}
}

func TestInvalidCheckpoint(t *testing.T) {
	s := mustEmbedded(t)
	for _, cp := range []string{"", "Metro", "airport", "metro "} {
		x := in("410000", "330000", "green", checkpoint(cp))
		if _, err := s.For("410000").Evaluate(x); !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "checkpoint") {
			t.Errorf("Evaluate(checkpoint %q) err = %v, want ErrInvalidInput naming checkpoint", cp, err)
		}
		if _, err := s.For("410000").NeedsLiveStatus(x); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("NeedsLiveStatus(checkpoint %q) err = %v, want ErrInvalidInput", cp, err)
		}
		if ValidCheckpoint(cp) {
			t.Errorf("ValidCheckpoint(%q) = true", cp)
		}
	}
	for _, cp := range Checkpoints() {
		if !ValidCheckpoint(cp) {
			t.Errorf("ValidCheckpoint(%q) = false", cp)
		}
	}
}

// goldenInputs is the table behind testdata/decisions.golden.
func goldenInputs() []struct {
	name string
	in   Input
} {
	type row = struct {
		name string
		in   Input
	}
	var rows []row
	for _, iss := range []string{"330000", "420000", "420100", "110000", "XX-AT"} {
		for _, color := range []string{"green", "yellow", "red", "blue"} {
			rows = append(rows, row{iss + "/" + color, in("", iss, color)})
		}
	}
	for _, cp := range Checkpoints() {
		rows = append(rows, row{"330000/green@" + cp, in("", "330000", "green", checkpoint(cp))})
	}
	rows = append(rows,
		row{"330000/green/unreachable", in("", "330000", "green", statusUnreachable)},
		row{"330000/green/unusable", in("", "330000", "green", statusUnusable)},
		row{"330000/red/changed", in("", "330000", "red", statusChanged)},
		row{"420000/green/unreachable", in("", "420000", "green", statusUnreachable)},
	)
	return rows
}

func TestGoldenDecisions(t *testing.T) {
	s := mustEmbedded(t)
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "# policy\tversion\tinput\tlive_status\toutcome\trule")
	fmt.Fprintln(tw, "# regenerate: go test ./policies -run TestGoldenDecisions -update")
	for _, j := range append([]string{DefaultJurisdiction}, s.Jurisdictions()...) {
		p := s.For(j)
		if j == DefaultJurisdiction {
			p = s.Default()
		}
		for _, r := range goldenInputs() {
			x := r.in
			x.Host = j
			need, err := p.NeedsLiveStatus(x)
			if err != nil {
				t.Fatalf("%s %s: NeedsLiveStatus: %v", j, r.name, err)
			}
			res, err := p.Evaluate(x)
			if err != nil {
				t.Fatalf("%s %s: Evaluate: %v", j, r.name, err)
			}
			rule := res.Rule
			if rule == "" {
				rule = "(default)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", j, p.Version, r.name, need, res.Outcome, rule)
		}
	}
	tw.Flush()
	got := b.String()
	path := filepath.Join("testdata", "decisions.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./policies -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("decisions drifted from %s at line %d:\n got: %s\nwant: %s\n(if intended, run go test ./policies -update and review the diff)", path, i+1, g, w)
			}
		}
	}
}

const validYAML = `jurisdiction: "410000"
version: "410000-test.1"
live_status: 'checkpoint == "intercity"'
rules:
  - name: red
    when: 'code.color == "red"'
    outcome: QUARANTINE_14D
  - name: green_pass
    when: 'code.color == "green"'
    outcome: PASS
default_outcome: UNDECIDED
`

func TestLoadBytesValid(t *testing.T) {
	p, err := LoadBytes("410000.yaml", []byte(validYAML))
	if err != nil {
		t.Fatal(err)
	}
	if p.Jurisdiction != "410000" || p.Version != "410000-test.1" || strings.Join(p.RuleNames(), ",") != "red,green_pass" {
		t.Errorf("loaded %+v rules %v", p, p.RuleNames())
	}
	res, err := p.Evaluate(in("410000", "330000", "blue"))
	if err != nil || res.Outcome != OutcomeUndecided || res.Rule != "" || res.Message != "no policy rule matched" {
		t.Errorf("default outcome: %+v, %v", res, err)
	}
}

func TestLoadErrors(t *testing.T) {
	mod := func(old, new string) string {
		if !strings.Contains(validYAML, old) {
			panic("test fixture: " + old)
		}
		return strings.Replace(validYAML, old, new, 1)
	}
	for _, c := range []struct {
		name, file, yaml string
		field            string // LoadError.Field
		msg              string // substring of the message
	}{
		{"bad CEL", "410000.yaml", mod(`'code.color == "green"'`, `'code.color == '`), `rules[1] "green_pass".when`, "Syntax error"},
		{"non-bool expression", "410000.yaml", mod(`'code.color == "green"'`, `'code.color'`), `rules[1] "green_pass".when`, "must be a bool expression"},
		{"int expression", "410000.yaml", mod(`'code.color == "red"'`, `'code.ver + 1'`), `rules[0] "red".when`, "has type int"},
		{"unknown CEL field", "410000.yaml", mod(`'code.color == "green"'`, `'code.colour == "green"'`), `rules[1] "green_pass".when`, "colour"},
		{"unknown CEL variable", "410000.yaml", mod(`'code.color == "green"'`, `'colour == "green"'`), `rules[1] "green_pass".when`, "undeclared reference"},
		{"type mismatch", "410000.yaml", mod(`'code.color == "green"'`, `'code.ver == "1"'`), `rules[1] "green_pass".when`, "no matching overload"},
		{"bad live_status", "410000.yaml", mod(`'checkpoint == "intercity"'`, `'checkpoint'`), "live_status", "must be a bool expression"},
		{"missing when", "410000.yaml", mod(`    when: 'code.color == "green"'`+"\n", ""), `rules[1] "green_pass".when`, "missing"},
		{"unknown field", "410000.yaml", mod("rules:", "colour: red\nrules:"), "colour", "unknown field; remove it"},
		{"unknown rule field", "410000.yaml", mod("    outcome: PASS", "    outcome: PASS\n    reason: x"), "reason", "known fields in a rule: name, when, outcome, message"},
		{"unknown outcome", "410000.yaml", mod("outcome: PASS", "outcome: ALLOW"), `rules[1] "green_pass".outcome`, `unknown outcome "ALLOW"`},
		{"lower-case outcome", "410000.yaml", mod("outcome: PASS", "outcome: pass"), `rules[1] "green_pass".outcome`, "unknown outcome"},
		{"unknown default outcome", "410000.yaml", mod("default_outcome: UNDECIDED", "default_outcome: MAYBE"), "default_outcome", "unknown outcome"},
		{"missing default outcome", "410000.yaml", mod("default_outcome: UNDECIDED", ""), "default_outcome", "missing"},
		{"duplicate rule", "410000.yaml", mod("name: green_pass", "name: red"), `rules[1] "red".name`, "duplicate of rules[0]"},
		{"missing rule name", "410000.yaml", mod("  - name: green_pass\n    when", "  - when"), "rules[1].name", "missing"},
		{"rule name not snake_case", "410000.yaml", mod("name: green_pass", "name: Green Pass"), `rules[1] "Green Pass".name`, "snake_case"},
		{"jurisdiction mismatch", "330000.yaml", validYAML, "jurisdiction", `set it to "330000"`},
		{"jurisdiction unquoted number", "410000.yaml", mod(`"410000"`, "410001"), "jurisdiction", "does not match"},
		{"bad file name", "henan.yaml", validYAML, "", "GB/T 2260"},
		{"missing version", "410000.yaml", mod(`version: "410000-test.1"`, ""), "version", "missing"},
		{"empty file", "410000.yaml", "", "", "empty file"},
		{"two documents", "410000.yaml", validYAML + "---\n" + validYAML, "", "more than one YAML document"},
		{"not a mapping", "410000.yaml", "- a\n- b\n", "", "cannot unmarshal"},
		{"bad YAML syntax", "410000.yaml", "jurisdiction: [\n", "", "fix the YAML syntax"},
		{"when not a string", "410000.yaml", mod(`'code.color == "red"'`, "[1, 2]"), "", "cannot unmarshal"},
		{"expression too long", "410000.yaml", mod(`'code.color == "red"'`, `'`+strings.Repeat("true && ", 300)+`true'`), `rules[0] "red".when`, "at most 2048"},
		{"too deep", "410000.yaml", mod(`'code.color == "red"'`, `'`+strings.Repeat("(", 100)+"true"+strings.Repeat(")", 100)+`'`), `rules[0] "red".when`, "recursion"},
		{"file too large", "410000.yaml", validYAML + "#" + strings.Repeat("x", MaxFileBytes), "", "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := LoadBytes(c.file, []byte(c.yaml))
			if err == nil {
				t.Fatalf("LoadBytes succeeded: %+v", p)
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v does not match ErrInvalidPolicy", err)
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %T is not *LoadError: %v", err, err)
			}
			if le.File != c.file || le.Field != c.field || !strings.Contains(le.Msg, c.msg) {
				t.Errorf("got file %q field %q msg %q\nwant file %q field %q msg containing %q", le.File, le.Field, le.Msg, c.file, c.field, c.msg)
			}
			if !strings.HasPrefix(err.Error(), c.file+":") || (c.field != "" && !strings.Contains(err.Error(), c.field)) {
				t.Errorf("Error() = %q does not name file and field", err)
			}
		})
	}
}

// TestLoadErrorLine checks that expression errors point at the YAML line.
func TestLoadErrorLine(t *testing.T) {
	_, err := LoadBytes("410000.yaml", []byte(strings.Replace(validYAML, `'code.color == "green"'`, `'code.color'`, 1)))
	var le *LoadError
	if !errors.As(err, &le) || le.Line != 9 {
		t.Fatalf("err = %v, want line 9", err)
	}
	want := `410000.yaml:9: rules[1] "green_pass".when: expression has type string; it must be a bool expression`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %q\nwant prefix %q", err, want)
	}
}

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDir(t *testing.T) {
	def, err := embedded.ReadFile("default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("override", func(t *testing.T) {
		dir := writeDir(t, map[string]string{
			"default.yaml": string(def),
			"410000.yaml":  validYAML,
			"README.md":    "not a policy",
			"410000.yml":   "ignored: only .yaml is loaded",
		})
		s, err := LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if v := s.For("410000").Version; v != "410000-test.1" {
			t.Errorf("410000 version %q, want the override", v)
		}
		if got := s.Jurisdictions(); len(got) != 1 {
			t.Errorf("Jurisdictions() = %v", got)
		}
	})
	t.Run("missing default.yaml", func(t *testing.T) {
		_, err := LoadDir(writeDir(t, map[string]string{"410000.yaml": validYAML}))
		var le *LoadError
		if !errors.As(err, &le) || le.File != "default.yaml" || !strings.Contains(le.Msg, "missing") {
			t.Errorf("err = %v, want default.yaml missing", err)
		}
	})
	t.Run("one bad file fails all", func(t *testing.T) {
		_, err := LoadDir(writeDir(t, map[string]string{
			"default.yaml": string(def),
			"410000.yaml":  strings.Replace(validYAML, "outcome: PASS", "outcome: OK", 1),
		}))
		if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), `410000.yaml:10: rules[1] "green_pass".outcome`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no such dir", func(t *testing.T) {
		if _, err := LoadDir(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("shipped files load from disk", func(t *testing.T) {
		s, err := LoadDir(".")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.Jurisdictions(), ","); got != strings.Join(hosts, ",") {
			t.Errorf("Jurisdictions() = %s", got)
		}
	})
}

func TestEvaluationErrors(t *testing.T) {
	for _, c := range []struct{ name, when, msg string }{
		{"division by zero", `code.ver / (code.ver - code.ver) == 1`, "division by zero"},
		{"cost limit", `[0,1,2,3,4,5,6,7,8,9].all(a, [0,1,2,3,4,5,6,7,8,9].all(b, [0,1,2,3,4,5,6,7,8,9].all(c, [0,1,2,3,4,5,6,7,8,9].all(d, a + b + c + d >= 0))))`, "cost limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			y := strings.Replace(validYAML, `'code.color == "red"'`, `'`+c.when+`'`, 1)
			p, err := LoadBytes("410000.yaml", []byte(y))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = p.Evaluate(in("410000", "330000", "green"))
			if !errors.Is(err, ErrEvaluation) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), `"red"`) {
				t.Errorf("err = %v, want ErrEvaluation naming rule and %q", err, c.msg)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("evaluation took %v", d)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	if got := strings.Join(Outcomes(), ","); got != "PASS,QUARANTINE_7D,QUARANTINE_14D,TEST_REQUIRED,REJECT,UNDECIDED" {
		t.Errorf("Outcomes() = %s", got)
	}
	Outcomes()[0] = "mutated"
	if !ValidOutcome(OutcomePass) || ValidOutcome("mutated") {
		t.Error("Outcomes() exposes internal state")
	}
}

// TestConcurrentEvaluate runs under -race: a Policy is shared by all
// verify requests.
func TestConcurrentEvaluate(t *testing.T) {
	p := mustEmbedded(t).For("410000")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			colors := []string{"green", "yellow", "red"}
			want := []string{OutcomePass, OutcomeQuarantine7D, OutcomeQuarantine14D}
			for i := range 200 {
				k := (g + i) % 3
				res, err := p.Evaluate(in("410000", "330000", colors[k]))
				if err != nil || res.Outcome != want[k] {
					t.Errorf("Evaluate(%s) = %+v, %v", colors[k], res, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkEvaluate(b *testing.B) {
	p := mustEmbedded(b).For("410000")
	for _, c := range []struct {
		name string
		in   Input
	}{
		{"green_last_rule", in("410000", "330000", "green")},
		{"red_third_rule", in("410000", "330000", "red")},
		{"unknown_colour_default", in("410000", "330000", "blue")},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Evaluate(c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("needs_live_status", func(b *testing.B) {
		x := in("410000", "330000", "green")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.NeedsLiveStatus(x); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestForeignFacts: Beijing's entry rules for foreign certificates (issue
// 4 §4) — vaccination at least 14 days old, negative PCR within 48 hours,
// recovery in its window — and quarantine otherwise; health codes (no
// facts) are untouched.
func TestForeignFacts(t *testing.T) {
	set, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	p := set.For("110000")
	at := time.Date(2021, 7, 20, 10, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name  string
		facts Facts
		want  string
		rule  string
	}{
		{"vaccinated 20 days ago", Facts{Kind: "vaccination", VaccinationComplete: true, VaccinationDate: at.Add(-20 * day), Doses: 2}, "PASS", "vaccinated_14_days"},
		{"vaccinated 10 days ago", Facts{Kind: "vaccination", VaccinationComplete: true, VaccinationDate: at.Add(-10 * day), Doses: 2}, "QUARANTINE_14D", "foreign_quarantine"},
		{"first dose only", Facts{Kind: "vaccination", VaccinationDate: at.Add(-60 * day), Doses: 1}, "QUARANTINE_14D", "foreign_quarantine"},
		{"negative PCR 24 h ago", Facts{Kind: "test", TestType: "pcr", TestResult: "negative", SampleTime: at.Add(-24 * time.Hour)}, "PASS", "negative_pcr_48h"},
		{"negative PCR 72 h ago", Facts{Kind: "test", TestType: "pcr", TestResult: "negative", SampleTime: at.Add(-72 * time.Hour)}, "QUARANTINE_14D", "foreign_quarantine"},
		{"negative antigen test", Facts{Kind: "test", TestType: "rat", TestResult: "negative", SampleTime: at.Add(-time.Hour)}, "QUARANTINE_14D", "foreign_quarantine"},
		{"positive PCR", Facts{Kind: "test", TestType: "pcr", TestResult: "positive", SampleTime: at.Add(-time.Hour)}, "QUARANTINE_14D", "foreign_quarantine"},
		{"PCR sampled in the future", Facts{Kind: "test", TestType: "pcr", TestResult: "negative", SampleTime: at.Add(time.Hour)}, "QUARANTINE_14D", "foreign_quarantine"},
		{"recovered, in window", Facts{Kind: "recovery", RecoveryFrom: at.Add(-30 * day), RecoveryUntil: at.Add(100 * day)}, "PASS", "recovered"},
		{"recovered, window over", Facts{Kind: "recovery", RecoveryFrom: at.Add(-200 * day), RecoveryUntil: at.Add(-day)}, "QUARANTINE_14D", "foreign_quarantine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Host: "110000", Issuer: "XX-AT", Checkpoint: "intercity", At: at, Facts: tt.facts}
			if need, err := p.NeedsLiveStatus(in); err != nil || need {
				t.Fatalf("live status for a foreign certificate: %v %v", need, err)
			}
			res, err := p.Evaluate(in)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.want || res.Rule != tt.rule {
				t.Fatalf("got %s (%s), want %s (%s)", res.Outcome, res.Rule, tt.want, tt.rule)
			}
		})
	}
}
