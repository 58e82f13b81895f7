package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "roamctl:", describe(err))
		os.Exit(1)
	}
}

// describe turns a gRPC status into "Code: message".
func describe(err error) string {
	if st, ok := status.FromError(err); ok && st.Code() != 0 {
		return fmt.Sprintf("%s: %s", st.Code(), st.Message())
	}
	return err.Error()
}

// globals are the flags every command shares.
type globals struct {
	addr    string
	timeout time.Duration
	json    bool
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "roamctl",
		Short:         "roam CLI: registry, agreements, keys, codes and verification over a node's gRPC API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr("ROAM_ADDR", "127.0.0.1:7410"), "node gRPC address host:port (env ROAM_ADDR)")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "deadline for each call")
	pf.BoolVar(&g.json, "json", false, "print JSON")
	root.AddCommand(
		newReadCmd(g, "jurisdictions", "List jurisdictions"),
		newReadCmd(g, "keys", "List issuer keys with state and validity window"),
		newReadCmd(g, "agreements", "List agreements (host ← issuer) with state and effective window"),
		newReadCmd(g, "members", "List cluster members known to the registry"),
		newReadCmd(g, "state", "Print the whole registry"),
		newClusterCmd(g),
		newAgreementCmd(g),
		newKeyCmd(g),
		newCodeCmd(g),
		newVerifyCmd(g),
	)
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// dial connects to --addr; the caller closes the connection.
func (g *globals) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient(g.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func (g *globals) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), g.timeout)
}

func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// parseTime accepts RFC 3339 or a date (YYYY-MM-DD, midnight CST).
func parseTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, clock.CST); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339 (2020-03-02T09:00:00+08:00) or a date (2020-03-02, midnight UTC+8)", flag, v)
}

func fmtTime(sec int64) string {
	if sec == 0 {
		return "-"
	}
	return time.Unix(sec, 0).In(clock.CST).Format("2006-01-02 15:04")
}

func word(s fmt.Stringer) string {
	v := s.String()
	if i := strings.LastIndex(v, "_STATE_"); i >= 0 {
		v = v[i+len("_STATE_"):]
	}
	return strings.ToLower(v)
}

// propose wraps msg in a command and submits it through --addr.
func (g *globals) propose(cmd *cobra.Command, msg proto.Message) error {
	c, err := registry.NewCommand(msg)
	if err != nil {
		return err
	}
	conn, err := g.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := g.ctx(cmd)
	defer cancel()
	resp, err := roamv1.NewRegistryServiceClient(conn).Propose(ctx, &roamv1.ProposeRequest{Command: c})
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(cmd.OutOrStdout(), resp)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "committed at index %d\n", resp.GetIndex())
	return nil
}

func requireFlag(name, v string) error {
	if v == "" {
		return fmt.Errorf("--%s is required", name)
	}
	return nil
}

func jsonOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
