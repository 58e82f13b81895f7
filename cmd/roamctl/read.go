package main

import (
	"fmt"
	"strings"

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
			st := g.styler(cmd)
			var t *table
			switch what {
			case "jurisdictions":
				t = st.table(out, "ID", "NAME", "CODE SYSTEM")
				for _, j := range r.GetJurisdictions() {
					t.row(j.GetId(), j.GetName(), j.GetCodeSystem())
				}
			case "keys":
				t = st.table(out, "KID", "JURISDICTION", "ALG", "STATE", "NOT BEFORE", "NOT AFTER").colorBy(stateSGR, 3)
				for _, k := range r.GetKeys() {
					t.row(k.GetKid(), k.GetJurisdiction(), k.GetAlg(), word(k.GetState()), fmtTime(k.GetNotBefore()), fmtTime(k.GetNotAfter()))
				}
			case "agreements":
				t = st.table(out, "ID", "HOST ← ISSUER", "VERSION", "STATE", "FROM", "UNTIL", "TERMS").colorBy(stateSGR, 3)
				for _, a := range r.GetAgreements() {
					tm := a.GetTerms()
					terms := fmt.Sprintf("colors=%s live=%v max_age_without_status=%ds", colorsText(tm.GetColors()), tm.GetRequireLiveStatus(), tm.GetMaxAgeWithoutStatusSeconds())
					t.row(a.GetId(), a.GetHost()+" ← "+a.GetIssuer(), fmt.Sprintf("v%d", a.GetVersion()), word(a.GetState()), fmtTime(a.GetEffectiveFrom()), fmtTime(a.GetEffectiveUntil()), terms)
					if p := a.GetPending(); p != nil {
						t.row("", "  pending", fmt.Sprintf("v%d", p.GetVersion()), "proposed by "+p.GetProposedBy(), fmtTime(p.GetEffectiveFrom()), fmtTime(p.GetEffectiveUntil()), "")
					}
				}
			case "members":
				t = st.table(out, "NODE", "JURISDICTION", "VOTER", "GRPC", "RAFT")
				for _, m := range r.GetMembers() {
					t.row(m.GetNodeId(), m.GetJurisdiction(), m.GetVoter(), m.GetGrpcAddress(), m.GetRaftAddress())
				}
			}
			if err := t.flush(); err != nil {
				return err
			}
			fmt.Fprintln(out, st.paint(sgrGrey, fmt.Sprintf("(registry index %d, read from node %s)", resp.GetAppliedIndex(), resp.GetNodeId())))
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
			t := g.styler(cmd).table(out, "ID", "ROLE", "LEADER", "RAFT", "GRPC")
			for _, s := range resp.GetServers() {
				role := "non-voter"
				if s.GetVoter() {
					role = "voter"
				}
				lead := ""
				if s.GetLeader() {
					lead = "*"
				}
				t.row(s.GetId(), role, lead, s.GetRaftAddress(), s.GetGrpcAddress())
			}
			return t.flush()
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
