package recognition

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/decisionlog"
	"github.com/roam-federation/roam/federation/reason"
	"github.com/roam-federation/roam/federation/registry"
	"github.com/roam-federation/roam/policies"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// Registry is the pipeline's read-only view of the local replica.
type Registry interface {
	AgreementAt(host, issuer string, at time.Time) (*roamv1.Agreement, uint64, *registry.AgreementError)
	AppliedIndex() uint64
}

// StatusSource asks an issuer's node for a verified status assertion.
type StatusSource interface {
	QueryStatus(ctx context.Context, issuer, jti string) (*adapters.Claims, error)
}

// Pipeline decides on presented codes for the hosts a node serves.
type Pipeline struct {
	Registry Registry
	// Adapters in detection order; the first whose Detect matches decodes.
	Adapters []adapters.Adapter
	Policies *policies.Set
	Status   StatusSource
	Clock    clock.Clock
	// Host is the node's own jurisdiction, used when a request names none.
	Host   string
	Tracer trace.Tracer
	Log    *slog.Logger
	// Decisions, when set, keeps the local decision log (DESIGN.md §4 step 6).
	Decisions interface{ Append(decisionlog.Record) }
	// Freshness, when set, reports how stale the local replica is: the
	// time since the node last heard from the Raft leader (0 on the
	// leader), and whether it has caught up with a leader since it
	// started. Nil means always fresh (tests, offline tools).
	Freshness func() (staleness time.Duration, caughtUp bool)
	// Observe, when set, is told every decision and how long it took
	// (metrics: issue 7 §1).
	Observe func(ctx context.Context, d *roamv1.Decision, elapsed time.Duration)
	// MaxStaleness is the staleness above which every decision that needs
	// the registry is UNDECIDED with registry_stale (issue 5 §3). A
	// replica that has not caught up since start is always too stale.
	// Zero means no limit.
	MaxStaleness time.Duration
}

// Stage names reported by Explain (issue 4 §5 names; roam codes use the
// subset that applies).
const (
	StageDecode    = "decode"
	StageSignature = "signature"
	StageExpiry    = "expiry"
	StageAgreement = "agreement"
	StageStatus    = "status"
	StagePolicy    = "policy"
	// StageRegistry is the replica freshness gate (issue 5 §3).
	StageRegistry = "registry"
)

// stageOf says which stage a verification reason belongs to.
func stageOf(c reason.Code) string {
	switch c {
	case reason.UnknownKey, reason.KeyIssuerMismatch, reason.AlgMismatch, reason.SignatureFormat,
		reason.SignatureInvalid, reason.KeyRevoked, reason.KeyNotValidAtIat, reason.CodeRevoked:
		return StageSignature
	case reason.NotYetValid, reason.Expired, reason.TimestampsInvalid:
		return StageExpiry
	}
	return StageDecode
}

// IssuerVerified reports whether d's issuer was proven by a signature. A
// decision rejected while decoding or checking the signature carries only
// the issuer the code claims (for display), which a crafted code chooses
// freely; metrics label such decisions "unverified" rather than by it.
func IssuerVerified(d *roamv1.Decision) bool {
	if d.GetOutcome() != roamv1.Outcome_OUTCOME_REJECT || len(d.GetReasons()) == 0 {
		return true
	}
	switch reason.Code(d.GetReasons()[0].GetCode()) {
	case reason.InputTooLarge, reason.Malformed, reason.UnsupportedFormat, reason.SerializationNotCompact,
		reason.AlgNotAllowed, reason.AlgMismatch, reason.KidMissing, reason.UnknownKey, reason.KeyIssuerMismatch,
		reason.HeaderForbidden, reason.SignatureFormat, reason.SignatureInvalid, reason.TypeInvalid,
		reason.ClaimsInvalid, reason.DecompressLimit, reason.KeyUsage, reason.Schema:
		return false
	}
	return true
}

// Request is one verification.
type Request struct {
	Payload    []byte
	Host       string    // defaults to Pipeline.Host
	Checkpoint string    // metro, residential, intercity, workplace, venue
	At         time.Time // defaults to Clock.Now()
}

// ErrBadRequest wraps an invalid Request field; the message names the field.
var ErrBadRequest = errors.New("invalid request")

