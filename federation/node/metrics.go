package node

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/roam-federation/roam/federation/recognition"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// labelKey is one combination of verification labels.
type labelKey struct{ host, issuer, format, outcome string }

// maxLabelSets bounds the cached label sets (400 issuers × 5 formats × 6
// outcomes fit); beyond it they are built per decision.
const maxLabelSets = 16384

// startMetrics makes the node's instruments (issue 7 §1), exported for
// Prometheus on the admin listener's /metrics:
//   - roam_verifications_total{host,issuer,format,outcome} and
//     roam_verify_duration_seconds (histogram), from every decision;
//   - roam_raft_state (0 follower, 1 candidate, 2 leader, 3 shutdown),
//     roam_raft_term, roam_raft_commit_index, roam_raft_applied_index,
//     roam_raft_last_contact_seconds (0 on the leader);
//   - roam_registry_entries{kind} (jurisdictions, keys, agreements, …);
//   - roam_verify_cache_hits_total, roam_verify_cache_misses_total;
//   - and otelgrpc's rpc_server_* / rpc_client_* (peer call latency and
//     errors by method and status).
//
// Errors come from instrument registration only (bad names).
func (n *Node) startMetrics() error {
	m := n.metrics.Provider.Meter("github.com/roam-federation/roam/federation/node")
	verifications, err := m.Int64Counter("roam.verifications", metric.WithUnit("{verification}"),
		metric.WithDescription("decisions made, by host, issuer, format and outcome"))
	if err != nil {
		return err
	}
	latency, err := m.Float64Histogram("roam.verify.duration", metric.WithUnit("s"),
		metric.WithDescription("time to decide on one presented code, live status queries included"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
	if err != nil {
		return err
	}
	// A rejected code's issuer is only what it claims: it is labelled only
	// when a signature proved it (else "unverified") and it is registered
	// (else "unregistered"), so junk cannot make series. The
	// label sets are built once per combination (at most maxLabelSets).
	var sets sync.Map // labelKey → metric.MeasurementOption
	var nsets atomic.Int64
	n.pipe.Observe = func(ctx context.Context, d *roamv1.Decision, elapsed time.Duration) {
		k := labelKey{host: d.GetHost(), issuer: d.GetIssuer(), format: d.GetFormat(), outcome: recognition.OutcomeName(d.GetOutcome())}
		switch {
		case k.issuer == "":
		case !recognition.IssuerVerified(d):
			// Only what a crafted code claims: never a label (found by
			// review: forged codes naming every registered issuer made
			// N² series with any host).
			k.issuer = "unverified"
		case !n.fsm.HasJurisdiction(k.issuer):
			k.issuer = "unregistered"
		}
		opt, ok := sets.Load(k)
		if !ok {
			opt = metric.WithAttributeSet(attribute.NewSet(attribute.String("host", k.host), attribute.String("issuer", k.issuer),
				attribute.String("format", k.format), attribute.String("outcome", k.outcome)))
			if nsets.Add(1) <= maxLabelSets {
				sets.Store(k, opt)
			}
		}
		o := opt.(metric.MeasurementOption)
		verifications.Add(ctx, 1, o)
		latency.Record(ctx, elapsed.Seconds(), o)
	}

	var errs []error
	gauge := func(name, desc string) metric.Int64ObservableGauge {
		g, gerr := m.Int64ObservableGauge(name, metric.WithDescription(desc))
		errs = append(errs, gerr)
		return g
	}
	state := gauge("roam.raft.state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown")
	term := gauge("roam.raft.term", "current Raft term")
	commit := gauge("roam.raft.commit_index", "Raft commit index")
	applied := gauge("roam.raft.applied_index", "index of the last entry applied to the registry")
	entries := gauge("roam.registry.entries", "registry entries by kind")
	contact, cerr := m.Float64ObservableGauge("roam.raft.last_contact", metric.WithUnit("s"), metric.WithDescription("time since this node last heard from the Raft leader (0 on the leader)"))
	hits, herr := m.Int64ObservableCounter("roam.verify_cache.hits", metric.WithDescription("scans answered from the verified-code cache"))
	misses, merr := m.Int64ObservableCounter("roam.verify_cache.misses", metric.WithDescription("scans whose signature was checked"))
	for _, e := range append(errs, cerr, herr, merr) {
		if e != nil {
			return e
		}
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := n.raft.State()
		o.ObserveInt64(state, int64(st))
		if t, perr := strconv.ParseInt(n.raft.Stats()["term"], 10, 64); perr == nil {
			o.ObserveInt64(term, t)
		}
		o.ObserveInt64(commit, int64(n.raft.CommitIndex()))
		o.ObserveInt64(applied, int64(n.fsm.AppliedIndex()))
		last := 0.0
		if st != raft.Leader {
			if lc := n.raft.LastContact(); !lc.IsZero() {
				last = time.Since(lc).Seconds()
			}
		}
		o.ObserveFloat64(contact, last)
		z := n.fsm.Sizes()
		for kind, v := range map[string]int{"jurisdictions": z.Jurisdictions, "keys": z.Keys, "agreements": z.Agreements,
			"members": z.Members, "admin_keys": z.AdminKeys, "revoked_codes": z.RevokedCodes, "audit_records": z.AuditRecords} {
			o.ObserveInt64(entries, int64(v), metric.WithAttributes(attribute.String("kind", kind)))
		}
		if c := n.verifyCache; c != nil {
			cs := c.Stats()
			o.ObserveInt64(hits, int64(cs.Hits))
			o.ObserveInt64(misses, int64(cs.Misses))
		}
		return nil
	}, state, term, commit, applied, contact, entries, hits, misses)
	return err
}
