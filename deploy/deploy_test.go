package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/roam-federation/roam/federation/node"
)

// obj is one decoded YAML or JSON document.
type obj = map[string]any

// --- generic helpers ----------------------------------------------------

// get walks m along keys (map keys, or list indexes as decimal strings).
func get(v any, keys ...string) any {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, keys ...string) string {
	switch x := get(v, keys...).(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64: // JSON numbers
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func list(v any, keys ...string) []any {
	l, _ := get(v, keys...).([]any)
	return l
}

func mapOf(v any, keys ...string) map[string]any {
	m, _ := get(v, keys...).(map[string]any)
	return m
}

// parseYAML decodes every document of a (multi-document) YAML file.
func parseYAML(b []byte) ([]obj, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []obj
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue // an empty document (a trailing ---)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("document %d is a %T, not a mapping", len(out)+1, v)
		}
		out = append(out, m)
	}
}

func readYAML(t *testing.T, path string) []obj {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := parseYAML(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return docs
}

// loadServeConfig checks a roamd serve config exactly as roamd serve does
// at start (node.LoadConfig: strict decoding, Defaults, Validate). The
// secrets it names (TLS, genesis, join token) are read by node.Start, not
// by LoadConfig, so they need not exist here.
func loadServeConfig(dir, name string, b []byte) (*node.Config, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, err
	}
	return node.LoadConfig(p)
}

func port(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

func hostOf(hostport string) string {
	h, _, _ := net.SplitHostPort(hostport)
	return h
}

// portPlus is hostport's port plus n ("" if it is no number).
func portPlus(hostport string, n int) string {
	p, err := strconv.Atoi(port(hostport))
	if err != nil {
		return ""
	}
	return strconv.Itoa(p + n)
}

// loopbackHost reports whether host is one a browser counts as a secure
// context over plain HTTP (localhost or a loopback IP).
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func errorsContain(errs []error, want string) bool {
	for _, e := range errs {
		if strings.Contains(e.Error(), want) {
			return true
		}
	}
	return false
}

// --- every file parses -----------------------------------------------------

func TestArtefactsParse(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("found only %d YAML/JSON files under deploy/: %v", len(files), files)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Ext(f) == ".json" {
				var v any
				if err := json.Unmarshal(b, &v); err != nil {
					t.Fatalf("JSON: %v", err)
				}
				return
			}
			docs, err := parseYAML(b)
			if err != nil {
				t.Fatalf("YAML: %v", err)
			}
			if len(docs) == 0 {
				t.Fatal("no YAML document")
			}
		})
	}
}

// --- roamd serve configs ------------------------------------------------------

// serveConfig is one roamd serve config found in deploy/.
type serveConfig struct {
	where string // file, or file#ConfigMap
	body  []byte
	// deployed: compose or k8s (must export traces over OTLP and listen for
	// the admin endpoints on every interface).
	deployed bool
}

func serveConfigs(t *testing.T) []serveConfig {
	t.Helper()
	var out []serveConfig
	for _, pattern := range []string{"configs/*.yaml", "compose/config/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		if len(files) < 3 {
			t.Fatalf("%s: want at least three serve configs, found %v", pattern, files)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, serveConfig{where: f, body: b, deployed: strings.HasPrefix(f, "compose/")})
		}
	}
	for _, o := range k8sObjects(t) {
		if str(o, "kind") == "ConfigMap" {
			out = append(out, serveConfig{where: "k8s#" + str(o, "metadata", "name"), body: []byte(str(o, "data", "roamd.yaml")), deployed: true})
		}
	}
	return out
}

func TestServeConfigs(t *testing.T) {
	dir := t.TempDir()
	for i, sc := range serveConfigs(t) {
		t.Run(sc.where, func(t *testing.T) {
			c, err := loadServeConfig(dir, fmt.Sprintf("c%d.yaml", i), sc.body)
			if err != nil {
				t.Fatalf("roamd serve would refuse it: %v", err)
			}
			if c.TLS == nil {
				t.Error("no tls section: roamd serve refuses it without --insecure-dev")
			}
			if c.AdminListen == "" {
				t.Error("admin_listen is not set: no /metrics, /healthz or /readyz")
			}
			if !bytes.Contains(sc.body, []byte("verify_cache")) {
				t.Error("does not show verify_cache (commented out is enough)")
			}
			if c.Genesis == "" {
				t.Error("genesis is not set: every node pins the federation's genesis")
			}
			// The web console: 745x beside admin's 744x (the demo's
			// numbering). Browsers allow the camera and WebCrypto only on
			// localhost or over HTTPS, so an example config keeps it on
			// loopback; a container listens on every interface and is
			// reached through a loopback port mapping or a TLS proxy.
			if c.ConsoleListen == "" {
				t.Error("console_listen is not set: no web console (checkpoint and admin pages)")
			} else {
				if want := portPlus(c.AdminListen, 10); port(c.ConsoleListen) != want {
					t.Errorf("console_listen %s: want port %s, admin_listen's port + 10 (744x → 745x)", c.ConsoleListen, want)
				}
				if h := hostOf(c.ConsoleListen); sc.deployed && h != "0.0.0.0" {
					t.Errorf("console_listen %s: published ports and Services reach it from outside the container only on 0.0.0.0", c.ConsoleListen)
				} else if !sc.deployed && !loopbackHost(h) {
					t.Errorf("console_listen %s: not loopback (plain HTTP: browsers allow camera and WebCrypto only on localhost)", c.ConsoleListen)
				}
				if !bytes.Contains(sc.body, []byte("HTTPS")) {
					t.Error("console_listen: say in a comment that the console needs HTTPS (or localhost) in the browser")
				}
			}
			if !sc.deployed {
				return
			}
			if c.Telemetry.Exporter != "otlp" || c.Telemetry.OTLPEndpoint == "" {
				t.Errorf("telemetry: exporter %q endpoint %q, want otlp to the collector", c.Telemetry.Exporter, c.Telemetry.OTLPEndpoint)
			}
			if h := hostOf(c.AdminListen); h != "0.0.0.0" {
				t.Errorf("admin_listen %s: Prometheus and probes reach it from outside the container only on 0.0.0.0", c.AdminListen)
			}
			for _, f := range []struct{ name, v, listen string }{{"raft_advertise", c.RaftAdvertise, c.RaftListen}, {"grpc_advertise", c.GRPCAdvertise, c.GRPCListen}} {
				if h := hostOf(f.v); h == "0.0.0.0" || h == "" || h == "127.0.0.1" {
					t.Errorf("%s %q: peers cannot dial it", f.name, f.v)
				}
				if port(f.v) != port(f.listen) {
					t.Errorf("%s %s: port differs from its listener %s", f.name, f.v, f.listen)
				}
			}
		})
	}
}

// --- Dockerfile ------------------------------------------------------------------

// TestDockerfileExposes checks that the image's EXPOSE covers every port a
// serve config here listens on (gRPC, Raft, admin, console).
func TestDockerfileExposes(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	want := listenPorts(t)
	for _, err := range checkExpose(b, want) {
		t.Error(err)
	}
	// A broken copy: the console range gone.
	mut := bytes.Replace(b, []byte(" 7450-7454"), nil, 1)
	if bytes.Equal(mut, b) {
		t.Fatal("the Dockerfile does not EXPOSE 7450-7454")
	}
	if errs := checkExpose(mut, want); !errorsContain(errs, "7450 (console_listen") {
		t.Errorf("EXPOSE without the console range: want an error about port 7450, got %v", errs)
	}
}

// listenPorts maps every port a serve config here listens on to the field
// and file that set it.
func listenPorts(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for i, sc := range serveConfigs(t) {
		c, err := loadServeConfig(dir, fmt.Sprintf("c%d.yaml", i), sc.body)
		if err != nil {
			continue // TestServeConfigs reports it
		}
		for _, l := range []struct{ field, addr string }{
			{"grpc_listen", c.GRPCListen}, {"raft_listen", c.RaftListen},
			{"admin_listen", c.AdminListen}, {"console_listen", c.ConsoleListen},
		} {
			if p := port(l.addr); p != "" {
				out[p] = l.field + " in " + sc.where
			}
		}
	}
	return out
}

// checkExpose checks that the Dockerfile's EXPOSE lines cover every port
// of want (port → where it is used).
func checkExpose(dockerfile []byte, want map[string]string) []error {
	var errs []error
	type span struct{ lo, hi int }
	var exposed []span
	for _, line := range strings.Split(string(dockerfile), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.EqualFold(f[0], "EXPOSE") {
			continue
		}
		for _, x := range f[1:] {
			x, _, _ = strings.Cut(x, "/")
			lo, hi, isRange := strings.Cut(x, "-")
			if !isRange {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || h < l {
				errs = append(errs, fmt.Errorf("Dockerfile: EXPOSE %s is no port or range", x))
				continue
			}
			exposed = append(exposed, span{l, h})
		}
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		n, _ := strconv.Atoi(p)
		if !slices.ContainsFunc(exposed, func(s span) bool { return s.lo <= n && n <= s.hi }) {
			errs = append(errs, fmt.Errorf("Dockerfile: EXPOSE does not cover port %s (%s)", p, want[p]))
		}
	}
	return errs
}

// --- Kubernetes -----------------------------------------------------------------

// k8sObjects reads the resources kustomization.yaml lists.
func k8sObjects(t *testing.T) []obj {
	t.Helper()
	k := readYAML(t, "k8s/kustomization.yaml")[0]
	var out []obj
	listed := map[string]bool{}
	for _, r := range list(k, "resources") {
		f := r.(string)
		listed[f] = true
		out = append(out, readYAML(t, filepath.Join("k8s", f))...)
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && !listed[b] {
			t.Errorf("%s is not in kustomization.yaml resources", f)
		}
	}
	return out
}

// k8sScript is what deploy/k8s/roam-k8s.sh makes, read from the script
// itself: the Secrets (put_secret NAME FILE… lines; a key is a file's base
// name, $j the jurisdiction of the loop) and the names a node certificate
// carries (`roam-k8s.sh hosts J`, run with sh).
type k8sScript struct {
	secrets map[string][]string // Secret name, $j unexpanded → keys, $j unexpanded
	hosts   func(j string) ([]string, error)
}

const k8sScriptPath = "k8s/roam-k8s.sh"

var putSecretRE = regexp.MustCompile(`(?m)^\s*put_secret\s+(.+)$`)

func readK8sScript(t *testing.T) k8sScript {
	t.Helper()
	b, err := os.ReadFile(k8sScriptPath)
	if err != nil {
		t.Fatal(err)
	}
	return parseK8sScript(t, b)
}

// parseK8sScript reads a copy of roam-k8s.sh (it runs it from a temporary
// file for its hosts).
func parseK8sScript(t *testing.T, b []byte) k8sScript {
	t.Helper()
	s := k8sScript{secrets: map[string][]string{}}
	for _, m := range putSecretRE.FindAllStringSubmatch(string(b), -1) {
		f := strings.Fields(strings.NewReplacer(`"`, "", `'`, "", "${j}", "$j").Replace(m[1]))
		for _, file := range f[1:] {
			s.secrets[f[0]] = append(s.secrets[f[0]], path.Base(file))
		}
	}
	if len(s.secrets) == 0 {
		t.Fatalf("%s: no put_secret NAME FILE… lines", k8sScriptPath)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh to run %s hosts: %v", k8sScriptPath, err)
	}
	file := filepath.Join(t.TempDir(), "roam-k8s.sh")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cache := map[string][]string{}
	s.hosts = func(j string) ([]string, error) {
		if h, ok := cache[j]; ok {
			return h, nil
		}
		cmd := exec.Command(sh, file, "hosts", j)
		cmd.Env = append(os.Environ(), "ROAM_NAMESPACE=", "ROAM_ADMIN_DIR="+os.DevNull)
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("sh %s hosts %s: %w", k8sScriptPath, j, err)
		}
		cache[j] = strings.Fields(string(out))
		return cache[j], nil
	}
	return s
}

