package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func newReadCmd(g *globals, what, short string) *cobra.Command {
	return &cobra.Command{
		Use:   what,
		Short: short + " (from the node's local replica)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := g.state(cmd)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			r := resp.GetRegistry()
			if g.json || what == "state" {
				switch what {
				case "jurisdictions":
					return printJSON(out, &roamv1.RegistrySnapshot{Index: r.GetIndex(), Jurisdictions: r.GetJurisdictions()})
				case "keys":
					return printJSON(out, &roamv1.RegistrySnapshot{Index: r.GetIndex(), Keys: r.GetKeys()})
				case "agreements":
					return printJSON(out, &roamv1.RegistrySnapshot{Index: r.GetIndex(), Agreements: r.GetAgreements()})
				case "members":
					return printJSON(out, &roamv1.RegistrySnapshot{Index: r.GetIndex(), Members: r.GetMembers()})
				}
				return printJSON(out, resp)
			}
			tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
			switch what {
			case "jurisdictions":
				fmt.Fprintln(tw, "ID\tNAME\tCODE SYSTEM")
				for _, j := range r.GetJurisdictions() {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", j.GetId(), j.GetName(), j.GetCodeSystem())
				}
			case "keys":
				fmt.Fprintln(tw, "KID\tJURISDICTION\tALG\tSTATE\tNOT BEFORE\tNOT AFTER")
				for _, k := range r.GetKeys() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.GetKid(), k.GetJurisdiction(), k.GetAlg(), word(k.GetState()), fmtTime(k.GetNotBefore()), fmtTime(k.GetNotAfter()))
				}
			case "agreements":
				fmt.Fprintln(tw, "ID\tHOST ← ISSUER\tVERSION\tSTATE\tFROM\tUNTIL\tTERMS")
				for _, a := range r.GetAgreements() {
					t := a.GetTerms()
					terms := fmt.Sprintf("colors=%s live=%v max_age_without_status=%ds", colorsText(t.GetColors()), t.GetRequireLiveStatus(), t.GetMaxAgeWithoutStatusSeconds())
					fmt.Fprintf(tw, "%s\t%s ← %s\tv%d\t%s\t%s\t%s\t%s\n", a.GetId(), a.GetHost(), a.GetIssuer(), a.GetVersion(), word(a.GetState()), fmtTime(a.GetEffectiveFrom()), fmtTime(a.GetEffectiveUntil()), terms)
					if p := a.GetPending(); p != nil {
						fmt.Fprintf(tw, "\t  pending\tv%d\tproposed by %s\t%s\t%s\t\n", p.GetVersion(), p.GetProposedBy(), fmtTime(p.GetEffectiveFrom()), fmtTime(p.GetEffectiveUntil()))
					}
				}
			case "members":
				fmt.Fprintln(tw, "NODE\tJURISDICTION\tVOTER\tGRPC\tRAFT")
				for _, m := range r.GetMembers() {
					fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", m.GetNodeId(), m.GetJurisdiction(), m.GetVoter(), m.GetGrpcAddress(), m.GetRaftAddress())
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "(registry index %d, read from node %s)\n", resp.GetAppliedIndex(), resp.GetNodeId())
			return nil
		},
	}
}

func newClusterCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "Raft cluster membership"}
	c.AddCommand(newClusterJoinCmds(g)...)
	c.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Show the Raft configuration, leader and this node's indexes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, ctx, done, err := g.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := roamv1.NewRegistryServiceClient(conn).GetCluster(ctx, &roamv1.GetClusterRequest{})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "node %s is %s; term %d, commit index %d, applied index %d, last leader contact %dms ago\n",
				resp.GetNodeId(), resp.GetState(), resp.GetTerm(), resp.GetCommitIndex(), resp.GetAppliedIndex(), resp.GetLastContactMs())
			tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROLE\tLEADER\tRAFT\tGRPC")
			for _, s := range resp.GetServers() {
				role := "non-voter"
				if s.GetVoter() {
					role = "voter"
				}
				lead := ""
				if s.GetLeader() {
					lead = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.GetId(), role, lead, s.GetRaftAddress(), s.GetGrpcAddress())
			}
			return tw.Flush()
		},
	})
	return c
}

// colorsText prints an agreement's recognised colours; none listed means
// every colour is recognised.
func colorsText(colors []string) string {
	if len(colors) == 0 {
		return "all"
	}
	return strings.Join(colors, ",")
}
