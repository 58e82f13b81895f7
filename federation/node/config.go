package node

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/roam-federation/roam/adapters/roamjws"
	"github.com/roam-federation/roam/federation/identity"
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
	// Genesis is the file holding the genesis command (roamctl genesis):
	// the national admin keys and quorum, signed by them. The bootstrapping
	// node applies it; every node pins it, refusing a registry (log or
	// snapshot) that starts from any other.
	Genesis string `yaml:"genesis"`
	// JoinToken is the file holding this node's UpsertMember command signed
	// by a national admin (roamctl cluster join-token). Needed with join.
	JoinToken string `yaml:"join_token"`
	// Voter is false for a non-voter replica.
	Voter *bool `yaml:"voter"`
	// Backend is the provincial system this node issues codes for.
	Backend Backend `yaml:"backend"`
	// PoliciesDir overrides the embedded host policies.
	PoliciesDir string `yaml:"policies_dir"`
	// PeerTimeout bounds every peer call (default 500ms).
	PeerTimeout time.Duration `yaml:"peer_timeout"`
	// MaxStaleness is how long after it last heard from the Raft leader
	// this node still decides from its replica (default 1h; issue 5 §3;
	// there is no "off": give a long one, e.g. 720h, to accept old replicas).
	// Beyond it, decisions are UNDECIDED with registry_stale: a key
	// revocation or a suspension made meanwhile may not have reached it.
	MaxStaleness time.Duration `yaml:"max_staleness"`
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
	// TLS names this node's certificate, key and the federation's CA
	// (issue 3 §7). Without it the node speaks plaintext, which roamd serve
	// allows only with --insecure-dev.
	TLS *identity.Files `yaml:"tls"`
	// Telemetry selects the trace exporter.
	Telemetry telemetry.Config `yaml:"telemetry"`
	// RateLimit bounds how fast one caller may call this node's gRPC
	// services (issue 5 §6). Defaults apply when it is left out.
	RateLimit RateLimit `yaml:"rate_limit"`
	// VerifyCache sizes the verified-code cache (issue 6 §2).
	VerifyCache VerifyCache `yaml:"verify_cache"`
	// AdminListen is host:port of the admin HTTP listener (operators only,
	// no authentication: bind it to loopback or a management network).
	// Empty: no listener.
	AdminListen string `yaml:"admin_listen"`
	// Pprof serves net/http/pprof under /debug/pprof/ on AdminListen
	// (default off; roamd serve --pprof turns it on). Only with a loopback
	// AdminListen.
	Pprof bool `yaml:"pprof"`
	// ConsoleListen is host:port of the web console (issue 7 §2): the
	// checkpoint page at /checkpoint and the admin page at /admin, plain
	// HTTP with no login (reading the registry is public within the
	// federation; changes need an admin's signature, made in the browser).
	// Put it behind TLS for anything but loopback: browsers offer the
	// camera and WebCrypto only over HTTPS or on localhost. Empty: none.
	ConsoleListen string `yaml:"console_listen"`
}

// VerifyCache is the verified-code cache: a code scanned again skips
// decoding and its signature check, never the registry or clock checks
// (roamjws.Cache).
type VerifyCache struct {
	// Entries is how many verified codes it holds (default 65536, about
	// 400 bytes each; at most 10000000).
	Entries int `yaml:"entries"`
	// Disabled turns it off: every scan checks the signature.
	Disabled bool `yaml:"disabled"`
}

// loopback reports whether hostport's host is a loopback IP or localhost.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// maxCacheEntries bounds verify_cache.entries (about 4 GB).
const maxCacheEntries = 10_000_000

// Rate-limit defaults (issue 5 §6).
const (
	DefaultClientRPS   = 100
	DefaultClientBurst = 200
	DefaultPeerRPS     = 1000
	DefaultPeerBurst   = 2000
	DefaultMaxTracked  = 10000
	maxMaxTracked      = 1_000_000
)

