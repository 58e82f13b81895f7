package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/node"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// ansi matches the SGR sequences roamctl writes.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

// trimLines drops trailing spaces of every line (the coloured banner pads
// its outcome block to bannerWidth columns).
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func TestColorEnabled(t *testing.T) {
	tests := []struct {
		name    string
		mode    colorMode
		tty     bool
		json    bool
		noColor string
		want    bool
	}{
		{"auto, terminal", colorAuto, true, false, "", true},
		{"auto, pipe or file", colorAuto, false, false, "", false},
		{"auto, terminal, NO_COLOR=1", colorAuto, true, false, "1", false},
		{"auto, terminal, NO_COLOR any value", colorAuto, true, false, "false", false},
		{"auto, terminal, NO_COLOR empty counts as unset", colorAuto, true, false, "", true},
		{"always, pipe", colorAlways, false, false, "", true},
		{"always wins over NO_COLOR (no-color.org: flags override)", colorAlways, false, false, "1", true},
		{"never, terminal", colorNever, true, false, "", false},
		{"never, pipe", colorNever, false, false, "", false},
		{"json, terminal", colorAuto, true, true, "", false},
		{"json, always", colorAlways, true, true, "", false},
		{"json, never", colorNever, false, true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := colorEnabled(tt.mode, tt.tty, tt.json, tt.noColor); got != tt.want {
				t.Fatalf("colorEnabled(%s, tty %v, json %v, NO_COLOR %q) = %v, want %v", tt.mode, tt.tty, tt.json, tt.noColor, got, tt.want)
			}
		})
	}
}

// TestColorFlag: --color takes auto, always or never (default auto) and
// completes to them.
func TestColorFlag(t *testing.T) {
	if got := run(t, "--color", "blue", "jurisdictions"); !strings.Contains(got, `invalid argument "blue" for "--color" flag: want auto, always or never`) {
		t.Fatalf("--color blue: %q", got)
	}
	root := newRoot()
	if f := root.PersistentFlags().Lookup("color"); f == nil || f.DefValue != "auto" {
		t.Fatalf("--color flag %+v, want default auto", f)
	}
	out, errText := runOut(t, "__complete", "--color", "")
	if errText != "" {
		t.Fatal(errText)
	}
	for _, w := range []string{"auto\n", "always\n", "never\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("--color completions %q lack %q", out, w)
		}
	}
	if out, _ := runOut(t, "__complete", "verify", "--checkpoint", ""); !strings.Contains(out, "metro\n") || !strings.Contains(out, "venue\n") {
		t.Errorf("verify --checkpoint completions: %q", out)
	}
}

// TestCompletionCommand: cobra's completion command is there for every
// shell.
func TestCompletionCommand(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		out, errText := runOut(t, "completion", sh)
		if errText != "" || !strings.Contains(out, "roamctl") {
			t.Errorf("completion %s: error %q, %d bytes", sh, errText, len(out))
		}
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if isTerminal(f) || isTerminal(&buf) {
		t.Fatal("a file or a buffer is not a terminal")
	}
}