// secretKeys is what the script puts in Secret name for jurisdiction j
// (nil: it makes no such Secret).
func (s k8sScript) secretKeys(name, j string) []string {
	for pattern, keys := range s.secrets {
		if strings.ReplaceAll(pattern, "$j", j) == name {
			out := make([]string, len(keys))
			for i, k := range keys {
				out[i] = strings.ReplaceAll(k, "$j", j)
			}
			return out
		}
	}
	return nil
}

func TestKubernetes(t *testing.T) {
	objs := k8sObjects(t)
	var sts int
	for _, o := range objs {
		if str(o, "kind") == "StatefulSet" {
			sts++
		}
	}
	if sts < 3 {
		t.Fatalf("%d StatefulSets, want one per province (at least 3)", sts)
	}
	for _, err := range checkK8s(objs, readK8sScript(t), t.TempDir()) {
		t.Error(err)
	}
}

// The label every Raft voter's pod carries: the PodDisruptionBudget over
// all voters and their anti-affinity select it.
const voterLabel = "roam.gov.cn/raft-voter"

// checkK8s checks the objects of deploy/k8s against each other and against
// what roam-k8s.sh makes.
func checkK8s(objs []obj, script k8sScript, tmp string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	byKind := map[string]map[string]obj{}
	for _, o := range objs {
		kind, name := str(o, "kind"), str(o, "metadata", "name")
		if kind == "" || name == "" || str(o, "apiVersion") == "" {
			bad("an object lacks apiVersion, kind or metadata.name: %v", o["metadata"])
			continue
		}
		if byKind[kind] == nil {
			byKind[kind] = map[string]obj{}
		}
		if _, dup := byKind[kind][name]; dup {
			bad("%s %s is defined twice", kind, name)
		}
		byKind[kind][name] = o
	}
	if len(byKind["Secret"]) > 0 {
		bad("deploy/k8s holds Secret objects; secrets are made at install time (roam-k8s.sh), never committed")
	}
	namespace := ""
	for name, ns := range byKind["Namespace"] {
		namespace = name
		if l := str(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce"); l != "restricted" {
			bad("Namespace %s: pod-security.kubernetes.io/enforce is %q, want restricted", name, l)
		}
	}
	if len(byKind["Namespace"]) != 1 {
		bad("%d Namespaces, want one", len(byKind["Namespace"]))
	}
	type member struct {
		sts    obj
		labels map[string]any
		cfg    *node.Config
	}
	nodes := map[string]*member{} // StatefulSet name → its node
	for _, name := range slices.Sorted(maps.Keys(byKind["StatefulSet"])) {
		s := byKind["StatefulSet"][name]
		where := "StatefulSet " + name
		podLabels := mapOf(s, "spec", "template", "metadata", "labels")
		if !selectsAll(mapOf(s, "spec", "selector", "matchLabels"), podLabels) {
			bad("%s: spec.selector does not select its own pod template", where)
		}
		// The governing Service: headless, publishing not-ready pods.
		svcName := str(s, "spec", "serviceName")
		svc, ok := byKind["Service"][svcName]
		switch {
		case svcName == "":
			bad("%s: no serviceName", where)
		case !ok:
			bad("%s: serviceName %q: no such Service", where, svcName)
		default:
			if str(svc, "spec", "clusterIP") != "None" {
				bad("%s: serviceName %s is not headless (clusterIP: None)", where, svcName)
			}
			if get(svc, "spec", "publishNotReadyAddresses") != true {
				bad("%s: Service %s must set publishNotReadyAddresses: true (Raft peers reach a node before it is ready)", where, svcName)
			}
			if !selectsAll(mapOf(svc, "spec", "selector"), podLabels) {
				bad("%s: Service %s does not select its pods", where, svcName)
			}
		}
		// Exactly one PDB: the eviction API refuses pods with several.
		var pdbs []string
		for _, pn := range slices.Sorted(maps.Keys(byKind["PodDisruptionBudget"])) {
			p := byKind["PodDisruptionBudget"][pn]
			if selectsAll(mapOf(p, "spec", "selector", "matchLabels"), podLabels) {
				pdbs = append(pdbs, pn)
				if str(p, "spec", "maxUnavailable") != "1" {
					bad("%s: PodDisruptionBudget %s: maxUnavailable %q, want 1", where, pn, str(p, "spec", "maxUnavailable"))
				}
			}
		}
		if len(pdbs) != 1 {
			bad("%s: %d PodDisruptionBudgets select its pods (%v), want exactly one", where, len(pdbs), pdbs)
		}
		vcts := list(s, "spec", "volumeClaimTemplates")
		if len(vcts) == 0 {
			bad("%s: no volumeClaimTemplates (the data dir would not survive the pod)", where)
		}
		pod := mapOf(s, "spec", "template", "spec")
		errs = append(errs, checkRestricted(where, pod)...)
		// Without fsGroup the claim is root-owned and the projected Secrets
		// (0440) root:root: uid 65532 can neither make its data dir nor read
		// its TLS key.
		if fg := str(pod, "securityContext", "fsGroup"); fg == "" || fg == "0" {
			bad("%s: pod securityContext.fsGroup is %q: the claim and the Secrets (mode 0440) are then not the non-root user's", where, fg)
		}
		volumes := map[string]obj{}
		for _, v := range list(pod, "volumes") {
			volumes[str(v, "name")] = v.(obj)
		}
		for _, v := range vcts {
			volumes[str(v, "metadata", "name")] = obj{"claim": true}
		}
		var roamd obj
		for _, c := range list(pod, "containers") {
			c := c.(obj)
			cw := where + " container " + str(c, "name")
			if get(c, "securityContext", "readOnlyRootFilesystem") != true {
				bad("%s: securityContext.readOnlyRootFilesystem is not true", cw)
			}
			for _, r := range []string{"requests", "limits"} {
				if str(c, "resources", r, "cpu") == "" || str(c, "resources", r, "memory") == "" {
					bad("%s: resources.%s needs cpu and memory", cw, r)
				}
			}
			for _, m := range list(c, "volumeMounts") {
				if _, ok := volumes[str(m, "name")]; !ok {
					bad("%s: volumeMount %s: no such volume or claim template", cw, str(m, "name"))
				}
			}
			if slices.Contains(list(c, "args"), any("serve")) {
				roamd = c
			}
		}
		if roamd == nil {
			bad("%s: no container runs roamd serve", where)
			continue
		}
		cfg, cerrs := checkRoamdContainer(where, roamd, mapOf(s, "spec", "template"), volumes, byKind, script, namespace, tmp)
		errs = append(errs, cerrs...)
		if cfg != nil {
			nodes[name] = &member{sts: s, labels: podLabels, cfg: cfg}
		}
	}
	// Joins dial a node's gRPC listener: the address it advertises.
	grpcAdvertised := map[string]bool{}
	for _, n := range nodes {
		grpcAdvertised[n.cfg.GRPCAdvertise] = true
	}
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		for _, j := range nodes[name].cfg.Join {
			if !grpcAdvertised[j] {
				bad("StatefulSet %s: join %s is no node's grpc_advertise %v (a join is a gRPC call)", name, j, keys(grpcAdvertised))
			}
		}
	}
	// The Raft voters: one PodDisruptionBudget over all of them (one voter
	// down at a time, of any province), spread over Kubernetes nodes, and
	// rolled one at a time rather than all together on a template change.
	var voters []string
	for _, name := range slices.Sorted(maps.Keys(nodes)) {
		if nodes[name].cfg.IsVoter() {
			voters = append(voters, name)
		}
	}
	for _, name := range voters {
		n := nodes[name]
		where := "StatefulSet " + name
		if str(n.labels, voterLabel) != "true" {
			bad("%s: a Raft voter whose pod lacks the label %s: \"true\"", where, voterLabel)
		}
		for pn, p := range byKind["PodDisruptionBudget"] {
			sel := mapOf(p, "spec", "selector", "matchLabels")
			if !selectsAll(sel, n.labels) {
				continue
			}
			for _, other := range voters {
				if !selectsAll(sel, nodes[other].labels) {
					bad("%s: PodDisruptionBudget %s covers this voter but not voter %s: one budget must span all Raft voters (one per pod never blocks a drain)", where, pn, other)
				}
			}
		}
		spread := false
		var terms []any
		terms = append(terms, list(n.sts, "spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution")...)
		for _, w := range list(n.sts, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution") {
			terms = append(terms, get(w, "podAffinityTerm"))
		}
		for _, term := range terms {
			if str(term, "topologyKey") != "kubernetes.io/hostname" {
				continue
			}
			all := true
			for _, other := range voters {
				all = all && selectsAll(mapOf(term, "labelSelector", "matchLabels"), nodes[other].labels)
			}
			spread = spread || all
		}
		if !spread {
			bad("%s: no podAntiAffinity term (topologyKey kubernetes.io/hostname, labelSelector.matchLabels) over all Raft voters: one machine could host several", where)
		}
		strategy := str(n.sts, "spec", "updateStrategy", "type")
		partition, _ := strconv.Atoi(str(n.sts, "spec", "updateStrategy", "rollingUpdate", "partition"))
		replicas, err := strconv.Atoi(str(n.sts, "spec", "replicas"))
		if err != nil {
			replicas = 1
		}
		if strategy != "OnDelete" && partition < replicas {
			bad("%s: updateStrategy %q: a template change (an image bump in kustomization.yaml) restarts every voter at once; use OnDelete and roll one province at a time", where, strategy)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byKind["PodDisruptionBudget"])) {
		p := byKind["PodDisruptionBudget"][name]
		any := false
		for _, s := range byKind["StatefulSet"] {
			any = any || selectsAll(mapOf(p, "spec", "selector", "matchLabels"), mapOf(s, "spec", "template", "metadata", "labels"))
		}
		if !any {
			bad("PodDisruptionBudget %s selects no StatefulSet's pods", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byKind["Service"])) {
		svc := byKind["Service"][name]
		sel := mapOf(svc, "spec", "selector")
		any := false
		for sn, s := range byKind["StatefulSet"] {
			if !selectsAll(sel, mapOf(s, "spec", "template", "metadata", "labels")) {
				continue
			}
			any = true
			// A named targetPort must name a container port of the pods.
			named := map[string]bool{}
			for _, c := range list(s, "spec", "template", "spec", "containers") {
				for _, p := range list(c, "ports") {
					named[str(p, "name")] = true
				}
			}
			for _, sp := range list(svc, "spec", "ports") {
				tp := str(sp, "targetPort")
				if _, err := strconv.Atoi(tp); tp != "" && err != nil && !named[tp] {
					bad("Service %s: port %s: targetPort %s is no container port of StatefulSet %s", name, str(sp, "name"), tp, sn)
				}
			}
		}
		if !any {
			bad("Service %s selects no StatefulSet's pods", name)
		}
	}
	errs = append(errs, checkNetworkPolicies(byKind)...)
	return errs
}

