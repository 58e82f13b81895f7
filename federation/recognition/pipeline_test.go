package recognition

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/beijing"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/adapters/zhejiang"
	"github.com/roam-federation/roam/federation/reason"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Reason codes as strings, for the want columns.
const (
	rPolicy      = string(reason.PolicyRule)
	rNoAgr       = string(reason.NoAgreement)
	rNotInForce  = string(reason.AgreementNotInForce)
	rSuspended   = string(reason.AgreementSuspended)
	rChanged     = string(reason.StatusChanged)
	rConfirmed   = string(reason.StatusUnchanged)
	rUnreachable = string(reason.IssuerUnreachable)
	rInvalid     = string(reason.StatusInvalid)
)

// verify runs the pipeline and fails the test on an error.
func (w *world) verify(host, checkpoint string, payload []byte, at time.Time) (*roamv1.Decision, []*roamv1.Stage) {
	w.t.Helper()
	d, st, err := w.p.Verify(context.Background(), Request{Payload: payload, Host: host, Checkpoint: checkpoint, At: at})
	if err != nil {
		w.t.Fatalf("Verify(%s, %s): %v", host, checkpoint, err)
	}
	if d == nil {
		w.t.Fatal("Verify returned a nil decision and no error")
	}
	return d, st
}

// check asserts a decision's outcome and its reason codes, in order.
func check(t *testing.T, d *roamv1.Decision, outcome string, reasons ...string) {
	t.Helper()
	if got := OutcomeName(d.GetOutcome()); got != outcome {
		t.Errorf("outcome = %s, want %s (reasons %v: %v)", got, outcome, reasonCodes(d), d.GetReasons())
	}
	if got := reasonCodes(d); !slices.Equal(got, reasons) {
		t.Errorf("reasons = %v, want %v (%v)", got, reasons, d.GetReasons())
	}
}

// checkRule asserts that the decision's policy_rule reason names rule.
func checkRule(t *testing.T, d *roamv1.Decision, rule string) {
	t.Helper()
	for _, r := range d.GetReasons() {
		if r.GetCode() == rPolicy {
			if !strings.Contains(r.GetMessage(), " rule "+rule+": ") {
				t.Errorf("policy_rule message %q does not name rule %s", r.GetMessage(), rule)
			}
			return
		}
	}
	t.Errorf("no policy_rule reason in %v", reasonCodes(d))
}

func TestColourMapping(t *testing.T) {
	tests := []struct {
		name       string
		host, iss  string
		color      adapters.Color
		checkpoint string
		status     func(context.Context, string, string) (*adapters.Claims, error)
		want       string
		reasons    []string
		rule       string
		calls      int
	}{
		// Default policy (310000 has no file of its own): DESIGN.md §4 mapping.
		{"default green", shanghai, zhejiangJ, adapters.Green, "metro", nil, "PASS", []string{rPolicy}, "green_pass", 0},
		{"default yellow", shanghai, zhejiangJ, adapters.Yellow, "metro", nil, "QUARANTINE_7D", []string{rPolicy}, "yellow_quarantine", 0},
		{"default red", shanghai, zhejiangJ, adapters.Red, "metro", nil, "QUARANTINE_14D", []string{rPolicy}, "red_quarantine", 0},
		{"default intercity stays offline", shanghai, zhejiangJ, adapters.Green, "intercity", nil, "PASS", []string{rPolicy}, "green_pass", 0},
		{"default has no high-risk issuers", shanghai, hubei, adapters.Green, "metro", nil, "PASS", []string{rPolicy}, "green_pass", 0},
		// 410000's policy, offline at the metro.
		{"henan green", henan, zhejiangJ, adapters.Green, "metro", nil, "PASS", []string{rPolicy}, "green_pass", 0},
		{"henan yellow", henan, zhejiangJ, adapters.Yellow, "metro", nil, "QUARANTINE_7D", []string{rPolicy}, "yellow_quarantine", 0},
		{"henan red", henan, zhejiangJ, adapters.Red, "metro", nil, "QUARANTINE_14D", []string{rPolicy}, "red_quarantine", 0},
		// 410000's policy at intercity: a live status confirms the colour.
		{"henan intercity green", henan, zhejiangJ, adapters.Green, "intercity", assertion(adapters.Green, 1), "PASS", []string{rConfirmed, rPolicy}, "green_pass", 1},
		{"henan intercity yellow", henan, zhejiangJ, adapters.Yellow, "intercity", assertion(adapters.Yellow, 1), "QUARANTINE_7D", []string{rConfirmed, rPolicy}, "yellow_quarantine", 1},
		{"henan intercity red", henan, zhejiangJ, adapters.Red, "intercity", assertion(adapters.Red, 1), "QUARANTINE_14D", []string{rConfirmed, rPolicy}, "red_quarantine", 1},
		// Hubei is high-risk at 410000 in spring 2020; TEST_REQUIRED is
		// never weaker than the colour's own outcome.
		{"henan hubei green", henan, hubei, adapters.Green, "metro", nil, "TEST_REQUIRED", []string{rPolicy}, "hubei_test_required", 0},
		{"henan hubei green intercity", henan, hubei, adapters.Green, "intercity", assertion(adapters.Green, 1), "TEST_REQUIRED", []string{rConfirmed, rPolicy}, "hubei_test_required", 1},
		{"henan hubei yellow", henan, hubei, adapters.Yellow, "metro", nil, "QUARANTINE_7D", []string{rPolicy}, "yellow_quarantine", 0},
		{"henan hubei red", henan, hubei, adapters.Red, "metro", nil, "QUARANTINE_14D", []string{rPolicy}, "red_quarantine", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.agree(tt.host, tt.iss, fromHenan, nil)
			w.status.set(tt.status)
			payload, _ := w.code(iss(tt.iss), color(tt.color))
			d, st := w.verify(tt.host, tt.checkpoint, payload, now)
			check(t, d, tt.want, tt.reasons...)
			checkRule(t, d, tt.rule)
			if n := w.status.numCalls(); n != tt.calls {
				t.Errorf("status queried %d times, want %d", n, tt.calls)
			}
			if got, want := d.GetPolicyVersion(), w.pols.For(tt.host).Version; got != want {
				t.Errorf("policy_version = %q, want %q", got, want)
			}
			want := []stageView{{StageDecode, true, ""}, {StageSignature, true, ""}, {StageExpiry, true, ""}, {StageAgreement, true, ""}}
			if tt.calls > 0 {
				want = append(want, stageView{StageStatus, true, ""})
			}
			want = append(want, stageView{StagePolicy, true, ""})
			if got := stageViews(st); !slices.Equal(got, want) {
				t.Errorf("stages = %+v, want %+v", got, want)
			}
		})
	}
}

