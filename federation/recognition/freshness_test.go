package recognition

import (
	"context"
	"testing"
	"time"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestRegistryFreshnessGate: decisions carry the replica's staleness, and
// a replica older than MaxStaleness, or one not caught up since start,
// decides nothing that needs the registry (issue 5 §3).
func TestRegistryFreshnessGate(t *testing.T) {
	tests := []struct {
		name      string
		max       time.Duration
		stale     time.Duration
		caughtUp  bool
		payload   string // "" = a valid green code
		want      roamv1.Outcome
		wantFirst string
		wantMs    int64
	}{
		{"fresh leader", time.Hour, 0, true, "", roamv1.Outcome_OUTCOME_PASS, "", 0},
		{"follower within the limit", time.Hour, 59 * time.Minute, true, "", roamv1.Outcome_OUTCOME_PASS, "", 59 * 60 * 1000},
		{"just past the limit", time.Hour, time.Hour + time.Millisecond, true, "", roamv1.Outcome_OUTCOME_UNDECIDED, "registry_stale", 3600001},
		{"no limit configured", 0, 1000 * time.Hour, true, "", roamv1.Outcome_OUTCOME_PASS, "", 3600000000},
		{"not caught up since start", time.Hour, 0, false, "", roamv1.Outcome_OUTCOME_UNDECIDED, "registry_stale", -1},
		{"not caught up, no limit: still undecided", 0, 0, false, "", roamv1.Outcome_OUTCOME_UNDECIDED, "registry_stale", -1},
		{"stale, but not a code at all: the registry is not needed", time.Hour, 2 * time.Hour, true, "hello", roamv1.Outcome_OUTCOME_REJECT, "unsupported_format", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.agree(henan, zhejiangJ, fromHenan, nil)
			w.p.MaxStaleness = tt.max
			w.p.Freshness = func() (time.Duration, bool) { return tt.stale, tt.caughtUp }
			payload := []byte(tt.payload)
			if tt.payload == "" {
				payload, _ = w.code()
			}
			d, st, err := w.p.Verify(context.Background(), Request{Payload: payload, Host: henan, Checkpoint: "metro", At: now})
			if err != nil {
				t.Fatal(err)
			}
			if d.GetOutcome() != tt.want || d.GetRegistryStalenessMs() != tt.wantMs {
				t.Fatalf("outcome %s staleness %dms, want %s %dms (reasons %v)", d.GetOutcome(), d.GetRegistryStalenessMs(), tt.want, tt.wantMs, d.GetReasons())
			}
			if tt.wantFirst != "" && (len(d.GetReasons()) == 0 || d.GetReasons()[0].GetCode() != tt.wantFirst) {
				t.Fatalf("reasons %v, want first %s", d.GetReasons(), tt.wantFirst)
			}
			// The gate runs before anything reads the registry: a stale
			// decision went through no other stage.
			if tt.wantFirst == "registry_stale" && (len(st) != 1 || st[0].GetName() != StageRegistry || st[0].GetOk()) {
				t.Fatalf("stages %v, want only a failed %s stage", stageViews(st), StageRegistry)
			}
		})
	}
}
