package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/node"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func newGenesisCmd(g *globals) *cobra.Command {
	var pubs []string
	var quorum uint32
	var out string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "genesis --national-jwk A.pub.jwk --national-jwk B.pub.jwk --quorum 2 --admin-key a.jwk --admin-key b.jwk --out genesis.json",
		Short: "Write the genesis command for a new federation: the national admin keys and the quorum, signed by a quorum of them",
		Long: `genesis writes the file the bootstrapping node's config names in genesis:.
The national admins' public JWKs are fixed there; later changes need the
quorum. --admin-key gives the private keys that sign (at least --quorum of
them, each the private half of one --national-jwk). The node must apply it
within --command-ttl (at most 24h) of signing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(pubs) == 0 {
				return fmt.Errorf("--national-jwk is required, once per national admin")
			}
			if err := requireFlag("out", out); err != nil {
				return err
			}
			gen := &roamv1.Genesis{Quorum: quorum}
			for i, p := range pubs {
				b, err := os.ReadFile(p)
				if err != nil {
					return fmt.Errorf("--national-jwk: %w", err)
				}
				k, err := parseAnyKey(b)
				if err != nil {
					return fmt.Errorf("--national-jwk %s: %w", p, err)
				}
				ak, err := registry.AdminKeyOf(k, registry.National, fmt.Sprintf("national admin %d", i+1))
				if err != nil {
					return fmt.Errorf("--national-jwk %s: %w", p, err)
				}
				gen.NationalAdmins = append(gen.NationalAdmins, ak)
			}
			signers, err := g.adminSigners()
			if err != nil {
				return err
			}
			if ttl <= 0 {
				ttl = registry.MaxCommandTTL
			}
			sc, id, err := registry.SignCommand(gen, time.Now(), ttl, signers...)
			if err != nil {
				return err
			}
			if err := node.WriteSignedCommand(out, sc); err != nil {
				return err
			}
			if g.json {
				return jsonOut(cmd.OutOrStdout(), map[string]any{"command_id": id, "national_admins": len(pubs), "quorum": quorum,
					"signatures": len(signers), "out": out, "valid_for_s": int64(ttl / time.Second)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "genesis %s: %d national admin keys, quorum %d, %d signatures; written to %s (valid for %s)\n", id, len(pubs), quorum, len(signers), out, ttl)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&pubs, "national-jwk", nil, "a national admin's public JWK file (repeat for each)")
	cmd.Flags().Uint32Var(&quorum, "quorum", 1, "M: national signatures needed for national-key changes")
	cmd.Flags().StringVar(&out, "out", "", "file to write")
	cmd.Flags().DurationVar(&ttl, "valid-for", registry.MaxCommandTTL, "how long the bootstrapping node has to apply it (at most 24h)")
	return cmd
}

func newJurisdictionCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "jurisdiction", Short: "Onboard or offboard a jurisdiction (national admin)"}
	var name, system string
	add := &cobra.Command{
		Use:   "add ID --name NAME",
		Short: "Onboard a jurisdiction (GB/T 2260 code, or XX-<ISO 3166> for foreign issuers)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("name", name); err != nil {
				return err
			}
			if system == "" {
				system = node.SystemFor(args[0])
			}
			return g.propose(cmd, &roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: args[0], Name: name, CodeSystem: system}})
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name, e.g. Henan")
	add.Flags().StringVar(&system, "code-system", "", "native code system (default from the id)")
	remove := g.proposeArg("remove ID", "Offboard a jurisdiction: its keys are revoked and its agreements terminated", func(arg string) proto.Message { return &roamv1.RemoveJurisdiction{Id: arg} })
	c.AddCommand(add, remove)
	return c
}

func newAdminCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "admin", Short: "Add or revoke admin keys (the keys that sign registry changes)"}
	var jur, jwkFile, holder string
	add := &cobra.Command{
		Use:   "add --jurisdiction 410000 --jwk admin.pub.jwk --holder NAME",
		Short: "Add an admin key for a jurisdiction (a national admin signs; a national key needs the quorum)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags("jurisdiction", jur, "jwk", jwkFile, "holder", holder); err != nil {
				return err
			}
			b, err := os.ReadFile(jwkFile)
			if err != nil {
				return fmt.Errorf("--jwk: %w", err)
			}
			k, err := parseAnyKey(b)
			if err != nil {
				return fmt.Errorf("--jwk: %w", err)
			}
			ak, err := registry.AdminKeyOf(k, jur, holder)
			if err != nil {
				return fmt.Errorf("--jwk: %w", err)
			}
			return g.propose(cmd, &roamv1.AddAdminKey{Key: ak})
		},
	}
	add.Flags().StringVar(&jur, "jurisdiction", "", "the jurisdiction the key acts for (000000 for a national admin)")
	add.Flags().StringVar(&jwkFile, "jwk", "", "the admin's JWK file (a private JWK is reduced to its public half)")
	add.Flags().StringVar(&holder, "holder", "", "who holds the key, e.g. \"Henan health commission\"")
	revoke := g.proposeArg("revoke KID", "Revoke an admin key", func(arg string) proto.Message { return &roamv1.RevokeAdminKey{Kid: arg} })
	c.AddCommand(add, revoke)
	return c
}

func newHubCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "hub", Short: "The national platform hub: members recognise each other through it (DESIGN.md §1, mode 2)"}
	var from string
	join := &cobra.Command{
		Use:   "join JURISDICTION --from DATE",
		Short: "Admit a jurisdiction to the hub (national admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlag("from", from); err != nil {
				return err
			}
			t, err := parseTime("from", from)
			if err != nil {
				return err
			}
			return g.propose(cmd, &roamv1.JoinHub{Jurisdiction: args[0], EffectiveFrom: t.Unix(), Terms: &roamv1.AgreementTerms{}})
		},
	}
	join.Flags().StringVar(&from, "from", "", "effective from (RFC 3339 or YYYY-MM-DD, UTC+8)")
	leave := g.proposeArg("leave JURISDICTION", "Withdraw a jurisdiction from the hub (national admin or the jurisdiction's admin)", func(arg string) proto.Message { return &roamv1.LeaveHub{Jurisdiction: arg} })
	c.AddCommand(join, leave)
	return c
}

func newAuditCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "Every registry change, accepted or rejected, and a re-check of all of them"}
	var from uint64
	log := &cobra.Command{
		Use:   "log",
		Short: "List every registry change: index, time, command, signer, jurisdiction, result, reason",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			recs, _, err := g.fetchAudit(cmd, from)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), &roamv1.ListAuditResponse{Records: stripEntries(recs)})
			}
			t := g.styler(cmd).table(cmd.OutOrStdout(), "INDEX", "APPENDED (wall clock, UTC+8)", "COMMAND", "SIGNER", "JURISDICTION", "RESULT", "DETAIL").colorBy(stateSGR, 5)
			for _, r := range recs {
				result, detail := "accepted", r.GetSummary()
				if !r.GetAccepted() {
					result, detail = "REJECTED", r.GetReason()
				}
				signer := strings.Join(shortKids(r.GetSigners()), ",")
				t.row(r.GetIndex(), time.Unix(r.GetTime(), 0).In(clock.CST).Format("2006-01-02 15:04:05"),
					commandName(r.GetType()), dash(signer), dash(strings.Join(r.GetSignerJurisdictions(), ",")), result, detail)
			}
			return t.flush()
		},
	}
	log.Flags().Uint64Var(&from, "from", 0, "only records after this index")
	var dataDir, expect, genesisFile string
	verify := &cobra.Command{
		Use:   "verify [--data-dir DIR]",
		Short: "Re-verify every signature and authority decision, and the hash chain; report the first inconsistency",
		Long: `verify replays the registry's whole history through a fresh registry and
