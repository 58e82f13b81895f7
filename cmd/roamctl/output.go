package main

// Output for people (issue 7 §4): aligned tables, colour only where it
// helps, and the decision banner of roamctl verify. Every table roamctl
// prints goes through table, the banner through writeDecision, and the
// colour decision through globals.styler; --json output uses none of them.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/federation/recognition"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// colorMode is the value of the global --color flag: auto, always or never.
type colorMode string

const (
	colorAuto   colorMode = "auto"   // colour when stdout is a terminal and NO_COLOR is unset or empty
	colorAlways colorMode = "always" // colour even into a pipe or file (not --json)
	colorNever  colorMode = "never"  // no ANSI escapes at all
)

// String implements pflag.Value.
func (m *colorMode) String() string { return string(*m) }

// Set implements pflag.Value; it refuses anything but auto, always, never.
func (m *colorMode) Set(s string) error {
	switch v := colorMode(s); v {
	case colorAuto, colorAlways, colorNever:
		*m = v
		return nil
	}
	return fmt.Errorf("want auto, always or never")
}

// Type implements pflag.Value (the word --help shows).
func (m *colorMode) Type() string { return "when" }

// colorEnabled decides whether output gets ANSI colour. --json output is
// never coloured; never and always are taken as said; auto colours only a
// terminal, and not when NO_COLOR is set to a non-empty value
// (https://no-color.org). An explicit --color always wins over NO_COLOR, as
// no-color.org asks of per-invocation flags.
func colorEnabled(mode colorMode, tty, asJSON bool, noColor string) bool {
	switch {
	case asJSON || mode == colorNever:
		return false
	case mode == colorAlways:
		return true
	}
	return tty && noColor == ""
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// styler paints text with ANSI SGR sequences, or leaves it alone when
// colour is off (the zero value).
type styler struct {
	on bool
	// tty: stdout is a terminal, so text from the node is cleaned of
	// control characters whether or not colour is on (found by review: a
	// code's own iss reached the terminal raw under NO_COLOR).
	tty bool
}

// styler is the colour decision for cmd's standard output.
func (g *globals) styler(cmd *cobra.Command) styler {
	tty := isTerminal(cmd.OutOrStdout())
	return styler{on: colorEnabled(g.color, tty, g.json, os.Getenv("NO_COLOR")), tty: tty}
}

// SGR parameters used by roamctl.
const (
	sgrBold   = "1"
	sgrRed    = "31"
	sgrGreen  = "32"
	sgrYellow = "33"
	sgrBlue   = "34"
	sgrCyan   = "36"
	sgrGrey   = "90"
)

// paint wraps text in the SGR sequence sgr ("1;32") and a reset. With
// colour off, or an empty sgr or text, it returns text unchanged.
func (s styler) paint(sgr, text string) string {
	if !s.on || sgr == "" || text == "" {
		return text
	}
	return "\x1b[" + sgr + "m" + text + "\x1b[0m"
}

// clean makes text from the node safe to print: on a terminal or with
// colour on, control characters (ESC, NUL, …) become U+FFFD so a registry
// entry, a reason message or a code's own claims cannot inject terminal
// sequences or break the table layout. Into a pipe or file without colour
// the text is printed as is.
func (s styler) clean(text string) string {
	if !s.on && !s.tty {
		return text
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, text)
}

// stateSGR colours the state words roamctl prints in tables: agreement
// and key states, audit results, pipeline stage results, matrix cells.
// Words it does not know stay plain.
func stateSGR(word string) string {
	switch word {
	case "active", "accepted", "true", "VALID", "PASS":
		return sgrGreen
	case "proposed", "suspended":
		return sgrYellow
	case "revoked", "terminated", "REJECTED", "false", "REJECT":
		return sgrRed
	case "retired", "expired", "self", "·", "unspecified":
		return sgrGrey
	case "hub":
		return sgrCyan
	}
	return ""
}

// table prints rows aligned in columns with text/tabwriter (minwidth 0,
// padding 2, spaces): the same bytes roamctl has always printed when
// colour is off. With colour on, header rows are bold and the columns
// given to colorBy are coloured cell by cell, after alignment, so escapes
// never count towards a column's width. Build with styler.table, add rows,
// then flush once.
type table struct {
	w     io.Writer
	st    styler
	rows  []tableRow
	byCol map[int]func(cell string) string
}

type tableRow struct {
	cells  []string
	header bool
}

// table starts a table on w with one header row (none if header is empty).
func (s styler) table(w io.Writer, header ...string) *table {
	t := &table{w: w, st: s, byCol: map[int]func(string) string{}}
	if len(header) > 0 {
		t.header(header...)
	}
	return t
}

// header adds a header row (bold with colour on), e.g. the title row of a
// second section.
func (t *table) header(cells ...string) {
	t.rows = append(t.rows, tableRow{cells: cells, header: true})
}

// row adds a row; each cell is printed with fmt.Sprint. The last cell is
// not padded (as tabwriter's trailing text); a row with no cells is a blank
// line, which also ends the current column block.
func (t *table) row(cells ...any) {
	s := make([]string, len(cells))
	for i, c := range cells {
		s[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, tableRow{cells: s})
}

// colorBy colours the cells of the given columns (0-based) of non-header
// rows by f's SGR for the cell's text ("" leaves it plain).
func (t *table) colorBy(f func(cell string) string, cols ...int) *table {
	for _, c := range cols {
		t.byCol[c] = f
	}
	return t
}

// flush writes the table.
func (t *table) flush() error {
	if !t.st.on {
		tw := tabwriter.NewWriter(t.w, 0, 2, 2, ' ', 0)
		for _, r := range t.rows {
			cells := r.cells
			if t.st.tty {
				cells = make([]string, len(r.cells))
				for j, c := range r.cells {
					cells[j] = t.st.clean(c)
				}
			}
			if _, err := io.WriteString(tw, strings.Join(cells, "\t")+"\n"); err != nil {
				return err
			}
		}
		return tw.Flush()
	}
	// Align with NUL padding, then find each cell again (its text, then a
	// run of NULs) and paint it; NULs become the spaces they stand for.
	rows := make([][]string, len(t.rows))
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 2, 2, 0, 0)
	for i, r := range t.rows {
		rows[i] = make([]string, len(r.cells))
		for j, c := range r.cells {
			rows[i][j] = t.st.clean(c)
		}
		if _, err := io.WriteString(tw, strings.Join(rows[i], "\t")+"\n"); err != nil {
			return err
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	var out strings.Builder
	for i, r := range t.rows {
		line := strings.TrimSuffix(lines[i], "\n")
		out.WriteString(t.paintLine(line, rows[i], r.header))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

// paintLine colours one aligned line whose cells are cells.
func (t *table) paintLine(line string, cells []string, header bool) string {
	if header {
		return t.st.paint(sgrBold, strings.ReplaceAll(line, "\x00", " "))
	}
	var b strings.Builder
	pos := 0
	for j, c := range cells {
		if !strings.HasPrefix(line[pos:], c) {
			// Never expected; print the line plain rather than misplace colour.
			return strings.ReplaceAll(line, "\x00", " ")
		}
		if f := t.byCol[j]; f != nil {
			b.WriteString(t.st.paint(f(c), c))
		} else {
			b.WriteString(c)
		}
		pos += len(c)
		n := len(line[pos:]) - len(strings.TrimLeft(line[pos:], "\x00"))
		b.WriteString(strings.Repeat(" ", n))
		pos += n
	}
	b.WriteString(strings.ReplaceAll(line[pos:], "\x00", " "))
	return b.String()
}

// outcomeStyle is how the verify banner shows an outcome: the banner's
// SGR (background) and the rule lines' SGR (foreground). Its Chinese name
// is recognition.OutcomeZH.
type outcomeStyle struct {
	banner, rule string
}

var outcomeStyles = map[roamv1.Outcome]outcomeStyle{
	roamv1.Outcome_OUTCOME_PASS:           {"1;30;42", sgrGreen},
	roamv1.Outcome_OUTCOME_QUARANTINE_7D:  {"1;30;43", sgrYellow},
	roamv1.Outcome_OUTCOME_QUARANTINE_14D: {"1;30;101", "91"},
	roamv1.Outcome_OUTCOME_TEST_REQUIRED:  {"1;97;44", sgrBlue},
	roamv1.Outcome_OUTCOME_REJECT:         {"1;97;41", sgrRed},
	roamv1.Outcome_OUTCOME_UNDECIDED:      {"1;30;47", sgrGrey},
}

// bannerWidth is the width of the verify banner in terminal columns.
const bannerWidth = 40

// writeDecision prints the verify banner for d:
//
//	========================================
//	  PASS  通行
//	========================================
//	  330000 ← 330000, colour green, evaluated at 2020-03-02T09:00:00+08:00
//	reasons
//	  own_jurisdiction  本地签发的码 · Code issued by this jurisdiction
//	                    330000 recognises its own codes; no agreement is needed
//	agreement       -
//	policy          330000-2020-02-28.1
//	registry index  16
//
// With colour on, the outcome line is a coloured block (green PASS, yellow
// QUARANTINE_7D, red QUARANTINE_14D and REJECT, blue TEST_REQUIRED, grey
// UNDECIDED) padded to bannerWidth columns, and reason codes are bold;
// otherwise the same text without escapes (and without the padding).
// Reason titles come from reason.TextOf, so a code unknown to this roamctl
// shows as itself.
func writeDecision(w io.Writer, d *roamv1.Decision, st styler) error {
	name := recognition.OutcomeName(d.GetOutcome())
	sty, ok := outcomeStyles[d.GetOutcome()]
	if !ok {
		sty = outcomeStyle{banner: "1;7"}
	}
	zh := recognition.OutcomeZH(d.GetOutcome())
	if zh == "" {
		zh = "未知结果"
	}
	var b strings.Builder
	rule := strings.Repeat("=", bannerWidth)
	title := "  " + name + "  " + zh
	if st.on {
		title += strings.Repeat(" ", max(0, bannerWidth-displayWidth(title)))
	}
	fmt.Fprintf(&b, "%s\n%s\n%s\n", st.paint(sty.rule, rule), st.paint(sty.banner, title), st.paint(sty.rule, rule))
	issuer := d.GetIssuer()
	if issuer == "" {
		issuer = "?"
	}
	line := fmt.Sprintf("  %s ← %s", st.clean(dash(d.GetHost())), st.clean(issuer))
	if c := d.GetColor(); c != "" {
		line += ", colour " + st.clean(c)
	}
	if d.GetEvaluatedAt() != nil {
		line += ", evaluated at " + d.GetEvaluatedAt().AsTime().In(clock.CST).Format(time.RFC3339)
	}
	b.WriteString(line + "\n")
	if rs := d.GetReasons(); len(rs) > 0 {
		b.WriteString("reasons\n")
		cw := 0 // the widest code, so titles and messages line up
		for _, r := range rs {
			cw = max(cw, displayWidth(st.clean(r.GetCode())))
		}
		for _, r := range rs {
			code := st.clean(r.GetCode())
			t := reason.TextOf(reason.Code(r.GetCode()))
			pad := strings.Repeat(" ", cw-displayWidth(code)+2)
			fmt.Fprintf(&b, "  %s%s%s · %s\n", st.paint(sgrBold, code), pad, st.clean(t.ZH), st.clean(t.EN))
			if m := r.GetMessageZh(); m != "" {
				fmt.Fprintf(&b, "%s%s\n", strings.Repeat(" ", cw+4), st.clean(m))
			}
			if m := r.GetMessage(); m != "" {
				fmt.Fprintf(&b, "%s%s\n", strings.Repeat(" ", cw+4), st.clean(m))
			}
		}
	}
	fmt.Fprintf(&b, "agreement       %s\npolicy          %s\nregistry index  %d\n",
		st.clean(dash(d.GetAgreementId())), st.clean(dash(d.GetPolicyVersion())), d.GetRegistryIndex())
	_, err := io.WriteString(w, b.String())
	return err
}

// displayWidth is s's width in terminal columns, counting East Asian wide
// characters (CJK, Hangul, full-width forms) as two.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x1100 && (r <= 0x115F || (r >= 0x2E80 && r <= 0xA4CF) || (r >= 0xAC00 && r <= 0xD7A3) ||
			(r >= 0xF900 && r <= 0xFAFF) || (r >= 0xFE30 && r <= 0xFE4F) || (r >= 0xFF00 && r <= 0xFF60) || (r >= 0xFFE0 && r <= 0xFFE6) ||
			(r >= 0x20000 && r <= 0x3FFFD)) {
			n++
		}
	}
	return n
}