func TestAgreement(t *testing.T) {
	type setup func(w *world)
	active := func(win window) setup {
		return func(w *world) { w.agree(henan, zhejiangJ, win, nil) }
	}
	// A code valid both before and after the agreement came into force.
	early := issued(time.Date(2020, 2, 26, 10, 0, 0, 0, now.Location()))
	tests := []struct {
		name    string
		setup   setup
		at      time.Time
		want    string
		reasons []string
		agrID   string
	}{
		{"none at all", func(*world) {}, now, "REJECT", []string{rNoAgr}, ""},
		{"only the reverse direction", func(w *world) { w.agree(zhejiangJ, henan, fromHenan, nil) }, now, "REJECT", []string{rNoAgr}, ""},
		{"another host's agreement", func(w *world) { w.agree(beijingJ, zhejiangJ, fromHenan, nil) }, now, "REJECT", []string{rNoAgr}, ""},
		{"in force", active(fromHenan), now, "PASS", []string{rPolicy}, "410000-330000"},
		{"before effective_from", active(fromHenan), henanFrom.Add(-time.Second), "REJECT", []string{rNoAgr, rNotInForce}, "410000-330000"},
		{"at effective_from", active(fromHenan), henanFrom, "PASS", []string{rPolicy}, "410000-330000"},
		{"just before effective_until", active(window{henanFrom, now.Add(time.Second)}), now, "PASS", []string{rPolicy}, "410000-330000"},
		{"at effective_until", active(window{henanFrom, now}), now, "REJECT", []string{rNoAgr, rNotInForce}, "410000-330000"},
		{"after effective_until", active(window{henanFrom, now.Add(-time.Hour)}), now, "REJECT", []string{rNoAgr, rNotInForce}, "410000-330000"},
		{"suspended", func(w *world) {
			id := w.agree(henan, zhejiangJ, fromHenan, nil)
			w.apply(&roamv1.SuspendAgreement{Id: id, By: henan, Reason: "test", At: now.Add(-time.Hour).Unix()})
		}, now, "REJECT", []string{rSuspended}, "410000-330000"},
		{"proposed only", func(w *world) { w.propose(henan, zhejiangJ, fromHenan, nil) }, now, "REJECT", []string{rNoAgr}, "410000-330000"},
		{"terminated", func(w *world) {
			id := w.agree(henan, zhejiangJ, fromHenan, nil)
			w.apply(&roamv1.TerminateAgreement{Id: id, By: zhejiangJ, Reason: "test", At: now.Add(-time.Hour).Unix()})
		}, now, "REJECT", []string{rNoAgr}, "410000-330000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.setup(w)
			payload, _ := w.code(early)
			// intercity under 410000 would query a live status if the
			// agreement were passed; it must not be for a rejection.
			w.status.set(assertion(adapters.Green, 1))
			d, st := w.verify(henan, "metro", payload, tt.at)
			check(t, d, tt.want, tt.reasons...)
			if got := d.GetAgreementId(); got != tt.agrID {
				t.Errorf("agreement_id = %q, want %q", got, tt.agrID)
			}
			if got, want := d.GetRegistryIndex(), w.fsm.AppliedIndex(); got != want {
				t.Errorf("registry_index = %d, want %d", got, want)
			}
			if d.GetIssuer() != zhejiangJ {
				t.Errorf("issuer = %q, want %s", d.GetIssuer(), zhejiangJ)
			}
			if tt.want != "REJECT" {
				return
			}
			want := []stageView{{StageDecode, true, ""}, {StageSignature, true, ""}, {StageExpiry, true, ""}, {StageAgreement, false, tt.reasons[0]}}
			if got := stageViews(st); !slices.Equal(got, want) {
				t.Errorf("stages = %+v, want %+v", got, want)
			}
		})
	}
}