checks that every recorded outcome and the SHA-256 hash chain come out the
same. Without --data-dir it reads the audit trail from the node at --addr.
With --data-dir it reads a stopped node's snapshot and Raft log instead,
and also catches a log that was edited on disk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			out := cmd.OutOrStdout()
			if dataDir != "" {
				var head []byte
				if expect != "" {
					if head, err = hex.DecodeString(expect); err != nil || len(head) != 32 {
						return fmt.Errorf("--expect-head: want the 64 hex digits a live node's audit verify prints")
					}
				}
				rep, err := node.VerifyDataDir(dataDir, head)
				if err != nil {
					return err
				}
				if g.json {
					return jsonOut(out, map[string]any{"ok": true, "snapshot_index": rep.SnapshotIndex, "snapshot_records": rep.SnapshotRecords,
						"log_entries": rep.LogEntries, "replayed": rep.Replayed, "chain_head": hex.EncodeToString(rep.ChainHead)})
				}
				fmt.Fprintf(out, "ok: snapshot at index %d with %d audit records replayed, %d log entries checked, %d replayed after it; chain head %s\n",
					rep.SnapshotIndex, rep.SnapshotRecords, rep.LogEntries, rep.Replayed, hex.EncodeToString(rep.ChainHead))
				return nil
			}
			recs, head, err := g.fetchAudit(cmd, 0)
			if err != nil {
				return err
			}
			if genesisFile != "" {
				// Pin the root of trust: the node must not choose it.
				sc, err := node.ReadSignedCommand(genesisFile)
				if err != nil {
					return fmt.Errorf("--genesis: %w", err)
				}
				want, err := registry.EncodeSigned(sc)
				if err != nil {
					return fmt.Errorf("--genesis: %w", err)
				}
				if len(recs) == 0 || string(recs[0].GetEntry()) != string(want) {
					return fmt.Errorf("%w: the registry's genesis is not the one in %s", registry.ErrAuditMismatch, genesisFile)
				}
			}
			if _, err := registry.VerifyAudit(recs, head); err != nil {
				return err
			}
			if g.json {
				return jsonOut(out, map[string]any{"ok": true, "records": len(recs), "chain_head": hex.EncodeToString(head)})
			}
			fmt.Fprintf(out, "ok: %d registry changes re-verified from genesis; chain head %s\n", len(recs), hex.EncodeToString(head))
			return nil
		},
	}
	verify.Flags().StringVar(&dataDir, "data-dir", "", "verify a stopped node's data dir instead of a running node")
	verify.Flags().StringVar(&genesisFile, "genesis", "", "the federation's genesis file: fail unless the registry starts from it (pins the national admin keys)")
	verify.Flags().StringVar(&expect, "expect-head", "", "with --data-dir: the chain head a live replica reports, to anchor entries after the last snapshot")
	c.AddCommand(log, verify)
	return c
}

