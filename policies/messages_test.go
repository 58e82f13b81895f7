package policies

import (
	"strings"
	"testing"
)

// TestShippedPoliciesSpeakChinese: every rule of every shipped policy, and
// its default, has a Chinese message beside the English one, so a
// checkpoint banner never shows a policy reason in English only (issue 7
// §4).
func TestShippedPoliciesSpeakChinese(t *testing.T) {
	set, err := LoadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	all := []*Policy{set.Default()}
	for _, j := range set.Jurisdictions() {
		p, _ := set.Lookup(j)
		all = append(all, p)
	}
	for _, p := range all {
		if p.defaultMessageZH == "" {
			t.Errorf("%s: default_message_zh missing", p.Source)
		}
		for _, r := range p.rules {
			if r.messageZH == "" || r.message == "" {
				t.Errorf("%s rule %s: message %q, message_zh %q; give both", p.Source, r.name, r.message, r.messageZH)
			}
		}
	}
}

func TestMessageZHCarried(t *testing.T) {
	p, err := LoadBytes("410000.yaml", []byte(`jurisdiction: "410000"
version: "t1"
rules:
  - name: green_pass
    when: 'code.color == "green"'
    outcome: PASS
    message: "green code"
    message_zh: "绿码：通行"
default_outcome: UNDECIDED
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		color, en, zh string
	}{
		{"green", "green code", "绿码：通行"},
		{"red", "no policy rule matched", "没有匹配的政策规则"},
	} {
		res, err := p.Evaluate(Input{Host: "410000", Issuer: "330000", Checkpoint: "metro", Color: tc.color})
		if err != nil {
			t.Fatal(err)
		}
		if res.Message != tc.en || res.MessageZH != tc.zh {
			t.Errorf("%s: %q / %q, want %q / %q", tc.color, res.Message, res.MessageZH, tc.en, tc.zh)
		}
	}
	if _, err := LoadBytes("410000.yaml", []byte("jurisdiction: \"410000\"\nversion: v\nrules: [{name: a, when: 'true', outcome: PASS, message_cn: x}]\n")); err == nil || !strings.Contains(err.Error(), "message_zh") {
		t.Errorf("unknown field error should list message_zh: %v", err)
	}
}