// TestAgreementNeverAsksIssuer: a code the host cannot recognise must not
// cost the holder a live status query (which reveals where they are).
func TestAgreementNeverAsksIssuer(t *testing.T) {
	w := newWorld(t)
	w.status.set(assertion(adapters.Green, 1))
	payload, _ := w.code()
	d, _ := w.verify(henan, "intercity", payload, now)
	check(t, d, "REJECT", rNoAgr)
	if n := w.status.numCalls(); n != 0 {
		t.Errorf("status queried %d times without an agreement", n)
	}
}

// tamper replaces a signed code's claims with c, keeping header and
// signature: a holder editing their own colour.
func tamper(t testing.TB, payload []byte, c *adapters.Claims) []byte {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(string(payload), "roam:"), ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", payload)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return []byte("roam:" + strings.Join(parts, "."))
}

func TestVerificationFailures(t *testing.T) {
	tests := []struct {
		name    string
		payload func(w *world) []byte
		code    reason.Code
		stages  []stageView
	}{
		{"forged: key not in the registry", func(w *world) []byte {
			return sign(w.t, w.rogue, mkClaims(w.t))
		}, reason.UnknownKey, sigFail(reason.UnknownKey)},
		{"signed by another jurisdiction's key", func(w *world) []byte {
			return sign(w.t, w.keys[beijingJ].signer, mkClaims(w.t))
		}, reason.KeyIssuerMismatch, sigFail(reason.KeyIssuerMismatch)},
		{"colour edited after signing", func(w *world) []byte {
			p, c := w.code(color(adapters.Red))
			c.Color = adapters.Green
			return tamper(w.t, p, c)
		}, reason.SignatureInvalid, sigFail(reason.SignatureInvalid)},
		{"code id revoked", func(w *world) []byte {
			p, c := w.code()
			w.apply(&roamv1.RevokeCode{Jurisdiction: zhejiangJ, CodeId: c.CodeID, At: now.Add(-time.Minute).Unix()})
			return p
		}, reason.CodeRevoked, sigFail(reason.CodeRevoked)},
		{"issuer key revoked", func(w *world) []byte {
			p, _ := w.code()
			w.apply(&roamv1.SetKeyState{Kid: w.keys[zhejiangJ].signer.Kid(), State: roamv1.KeyState_KEY_STATE_REVOKED, At: now.Add(-time.Minute).Unix()})
			return p
		}, reason.KeyRevoked, sigFail(reason.KeyRevoked)},
		{"expired", func(w *world) []byte {
			p, _ := w.code(issued(now.Add(-8 * 24 * time.Hour)))
			return p
		}, reason.Expired, expiryFail(reason.Expired)},
		{"expires exactly now", func(w *world) []byte {
			p, _ := w.code(issued(now.Add(-7 * 24 * time.Hour)))
			return p
		}, reason.Expired, expiryFail(reason.Expired)},
		{"not yet valid", func(w *world) []byte {
			p, _ := w.code(issued(now.Add(time.Hour)))
			return p
		}, reason.NotYetValid, expiryFail(reason.NotYetValid)},
		{"truncated", func(w *world) []byte {
			p, _ := w.code()
			return p[:bytes.LastIndexByte(p, '.')]
		}, reason.SerializationNotCompact, decodeFail(reason.SerializationNotCompact)},
		{"trailing newline is rejected, not trimmed", func(w *world) []byte {
			p, _ := w.code()
			return append(p, '\n')
		}, reason.Malformed, decodeFail(reason.Malformed)},
		{"oversized roam code", func(w *world) []byte {
			return append([]byte("roam:eyJ"), bytes.Repeat([]byte("A"), 4096)...)
		}, reason.InputTooLarge, decodeFail(reason.InputTooLarge)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.agree(henan, zhejiangJ, fromHenan, nil)
			w.status.set(assertion(adapters.Green, 1))
			payload := tt.payload(w)
			d, st := w.verify(henan, "intercity", payload, now)
			check(t, d, "REJECT", string(tt.code))
			if got := stageViews(st); !slices.Equal(got, tt.stages) {
				t.Errorf("stages = %+v, want %+v", got, tt.stages)
			}
			if n := w.status.numCalls(); n != 0 {
				t.Errorf("status queried %d times for a code that failed verification", n)
			}
			if d.GetAgreementId() != "" || d.GetColor() != "" || d.GetPolicyVersion() != "" {
				t.Errorf("unverified code reached agreement or policy: agreement %q color %q policy %q", d.GetAgreementId(), d.GetColor(), d.GetPolicyVersion())
			}
			// The issuer shown on a rejection is the one the code claims,
			// for display only.
			if got, want := d.GetIssuer(), roamjws.ClaimedIssuer(payload); got != want {
				t.Errorf("issuer = %q, want the claimed %q", got, want)
			}
			if got, want := d.GetRegistryIndex(), w.fsm.AppliedIndex(); got != want {
				t.Errorf("registry_index = %d, want %d", got, want)
			}
			if d.GetReasons()[0].GetMessage() == "" {
				t.Error("reason has no message")
			}
		})
	}
}