// fetchAudit pages through ListAudit from index from, returning all records
// and the chain head at the end.
func (g *globals) fetchAudit(cmd *cobra.Command, from uint64) ([]*roamv1.AuditRecord, []byte, error) {
	conn, ctx, done, err := g.open(cmd)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	var out []*roamv1.AuditRecord
	var head []byte
	for {
		resp, err := roamv1.NewRegistryServiceClient(conn).ListAudit(ctx, &roamv1.ListAuditRequest{FromIndex: from, Limit: 1000})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, resp.GetRecords()...)
		head = resp.GetChainHead()
		if len(resp.GetRecords()) < 1000 {
			return out, head, nil
		}
		from = resp.GetRecords()[len(resp.GetRecords())-1].GetIndex()
	}
}

func stripEntries(recs []*roamv1.AuditRecord) []*roamv1.AuditRecord {
	out := make([]*roamv1.AuditRecord, len(recs))
	for i, r := range recs {
		c := proto.Clone(r).(*roamv1.AuditRecord)
		c.Entry = nil
		out[i] = c
	}
	return out
}

func shortKids(kids []string) []string {
	out := make([]string, len(kids))
	for i, k := range kids {
		if len(k) > 8 {
			k = k[:8] + "…"
		}
		out[i] = k
	}
	return out
}

func commandName(t roamv1.CommandType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "COMMAND_TYPE_"))
}

// matrixOf computes who recognises whom: the host rows (every
// jurisdiction but the national one, sorted), the issuer columns (the same
// ids, then 000000) and cells[row][col], the agreement state ("active",
// "suspended", …), "self", "hub" (both are hub members and no agreement of
// their own) or "·" (none).
func matrixOf(st *roamv1.RegistrySnapshot) (hosts, issuers []string, cells [][]string) {
	for _, j := range st.GetJurisdictions() {
		if j.GetId() != registry.National {
			hosts = append(hosts, j.GetId())
		}
	}
	sort.Strings(hosts)
	// The national code (000000) is an issuer column only.
	issuers = append(slices.Clone(hosts), registry.National)
	cell := map[string]string{}
	for _, a := range st.GetAgreements() {
		cell[a.GetHost()+"<"+a.GetIssuer()] = word(a.GetState())
	}
	hub := map[string]bool{}
	for _, h := range st.GetHubMembers() {
		hub[h.GetJurisdiction()] = true
	}
	for _, h := range hosts {
		row := make([]string, len(issuers))
		for k, i := range issuers {
			v := cell[h+"<"+i]
			switch {
			case h == i:
				v = "self"
			case v == "" && hub[h] && hub[i]:
				v = "hub"
			case v == "":
				v = "·"
			}
			row[k] = v
		}
		cells = append(cells, row)
	}
	return hosts, issuers, cells
}

