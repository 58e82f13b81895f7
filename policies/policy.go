package policies

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	lru "github.com/hashicorp/golang-lru/v2"
	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var embedded embed.FS

// Outcomes of a decision (DESIGN.md §2).
const (
	OutcomePass          = "PASS"
	OutcomeQuarantine7D  = "QUARANTINE_7D"
	OutcomeQuarantine14D = "QUARANTINE_14D"
	OutcomeTestRequired  = "TEST_REQUIRED"
	OutcomeReject        = "REJECT"
	OutcomeUndecided     = "UNDECIDED"
)

var outcomes = []string{
	OutcomePass, OutcomeQuarantine7D, OutcomeQuarantine14D,
	OutcomeTestRequired, OutcomeReject, OutcomeUndecided,
}

// Outcomes returns every outcome a policy may produce, in a fixed order.
func Outcomes() []string { return slices.Clone(outcomes) }

// ValidOutcome reports whether s is one of Outcomes (case-sensitive).
func ValidOutcome(s string) bool { return slices.Contains(outcomes, s) }

// Checkpoints where a code is presented (DESIGN.md §2).
const (
	CheckpointMetro       = "metro"
	CheckpointResidential = "residential"
	CheckpointIntercity   = "intercity"
	CheckpointWorkplace   = "workplace"
	CheckpointVenue       = "venue"
)

var checkpoints = []string{
	CheckpointMetro, CheckpointResidential, CheckpointIntercity,
	CheckpointWorkplace, CheckpointVenue,
}

// Checkpoints returns every valid checkpoint, in a fixed order.
func Checkpoints() []string { return slices.Clone(checkpoints) }

// ValidCheckpoint reports whether s is one of Checkpoints (case-sensitive).
func ValidCheckpoint(s string) bool { return slices.Contains(checkpoints, s) }

// DefaultJurisdiction is the jurisdiction field of default.yaml.
const DefaultJurisdiction = "default"

// Limits on policy files. They exist so that a hostile or broken override
// directory cannot make loading, or a checkpoint, slow.
const (
	MaxFileBytes       = 64 << 10 // one policy file
	MaxExprRunes       = 2048     // one CEL expression
	MaxRules           = 256      // rules in one file
	evalCostLimit      = 10_000   // CEL runtime cost units per expression
	parserRecursionMax = 64
)

var (
	// ErrInvalidPolicy is matched by every error from loading a policy.
	ErrInvalidPolicy = errors.New("invalid policy")
	// ErrInvalidInput is returned by Evaluate and NeedsLiveStatus for an
	// Input the policy cannot be asked about (an unknown checkpoint).
	ErrInvalidInput = errors.New("invalid policy input")
	// ErrEvaluation is returned when a CEL expression fails at run time,
	// including when it exceeds the cost limit. Callers map it to the
	// reason policy_error and the outcome UNDECIDED.
	ErrEvaluation = errors.New("policy evaluation failed")
)

// LoadError says which file and which field of it is wrong, and what to do.
// It matches ErrInvalidPolicy with errors.Is.
type LoadError struct {
	File  string // base name, e.g. "410000.yaml"
	Field string // e.g. `rules[2] "green_pass".when`; "" for the whole file
	Line  int    // 1-based line in the file when known, else 0
	Msg   string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *LoadError) Unwrap() error { return ErrInvalidPolicy }

// Input is everything a policy may look at. It is built by the recognition
// pipeline from a verified code, the agreement in force and the live status
// result; it carries no personal data.
type Input struct {
	Host       string // host jurisdiction id (GB/T 2260)
	Issuer     string // code iss
	Checkpoint string // one of Checkpoints
	Color      string // code colour, after any status_changed override
	System     string // code sys
	Version    int64  // code ver
	AgeSeconds int64  // at - iat, seconds

	AgreementID       string
	RequireLiveStatus bool // the agreement's terms demand a live status

	StatusRequired  bool // a live status was demanded (agreement, policy or age)
	StatusChecked   bool // a valid status assertion was obtained and applied
	StatusReachable bool // the issuer node answered
	StatusChanged   bool // the assertion changed the colour

	At time.Time // evaluation time, from the caller's clock

	// Facts of a foreign certificate (EU DCC, SMART Health Card); zero for
	// health codes.
	Facts Facts
}

// Facts are a foreign certificate's normalised facts, as policies see them
// (CEL variable facts). Kind is "", "vaccination", "test" or "recovery".
type Facts struct {
	Kind                string
	VaccinationComplete bool
	VaccinationDate     time.Time
	Doses               int64
	TestType            string // pcr, rat
	TestResult          string // negative, positive
	SampleTime          time.Time
	RecoveryFrom        time.Time
	RecoveryUntil       time.Time
}

