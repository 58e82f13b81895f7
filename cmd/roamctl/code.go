package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/roam-federation/roam/adapters/qrimage"
	"github.com/roam-federation/roam/adapters/shc"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/recognition"
	"github.com/roam-federation/roam/policies"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func newCodeCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "code", Short: "Issue roam codes through a province's node, or revoke a code id"}
	var resident, qr string
	issue := &cobra.Command{
		Use:   "issue --resident ID_NUMBER [--qr FILE.png]",
		Short: "Ask the node (--addr) to issue a signed roam code for a resident of its provincial backend",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("resident", resident); err != nil {
				return err
			}
			conn, ctx, done, err := g.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := roamv1.NewIssuanceServiceClient(conn).IssueCode(ctx, &roamv1.IssueCodeRequest{ResidentId: resident})
			if err != nil {
				return err
			}
			if qr != "" {
				if err := qrcode.WriteFile(resp.GetCode(), qrcode.Medium, 512, qr); err != nil {
					return fmt.Errorf("--qr: %w", err)
				}
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, resp.GetCode())
			fmt.Fprintf(os.Stderr, "code id %s, %s (status version %d), expires %s", resp.GetCodeId(), resp.GetColor(), resp.GetVersion(), resp.GetExpiresAt().AsTime().In(clock.CST).Format(time.RFC3339))
			if qr != "" {
				fmt.Fprintf(os.Stderr, "; QR written to %s", qr)
			}
			fmt.Fprintln(os.Stderr)
			return nil
		},
	}
	issue.Flags().StringVar(&resident, "resident", "", "the resident's ID number at the provincial backend (never put in the code)")
	issue.Flags().StringVar(&qr, "qr", "", "also write the code as a QR PNG to this file")

	var jur, at string
	revoke := &cobra.Command{
		Use:   "revoke CODE_ID --jurisdiction 330000",
		Short: "Revoke one code id (jti) of a jurisdiction",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("jurisdiction", jur); err != nil {
				return err
			}
			t := time.Now()
			if at != "" {
				var err error
				if t, err = parseTime("at", at); err != nil {
					return err
				}
			}
			return g.propose(cmd, &roamv1.RevokeCode{Jurisdiction: jur, CodeId: args[0], At: t.Unix()})
		},
	}
	revoke.Flags().StringVar(&jur, "jurisdiction", "", "issuing jurisdiction")
	revoke.Flags().StringVar(&at, "at", "", "when (default now)")
	var qrOut string
	var qrSize int
	qrCmd := &cobra.Command{
		Use:   "qr PAYLOAD --out FILE.png",
		Short: "Write any code (roam:, HC1:, shc:/ …) as a QR PNG; PAYLOAD - reads stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("out", qrOut); err != nil {
				return err
			}
			text, err := readPayload(cmd.InOrStdin(), args, "")
			if err != nil {
				return err
			}
			b, err := qrimage.PNG(text, qrSize)
			if err != nil {
				return err
			}
			return os.WriteFile(qrOut, b, 0o644)
		},
	}
	qrCmd.Flags().StringVar(&qrOut, "out", "", "PNG file to write")
	qrCmd.Flags().IntVar(&qrSize, "size", 512, "image size in pixels")
	c.AddCommand(issue, revoke, qrCmd)
	return c
}