// TestTable: with colour off a table is byte for byte what roamctl printed
// with a tabwriter before; with colour on, the same once escapes are
// stripped, the header bold and the chosen columns coloured by state.
func TestTable(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		rows   [][]any
		legacy string // the old tabwriter input
		want   []string
	}{
		{
			name:   "keys",
			header: []string{"KID", "JURISDICTION", "STATE", "NOT AFTER"},
			rows:   [][]any{{"k1", "330000", "active", "-"}, {"a-much-longer-kid", "410000", "revoked", "2020-03-02 09:00"}},
			legacy: "KID\tJURISDICTION\tSTATE\tNOT AFTER\nk1\t330000\tactive\t-\na-much-longer-kid\t410000\trevoked\t2020-03-02 09:00\n",
			want:   []string{"\x1b[1mKID ", "\x1b[32mactive\x1b[0m", "\x1b[31mrevoked\x1b[0m"},
		},
		{
			name:   "empty cells and a pending row",
			header: []string{"ID", "HOST ← ISSUER", "STATE", "TERMS"},
			rows:   [][]any{{"410000-330000", "410000 ← 330000", "active", "colors=all"}, {"", "  pending", "proposed by 330000", ""}, {"", "", "suspended", "x"}},
			legacy: "ID\tHOST ← ISSUER\tSTATE\tTERMS\n410000-330000\t410000 ← 330000\tactive\tcolors=all\n\t  pending\tproposed by 330000\t\n\t\tsuspended\tx\n",
			want:   []string{"\x1b[33msuspended\x1b[0m", "\x1b[32mactive\x1b[0m"},
		},
		{
			name:   "numbers, booleans and Chinese",
			header: []string{"NAME", "VOTER", "N"},
			rows:   [][]any{{"浙江", true, 1}, {"Henan", false, 12345}},
			legacy: "NAME\tVOTER\tN\n浙江\ttrue\t1\nHenan\tfalse\t12345\n",
		},
		{
			name:   "no header",
			rows:   [][]any{{"node", "x"}, {"requests", int64(7)}},
			legacy: "node\tx\nrequests\t7\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var legacy bytes.Buffer
			tw := tabwriter.NewWriter(&legacy, 0, 2, 2, ' ', 0)
			fmt.Fprint(tw, tt.legacy)
			if err := tw.Flush(); err != nil {
				t.Fatal(err)
			}
			render := func(on bool) string {
				var b bytes.Buffer
				tb := styler{on: on}.table(&b, tt.header...).colorBy(stateSGR, 2)
				for _, r := range tt.rows {
					tb.row(r...)
				}
				if err := tb.flush(); err != nil {
					t.Fatal(err)
				}
				return b.String()
			}
			plain, colour := render(false), render(true)
			if plain != legacy.String() {
				t.Errorf("plain table differs from the tabwriter output:\n got:\n%q\nwant:\n%q", plain, legacy.String())
			}
			if strings.Contains(plain, "\x1b") {
				t.Errorf("plain table has escapes: %q", plain)
			}
			if got := stripANSI(colour); got != plain {
				t.Errorf("coloured table, escapes stripped, differs:\n got:\n%s\nwant:\n%s", got, plain)
			}
			for _, w := range tt.want {
				if !strings.Contains(colour, w) {
					t.Errorf("coloured table lacks %q:\n%q", w, colour)
				}
			}
		})
	}
}

// TestTableSections: a blank row and a second header, as bench prints.
func TestTableSections(t *testing.T) {
	var plain, colour bytes.Buffer
	for _, c := range []struct {
		b  *bytes.Buffer
		on bool
	}{{&plain, false}, {&colour, true}} {
		tb := styler{on: c.on}.table(c.b).colorBy(stateSGR, 0)
		tb.row("requests", 10)
		tb.row()
		tb.header("OUTCOME", "REQUESTS", "SHARE")
		tb.row("PASS", 6, "60.0%")
		tb.row("REJECT", 4, "40.0%")
		if err := tb.flush(); err != nil {
			t.Fatal(err)
		}
	}
	want := "requests  10\n\nOUTCOME  REQUESTS  SHARE\nPASS     6         60.0%\nREJECT   4         40.0%\n"
	if plain.String() != want {
		t.Fatalf("got:\n%q\nwant:\n%q", plain.String(), want)
	}
	if stripANSI(colour.String()) != want || !strings.Contains(colour.String(), "\x1b[1mOUTCOME") || !strings.Contains(colour.String(), "\x1b[31mREJECT\x1b[0m") {
		t.Fatalf("coloured:\n%q", colour.String())
	}
}

// TestTableCleansControlCharacters: with colour on, text from the node
// cannot carry its own escapes into the terminal or shift the columns.
func TestTableCleansControlCharacters(t *testing.T) {
	var b bytes.Buffer
	tb := styler{on: true}.table(&b, "ID", "NAME")
	tb.row("1", "evil\x1b]0;pwned\x07name")
	tb.row("2", "nul\x00here")
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	out := stripANSI(b.String())
	if strings.ContainsAny(out, "\x1b\x07\x00") {
		t.Fatalf("control characters got through: %q", out)
	}
	if !strings.Contains(out, "evil\uFFFD]0;pwned\uFFFDname") {
		t.Fatalf("%q", out)
	}
}