func decodeFail(c reason.Code) []stageView { return []stageView{{StageDecode, false, string(c)}} }
func sigFail(c reason.Code) []stageView {
	return []stageView{{StageDecode, true, ""}, {StageSignature, false, string(c)}}
}
func expiryFail(c reason.Code) []stageView {
	return []stageView{{StageDecode, true, ""}, {StageSignature, true, ""}, {StageExpiry, false, string(c)}}
}

func TestUnsupportedPayloads(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		code    reason.Code
		format  string
	}{
		{"zhejiang native", []byte(zhejiang.FormatPayload("ZJ2020022800000001abcd")), reason.UnsupportedFormat, "zhejiang"},
		{"beijing native", []byte(beijing.FormatPayload("BJ2020030100000001abcd")), reason.UnsupportedFormat, "beijing"},
		{"garbage", []byte("hello, checkpoint"), reason.UnsupportedFormat, ""},
		{"empty", nil, reason.UnsupportedFormat, ""},
		{"BOM before a roam code", []byte("\xef\xbb\xbfroam:eyJhbGciOiJFUzI1NiJ9.e30.AA"), reason.UnsupportedFormat, ""},
		{"garbage over 4096 bytes", bytes.Repeat([]byte{0xA5}, 4097), reason.InputTooLarge, ""},
		{"native prefix over 4096 bytes", append([]byte("ZJHC:"), bytes.Repeat([]byte("a"), 4096)...), reason.InputTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.agree(henan, zhejiangJ, fromHenan, nil)
			d, st := w.verify(henan, "intercity", tt.payload, now)
			check(t, d, "REJECT", string(tt.code))
			if got, want := stageViews(st), decodeFail(tt.code); !slices.Equal(got, want) {
				t.Errorf("stages = %+v, want %+v", got, want)
			}
			if d.GetFormat() != tt.format {
				t.Errorf("format = %q, want %q", d.GetFormat(), tt.format)
			}
			if n := w.status.numCalls(); n != 0 {
				t.Errorf("status queried %d times", n)
			}
		})
	}
}