// printMatrix prints the matrix as a table (rows hosts, columns issuers),
// or with --json one object: registry_index, hosts, issuers and cells
// (cells[i][j] is hosts[i] ← issuers[j]).
func printMatrix(cmd *cobra.Command, g *globals, resp *roamv1.GetStateResponse) error {
	hosts, issuers, cells := matrixOf(resp.GetRegistry())
	out := cmd.OutOrStdout()
	if g.json {
		if cells == nil {
			cells = [][]string{}
		}
		return jsonOut(out, struct {
			RegistryIndex uint64     `json:"registry_index"`
			Hosts         []string   `json:"hosts"`
			Issuers       []string   `json:"issuers"`
			Cells         [][]string `json:"cells"`
		}{resp.GetAppliedIndex(), nonNil(hosts), issuers, cells})
	}
	cols := make([]int, len(issuers))
	for i := range cols {
		cols[i] = i + 1
	}
	t := g.styler(cmd).table(out, append([]string{"HOST ↓ ISSUER →"}, issuers...)...).colorBy(stateSGR, cols...)
	for i, h := range hosts {
		row := []any{h}
		for _, c := range cells[i] {
			row = append(row, c)
		}
		t.row(row...)
	}
	return t.flush()
}

func newMatrixCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "matrix",
		Short: "Print who recognises whom: rows are hosts, columns issuers, cells the agreement state (hub = through the national platform)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := g.state(cmd)
			if err != nil {
				return err
			}
			return printMatrix(cmd, g, resp)
		},
	}
}

// nonNil makes a nil list print as [] in JSON.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newImposeCmd(g *globals) *cobra.Command {
	var host, issuer, from, until string
	cmd := &cobra.Command{
		Use:   "impose --host 410000 --issuer 420000 --from 2020-03-18",
		Short: "Make host ← issuer active by national decision, without the parties' acts (national admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags("host", host, "issuer", issuer, "from", from); err != nil {
				return err
			}
			f, err := parseTime("from", from)
			if err != nil {
				return err
			}
			u, err := parseTime("until", until)
			if err != nil {
				return err
			}
			m := &roamv1.ImposeAgreement{Host: host, Issuer: issuer, EffectiveFrom: f.Unix(), Terms: &roamv1.AgreementTerms{}}
			if !u.IsZero() {
				m.EffectiveUntil = u.Unix()
			}
			return g.propose(cmd, m)
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "host jurisdiction")
	cmd.Flags().StringVar(&issuer, "issuer", "", "issuer jurisdiction")
	cmd.Flags().StringVar(&from, "from", "", "effective from (RFC 3339 or YYYY-MM-DD, UTC+8)")
	cmd.Flags().StringVar(&until, "until", "", "effective until (optional)")
	return cmd
}

// memberFlags are the flags that describe a node joining the cluster.
type memberFlags struct {
	id, jurisdiction, raft, grpc string
	nonVoter                     bool
}

func (m *memberFlags) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&m.id, "node-id", "", "the node's id (default: its jurisdiction)")
	f.StringVar(&m.jurisdiction, "jurisdiction", "", "the jurisdiction the node serves")
	f.StringVar(&m.raft, "raft", "", "the node's Raft address host:port (raft_advertise)")
	f.StringVar(&m.grpc, "grpc", "", "the node's gRPC address host:port (grpc_advertise)")
	f.BoolVar(&m.nonVoter, "non-voter", false, "join as a non-voter replica")
}

