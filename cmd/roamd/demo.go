package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/dcc"
	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/adapters/shc"
	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/recognition"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func newDemo() *cobra.Command {
	var opts demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run five provinces on loopback and play the 2020 journey (DESIGN.md §5)",
		Long: `demo starts five nodes in this process — 330000 Zhejiang, 410000 Henan and
110000 Beijing as Raft voters, 120000 Tianjin and 130000 Hebei as non-voters —
each with its own simulated provincial backend and data dir, all talking over
loopback TCP (Raft, gRPC, HTTP). It loads the 2020 agreements, plays the
journey on a simulated clock starting 2020-02-26 and prints every decision
with its reasons. Then it keeps serving for roamctl until Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Once, "once", false, "exit after the journey instead of serving")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON object per journey step")
	f.IntVar(&opts.BasePort, "base-port", 7400, "gRPC on base+10.., Raft on base+20.., backends on base+30.., metrics and health on base+40.., web console on base+50..; 0 picks free ports")
	f.StringVar(&opts.DataDir, "data-dir", "", "where the nodes keep their data (default: a fresh temporary dir, removed on exit)")
	f.StringVar(&opts.LogLevel, "log-level", "error", "node log level: debug, info, warn or error (logs go to stderr)")
	return cmd
}

type demoOptions struct {
	Once, JSON bool
	BasePort   int
	DataDir    string
	LogLevel   string
	// LogOutput receives the nodes' JSON log lines (stderr when nil).
	LogOutput io.Writer
	// serving, when set, is called with the running cluster once the
	// journey is done and the demo keeps serving (tests drive it).
	serving func(c *cluster, keysDir string)
}

// cst builds a 2020 date-time in China Standard Time.
func cst(month time.Month, day, hour int) time.Time {
	return time.Date(2020, month, day, hour, 0, 0, 0, clock.CST)
}

// The demo's residents. ID numbers are made up but have the GB 11643 shape;
// they stay inside the provincial backends and the issuing nodes.
var (
	resGreen   = provsim.Enrolment{IDNumber: "330106198801011234", Name: "张小三", Address: "杭州市西湖区"}
	resYellow  = provsim.Enrolment{IDNumber: "330102199203045678", Name: "李四", Address: "杭州市上城区", TravelHistory: []string{"420100"}}
	resTurns   = provsim.Enrolment{IDNumber: "330104198507079012", Name: "王五", Address: "杭州市江干区"}
	resRed     = provsim.Enrolment{IDNumber: "330108197912123456", Name: "陈七", Address: "杭州市滨江区", Symptoms: true}
	resBeijing = provsim.Enrolment{IDNumber: "110105199002021237", Name: "刘一", Address: "北京市朝阳区"}
)

// stepResult is one line of `roamd demo --once --json` (DESIGN.md §5).
type stepResult struct {
	Step          string       `json:"step"`
	Situation     string       `json:"situation"`
	Host          string       `json:"host"`
	Issuer        string       `json:"issuer"`
	Checkpoint    string       `json:"checkpoint"`
	At            string       `json:"at"`
	Outcome       string       `json:"outcome"`
	Reasons       []jsonReason `json:"reasons"`
	AgreementID   string       `json:"agreement_id"`
	PolicyVersion string       `json:"policy_version"`
	RegistryIndex uint64       `json:"registry_index"`
	Expected      string       `json:"expected"`
	AsExpected    bool         `json:"as_expected"`
}

type jsonReason struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageZH string `json:"message_zh,omitempty"`
}

// expectation is a row of the DESIGN.md §5 table.
type expectation struct {
	outcome string
	anyOf   []string // at least one of these reason codes (empty: none required)
}

func (e expectation) String() string {
	if len(e.anyOf) == 0 {
		return e.outcome
	}
	return e.outcome + " with " + strings.Join(e.anyOf, " or ")
}

func (e expectation) met(r *stepResult) bool {
	if r.Outcome != e.outcome {
		return false
	}
	if len(e.anyOf) == 0 {
		return true
	}
	for _, rs := range r.Reasons {
		if slices.Contains(e.anyOf, rs.Code) {
			return true
		}
	}
	return false
}

// journey plays DESIGN.md §5 against a running cluster.
type journey struct {
	c       *cluster
	out     io.Writer
	json    bool
	results []*stepResult
	failed  []string
}

func runDemo(ctx context.Context, out io.Writer, o demoOptions) error {
	log, err := newLogger(o.LogOutput, o.LogLevel)
	if err != nil {
		return err
	}
	dir := o.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "roam-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("--data-dir %s is not empty: the demo starts a new federation; remove it or pick another dir", dir)
	}
	clk := clock.NewSim(cst(time.February, 26, 8))
	say := func(format string, args ...any) {
		if !o.JSON {
			fmt.Fprintf(out, format+"\n", args...)
		}
	}
	say("roam demo: five provinces on loopback, simulated clock from %s", clk.Now().Format("2006-01-02 15:04 MST"))
	say("data dir: %s", dir)
	raftLevel := o.LogLevel
	if raftLevel == "error" {
		// Raft logs expected errors while nodes stop at the end of the
		// demo; show Raft's own log only when asked for more detail.
		raftLevel = "off"
	}
	ids := make([]string, len(demoProvinces))
	for i, p := range demoProvinces {
		ids[i] = p.ID
	}
	// The demo plays every admin: three national admins (any two act as the
	// national quorum) and one admin per province.
	auth, err := admin.NewKeyring(3, 2, ids...)
	if err != nil {
		return err
	}
	keys := filepath.Join(dir, "admin-keys")
	if err := auth.Export(keys); err != nil {
		return err
	}
	c, err := startCluster(ctx, dir, o.BasePort, clk, log, raftLevel, auth)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, id := range c.order {
		m := c.members[id]
		role := "non-voter"
		if m.Voter {
			role = "voter"
		}
		say("  node %s %-9s %-9s gRPC %s  backend %s  metrics http://%s/metrics  console http://%s/", id, m.Name, role, m.node.GRPCAddr(), m.simURL, m.node.AdminAddr(), m.node.ConsoleAddr())
	}

	j := &journey{c: c, out: out, json: o.JSON}
	if err := j.play(ctx); err != nil {
		return err
	}
	if len(j.failed) > 0 {
		return fmt.Errorf("%d journey step(s) did not get the expected outcome: %s", len(j.failed), strings.Join(j.failed, ", "))
	}
	say("\nall %d journey steps got the expected outcome.", len(j.results))
	if o.Once {
		return nil
	}
	hn, zj := c.members["410000"].node.GRPCAddr(), c.members["330000"].node.GRPCAddr()
	say(`