// RateLimit is a token bucket per caller (golang.org/x/time/rate). A caller
// is the node named by its verified client certificate
// (spiffe://roam/jurisdiction/J/node/N) when it presents one, else its
// remote IP address (IPv6: its /64). PeeringService methods (node to node)
// draw from the caller's peer bucket; RegistryService, RecognitionService
// and IssuanceService from its client bucket. A call over the limit fails
// at once with ResourceExhausted, naming the limit and when to retry.
//
// In every field 0 means the default; negative values are errors. To turn
// limiting off, set disabled: true (0 never means "unlimited").
type RateLimit struct {
	// ClientRPS is the sustained calls per second one client may make to
	// RegistryService, RecognitionService and IssuanceService (default
	// 100). Fractions are allowed: 0.5 is one call every two seconds.
	ClientRPS float64 `yaml:"client_rps"`
	// ClientBurst is how many calls one client may make at once, before
	// ClientRPS paces it (default 200).
	ClientBurst int `yaml:"client_burst"`
	// PeerRPS is the sustained PeeringService calls per second (status
	// queries, forwarded writes, joins) one peer node may make (default
	// 1000: a peer relays the checkpoints of a whole province).
	PeerRPS float64 `yaml:"peer_rps"`
	// PeerBurst is how many PeeringService calls one peer may make at once
	// (default 2000).
	PeerBurst int `yaml:"peer_burst"`
	// MaxTracked caps how many callers of each kind (clients, peers) hold a
	// bucket at once (default 10000, at most 1000000; a bucket is about 200
	// bytes). Buckets idle for a minute (longer if they take longer to
	// refill) are dropped; at the cap the least recently used one is, so a
	// caller rotating addresses cannot grow memory without bound.
	MaxTracked int `yaml:"max_tracked"`
	// Disabled turns rate limiting off (benchmarks, load tests).
	Disabled bool `yaml:"disabled"`
}

// defaults fills the zero fields of r.
func (r *RateLimit) defaults() {
	if r.ClientRPS == 0 {
		r.ClientRPS = DefaultClientRPS
	}
	if r.ClientBurst == 0 {
		r.ClientBurst = DefaultClientBurst
	}
	if r.PeerRPS == 0 {
		r.PeerRPS = DefaultPeerRPS
	}
	if r.PeerBurst == 0 {
		r.PeerBurst = DefaultPeerBurst
	}
	if r.MaxTracked == 0 {
		r.MaxTracked = DefaultMaxTracked
	}
}

// validate reports each bad field, named rate_limit.<field>.
func (r *RateLimit) validate(bad func(field, format string, args ...any)) {
	for _, f := range []struct {
		name string
		v    float64
		def  int
	}{{"client_rps", r.ClientRPS, DefaultClientRPS}, {"peer_rps", r.PeerRPS, DefaultPeerRPS}} {
		switch {
		case math.IsNaN(f.v) || math.IsInf(f.v, 0):
			bad("rate_limit."+f.name, "%v is not a number of calls per second (e.g. %d; 0: the default)", f.v, f.def)
		case f.v < 0:
			bad("rate_limit."+f.name, "%v is negative; give calls per second (e.g. %d; 0: the default; disabled: true turns limiting off)", f.v, f.def)
		case f.v > 0 && f.v < minRPS:
			bad("rate_limit."+f.name, "%v is under %v calls per second (one an hour or so); a bucket that slow never refills in practice", f.v, minRPS)
		}
	}
	for _, f := range []struct {
		name   string
		v, def int
	}{{"client_burst", r.ClientBurst, DefaultClientBurst}, {"peer_burst", r.PeerBurst, DefaultPeerBurst}, {"max_tracked", r.MaxTracked, DefaultMaxTracked}} {
		if f.v < 0 {
			bad("rate_limit."+f.name, "%d is negative (e.g. %d; 0: the default)", f.v, f.def)
		}
	}
	if r.MaxTracked > maxMaxTracked {
		bad("rate_limit.max_tracked", "%d is over %d", r.MaxTracked, maxMaxTracked)
	}
}

// minRPS is the slowest refill rate_limit accepts (about one call in 17
// minutes): below it, retry hints overflow and a caller is shut out.
const minRPS = 0.001

// DefaultMaxStaleness is max_staleness when the config leaves it out: an
// hour without the leader is long enough for a key revocation to matter,
// short enough that a checkpoint rarely sees registry_stale in practice.
const DefaultMaxStaleness = time.Hour

