package policies

import (
	"errors"
	"testing"
)

// FuzzLoadBytes feeds arbitrary bytes to the policy decoder. Loading must
// never panic; it either fails with a *LoadError or yields a policy whose
// evaluation never panics and only produces known outcomes. The seed corpus
// is in testdata/fuzz/FuzzLoadBytes (shipped files and broken variants).
func FuzzLoadBytes(f *testing.F) {
	f.Add([]byte(validYAML))
	inputs := []Input{
		in("410000", "330000", "green"),
		in("410000", "420000", "red", statusUnreachable),
		in("410000", "", "", checkpoint(CheckpointMetro)),
		{Checkpoint: CheckpointVenue}, // zero time, zero everything
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The file name decides which jurisdiction is accepted; try both kinds.
		for _, name := range []string{"410000.yaml", "default.yaml"} {
			p, err := LoadBytes(name, data)
			if err != nil {
				var le *LoadError
				if !errors.As(err, &le) || !errors.Is(err, ErrInvalidPolicy) || le.File != name {
					t.Fatalf("LoadBytes(%s) error %T %v is not a *LoadError for the file", name, err, err)
				}
				continue
			}
			if p.Version == "" || !ValidOutcome(p.DefaultOutcome()) {
				t.Fatalf("loaded policy without version or with bad default outcome: %+v", p)
			}
			seen := map[string]bool{}
			for _, r := range p.RuleNames() {
				if seen[r] {
					t.Fatalf("duplicate rule %q accepted", r)
				}
				seen[r] = true
			}
			for _, x := range inputs {
				if _, err := p.NeedsLiveStatus(x); err != nil && !errors.Is(err, ErrEvaluation) {
					t.Fatalf("NeedsLiveStatus: unexpected error %v", err)
				}
				res, err := p.Evaluate(x)
				if err != nil {
					if !errors.Is(err, ErrEvaluation) {
						t.Fatalf("Evaluate: unexpected error %v", err)
					}
					continue
				}
				if !ValidOutcome(res.Outcome) || (res.Rule != "" && !seen[res.Rule]) {
					t.Fatalf("Evaluate = %+v", res)
				}
			}
		}
	})
}