// bannerCases are decisions for every outcome, in the shapes a node sends.
func bannerCases() []struct {
	file string
	d    *roamv1.Decision
} {
	at := timestamppb.New(time.Date(2020, 3, 2, 9, 0, 0, 0, clock.CST))
	return []struct {
		file string
		d    *roamv1.Decision
	}{
		{"pass", &roamv1.Decision{Outcome: roamv1.Outcome_OUTCOME_PASS, Host: "110000", Issuer: "330000", Color: "green", AgreementId: "hub/110000-330000",
			PolicyVersion: "110000-2020-03-18.1", RegistryIndex: 42, EvaluatedAt: at,
			Reasons: []*roamv1.Reason{{Code: "status_confirmed", Message: "330000 confirms green, status version 3"}}}},
		{"quarantine_7d", &roamv1.Decision{Outcome: roamv1.Outcome_OUTCOME_QUARANTINE_7D, Host: "410000", Issuer: "330000", Color: "yellow", AgreementId: "410000-330000",
			PolicyVersion: "410000-2020-02-28.1", RegistryIndex: 43, EvaluatedAt: at,
			Reasons: []*roamv1.Reason{{Code: "policy_rule", Message: "410000-2020-02-28.1 rule yellow_quarantine: yellow code: 7-day quarantine", MessageZh: "410000-2020-02-28.1 规则 yellow_quarantine：黄码：隔离7天"}}}},
		{"quarantine_14d", &roamv1.Decision{Outcome: roamv1.Outcome_OUTCOME_QUARANTINE_14D, Host: "410000", Issuer: "330000", Color: "red", AgreementId: "410000-330000",
			PolicyVersion: "410000-2020-02-28.1", RegistryIndex: 44, EvaluatedAt: at,
			Reasons: []*roamv1.Reason{{Code: "status_changed", Message: "330000 reports red since 2020-03-01 (code says green)"}, {Code: "policy_rule", Message: "410000-2020-02-28.1 rule red: 14 days"}}}},
		{"test_required", &roamv1.Decision{Outcome: roamv1.Outcome_OUTCOME_TEST_REQUIRED, Host: "110000", Issuer: "XX-AT", AgreementId: "110000-XX-AT",
			PolicyVersion: "110000-2021-07-01.1", RegistryIndex: 90, EvaluatedAt: at,
			Reasons: []*roamv1.Reason{{Code: "policy_rule", Message: "110000-2021-07-01.1 rule vaccination_incomplete: a PCR test is needed"}}}},
		{"reject", &roamv1.Decision{Outcome: roamv1.Outcome_OUTCOME_REJECT, Host: "120000", Issuer: "330000", RegistryIndex: 45, EvaluatedAt: at,
			Reasons: []*roamv1.Reason{{Code: "no_agreement", Message: "120000 has no agreement recognising 330000"}, {Code: "from_a_newer_node", Message: "a code this roamctl does not know"}}}},
		{"undecided", &roamv1.Decision{Outcome: roamv1.Outcome_OUTCOME_UNDECIDED, Host: "410000", RegistryIndex: 46, EvaluatedAt: at,
			Reasons: []*roamv1.Reason{{Code: "registry_stale", Message: "last heard from the leader 9000ms ago (max 5000ms)"}}}},
	}
}

// TestDecisionBannerGolden: the verify banner for every outcome, without
// a terminal (no escapes) and with colour (go test ./cmd/roamctl -run
// DecisionBanner -update rewrites testdata/verify-*.golden).
func TestDecisionBannerGolden(t *testing.T) {
	zh := map[string]string{"pass": "PASS  通行", "quarantine_7d": "QUARANTINE_7D  隔离7天", "quarantine_14d": "QUARANTINE_14D  隔离14天",
		"test_required": "TEST_REQUIRED  需核酸检测", "reject": "REJECT  拒绝", "undecided": "UNDECIDED  无法判定"}
	bg := map[string]string{"pass": "42", "quarantine_7d": "43", "quarantine_14d": "101", "test_required": "44", "reject": "41", "undecided": "47"}
	var allColour bytes.Buffer
	for _, c := range bannerCases() {
		t.Run(c.file, func(t *testing.T) {
			var plain, colour bytes.Buffer
			if err := writeDecision(&plain, c.d, styler{}); err != nil {
				t.Fatal(err)
			}
			if err := writeDecision(&colour, c.d, styler{on: true}); err != nil {
				t.Fatal(err)
			}
			allColour.Write(colour.Bytes())
			if strings.Contains(plain.String(), "\x1b") {
				t.Fatalf("banner without a terminal has escapes:\n%q", plain.String())
			}
			if got := trimLines(stripANSI(colour.String())); got != plain.String() {
				t.Fatalf("coloured banner, escapes stripped, differs:\n got:\n%s\nwant:\n%s", got, plain.String())
			}
			if !strings.Contains(plain.String(), "  "+zh[c.file]+"\n") {
				t.Errorf("banner lacks %q", zh[c.file])
			}
			if !strings.Contains(colour.String(), ";"+bg[c.file]+"m  "+zh[c.file]) {
				t.Errorf("coloured banner lacks background %s:\n%q", bg[c.file], colour.String())
			}
			compareGolden(t, "verify-"+c.file+".golden", plain.Bytes())
		})
	}
	compareGolden(t, "verify-banner-color.golden", allColour.Bytes())
}