// IsVoter reports whether the node is a voter (the default).
func (c *Config) IsVoter() bool { return c.Voter == nil || *c.Voter }

// LoadConfig reads and validates a YAML config file. Unknown fields are
// errors, so a typo never silently falls back to a default.
//
// Durations (peer_timeout, max_staleness, code_ttl, heartbeat_timeout,
// election_timeout, decision_retention) are strings with a unit, as time.ParseDuration reads
// them: "500ms", "1s", "168h". yaml.v3 refuses a bare number such as
// peer_timeout: 5 for a time.Duration; LoadConfig reports it as
// "peer_timeout: 5 has no unit; use a unit, e.g. 500ms".
//
// Every decode error names the file, the line and the field.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, syntaxError(err))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == 0 || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
		return nil, fmt.Errorf("config %s is empty: it needs at least jurisdiction, data_dir, raft_listen, grpc_listen, backend.url and bootstrap or join (see deploy/configs/)", path)
	}
	lines := map[int]string{}
	if err := checkNode(root, reflect.TypeOf(Config{}), "", lines); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, decodeError(err, lines))
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.checkSecrets(c.Genesis != "", c.JoinToken != ""); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError rewrites a yaml.v3 parse error ("yaml: line 3: did not find
// expected key") as "YAML syntax error at line 3: did not find expected key".
func syntaxError(err error) string {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("YAML syntax error at line %s: %s", m[1], m[2])
	}
	return "YAML syntax error: " + strings.TrimPrefix(msg, "yaml: ")
}

// decodeError rewrites what the typed decode still rejects after checkNode
// (a value of the wrong type, an unknown field reached through an alias):
// each "line N: ..." gains the field decoded at line N.
func decodeError(err error, lines map[int]string) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return syntaxError(err)
	}
	out := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := yamlLineRE.FindStringSubmatch(e)
		if m == nil {
			out = append(out, e)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if f, ok := lines[n]; ok {
			out = append(out, fmt.Sprintf("line %d: %s: %s", n, f, m[2]))
		} else {
			out = append(out, fmt.Sprintf("line %d: %s", n, m[2]))
		}
	}
	return strings.Join(out, "; ")
}

var durationType = reflect.TypeOf(time.Duration(0))

// durationExamples are the examples given for a duration without a unit.
var durationExamples = map[string]string{"code_ttl": "168h", "decision_retention": "336h", "max_staleness": "1h"}

// wellFormedDuration matches what time.ParseDuration would read but for
// its size: such a value failed only because it is over about 2562047h.
var wellFormedDuration = regexp.MustCompile(`^[0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h)$`)

// checkNode walks a decoded YAML node against the Go type it will decode
// into. It reports the first unknown field (with the known ones) and any
// duration that is not a string with a unit, and records which field each
// value line holds (for decodeError). Aliases are not followed (the typed
// decoder checks them, with its own expansion limits).
func checkNode(n *yaml.Node, t reflect.Type, path string, lines map[int]string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		if _, ok := lines[n.Line]; !ok {
			lines[n.Line] = path
		}
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return nil
		}
		ex := durationExamples[path]
		if ex == "" {
			ex = "500ms"
		}
		if n.Tag == "!!int" || n.Tag == "!!float" {
			return fmt.Errorf("line %d: %s: %s has no unit; use a unit, e.g. %s", n.Line, path, n.Value, ex)
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			if wellFormedDuration.MatchString(n.Value) {
				return fmt.Errorf("line %d: %s: %s is too long; durations go up to about 2562047h", n.Line, path, n.Value)
			}
			return fmt.Errorf("line %d: %s: %q is not a duration; use a number with a unit, e.g. %s", n.Line, path, n.Value, ex)
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && n.Kind == yaml.ScalarNode && n.Tag == "!!float":
		// yaml.v3 would truncate 1.5 to 1 without a word.
		return fmt.Errorf("line %d: %s: %s is not a whole number", n.Line, path, n.Value)
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue // merge keys and odd keys: left to the typed decoder
			}
			name := k.Value
			if path != "" {
				name = path + "." + k.Value
			}
			i := slices.IndexFunc(fields, func(f yamlField) bool { return f.name == k.Value })
			if i < 0 {
				return unknownField(k, name, path, fields)
			}
			if err := checkNode(v, fields[i].typ, name, lines); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, v := range n.Content {
			if err := checkNode(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i), lines); err != nil {
				return err
			}
		}
	}
	return nil
}

