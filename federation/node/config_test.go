package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidateNamesField(t *testing.T) {
	good := func() *Config {
		c := &Config{Jurisdiction: "330000", DataDir: "/tmp/x", RaftListen: "127.0.0.1:7420", GRPCListen: "127.0.0.1:7410", Bootstrap: true, Backend: Backend{URL: "http://127.0.0.1:7430"}}
		c.Defaults()
		return c
	}
	no := false
	tests := []struct {
		name  string
		mod   func(*Config)
		field string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"bad jurisdiction", func(c *Config) { c.Jurisdiction = "zj" }, "jurisdiction"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"bad raft listen", func(c *Config) { c.RaftListen = "7420" }, "raft_listen"},
		{"bad grpc listen", func(c *Config) { c.GRPCListen = "localhost" }, "grpc_listen"},
		{"bootstrap and join", func(c *Config) { c.Join = []string{"127.0.0.1:7411"} }, "join"},
		{"bootstrap non-voter", func(c *Config) { c.Voter = &no }, "voter"},
		{"neither bootstrap nor join", func(c *Config) { c.Bootstrap = false }, "join"},
		{"incomplete peer", func(c *Config) { c.Peers = []Peer{{ID: "x"}} }, "peers[0]"},
		{"no backend", func(c *Config) { c.Backend.URL = "" }, "backend.url"},
		{"bad dialect", func(c *Config) { c.Backend.Dialect = "shanghai" }, "backend.dialect"},
		{"peer timeout", func(c *Config) { c.PeerTimeout = -1 }, "peer_timeout"},
		{"telemetry", func(c *Config) { c.Telemetry.Exporter = "jaeger" }, "telemetry.exporter"},
		{"otlp endpoint", func(c *Config) { c.Telemetry.Exporter = "otlp" }, "telemetry.otlp_endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mod(c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.field+":") {
				t.Fatalf("error %v does not name %s first", err, tt.field)
			}
		})
	}
}

func TestLoadConfigRejectsUnknownField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("jurisdiction: \"330000\"\ndatadir: /tmp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), "datadir") {
		t.Fatalf("error %v should name the unknown field datadir", err)
	}
}

// TestExampleConfigsValidate checks every shipped node config against the
// node's own validation.
func TestExampleConfigsValidate(t *testing.T) {
	files, err := filepath.Glob("../../deploy/configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example configs in deploy/configs")
	}
	for _, f := range files {
		if _, err := LoadConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