// Result is a policy's answer.
type Result struct {
	Outcome string // one of Outcomes
	Rule    string // name of the matching rule; "" when default_outcome applied
	Message string // the rule's message, or the default message
	// MessageZH is the same in Chinese (message_zh), "" when the policy
	// gives none.
	MessageZH string
}

// Policy is one host's compiled policy. It is immutable and safe for
// concurrent use.
type Policy struct {
	Jurisdiction string // GB/T 2260 code, or "default"
	Version      string // reported as policy_version in decisions
	Source       string // file name it was loaded from

	liveStatus       cel.Program // nil: never demanded
	rules            []rule
	defaultOutcome   string
	defaultMessage   string
	defaultMessageZH string

	// memo remembers results for inputs that differ only in time when no
	// expression reads the time (timeFree); see memoKeyOf.
	timeFree bool
	memo     *lru.Cache[memoKey, any] // Result (Evaluate) or bool (NeedsLiveStatus)
}

// memoCap bounds a policy's memo, in entries (LRU). Keys are combinations
// of issuer, checkpoint, colour, code version and status flags a host
// meets: a few thousand at city scale. Their strings are bounded by the
// verifier's claim limits, so an entry is at most about 1 KB.
const memoCap = 16384

// memoKey is an Input without its time (At, AgeSeconds) and without
// Facts (inputs with facts are never memoised).
type memoKey struct {
	liveStatus                                                        bool // NeedsLiveStatus, not Evaluate
	Host, Issuer, Checkpoint, Color, System, AgreementID              string
	Version                                                           int64
	RequireLiveStatus, StatusRequired, StatusChecked, StatusReachable bool
	StatusChanged                                                     bool
}

// memoKeyOf returns in's memo key, or false when in must be evaluated:
// the policy reads the time, or the input is a foreign certificate's.
func (p *Policy) memoKeyOf(in *Input, liveStatus bool) (memoKey, bool) {
	if !p.timeFree || in.Facts != (Facts{}) {
		return memoKey{}, false
	}
	return memoKey{
		liveStatus: liveStatus, Host: in.Host, Issuer: in.Issuer, Checkpoint: in.Checkpoint, Color: in.Color,
		System: in.System, AgreementID: in.AgreementID, Version: in.Version, RequireLiveStatus: in.RequireLiveStatus,
		StatusRequired: in.StatusRequired, StatusChecked: in.StatusChecked, StatusReachable: in.StatusReachable, StatusChanged: in.StatusChanged,
	}, true
}

// remember stores v under k, evicting the least recently used entry when
// the memo is full.
func (p *Policy) remember(k memoKey, v any) { p.memo.Add(k, v) }

type rule struct {
	name      string
	outcome   string
	message   string
	messageZH string
	prg       cel.Program
}

// RuleNames returns the rule names in evaluation order.
func (p *Policy) RuleNames() []string {
	names := make([]string, len(p.rules))
	for i, r := range p.rules {
		names[i] = r.name
	}
	return names
}

// DefaultOutcome returns the outcome used when no rule matches.
func (p *Policy) DefaultOutcome() string { return p.defaultOutcome }

// NeedsLiveStatus reports whether this policy demands a live status query
// for in (its live_status expression). It reports the policy's demand only:
// the caller also queries when the agreement requires it or the code is
// older than the agreement's max_age_without_status. Errors match
// ErrInvalidInput or ErrEvaluation.
func (p *Policy) NeedsLiveStatus(in Input) (bool, error) {
	if p.liveStatus == nil {
		return false, nil
	}
	if !ValidCheckpoint(in.Checkpoint) {
		return false, fmt.Errorf("%w: checkpoint %q: want one of %s", ErrInvalidInput, in.Checkpoint, strings.Join(checkpoints, ", "))
	}
	key, memo := p.memoKeyOf(&in, true)
	if memo {
		if v, ok := p.memo.Get(key); ok {
			return v.(bool), nil
		}
	}
	act := newActivation(&in)
	ok, err := evalBool(p.liveStatus, act)
	if err != nil {
		return false, fmt.Errorf("%w: %s live_status: %w", ErrEvaluation, p.Source, err)
	}
	if memo {
		p.remember(key, ok)
	}
	return ok, nil
}