func unknownField(k *yaml.Node, name, path string, fields []yamlField) error {
	known := make([]string, len(fields))
	for i, f := range fields {
		known[i] = f.name
	}
	where := "known fields"
	if path != "" {
		where = "known fields in " + path
	}
	msg := fmt.Sprintf("line %d: unknown field %q (%s: %s)", k.Line, name, where, strings.Join(known, ", "))
	norm := func(s string) string { return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s)) }
	for _, f := range known {
		if norm(f) == norm(k.Value) {
			msg += fmt.Sprintf("; did you mean %q?", f)
			break
		}
	}
	return errors.New(msg)
}

// yamlField is one YAML key of a struct and the Go type it decodes into.
type yamlField struct {
	name string
	typ  reflect.Type
}

// yamlFields lists a struct's YAML keys in declaration order, as yaml.v3
// names them (the tag's name, else the lower-cased field name), with
// ",inline" structs flattened in place.
func yamlFields(t reflect.Type) []yamlField {
	var out []yamlField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, yamlFields(ft)...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, yamlField{name, f.Type})
	}
	return out
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
	if c.MaxStaleness == 0 {
		c.MaxStaleness = DefaultMaxStaleness
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
	c.RateLimit.defaults()
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
	// Listen ports may be 0 (pick a free port; tests do). Advertise fields
	// default to their listen address (Defaults), so they are checked only
	// when set to something else: a bad listen is reported once, as itself.
	for _, f := range []struct {
		name, v string
		check   bool
	}{
		{"raft_listen", c.RaftListen, true},
		{"grpc_listen", c.GRPCListen, true},
		{"raft_advertise", c.RaftAdvertise, c.RaftAdvertise != c.RaftListen},
		{"grpc_advertise", c.GRPCAdvertise, c.GRPCAdvertise != c.GRPCListen},
	} {
		if f.check {
			if err := checkHostPort(f.v, 0); err != nil {
				bad(f.name, "%s", err)
			}
		}
	}
	if c.AdminListen != "" {
		if err := checkHostPort(c.AdminListen, 0); err != nil {
			bad("admin_listen", "%s", err)
		} else if c.Pprof && !loopback(c.AdminListen) {
			bad("pprof", "admin_listen %s is not a loopback address; pprof has no authentication and shows process internals, so it is served on 127.0.0.1 or [::1] only (reach it with ssh -L or kubectl port-forward)", c.AdminListen)
		}
	} else if c.Pprof {
		bad("pprof", "needs admin_listen (pprof is served on the admin listener, e.g. admin_listen: 127.0.0.1:7690)")
	}
	if c.ConsoleListen != "" {
		if err := checkHostPort(c.ConsoleListen, 0); err != nil {
			bad("console_listen", "%s", err)
		} else if c.ConsoleListen == c.AdminListen && !strings.HasSuffix(c.ConsoleListen, ":0") {
			bad("console_listen", "%s is also admin_listen; give the console its own port", c.ConsoleListen)
		}
	}
	switch {
	case c.VerifyCache.Entries < 0:
		bad("verify_cache.entries", "%d is negative (0: the default %d; disabled: true turns the cache off)", c.VerifyCache.Entries, roamjws.DefaultCacheEntries)
	case c.VerifyCache.Entries > maxCacheEntries:
		bad("verify_cache.entries", "%d is over %d", c.VerifyCache.Entries, maxCacheEntries)
	}
	if c.Bootstrap && len(c.Join) > 0 {
		bad("join", "set either bootstrap (new cluster) or join (existing cluster), not both")
	}
	if c.Bootstrap && !c.IsVoter() {
		bad("voter", "a bootstrapping node must be a voter; remove voter: false or bootstrap: true")
	}
	if c.TLS != nil && (c.TLS.CA == "" || c.TLS.Cert == "" || c.TLS.Key == "") {
		bad("tls", "needs ca, cert and key (PEM files; the cert must carry spiffe://roam/jurisdiction/%s/node/%s)", c.Jurisdiction, c.NodeID)
	}

	for i, a := range c.Join {
		if err := checkHostPort(a, 1); err != nil {
			bad(fmt.Sprintf("join[%d]", i), "%s (the gRPC address of a member)", err)
		}
	}
	for i, p := range c.Peers {
		if p.ID == "" || p.RaftAddress == "" || p.GRPCAddress == "" {
			bad(fmt.Sprintf("peers[%d]", i), "needs id, raft_address and grpc_address")
			continue
		}
		if err := checkHostPort(p.RaftAddress, 1); err != nil {
			bad(fmt.Sprintf("peers[%d].raft_address", i), "%s", err)
		}
		if err := checkHostPort(p.GRPCAddress, 1); err != nil {
			bad(fmt.Sprintf("peers[%d].grpc_address", i), "%s", err)
		}
	}
	if c.Backend.URL == "" {
		bad("backend.url", "required: the provincial backend's HTTP base URL (e.g. http://127.0.0.1:7601, see roamd provsim)")
	} else if u, err := url.Parse(c.Backend.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("backend.url", "%q is not an http:// or https:// URL with a host (e.g. http://127.0.0.1:7601, see roamd provsim)", c.Backend.URL)
	}
	if c.Backend.Dialect != "" && c.Backend.Dialect != "zhejiang" && c.Backend.Dialect != "beijing" {
		bad("backend.dialect", "%q is not zhejiang or beijing", c.Backend.Dialect)
	}
	switch {
	case c.PeerTimeout < 0 || c.PeerTimeout > 10*time.Second:
		bad("peer_timeout", "%s is outside 0-10s", c.PeerTimeout)
	case c.PeerTimeout > 0 && c.PeerTimeout < time.Millisecond:
		bad("peer_timeout", "%s is under 1ms; use a unit, e.g. 500ms", c.PeerTimeout)
	}
	switch {
	case c.MaxStaleness < 0:
		bad("max_staleness", "%s is negative; give how long a node may go without the leader, e.g. 1h (0: the default, 1h)", c.MaxStaleness)
	case c.MaxStaleness != 0 && c.MaxStaleness < time.Second:
		bad("max_staleness", "%s is under 1s; use a unit, e.g. 1h", c.MaxStaleness)
	}
	if c.CodeTTL < 0 || (c.CodeTTL > 0 && c.CodeTTL < time.Second) {
		bad("code_ttl", "%s is under 1s; use a unit, e.g. 168h (0: the default, 168h)", c.CodeTTL)
	}
	if c.DecisionRetention < 0 || (c.DecisionRetention > 0 && c.DecisionRetention < time.Second) {
		bad("decision_retention", "%s is under 1s; use a unit, e.g. 336h (0: the default, 336h)", c.DecisionRetention)
	}
	if c.HeartbeatTimeout < 10*time.Millisecond || c.ElectionTimeout < 10*time.Millisecond {
		bad("heartbeat_timeout", "heartbeat_timeout and election_timeout must be at least 10ms")
	}
	if err := c.Telemetry.Validate(); err != nil {
		errs = append(errs, err)
	}
	c.RateLimit.validate(bad)
	return errors.Join(errs...)
}

// checkHostPort checks a host:port address whose port is a number from
// minPort (0 lets a listener pick a free port) to 65535.
func checkHostPort(addr string, minPort int) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:7410)", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < minPort || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number %d-65535 (e.g. 127.0.0.1:7410)", addr, port, minPort)
	}
	return nil
}

func sysName(c *Config) string {
	if c.Backend.System != "" {
		return c.Backend.System
	}
	return SystemFor(c.Jurisdiction)
}

// errMissingSecret names a file the node needs but the config lacks.
func (c *Config) checkSecrets(haveGenesis, haveToken bool) error {
	if c.Bootstrap && !haveGenesis {
		return fmt.Errorf("genesis: a bootstrapping node needs the genesis file (roamctl genesis --admin-key … --quorum M --out genesis.json)")
	}
	if len(c.Join) > 0 && !haveToken {
		return fmt.Errorf("join_token: a joining node needs its join token, signed by a national admin (roamctl cluster join-token …)")
	}
	return nil
}