// Verify returns the decision for req and the stages it went through. It
// never returns an error for a bad payload (that is a REJECT with a reason);
// only a bad host or checkpoint, which the caller maps to InvalidArgument.
func (p *Pipeline) Verify(ctx context.Context, req Request) (*roamv1.Decision, []*roamv1.Stage, error) {
	if req.Host == "" {
		req.Host = p.Host
	}
	if !registry.ValidJurisdictionID(req.Host) {
		return nil, nil, fmt.Errorf("%w: host %q is not a GB/T 2260 code", ErrBadRequest, req.Host)
	}
	if !policies.ValidCheckpoint(req.Checkpoint) {
		return nil, nil, fmt.Errorf("%w: checkpoint %q is not one of %v", ErrBadRequest, req.Checkpoint, policies.Checkpoints())
	}
	began := time.Now()
	now := p.Clock.Now()
	if req.At.IsZero() {
		req.At = now
	}
	tr := p.Tracer
	if tr == nil {
		tr = noop.NewTracerProvider().Tracer("")
	}
	ctx, span := tr.Start(ctx, "recognition.Verify", trace.WithAttributes(
		attribute.String("roam.host", req.Host), attribute.String("roam.checkpoint", req.Checkpoint)))
	defer span.End()

	// The payload is hashed once, for the decision log and for a decoder's
	// cache (adapters.SumDecoder); the verify path once hashed it twice.
	var sum [sha256.Size]byte
	hashed := p.Decisions != nil
	if hashed {
		sum = sha256.Sum256(req.Payload)
	}

	// Stage spans only under a recording span: with no exporter (a no-op
	// provider) they would cost an allocation each and record nothing.
	recording := span.IsRecording()
	start := func(ctx context.Context, name string) (context.Context, trace.Span) {
		if !recording {
			return ctx, span
		}
		return tr.Start(ctx, name)
	}
	end := func(s trace.Span) {
		if recording {
			s.End()
		}
	}
	d := &roamv1.Decision{Host: req.Host, EvaluatedAt: timestamppb.New(req.At)}
	stages := make([]*roamv1.Stage, 0, 8)
	stage := func(name string, err error) {
		s := &roamv1.Stage{Name: name, Ok: err == nil}
		if err != nil {
			s.Reason = string(reason.Of(err))
		}
		stages = append(stages, s)
	}
	finish := func(o roamv1.Outcome) (*roamv1.Decision, []*roamv1.Stage, error) {
		d.Outcome = o
		if d.RegistryIndex == 0 {
			d.RegistryIndex = p.Registry.AppliedIndex()
		}
		span.SetAttributes(attribute.String("roam.outcome", o.String()))
		p.logDecision(ctx, req, d, sum, hashed)
		if p.Observe != nil {
			p.Observe(ctx, d, time.Since(began))
		}
		return d, stages, nil
	}
	fail := func(o roamv1.Outcome, err error) (*roamv1.Decision, []*roamv1.Stage, error) {
		var re *reason.Error
		if !errors.As(err, &re) {
			re = reason.New(reason.Malformed, "%v", err)
		}
		d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(re.Code), Message: re.Message})
		span.SetStatus(codes.Error, string(re.Code))
		return finish(o)
	}
	reject := func(err error) (*roamv1.Decision, []*roamv1.Stage, error) {
		return fail(roamv1.Outcome_OUTCOME_REJECT, err)
	}

	// 1. Detect the format.
	var ad adapters.Adapter
	for _, a := range p.Adapters {
		if a.Detect(req.Payload) {
			ad = a
			break
		}
	}
	if ad == nil {
		err := reason.New(reason.UnsupportedFormat, "not a roam code (roam:…) or a known native format")
		if len(req.Payload) > roamjws.DefaultMaxInput {
			err = reason.New(reason.InputTooLarge, "payload is %d bytes; the limit is %d", len(req.Payload), roamjws.DefaultMaxInput)
		}
		stage(StageDecode, err)
		return reject(err)
	}
	d.Format = ad.Format()
	if _, native := ad.(adapters.Native); native {
		err := reason.New(reason.UnsupportedFormat, "%s native codes are not portable; ask the holder for the roam code (roam:…) their province issues", ad.Format())
		stage(StageDecode, err)
		return reject(err)
	}

	// The registry gate: keys, revocations and agreements all come from the
	// local replica. One too stale to vouch for them decides nothing
	// (issue 5 §3); every decision says how stale it was.
	if p.Freshness != nil {
		stale, caughtUp := p.Freshness()
		d.RegistryStalenessMs = stale.Milliseconds()
		if !caughtUp {
			d.RegistryStalenessMs = -1
		}
		var err error
		switch {
		case !caughtUp:
			err = reason.New(reason.RegistryStale, "this node's registry replica has not caught up with the Raft leader since it started; it cannot vouch for keys or agreements yet")
		case p.MaxStaleness > 0 && stale > p.MaxStaleness:
			err = reason.New(reason.RegistryStale, "this node last heard from the Raft leader %s ago; decisions need a registry at most %s stale (max_staleness)", stale.Round(time.Second), p.MaxStaleness)
		}
		if err != nil {
			stage(StageRegistry, err)
			return fail(roamv1.Outcome_OUTCOME_UNDECIDED, err)
		}
	}

	// 2. Decode and verify.
	_, vspan := start(ctx, "recognition.decode_verify")
	var claims *adapters.Claims
	if sd, ok := ad.(adapters.Staged); ok {
		// Foreign formats report their own stages (issue 4 §5).
		c, st, err := sd.DecodeStages(ctx, req.Payload, req.At)
		end(vspan)
		for _, x := range st {
			stages = append(stages, &roamv1.Stage{Name: x.Name, Ok: x.OK, Reason: x.Reason})
		}
		if err != nil {
			return reject(err)
		}
		claims = c
	} else {
		var c *adapters.Claims
		var err error
		if sd, ok := ad.(adapters.SumDecoder); ok && hashed {
			c, err = sd.DecodeWithSum(ctx, req.Payload, sum, req.At)
		} else {
			c, err = ad.Decode(ctx, req.Payload, req.At)
		}
		end(vspan)
		if err != nil {
			d.Issuer = roamjws.ClaimedIssuer(req.Payload) // unverified, for display
			code := reason.Of(err)
			switch stageOf(code) {
			case StageSignature:
				stage(StageDecode, nil)
			case StageExpiry:
				stage(StageDecode, nil)
				stage(StageSignature, nil)
			}
			stage(stageOf(code), err)
			return reject(err)
		}
		stage(StageDecode, nil)
		stage(StageSignature, nil)
		stage(StageExpiry, nil)
		claims = c
	}
	d.Issuer = claims.Issuer
	d.Color = string(claims.Color)
	span.SetAttributes(attribute.String("roam.issuer", claims.Issuer))

	// 3. Agreement host ← iss in force at At.
	// A jurisdiction recognises its own codes without an agreement; its
	// policy still decides.
	_, aspan := start(ctx, "recognition.agreement")
	var (
		agr  *roamv1.Agreement
		idx  uint64
		aerr *registry.AgreementError
	)
	if req.Host == claims.Issuer {
		agr, idx = &roamv1.Agreement{Terms: &roamv1.AgreementTerms{}}, p.Registry.AppliedIndex()
		d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(reason.OwnJurisdiction), Message: fmt.Sprintf("%s recognises its own codes; no agreement is needed", req.Host)})
	} else {
		agr, idx, aerr = p.Registry.AgreementAt(req.Host, claims.Issuer, req.At)
	}
	end(aspan)
	d.RegistryIndex = idx
	if agr != nil {
		d.AgreementId = agr.GetId()
	}
	if aerr != nil {
		d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(aerr.Code), Message: aerr.Message})
		if aerr.Detail != nil {
			d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(aerr.Detail.Code), Message: aerr.Detail.Message})
		}
		stages = append(stages, &roamv1.Stage{Name: StageAgreement, Reason: string(aerr.Code)})
		span.SetStatus(codes.Error, string(aerr.Code))
		return finish(roamv1.Outcome_OUTCOME_REJECT)
	}
	terms := agr.GetTerms()
	age := req.At.Unix() - claims.IssuedAt
	if max := terms.GetMaxCodeAgeSeconds(); max > 0 && age > max {
		err := reason.New(reason.Expired, "code is %s old; agreement %s accepts codes up to %s old", time.Duration(age)*time.Second, agr.GetId(), time.Duration(max)*time.Second)
		stage(StageAgreement, err)
		return reject(err)
	}
	stage(StageAgreement, nil)

	pol := p.Policies.For(req.Host)
	d.PolicyVersion = pol.Version
	in := policies.Input{
		Host: req.Host, Issuer: claims.Issuer, Checkpoint: req.Checkpoint,
		Color: string(claims.Color), System: claims.System, Version: claims.Version, AgeSeconds: age,
		AgreementID: agr.GetId(), RequireLiveStatus: terms.GetRequireLiveStatus(), At: req.At,
	}

	// 4. Live status when the agreement, the code's age or policy needs it.
	if claims.Facts != nil {
		in.Facts = policies.Facts(*claims.Facts)
	}
	// A foreign certificate has no issuer node to ask and no colour.
	need := claims.Facts == nil && (terms.GetRequireLiveStatus() ||
		(terms.GetMaxAgeWithoutStatusSeconds() > 0 && age > terms.GetMaxAgeWithoutStatusSeconds()))
	if !need && claims.Facts == nil {
		n, err := pol.NeedsLiveStatus(in)
		if err != nil {
			return p.policyError(d, err, finish)
		}
		need = n
	}
	if need {
		in.StatusRequired = true
		sctx, sspan := start(ctx, "recognition.live_status")
		st, err := p.Status.QueryStatus(sctx, claims.Issuer, claims.CodeID)
		end(sspan)
		switch {
		case err != nil:
			// An error without a reason (a timeout, a transport error) is
			// an issuer that did not answer: the reason, the stage and the
			// policy's status.reachable must all say so.
			re := &reason.Error{}
			if !errors.As(err, &re) {
				re = reason.New(reason.IssuerUnreachable, "%v", err)
			}
			if re.Code == reason.CodeUnknown { // the issuer disowns the code
				stage(StageStatus, re)
				return reject(re)
			}
			in.StatusReachable = re.Code != reason.IssuerUnreachable
			d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(re.Code), Message: re.Message})
			stage(StageStatus, re)
		case st.Version < claims.Version || (st.Version == claims.Version && st.Color != claims.Color):
			// Fail closed: an assertion older than the code, or one that
			// contradicts it at the same version, is not a status.
			in.StatusReachable = true
			re := reason.New(reason.StatusInvalid, "issuer %s reports %s at status version %d, but the code shows %s at version %d", claims.Issuer, st.Color, st.Version, claims.Color, claims.Version)
			d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(re.Code), Message: re.Message})
			stage(StageStatus, re)
		default:
			in.StatusReachable, in.StatusChecked = true, true
			if st.Version > claims.Version && st.Color != claims.Color {
				in.StatusChanged = true
				in.Color = string(st.Color)
				d.Color = in.Color
				d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(reason.StatusChanged),
					Message: fmt.Sprintf("issuer %s reports %s (status version %d) since the code showed %s (version %d)", claims.Issuer, st.Color, st.Version, claims.Color, claims.Version)})
			} else {
				d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(reason.StatusUnchanged),
					Message: fmt.Sprintf("issuer %s confirms %s (status version %d)", claims.Issuer, claims.Color, claims.Version)})
			}
			stage(StageStatus, nil)
		}
	}
	if claims.Facts == nil && len(terms.GetColors()) > 0 && !slices.Contains(terms.GetColors(), in.Color) {
		err := reason.New(reason.ColorNotRecognised, "agreement %s recognises %v codes, not %s", agr.GetId(), terms.GetColors(), in.Color)
		stage(StagePolicy, err)
		return reject(err)
	}

	// 5. Host policy.
	_, pspan := start(ctx, "recognition.policy")
	res, err := pol.Evaluate(in)
	end(pspan)
	if err != nil {
		return p.policyError(d, err, finish)
	}
	// Concatenation, not Sprintf: one allocation each on every decision.
	msg, msgZH := res.Message, res.MessageZH
	if res.Rule != "" {
		msg = pol.Version + " rule " + res.Rule + ": " + res.Message
		if msgZH != "" {
			msgZH = pol.Version + " 规则 " + res.Rule + "：" + res.MessageZH
		}
	}
	d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(reason.PolicyRule), Message: msg, MessageZh: msgZH})
	stages = append(stages, &roamv1.Stage{Name: StagePolicy, Ok: true})
	return finish(outcomeOf(res.Outcome))
}