// checkRestricted checks a pod spec against the restricted Pod Security
// Standard the namespace enforces: the API server refuses a pod that
// breaks it, so the StatefulSet never gets one.
func checkRestricted(where string, pod obj) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": restricted Pod Security Standard: "+format, args...))
	}
	for _, f := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		if get(pod, f) == true {
			bad("%s", f)
		}
	}
	allowed := []string{"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
	for _, v := range list(pod, "volumes") {
		for k := range v.(obj) {
			if k != "name" && !slices.Contains(allowed, k) {
				bad("volume %s is of type %s", str(v, "name"), k)
			}
		}
	}
	podSC := mapOf(pod, "securityContext")
	seccompOK := func(t string) bool { return t == "RuntimeDefault" || t == "Localhost" }
	if t := str(podSC, "seccompProfile", "type"); t != "" && !seccompOK(t) {
		bad("pod seccompProfile.type %s", t)
	}
	if str(podSC, "runAsUser") == "0" {
		bad("pod runAsUser 0")
	}
	var containers []any
	containers = append(containers, list(pod, "initContainers")...)
	containers = append(containers, list(pod, "containers")...)
	for _, c := range containers {
		cw := "container " + str(c, "name")
		sc := mapOf(c, "securityContext")
		if get(sc, "privileged") == true {
			bad("%s: privileged", cw)
		}
		if get(sc, "allowPrivilegeEscalation") != false {
			bad("%s: securityContext.allowPrivilegeEscalation is not false", cw)
		}
		if nonRoot := get(sc, "runAsNonRoot"); nonRoot == false || nonRoot == nil && get(podSC, "runAsNonRoot") != true {
			bad("%s: runAsNonRoot is not true (pod or container)", cw)
		}
		if str(sc, "runAsUser") == "0" {
			bad("%s: runAsUser 0", cw)
		}
		if t := str(sc, "seccompProfile", "type"); !seccompOK(t) && !(t == "" && seccompOK(str(podSC, "seccompProfile", "type"))) {
			bad("%s: no seccompProfile RuntimeDefault or Localhost (pod or container)", cw)
		}
		if !slices.Contains(list(sc, "capabilities", "drop"), any("ALL")) {
			bad("%s: securityContext.capabilities.drop lacks ALL", cw)
		}
		for _, a := range list(sc, "capabilities", "add") {
			if a != "NET_BIND_SERVICE" {
				bad("%s: capabilities.add %v", cw, a)
			}
		}
		for _, p := range list(c, "ports") {
			if str(p, "hostPort") != "" && str(p, "hostPort") != "0" {
				bad("%s: hostPort %s", cw, str(p, "hostPort"))
			}
		}
	}
	return errs
}

// checkNetworkPolicies checks the NetworkPolicies selecting roamd pods: a
// port they do not let in is unreachable (gRPC, Raft), and the admin and
// console ports (plain HTTP, no authentication) are not open to everyone.
func checkNetworkPolicies(byKind map[string]map[string]obj) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, sn := range slices.Sorted(maps.Keys(byKind["StatefulSet"])) {
		s := byKind["StatefulSet"][sn]
		labels := mapOf(s, "spec", "template", "metadata", "labels")
		var roamd obj
		for _, c := range list(s, "spec", "template", "spec", "containers") {
			if slices.Contains(list(c, "args"), any("serve")) {
				roamd = c.(obj)
			}
		}
		if roamd == nil {
			continue
		}
		var rules []any
		isolated := false
		for _, np := range byKind["NetworkPolicy"] {
			sel := mapOf(np, "spec", "podSelector")
			if len(sel) == 0 || !selectsAll(mapOf(sel, "matchLabels"), labels) {
				continue // an empty selector (all pods) is not used here
			}
			types := list(np, "spec", "policyTypes")
			if len(types) == 0 || slices.Contains(types, any("Ingress")) {
				isolated = true
				rules = append(rules, list(np, "spec", "ingress")...)
			}
		}
		if !isolated {
			bad("StatefulSet %s: no NetworkPolicy restricts ingress to its pods: the admin port (/metrics) and the console are open to every pod", sn)
			continue
		}
		for _, p := range list(roamd, "ports") {
			name, number := str(p, "name"), str(p, "containerPort")
			var froms [][]any
			for _, r := range rules {
				ports := list(r, "ports")
				match := len(ports) == 0
				for _, rp := range ports {
					match = match || str(rp, "port") == name || str(rp, "port") == number
				}
				if match {
					froms = append(froms, list(r, "from"))
				}
			}
			open := slices.ContainsFunc(froms, func(f []any) bool { return len(f) == 0 })
			switch {
			case len(froms) == 0:
				bad("StatefulSet %s: NetworkPolicy lets nothing in on port %s (%s)", sn, name, number)
			case open && (name == "admin" || name == "console"):
				bad("StatefulSet %s: NetworkPolicy opens port %s (%s) to everyone: it has no authentication", sn, name, number)
			}
		}
	}
	return errs
}

// checkRoamdContainer checks the roamd container against its serve config
// (from its ConfigMap), its probes, ports, mounts, Services, the pod's
// other containers (the provsim backend) and what roam-k8s.sh makes. It
// returns the config (nil if it does not load).
func checkRoamdContainer(where string, c obj, template obj, volumes map[string]obj, byKind map[string]map[string]obj, script k8sScript, namespace, tmp string) (*node.Config, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(where+": "+format, args...)) }
	podLabels := mapOf(template, "metadata", "labels")
	args := list(c, "args")
	cfgPath := ""
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			cfgPath, _ = args[i+1].(string)
		}
	}
	if cfgPath == "" {
		bad("roamd serve has no --config")
		return nil, errs
	}
	// The volume mounted where --config points must be a ConfigMap that
	// exists and holds that file.
	mounts := map[string]string{} // mountPath → volume name
	for _, m := range list(c, "volumeMounts") {
		mounts[str(m, "mountPath")] = str(m, "name")
	}
	vol := volumes[mounts[filepath.Dir(cfgPath)]]
	cmName := str(vol, "configMap", "name")
	cm, ok := byKind["ConfigMap"][cmName]
	if cmName == "" || !ok {
		bad("--config %s: not in a mounted ConfigMap that exists (volume %q, ConfigMap %q)", cfgPath, mounts[filepath.Dir(cfgPath)], cmName)
		return nil, errs
	}
	body := str(cm, "data", filepath.Base(cfgPath))
	if body == "" {
		bad("ConfigMap %s has no key %s", cmName, filepath.Base(cfgPath))
		return nil, errs
	}
	cfg, err := loadServeConfig(tmp, cmName+".yaml", []byte(body))
	if err != nil {
		bad("ConfigMap %s: roamd serve would refuse its config: %v", cmName, err)
		return nil, errs
	}
	ports := map[string]string{} // container port name → number
	for _, p := range list(c, "ports") {
		ports[str(p, "name")] = str(p, "containerPort")
	}
	listeners := map[string]string{"admin": cfg.AdminListen, "grpc": cfg.GRPCListen, "raft": cfg.RaftListen}
	if cfg.ConsoleListen == "" {
		bad("ConfigMap %s: console_listen is not set: no web console", cmName)
	} else {
		listeners["console"] = cfg.ConsoleListen
	}
	for _, name := range slices.Sorted(maps.Keys(listeners)) {
		if addr := listeners[name]; ports[name] != port(addr) {
			bad("containerPort %s is %q but the config listens on %s", name, ports[name], addr)
		}
	}
	// The console is reached through a client Service (ClusterIP, ready
	// pods only): kubectl port-forward svc/… or an Ingress terminating TLS.
	var clients []string
	if cfg.ConsoleListen != "" {
		exposed := false
		for _, name := range slices.Sorted(maps.Keys(byKind["Service"])) {
			svc := byKind["Service"][name]
			if !selectsAll(mapOf(svc, "spec", "selector"), podLabels) || str(svc, "spec", "clusterIP") == "None" || get(svc, "spec", "publishNotReadyAddresses") == true {
				continue
			}
			clients = append(clients, name)
			for _, sp := range list(svc, "spec", "ports") {
				tp := str(sp, "targetPort")
				if tp == "" {
					tp = str(sp, "port")
				}
				exposed = exposed || tp == "console" || tp == port(cfg.ConsoleListen)
			}
		}
		if !exposed {
			bad("console_listen %s: no client Service (ClusterIP, ready pods only) has a port for it (client Services: %v)", cfg.ConsoleListen, clients)
		}
	}
	for _, p := range []struct{ probe, path string }{{"startupProbe", "/healthz"}, {"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
		got := str(c, p.probe, "httpGet", "path")
		pp := str(c, p.probe, "httpGet", "port")
		if got != p.path {
			bad("%s.httpGet.path is %q, want %s", p.probe, got, p.path)
		}
		if pp != "admin" && pp != port(cfg.AdminListen) {
			bad("%s.httpGet.port %q is not the admin listener (%s)", p.probe, pp, cfg.AdminListen)
		}
	}
	// Prometheus's annotation-driven discovery scrapes the admin listener.
	ann := mapOf(template, "metadata", "annotations")
	if str(ann, "prometheus.io/scrape") != "true" || str(ann, "prometheus.io/path") != "/metrics" || str(ann, "prometheus.io/port") != port(cfg.AdminListen) {
		bad("pod annotations prometheus.io/scrape %q, path %q, port %q: want \"true\", /metrics and the admin port %s",
			str(ann, "prometheus.io/scrape"), str(ann, "prometheus.io/path"), str(ann, "prometheus.io/port"), port(cfg.AdminListen))
	}
	// A backend on the pod's loopback is a sidecar listening there (roamd
	// provsim --listen), probed on that port.
	if u, err := url.Parse(cfg.Backend.URL); err != nil {
		bad("backend.url %q: %v", cfg.Backend.URL, err)
	} else if loopbackHost(u.Hostname()) {
		var found []string
		for _, sc := range list(template, "spec", "containers") {
			sargs := list(sc, "args")
			if len(sargs) == 0 || sargs[0] != "provsim" {
				continue
			}
			listen := ""
			for i, a := range sargs {
				if a == "--listen" && i+1 < len(sargs) {
					listen = fmt.Sprint(sargs[i+1])
				}
			}
			found = append(found, listen)
			if port(listen) != u.Port() {
				continue
			}
			if h := hostOf(listen); h != "0.0.0.0" && h != "" && !loopbackHost(h) {
				bad("backend.url %s: provsim listens on %s, not on loopback", cfg.Backend.URL, listen)
			}
			for _, probe := range []string{"readinessProbe", "livenessProbe"} {
				if cmd := fmt.Sprint(list(sc, probe, "exec", "command")); !strings.Contains(cmd, ":"+u.Port()+"/") {
					bad("container %s: %s %s does not probe provsim's port %s", str(sc, "name"), probe, cmd, u.Port())
				}
			}
			u = nil
			break
		}
		if u != nil {
			bad("backend.url %s: no provsim container of the pod listens on port %s (provsim --listen %v)", cfg.Backend.URL, u.Port(), found)
		}
	}
	// Every file the config names is in a mounted volume: the data dir in
	// a claim, secrets in a secret or projected volume.
	mountOf := func(path string) (string, obj) {
		best := ""
		for mp := range mounts {
			if under(path, mp) && len(mp) > len(best) {
				best = mp
			}
		}
		return best, volumes[mounts[best]]
	}
	if _, v := mountOf(cfg.DataDir); v["claim"] != true {
		bad("data_dir %s is not on a volumeClaimTemplate", cfg.DataDir)
	}
	secretFiles := []string{cfg.Genesis, cfg.JoinToken}
	if cfg.TLS != nil {
		secretFiles = append(secretFiles, cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key)
	}
	checkedSecrets := map[string]bool{}
	for _, f := range secretFiles {
		if f == "" {
			continue
		}
		mp, v := mountOf(f)
		if v == nil {
			bad("%s is not in a mounted volume", f)
			continue
		}
		// Secret sources: a secret volume, or a projected volume's.
		var sources []obj
		if n := str(v, "secret", "secretName"); n != "" {
			sources = append(sources, obj{"name": n, "items": list(v, "secret", "items")})
		}
		for _, src := range list(v, "projected", "sources") {
			if str(src, "secret", "name") == "" {
				bad("volume %s: projected source %v is not a Secret", mounts[mp], src)
				continue
			}
			sources = append(sources, mapOf(src, "secret"))
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(f, mp), "/")
		found := false
		for _, src := range sources {
			name := str(src, "name")
			made := script.secretKeys(name, cfg.Jurisdiction)
			if made == nil && !checkedSecrets[name] {
				bad("volume %s: Secret %s: %s makes no such Secret (it makes %v)", mounts[mp], name, k8sScriptPath, slices.Sorted(maps.Keys(script.secrets)))
			}
			for _, it := range list(src, "items") {
				found = found || str(it, "path") == rel
				if key := str(it, "key"); made != nil && !slices.Contains(made, key) && !checkedSecrets[name+"/"+key] {
					bad("volume %s: Secret %s has no key %s: %s puts %v in it (the pod would wait for it forever)", mounts[mp], name, key, k8sScriptPath, made)
					checkedSecrets[name+"/"+key] = true
				}
			}
			checkedSecrets[name] = true
		}
		if !found {
			bad("%s: no Secret item projects %s into volume %s", f, rel, mounts[mp])
		}
	}
	// Advertised addresses name Services of this node that exist.
	for _, a := range []struct{ field, addr string }{{"raft_advertise", cfg.RaftAdvertise}, {"grpc_advertise", cfg.GRPCAdvertise}} {
		svc := serviceOf(hostOf(a.addr), byKind)
		if svc == nil {
			bad("%s %s: no Service of that name", a.field, a.addr)
			continue
		}
		if !selectsAll(mapOf(svc, "spec", "selector"), podLabels) {
			bad("%s %s: Service %s does not select this node's pod", a.field, a.addr, str(svc, "metadata", "name"))
		}
		if get(svc, "spec", "publishNotReadyAddresses") != true {
			bad("%s %s: Service %s must publish not-ready addresses (peers reach a node before it is ready)", a.field, a.addr, str(svc, "metadata", "name"))
		}
		if !servicePort(svc, port(a.addr)) {
			bad("%s %s: Service %s has no port %s", a.field, a.addr, str(svc, "metadata", "name"), port(a.addr))
		}
	}
	for _, j := range cfg.Join {
		if serviceOf(hostOf(j), byKind) == nil {
			bad("join %s: no Service of that name", j)
		}
	}
	// The node certificate carries every name the node is dialled at: its
	// advertised addresses (peers verify the name they dial, Raft included),
	// its client Services in every form a pod in or out of the namespace
	// uses, and 127.0.0.1 for kubectl port-forward.
	if script.hosts != nil {
		hosts, err := script.hosts(cfg.Jurisdiction)
		if err != nil {
			bad("%v", err)
		} else {
			want := []string{hostOf(cfg.RaftAdvertise), hostOf(cfg.GRPCAdvertise), "127.0.0.1"}
			for _, cl := range clients {
				want = append(want, cl, cl+"."+namespace, cl+"."+namespace+".svc", cl+"."+namespace+".svc.cluster.local")
			}
			for _, h := range want {
				if !slices.Contains(hosts, h) {
					bad("the node certificate (%s hosts %s) lacks %s", k8sScriptPath, cfg.Jurisdiction, h)
				}
			}
		}
	}
	return cfg, errs
}