// TestDecisionBannerContent: each reason shows its code, its Chinese and
// English titles and the message; then agreement, policy, registry index.
func TestDecisionBannerContent(t *testing.T) {
	var b bytes.Buffer
	d := bannerCases()[2].d // QUARANTINE_14D, two reasons
	if err := writeDecision(&b, d, styler{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"  status_changed  签发地状态已变化 · Issuer reports a changed status\n",
		"                  330000 reports red since 2020-03-01 (code says green)\n",
		"  policy_rule     本地政策规则 · Local policy rule\n",
		"agreement       410000-330000\npolicy          410000-2020-02-28.1\nregistry index  44\n",
		"  410000 ← 330000, colour red, evaluated at 2020-03-02T09:00:00+08:00\n",
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("banner lacks %q:\n%s", w, b.String())
		}
	}
	// A reason code this roamctl does not know is shown as itself.
	b.Reset()
	if err := writeDecision(&b, bannerCases()[4].d, styler{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "from_a_newer_node  from_a_newer_node · from_a_newer_node") {
		t.Errorf("unknown code:\n%s", b.String())
	}
}

// compareGolden compares got with testdata/file, or rewrites it with -update.
func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after checking):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// greenCodeNode starts a node (no rate limit) whose backend knows a green
// resident, and returns its address and a code issued for that resident.
func greenCodeNode(t *testing.T) (addr, code string) {
	t.Helper()
	const green = "330106198801011234"
	addr = benchNode(t, node.RateLimit{Disabled: true}, green)
	code, errText := runOut(t, "--addr", addr, "code", "issue", "--resident", green)
	if errText != "" {
		t.Fatal(errText)
	}
	return addr, strings.TrimSpace(code)
}

