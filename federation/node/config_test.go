package node

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesField(t *testing.T) {
	good := func() *Config {
		c := &Config{Jurisdiction: "330000", DataDir: "/tmp/x", RaftListen: "127.0.0.1:7420", GRPCListen: "127.0.0.1:7410", Bootstrap: true, Genesis: "genesis.json", Backend: Backend{URL: "http://127.0.0.1:7430"}}
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
		{"neither bootstrap nor join: waits to be added", func(c *Config) { c.Bootstrap, c.Genesis = false, "" }, ""},
		{"genesis without bootstrap pins it", func(c *Config) { c.Bootstrap = false }, ""},
		{"incomplete peer", func(c *Config) { c.Peers = []Peer{{ID: "x"}} }, "peers[0]"},
		{"no backend", func(c *Config) { c.Backend.URL = "" }, "backend.url"},
		{"bad dialect", func(c *Config) { c.Backend.Dialect = "shanghai" }, "backend.dialect"},
		{"peer timeout", func(c *Config) { c.PeerTimeout = -1 }, "peer_timeout"},
		{"peer timeout without unit", func(c *Config) { c.PeerTimeout = 5 }, "peer_timeout"},
		{"max staleness under a second", func(c *Config) { c.MaxStaleness = 10 * time.Millisecond }, "max_staleness"},
		{"max staleness negative", func(c *Config) { c.MaxStaleness = -time.Hour }, "max_staleness"},
		{"code ttl without unit", func(c *Config) { c.CodeTTL = 168 }, "code_ttl"},
		{"decision retention negative", func(c *Config) { c.DecisionRetention = -time.Hour }, "decision_retention"},
		{"raft listen port only", func(c *Config) { c.RaftListen = "8420"; c.RaftAdvertise = "8420" }, "raft_listen"},
		{"grpc listen port too big", func(c *Config) { c.GRPCListen = "localhost:99999"; c.GRPCAdvertise = c.GRPCListen }, "grpc_listen"},
		{"grpc listen port not a number", func(c *Config) { c.GRPCListen = "localhost:grpc"; c.GRPCAdvertise = c.GRPCListen }, "grpc_listen"},
		{"listen port 0 ok", func(c *Config) { c.GRPCListen, c.GRPCAdvertise = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		{"raft advertise set and bad", func(c *Config) { c.RaftAdvertise = "node1:65536" }, "raft_advertise"},
		{"grpc advertise set and bad", func(c *Config) { c.GRPCAdvertise = "node1" }, "grpc_advertise"},
		{"advertise set and good", func(c *Config) { c.GRPCAdvertise = "node1.example:7410" }, ""},
		{"join port 0", func(c *Config) { c.Bootstrap, c.Genesis = false, ""; c.Join = []string{"127.0.0.1:0"} }, "join[0]"},
		{"join no port", func(c *Config) { c.Bootstrap, c.Genesis = false, ""; c.Join = []string{"127.0.0.1:7411", "127.0.0.1"} }, "join[1]"},
		{"join ok", func(c *Config) { c.Bootstrap, c.Genesis = false, ""; c.Join = []string{"127.0.0.1:7411"} }, ""},
		{"peer raft port", func(c *Config) { c.Peers = []Peer{{ID: "x", RaftAddress: "h:99999", GRPCAddress: "h:7411"}} }, "peers[0].raft_address"},
		{"peer grpc port", func(c *Config) { c.Peers = []Peer{{ID: "x", RaftAddress: "h:7421", GRPCAddress: "h"}} }, "peers[0].grpc_address"},
		{"backend ftp", func(c *Config) { c.Backend.URL = "ftp://x" }, "backend.url"},
		{"backend no scheme", func(c *Config) { c.Backend.URL = "127.0.0.1:7430" }, "backend.url"},
		{"backend no host", func(c *Config) { c.Backend.URL = "http:///api" }, "backend.url"},
		{"backend https ok", func(c *Config) { c.Backend.URL = "https://zj.example/api" }, ""},
		{"verify cache size", func(c *Config) { c.VerifyCache.Entries = 1000 }, ""},
		{"verify cache disabled", func(c *Config) { c.VerifyCache.Disabled = true }, ""},
		{"verify cache negative", func(c *Config) { c.VerifyCache.Entries = -1 }, "verify_cache.entries"},
		{"verify cache too big", func(c *Config) { c.VerifyCache.Entries = 1 << 40 }, "verify_cache.entries"},
		{"admin listen", func(c *Config) { c.AdminListen, c.Pprof = "127.0.0.1:7690", true }, ""},
		{"admin listen bad", func(c *Config) { c.AdminListen = "7690" }, "admin_listen"},
		{"pprof without admin listener", func(c *Config) { c.Pprof = true }, "pprof"},
		{"pprof on a public address", func(c *Config) { c.AdminListen, c.Pprof = "0.0.0.0:7690", true }, "pprof"},
		{"pprof on localhost", func(c *Config) { c.AdminListen, c.Pprof = "localhost:7690", true }, ""},
		{"pprof on ::1", func(c *Config) { c.AdminListen, c.Pprof = "[::1]:7690", true }, ""},
		{"admin listener on a public address without pprof", func(c *Config) { c.AdminListen = "0.0.0.0:7690" }, ""},
		{"telemetry", func(c *Config) { c.Telemetry.Exporter = "jaeger" }, "telemetry.exporter"},
		{"otlp endpoint", func(c *Config) { c.Telemetry.Exporter = "otlp" }, "telemetry.otlp_endpoint"},
		{"rate limit custom", func(c *Config) {
			c.RateLimit = RateLimit{ClientRPS: 0.5, ClientBurst: 1, PeerRPS: 5000, PeerBurst: 1, MaxTracked: 1}
		}, ""},
		{"rate limit disabled", func(c *Config) { c.RateLimit.Disabled = true }, ""},
		{"client rps negative", func(c *Config) { c.RateLimit.ClientRPS = -1 }, "rate_limit.client_rps"},
		{"client rps NaN", func(c *Config) { c.RateLimit.ClientRPS = math.NaN() }, "rate_limit.client_rps"},
		{"client rps infinite", func(c *Config) { c.RateLimit.ClientRPS = math.Inf(1) }, "rate_limit.client_rps"},
		{"client burst negative", func(c *Config) { c.RateLimit.ClientBurst = -5 }, "rate_limit.client_burst"},
		{"peer rps negative", func(c *Config) { c.RateLimit.PeerRPS = -0.1 }, "rate_limit.peer_rps"},
		{"peer burst negative", func(c *Config) { c.RateLimit.PeerBurst = -1 }, "rate_limit.peer_burst"},
		{"max tracked negative", func(c *Config) { c.RateLimit.MaxTracked = -1 }, "rate_limit.max_tracked"},
		{"max tracked too large", func(c *Config) { c.RateLimit.MaxTracked = 2_000_000 }, "rate_limit.max_tracked"},
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

// minimalYAML is a valid config; LoadConfig tests append or replace lines.
const minimalYAML = `jurisdiction: "330000"
data_dir: /tmp/x
raft_listen: 127.0.0.1:7420
grpc_listen: 127.0.0.1:7410
bootstrap: true
genesis: /etc/roam/genesis.json
backend:
  url: http://127.0.0.1:7430
`

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings of the error, after "config F"; nil = valid
		not  []string // must not appear
	}{
		{"valid", minimalYAML, nil, nil},
		{"valid durations", minimalYAML + "peer_timeout: 500ms\ncode_ttl: 168h\n", nil, nil},
		{"empty", "", []string{" is empty: it needs at least jurisdiction, data_dir, raft_listen, grpc_listen, backend.url and bootstrap or join (see deploy/configs/)"}, []string{"EOF"}},
		{"only comments", "# nothing yet\n\n", []string{" is empty: it needs"}, nil},
		{"syntax error", "jurisdiction: \"330000\n", []string{": YAML syntax error at line 2: found unexpected end of stream"}, []string{"field named above", "yaml: line"}},
		// The line is yaml.v3's (which counts this tab as line 2).
		{"syntax error tab", "jurisdiction: \"330000\"\ndata_dir: /tmp\n\tbootstrap: true\n", []string{": YAML syntax error at line ", ": found a tab character that violates indentation"}, []string{"field named above"}},
		// yaml.v3 drops the line number of errors on line 1.
		{"syntax error without line", "a: b: c\n", []string{": YAML syntax error: mapping values are not allowed"}, []string{"field named above", "yaml: mapping"}},
		{"unknown field", "jurisdiction: \"330000\"\ndatadir: /tmp\n", []string{`: line 2: unknown field "datadir" (known fields: node_id, jurisdiction, name, data_dir,`, `did you mean "data_dir"?`}, []string{"not found in type"}},
		{"unknown nested field", minimalYAML + "telemetry:\n  exporter: none\n  endpoint: x\n", []string{`line 11: unknown field "telemetry.endpoint" (known fields in telemetry: exporter, otlp_endpoint, insecure)`}, nil},
		{"unknown backend field", strings.Replace(minimalYAML, "  url:", "  uri:", 1), []string{`line 8: unknown field "backend.uri" (known fields in backend: url, dialect, system)`}, nil},
		{"unknown peer field", minimalYAML + "peers:\n  - id: a\n    raft_addr: h:1\n", []string{`line 11: unknown field "peers[0].raft_addr" (known fields in peers[0]: id, jurisdiction, raft_address, grpc_address)`}, nil},
		{"raft listen port only", strings.Replace(minimalYAML, "127.0.0.1:7420", "8420", 1), []string{`raft_listen: "8420" is not host:port`}, []string{"raft_advertise"}},
		{"grpc listen bad port", strings.Replace(minimalYAML, "127.0.0.1:7410", "localhost:99999", 1), []string{`grpc_listen: "localhost:99999": port "99999" is not a number 0-65535`}, []string{"grpc_advertise"}},
		{"backend ftp", strings.Replace(minimalYAML, "http://127.0.0.1:7430", "ftp://x", 1), []string{`backend.url: "ftp://x" is not an http:// or https:// URL with a host`}, nil},
		{"peer timeout bare int", minimalYAML + "peer_timeout: 5\n", []string{"line 9: peer_timeout: 5 has no unit; use a unit, e.g. 500ms"}, nil},
		{"max staleness too long", minimalYAML + "max_staleness: 100000000h\n", []string{"max_staleness: 100000000h is too long; durations go up to about 2562047h"}, nil},
		{"max staleness bare int", minimalYAML + "max_staleness: 1\n", []string{"max_staleness: 1 has no unit; use a unit, e.g. 1h"}, nil},
		{"max staleness negative", minimalYAML + "max_staleness: -1h\n", []string{"max_staleness: -1h0m0s is negative"}, nil},
		{"max staleness with peer timeout both bad", minimalYAML + "max_staleness: 10ms\npeer_timeout: 20s\n", []string{"max_staleness: 10ms is under 1s", "peer_timeout: 20s is outside 0-10s"}, nil},
		{"client rps too slow", minimalYAML + "rate_limit:\n  client_rps: 1e-300\n", []string{"rate_limit.client_rps: 1e-300 is under 0.001"}, nil},
		{"peer timeout float", minimalYAML + "peer_timeout: 0.5\n", []string{"peer_timeout: 0.5 has no unit; use a unit, e.g. 500ms"}, nil},
		{"peer timeout 5ns", minimalYAML + "peer_timeout: 5ns\n", []string{"peer_timeout: 5ns is under 1ms; use a unit, e.g. 500ms"}, nil},
		{"peer timeout words", minimalYAML + "peer_timeout: 5 seconds\n", []string{`line 9: peer_timeout: "5 seconds" is not a duration; use a number with a unit, e.g. 500ms`}, nil},
		{"code ttl bare int", minimalYAML + "code_ttl: 168\n", []string{"code_ttl: 168 has no unit; use a unit, e.g. 168h"}, nil},
		{"wrong type names field", minimalYAML + "voter: maybe\n", []string{"line 9: voter: cannot unmarshal !!str `maybe` into bool"}, []string{"yaml: unmarshal errors"}},
		{"rate limit block", minimalYAML + "rate_limit:\n  client_rps: 20\n  client_burst: 40\n  peer_rps: 0.5\n  peer_burst: 1\n  max_tracked: 500\n", nil, nil},
		{"rate limit disabled", minimalYAML + "rate_limit:\n  disabled: true\n", nil, nil},
		{"rate limit negative", minimalYAML + "rate_limit:\n  client_rps: -1\n", []string{"rate_limit.client_rps: -1 is negative; give calls per second (e.g. 100; 0: the default; disabled: true turns limiting off)"}, nil},
		{"rate limit negative burst", minimalYAML + "rate_limit:\n  peer_burst: -3\n", []string{"rate_limit.peer_burst: -3 is negative (e.g. 2000; 0: the default)"}, nil},
		{"rate limit nan", minimalYAML + "rate_limit:\n  peer_rps: .nan\n", []string{"rate_limit.peer_rps: NaN is not a number of calls per second"}, nil},
		{"rate limit unknown field", minimalYAML + "rate_limit:\n  rps: 5\n", []string{`line 10: unknown field "rate_limit.rps" (known fields in rate_limit: client_rps, client_burst, peer_rps, peer_burst, max_tracked, disabled)`}, nil},
		{"rate limit burst not int", minimalYAML + "rate_limit:\n  client_burst: 1.5\n", []string{"line 10: rate_limit.client_burst: 1.5 is not a whole number"}, nil},
		{"snapshot threshold not int", minimalYAML + "snapshot_threshold: 1e3\n", []string{"line 9: snapshot_threshold: 1e3 is not a whole number"}, nil},
		{"list for string names field", strings.Replace(minimalYAML, `jurisdiction: "330000"`, "jurisdiction: [1, 2]", 1), []string{"line 1: jurisdiction: cannot unmarshal !!seq into string"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(p)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadConfig accepted the config")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config "+p) {
				t.Errorf("error %q does not start with config %s", msg, p)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(msg, w) {
					t.Errorf("error %q contains %q", msg, w)
				}
			}
		})
	}
}

// TestRateLimitDefaults: 0 in a rate_limit field means its documented
// default; set values are kept.
func TestRateLimitDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   RateLimit
		want RateLimit
	}{
		{"all defaults", RateLimit{}, RateLimit{ClientRPS: 100, ClientBurst: 200, PeerRPS: 1000, PeerBurst: 2000, MaxTracked: 10000}},
		{"some set", RateLimit{ClientRPS: 5, PeerBurst: 7}, RateLimit{ClientRPS: 5, ClientBurst: 200, PeerRPS: 1000, PeerBurst: 7, MaxTracked: 10000}},
		{"disabled keeps defaults too", RateLimit{Disabled: true}, RateLimit{ClientRPS: 100, ClientBurst: 200, PeerRPS: 1000, PeerBurst: 2000, MaxTracked: 10000, Disabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{RateLimit: tt.in}
			c.Defaults()
			if c.RateLimit != tt.want {
				t.Errorf("Defaults: %+v, want %+v", c.RateLimit, tt.want)
			}
		})
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

func TestClaimDataDir(t *testing.T) {
	dir := t.TempDir()
	zj := &Config{NodeID: "330000", Jurisdiction: "330000", DataDir: dir}
	if err := claimDataDir(zj); err != nil {
		t.Fatal(err)
	}
	if err := claimDataDir(zj); err != nil {
		t.Fatalf("same node again: %v", err)
	}
	hn := &Config{NodeID: "410000", Jurisdiction: "410000", DataDir: dir}
	if err := claimDataDir(hn); err == nil || !strings.Contains(err.Error(), "belongs to node 330000") {
		t.Fatalf("another node's data dir: %v", err)
	}
}

func TestRaftAdvertise(t *testing.T) {
	for _, tc := range []struct {
		in      string
		tls     bool
		want    string // "" for nil
		wantErr bool
	}{
		{"127.0.0.1:0", true, "", false},
		{"roamd-0.roamd-peers:7420", true, "roamd-0.roamd-peers:7420", false},
		{"localhost:7420", true, "localhost:7420", false},
		{"127.0.0.1:7420", true, "127.0.0.1:7420", false},
		{"localhost:7420", false, "127.0.0.1:7420", false},
		{"roamd-0.peers:99999", true, "", true},
		{"no-port", true, "", true},
	} {
		a, err := raftAdvertise(tc.in, tc.tls)
		if (err != nil) != tc.wantErr {
			t.Errorf("raftAdvertise(%q, %v): err %v", tc.in, tc.tls, err)
			continue
		}
		got := ""
		if a != nil {
			got = a.String()
		}
		if got != tc.want && !(tc.in == "localhost:7420" && !tc.tls && strings.HasSuffix(got, ":7420")) {
			t.Errorf("raftAdvertise(%q, %v) = %q, want %q", tc.in, tc.tls, got, tc.want)
		}
	}
}