The federation keeps serving (simulated clock now %s).
Nodes speak mutual TLS with a throwaway CA; admin keys for every role are
national-1..3.jwk and one <jurisdiction>.jwk per province; only Zhejiang's
own systems may issue its codes, so roamctl gets 330000's client certificate:
  export ROAM_TLS_CA=%s KEYS=%s
  export ROAM_TLS_CERT=%s ROAM_TLS_KEY=%s
Open the checkpoint page http://%s/checkpoint (Henan) and the agreement
matrix http://%s/admin in a browser. Try, in another terminal:
  go run ./cmd/roamctl --addr %s cluster status
  go run ./cmd/roamctl --addr %s agreement matrix
  go run ./cmd/roamctl --addr %s code issue --resident %s --qr /tmp/roam.png
  go run ./cmd/roamctl --addr %s verify --checkpoint intercity 'roam:…'
  go run ./cmd/roamctl --addr %s --admin-key $KEYS/410000.jwk agreement suspend 410000-330000 --as 410000
  go run ./cmd/roamctl --addr %s audit log
  go run ./cmd/roamctl --addr %s bench --issue-addr %s --duration 10s
Press Ctrl-C to stop.`, clk.Now().Format("2006-01-02 15:04 MST"), c.caFile, keys, c.appCert, c.appKey, c.members["410000"].node.ConsoleAddr(), c.members["410000"].node.ConsoleAddr(), hn, hn, zj, resYellow.IDNumber, hn, hn, hn, hn, zj)
	if o.serving != nil {
		o.serving(c, keys)
	}
	<-ctx.Done()
	say("stopping.")
	return nil
}

func (j *journey) play(ctx context.Context) error {
	c := j.c
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	// 2020-02-26: residents enrol with their provincial systems.
	for _, e := range []provsim.Enrolment{resGreen, resYellow, resTurns, resRed} {
		if _, err := c.members["330000"].simAdmin.Enrol(ctx, e); err != nil {
			return fmt.Errorf("enrol at 330000: %w", err)
		}
	}
	if _, err := c.members["110000"].simAdmin.Enrol(ctx, resBeijing); err != nil {
		return fmt.Errorf("enrol at 110000: %w", err)
	}

	// The 2020 agreements (DESIGN.md §5). Henan asks for a live status when
	// a Zhejiang code is more than a day old.
	if _, err := c.agree(ctx, "410000", "330000", cst(time.February, 28, 0), &roamv1.AgreementTerms{MaxAgeWithoutStatusSeconds: 86400}); err != nil {
		return err
	}
	var last uint64
	for _, pair := range [][2]string{{"110000", "120000"}, {"120000", "110000"}, {"110000", "130000"}, {"130000", "110000"}, {"120000", "130000"}, {"130000", "120000"}} {
		idx, err := c.agree(ctx, pair[0], pair[1], cst(time.March, 1, 0), &roamv1.AgreementTerms{})
		if err != nil {
			return err
		}
		last = idx
	}
	for _, id := range c.order { // every replica, non-voters included
		if err := c.waitApplied(ctx, id, last); err != nil {
			return err
		}
	}
	if !j.json {
		fmt.Fprintf(j.out, "\nagreements in force (registry index %d):\n  410000 ← 330000 from 2020-02-28\n  110000 ↔ 120000, 110000 ↔ 130000, 120000 ↔ 130000 from 2020-03-01\n\n", last)
	}

	// 2020-02-27: the Zhejiang resident gets a green code.
	c.clock.Set(cst(time.February, 27, 8))
	green, err := j.issue(ctx, "330000", resGreen.IDNumber)
	if err != nil {
		return err
	}

	// 2020-03-02: codes for everyone else; checks in Henan and Hebei.
	c.clock.Set(cst(time.March, 2, 9))
	yellow, err := j.issue(ctx, "330000", resYellow.IDNumber)
	if err != nil {
		return err
	}
	turns, err := j.issue(ctx, "330000", resTurns.IDNumber)
	if err != nil {
		return err
	}
	red, err := j.issue(ctx, "330000", resRed.IDNumber)
	if err != nil {
		return err
	}
	bj, err := j.issue(ctx, "110000", resBeijing.IDNumber)
	if err != nil {
		return err
	}
	steps := []struct {
		name, situation, host, checkpoint, code string
		at                                      time.Time
		want                                    expectation
	}{
		{"zj-green-henan", "a Zhejiang resident with a green code at a Henan intercity checkpoint", "410000", "intercity", green, time.Time{}, expectation{"PASS", nil}},
		{"zj-green-henan-before", "the same code evaluated at 2020-02-27, before the agreement", "410000", "intercity", green, cst(time.February, 27, 12), expectation{"REJECT", []string{"no_agreement"}}},
		{"zj-yellow-henan", "a Zhejiang yellow code in Henan", "410000", "intercity", yellow, time.Time{}, expectation{"QUARANTINE_7D", nil}},
		{"zj-red-henan", "a Zhejiang red code in Henan", "410000", "intercity", red, time.Time{}, expectation{"QUARANTINE_14D", nil}},
		{"bj-normal-hebei", "a Beijing 未见异常 (no abnormality) code at a Hebei checkpoint", "130000", "intercity", bj, time.Time{}, expectation{"PASS", nil}},
		{"bj-normal-zhejiang", "a Beijing code in Zhejiang, which has no agreement with Beijing", "330000", "intercity", bj, time.Time{}, expectation{"REJECT", []string{"no_agreement"}}},
	}
	for _, s := range steps {
		if err := j.verify(ctx, s.name, s.situation, s.host, s.checkpoint, s.code, s.at, s.want); err != nil {
			return err
		}
	}

	// The yellow holder starts daily reports on 2020-03-02.
	if err := j.report(ctx, resYellow.IDNumber, 1); err != nil {
		return err
	}

	// 2020-03-03: contact tracing turns the third resident red after their
	// green code was issued; Henan learns it through a live status query.
	c.clock.Set(cst(time.March, 3, 9))
	if _, err := c.members["330000"].simAdmin.SetStatus(ctx, resTurns.IDNumber, adapters.Red, "close contact of a confirmed case"); err != nil {
		return err
	}
	if err := j.verify(ctx, "zj-turned-red", "a Zhejiang code issued green whose holder turned red afterwards, verified in Henan", "410000", "intercity", turns, time.Time{}, expectation{"QUARANTINE_14D", []string{"status_changed"}}); err != nil {
		return err
	}
	if err := j.report(ctx, resYellow.IDNumber, 6); err != nil { // 03-03 … 03-08: 7 normal days
		return err
	}

	// 2020-03-08: the yellow holder has reported 7 normal days and is green.
	recovered, err := j.issue(ctx, "330000", resYellow.IDNumber)
	if err != nil {
		return err
	}
	if err := j.verify(ctx, "zj-recovered", "the yellow holder after 7 consecutive normal daily reports", "410000", "intercity", recovered, time.Time{}, expectation{"PASS", nil}); err != nil {
		return err
	}

	forged, err := forge(c.clock.Now())
	if err != nil {
		return err
	}
	if err := j.verify(ctx, "forged", "a code signed with a key not in the registry, claiming iss 330000", "410000", "intercity", forged, time.Time{}, expectation{"REJECT", []string{"unknown_key", "signature_invalid"}}); err != nil {
		return err
	}
	if err := j.verify(ctx, "expired", "the Zhejiang green code from 2020-02-27, presented on 2020-03-08", "410000", "intercity", green, time.Time{}, expectation{"REJECT", []string{"expired"}}); err != nil {
		return err
	}
	wrong, err := forgeWith(c.members["110000"].node.Issuer().Signer(), c.clock.Now())
	if err != nil {
		return err
	}
	if err := j.verify(ctx, "wrong-issuer-key", "a code with iss 330000 signed by Beijing's registered key", "410000", "intercity", wrong, time.Time{}, expectation{"REJECT", []string{"key_issuer_mismatch"}}); err != nil {
		return err
	}
	return j.nationalPlatform(ctx)
}

// nationalPlatform plays 2020-03-18: the national government platform
// offers its two further ways of recognition (DESIGN.md §1). Zhejiang and
// Beijing connect their codes to the platform's hub, so each recognises
// the other through it; and regions without a code of their own use the
// national code, which Hebei recognises under a national agreement.
func (j *journey) nationalPlatform(ctx context.Context) error {
	c := j.c
	kr := c.auth
	// The recovered resident keeps reporting daily until 2020-03-20.
	c.clock.Advance(24 * time.Hour)
	if err := j.report(ctx, resYellow.IDNumber, 12); err != nil { // 03-09 … 03-20
		return err
	}
	march18 := cst(time.March, 18, 0)
	for _, id := range []string{"330000", "110000"} {
		idx, err := c.propose(ctx, "410000", &roamv1.JoinHub{Jurisdiction: id, EffectiveFrom: march18.Unix(), Terms: &roamv1.AgreementTerms{}}, kr.Nat())
		if err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		if err := c.waitApplied(ctx, "110000", idx); err != nil {
			return err
		}
	}
	code, err := j.issue(ctx, "330000", resYellow.IDNumber)
	if err != nil {
		return err
	}
	if err := j.verify(ctx, "zj-green-beijing-hub", "a Zhejiang code in Beijing, once both joined the national platform hub (2020-03-18)", "110000", "intercity", code, time.Time{}, expectation{"PASS", nil}); err != nil {
		return err
	}

	// The national code: the platform registers its issuing key and
	// imposes Hebei ← national.
	natIssuer, err := roamjws.GenerateKey(roamjws.ES256)
	if err != nil {
		return err
	}
	ns, err := roamjws.NewSigner(natIssuer)
	if err != nil {
		return err
	}
	pub, err := roamjws.PublicJWK(natIssuer)
	if err != nil {
		return err
	}
	if _, err := c.propose(ctx, "120000", &roamv1.AddKey{Key: &roamv1.IssuerKey{Kid: ns.Kid(), Jurisdiction: registry.National, Alg: ns.Alg(), Jwk: pub,
		State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: march18.Unix()}}, kr.Nat()); err != nil {
		return fmt.Errorf("national issuer key: %w", err)
	}
	idx, err := c.propose(ctx, "120000", &roamv1.ImposeAgreement{Host: "130000", Issuer: registry.National, EffectiveFrom: march18.Unix(), Terms: &roamv1.AgreementTerms{}}, kr.Nat())
	if err != nil {
		return fmt.Errorf("national agreement: %w", err)
	}
	if err := c.waitApplied(ctx, "130000", idx); err != nil {
		return err
	}
	national, err := nationalCode(ns, c.clock.Now())
	if err != nil {
		return err
	}
	if err := j.verify(ctx, "national-code-hebei", "a national health code (000000), held by a traveller from a region without its own code, at a Hebei metro gate", "130000", "metro", national, time.Time{}, expectation{"PASS", nil}); err != nil {
		return err
	}
	return j.foreignTravellers(ctx)
}

// foreignTravellers plays July 2021, when travellers from abroad carried
// internationally recognised certificates: an EU Digital COVID Certificate
// (live from 2021-07-01) and a SMART Health Card. The national platform
// registers Austria's document signer and a SMART Health Cards issuer and
// makes Beijing recognise both; Beijing's policy reads their facts. The
// keys are the demo's own test keys, not the real issuers'.
func (j *journey) foreignTravellers(ctx context.Context) error {
	c := j.c
	kr := c.auth
	// The decisions are asked "as of" 2021-07-20 (the at parameter); the
	// simulated clock stays in March 2020 for the provinces' residents.
	when := cst(time.Month(7), 20, 10).AddDate(1, 0, 0)
	july1 := time.Date(2021, 7, 1, 0, 0, 0, 0, clock.CST)
	atKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	at, err := dcc.NewCertIssuer("AT", atKey, july1.AddDate(0, -1, 0), july1.AddDate(2, 0, 0))
	if err != nil {
		return err
	}
	usKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	us := &shc.CardIssuer{Key: usKey, URL: "https://shc.example.org/demo-state"}
	jwks, err := us.JWKS()
	if err != nil {
		return err
	}
	var last uint64
	for _, m := range []proto.Message{
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: "XX-AT", Name: "Austria", CodeSystem: "eu-dcc"}},
		&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: "XX-US", Name: "United States (demo SHC issuer)", CodeSystem: "smart-health-card"}},
		&roamv1.AddDocumentSigner{Jurisdiction: "XX-AT", Der: at.DSC.Raw},
		&roamv1.SetShcIssuer{Jurisdiction: "XX-US", Url: us.URL, Jwks: jwks},
		&roamv1.ImposeAgreement{Host: "110000", Issuer: "XX-AT", EffectiveFrom: july1.Unix(), Terms: &roamv1.AgreementTerms{}},
		&roamv1.ImposeAgreement{Host: "110000", Issuer: "XX-US", EffectiveFrom: july1.Unix(), Terms: &roamv1.AgreementTerms{}},
	} {
		idx, err := c.propose(ctx, "120000", m, kr.Nat())
		if err != nil {
			return fmt.Errorf("foreign trust: %w", err)
		}
		last = idx
	}
	if err := c.waitApplied(ctx, "110000", last); err != nil {
		return err
	}
	eu, err := at.Vaccination(july1, july1.AddDate(1, 0, 0), 2, 2, when.AddDate(0, 0, -30))
	if err != nil {
		return err
	}
	if err := j.verify(ctx, "eu-dcc-beijing", "a traveller from Austria with an EU Digital COVID Certificate (two doses, a month ago) at a Beijing intercity checkpoint", "110000", "intercity", eu, when, expectation{"PASS", nil}); err != nil {
		return err
	}
	card, err := us.VaccinationCard(july1, "208", when.AddDate(0, 0, -60), when.AddDate(0, 0, -39))
	if err != nil {
		return err
	}
	return j.verify(ctx, "shc-beijing", "a traveller with a SMART Health Card (two doses) at a Beijing intercity checkpoint", "110000", "intercity", card, when, expectation{"PASS", nil})
}

// nationalCode is a green code of the national platform's issuing service.
func nationalCode(s *roamjws.Signer, now time.Time) (string, error) {
	jti, err := roamjws.NewCodeID()
	if err != nil {
		return "", err
	}
	tok, err := s.Sign(&adapters.Claims{
		Issuer: registry.National, CodeID: jti, Subject: "nat-subject-7f3a", Display: "赵*", Color: adapters.Green,
		System: "national-health-code", Version: 1, IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(24 * time.Hour).Unix(),
	}, roamjws.TypCode)
	if err != nil {
		return "", err
	}
	return roamjws.Prefix + tok, nil
}

// issue gets a roam code for a resident from the issuing node, over gRPC.
func (j *journey) issue(ctx context.Context, issuer, resident string) (string, error) {
	resp, err := roamv1.NewIssuanceServiceClient(j.c.members[issuer].conn).IssueCode(ctx, &roamv1.IssueCodeRequest{ResidentId: resident})
	if err != nil {
		return "", fmt.Errorf("issue code at %s: %w", issuer, err)
	}
	return resp.GetCode(), nil
}

// report files n consecutive normal daily reports, one per simulated day,
// starting today.
func (j *journey) report(ctx context.Context, resident string, n int) error {
	for i := 0; i < n; i++ {
		if i > 0 {
			j.c.clock.Advance(24 * time.Hour)
		}
		if _, err := j.c.members["330000"].simAdmin.Report(ctx, resident, j.c.clock.Now().Format("2006-01-02"), true); err != nil {
			return fmt.Errorf("daily report: %w", err)
		}
	}
	return nil
}

// verify asks host's node to decide, over gRPC, and records the result.
func (j *journey) verify(ctx context.Context, step, situation, host, checkpoint, code string, at time.Time, want expectation) error {
	req := &roamv1.VerifyRequest{Payload: []byte(code), Host: host, Checkpoint: checkpoint}
	when := j.c.clock.Now()
	if !at.IsZero() {
		req.At, when = timestamppb.New(at), at
	}
	resp, err := roamv1.NewRecognitionServiceClient(j.c.members[host].conn).Verify(ctx, req)
	if err != nil {
		return fmt.Errorf("step %s: verify at %s: %w", step, host, err)
	}
	d := resp.GetDecision()
	r := &stepResult{
		Step: step, Situation: situation, Host: host, Issuer: d.GetIssuer(), Checkpoint: checkpoint,
		At: when.Format(time.RFC3339), Outcome: recognition.OutcomeName(d.GetOutcome()),
		AgreementID: d.GetAgreementId(), PolicyVersion: d.GetPolicyVersion(), RegistryIndex: d.GetRegistryIndex(),
		Expected: want.String(), Reasons: []jsonReason{},
	}
	for _, rs := range d.GetReasons() {
		r.Reasons = append(r.Reasons, jsonReason{Code: rs.GetCode(), Message: rs.GetMessage(), MessageZH: rs.GetMessageZh()})
	}
	r.AsExpected = want.met(r)
	if !r.AsExpected {
		j.failed = append(j.failed, step)
	}
	j.results = append(j.results, r)
	if j.json {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintln(j.out, string(b))
		return nil
	}
	mark := "✔"
	if !r.AsExpected {
		mark = "✘ expected " + r.Expected
	}
	fmt.Fprintf(j.out, "[%s] %s: %s\n", when.Format("2006-01-02"), step, situation)
	issuer := r.Issuer
	if issuer == "" {
		issuer = "?"
	}
	fmt.Fprintf(j.out, "  %s ← %s at %s: %s %s\n", host, issuer, checkpoint, r.Outcome, mark)
	if r.AgreementID != "" || r.PolicyVersion != "" {
		fmt.Fprintf(j.out, "    agreement %s, policy %s, registry index %d\n", orDash(r.AgreementID), orDash(r.PolicyVersion), r.RegistryIndex)
	}
	for _, rs := range r.Reasons {
		fmt.Fprintf(j.out, "    %-18s %s\n", rs.Code, rs.Message)
	}
	fmt.Fprintln(j.out)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// forge signs a plausible Zhejiang code with a fresh key that is not in the
// registry.
func forge(now time.Time) (string, error) {
	key, err := roamjws.GenerateKey(roamjws.ES256)
	if err != nil {
		return "", err
	}
	s, err := roamjws.NewSigner(key)
	if err != nil {
		return "", err
	}
	return forgeWith(s, now)
}

// forgeWith signs a green code claiming iss 330000 with signer.
func forgeWith(s *roamjws.Signer, now time.Time) (string, error) {
	jti, err := roamjws.NewCodeID()
	if err != nil {
		return "", err
	}
	tok, err := s.Sign(&adapters.Claims{
		Issuer: "330000", CodeID: jti, Subject: "forged-subject", Display: "张*三", Color: adapters.Green,
		System: "zhejiang-health-code", Version: 1, IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(24 * time.Hour).Unix(),
	}, roamjws.TypCode)
	if err != nil {
		return "", err
	}
	return roamjws.Prefix + tok, nil
}