func selectsAll(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func servicePort(svc obj, p string) bool {
	for _, sp := range list(svc, "spec", "ports") {
		if str(sp, "port") == p {
			return true
		}
	}
	return false
}

// serviceOf finds the Service a cluster DNS name names: SVC.NS.svc… or
// POD.SVC.NS.svc… (a StatefulSet pod under its headless Service).
func serviceOf(host string, byKind map[string]map[string]obj) obj {
	labels := strings.Split(host, ".")
	i := slices.Index(labels, "svc")
	if i < 2 {
		return nil
	}
	svc := byKind["Service"][labels[i-2]]
	if svc == nil {
		return nil
	}
	if i == 3 { // a pod name under a headless Service
		if str(svc, "spec", "clusterIP") != "None" {
			return nil
		}
	} else if i != 2 {
		return nil
	}
	return svc
}

// TestKubernetesCatchesBreakage feeds checkK8s broken copies of the real
// manifests: each must be reported.
func TestKubernetesCatchesBreakage(t *testing.T) {
	sts := func(objs []obj) obj {
		for _, o := range objs {
			if str(o, "kind") == "StatefulSet" && str(o, "metadata", "name") == "roamd-410000" {
				return o
			}
		}
		t.Fatal("no StatefulSet roamd-410000")
		return nil
	}
	roamdContainer := func(objs []obj) obj { return get(sts(objs), "spec", "template", "spec", "containers", "0").(obj) }
	podSpec := func(objs []obj) obj { return mapOf(sts(objs), "spec", "template", "spec") }
	provsim := func(objs []obj) obj { return get(podSpec(objs), "containers", "1").(obj) }
	find := func(objs []obj, kind, name string) obj {
		for _, o := range objs {
			if str(o, "kind") == kind && str(o, "metadata", "name") == name {
				return o
			}
		}
		t.Fatalf("no %s %s", kind, name)
		return nil
	}
	editConfig := func(objs []obj, old, new string) {
		cm := find(objs, "ConfigMap", "roamd-410000-config")
		body := str(cm, "data", "roamd.yaml")
		if !strings.Contains(body, old) {
			t.Fatalf("ConfigMap roamd-410000-config has no %q", old)
		}
		cm["data"].(obj)["roamd.yaml"] = strings.Replace(body, old, new, 1)
	}
	replaceArg := func(args []any, old, new string) {
		i := slices.Index(args, any(old))
		if i < 0 {
			t.Fatalf("no argument %q in %v", old, args)
		}
		args[i] = new
	}
	script := readK8sScript(t)
	drop := func(kind, name string) func([]obj) []obj {
		return func(objs []obj) []obj {
			return slices.DeleteFunc(objs, func(o obj) bool { return str(o, "kind") == kind && str(o, "metadata", "name") == name })
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func([]obj) []obj
		want   string
	}{
		{"readiness path", func(o []obj) []obj {
			roamdContainer(o)["readinessProbe"].(obj)["httpGet"].(obj)["path"] = "/healthz"
			return o
		}, "readinessProbe.httpGet.path"},
		{"no liveness probe", func(o []obj) []obj { delete(roamdContainer(o), "livenessProbe"); return o }, "livenessProbe.httpGet.path"},
		{"no claim templates", func(o []obj) []obj { delete(sts(o)["spec"].(obj), "volumeClaimTemplates"); return o }, "no volumeClaimTemplates"},
		{"serviceName unknown", func(o []obj) []obj { sts(o)["spec"].(obj)["serviceName"] = "nope"; return o }, `serviceName "nope": no such Service`},
		{"governing Service not headless", func(o []obj) []obj {
			for _, x := range o {
				if str(x, "kind") == "Service" && str(x, "metadata", "name") == "roamd-410000-peers" {
					delete(x["spec"].(obj), "clusterIP")
				}
			}
			return o
		}, "is not headless"},
		{"no PDB", drop("PodDisruptionBudget", "roamd-raft-voters"), "0 PodDisruptionBudgets"},
		{"a second PDB for one province", func(o []obj) []obj {
			return append(o, obj{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": obj{"name": "roamd-410000"},
				"spec": obj{"maxUnavailable": 1, "selector": obj{"matchLabels": obj{"app.kubernetes.io/instance": "roamd-410000"}}}})
		}, "2 PodDisruptionBudgets select its pods"},
		{"a PDB per province", func(o []obj) []obj {
			// The old layout: one budget per one-pod StatefulSet, which
			// never blocks a drain.
			o = drop("PodDisruptionBudget", "roamd-raft-voters")(o)
			for _, j := range []string{"330000", "410000", "110000"} {
				o = append(o, obj{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": obj{"name": "roamd-" + j},
					"spec": obj{"maxUnavailable": 1, "selector": obj{"matchLabels": obj{"app.kubernetes.io/instance": "roamd-" + j}}}})
			}
			return o
		}, "covers this voter but not voter"},
		{"voter label missing", func(o []obj) []obj {
			delete(mapOf(sts(o), "spec", "template", "metadata", "labels"), voterLabel)
			return o
		}, "a Raft voter whose pod lacks the label"},
		{"no anti-affinity", func(o []obj) []obj { delete(podSpec(o), "affinity"); return o }, "no podAntiAffinity term"},
		{"anti-affinity per zone only", func(o []obj) []obj {
			get(podSpec(o), "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", "0", "podAffinityTerm").(obj)["topologyKey"] = "topology.kubernetes.io/zone"
			return o
		}, "no podAntiAffinity term"},
		{"rolling updates", func(o []obj) []obj {
			sts(o)["spec"].(obj)["updateStrategy"] = obj{"type": "RollingUpdate"}
			return o
		}, `updateStrategy "RollingUpdate"`},
		{"no ConfigMap", drop("ConfigMap", "roamd-410000-config"), "not in a mounted ConfigMap that exists"},
		{"raft port gone from the headless Service", func(o []obj) []obj {
			spec := find(o, "Service", "roamd-410000-peers")["spec"].(obj)
			spec["ports"] = slices.DeleteFunc(list(spec, "ports"), func(p any) bool { return str(p, "name") == "raft" })
			return o
		}, "raft_advertise roamd-410000-0.roamd-410000-peers.roam.svc.cluster.local:7420: Service roamd-410000-peers has no port 7420"},
		{"raft advertised at a Service that is gone", func(o []obj) []obj {
			editConfig(o, "raft_advertise: roamd-410000-0.roamd-410000-peers.roam.svc.cluster.local:7420", "raft_advertise: roamd-410000-raft.roam.svc.cluster.local:7420")
			return o
		}, "raft_advertise roamd-410000-raft.roam.svc.cluster.local:7420: no Service of that name"},
		// Found by review: each of these passed the validator.
		{"no fsGroup", func(o []obj) []obj {
			// The claim root-owned, the projected Secrets root:root 0440:
			// uid 65532 can neither make its data dir nor read its TLS key.
			delete(podSpec(o)["securityContext"].(obj), "fsGroup")
			return o
		}, "fsGroup"},
		{"no seccompProfile", func(o []obj) []obj {
			// The namespace enforces the restricted PSS: pods are refused.
			delete(podSpec(o)["securityContext"].(obj), "seccompProfile")
			return o
		}, "container roamd: no seccompProfile"},
		{"provsim keeps capabilities", func(o []obj) []obj {
			delete(provsim(o)["securityContext"].(obj), "capabilities")
			return o
		}, "container provsim: securityContext.capabilities.drop lacks ALL"},
		{"a hostPath volume", func(o []obj) []obj {
			podSpec(o)["volumes"] = append(list(podSpec(o), "volumes"), obj{"name": "host", "hostPath": obj{"path": "/var/lib/roam"}})
			return o
		}, "volume host is of type hostPath"},
		{"namespace not restricted", func(o []obj) []obj {
			find(o, "Namespace", "roam")["metadata"].(obj)["labels"] = obj{}
			return o
		}, "pod-security.kubernetes.io/enforce"},
		{"provsim on another port", func(o []obj) []obj {
			// backend.url http://127.0.0.1:7430 would reach nothing.
			replaceArg(list(provsim(o), "args"), "127.0.0.1:7430", "127.0.0.1:7439")
			return o
		}, "backend.url http://127.0.0.1:7430: no provsim container of the pod listens on port 7430"},
		{"backend.url on another port", func(o []obj) []obj {
			editConfig(o, "url: http://127.0.0.1:7430", "url: http://127.0.0.1:7431")
			return o
		}, "no provsim container of the pod listens on port 7431"},
		{"provsim probed on another port", func(o []obj) []obj {
			get(provsim(o), "readinessProbe", "exec").(obj)["command"] = []any{"/usr/local/bin/roam-healthcheck", "http://127.0.0.1:7431/healthz"}
			return o
		}, "readinessProbe [/usr/local/bin/roam-healthcheck http://127.0.0.1:7431/healthz] does not probe provsim's port 7430"},
		{"startupProbe on a wrong port", func(o []obj) []obj {
			// The kubelet would kill roamd every 120 s, forever.
			roamdContainer(o)["startupProbe"].(obj)["httpGet"].(obj)["port"] = 7441
			return o
		}, `startupProbe.httpGet.port "7441"`},
		{"Secret key renamed", func(o []obj) []obj {
			// roam-k8s.sh makes key 410000-key.pem: the pod would wait for
			// tls.key forever.
			for _, v := range list(podSpec(o), "volumes") {
				for _, src := range list(v, "projected", "sources") {
					for _, it := range list(src, "secret", "items") {
						if str(it, "key") == "410000-key.pem" {
							it.(obj)["key"] = "tls.key"
						}
					}
				}
			}
			return o
		}, "Secret roamd-410000-tls has no key tls.key"},
		{"Secret renamed", func(o []obj) []obj {
			for _, v := range list(podSpec(o), "volumes") {
				for _, src := range list(v, "projected", "sources") {
					if str(src, "secret", "name") == "roam-genesis" {
						src.(obj)["secret"].(obj)["name"] = "roamd-genesis"
					}
				}
			}
			return o
		}, "Secret roamd-genesis: k8s/roam-k8s.sh makes no such Secret"},
		{"join port wrong", func(o []obj) []obj {
			// join would dial the Raft port with gRPC.
			editConfig(o, "svc.cluster.local:7410\"]", "svc.cluster.local:7420\"]")
			return o
		}, "join roamd-330000-0.roamd-330000-peers.roam.svc.cluster.local:7420 is no node's grpc_advertise"},
		{"scrape annotation on the gRPC port", func(o []obj) []obj {
			// Prometheus would scrape TLS gRPC for /metrics.
			mapOf(sts(o), "spec", "template", "metadata", "annotations")["prometheus.io/port"] = "7410"
			return o
		}, `prometheus.io/scrape "true", path "/metrics", port "7410"`},
		{"no scrape annotation", func(o []obj) []obj {
			delete(mapOf(sts(o), "spec", "template", "metadata", "annotations"), "prometheus.io/scrape")
			return o
		}, `prometheus.io/scrape ""`},
		{"certificate without the Raft name", func(o []obj) []obj {
			// The leader dials Raft at the advertised name and checks it.
			editConfig(o, "raft_advertise: roamd-410000-0.roamd-410000-peers.roam.svc.cluster.local:7420", "raft_advertise: roamd-410000-0.roamd-410000-peers.roam.svc:7420")
			return o
		}, "the node certificate (k8s/roam-k8s.sh hosts 410000) lacks roamd-410000-0.roamd-410000-peers.roam.svc"},
		{"client Service renamed", func(o []obj) []obj {
			find(o, "Service", "roamd-410000")["metadata"].(obj)["name"] = "henan"
			return o
		}, "lacks henan.roam.svc"},
		{"no NetworkPolicy", drop("NetworkPolicy", "roamd-ingress"), "no NetworkPolicy restricts ingress"},
		{"NetworkPolicy without Raft", func(o []obj) []obj {
			spec := find(o, "NetworkPolicy", "roamd-ingress")["spec"].(obj)
			spec["ingress"] = slices.DeleteFunc(list(spec, "ingress"), func(r any) bool { return str(r, "ports", "0", "port") == "raft" })
			return o
		}, "NetworkPolicy lets nothing in on port raft (7420)"},
		{"admin port open to every pod", func(o []obj) []obj {
			for _, r := range list(find(o, "NetworkPolicy", "roamd-ingress"), "spec", "ingress") {
				if str(r, "ports", "0", "port") == "admin" {
					delete(r.(obj), "from")
				}
			}
			return o
		}, "NetworkPolicy opens port admin (7440) to everyone"},
		{"bad config", func(o []obj) []obj {
			for _, x := range o {
				if str(x, "kind") == "ConfigMap" && str(x, "metadata", "name") == "roamd-410000-config" {
					x["data"].(obj)["roamd.yaml"] = strings.Replace(str(x, "data", "roamd.yaml"), "peer_timeout:", "peer_timout:", 1)
				}
			}
			return o
		}, `unknown field "peer_timout"`},
		{"writable root", func(o []obj) []obj {
			roamdContainer(o)["securityContext"].(obj)["readOnlyRootFilesystem"] = false
			return o
		}, "readOnlyRootFilesystem"},
		{"join token not projected", func(o []obj) []obj {
			vols := list(sts(o), "spec", "template", "spec", "volumes")
			for _, v := range vols {
				if src := list(v, "projected", "sources"); src != nil {
					v.(obj)["projected"].(obj)["sources"] = src[:2]
				}
			}
			return o
		}, "join-410000.json"},
		{"console port missing from the container", func(o []obj) []obj {
			c := roamdContainer(o)
			c["ports"] = slices.DeleteFunc(list(c, "ports"), func(p any) bool { return str(p, "name") == "console" })
			return o
		}, "containerPort console"},
		{"console port wrong in the container", func(o []obj) []obj {
			for _, p := range list(roamdContainer(o), "ports") {
				if str(p, "name") == "console" {
					p.(obj)["containerPort"] = 7451
				}
			}
			return o
		}, `containerPort console is "7451" but the config listens on 0.0.0.0:7450`},
		{"console not on the client Service", func(o []obj) []obj {
			for _, x := range o {
				if str(x, "kind") == "Service" && str(x, "metadata", "name") == "roamd-410000" {
					spec := x["spec"].(obj)
					spec["ports"] = slices.DeleteFunc(list(spec, "ports"), func(p any) bool { return str(p, "name") == "console" })
				}
			}
			return o
		}, "no client Service (ClusterIP, ready pods only) has a port for it"},
		{"Service targets an unknown port name", func(o []obj) []obj {
			for _, x := range o {
				if str(x, "kind") == "Service" && str(x, "metadata", "name") == "roamd-410000" {
					for _, p := range list(x, "spec", "ports") {
						if str(p, "name") == "console" {
							p.(obj)["targetPort"] = "consol"
						}
					}
				}
			}
			return o
		}, "targetPort consol is no container port"},
		{"no console_listen", func(o []obj) []obj {
			for _, x := range o {
				if str(x, "kind") == "ConfigMap" && str(x, "metadata", "name") == "roamd-410000-config" {
					x["data"].(obj)["roamd.yaml"] = strings.Replace(str(x, "data", "roamd.yaml"), "console_listen:", "# console_listen:", 1)
				}
			}
			return o
		}, "console_listen is not set"},
		{"committed Secret", func(o []obj) []obj {
			return append(o, obj{"apiVersion": "v1", "kind": "Secret", "metadata": obj{"name": "roam-genesis"}})
		}, "holds Secret objects"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := checkK8s(tc.mutate(k8sObjects(t)), script, t.TempDir())
			if !errorsContain(errs, tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, errs)
			}
		})
	}
}

