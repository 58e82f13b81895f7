package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// asNotAuthenticated qualifies every --as flag: it is a claim, not a proof.
const asNotAuthenticated = "Every node checks that the command is signed (--admin-key) by an admin of that jurisdiction"

func newAgreementCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "agreement", Short: "Propose, accept, suspend or terminate a mutual-recognition agreement (host ← issuer)"}

	var hosts, issuers []string
	var as, from, until, colors string
	var live bool
	var maxAge, maxNoStatus time.Duration
	propose := &cobra.Command{
		Use:   "propose --host 410000 --issuer 330000 --from 2020-02-28 --as 410000",
		Short: "Propose host ← issuer (the other party must accept); several hosts or issuers sign one batch",
		Long: `propose signs one ProposeAgreement. With several --host or --issuer values
(repeated or comma-separated) it signs every host ← issuer pair of them, with
the same terms, in one ProposeAgreements command (at most 512 pairs), all
or none: --as is then the one party every pair shares. Repeated ids count
once, and a jurisdiction is not paired with itself (it recognises its own
codes), so --host A,B,C --issuer A,B,C proposes every pair among them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(hosts) == 0 {
				return requireFlag("host", "")
			}
			if len(issuers) == 0 {
				return requireFlag("issuer", "")
			}
			if err := requireFlags("from", from); err != nil {
				return err
			}
			if as == "" {
				if len(hosts) != 1 {
					return fmt.Errorf("--as is required with several hosts: the party every pair shares")
				}
				as = hosts[0]
			}
			f, err := parseTime("from", from)
			if err != nil {
				return err
			}
			u, err := parseTime("until", until)
			if err != nil {
				return err
			}
			for _, v := range append(slices.Clone(hosts), issuers...) {
				if strings.TrimSpace(v) == "" {
					return fmt.Errorf("--host and --issuer take jurisdiction ids (comma-separated or repeated); got an empty one")
				}
			}
			hosts, issuers = slices.Compact(slices.Sorted(slices.Values(hosts))), slices.Compact(slices.Sorted(slices.Values(issuers)))
			var ps []*roamv1.ProposeAgreement
			for _, host := range hosts {
				for _, issuer := range issuers {
					if host == issuer && (len(hosts) > 1 || len(issuers) > 1) {
						continue // a jurisdiction recognises its own codes
					}
					terms := &roamv1.AgreementTerms{RequireLiveStatus: live, MaxCodeAgeSeconds: int64(maxAge / time.Second), MaxAgeWithoutStatusSeconds: int64(maxNoStatus / time.Second)}
					if colors != "" {
						terms.Colors = strings.Split(colors, ",")
					}
					p := &roamv1.ProposeAgreement{Host: host, Issuer: issuer, Terms: terms, EffectiveFrom: f.Unix(), ProposedBy: as, At: time.Now().Unix()}
					if !u.IsZero() {
						p.EffectiveUntil = u.Unix()
					}
					ps = append(ps, p)
				}
			}
			if len(ps) == 0 {
				return fmt.Errorf("no pair to propose: every host is its own issuer (a jurisdiction recognises its own codes without an agreement)")
			}
			for _, p := range ps {
				if as != p.GetHost() && as != p.GetIssuer() {
					return fmt.Errorf("--as %s is not a party to %s; every pair of one batch must include it", as, registry.AgreementID(p.GetHost(), p.GetIssuer()))
				}
			}
			var msg proto.Message = ps[0]
			if len(ps) > 1 {
				if len(ps) > registry.MaxBatch {
					return fmt.Errorf("%d pairs; one batch holds at most %d", len(ps), registry.MaxBatch)
				}
				msg = &roamv1.ProposeAgreements{Proposals: ps}
			}
			if err := g.propose(cmd, msg); err != nil {
				return err
			}
			if !g.json {
				ids := make([]string, len(ps))
				for i, p := range ps {
					ids[i] = registry.AgreementID(p.GetHost(), p.GetIssuer())
				}
				// Each other party accepts its own: one command per party.
				byParty := map[string][]string{}
				for i, p := range ps {
					other := p.GetIssuer()
					if as == other {
						other = p.GetHost()
					}
					byParty[other] = append(byParty[other], ids[i])
				}
				fmt.Fprintf(cmd.OutOrStdout(), "agreement %s proposed by %s; the other party accepts:\n", strings.Join(ids, ", "), as)
				for _, other := range slices.Sorted(maps.Keys(byParty)) {
					fmt.Fprintf(cmd.OutOrStdout(), "  roamctl agreement accept %s --as %s\n", strings.Join(byParty[other], " "), other)
				}
			}
			return nil
		},
	}
	pf := propose.Flags()
	pf.StringSliceVar(&hosts, "host", nil, "host jurisdiction (recognises the codes); several: one batch")
	pf.StringSliceVar(&issuers, "issuer", nil, "issuer jurisdiction (issues the codes); several: one batch")
	pf.StringVar(&as, "as", "", "acting jurisdiction, the proposing party: the host (default) or the issuer. "+asNotAuthenticated)
	pf.StringVar(&from, "from", "", "effective from (RFC 3339 or YYYY-MM-DD, UTC+8)")
	pf.StringVar(&until, "until", "", "effective until (optional)")
	pf.StringVar(&colors, "colors", "", "comma-separated colours recognised (default all)")
	pf.BoolVar(&live, "require-live-status", false, "every code needs a live status from the issuer's node")
	pf.DurationVar(&maxAge, "max-code-age", 0, "reject codes older than this (0: no limit)")
	pf.DurationVar(&maxNoStatus, "max-age-without-status", 0, "codes older than this need a live status (0: never)")

	var acceptAs string
	var version uint64
	accept := &cobra.Command{
		Use:   "accept AGREEMENT_ID... --as JURISDICTION",
		Short: "Accept proposed agreements as the other party; several ids sign one batch",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("as", acceptAs); err != nil {
				return err
			}
			if version != 0 && len(args) > 1 {
				return fmt.Errorf("--version applies to one agreement; leave it out to accept each one's current proposal")
			}
			var as []*roamv1.AcceptAgreement
			for _, id := range args {
				v := version
				if v == 0 {
					cv, err := currentVersion(cmd, g, id)
					if err != nil {
						return err
					}
					v = cv
				}
				as = append(as, &roamv1.AcceptAgreement{Id: id, Version: v, AcceptedBy: acceptAs, At: time.Now().Unix()})
			}
			if len(as) == 1 {
				return g.propose(cmd, as[0])
			}
			if len(as) > registry.MaxBatch {
				return fmt.Errorf("%d agreements; one batch holds at most %d", len(as), registry.MaxBatch)
			}
			return g.propose(cmd, &roamv1.AcceptAgreements{Acceptances: as})
		},
	}
	accept.Flags().StringVar(&acceptAs, "as", "", "acting jurisdiction, the accepting party (the one that did not propose). "+asNotAuthenticated)
	accept.Flags().Uint64Var(&version, "version", 0, "terms version to accept (default: the current proposal)")

	stateCmd := func(use, short string, mk func(id, by, why string) proto.Message) *cobra.Command {
		var by, why string
		cmd := &cobra.Command{
			Use:   use + " AGREEMENT_ID --as JURISDICTION",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := requireFlag("as", by); err != nil {
					return err
				}
				return g.propose(cmd, mk(args[0], by, why))
			},
		}
		cmd.Flags().StringVar(&by, "as", "", "acting jurisdiction (host or issuer). "+asNotAuthenticated)
		cmd.Flags().StringVar(&why, "reason", "", "why, for the record")
		return cmd
	}
	c.AddCommand(propose, accept, newImposeCmd(g), newMatrixCmd(g),
		stateCmd("suspend", "Suspend an active agreement", func(id, by, why string) proto.Message {
			return &roamv1.SuspendAgreement{Id: id, By: by, Reason: why, At: time.Now().Unix()}
		}),
		stateCmd("terminate", "Terminate an agreement for good", func(id, by, why string) proto.Message {
			return &roamv1.TerminateAgreement{Id: id, By: by, Reason: why, At: time.Now().Unix()}
		}))
	return c
}

func currentVersion(cmd *cobra.Command, g *globals, id string) (uint64, error) {
	resp, err := g.state(cmd)
	if err != nil {
		return 0, err
	}
	for _, a := range resp.GetRegistry().GetAgreements() {
		if a.GetId() == id {
			if p := a.GetPending(); p != nil {
				return p.GetVersion(), nil // new terms waiting for acceptance
			}
			return a.GetVersion(), nil
		}
	}
	return 0, fmt.Errorf("agreement %q not found (ids look like 410000-330000: host-issuer)", id)
}

func newKeyCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "key", Short: "Generate, register, retire or revoke issuer keys"}

	var alg, out string
	gen := &cobra.Command{
		Use:   "generate --out FILE",
		Short: "Generate a private signing key (JWK, 0600) and print its public JWK",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("out", out); err != nil {
				return err
			}
			k, err := roamjws.GenerateKey(alg)
			if err != nil {
				return err
			}
			priv, err := jsonMarshalKey(k)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, priv, 0o600); err != nil {
				return err
			}
			pub, err := roamjws.PublicJWK(k)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(pub))
			return nil
		},
	}
	gen.Flags().StringVar(&alg, "alg", roamjws.ES256, "ES256 or EdDSA")
	gen.Flags().StringVar(&out, "out", "", "file for the private JWK")

	var jur, jwkFile, addAlg, nbf, naf string
	add := &cobra.Command{
		Use:   "add --jurisdiction 330000 --jwk FILE --not-before 2020-02-26",
		Short: "Register a public issuer key (kid = RFC 7638 thumbprint)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("jurisdiction", jur); err != nil {
				return err
			}
			if err := requireFlag("jwk", jwkFile); err != nil {
				return err
			}
			if nbf == "" {
				return fmt.Errorf("--not-before is required: the time the key starts signing, e.g. 2020-02-26 (the demo runs in 2020)")
			}
			nb, err := parseTime("not-before", nbf)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(jwkFile)
			if err != nil {
				return err
			}
			kid, _, err := roamjws.ParsePublicJWK(b, addAlg)
			if err != nil {
				k, perr := parsePrivateToPublic(b)
				if perr != nil {
					return fmt.Errorf("--jwk: %w", err)
				}
				b = k
				if kid, _, err = roamjws.ParsePublicJWK(b, addAlg); err != nil {
					return fmt.Errorf("--jwk: %w", err)
				}
			}
			na, err := parseTime("not-after", naf)
			if err != nil {
				return err
			}
			k := &roamv1.IssuerKey{Kid: kid, Jurisdiction: jur, Alg: addAlg, Jwk: b, State: roamv1.KeyState_KEY_STATE_ACTIVE, NotBefore: nb.Unix()}
			if !na.IsZero() {
				k.NotAfter = na.Unix()
			}
			if !g.json {
				fmt.Fprintf(cmd.OutOrStdout(), "registering kid %s for %s\n", kid, jur)
			}
			return g.propose(cmd, &roamv1.AddKey{Key: k})
		},
	}
	add.Flags().StringVar(&jur, "jurisdiction", "", "owning jurisdiction")
	add.Flags().StringVar(&jwkFile, "jwk", "", "JWK file (public; a private JWK is reduced to its public half)")
	add.Flags().StringVar(&addAlg, "alg", roamjws.ES256, "ES256 or EdDSA")
	add.Flags().StringVar(&nbf, "not-before", "", "validity start, required (RFC 3339 or YYYY-MM-DD, UTC+8); no default, since the node's clock may be simulated (the demo runs in 2020)")
	add.Flags().StringVar(&naf, "not-after", "", "validity end (optional)")

	stateCmd := func(use, short string, st roamv1.KeyState) *cobra.Command {
		var at string
		cmd := &cobra.Command{
			Use:   use + " KID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				t := time.Now()
				if at != "" {
					var err error
					if t, err = parseTime("at", at); err != nil {
						return err
					}
				}
				return g.propose(cmd, &roamv1.SetKeyState{Kid: args[0], State: st, At: t.Unix()})
			},
		}
		cmd.Flags().StringVar(&at, "at", "", "when it takes effect (default now)")
		return cmd
	}
	c.AddCommand(gen, add,
		stateCmd("retire", "Retire a key: it verifies codes issued before, signs no more", roamv1.KeyState_KEY_STATE_RETIRED),
		stateCmd("revoke", "Revoke a key: every code it signed is rejected", roamv1.KeyState_KEY_STATE_REVOKED))
	return c
}