// TestOutputAgainstNode runs the reading commands and verify against a
// real node: without a terminal there are no escapes; --color always adds
// them and nothing else; --json is never coloured.
func TestOutputAgainstNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	addr, code := greenCodeNode(t)
	cmds := [][]string{
		{"jurisdictions"}, {"keys"}, {"agreements"}, {"members"}, {"agreement", "matrix"}, {"audit", "log"},
		{"verify", "--checkpoint", "metro", code},
		{"verify", "--host", "410000", "--explain", code},
	}
	for _, args := range cmds {
		t.Run(strings.Join(args[:min(len(args), 2)], " "), func(t *testing.T) {
			base := append([]string{"--addr", addr}, args...)
			plain, errText := runOut(t, base...)
			if errText != "" {
				t.Fatal(errText)
			}
			if strings.Contains(plain, "\x1b") {
				t.Fatalf("output to a non-terminal has escapes:\n%q", plain)
			}
			t.Setenv("NO_COLOR", "1")
			if out, _ := runOut(t, base...); strings.Contains(out, "\x1b") {
				t.Fatalf("NO_COLOR: escapes:\n%q", out)
			}
			colour, errText := runOut(t, append([]string{"--color", "always"}, base...)...)
			if errText != "" {
				t.Fatal(errText)
			}
			if !strings.Contains(colour, "\x1b[") {
				t.Fatalf("--color always: no escapes:\n%s", colour)
			}
			if got := trimLines(stripANSI(colour)); got != trimLines(plain) {
				t.Fatalf("--color always, escapes stripped, differs:\n got:\n%s\nwant:\n%s", got, plain)
			}
			js, errText := runOut(t, append([]string{"--color", "always", "--json"}, base...)...)
			if errText != "" {
				t.Fatal(errText)
			}
			if strings.Contains(js, "\x1b") || !json.Valid([]byte(js)) {
				t.Fatalf("--json --color always: not plain JSON:\n%q", js)
			}
		})
	}

	// The banner, end to end.
	out, _ := runOut(t, "--addr", addr, "verify", "--checkpoint", "metro", code)
	for _, w := range []string{"  PASS  通行\n", "own_jurisdiction  本地签发的码 · Code issued by this jurisdiction", "\nagreement       -\n", "\nregistry index  "} {
		if !strings.Contains(out, w) {
			t.Errorf("verify output lacks %q:\n%s", w, out)
		}
	}
	out, _ = runOut(t, "--addr", addr, "verify", "--host", "410000", code)
	if !strings.Contains(out, "  REJECT  拒绝\n") || !strings.Contains(out, "no_agreement  无互认协议 · No recognition agreement") {
		t.Errorf("verify at 410000:\n%s", out)
	}

	// Matrix and audit verify print JSON too.
	js, errText := runOut(t, "--addr", addr, "--json", "agreement", "matrix")
	var m struct {
		Hosts   []string   `json:"hosts"`
		Issuers []string   `json:"issuers"`
		Cells   [][]string `json:"cells"`
	}
	if errText != "" || json.Unmarshal([]byte(js), &m) != nil || len(m.Hosts) != 2 || len(m.Issuers) != 3 || m.Cells[0][0] != "self" {
		t.Errorf("matrix --json: %s %q %+v", errText, js, m)
	}
	js, errText = runOut(t, "--addr", addr, "--json", "audit", "verify")
	var v struct {
		OK      bool `json:"ok"`
		Records int  `json:"records"`
	}
	if errText != "" || json.Unmarshal([]byte(js), &v) != nil || !v.OK || v.Records == 0 {
		t.Errorf("audit verify --json: %s %q", errText, js)
	}
}

// TestJSONWithoutNode: commands that write files print JSON with --json.
func TestJSONWithoutNode(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "nat.jwk")
	pub, errText := runOut(t, "key", "generate", "--out", priv)
	if errText != "" {
		t.Fatal(errText)
	}
	pubFile := filepath.Join(dir, "nat.pub.jwk")
	if err := os.WriteFile(pubFile, []byte(pub), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		keys []string
	}{
		{[]string{"tls", "ca", "--out-dir", filepath.Join(dir, "ca")}, []string{"ca", "ca_key", "valid_for_s"}},
		{[]string{"tls", "issue", "--ca-dir", filepath.Join(dir, "ca"), "--jurisdiction", "410000", "--host", "127.0.0.1", "--out-dir", filepath.Join(dir, "node")}, []string{"ca", "cert", "key"}},
		{[]string{"--admin-key", priv, "genesis", "--national-jwk", pubFile, "--out", filepath.Join(dir, "genesis.json")}, []string{"command_id", "national_admins", "quorum", "signatures", "out", "valid_for_s"}},
		{[]string{"--admin-key", priv, "cluster", "join-token", "--jurisdiction", "410000", "--raft", "127.0.0.1:7421", "--grpc", "127.0.0.1:7411", "--out", filepath.Join(dir, "join.json")}, []string{"node_id", "out"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:2], " "), func(t *testing.T) {
			out, errText := runOut(t, append([]string{"--json", "--color", "always"}, tt.args...)...)
			if errText != "" {
				t.Fatal(errText)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("not JSON: %v\n%q", err, out)
			}
			for _, k := range tt.keys {
				if _, ok := m[k]; !ok {
					t.Errorf("%q lacks %q", out, k)
				}
			}
		})
	}
}

// TestPrintJSONStable: protojson varies its whitespace on purpose; roamctl
// --json re-indents, so scripts and diffs see "key": value with one space.
func TestPrintJSONStable(t *testing.T) {
	var b bytes.Buffer
	if err := printJSON(&b, &roamv1.GetClusterResponse{NodeId: "330000", Servers: []*roamv1.ClusterServer{{Id: "330000", Voter: true}}}); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"servers\": [\n    {\n      \"id\": \"330000\",\n      \"voter\": true\n    }\n  ],\n  \"node_id\": \"330000\"\n}\n"
	if b.String() != want {
		t.Fatalf("printJSON = %q, want %q", b.String(), want)
	}
}