// TestK8sScriptCatchesBreakage feeds checkK8s the real manifests with
// broken copies of roam-k8s.sh: each must be reported.
func TestK8sScriptCatchesBreakage(t *testing.T) {
	b, err := os.ReadFile(k8sScriptPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"certificate without the short name", ` roamd-$1 127.0.0.1`, ` 127.0.0.1`, "lacks roamd-410000"},
		{"certificate without the namespace-qualified name", ` roamd-$1.$NS roamd-$1 `, ` roamd-$1 `, "lacks roamd-410000.roam"},
		{"certificate without the pod name", `echo "$(pod_dns "$1") `, `echo "`, "lacks roamd-410000-0.roamd-410000-peers.roam.svc.cluster.local"},
		{"certificate without loopback", ` 127.0.0.1 localhost"`, ` localhost"`, "lacks 127.0.0.1"},
		{"key file renamed", `"$S/tls/$j-key.pem"`, `"$S/tls/$j.key"`, "Secret roamd-410000-tls has no key 410000-key.pem"},
		{"genesis Secret renamed", `put_secret roam-genesis`, `put_secret roamd-genesis`, "Secret roam-genesis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mut := bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1)
			if bytes.Equal(mut, b) {
				t.Fatalf("%q is not in %s", tc.old, k8sScriptPath)
			}
			errs := checkK8s(k8sObjects(t), parseK8sScript(t, mut), t.TempDir())
			// A name exactly: at the end of the message or before ": ".
			if !slices.ContainsFunc(errs, func(e error) bool {
				return strings.HasSuffix(e.Error(), tc.want) || strings.Contains(e.Error(), tc.want+": ")
			}) {
				t.Errorf("want an error naming %q, got %v", tc.want, errs)
			}
		})
	}
}

// Stand-ins for roamctl and kubectl, enough for roam-k8s.sh secrets and
// certs: roamctl writes fresh random content to every file it makes;
// kubectl keeps Secrets as directories under $STATE/secrets and logs what
// it applies to $STATE/applied.
const (
	fakeRoamctl = `#!/bin/sh
set -eu
rnd() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
out= outdir= jur= cmd=
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift ;;
	--out-dir) outdir=$2; shift ;;
	--jurisdiction) jur=$2; shift ;;
	--*) case $2 in --*|'') ;; *) shift ;; esac ;;
	*) cmd="$cmd $1" ;;
	esac
	shift
done
case $cmd in
" tls ca") mkdir -p "$outdir"; rnd >"$outdir/ca.pem"; rnd >"$outdir/ca-key.pem" ;;
" tls issue") mkdir -p "$outdir"; cp "$(dirname "$outdir")/../ca/ca.pem" "$outdir/ca.pem" 2>/dev/null || rnd >"$outdir/ca.pem"; rnd >"$outdir/$jur.pem"; rnd >"$outdir/$jur-key.pem" ;;
" key generate") rnd >"$out"; rnd ;;
" genesis") rnd >"$out" ;;
*) echo "fake roamctl: $cmd" >&2; exit 2 ;;
esac
`
	fakeKubectl = `#!/bin/sh
set -eu
[ "$1" = -n ] && shift 2
case "$1 $2" in
"get secret")
	name=$3
	case "$*" in
	*--ignore-not-found*) [ -d "$STATE/secrets/$name" ] && echo "secret/$name"; exit 0 ;;
	*jsonpath*) [ -d "$STATE/secrets/$name" ] || exit 1; base64 <"$STATE/secrets/$name/genesis.json" ;;
	esac ;;
"create secret")
	echo "name $4"
	for a; do case $a in --from-file=*) echo "file ${a#--from-file=}" ;; esac; done ;;
"apply -f")
	name=
	while read -r k v; do
		case $k in
		name) name=$v; rm -rf "$STATE/secrets/$name"; mkdir -p "$STATE/secrets/$name"; echo "$name" >>"$STATE/applied" ;;
		file) cp "$v" "$STATE/secrets/$name/$(basename "$v")" ;;
		esac
	done ;;
*) echo "fake kubectl: $*" >&2; exit 2 ;;
esac
`
)

