package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/identity"
	"github.com/roam-federation/roam/federation/peering"
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

// describe turns a gRPC status into "Code: message", with a hint when the
// failure looks like --addr is not a gRPC server at all (an HTTP/1 server
// answers the HTTP/2 preface with garbage: "frame too large" and the like).
func describe(err error) string {
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		msg := fmt.Sprintf("%s: %s", st.Code(), st.Message())
		if (st.Code() == codes.Unavailable || st.Code() == codes.Internal) && notGRPC(st.Message()) {
			msg += "\n  is --addr a roamd gRPC address? (the demo's nodes are 127.0.0.1:7410-7414)"
		}
		return msg
	}
	return err.Error()
}

// notGRPC reports whether a transport error says the peer does not speak
// gRPC over HTTP/2.
func notGRPC(msg string) bool {
	m := strings.ToLower(msg)
	for _, s := range []string{"http2", "frame too large", "malformed http"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// globals are the flags every command shares.
type globals struct {
	adminKeys []string
	tlsCA     string
	// tlsCert and tlsKey: a client certificate from the federation CA,
	// needed where a node admits only its own jurisdiction (code issue).
	tlsCert, tlsKey string
	ttl             time.Duration
	addr            string
	timeout         time.Duration
	json            bool
	color           colorMode
}

func newRoot() *cobra.Command {
	g := &globals{color: colorAuto}
	root := &cobra.Command{
		Use:           "roamctl",
		Short:         "roam CLI: registry, agreements, keys, codes and verification over a node's gRPC API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", envOr("ROAM_ADDR", "127.0.0.1:7410"), "node gRPC address host:port (env ROAM_ADDR)")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "deadline for each call (positive, e.g. 10s)")
	pf.BoolVar(&g.json, "json", false, "print JSON (never coloured)")
	pf.Var(&g.color, "color", "colour the output: auto (only when stdout is a terminal and NO_COLOR is unset), always or never")
	_ = root.RegisterFlagCompletionFunc("color", cobra.FixedCompletions([]string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
	pf.StringArrayVar(&g.adminKeys, "admin-key", nil, "file holding a private admin JWK that signs registry changes (or set ROAM_ADMIN_KEY_FILE); repeat for national quorum acts")
	pf.StringVar(&g.tlsCA, "tls-ca", os.Getenv("ROAM_TLS_CA"), "the federation's CA certificate (PEM): connect over TLS (env ROAM_TLS_CA; the demo prints it)")
	pf.StringVar(&g.tlsCert, "tls-cert", os.Getenv("ROAM_TLS_CERT"), "a client certificate (PEM) from the federation CA naming your jurisdiction; code issue needs one (env ROAM_TLS_CERT; the demo prints one for 330000)")
	pf.StringVar(&g.tlsKey, "tls-key", os.Getenv("ROAM_TLS_KEY"), "the private key (PEM) of --tls-cert (env ROAM_TLS_KEY)")
	pf.DurationVar(&g.ttl, "command-ttl", registry.DefaultCommandTTL, "how long a signed command stays valid (at most 24h)")
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
		newGenesisCmd(g),
		newJurisdictionCmd(g),
		newAdminCmd(g),
		newHubCmd(g),
		newAuditCmd(g),
		newTLSCmd(g),
		newTrustCmd(g),
		newBenchCmd(g),
	)
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// dial checks --addr and --timeout, then connects to --addr; the caller
// closes the connection. Checking first matters: grpc.NewClient would take
// "127.0.0.1" as host 127.0.0.1, port 443, and fail only at the first call
// with a misleading "connection refused".
func (g *globals) dial() (*grpc.ClientConn, error) {
	if err := checkAddr(g.addr); err != nil {
		return nil, err
	}
	if g.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive (got %s; e.g. 10s)", g.timeout)
	}
	creds := insecure.NewCredentials()
	if g.tlsCA != "" {
		b, err := os.ReadFile(g.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--tls-ca: %s holds no PEM certificate", g.tlsCA)
		}
		var cert *tls.Certificate
		switch {
		case g.tlsCert != "" && g.tlsKey != "":
			c, err := tls.LoadX509KeyPair(g.tlsCert, g.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
			}
			cert = &c
		case g.tlsCert != "" || g.tlsKey != "":
			return nil, errors.New("--tls-cert and --tls-key go together (env ROAM_TLS_CERT, ROAM_TLS_KEY)")
		}
		creds = credentials.NewTLS(identity.ClientConfig(cert, pool))
	} else if g.tlsCert != "" || g.tlsKey != "" {
		return nil, errors.New("--tls-cert needs --tls-ca (env ROAM_TLS_CA): a client certificate is only sent over TLS")
	}
	return grpc.NewClient(g.addr, grpc.WithTransportCredentials(creds), peering.CallSizeOptions())
}

// checkAddr accepts host:port with a numeric port 1-65535. A target with a
// gRPC resolver scheme (dns:///, unix:, passthrough:///) is passed through.
func checkAddr(addr string) error {
	const eg = "(e.g. 127.0.0.1:7410)"
	if addr == "" {
		return fmt.Errorf("--addr is empty: give a node's gRPC host:port %s", eg)
	}
	if strings.Contains(addr, "://") || strings.HasPrefix(addr, "unix:") {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" {
			return fmt.Errorf("--addr %s: missing port %s", addr, eg)
		}
		return fmt.Errorf("--addr %s: not host:port %s", addr, eg)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("--addr %s: port %q is not a number 1-65535 %s", addr, port, eg)
	}
	return nil
}

// open dials --addr and returns the connection, a context bounded by
// --timeout, and a func that releases both.
func (g *globals) open(cmd *cobra.Command) (*grpc.ClientConn, context.Context, func(), error) {
	conn, err := g.dial()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	return conn, ctx, func() { cancel(); conn.Close() }, nil
}

// printJSON prints m as protobuf JSON, indented two spaces. protojson
// varies its whitespace on purpose (found by review: "servers":  [ with
// two spaces); re-indenting with encoding/json gives stable bytes.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = w.Write(out.Bytes())
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

// propose signs msg with the admin keys (--admin-key, repeatable, or
// $ROAM_ADMIN_KEY_FILE) and submits it through --addr. It prints the
// command id and the index it was committed at.
func (g *globals) propose(cmd *cobra.Command, msg proto.Message) error {
	sc, err := g.sign(msg)
	if err != nil {
		return err
	}
	return g.submit(cmd, sc)
}

// sign signs msg with every admin key given.
func (g *globals) sign(msg proto.Message) (*roamv1.SignedCommand, error) {
	signers, err := g.adminSigners()
	if err != nil {
		return nil, err
	}
	sc, _, err := registry.SignCommand(msg, time.Now(), g.ttl, signers...)
	return sc, err
}

// submit sends an already signed command.
func (g *globals) submit(cmd *cobra.Command, sc *roamv1.SignedCommand) error {
	conn, ctx, done, err := g.open(cmd)
	if err != nil {
		return err
	}
	defer done()
	resp, err := roamv1.NewRegistryServiceClient(conn).Propose(ctx, &roamv1.ProposeRequest{Signed: sc})
	if err != nil {
		return err
	}
	if g.json {
		return printJSON(cmd.OutOrStdout(), resp)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "command %s committed at index %d\n", resp.GetCommandId(), resp.GetIndex())
	return nil
}

// adminSigners loads the admin keys from the files --admin-key names, or
// the file $ROAM_ADMIN_KEY_FILE names. A key is never taken on the command
// line itself.
func (g *globals) adminSigners() ([]*roamjws.Signer, error) {
	paths := g.adminKeys
	if len(paths) == 0 {
		if p := os.Getenv("ROAM_ADMIN_KEY_FILE"); p != "" {
			paths = []string{p}
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("registry changes are signed: give --admin-key FILE (a private JWK from roamctl key generate) or set ROAM_ADMIN_KEY_FILE")
	}
	var out []*roamjws.Signer
	for _, p := range paths {
		s, err := loadSigner(p)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func loadSigner(path string) (*roamjws.Signer, error) {
	s, _, err := admin.LoadSigner(path)
	return s, err
}

// state reads the whole registry from the node at --addr (its local
// replica).
func (g *globals) state(cmd *cobra.Command) (*roamv1.GetStateResponse, error) {
	conn, ctx, done, err := g.open(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	return roamv1.NewRegistryServiceClient(conn).GetState(ctx, &roamv1.GetStateRequest{})
}

// requireFlags takes name, value pairs and names the first empty one.
func requireFlags(nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if err := requireFlag(nameValues[i], nameValues[i+1]); err != nil {
			return err
		}
	}
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

// proposeArg is a command that takes one argument (an id, a kid, a
// jurisdiction; use is "verb NAME") and proposes the signed registry
// command mk builds from it. A blank argument is refused before anything is
// signed.
func (g *globals) proposeArg(use, short string, mk func(arg string) proto.Message) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(args[0]) == "" {
				return fmt.Errorf("%s must not be empty", strings.Fields(use)[len(strings.Fields(use))-1])
			}
			return g.propose(cmd, mk(args[0]))
		},
	}
}
