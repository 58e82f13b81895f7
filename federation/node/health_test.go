package node

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// TestHealth: a ready node reports SERVING on the gRPC health service for
// the server and each roam service, answers /healthz and /readyz with 200,
// and registers server reflection (issue 7 §1).
func TestHealth(t *testing.T) {
	n := startSoloNode(t, func(c *Config) { c.AdminListen = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", roamv1.RecognitionService_ServiceDesc.ServiceName, roamv1.RegistryService_ServiceDesc.ServiceName} {
		var st healthpb.HealthCheckResponse_ServingStatus
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("health %q: %v", svc, err)
			}
			if st = r.GetStatus(); st == healthpb.HealthCheckResponse_SERVING {
				break
			}
		}
		if st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v, want SERVING", svc, st)
		}
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	defer cl.CloseIdleConnections()
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		resp, err := cl.Get("http://" + n.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
	// Metrics: a decision (a REJECT will do) and a gRPC call later, every
	// family is on /metrics.
	// Forged codes claiming an issuer nobody registered, or a registered
	// one (this node's own): labelled "unverified", never with what they
	// claim (found by review: claims made N² series).
	for _, iss := range []string{"990000", "330000"} {
		forged := "roam:eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+iss+`"}`)) + ".AAAA"
		if _, err := roamv1.NewRecognitionServiceClient(conn).Verify(ctx, &roamv1.VerifyRequest{Payload: []byte(forged), Checkpoint: "metro"}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cl.Get("http://" + n.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, family := range []string{
		`roam_verifications_total{`, `outcome="REJECT"`, `issuer="unverified"`, `roam_verify_duration_seconds_bucket{`,
		`roam_raft_state{`, `roam_raft_term{`, `roam_raft_commit_index{`, `roam_raft_applied_index{`, `roam_raft_last_contact_seconds{`,
		`roam_registry_entries{`, `kind="jurisdictions"`, `roam_verify_cache_hits_total{`, `roam_verify_cache_misses_total{`,
		`rpc_server_call_duration_seconds_bucket{`, "go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(string(body), family) {
			t.Errorf("/metrics lacks %s", family)
		}
	}
	if strings.Contains(string(body), `issuer="990000"`) || strings.Contains(string(body), `issuer="330000"`) {
		t.Error("/metrics labels a series with a forged code's claimed issuer")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	if _, ok := n.grpc.GetServiceInfo()["grpc.reflection.v1.ServerReflection"]; !ok {
		t.Error("server reflection is not registered")
	}
}

// TestReadinessReasons: a node that has not registered, or whose
// registration failed, is not ready, and says why.
func TestReadinessReasons(t *testing.T) {
	pending := &Node{ready: make(chan struct{}), cfg: &Config{MaxStaleness: time.Hour}}
	if ok, why := pending.readiness(); ok || !strings.Contains(why, "registering") {
		t.Errorf("registering node: ready=%v %q", ok, why)
	}
	failed := &Node{ready: make(chan struct{}), cfg: &Config{MaxStaleness: time.Hour}, readyErr: errors.New("no leader")}
	close(failed.ready)
	if ok, why := failed.readiness(); ok || !strings.Contains(why, "no leader") {
		t.Errorf("failed node: ready=%v %q", ok, why)
	}
}
