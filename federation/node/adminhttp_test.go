package node

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/admin"
	"github.com/roam-federation/roam/federation/clock"
)

// TestAdminPprof: pprof is on the admin listener only when asked for
// (issue 6 §6), and a node without admin_listen opens no such port.
func TestAdminPprof(t *testing.T) {
	for _, tc := range []struct {
		name        string
		listen      string
		pprof       bool
		wantProfile int // HTTP status of /debug/pprof/cmdline; 0: no listener
	}{
		{"off by default", "", false, 0},
		{"listener without pprof", "127.0.0.1:0", false, http.StatusNotFound},
		{"pprof on", "127.0.0.1:0", true, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startSoloNode(t, func(c *Config) { c.AdminListen, c.Pprof = tc.listen, tc.pprof })
			if tc.wantProfile == 0 {
				if n.AdminAddr() != "" {
					t.Fatalf("admin listener at %s without admin_listen", n.AdminAddr())
				}
				return
			}
			cl := &http.Client{Timeout: 5 * time.Second}
			resp, err := cl.Get("http://" + n.AdminAddr() + "/debug/pprof/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cl.CloseIdleConnections()
			if resp.StatusCode != tc.wantProfile {
				t.Fatalf("GET /debug/pprof/cmdline = %d, want %d", resp.StatusCode, tc.wantProfile)
			}
		})
	}
}

// startSoloNode starts a one-node cluster of 330000 bootstrapped from a
// fresh genesis, on free loopback ports without TLS, after edit has
// adjusted its config; the node is closed when the test ends.
func startSoloNode(t *testing.T, edit func(*Config)) *Node {
	t.Helper()
	n, _ := startSoloNodeKeyring(t, edit)
	return n
}

// startSoloNodeKeyring is startSoloNode that also returns the keyring
// behind the genesis (2 national admins, quorum 1, and 330000's admin).
func startSoloNodeKeyring(t *testing.T, edit func(*Config)) (*Node, *admin.Keyring) {
	t.Helper()
	kr, err := admin.NewKeyring(2, 1, "330000")
	if err != nil {
		t.Fatal(err)
	}
	g, err := kr.Genesis()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Jurisdiction: "330000", DataDir: t.TempDir(), RaftListen: "127.0.0.1:0", GRPCListen: "127.0.0.1:0", Bootstrap: true,
		Backend: Backend{URL: "http://127.0.0.1:1"}}
	if edit != nil {
		edit(cfg)
	}
	n, err := Start(context.Background(), cfg, Options{Clock: clock.NewSim(time.Date(2020, 2, 26, 8, 0, 0, 0, clock.CST)), Logger: quietLogger(), RaftLogLevel: "off", Genesis: g})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, kr
}