func (m *memberFlags) member() (*roamv1.UpsertMember, error) {
	if err := requireFlags("jurisdiction", m.jurisdiction, "raft", m.raft, "grpc", m.grpc); err != nil {
		return nil, err
	}
	if m.id == "" {
		m.id = m.jurisdiction
	}
	return &roamv1.UpsertMember{Member: &roamv1.Member{NodeId: m.id, Jurisdiction: m.jurisdiction, RaftAddress: m.raft, GrpcAddress: m.grpc, Voter: !m.nonVoter}}, nil
}

func newClusterJoinCmds(g *globals) []*cobra.Command {
	var jm memberFlags
	join := &cobra.Command{
		Use:   "join --jurisdiction 410000 --raft HOST:PORT --grpc HOST:PORT [--non-voter]",
		Short: "Add a running node to the cluster (national admin signs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := jm.member()
			if err != nil {
				return err
			}
			sc, err := g.sign(m)
			if err != nil {
				return err
			}
			conn, ctx, done, err := g.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := roamv1.NewPeeringServiceClient(conn).Join(ctx, &roamv1.JoinRequest{Member: sc})
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(cmd.OutOrStdout(), map[string]any{"node_id": m.GetMember().GetNodeId(), "voter": m.GetMember().GetVoter(), "index": resp.GetIndex()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s joined; member record committed at index %d\n", m.GetMember().GetNodeId(), resp.GetIndex())
			return nil
		},
	}
	jm.bind(join)
	var tm memberFlags
	var out string
	token := &cobra.Command{
		Use:   "join-token --jurisdiction 410000 --raft HOST:PORT --grpc HOST:PORT --out FILE",
		Short: "Write a signed join token for a node's join_token config (national admin signs; valid for --command-ttl, at most 24h)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("out", out); err != nil {
				return err
			}
			m, err := tm.member()
			if err != nil {
				return err
			}
			sc, err := g.sign(m)
			if err != nil {
				return err
			}
			if err := node.WriteSignedCommand(out, sc); err != nil {
				return err
			}
			if g.json {
				return jsonOut(cmd.OutOrStdout(), map[string]any{"node_id": m.GetMember().GetNodeId(), "out": out})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "join token for %s written to %s\n", m.GetMember().GetNodeId(), out)
			return nil
		},
	}
	tm.bind(token)
	token.Flags().StringVar(&out, "out", "", "file to write")
	remove := &cobra.Command{
		Use:   "remove NODE_ID",
		Short: "Remove a node from the cluster; it shuts its Raft down (national admin signs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := g.sign(&roamv1.RemoveMember{NodeId: args[0]})
			if err != nil {
				return err
			}
			conn, ctx, done, err := g.open(cmd)
			if err != nil {
				return err
			}
			defer done()
			resp, err := roamv1.NewPeeringServiceClient(conn).Remove(ctx, &roamv1.RemoveRequest{Member: sc})
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(cmd.OutOrStdout(), map[string]any{"node_id": args[0], "index": resp.GetIndex()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s removed at index %d\n", args[0], resp.GetIndex())
			return nil
		},
	}
	role := func(use, short string, voter bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " NODE_ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				conn, ctx, done, err := g.open(cmd)
				if err != nil {
					return err
				}
				defer done()
				st, err := roamv1.NewRegistryServiceClient(conn).GetState(ctx, &roamv1.GetStateRequest{})
				if err != nil {
					return err
				}
				var m *roamv1.Member
				for _, x := range st.GetRegistry().GetMembers() {
					if x.GetNodeId() == args[0] {
						m = x
					}
				}
				if m == nil {
					return fmt.Errorf("node %q is not a registered member (see roamctl members)", args[0])
				}
				m.Voter = voter
				sc, err := g.sign(&roamv1.UpsertMember{Member: m})
				if err != nil {
					return err
				}
				resp, err := roamv1.NewPeeringServiceClient(conn).Join(ctx, &roamv1.JoinRequest{Member: sc})
				if err != nil {
					return err
				}
				if g.json {
					return jsonOut(cmd.OutOrStdout(), map[string]any{"node_id": args[0], "voter": voter, "index": resp.GetIndex()})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "node %s is now a %s (index %d)\n", args[0], map[bool]string{true: "voter", false: "non-voter"}[voter], resp.GetIndex())
				return nil
			},
		}
	}
	return []*cobra.Command{join, token, remove,
		role("promote", "Make a non-voter a voter (national admin signs)", true),
		role("demote", "Make a voter a non-voter (national admin signs)", false)}
}