func TestLiveStatus(t *testing.T) {
	type statusFn = func(context.Context, string, string) (*adapters.Claims, error)
	tests := []struct {
		name       string
		host       string
		checkpoint string
		terms      *roamv1.AgreementTerms
		code       []codeOpt
		status     statusFn
		calls      int
		want       string
		reasons    []string
		rule       string
		color      string     // decision colour
		stage      *stageView // the status stage, when queried and failed
	}{
		// Who demands a status.
		{name: "agreement requires it", host: shanghai, checkpoint: "metro",
			terms: &roamv1.AgreementTerms{RequireLiveStatus: true}, status: assertion(adapters.Green, 1),
			calls: 1, want: "PASS", reasons: []string{rConfirmed, rPolicy}, rule: "green_pass", color: "green"},
		{name: "code older than max_age_without_status", host: shanghai, checkpoint: "metro",
			terms: &roamv1.AgreementTerms{MaxAgeWithoutStatusSeconds: 12 * 3600},
			code:  []codeOpt{issued(now.Add(-48 * time.Hour))}, status: assertion(adapters.Green, 1),
			calls: 1, want: "PASS", reasons: []string{rConfirmed, rPolicy}, rule: "green_pass", color: "green"},
		{name: "code younger than max_age_without_status", host: shanghai, checkpoint: "metro",
			terms: &roamv1.AgreementTerms{MaxAgeWithoutStatusSeconds: 12 * 3600},
			code:  []codeOpt{issued(now.Add(-11 * time.Hour))}, status: assertion(adapters.Red, 2),
			calls: 0, want: "PASS", reasons: []string{rPolicy}, rule: "green_pass", color: "green"},
		{name: "410000 policy at intercity", host: henan, checkpoint: "intercity", status: assertion(adapters.Green, 1),
			calls: 1, want: "PASS", reasons: []string{rConfirmed, rPolicy}, rule: "green_pass", color: "green"},
		{name: "410000 metro, terms silent: offline", host: henan, checkpoint: "metro", status: assertion(adapters.Red, 2),
			calls: 0, want: "PASS", reasons: []string{rPolicy}, rule: "green_pass", color: "green"},
		{name: "410000 residential: offline", host: henan, checkpoint: "residential", status: assertion(adapters.Red, 2),
			calls: 0, want: "PASS", reasons: []string{rPolicy}, rule: "green_pass", color: "green"},
		{name: "default policy intercity: offline", host: shanghai, checkpoint: "intercity", status: assertion(adapters.Red, 2),
			calls: 0, want: "PASS", reasons: []string{rPolicy}, rule: "green_pass", color: "green"},

		// What the answer does.
		{name: "turned red since issue", host: henan, checkpoint: "intercity", status: assertion(adapters.Red, 2),
			calls: 1, want: "QUARANTINE_14D", reasons: []string{rChanged, rPolicy}, rule: "red_quarantine", color: "red"},
		{name: "turned yellow since issue", host: henan, checkpoint: "intercity", status: assertion(adapters.Yellow, 2),
			calls: 1, want: "QUARANTINE_7D", reasons: []string{rChanged, rPolicy}, rule: "yellow_quarantine", color: "yellow"},
		{name: "recovered since issue", host: henan, checkpoint: "intercity",
			code: []codeOpt{color(adapters.Yellow), ver(3)}, status: assertion(adapters.Green, 4),
			calls: 1, want: "PASS", reasons: []string{rChanged, rPolicy}, rule: "green_pass", color: "green"},
		{name: "newer version, same colour", host: henan, checkpoint: "intercity", status: assertion(adapters.Green, 5),
			calls: 1, want: "PASS", reasons: []string{rConfirmed, rPolicy}, rule: "green_pass", color: "green"},
		// Fail closed: an assertion older than the code, or one that
		// contradicts it at the same version, is not a status.
		{name: "older version is status_invalid", host: henan, checkpoint: "intercity",
			code: []codeOpt{ver(3)}, status: assertion(adapters.Red, 2),
			calls: 1, want: "UNDECIDED", reasons: []string{"status_invalid", rPolicy}, rule: "live_status_missing", color: "green",
			stage: &stageView{StageStatus, false, "status_invalid"}},
		{name: "same version, other colour is status_invalid", host: henan, checkpoint: "intercity",
			code: []codeOpt{ver(3)}, status: assertion(adapters.Red, 3),
			calls: 1, want: "UNDECIDED", reasons: []string{"status_invalid", rPolicy}, rule: "live_status_missing", color: "green",
			stage: &stageView{StageStatus, false, "status_invalid"}},
		{name: "newer version, same colour confirms", host: henan, checkpoint: "intercity",
			code: []codeOpt{ver(3)}, status: assertion(adapters.Green, 5),
			calls: 1, want: "PASS", reasons: []string{rConfirmed, rPolicy}, rule: "green_pass", color: "green"},
		{name: "issuer disowns the code id", host: henan, checkpoint: "intercity",
			status: failing(reason.New(reason.CodeUnknown, "issuer 330000 has no record of code id x")),
			calls:  1, want: "REJECT", reasons: []string{"code_unknown"}, color: "green",
			stage: &stageView{StageStatus, false, "code_unknown"}},

		// When there is no answer.
		{name: "issuer unreachable", host: henan, checkpoint: "intercity",
			status: failing(reason.New(reason.IssuerUnreachable, "no answer from 330000 within 2s")),
			calls:  1, want: "UNDECIDED", reasons: []string{rUnreachable, rPolicy}, rule: "issuer_unreachable", color: "green",
			stage: &stageView{StageStatus, false, rUnreachable}},
		{name: "issuer unreachable, agreement demand, default policy", host: shanghai, checkpoint: "metro",
			terms:  &roamv1.AgreementTerms{RequireLiveStatus: true},
			status: failing(reason.New(reason.IssuerUnreachable, "no node of 330000 is registered")),
			calls:  1, want: "UNDECIDED", reasons: []string{rUnreachable, rPolicy}, rule: "issuer_unreachable", color: "green",
			stage: &stageView{StageStatus, false, rUnreachable}},
		{name: "status assertion invalid", host: henan, checkpoint: "intercity",
			status: failing(reason.New(reason.StatusInvalid, "status assertion does not verify")),
			calls:  1, want: "UNDECIDED", reasons: []string{rInvalid, rPolicy}, rule: "live_status_missing", color: "green",
			stage: &stageView{StageStatus, false, rInvalid}},
		{name: "transport error without a reason is unreachable", host: henan, checkpoint: "intercity",
			status: failing(errors.New("dial tcp 127.0.0.1:7001: connection refused")),
			calls:  1, want: "UNDECIDED", reasons: []string{rUnreachable, rPolicy}, rule: "issuer_unreachable", color: "green",
			stage: &stageView{StageStatus, false, rUnreachable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.agree(tt.host, zhejiangJ, fromHenan, tt.terms)
			w.status.set(tt.status)
			payload, c := w.code(tt.code...)
			d, st := w.verify(tt.host, tt.checkpoint, payload, now)
			check(t, d, tt.want, tt.reasons...)
			if tt.rule != "" {
				checkRule(t, d, tt.rule)
			}
			if got := d.GetColor(); got != tt.color {
				t.Errorf("color = %q, want %q", got, tt.color)
			}
			w.status.mu.Lock()
			calls := slices.Clone(w.status.calls)
			w.status.mu.Unlock()
			if len(calls) != tt.calls {
				t.Fatalf("status queried %d times (%v), want %d", len(calls), calls, tt.calls)
			}
			for _, c0 := range calls {
				if want := zhejiangJ + "/" + c.CodeID; c0 != want {
					t.Errorf("status asked for %s, want %s", c0, want)
				}
			}
			var gotStage *stageView
			for _, s := range stageViews(st) {
				if s.Name == StageStatus {
					gotStage = &s
				}
			}
			wantStage := tt.stage
			if wantStage == nil && tt.calls > 0 {
				wantStage = &stageView{StageStatus, true, ""}
			}
			switch {
			case wantStage == nil && gotStage != nil:
				t.Errorf("status stage %+v present, but no status was queried", *gotStage)
			case wantStage != nil && (gotStage == nil || *gotStage != *wantStage):
				t.Errorf("status stage = %+v, want %+v", gotStage, *wantStage)
			}
		})
	}
}