// TestK8sScriptKeepsGenesis runs roam-k8s.sh secrets twice and certs once
// (against stand-ins for roamctl and kubectl): every node pins the genesis
// it first started with, so a re-run, the documented way to renew
// certificates, must keep the genesis, the CA and the admin keys, and
// replace only the node certificates.
func TestK8sScriptKeepsGenesis(t *testing.T) {
	for _, tool := range []string{"sh", "od", "tr", "base64", "cmp", "cp", "basename", "dirname"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	bin, state, admin := filepath.Join(dir, "bin"), filepath.Join(dir, "state"), filepath.Join(dir, "roam-admin")
	for _, d := range []string{bin, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"roamctl": fakeRoamctl, "kubectl": fakeKubectl} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs(k8sScriptPath)
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("sh", append([]string{script}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "STATE="+state, "ROAM_ADMIN_DIR="+admin, "ROAM_NAMESPACE=roam")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("roam-k8s.sh %v: %v\n%s", args, err, out)
		}
	}
	// snapshot reads every file under the admin dir and the Secrets.
	snapshot := func() map[string]string {
		m := map[string]string{}
		for _, root := range []string{admin, filepath.Join(state, "secrets")} {
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				m[rel] = string(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	applied := func() []string {
		b, _ := os.ReadFile(filepath.Join(state, "applied"))
		return strings.Fields(string(b))
	}
	run("secrets")
	first := snapshot()
	if first["state/secrets/roam-genesis/genesis.json"] == "" || first["state/secrets/roamd-410000-tls/410000-key.pem"] == "" {
		t.Fatalf("secrets made no Secret roam-genesis or roamd-410000-tls: %v", slices.Sorted(maps.Keys(first)))
	}
	if err := os.Remove(filepath.Join(state, "applied")); err != nil {
		t.Fatal(err)
	}
	for _, phase := range []string{"secrets", "certs"} {
		run(phase)
		if slices.Contains(applied(), "roam-genesis") {
			t.Errorf("roam-k8s.sh %s: applied Secret roam-genesis again", phase)
		}
		again := snapshot()
		for f, v := range first {
			renewed := strings.Contains(f, "/tls/") && !strings.HasSuffix(f, "ca.pem") || strings.Contains(f, "-tls/") && !strings.HasSuffix(f, "ca.pem")
			switch {
			case renewed && again[f] == v:
				t.Errorf("roam-k8s.sh %s: %s was not renewed", phase, f)
			case !renewed && again[f] != v:
				t.Errorf("roam-k8s.sh %s: %s changed (the genesis, CA and admin keys must be kept)", phase, f)
			}
		}
		first = again
	}
	// A Secret roam-genesis the local admin dir did not sign: refused.
	if err := os.WriteFile(filepath.Join(state, "secrets", "roam-genesis", "genesis.json"), []byte("another"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script, "secrets")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "STATE="+state, "ROAM_ADMIN_DIR="+admin)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "differs") {
		t.Errorf("secrets with a foreign Secret roam-genesis: want a refusal, got %v\n%s", err, out)
	}
}

// --- docker compose ----------------------------------------------------------------

const composeDir = "compose"

func TestCompose(t *testing.T) {
	compose := readYAML(t, filepath.Join(composeDir, "docker-compose.yml"))[0]
	prom := readYAML(t, filepath.Join(composeDir, "prometheus.yml"))[0]
	errs, roamds := checkCompose(compose, prom, composeDir, t.TempDir())
	for _, err := range errs {
		t.Error(err)
	}
	if len(roamds) < 3 {
		t.Errorf("%d roamd serve services, want three provinces", len(roamds))
	}
	otel := readYAML(t, filepath.Join(composeDir, "otel-collector.yaml"))[0]
	if ep := str(otel, "receivers", "otlp", "protocols", "grpc", "endpoint"); port(ep) != "4317" {
		t.Errorf("otel-collector.yaml: OTLP gRPC receiver on %q, want port 4317", ep)
	}
	if !slices.Contains(list(otel, "service", "pipelines", "traces", "receivers"), any("otlp")) {
		t.Error("otel-collector.yaml: the traces pipeline does not receive otlp")
	}
	if exp := list(otel, "service", "pipelines", "traces", "exporters"); len(exp) == 0 || mapOf(otel, "exporters", exp[0].(string)) == nil && get(otel, "exporters", exp[0].(string)) == nil {
		t.Errorf("otel-collector.yaml: traces exporters %v not defined", exp)
	}
}

// checkCompose checks a compose file against the repository and the roamd
// configs it mounts; it returns the roamd serve services it found.
func checkCompose(compose, prom obj, dir, tmp string) ([]error, []string) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	services := mapOf(compose, "services")
	if len(services) == 0 {
		bad("no services")
		return errs, nil
	}
	adminPorts := map[string]string{} // roamd service → admin port
	configs := map[string]*node.Config{}
	var roamds []string
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := mapOf(services, name)
		where := "service " + name
		if str(s, "image") == "" && get(s, "build") == nil {
			bad("%s: neither image nor build", where)
		}
		// depends_on: a list of names or a map of name → condition.
		var deps []string
		switch d := get(s, "depends_on").(type) {
		case []any:
			for _, x := range d {
				deps = append(deps, fmt.Sprint(x))
			}
		case map[string]any:
			for k, v := range d {
				deps = append(deps, k)
				cond := str(v, "condition")
				switch cond {
				case "service_started", "service_healthy", "service_completed_successfully":
				default:
					bad("%s: depends_on %s: condition %q", where, k, cond)
				}
				if cond == "service_healthy" && get(services, k, "healthcheck") == nil {
					bad("%s: depends_on %s being healthy, but %s has no healthcheck", where, k, k)
				}
			}
		}
		for _, d := range deps {
			if _, ok := services[d]; !ok {
				bad("%s: depends_on %q: no such service", where, d)
			}
		}
		// Volumes: bind mounts exist in the repository; named volumes are
		// declared.
		mounts := map[string]string{} // container path → source
		for _, v := range list(s, "volumes") {
			spec, ok := v.(string)
			if !ok {
				bad("%s: volume %v: use the short syntax", where, v)
				continue
			}
			parts := strings.Split(spec, ":")
			if len(parts) < 2 {
				bad("%s: volume %q has no container path", where, spec)
				continue
			}
			src, dst := parts[0], parts[1]
			mounts[dst] = src
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
					bad("%s: bind mount %s: %v", where, src, err)
				}
			} else if _, ok := mapOf(compose, "volumes")[src]; !ok {
				if _, declared := get(compose, "volumes").(map[string]any)[src]; !declared {
					bad("%s: named volume %q is not declared under volumes", where, src)
				}
			}
		}
		switch n := get(s, "networks").(type) {
		case []any:
			for _, x := range n {
				if _, ok := mapOf(compose, "networks")[fmt.Sprint(x)]; !ok {
					bad("%s: network %v is not declared", where, x)
				}
			}
		case map[string]any:
			for k := range n {
				if _, ok := mapOf(compose, "networks")[k]; !ok {
					bad("%s: network %s is not declared", where, k)
				}
			}
		}
		// Published ports: on the host's loopback only (no service here
		// authenticates HTTP callers).
		published := map[string][2]string{} // container port → host IP, host port
		for _, p := range list(s, "ports") {
			spec, ok := p.(string)
			if !ok {
				bad("%s: port %v: use the short syntax", where, p)
				continue
			}
			ip, hp, cp := parsePublish(spec)
			if ip != "127.0.0.1" {
				bad("%s: port %q is published on every interface; publish it on 127.0.0.1", where, spec)
			}
			published[cp] = [2]string{ip, hp}
		}
		cmd := list(s, "command")
		if len(cmd) > 0 && cmd[0] == "provsim" {
			listen := flagValue(cmd, "--listen")
			if hc := fmt.Sprint(list(s, "healthcheck", "test")); get(s, "healthcheck") == nil {
				bad("%s: provsim without a healthcheck", where)
			} else if !strings.Contains(hc, ":"+port(listen)+"/") {
				bad("%s: healthcheck %s does not probe provsim's --listen %s", where, hc, listen)
			}
		}
		// A fixed address is in its network's subnet (compose refuses it
		// otherwise).
		if nets, ok := get(s, "networks").(map[string]any); ok {
			for _, nn := range slices.Sorted(maps.Keys(nets)) {
				ip := net.ParseIP(str(nets[nn], "ipv4_address"))
				if ip == nil {
					if a := str(nets[nn], "ipv4_address"); a != "" {
						bad("%s: ipv4_address %q is no IP", where, a)
					}
					continue
				}
				var subnets []string
				in := false
				for _, c := range list(compose, "networks", nn, "ipam", "config") {
					subnets = append(subnets, str(c, "subnet"))
					if _, n, err := net.ParseCIDR(str(c, "subnet")); err == nil && n.Contains(ip) {
						in = true
					}
				}
				if !in {
					bad("%s: ipv4_address %s is in no subnet of network %s (%v)", where, ip, nn, subnets)
				}
			}
		}
		if len(cmd) == 0 || cmd[0] != "serve" {
			continue
		}
		// A roamd node: its mounted config loads, and the file names it
		// uses are mounted.
		roamds = append(roamds, name)
		cfgPath := ""
		for i, a := range cmd {
			if a == "--config" && i+1 < len(cmd) {
				cfgPath = fmt.Sprint(cmd[i+1])
			}
		}
		src, ok := mounts[cfgPath]
		if cfgPath == "" || !ok {
			bad("%s: --config %q is not a mounted file", where, cfgPath)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			bad("%s: %v", where, err)
			continue
		}
		cfg, err := loadServeConfig(tmp, name+".yaml", b)
		if err != nil {
			bad("%s: roamd serve would refuse %s: %v", where, src, err)
			continue
		}
		configs[name] = cfg
		adminPorts[name] = port(cfg.AdminListen)
		// The web console: published as 127.0.0.1:P:P, so the browser
		// reaches it as localhost (camera and WebCrypto need a secure
		// context) at the port the README names.
		if cfg.ConsoleListen == "" {
			bad("%s: %s: console_listen is not set: no web console", where, src)
		} else {
			cp := port(cfg.ConsoleListen)
			if h := hostOf(cfg.ConsoleListen); h != "0.0.0.0" {
				bad("%s: console_listen %s: the published port reaches it only on 0.0.0.0", where, cfg.ConsoleListen)
			}
			if pub, ok := published[cp]; !ok || pub != [2]string{"127.0.0.1", cp} {
				bad("%s: console port %s is not published as 127.0.0.1:%s:%s (ports %v)", where, cp, cp, cp, list(s, "ports"))
			}
		}
		files := []string{cfg.DataDir, cfg.Genesis, cfg.JoinToken}
		if cfg.TLS != nil {
			files = append(files, cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key)
		}
		for _, f := range files {
			inMount := false
			for dst := range mounts {
				inMount = inMount || (f != "" && under(f, dst))
			}
			if f != "" && !inMount {
				bad("%s: %s is in no mounted volume", where, f)
			}
		}
		hc := fmt.Sprint(list(s, "healthcheck", "test"))
		if !strings.Contains(hc, "/readyz") || !strings.Contains(hc, ":"+adminPorts[name]+"/") {
			bad("%s: healthcheck %s does not probe /readyz on the admin port %s", where, hc, adminPorts[name])
		}
		for _, h := range []struct{ field, addr string }{
			{"telemetry.otlp_endpoint", cfg.Telemetry.OTLPEndpoint},
			{"grpc_advertise", cfg.GRPCAdvertise},
		} {
			if _, ok := services[hostOf(h.addr)]; !ok {
				bad("%s: %s %s: no such service", where, h.field, h.addr)
			}
		}
		if hostOf(cfg.GRPCAdvertise) != name {
			bad("%s: grpc_advertise %s does not name this service", where, cfg.GRPCAdvertise)
		}
		// The backend is a service listening on the URL's port (roamd
		// provsim --listen).
		if u, err := url.Parse(cfg.Backend.URL); err != nil || services[u.Hostname()] == nil {
			bad("%s: backend.url %s: no such service", where, cfg.Backend.URL)
		} else if listen := flagValue(list(services[u.Hostname()], "command"), "--listen"); listen != "" && port(listen) != u.Port() {
			bad("%s: backend.url %s: service %s listens on %s", where, cfg.Backend.URL, u.Hostname(), listen)
		}
		for _, j := range cfg.Join {
			if _, ok := services[hostOf(j)]; !ok {
				bad("%s: join %s: no such service", where, j)
			}
		}
		// Raft is advertised at the service's fixed address (roamd keeps
		// the IP it resolved at start).
		var fixed []string
		for _, n := range mapOf(s, "networks") {
			if ip := str(n, "ipv4_address"); ip != "" {
				fixed = append(fixed, ip)
			}
		}
		if !slices.Contains(fixed, hostOf(cfg.RaftAdvertise)) {
			bad("%s: raft_advertise %s is not the service's fixed ipv4_address %v", where, cfg.RaftAdvertise, fixed)
		}
	}
	// Joins dial a node's gRPC listener: the address it advertises.
	grpcAdvertised := map[string]bool{}
	for _, cfg := range configs {
		grpcAdvertised[cfg.GRPCAdvertise] = true
	}
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		for _, j := range configs[name].Join {
			if !grpcAdvertised[j] {
				bad("service %s: join %s is no node's grpc_advertise %v (a join is a gRPC call)", name, j, keys(grpcAdvertised))
			}
		}
	}
	// Prometheus scrapes exactly the roamd services' admin listeners.
	want := map[string]bool{}
	for n, p := range adminPorts {
		want[n+":"+p] = true
	}
	got := map[string]bool{}
	for _, sc := range list(prom, "scrape_configs") {
		if p := str(sc, "metrics_path"); p != "" && p != "/metrics" {
			bad("prometheus.yml: job %s: metrics_path %s, roamd serves /metrics", str(sc, "job_name"), p)
		}
		for _, st := range list(sc, "static_configs") {
			for _, tg := range list(st, "targets") {
				got[fmt.Sprint(tg)] = true
			}
		}
	}
	for tg := range got {
		if !want[tg] {
			bad("prometheus.yml: target %s is no roamd service's admin listener (want %v)", tg, keys(want))
		}
	}
	for tg := range want {
		if !got[tg] {
			bad("prometheus.yml: roamd admin listener %s is not scraped", tg)
		}
	}
	// setup.sh's node list matches the configs it signs join tokens and
	// certificates for.
	env := mapOf(compose, "x-setup-env")
	specs := strings.Fields(str(env, "ROAM_NODES"))
	if len(specs) != len(configs) {
		bad("x-setup-env ROAM_NODES has %d nodes, compose runs %d", len(specs), len(configs))
	}
	for i, spec := range specs {
		f := strings.Split(spec, "|")
		if len(f) != 4 {
			bad("ROAM_NODES %q: want J|Name|grpc|raft", spec)
			continue
		}
		cfg := configs["roamd-"+f[0]]
		switch {
		case cfg == nil:
			bad("ROAM_NODES %s: no service roamd-%s", spec, f[0])
		case cfg.GRPCAdvertise != f[2] || cfg.RaftAdvertise != f[3]:
			bad("ROAM_NODES %s: the config advertises grpc %s raft %s", spec, cfg.GRPCAdvertise, cfg.RaftAdvertise)
		case i == 0 && !cfg.Bootstrap:
			bad("ROAM_NODES: the first node (%s) must be the bootstrapping one", f[0])
		case i > 0 && cfg.Bootstrap:
			bad("ROAM_NODES: %s bootstraps but is not first", f[0])
		}
		if cfg != nil && cfg.Name != f[1] {
			bad("ROAM_NODES %s: name %q, the config says %q", spec, f[1], cfg.Name)
		}
	}
	return errs, roamds
}