// Evaluate runs the rules in order and returns the first match, or
// default_outcome when none matches. It does no I/O and reads no clock.
// Errors match ErrInvalidInput or ErrEvaluation; the caller should then
// decide UNDECIDED with reason policy_error.
func (p *Policy) Evaluate(in Input) (Result, error) {
	if !ValidCheckpoint(in.Checkpoint) {
		return Result{}, fmt.Errorf("%w: checkpoint %q: want one of %s", ErrInvalidInput, in.Checkpoint, strings.Join(checkpoints, ", "))
	}
	key, memo := p.memoKeyOf(&in, false)
	if memo {
		if v, ok := p.memo.Get(key); ok {
			return v.(Result), nil
		}
	}
	res, err := p.evaluate(&in)
	if err == nil && memo {
		p.remember(key, res)
	}
	return res, err
}

// evaluate runs the rules in order (Evaluate without the memo).
func (p *Policy) evaluate(in *Input) (Result, error) {
	act := newActivation(in)
	for i := range p.rules {
		r := &p.rules[i]
		ok, err := evalBool(r.prg, act)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %s rule %q: %w", ErrEvaluation, p.Source, r.name, err)
		}
		if ok {
			return Result{Outcome: r.outcome, Rule: r.name, Message: r.message, MessageZH: r.messageZH}, nil
		}
	}
	return Result{Outcome: p.defaultOutcome, Message: p.defaultMessage, MessageZH: p.defaultMessageZH}, nil
}

func evalBool(prg cel.Program, act *activation) (bool, error) {
	v, _, err := prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		// The checker guarantees bool; this guards against dyn slipping through.
		return false, fmt.Errorf("expression returned %s, want bool", v.Type().TypeName())
	}
	return bool(b), nil
}

// Set holds the policies of all hosts, keyed by jurisdiction. It is
// immutable and safe for concurrent use.
type Set struct {
	byHost map[string]*Policy
	def    *Policy
}

// For returns host's policy, or the default policy when host has none.
// It never returns nil for a Set built by this package.
func (s *Set) For(host string) *Policy {
	if p, ok := s.byHost[host]; ok {
		return p
	}
	return s.def
}

// Lookup returns host's own policy, without falling back to the default.
func (s *Set) Lookup(host string) (*Policy, bool) {
	p, ok := s.byHost[host]
	return p, ok
}

// Default returns the default policy.
func (s *Set) Default() *Policy { return s.def }

// Jurisdictions returns the hosts with their own policy, sorted.
func (s *Set) Jurisdictions() []string {
	out := make([]string, 0, len(s.byHost))
	for j := range s.byHost {
		out = append(out, j)
	}
	sort.Strings(out)
	return out
}

// LoadEmbedded loads the policies shipped in the binary.
func LoadEmbedded() (*Set, error) { return LoadFS(embedded) }

// LoadDir loads every *.yaml file directly in dir (not recursively). The
// directory must contain default.yaml. Any bad file fails the whole load:
// an operator's override never half-applies.
func LoadDir(dir string) (*Set, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%w: policy dir: %w", ErrInvalidPolicy, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%w: policy dir %s: not a directory", ErrInvalidPolicy, dir)
	}
	return LoadFS(os.DirFS(dir))
}

// LoadFS loads every *.yaml file at the root of fsys; see LoadDir.
func LoadFS(fsys fs.FS) (*Set, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	s := &Set{byHost: make(map[string]*Policy, len(names))}
	for _, name := range names {
		data, err := readCapped(fsys, name)
		if err != nil {
			return nil, err
		}
		p, err := LoadBytes(name, data)
		if err != nil {
			return nil, err
		}
		if p.Jurisdiction == DefaultJurisdiction {
			s.def = p
		} else {
			s.byHost[p.Jurisdiction] = p
		}
	}
	if s.def == nil {
		return nil, &LoadError{File: "default.yaml", Msg: "missing: every policy set needs default.yaml for hosts without their own file"}
	}
	return s, nil
}

func readCapped(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, &LoadError{File: name, Msg: err.Error()}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &LoadError{File: name, Msg: err.Error()}
	}
	if len(data) > MaxFileBytes {
		return nil, &LoadError{File: name, Msg: fmt.Sprintf("file larger than %d bytes; split or shorten it", MaxFileBytes)}
	}
	return data, nil
}

// fileSpec is the YAML shape of a policy file.
type fileSpec struct {
	Jurisdiction   string     `yaml:"jurisdiction"`
	Version        string     `yaml:"version"`
	Description    string     `yaml:"description"`
	LiveStatus     locString  `yaml:"live_status"`
	Rules          []ruleSpec `yaml:"rules"`
	DefaultOutcome locString  `yaml:"default_outcome"`
	DefaultMessage string     `yaml:"default_message"`
	// DefaultMessageZH is default_message in Chinese (optional).
	DefaultMessageZH string `yaml:"default_message_zh"`
}