// TestLiveStatusHangingSource: an issuer node that never answers must not
// hold the checkpoint beyond the caller's deadline, and policy decides.
func TestLiveStatusHangingSource(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status func(context.Context, string, string) (*adapters.Claims, error)
	}{
		{"returns ctx error", hanging},
		{"returns issuer_unreachable", func(ctx context.Context, issuer, jti string) (*adapters.Claims, error) {
			<-ctx.Done()
			return nil, reason.New(reason.IssuerUnreachable, "no answer: %v", ctx.Err())
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.agree(henan, zhejiangJ, fromHenan, nil)
			w.status.set(tt.status)
			payload, _ := w.code()
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			d, st, err := w.p.Verify(ctx, Request{Payload: payload, Host: henan, Checkpoint: "intercity", At: now})
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Verify took %s with a 200ms deadline", elapsed)
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, d, "UNDECIDED", rUnreachable, rPolicy)
			checkRule(t, d, "issuer_unreachable")
			if n := len(st); n == 0 || st[n-1].GetName() != StagePolicy {
				t.Errorf("last stage = %+v, want policy", stageViews(st))
			}
		})
	}
}

func TestAgreementTerms(t *testing.T) {
	tests := []struct {
		name    string
		terms   *roamv1.AgreementTerms
		code    []codeOpt
		status  func(context.Context, string, string) (*adapters.Claims, error)
		want    string
		reasons []string
		stages  []stageView
		calls   int
	}{
		{"green only: green passes", &roamv1.AgreementTerms{Colors: []string{"green"}}, nil, nil,
			"PASS", []string{rPolicy}, nil, 0},
		{"green only: yellow not recognised", &roamv1.AgreementTerms{Colors: []string{"green"}}, []codeOpt{color(adapters.Yellow)}, nil,
			"REJECT", []string{string(reason.ColorNotRecognised)},
			[]stageView{{StageDecode, true, ""}, {StageSignature, true, ""}, {StageExpiry, true, ""}, {StageAgreement, true, ""}, {StagePolicy, false, string(reason.ColorNotRecognised)}}, 0},
		{"green only: red not recognised", &roamv1.AgreementTerms{Colors: []string{"green"}}, []codeOpt{color(adapters.Red)}, nil,
			"REJECT", []string{string(reason.ColorNotRecognised)}, nil, 0},
		{"green only: turned yellow since issue", &roamv1.AgreementTerms{Colors: []string{"green"}, RequireLiveStatus: true}, nil, assertion(adapters.Yellow, 2),
			"REJECT", []string{rChanged, string(reason.ColorNotRecognised)}, nil, 1},
		{"green and yellow: yellow quarantines", &roamv1.AgreementTerms{Colors: []string{"green", "yellow"}}, []codeOpt{color(adapters.Yellow)}, nil,
			"QUARANTINE_7D", []string{rPolicy}, nil, 0},
		{"max code age exceeded", &roamv1.AgreementTerms{MaxCodeAgeSeconds: 24 * 3600}, []codeOpt{issued(now.Add(-24*time.Hour - time.Second))}, nil,
			"REJECT", []string{string(reason.Expired)},
			[]stageView{{StageDecode, true, ""}, {StageSignature, true, ""}, {StageExpiry, true, ""}, {StageAgreement, false, string(reason.Expired)}}, 0},
		{"max code age exactly", &roamv1.AgreementTerms{MaxCodeAgeSeconds: 24 * 3600}, []codeOpt{issued(now.Add(-24 * time.Hour))}, nil,
			"PASS", []string{rPolicy}, nil, 0},
		{"max code age exceeded is checked before live status", &roamv1.AgreementTerms{MaxCodeAgeSeconds: 3600, RequireLiveStatus: true}, []codeOpt{issued(now.Add(-2 * time.Hour))}, assertion(adapters.Green, 1),
			"REJECT", []string{string(reason.Expired)}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			id := w.agree(shanghai, zhejiangJ, fromHenan, tt.terms)
			w.status.set(tt.status)
			payload, _ := w.code(tt.code...)
			d, st := w.verify(shanghai, "metro", payload, now)
			check(t, d, tt.want, tt.reasons...)
			if d.GetAgreementId() != id {
				t.Errorf("agreement_id = %q, want %q", d.GetAgreementId(), id)
			}
			if tt.stages != nil {
				if got := stageViews(st); !slices.Equal(got, tt.stages) {
					t.Errorf("stages = %+v, want %+v", got, tt.stages)
				}
			}
			if n := w.status.numCalls(); n != tt.calls {
				t.Errorf("status queried %d times, want %d", n, tt.calls)
			}
		})
	}
}