func (p *Pipeline) policyError(d *roamv1.Decision, err error, finish func(roamv1.Outcome) (*roamv1.Decision, []*roamv1.Stage, error)) (*roamv1.Decision, []*roamv1.Stage, error) {
	d.Reasons = append(d.Reasons, &roamv1.Reason{Code: string(reason.PolicyError), Message: err.Error()})
	return finish(roamv1.Outcome_OUTCOME_UNDECIDED)
}

func outcomeOf(s string) roamv1.Outcome {
	if v, ok := roamv1.Outcome_value["OUTCOME_"+s]; ok {
		return roamv1.Outcome(v)
	}
	return roamv1.Outcome_OUTCOME_UNDECIDED
}

// OutcomeName is the short outcome name used in the API's JSON and CLI:
// "PASS", "QUARANTINE_7D", …
func OutcomeName(o roamv1.Outcome) string {
	s := o.String()
	if len(s) > len("OUTCOME_") {
		return s[len("OUTCOME_"):]
	}
	return s
}

// outcomeZH is each outcome's Chinese name, as checkpoints show it.
var outcomeZH = map[roamv1.Outcome]string{
	roamv1.Outcome_OUTCOME_PASS: "通行", roamv1.Outcome_OUTCOME_QUARANTINE_7D: "隔离7天",
	roamv1.Outcome_OUTCOME_QUARANTINE_14D: "隔离14天", roamv1.Outcome_OUTCOME_TEST_REQUIRED: "需核酸检测",
	roamv1.Outcome_OUTCOME_REJECT: "拒绝", roamv1.Outcome_OUTCOME_UNDECIDED: "无法判定",
}