type ruleSpec struct {
	Name    locString `yaml:"name"`
	When    locString `yaml:"when"`
	Outcome locString `yaml:"outcome"`
	Message string    `yaml:"message"`
	// MessageZH is message in Chinese (optional), shown beside it on the
	// checkpoint banner (issue 7 §4).
	MessageZH string `yaml:"message_zh"`
}

// locString is a YAML string that remembers its line, for error messages.
type locString struct {
	Value string
	Line  int
}

func (s *locString) UnmarshalYAML(n *yaml.Node) error {
	s.Line = n.Line
	return n.Decode(&s.Value)
}

var (
	jurisdictionRe = regexp.MustCompile(`^[0-9]{6}$`)
	ruleNameRe     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

var (
	yamlLineRe     = regexp.MustCompile(`^\s*line (\d+): (.*)$`)
	unknownFieldRe = regexp.MustCompile(`^field (\S+) not found in type policies\.(\w+)$`)
	knownFields    = map[string]string{
		"fileSpec": "jurisdiction, version, description, live_status, rules, default_outcome, default_message, default_message_zh",
		"ruleSpec": "name, when, outcome, message, message_zh",
	}
)

// yamlError turns a yaml.v3 decode error into a LoadError naming the line
// and, for unknown fields, the field and the known ones.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return &LoadError{File: name, Msg: fmt.Sprintf("%s; fix the YAML syntax", strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	le := &LoadError{File: name, Msg: te.Errors[0]}
	if m := yamlLineRe.FindStringSubmatch(te.Errors[0]); m != nil {
		le.Line, _ = strconv.Atoi(m[1])
		le.Msg = m[2]
	}
	if m := unknownFieldRe.FindStringSubmatch(le.Msg); m != nil {
		le.Field = m[1]
		where := "top level"
		if m[2] == "ruleSpec" {
			where = "a rule"
		}
		le.Msg = fmt.Sprintf("unknown field; remove it or fix its spelling (known fields in %s: %s)", where, knownFields[m[2]])
	} else {
		le.Msg = strings.NewReplacer("policies.", "", "locString", "string").Replace(le.Msg) + "; fix the value's type"
	}
	if n := len(te.Errors); n > 1 {
		le.Msg += fmt.Sprintf(" (and %d more YAML errors)", n-1)
	}
	return le
}