func TestBadRequest(t *testing.T) {
	tests := []struct {
		name       string
		nodeHost   string
		host       string
		checkpoint string
		field      string
	}{
		{"host not GB/T 2260", henan, "41000", "metro", "host"},
		{"host is a name", henan, "henan", "metro", "host"},
		{"host with space", henan, "410000 ", "metro", "host"},
		{"no host anywhere", "", "", "metro", "host"},
		{"checkpoint empty", henan, henan, "", "checkpoint"},
		{"checkpoint unknown", henan, henan, "airport", "checkpoint"},
		{"checkpoint case", henan, henan, "Metro", "checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.agree(henan, zhejiangJ, fromHenan, nil)
			var logBuf bytes.Buffer
			w.p.Log = newJSONLog(&logBuf)
			w.p.Host = tt.nodeHost
			payload, _ := w.code()
			d, st, err := w.p.Verify(t.Context(), Request{Payload: payload, Host: tt.host, Checkpoint: tt.checkpoint, At: now})
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("err = %v, want ErrBadRequest", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field %s", err, tt.field)
			}
			if d != nil || st != nil {
				t.Errorf("got a decision %v and stages %v with an error", d, st)
			}
			if logBuf.Len() != 0 {
				t.Errorf("a bad request was logged as a decision: %s", logBuf.String())
			}
		})
	}
}

func TestHostDefaultsToNode(t *testing.T) {
	w := newWorld(t)
	w.agree(henan, zhejiangJ, fromHenan, nil)
	payload, _ := w.code(iss(zhejiangJ))
	d, _ := w.verify("", "metro", payload, now)
	check(t, d, "PASS", rPolicy)
	if d.GetHost() != henan {
		t.Errorf("host = %q, want the node's %s", d.GetHost(), henan)
	}
}