// OutcomeZH is the outcome's Chinese name (通行 for PASS, …), the
// checkpoint banner's and roamctl verify's; "" for OUTCOME_UNSPECIFIED.
func OutcomeZH(o roamv1.Outcome) string { return outcomeZH[o] }

// logDecision writes the local decision log record (DESIGN.md §4 step
// 6): a hash of the code, never the code or any personal data. The
// decision log (Decisions) is the record; the same line goes to the
// process log only at debug level, since a metro gate line makes tens of
// thousands of decisions a second (issue 6).
// sum is the payload's SHA-256 when hashed (Verify already has it).
func (p *Pipeline) logDecision(ctx context.Context, req Request, d *roamv1.Decision, sum [sha256.Size]byte, hashed bool) {
	logLine := p.Log != nil && p.Log.Enabled(ctx, slog.LevelDebug)
	if !logLine && p.Decisions == nil {
		return
	}
	if !hashed {
		sum = sha256.Sum256(req.Payload)
	}
	rec := decisionlog.Record{
		EvaluatedAt: req.At.Unix(), CodeSHA256: hex.EncodeToString(sum[:16]),
		Host: d.GetHost(), Issuer: d.GetIssuer(), Checkpoint: req.Checkpoint,
		Outcome: OutcomeName(d.GetOutcome()), Reasons: make([]string, 0, len(d.Reasons)),
		AgreementID: d.GetAgreementId(), PolicyVersion: d.GetPolicyVersion(), RegistryIndex: d.GetRegistryIndex(),
	}
	for _, r := range d.Reasons {
		rec.Reasons = append(rec.Reasons, r.GetCode())
	}
	if p.Decisions != nil {
		p.Decisions.Append(rec)
	}
	if logLine {
		p.Log.LogAttrs(ctx, slog.LevelDebug, "decision",
			slog.String("code_sha256", rec.CodeSHA256),
			slog.String("host", rec.Host), slog.String("issuer", rec.Issuer),
			slog.String("checkpoint", rec.Checkpoint),
			slog.String("outcome", rec.Outcome), slog.Any("reasons", rec.Reasons),
			slog.String("agreement_id", rec.AgreementID), slog.Uint64("registry_index", rec.RegistryIndex))
	}
}