// LoadBytes decodes and compiles one policy file. name is the file's base
// name (e.g. "410000.yaml"): the jurisdiction field must equal it without
// the extension. Errors are *LoadError and match ErrInvalidPolicy.
func LoadBytes(name string, data []byte) (*Policy, error) {
	lerr := func(field string, line int, format string, args ...any) error {
		return &LoadError{File: name, Field: field, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxFileBytes {
		return nil, lerr("", 0, "file larger than %d bytes; split or shorten it", MaxFileBytes)
	}
	want := strings.TrimSuffix(path.Base(name), ".yaml")
	if want != DefaultJurisdiction && !jurisdictionRe.MatchString(want) {
		return nil, lerr("", 0, "file name must be a GB/T 2260 code or default, plus .yaml (e.g. 410000.yaml)")
	}

	var spec fileSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, lerr("", 0, "empty file; it needs at least jurisdiction, version, rules and default_outcome")
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, lerr("", 0, "more than one YAML document; put one policy per file")
	}

	if spec.Jurisdiction != want {
		return nil, lerr("jurisdiction", 0, "%q does not match the file name; set it to %q or rename the file", spec.Jurisdiction, want)
	}
	if strings.TrimSpace(spec.Version) == "" {
		return nil, lerr("version", 0, "missing; set it, e.g. %q (it is reported as policy_version)", want+"-2020-02-28.1")
	}
	if len(spec.Rules) > MaxRules {
		return nil, lerr("rules", 0, "%d rules, at most %d allowed", len(spec.Rules), MaxRules)
	}
	if spec.DefaultOutcome.Value == "" {
		return nil, lerr("default_outcome", 0, "missing; set it to one of %s (UNDECIDED is the safe choice)", strings.Join(outcomes, ", "))
	}
	if !ValidOutcome(spec.DefaultOutcome.Value) {
		return nil, lerr("default_outcome", spec.DefaultOutcome.Line, "unknown outcome %q; want one of %s", spec.DefaultOutcome.Value, strings.Join(outcomes, ", "))
	}

	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("%w: cel environment: %w", ErrInvalidPolicy, err)
	}
	p := &Policy{
		Jurisdiction:     spec.Jurisdiction,
		Version:          spec.Version,
		Source:           name,
		defaultOutcome:   spec.DefaultOutcome.Value,
		defaultMessage:   spec.DefaultMessage,
		defaultMessageZH: spec.DefaultMessageZH,
		rules:            make([]rule, 0, len(spec.Rules)),
		timeFree:         true,
	}
	p.memo, _ = lru.New[memoKey, any](memoCap) // errors only for size ≤ 0
	if p.defaultMessage == "" {
		p.defaultMessage, p.defaultMessageZH = "no policy rule matched", "没有匹配的政策规则"
	}
	if spec.LiveStatus.Value != "" {
		prg, timeFree, msg := compileBool(env, spec.LiveStatus.Value)
		if msg != "" {
			return nil, lerr("live_status", spec.LiveStatus.Line, "%s", msg)
		}
		p.liveStatus = prg
		p.timeFree = p.timeFree && timeFree
	}
	seen := make(map[string]int, len(spec.Rules))
	for i, rs := range spec.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if rs.Name.Value == "" {
			return nil, lerr(field+".name", rs.When.Line, "missing; give every rule a snake_case name (it is reported in decisions)")
		}
		field = fmt.Sprintf("rules[%d] %q", i, rs.Name.Value)
		if !ruleNameRe.MatchString(rs.Name.Value) {
			return nil, lerr(field+".name", rs.Name.Line, "must be snake_case ([a-z][a-z0-9_]*, at most 64 characters)")
		}
		if j, dup := seen[rs.Name.Value]; dup {
			return nil, lerr(field+".name", rs.Name.Line, "duplicate of rules[%d]; rule names must be unique", j)
		}
		seen[rs.Name.Value] = i
		if !ValidOutcome(rs.Outcome.Value) {
			return nil, lerr(field+".outcome", rs.Outcome.Line, "unknown outcome %q; want one of %s", rs.Outcome.Value, strings.Join(outcomes, ", "))
		}
		if rs.When.Value == "" {
			return nil, lerr(field+".when", rs.Name.Line, "missing; write a CEL bool expression, or 'true' for a catch-all")
		}
		prg, timeFree, msg := compileBool(env, rs.When.Value)
		if msg != "" {
			return nil, lerr(field+".when", rs.When.Line, "%s", msg)
		}
		p.timeFree = p.timeFree && timeFree
		p.rules = append(p.rules, rule{name: rs.Name.Value, outcome: rs.Outcome.Value, message: rs.Message, messageZH: rs.MessageZH, prg: prg})
	}
	return p, nil
}

// compileBool compiles a CEL expression that must have type bool, and
// reports whether it is time-free (see readsTime). It returns a non-empty
// message, saying what to fix, on failure.
func compileBool(env *cel.Env, expr string) (cel.Program, bool, string) {
	if n := len([]rune(expr)); n > MaxExprRunes {
		return nil, false, fmt.Sprintf("expression is %d characters, at most %d allowed; split it into several rules", n, MaxExprRunes)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, false, fmt.Sprintf("%s; fix the CEL expression (variables: code, checkpoint, host, agreement, status, at)", oneLine(iss.Err().Error()))
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		return nil, false, fmt.Sprintf("expression has type %s; it must be a bool expression, e.g. code.color == \"green\"", t)
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(evalCostLimit))
	if err != nil {
		return nil, false, fmt.Sprintf("%s; fix the CEL expression", oneLine(err.Error()))
	}
	return prg, !readsTime(ast.NativeRep()), ""
}

// readsTime reports whether a checked expression may read the evaluation
// time: the variable at, the field code.age_seconds, or code as a whole
// (anything but a field select on it). Conservative: a false answer lets
// Evaluate memoise results across scans at different times.
func readsTime(a *celast.AST) bool {
	reads, codeIdents, codeSelects := false, 0, 0
	celast.PreOrderVisit(celast.NavigateAST(a), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind:
			switch e.AsIdent() {
			case "at":
				reads = true
			case "code":
				codeIdents++
			}
		case celast.SelectKind:
			sel := e.AsSelect()
			if sel.FieldName() == "age_seconds" {
				reads = true
			}
			if op := sel.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == "code" {
				codeSelects++
			}
		}
	}))
	return reads || codeIdents != codeSelects
}

// oneLine keeps CEL's "ERROR: <input>:l:c: msg" lines and drops the source
// excerpt and caret lines that follow each, so the message fits a log line.
func oneLine(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "ERROR:") {
			keep = append(keep, strings.TrimSpace(strings.TrimPrefix(l, "ERROR:")))
		}
	}
	if len(keep) == 0 {
		return strings.Join(strings.Fields(s), " ")
	}
	return strings.Join(keep, "; ")
}