// TestAt: the decision is made as of at, not as of the node's clock.
func TestAt(t *testing.T) {
	w := newWorld(t)
	id := w.agree(henan, zhejiangJ, fromHenan, nil)
	// Issued 2020-02-26, valid until 2020-03-04: valid at both dates.
	payload, _ := w.code(issued(time.Date(2020, 2, 26, 10, 0, 0, 0, now.Location())))
	before := time.Date(2020, 2, 27, 10, 0, 0, 0, now.Location())

	for _, tt := range []struct {
		name    string
		at      time.Time
		want    string
		reasons []string
	}{
		{"2020-03-02", now, "PASS", []string{rPolicy}},
		{"2020-02-27, before the agreement", before, "REJECT", []string{rNoAgr, rNotInForce}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := w.verify(henan, "metro", payload, tt.at)
			check(t, d, tt.want, tt.reasons...)
			if got := d.GetEvaluatedAt().AsTime(); !got.Equal(tt.at) {
				t.Errorf("evaluated_at = %s, want %s", got, tt.at)
			}
			if d.GetAgreementId() != id {
				t.Errorf("agreement_id = %q, want %q", d.GetAgreementId(), id)
			}
		})
	}

	t.Run("zero at is the clock's now", func(t *testing.T) {
		d, _ := w.verify(henan, "metro", payload, time.Time{})
		check(t, d, "PASS", rPolicy)
		if got := d.GetEvaluatedAt().AsTime(); !got.Equal(now) {
			t.Errorf("evaluated_at = %s, want the clock's %s", got, now)
		}
		w.clock.Set(before)
		defer w.clock.Set(now)
		d, _ = w.verify(henan, "metro", payload, time.Time{})
		check(t, d, "REJECT", rNoAgr, rNotInForce)
		if got := d.GetEvaluatedAt().AsTime(); !got.Equal(before) {
			t.Errorf("evaluated_at = %s, want the clock's %s", got, before)
		}
	})
}

func TestDecisionFields(t *testing.T) {
	w := newWorld(t)
	id := w.agree(henan, zhejiangJ, fromHenan, nil)
	// Later, unrelated registry changes: the decision reports the index it
	// read, not the agreement's.
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: "120000", Name: "Tianjin"}})
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: "130000", Name: "Hebei"}})
	w.status.set(assertion(adapters.Red, 2))
	payload, _ := w.code()
	at := now.Add(-30 * time.Minute)

	d, _ := w.verify(henan, "intercity", payload, at)
	check(t, d, "QUARANTINE_14D", rChanged, rPolicy)
	if got := d.GetAgreementId(); got != id || id != "410000-330000" {
		t.Errorf("agreement_id = %q, want %q", got, id)
	}
	pol, ok := w.pols.Lookup(henan)
	if !ok {
		t.Fatal("no embedded 410000 policy")
	}
	if got := d.GetPolicyVersion(); got != pol.Version || got == w.pols.Default().Version || got == "" {
		t.Errorf("policy_version = %q, want 410000's %q", got, pol.Version)
	}
	if got, want := d.GetRegistryIndex(), w.fsm.AppliedIndex(); got != want || want != w.index {
		t.Errorf("registry_index = %d, want applied index %d (entries %d)", got, want, w.index)
	}
	if got := d.GetEvaluatedAt().AsTime(); !got.Equal(at) {
		t.Errorf("evaluated_at = %s, want %s", got, at)
	}
	for _, f := range []struct{ name, got, want string }{
		{"host", d.GetHost(), henan},
		{"issuer", d.GetIssuer(), zhejiangJ},
		{"color", d.GetColor(), "red"},
		{"format", d.GetFormat(), "roam"},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	for _, r := range d.GetReasons() {
		if r.GetMessage() == "" {
			t.Errorf("reason %s has no message", r.GetCode())
		}
	}
	if m := d.GetReasons()[1].GetMessage(); !strings.Contains(m, pol.Version) {
		t.Errorf("policy_rule message %q does not name the policy version", m)
	}

	// The registry moves on: the next decision reads the new index.
	w.apply(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: "310100", Name: "Shanghai city"}})
	d, _ = w.verify(henan, "intercity", payload, at)
	if got := d.GetRegistryIndex(); got != w.index {
		t.Errorf("after one more entry, registry_index = %d, want %d", got, w.index)
	}
}

// TestOwnJurisdiction: a host recognises its own codes without an
// agreement, and its policy still decides.
func TestOwnJurisdiction(t *testing.T) {
	w := newWorld(t)
	payload, _ := w.code()
	d, _ := w.verify(zhejiangJ, "metro", payload, now)
	check(t, d, "PASS", "own_jurisdiction", rPolicy)
	if d.GetAgreementId() != "" {
		t.Errorf("agreement_id = %q, want none", d.GetAgreementId())
	}
}