// flagValue is the argument after flag in args ("" if none).
func flagValue(args []any, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
}

// parsePublish splits a compose short-syntax port, [[IP:]HOST:]CONTAINER
// with an optional /protocol, into host IP, host port and container port.
func parsePublish(spec string) (ip, host, container string) {
	spec, _, _ = strings.Cut(spec, "/")
	i := strings.LastIndex(spec, ":")
	if i < 0 {
		return "", "", spec
	}
	container, spec = spec[i+1:], spec[:i]
	if i = strings.LastIndex(spec, ":"); i < 0 {
		return "", spec, container
	}
	return strings.Trim(spec[:i], "[]"), spec[i+1:], container
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestComposeCatchesBreakage(t *testing.T) {
	load := func() (obj, obj) {
		return readYAML(t, filepath.Join(composeDir, "docker-compose.yml"))[0], readYAML(t, filepath.Join(composeDir, "prometheus.yml"))[0]
	}
	svc := func(c obj, name string) obj { return mapOf(c, "services", name) }
	// A broken copy of a node config, bind-mounted by a path relative to
	// the compose directory.
	brokenConfig := func(src, old, new string) string {
		b, err := os.ReadFile(filepath.Join(composeDir, src))
		if err != nil {
			t.Fatal(err)
		}
		mut := bytes.Replace(b, []byte(old), []byte(new), 1)
		if bytes.Equal(mut, b) {
			t.Fatalf("%s has no %q", src, old)
		}
		f := filepath.Join(t.TempDir(), filepath.Base(src))
		if err := os.WriteFile(f, mut, 0o600); err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(composeDir)
		if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(abs, f)
		if err != nil {
			t.Fatal(err)
		}
		return rel
	}
	joinOnRaft := brokenConfig("config/roamd-410000.yaml", `join: ["roamd-330000:7410"]`, `join: ["roamd-330000:7420"]`)
	for _, tc := range []struct {
		name   string
		mutate func(c, p obj)
		want   string
	}{
		{"unknown dependency", func(c, _ obj) {
			svc(c, "roamd-410000")["depends_on"].(obj)["onbaord"] = obj{"condition": "service_completed_successfully"}
		}, `depends_on "onbaord": no such service`},
		{"missing config file", func(c, _ obj) {
			svc(c, "roamd-110000")["volumes"].([]any)[0] = "./config/roamd-999999.yaml:/etc/roamd/roamd.yaml:ro"
		}, "roamd-999999.yaml"},
		{"scrape target port", func(_, p obj) {
			get(p, "scrape_configs", "0", "static_configs", "0").(obj)["targets"] = []any{"roamd-330000:7410"}
		}, "roamd-330000:7410 is no roamd service's admin listener"},
		{"healthcheck on the wrong path", func(c, _ obj) {
			svc(c, "roamd-330000")["healthcheck"].(obj)["test"] = []any{"CMD", "/usr/local/bin/roam-healthcheck", "http://127.0.0.1:7440/healthz"}
		}, "does not probe /readyz"},
		{"undeclared volume", func(c, _ obj) { svc(c, "roamd-330000")["volumes"].([]any)[2] = "roam-33000:/var/lib/roam" }, `"roam-33000" is not declared`},
		{"raft IP changed", func(c, _ obj) {
			svc(c, "roamd-410000")["networks"].(obj)["roam"].(obj)["ipv4_address"] = "172.28.0.99"
		}, "raft_advertise 172.28.0.11:7421"},
		{"healthy dependency without healthcheck", func(c, _ obj) { delete(svc(c, "roamd-330000"), "healthcheck") }, "roamd-330000 has no healthcheck"},
		{"console not published", func(c, _ obj) {
			svc(c, "roamd-410000")["ports"] = []any{"127.0.0.1:7411:7411", "127.0.0.1:7441:7441"}
		}, "console port 7451 is not published as 127.0.0.1:7451:7451"},
		{"console on every interface", func(c, _ obj) {
			svc(c, "roamd-110000")["ports"] = []any{"127.0.0.1:7412:7412", "127.0.0.1:7442:7442", "7452:7452"}
		}, `port "7452:7452" is published on every interface`},
		// Found by review: each of these passed the validator.
		{"provsim on another port", func(c, _ obj) {
			// roamd-330000's backend.url :7430 reaches nothing.
			cmd := list(svc(c, "provsim-330000"), "command")
			cmd[slices.Index(cmd, any("0.0.0.0:7430"))] = "0.0.0.0:7439"
		}, "backend.url http://provsim-330000:7430: service provsim-330000 listens on 0.0.0.0:7439"},
		{"provsim healthcheck on another port", func(c, _ obj) {
			svc(c, "provsim-410000")["healthcheck"].(obj)["test"] = []any{"CMD", "/usr/local/bin/roam-healthcheck", "http://127.0.0.1:7430/healthz"}
		}, "does not probe provsim's --listen 0.0.0.0:7431"},
		{"subnet no longer holds the fixed IPs", func(c, _ obj) {
			// compose refuses an ipv4_address outside the network's subnet.
			get(c, "networks", "roam", "ipam", "config", "0").(obj)["subnet"] = "172.29.0.0/24"
		}, "ipv4_address 172.28.0.10 is in no subnet of network roam ([172.29.0.0/24])"},
		{"join on the Raft port", func(c, _ obj) {
			svc(c, "roamd-410000")["volumes"].([]any)[0] = joinOnRaft + ":/etc/roamd/roamd.yaml:ro"
		}, "join roamd-330000:7420 is no node's grpc_advertise"},
		{"console on another host port", func(c, _ obj) {
			svc(c, "roamd-330000")["ports"] = []any{"127.0.0.1:7410:7410", "127.0.0.1:7440:7440", "127.0.0.1:8450:7450"}
		}, "console port 7450 is not published as 127.0.0.1:7450:7450"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := load()
			tc.mutate(c, p)
			errs, _ := checkCompose(c, p, composeDir, t.TempDir())
			if !errorsContain(errs, tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, errs)
			}
		})
	}
}

// --- Grafana ----------------------------------------------------------------------

// family is one Prometheus metric family roamd exports: whether it is a
// histogram (_bucket, _sum, _count series, and le on _bucket) and the
// labels of its own series.
type family struct {
	histogram bool
	labels    []string
}

// verificationLabels label every decision (federation/node/metrics.go:
// one attribute set for the counter and the latency histogram).
var verificationLabels = []string{"host", "issuer", "format", "outcome"}

// instruments maps each OpenTelemetry instrument federation/node/metrics.go
// makes to the Prometheus family the exporter turns it into (units and
// _total in the name), with its labels.
var instruments = map[string]struct {
	name string
	family
}{
	"roam.verifications":       {"roam_verifications_total", family{false, verificationLabels}},
	"roam.verify.duration":     {"roam_verify_duration_seconds", family{true, verificationLabels}},
	"roam.raft.state":          {"roam_raft_state", family{}},
	"roam.raft.term":           {"roam_raft_term", family{}},
	"roam.raft.commit_index":   {"roam_raft_commit_index", family{}},
	"roam.raft.applied_index":  {"roam_raft_applied_index", family{}},
	"roam.raft.last_contact":   {"roam_raft_last_contact_seconds", family{}},
	"roam.registry.entries":    {"roam_registry_entries", family{false, []string{"kind"}}},
	"roam.verify_cache.hits":   {"roam_verify_cache_hits_total", family{}},
	"roam.verify_cache.misses": {"roam_verify_cache_misses_total", family{}},
}

// otelgrpcVersion is the otelgrpc release otelgrpcFamilies was read from
// (stats_handler.go: the stable rpc.{server,client}.call.duration of
// semconv v1.43 rpcconv; the client adds server.address and server.port
// from the dial target, error.type on a failed call).
const otelgrpcVersion = "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc v0.72.0"

// otelgrpcFamilies are otelgrpc's histograms (federation/telemetry passes
// the node's meter provider to its server and client stats handlers).
var otelgrpcFamilies = map[string]family{
	"rpc_server_call_duration_seconds": {true, []string{"rpc_method", "rpc_system_name", "rpc_response_status_code", "error_type"}},
	"rpc_client_call_duration_seconds": {true, []string{"rpc_method", "rpc_system_name", "rpc_response_status_code", "error_type", "server_address", "server_port"}},
}

// scrapeLabels are on every series: Prometheus's own, the scrape labels
// deploy/compose/prometheus.yml adds, and the OpenTelemetry exporter's
// scope labels.
var scrapeLabels = []string{"instance", "job", "jurisdiction", "province", "otel_scope_name", "otel_scope_version"}