func newVerifyCmd(g *globals) *cobra.Command {
	var file, host, checkpoint, at, imageFile string
	var explain, offline bool
	var trustCerts, trustJWKS []string
	cmd := &cobra.Command{
		Use:   "verify [PAYLOAD] [--file F] [--host 410000] [--checkpoint intercity] [--at TIME]",
		Short: "Ask a node for a decision on a presented code",
		Long: `verify sends the code to the node at --addr and prints its decision as a
banner: the outcome in English and Chinese (PASS 通行, QUARANTINE_7D 隔离7天,
QUARANTINE_14D 隔离14天, TEST_REQUIRED 需核酸检测, REJECT 拒绝, UNDECIDED 无法判定;
in colour on a terminal, see --color), every reason with its stable code, its
Chinese and English title and the node's message, then the agreement, the
policy version and the registry index it read. --json prints one object
(outcome, reasons, host, issuer, color, agreement_id, policy_version,
registry_index, evaluated_at, and stages with --explain) for scripts.
PAYLOAD "-" or --file - reads standard input.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var payload string
			var err error
			if imageFile != "" {
				if len(args) > 0 || file != "" {
					return fmt.Errorf("give --image, --file or a payload, not several")
				}
				f, err := os.Open(imageFile)
				if err != nil {
					return fmt.Errorf("--image: %w", err)
				}
				payload, err = qrimage.Decode(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("--image %s: %w", imageFile, err)
				}
			} else if payload, err = readPayload(cmd.InOrStdin(), args, file); err != nil {
				return err
			}
			if offline {
				t, err := loadOfflineTrust(trustCerts, trustJWKS)
				if err != nil {
					return err
				}
				when := time.Now()
				if at != "" {
					if when, err = parseTime("at", at); err != nil {
						return err
					}
				}
				creds := smartHealthCardFile([]byte(payload))
				if creds == nil {
					return verifyOffline(cmd.OutOrStdout(), g.styler(cmd), t, []byte(payload), when, g.json, false)
				}
				// Every credential of the file is checked, not only the first.
				for i, c := range creds {
					if len(creds) > 1 && !g.json {
						fmt.Fprintf(cmd.OutOrStdout(), "credential %d of %d:\n", i+1, len(creds))
					}
					if err := verifyOffline(cmd.OutOrStdout(), g.styler(cmd), t, c, when, g.json, true); err != nil {
						return err
					}
				}
				return nil
			}
			// A .smart-health-card file or a bare card JWS goes to the node
			// in the card's QR form, which nodes detect.
			if creds := smartHealthCardFile([]byte(payload)); creds != nil {
				if len(creds) > 1 {
					return fmt.Errorf("the file holds %d credentials; a node decides on one code at a time (split the file, or use --offline to check them all)", len(creds))
				}
				payload = shc.JWSToNumeric(string(creds[0]))
			} else if compressedJWS([]byte(payload)) {
				payload = shc.JWSToNumeric(payload)
			}
			req := &roamv1.ExplainRequest{Payload: []byte(payload), Host: host, Checkpoint: checkpoint}
			if at != "" {
				t, err := parseTime("at", at)
				if err != nil {
					return err
				}
				req.At = timestamppb.New(t)
			}
			conn, ctx, done, err := g.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := roamv1.NewRecognitionServiceClient(conn).Explain(ctx, req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				type stage struct {
					Name   string `json:"name"`
					OK     bool   `json:"ok"`
					Reason string `json:"reason"`
				}
				type reasonJ struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				}
				d := resp.GetDecision()
				v := struct {
					Outcome       string    `json:"outcome"`
					Reasons       []reasonJ `json:"reasons"`
					Host          string    `json:"host"`
					Issuer        string    `json:"issuer"`
					Color         string    `json:"color,omitempty"`
					AgreementID   string    `json:"agreement_id"`
					PolicyVersion string    `json:"policy_version"`
					RegistryIndex uint64    `json:"registry_index"`
					EvaluatedAt   string    `json:"evaluated_at"`
					Stages        []stage   `json:"stages,omitempty"`
				}{Outcome: recognition.OutcomeName(d.GetOutcome()), Reasons: []reasonJ{}, Host: d.GetHost(), Issuer: d.GetIssuer(), Color: d.GetColor(),
					AgreementID: d.GetAgreementId(), PolicyVersion: d.GetPolicyVersion(), RegistryIndex: d.GetRegistryIndex(),
					EvaluatedAt: d.GetEvaluatedAt().AsTime().In(clock.CST).Format(time.RFC3339)}
				for _, r := range d.GetReasons() {
					v.Reasons = append(v.Reasons, reasonJ{r.GetCode(), r.GetMessage()})
				}
				if explain {
					for _, s := range resp.GetStages() {
						v.Stages = append(v.Stages, stage{s.GetName(), s.GetOk(), s.GetReason()})
					}
				}
				return jsonOut(out, v)
			}
			st := g.styler(cmd)
			if err := writeDecision(out, resp.GetDecision(), st); err != nil {
				return err
			}
			if explain {
				t := st.table(out, "STAGE", "OK", "REASON").colorBy(stateSGR, 1)
				for _, s := range resp.GetStages() {
					t.row(s.GetName(), s.GetOk(), s.GetReason())
				}
				return t.flush()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "read the payload from this file (- for stdin)")
	f.StringVar(&host, "host", "", "host jurisdiction (default: the node's own)")
	f.StringVar(&checkpoint, "checkpoint", "intercity", "metro, residential, intercity, workplace or venue")
	_ = cmd.RegisterFlagCompletionFunc("checkpoint", cobra.FixedCompletions(policies.Checkpoints(), cobra.ShellCompDirectiveNoFileComp))
	f.StringVar(&at, "at", "", "decide as of this time (RFC 3339 or YYYY-MM-DD; default: the node's clock)")
	f.BoolVar(&explain, "explain", false, "also print every pipeline stage")
	f.StringVar(&imageFile, "image", "", "read the code from a QR photo (PNG or JPEG)")
	f.BoolVar(&offline, "offline", false, "check signature and times without a node (agreement and policy are skipped)")
	f.StringArrayVar(&trustCerts, "trust-cert", nil, "with --offline: a DSC certificate to trust for EU DCCs (PEM, DER or base64 DER); repeatable")
	f.StringArrayVar(&trustJWKS, "trust-jwks", nil, "with --offline: [ISSUER=]FILE, a JWK set to trust (ISSUER a jurisdiction id or an SHC issuer URL binds the keys to it); repeatable")
	return cmd
}

// maxPayloadRead bounds what roamctl reads from a file or stdin (bytes); the
// node enforces its own 4 KiB cap and says so with input_too_large.
const maxPayloadRead = 64 << 10

func readPayload(stdin io.Reader, args []string, file string) (string, error) {
	switch {
	case len(args) == 1 && file != "":
		return "", fmt.Errorf("give the payload as an argument or --file, not both")
	case len(args) == 1 && args[0] != "-":
		return args[0], nil
	case len(args) == 1 || file == "-":
		return readCapped(stdin)
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		return readCapped(f)
	}
	return "", fmt.Errorf("no payload: give it as an argument (roam:eyJ…), --file F, or - for stdin")
}

// readCapped reads a payload, dropping one final newline (the one a shell or
// editor adds); anything else is sent as is, so the node can reject it.
func readCapped(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPayloadRead+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxPayloadRead {
		return "", fmt.Errorf("payload is over %d bytes", maxPayloadRead)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	return s, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
