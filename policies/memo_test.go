package policies

import (
	"strings"
	"testing"
	"time"
)

// TestMemoTimeDependence: Evaluate and NeedsLiveStatus remember results
// across scans only for policies that never read the time; a policy that
// reads at, code.age_seconds or code as a whole decides afresh every time.
func TestMemoTimeDependence(t *testing.T) {
	cases := []struct {
		name     string
		when     string
		timeFree bool
	}{
		{"colour only", `code.color == "green"`, true},
		{"issuer regex", `code.color == "green" && code.iss.matches("^42[0-9]{4}$")`, true},
		{"status flags", `status.required && !status.checked`, true},
		{"code age", `code.color == "green" && code.age_seconds < 3600`, false},
		{"has code age", `has(code.age_seconds) && code.color == "green"`, false},
		{"evaluation time", `code.color == "green" && at < timestamp("2020-03-02T10:00:00Z")`, false},
		{"code as a whole", `[code][0].age_seconds < 3600 && code.color == "green"`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := strings.Replace(validYAML, `'code.color == "green"'`, "'"+c.when+"'", 1)
			p, err := LoadBytes("410000.yaml", []byte(y))
			if err != nil {
				t.Fatal(err)
			}
			if p.timeFree != c.timeFree {
				t.Fatalf("timeFree = %v, want %v", p.timeFree, c.timeFree)
			}
			early := in("410000", "330000", "green", func(x *Input) { x.AgeSeconds, x.At = 60, at })
			late := in("410000", "330000", "green", func(x *Input) { x.AgeSeconds, x.At = 7200, at.Add(2*time.Hour) })
			for _, x := range []Input{early, late, early, late} {
				got, err := p.Evaluate(x)
				if err != nil {
					t.Fatal(err)
				}
				want, err := p.evaluate(&x)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("age %d at %v: Evaluate = %+v, the rules give %+v", x.AgeSeconds, x.At, got, want)
				}
			}
			if n := p.memo.Len(); (n > 0) != c.timeFree {
				t.Errorf("memo holds %d entries; policy time-free: %v", n, c.timeFree)
			}
		})
	}
}

// TestMemoEmbedded: the embedded policies that decide on codes alone are
// memoised; Beijing's, whose foreign-certificate rules read at, is not;
// and inputs with facts are never memoised.
func TestMemoEmbedded(t *testing.T) {
	s := mustEmbedded(t)
	for host, want := range map[string]bool{"410000": true, "330000": true, "110000": false} {
		if got := s.For(host).timeFree; got != want {
			t.Errorf("%s: timeFree = %v, want %v", host, got, want)
		}
	}
	p := s.For("410000")
	x := in("410000", "330000", "green", func(x *Input) { x.Facts = Facts{Kind: "vaccination"} })
	if _, ok := p.memoKeyOf(&x, false); ok {
		t.Error("an input with facts got a memo key")
	}
}

// BenchmarkEvaluateMemo is the repeat-scan cost of a time-free policy.
func BenchmarkEvaluateMemo(b *testing.B) {
	p := mustEmbedded(b).For("410000")
	x := in("410000", "330000", "green")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Evaluate(x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluateRules is the same input through the CEL rules.
func BenchmarkEvaluateRules(b *testing.B) {
	p := mustEmbedded(b).For("410000")
	x := in("410000", "330000", "green")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.evaluate(&x); err != nil {
			b.Fatal(err)
		}
	}
}