// exportedFamilies lists every family roamd exports, checked against the
// instrument names and attributes in federation/node/metrics.go and the
// otelgrpc wiring in federation/telemetry, so a renamed instrument or
// label fails here.
func exportedFamilies(t *testing.T) map[string]family {
	t.Helper()
	src, err := os.ReadFile("../federation/node/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:Counter|Histogram|Gauge|gauge)\("(roam\.[a-z_.]+)"`)
	found := map[string]bool{}
	for _, m := range re.FindAllSubmatch(src, -1) {
		found[string(m[1])] = true
	}
	for name := range found {
		if _, ok := instruments[name]; !ok {
			t.Errorf("federation/node/metrics.go makes instrument %q: add it to instruments (and to the dashboard)", name)
		}
	}
	for name := range instruments {
		if !found[name] {
			t.Errorf("instrument %q is no longer in federation/node/metrics.go", name)
		}
	}
	// Labels: every attribute metrics.go sets is some family's label and
	// the other way round; where its comment lists a family's labels
	// (roam_x{a,b}), they are the table's.
	attrs := map[string]bool{}
	for _, m := range regexp.MustCompile(`attribute\.String\("([a-z_]+)"`).FindAllSubmatch(src, -1) {
		attrs[string(m[1])] = true
	}
	byName := map[string]family{}
	tabled := map[string]bool{}
	for _, in := range instruments {
		byName[in.name] = in.family
		for _, l := range in.labels {
			tabled[l] = true
		}
	}
	if a, b := keys(attrs), keys(tabled); !slices.Equal(a, b) {
		t.Errorf("federation/node/metrics.go sets attributes %v, the instruments table has labels %v", a, b)
	}
	for _, m := range regexp.MustCompile(`(roam_[a-z_]+)\{([a-z_,]+)\}`).FindAllSubmatch(src, -1) {
		f, ok := byName[string(m[1])]
		if !ok {
			t.Errorf("federation/node/metrics.go documents %s: no such family in instruments", m[1])
			continue
		}
		doc := strings.Split(string(m[2]), ",")
		sort.Strings(doc)
		if have := slices.Sorted(slices.Values(f.labels)); !slices.Equal(doc, have) {
			t.Errorf("federation/node/metrics.go documents %s{%s}; the instruments table says %v", m[1], m[2], have)
		}
	}
	tel, err := os.ReadFile("../federation/telemetry/telemetry.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"otelgrpc.NewServerHandler(", "otelgrpc.NewClientHandler("} {
		if !bytes.Contains(tel, []byte(h)) || !bytes.Contains(tel, []byte("otelgrpc.WithMeterProvider(")) {
			t.Errorf("federation/telemetry no longer wires %s with the node's meter provider: recheck rpc_* families", h)
		}
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mod, []byte(otelgrpcVersion)) {
		t.Errorf("go.mod no longer requires %s: recheck otelgrpcFamilies (names and labels) against its stats_handler.go", otelgrpcVersion)
	}
	maps.Copy(byName, otelgrpcFamilies)
	return byName
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/roam-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkDashboard(b, exportedFamilies(t)) {
		t.Error(err)
	}
}

var (
	metricRE   = regexp.MustCompile(`\b(?:roam|rpc)_[a-z_]+\b`)
	byRE       = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	stringRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	selectorRE = regexp.MustCompile(`\b((?:roam|rpc)_[a-z_]+)?\s*\{([^}]*)\}`)
	matchRE    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
)

// familyOf is the family a series name belongs to ("" if none).
func familyOf(series string, families map[string]family) string {
	if _, ok := families[series]; ok {
		return series
	}
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := families[strings.TrimSuffix(series, s)]; ok && f.histogram && strings.HasSuffix(series, s) {
			return strings.TrimSuffix(series, s)
		}
	}
	return ""
}

// labelUse is a label an expression uses, and the series it must be on.
type labelUse struct {
	label  string
	series []string
}

// balanced returns the end (exclusive) of the parenthesised group that
// opens at s[i], or -1.
func balanced(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}

// labelUses finds the labels a PromQL expression uses and the series each
// applies to: a matcher to the series of its selector, a by/without
// clause to every series in the aggregation's argument (sum by (l) (…) or
// sum (…) by (l)). Strings are blanked first, so their contents never
// count.
func labelUses(expr string) []labelUse {
	blank := stringRE.ReplaceAllStringFunc(expr, func(s string) string { return `"` + strings.Repeat("_", len(s)-2) + `"` })
	var uses []labelUse
	for _, m := range selectorRE.FindAllStringSubmatchIndex(blank, -1) {
		series := ""
		if m[2] >= 0 {
			series = blank[m[2]:m[3]]
		}
		for _, lm := range matchRE.FindAllStringSubmatch(blank[m[4]:m[5]], -1) {
			uses = append(uses, labelUse{lm[1], []string{series}})
		}
	}
	bare := selectorRE.ReplaceAllString(blank, "$1")
	for _, m := range byRE.FindAllStringSubmatchIndex(bare, -1) {
		var arg string
		after := strings.TrimLeft(bare[m[1]:], " \t\n")
		if strings.HasPrefix(after, "(") {
			start := len(bare) - len(after)
			if end := balanced(bare, start); end > 0 {
				arg = bare[start:end]
			}
		} else if before := strings.TrimRight(bare[:m[0]], " \t\n"); strings.HasSuffix(before, ")") {
			// sum (…) by (l): the group that ends before "by".
			depth := 0
			for j := len(before) - 1; j >= 0; j-- {
				if before[j] == ')' {
					depth++
				} else if before[j] == '(' {
					depth--
					if depth == 0 {
						arg = before[j:]
						break
					}
				}
			}
		}
		series := metricRE.FindAllString(byRE.ReplaceAllString(arg, ""), -1)
		for _, l := range strings.Split(bare[m[2]:m[3]], ",") {
			if l = strings.TrimSpace(l); l != "" {
				uses = append(uses, labelUse{l, series})
			}
		}
	}
	return uses
}

// checkDashboard checks that a Grafana dashboard queries only series roamd
// exports, with labels those very series carry, and shows every family.
func checkDashboard(b []byte, families map[string]family) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var dash obj
	if err := json.Unmarshal(b, &dash); err != nil {
		return []error{err}
	}
	if str(dash, "uid") == "" || str(dash, "title") == "" {
		bad("dashboard needs uid and title")
	}
	// hasLabel reports whether series carries label.
	hasLabel := func(series, label string) bool {
		if slices.Contains(scrapeLabels, label) {
			return true
		}
		f, ok := families[familyOf(series, families)]
		if !ok {
			return true // reported as an unknown series
		}
		return slices.Contains(f.labels, label) || label == "le" && f.histogram && strings.HasSuffix(series, "_bucket")
	}
	ids := map[string]bool{}
	used := map[string]bool{}
	var walk func(panels []any)
	n := 0
	walk = func(panels []any) {
		for _, p := range panels {
			n++
			id, title := str(p, "id"), str(p, "title")
			if ids[id] {
				bad("panel id %s is used twice", id)
			}
			ids[id] = true
			walk(list(p, "panels"))
			if str(p, "type") == "row" {
				continue
			}
			targets := list(p, "targets")
			if len(targets) == 0 {
				bad("panel %q has no query", title)
			}
			for _, tg := range targets {
				expr := str(tg, "expr")
				if expr == "" {
					bad("panel %q: a target has no expr", title)
				}
				// Series names, once label matchers, grouping labels and
				// strings are out of the way.
				bare := selectorRE.ReplaceAllString(byRE.ReplaceAllString(stringRE.ReplaceAllString(expr, `""`), ""), "$1")
				names := metricRE.FindAllString(bare, -1)
				if len(names) == 0 {
					bad("panel %q: %q queries no roam or rpc series", title, expr)
				}
				for _, m := range names {
					f := familyOf(m, families)
					if f == "" {
						bad("panel %q: %s is not a series roamd exports", title, m)
						continue
					}
					used[f] = true
				}
				for _, u := range labelUses(expr) {
					if len(u.series) == 0 || u.series[0] == "" {
						if !slices.ContainsFunc(slices.Collect(maps.Values(families)), func(f family) bool { return slices.Contains(f.labels, u.label) }) && !slices.Contains(scrapeLabels, u.label) && u.label != "le" {
							bad("panel %q: label %q is on no roamd series", title, u.label)
						}
						continue
					}
					for _, s := range u.series {
						if !hasLabel(s, u.label) {
							bad("panel %q: label %q is not on %s (%q)", title, u.label, s, expr)
						}
					}
				}
			}
		}
	}
	walk(list(dash, "panels"))
	if n == 0 {
		bad("no panels")
	}
	for _, f := range slices.Sorted(maps.Keys(families)) {
		if !used[f] {
			bad("no panel shows %s", f)
		}
	}
	return errs
}

func TestGrafanaCatchesBreakage(t *testing.T) {
	b, err := os.ReadFile("grafana/roam-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	families := exportedFamilies(t)
	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown metric", "roam_raft_term{", "roam_raft_terms{", "roam_raft_terms is not a series"},
		{"unknown label", "sum by (outcome)", "sum by (result)", `label "result" is not on roam_verifications_total`},
		{"family not shown", "roam_verify_cache_misses_total", "roam_verify_cache_hits_total", "no panel shows roam_verify_cache_misses_total"},
		// Found by review: roam_verifications_total has no kind label
		// (roam_registry_entries does): one unlabelled line.
		{"label of another family", "sum by (outcome) (rate(roam_verifications_total", "sum by (kind) (rate(roam_verifications_total",
			`label "kind" is not on roam_verifications_total`},
		{"matcher with a label of another family", `roam_raft_state{instance=~\"$instance\"}`, `roam_raft_state{instance=~\"$instance\", kind=\"keys\"}`,
			`label "kind" is not on roam_raft_state`},
		{"client label on server calls", "sum by (rpc_method, rpc_response_status_code) (rate(rpc_server_call_duration_seconds_count",
			"sum by (server_address, rpc_response_status_code) (rate(rpc_server_call_duration_seconds_count", `label "server_address" is not on rpc_server_call_duration_seconds_count`},
		{"le off the buckets", "sum(rate(roam_verify_duration_seconds_sum{", "sum by (le) (rate(roam_verify_duration_seconds_sum{", `label "le" is not on roam_verify_duration_seconds_sum`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mut := bytes.ReplaceAll(b, []byte(tc.old), []byte(tc.new))
			if bytes.Equal(mut, b) {
				t.Fatalf("%q is not in the dashboard", tc.old)
			}
			if errs := checkDashboard(mut, families); !errorsContain(errs, tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, errs)
			}
		})
	}
}

// TestLabelUses pins which series each label of a query applies to.
func TestLabelUses(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []labelUse
	}{
		{`sum by (a) (rate(roam_x{b="c"}[5m]))`, []labelUse{{"b", []string{"roam_x"}}, {"a", []string{"roam_x"}}}},
		{`sum(rate(roam_x[5m])) by (a) / sum by (b) (roam_y)`, []labelUse{{"a", []string{"roam_x"}}, {"b", []string{"roam_y"}}}},
		{`histogram_quantile(0.9, sum by (le, h) (rate(rpc_z_bucket{i=~"x|{y}"}[1m])))`, []labelUse{{"i", []string{"rpc_z_bucket"}}, {"le", []string{"rpc_z_bucket"}}, {"h", []string{"rpc_z_bucket"}}}},
		{`sum by (a) (roam_x) + sum by (a) (roam_y)`, []labelUse{{"a", []string{"roam_x"}}, {"a", []string{"roam_y"}}}},
	} {
		if got := labelUses(tc.expr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.expr, got, tc.want)
		}
	}
}
