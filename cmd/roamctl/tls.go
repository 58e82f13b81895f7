package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/roam-federation/roam/federation/identity"
)

func newTLSCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "tls", Short: "Make the federation's CA and node certificates (mutual TLS, issue 3 §7)"}
	var dir string
	var validity time.Duration
	ca := &cobra.Command{
		Use:   "ca --out-dir DIR",
		Short: "Create a CA: DIR/ca.pem (give to every node and roamctl) and DIR/ca-key.pem (keep offline)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlag("out-dir", dir); err != nil {
				return err
			}
			a, err := identity.NewCA("roam federation CA", validity)
			if err != nil {
				return err
			}
			key, err := a.KeyPEM()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "ca.pem"), a.PEM, 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "ca-key.pem"), key, 0o600); err != nil {
				return err
			}
			if g.json {
				return jsonOut(cmd.OutOrStdout(), map[string]any{"ca": filepath.Join(dir, "ca.pem"), "ca_key": filepath.Join(dir, "ca-key.pem"), "valid_for_s": int64(validity / time.Second)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA written to %s (ca.pem, ca-key.pem), valid %s\n", dir, validity)
			return nil
		},
	}
	ca.Flags().StringVar(&dir, "out-dir", "", "directory for ca.pem and ca-key.pem")
	ca.Flags().DurationVar(&validity, "valid-for", 5*365*24*time.Hour, "CA lifetime")

	var caDir, jur, nodeID, out string
	var hosts []string
	var nodeValidity time.Duration
	var client string
	issue := &cobra.Command{
		Use:   "issue --ca-dir DIR --jurisdiction 410000 --host 10.0.0.7 --out-dir DIR",
		Short: "Issue a node certificate bound to its jurisdiction (spiffe://roam/jurisdiction/<J>/node/<id>)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags("ca-dir", caDir, "jurisdiction", jur, "out-dir", out); err != nil {
				return err
			}
			if client != "" {
				// A client certificate for the province's own systems:
				// spiffe://roam/jurisdiction/<J>/node/<client>, no host.
				if nodeID != "" || len(hosts) > 0 {
					return fmt.Errorf("--client names a client certificate; it takes neither --node-id nor --host")
				}
				nodeID = client
			} else if len(hosts) == 0 {
				return fmt.Errorf("--host is required: the IP or DNS name peers dial this node at (repeatable)")
			}
			if nodeID == "" {
				nodeID = jur
			}
			a, err := identity.LoadCA(filepath.Join(caDir, "ca.pem"), filepath.Join(caDir, "ca-key.pem"))
			if err != nil {
				return fmt.Errorf("--ca-dir: %w", err)
			}
			certPEM, keyPEM, err := a.Issue(identity.ID{Jurisdiction: jur, NodeID: nodeID}, hosts, nodeValidity)
			if err != nil {
				return err
			}
			f, err := identity.WriteFiles(out, nodeID, a.PEM, certPEM, keyPEM)
			if err != nil {
				return err
			}
			if g.json {
				return jsonOut(cmd.OutOrStdout(), map[string]any{"ca": f.CA, "cert": f.Cert, "key": f.Key})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tls:\n  ca: %s\n  cert: %s\n  key: %s\n", f.CA, f.Cert, f.Key)
			return nil
		},
	}
	issue.Flags().StringVar(&caDir, "ca-dir", "", "directory holding ca.pem and ca-key.pem")
	issue.Flags().StringVar(&jur, "jurisdiction", "", "the node's jurisdiction")
	issue.Flags().StringVar(&nodeID, "node-id", "", "the node's id (default: its jurisdiction)")
	issue.Flags().StringArrayVar(&hosts, "host", nil, "IP or DNS name the node is reached at (repeatable)")
	issue.Flags().StringVar(&out, "out-dir", "", "directory for ca.pem, <node>.pem and <node>-key.pem")
	issue.Flags().DurationVar(&nodeValidity, "valid-for", 365*24*time.Hour, "certificate lifetime")
	issue.Flags().StringVar(&client, "client", "", "issue a client certificate named NAME for the jurisdiction's own systems instead of a node's (its app backend, its operators' roamctl): code issue at the jurisdiction's node needs one")
	c.AddCommand(ca, issue)
	return c
}
