package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/node"
	"github.com/roam-federation/roam/federation/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "roamd:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "roamd",
		Short:         "roam node daemon: federated recognition of health codes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newProvsim(), newDemo())
	return root
}

// newLogger is roamd's process log: JSON lines on w (stderr when nil),
// with trace_id and span_id on records logged inside a traced call.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	if w == nil {
		w = os.Stderr
	}
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))), nil
}

func newServe() *cobra.Command {
	var cfgPath, level, adminListen string
	var insecureDev, pprofOn bool
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run one node (see deploy/ for example configs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" {
				return errors.New("--config is required (see deploy/configs/)")
			}
			log, err := newLogger(nil, level)
			if err != nil {
				return err
			}
			cfg, err := node.LoadConfig(cfgPath)
			if err != nil {
				return err
			}
			if adminListen != "" {
				cfg.AdminListen = adminListen
			}
			if pprofOn {
				if cfg.AdminListen == "" {
					return errors.New("--pprof needs an admin listener: set admin_listen in the config or pass --admin-listen 127.0.0.1:7690")
				}
				cfg.Pprof = true
			}
			if cfg.TLS == nil && !insecureDev {
				return fmt.Errorf("config %s has no tls section: nodes speak mutual TLS (issue 3 §7); add tls: {ca, cert, key}, or pass --insecure-dev for a throwaway local test", cfgPath)
			}
			if cfg.TLS == nil {
				log.Warn("running WITHOUT TLS (--insecure-dev): Raft and gRPC traffic is unauthenticated plaintext")
			}
			n, err := node.Start(cmd.Context(), cfg, node.Options{Logger: log})
			if err != nil {
				return err
			}
			defer n.Close()
			log.Info("roamd serving", "node", cfg.NodeID, "jurisdiction", cfg.Jurisdiction, "grpc", n.GRPCAddr(), "raft", cfg.RaftAdvertise, "admin", n.AdminAddr(), "pprof", cfg.Pprof)
			select {
			case <-cmd.Context().Done():
				log.Info("shutting down")
			case <-n.Removed():
				log.Warn("removed from the cluster by a national admin; exiting")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "node config file (YAML)")
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().BoolVar(&insecureDev, "insecure-dev", false, "allow a config without tls (plaintext Raft and gRPC): local experiments only")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "", "host:port of the admin HTTP listener (overrides admin_listen; bind to loopback)")
	cmd.Flags().BoolVar(&pprofOn, "pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin listener (off by default)")
	return cmd
}

func newProvsim() *cobra.Command {
	var jur, listen, dataDir, dialect, start string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "provsim --jurisdiction 330000 --listen ADDR",
		Short: "Run a simulated provincial health-code backend (HTTP/JSON, data on disk)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dialect == "" {
				dialect = provsim.DialectFor(jur)
			}
			var clk clock.Clock = clock.Real{}
			if start != "" {
				t, err := time.Parse(time.RFC3339, start)
				if err != nil {
					// A plain date is midnight China Standard Time.
					var derr error
					if t, derr = time.ParseInLocation(time.DateOnly, start, clock.CST); derr != nil {
						return fmt.Errorf("--sim-start %q is neither a date nor an RFC 3339 time: give e.g. 2020-02-26 (midnight UTC+8) or 2020-02-26T08:00:00+08:00", start)
					}
				}
				clk = clock.NewSim(t)
			}
			if dataDir == "" {
				return errors.New("--data-dir is required: give a directory to keep residents and reports in, e.g. --data-dir ./provsim-data")
			}
			cfg := provsim.Config{Jurisdiction: jur, Dialect: dialect, DBPath: filepath.Join(dataDir, "provsim-"+jur+".db"), Clock: clk, CodeTTL: ttl}
			// Validate before touching the disk, and word the errors in
			// flags rather than Config's Go field names.
			if err := cfg.Validate(); err != nil {
				var ce *provsim.ConfigError
				if !errors.As(err, &ce) {
					return err
				}
				switch ce.Field {
				case "Jurisdiction":
					return fmt.Errorf("--jurisdiction %s %s: give a six-digit province code, e.g. --jurisdiction 330000", ce.Value, ce.Problem)
				case "Dialect":
					return fmt.Errorf("--dialect %s %s: give --dialect %s or --dialect %s, or omit it (%s for --jurisdiction %s)",
						ce.Value, ce.Problem, provsim.DialectZhejiang, provsim.DialectBeijing, provsim.DialectFor(jur), jur)
				case "CodeTTL":
					return fmt.Errorf("--code-ttl %s %s: give at least 1m, e.g. --code-ttl 24h, or 0 for the default %v", ce.Value, ce.Problem, provsim.DefaultCodeTTL)
				case "DBPath":
					return fmt.Errorf("--data-dir %s: give a directory to keep residents and reports in", ce.Problem)
				}
				return err
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return err
			}
			srv, err := provsim.New(cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
			go func() {
				<-cmd.Context().Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = hs.Shutdown(sctx)
			}()
			fmt.Fprintf(cmd.OutOrStdout(), "provsim %s (%s dialect) listening on http://%s\n", jur, dialect, lis.Addr())
			if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&jur, "jurisdiction", "", "GB/T 2260 code of the simulated province, e.g. 330000")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7601", "host:port to serve HTTP on")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for the backend's bbolt database")
	cmd.Flags().StringVar(&dialect, "dialect", "", "zhejiang (colours) or beijing (statuses); default from the jurisdiction")
	cmd.Flags().StringVar(&start, "sim-start", "", "run on a simulated clock starting at this RFC 3339 time, or at midnight UTC+8 of this YYYY-MM-DD date (default: wall clock)")
	cmd.Flags().DurationVar(&ttl, "code-ttl", provsim.DefaultCodeTTL, "native code lifetime")
	_ = cmd.MarkFlagRequired("jurisdiction")
	return cmd
}
