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
	"os"
	"path/filepath"
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
	for _, err := range checkK8s(objs, t.TempDir()) {
		t.Error(err)
	}
}

// checkK8s checks the objects of deploy/k8s against each other.
func checkK8s(objs []obj, tmp string) []error {
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
	// selects reports whether a label selector (matchLabels or a Service's
	// selector) selects pods with these labels.
	selects := func(sel, labels map[string]any) bool {
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
	for name, s := range byKind["StatefulSet"] {
		where := "StatefulSet " + name
		podLabels := mapOf(s, "spec", "template", "metadata", "labels")
		if !selects(mapOf(s, "spec", "selector", "matchLabels"), podLabels) {
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
			if !selects(mapOf(svc, "spec", "selector"), podLabels) {
				bad("%s: Service %s does not select its pods", where, svcName)
			}
		}
		// Exactly one PDB: the eviction API refuses pods with several.
		var pdbs []string
		for pn, p := range byKind["PodDisruptionBudget"] {
			if selects(mapOf(p, "spec", "selector", "matchLabels"), podLabels) {
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
		if get(pod, "securityContext", "runAsNonRoot") != true {
			bad("%s: pod securityContext.runAsNonRoot is not true", where)
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
			if get(c, "securityContext", "allowPrivilegeEscalation") != false {
				bad("%s: securityContext.allowPrivilegeEscalation is not false", cw)
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
		errs = append(errs, checkRoamdContainer(where, roamd, volumes, byKind, podLabels, tmp)...)
	}
	for name, p := range byKind["PodDisruptionBudget"] {
		any := false
		for _, s := range byKind["StatefulSet"] {
			any = any || selects(mapOf(p, "spec", "selector", "matchLabels"), mapOf(s, "spec", "template", "metadata", "labels"))
		}
		if !any {
			bad("PodDisruptionBudget %s selects no StatefulSet's pods", name)
		}
	}
	for name, svc := range byKind["Service"] {
		sel := mapOf(svc, "spec", "selector")
		any := false
		for sn, s := range byKind["StatefulSet"] {
			if !selects(sel, mapOf(s, "spec", "template", "metadata", "labels")) {
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
	return errs
}

// checkRoamdContainer checks the roamd container against its serve config
// (from its ConfigMap), its probes, ports, mounts and Services.
func checkRoamdContainer(where string, c obj, volumes map[string]obj, byKind map[string]map[string]obj, podLabels map[string]any, tmp string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(where+": "+format, args...)) }
	args := list(c, "args")
	cfgPath := ""
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			cfgPath, _ = args[i+1].(string)
		}
	}
	if cfgPath == "" {
		bad("roamd serve has no --config")
		return errs
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
		return errs
	}
	body := str(cm, "data", filepath.Base(cfgPath))
	if body == "" {
		bad("ConfigMap %s has no key %s", cmName, filepath.Base(cfgPath))
		return errs
	}
	cfg, err := loadServeConfig(tmp, cmName+".yaml", []byte(body))
	if err != nil {
		bad("ConfigMap %s: roamd serve would refuse its config: %v", cmName, err)
		return errs
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
	if cfg.ConsoleListen != "" {
		var clients []string
		exposed := false
		for name, svc := range byKind["Service"] {
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
			sort.Strings(clients)
			bad("console_listen %s: no client Service (ClusterIP, ready pods only) has a port for it (client Services: %v)", cfg.ConsoleListen, clients)
		}
	}
	for _, p := range []struct{ probe, path string }{{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
		got := str(c, p.probe, "httpGet", "path")
		pp := str(c, p.probe, "httpGet", "port")
		if got != p.path {
			bad("%s.httpGet.path is %q, want %s", p.probe, got, p.path)
		}
		if pp != "admin" && pp != port(cfg.AdminListen) {
			bad("%s.httpGet.port %q is not the admin listener (%s)", p.probe, pp, cfg.AdminListen)
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
	for _, f := range secretFiles {
		if f == "" {
			continue
		}
		mp, v := mountOf(f)
		if v == nil {
			bad("%s is not in a mounted volume", f)
			continue
		}
		var items []any
		if n := str(v, "secret", "secretName"); n != "" {
			items = list(v, "secret", "items")
		}
		for _, src := range list(v, "projected", "sources") {
			if str(src, "secret", "name") == "" {
				bad("volume %s: projected source %v is not a Secret", mounts[mp], src)
			}
			items = append(items, list(src, "secret", "items")...)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(f, mp), "/")
		found := false
		for _, it := range items {
			found = found || str(it, "path") == rel
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
	return errs
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
		{"no PDB", drop("PodDisruptionBudget", "roamd-410000"), "0 PodDisruptionBudgets"},
		{"no ConfigMap", drop("ConfigMap", "roamd-410000-config"), "not in a mounted ConfigMap that exists"},
		{"raft Service gone", drop("Service", "roamd-410000-raft"), "raft_advertise"},
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
			errs := checkK8s(tc.mutate(k8sObjects(t)), t.TempDir())
			if !errorsContain(errs, tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, errs)
			}
		})
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
		if len(cmd) > 0 && cmd[0] == "provsim" && get(s, "healthcheck") == nil {
			bad("%s: provsim without a healthcheck", where)
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
		if backend := strings.TrimPrefix(strings.TrimPrefix(cfg.Backend.URL, "http://"), "https://"); services[hostOf(backend)] == nil {
			bad("%s: backend.url %s: no such service", where, cfg.Backend.URL)
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

// instruments maps each OpenTelemetry instrument federation/node/metrics.go
// makes to the Prometheus family the exporter turns it into (units and
// _total in the name), and whether it is a histogram.
var instruments = map[string]struct {
	family    string
	histogram bool
}{
	"roam.verifications":       {"roam_verifications_total", false},
	"roam.verify.duration":     {"roam_verify_duration_seconds", true},
	"roam.raft.state":          {"roam_raft_state", false},
	"roam.raft.term":           {"roam_raft_term", false},
	"roam.raft.commit_index":   {"roam_raft_commit_index", false},
	"roam.raft.applied_index":  {"roam_raft_applied_index", false},
	"roam.raft.last_contact":   {"roam_raft_last_contact_seconds", false},
	"roam.registry.entries":    {"roam_registry_entries", false},
	"roam.verify_cache.hits":   {"roam_verify_cache_hits_total", false},
	"roam.verify_cache.misses": {"roam_verify_cache_misses_total", false},
}

// otelgrpcFamilies are otelgrpc's histograms (federation/telemetry passes
// the node's meter provider to its server and client stats handlers).
var otelgrpcFamilies = []string{"rpc_server_call_duration_seconds", "rpc_client_call_duration_seconds"}

// labelNames are the labels the families carry (plus Prometheus's own and
// the scrape labels deploy/ adds).
var labelNames = []string{
	"host", "issuer", "format", "outcome", "kind", // roam_*
	"rpc_method", "rpc_response_status_code", "rpc_system_name", "server_address", "server_port", // otelgrpc
	"le", "instance", "job", "jurisdiction", "province",
}

// exportedSeries lists every series name roamd exports, checked against
// the instrument names in federation/node/metrics.go and the otelgrpc
// wiring in federation/telemetry, so a renamed instrument fails here.
func exportedSeries(t *testing.T) (series map[string]bool, families []string) {
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
	tel, err := os.ReadFile("../federation/telemetry/telemetry.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"otelgrpc.NewServerHandler(", "otelgrpc.NewClientHandler("} {
		if !bytes.Contains(tel, []byte(h)) || !bytes.Contains(tel, []byte("otelgrpc.WithMeterProvider(")) {
			t.Errorf("federation/telemetry no longer wires %s with the node's meter provider: recheck rpc_* families", h)
		}
	}
	series = map[string]bool{}
	add := func(family string, histogram bool) {
		families = append(families, family)
		if histogram {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				series[family+s] = true
			}
			return
		}
		series[family] = true
	}
	for _, in := range instruments {
		add(in.family, in.histogram)
	}
	for _, f := range otelgrpcFamilies {
		add(f, true)
	}
	sort.Strings(families)
	return series, families
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/roam-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	series, families := exportedSeries(t)
	for _, err := range checkDashboard(b, series, families) {
		t.Error(err)
	}
}

var (
	metricRE   = regexp.MustCompile(`\b(?:roam|rpc)_[a-z_]+\b`)
	byRE       = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	selectorRE = regexp.MustCompile(`\{[^}]*\}|"[^"]*"`)
	matchRE    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
)

// checkDashboard checks that a Grafana dashboard queries only series roamd
// exports, with labels they carry, and shows every family.
func checkDashboard(b []byte, series map[string]bool, families []string) []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var dash obj
	if err := json.Unmarshal(b, &dash); err != nil {
		return []error{err}
	}
	if str(dash, "uid") == "" || str(dash, "title") == "" {
		bad("dashboard needs uid and title")
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
				bare := selectorRE.ReplaceAllString(byRE.ReplaceAllString(expr, ""), "")
				names := metricRE.FindAllString(bare, -1)
				if len(names) == 0 {
					bad("panel %q: %q queries no roam or rpc series", title, expr)
				}
				for _, m := range names {
					if !series[m] {
						bad("panel %q: %s is not a series roamd exports", title, m)
					}
					used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] = true
				}
				var labels []string
				for _, m := range byRE.FindAllStringSubmatch(expr, -1) {
					for _, l := range strings.Split(m[1], ",") {
						labels = append(labels, strings.TrimSpace(l))
					}
				}
				for _, m := range matchRE.FindAllStringSubmatch(expr, -1) {
					labels = append(labels, m[1])
				}
				for _, l := range labels {
					if l != "" && !slices.Contains(labelNames, l) {
						bad("panel %q: label %q is on no roamd series", title, l)
					}
				}
			}
		}
	}
	walk(list(dash, "panels"))
	if n == 0 {
		bad("no panels")
	}
	for _, f := range families {
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
	series, families := exportedSeries(t)
	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown metric", "roam_raft_term{", "roam_raft_terms{", "roam_raft_terms is not a series"},
		{"unknown label", "sum by (outcome)", "sum by (result)", `label "result"`},
		{"family not shown", "roam_verify_cache_misses_total", "roam_verify_cache_hits_total", "no panel shows roam_verify_cache_misses_total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mut := bytes.ReplaceAll(b, []byte(tc.old), []byte(tc.new))
			if bytes.Equal(mut, b) {
				t.Fatalf("%q is not in the dashboard", tc.old)
			}
			if errs := checkDashboard(mut, series, families); !errorsContain(errs, tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, errs)
			}
		})
	}
}
