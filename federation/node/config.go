package node

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/roam-federation/roam/federation/registry"
	"github.com/roam-federation/roam/federation/telemetry"
)

// Peer is an initial voter named in a bootstrap configuration.
type Peer struct {
	ID           string `yaml:"id"`
	Jurisdiction string `yaml:"jurisdiction"`
	RaftAddress  string `yaml:"raft_address"`
	GRPCAddress  string `yaml:"grpc_address"`
}

// Backend is the node's provincial health-code system.
type Backend struct {
	// URL of the backend's HTTP API, e.g. http://127.0.0.1:7601.
	URL string `yaml:"url"`
	// Dialect is "zhejiang" (colours) or "beijing" (statuses); defaults from
	// the jurisdiction.
	Dialect string `yaml:"dialect"`
	// System names the native code system (the sys claim); defaults to
	// SystemFor(jurisdiction).
	System string `yaml:"system"`
}

// knownSystems names the 2020 code systems of the demo's provinces.
var knownSystems = map[string]string{
	"330000": "zhejiang-health-code",
	"410000": "henan-health-code",
	"110000": "beijing-health-kit",
	"120000": "tianjin-health-code",
	"130000": "hebei-health-code",
}

// SystemFor returns the native code system name of a jurisdiction:
// a known 2020 product, else "health-code-<jurisdiction>".
func SystemFor(jurisdiction string) string {
	if s, ok := knownSystems[jurisdiction]; ok {
		return s
	}
	return "health-code-" + jurisdiction
}

// Config is one node's configuration (roamd serve --config FILE).
type Config struct {
	// NodeID names this node in Raft; defaults to the jurisdiction.
	NodeID string `yaml:"node_id"`
	// Jurisdiction is the GB/T 2260 code this node serves.
	Jurisdiction string `yaml:"jurisdiction"`
	// Name is the jurisdiction's display name, e.g. "Zhejiang".
	Name string `yaml:"name"`
	// DataDir holds raft.db, snapshots/, the issuer key and issued codes.
	DataDir string `yaml:"data_dir"`
	// RaftListen is host:port for Raft's TCP transport.
	RaftListen string `yaml:"raft_listen"`
	// RaftAdvertise is the address peers dial; defaults to RaftListen.
	RaftAdvertise string `yaml:"raft_advertise"`
	// GRPCListen is host:port for the gRPC services.
	GRPCListen string `yaml:"grpc_listen"`
	// GRPCAdvertise is the address peers dial; defaults to GRPCListen.
	GRPCAdvertise string `yaml:"grpc_advertise"`
	// Bootstrap forms a new cluster from Peers (plus this node) on first start.
	Bootstrap bool `yaml:"bootstrap"`
	// Peers are the initial voters (bootstrap only).
	Peers []Peer `yaml:"peers"`
	// Join lists gRPC addresses of existing members to join through.
	Join []string `yaml:"join"`
	// Voter is false for a non-voter replica.
	Voter *bool `yaml:"voter"`
	// Backend is the provincial system this node issues codes for.
	Backend Backend `yaml:"backend"`
	// PoliciesDir overrides the embedded host policies.
	PoliciesDir string `yaml:"policies_dir"`
	// PeerTimeout bounds every peer call (default 500ms).
	PeerTimeout time.Duration `yaml:"peer_timeout"`
	// CodeTTL bounds issued roam codes (default 168h).
	CodeTTL time.Duration `yaml:"code_ttl"`
	// Raft timing; defaults suit a LAN.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout  time.Duration `yaml:"election_timeout"`
	// SnapshotThreshold is how many log entries trigger a snapshot.
	SnapshotThreshold uint64 `yaml:"snapshot_threshold"`
	// DecisionRetention is how long the local decision log keeps a record
	// (default 336h = 14 days, DESIGN.md §4 step 6).
	DecisionRetention time.Duration `yaml:"decision_retention"`
	// Telemetry selects the trace exporter.
	Telemetry telemetry.Config `yaml:"telemetry"`
}

// IsVoter reports whether the node is a voter (the default).
func (c *Config) IsVoter() bool { return c.Voter == nil || *c.Voter }

// LoadConfig reads and validates a YAML config file. Unknown fields are
// errors, so a typo never silently falls back to a default.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w (fix the field named above; see deploy/ for examples)", path, err)
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// Defaults fills unset optional fields.
func (c *Config) Defaults() {
	if c.NodeID == "" {
		c.NodeID = c.Jurisdiction
	}
	if c.RaftAdvertise == "" {
		c.RaftAdvertise = c.RaftListen
	}
	if c.GRPCAdvertise == "" {
		c.GRPCAdvertise = c.GRPCListen
	}
	if c.PeerTimeout == 0 {
		c.PeerTimeout = 500 * time.Millisecond
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = time.Second
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
}

// Validate checks every field and names the first bad one with its fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !registry.ValidJurisdictionID(c.Jurisdiction) {
		bad("jurisdiction", "%q is not a GB/T 2260 six-digit division code (e.g. 330000)", c.Jurisdiction)
	}
	if c.DataDir == "" {
		bad("data_dir", "required: a directory this node owns (raft log, snapshots, keys)")
	}
	for _, f := range []struct{ name, v string }{{"raft_listen", c.RaftListen}, {"grpc_listen", c.GRPCListen}, {"raft_advertise", c.RaftAdvertise}, {"grpc_advertise", c.GRPCAdvertise}} {
		if _, _, err := net.SplitHostPort(f.v); err != nil {
			bad(f.name, "%q is not host:port (e.g. 127.0.0.1:7501)", f.v)
		}
	}
	if c.Bootstrap && len(c.Join) > 0 {
		bad("join", "set either bootstrap (new cluster) or join (existing cluster), not both")
	}
	if c.Bootstrap && !c.IsVoter() {
		bad("voter", "a bootstrapping node must be a voter; remove voter: false or bootstrap: true")
	}
	if !c.Bootstrap && len(c.Join) == 0 && len(c.Peers) == 0 {
		bad("join", "a node that does not bootstrap needs join addresses (gRPC host:port of a member) or peers")
	}
	for i, p := range c.Peers {
		if p.ID == "" || p.RaftAddress == "" || p.GRPCAddress == "" {
			bad(fmt.Sprintf("peers[%d]", i), "needs id, raft_address and grpc_address")
		}
	}
	if c.Backend.URL == "" {
		bad("backend.url", "required: the provincial backend's HTTP base URL (e.g. http://127.0.0.1:7601, see roamd provsim)")
	}
	if c.Backend.Dialect != "" && c.Backend.Dialect != "zhejiang" && c.Backend.Dialect != "beijing" {
		bad("backend.dialect", "%q is not zhejiang or beijing", c.Backend.Dialect)
	}
	if c.PeerTimeout < 0 || c.PeerTimeout > 10*time.Second {
		bad("peer_timeout", "%s is outside 0-10s", c.PeerTimeout)
	}
	if c.HeartbeatTimeout < 10*time.Millisecond || c.ElectionTimeout < 10*time.Millisecond {
		bad("heartbeat_timeout", "heartbeat_timeout and election_timeout must be at least 10ms")
	}
	if err := c.Telemetry.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func sysName(c *Config) string {
	if c.Backend.System != "" {
		return c.Backend.System
	}
	return SystemFor(c.Jurisdiction)
}
