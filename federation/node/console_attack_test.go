package node

// Attacks on the web console against a real node (found by a fresh
// reviewer; each failed before its fix).

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/roam-federation/roam/federation/admin"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// startConsoleNode is startSoloNode with the console on, once its genesis
// is applied, and the keyring returned (default rate limits: 100 calls/s,
// burst 200 per client).
func startConsoleNode(t *testing.T) (*Node, *admin.Keyring) {
	t.Helper()
	n, kr := startSoloNodeKeyring(t, func(c *Config) { c.ConsoleListen = "127.0.0.1:0" })
	for deadline := time.Now().Add(10 * time.Second); !n.fsm.Initialized(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("genesis not applied in 10 s")
		}
	}
	return n, kr
}

// onboardShanghai signs an UpsertJurisdiction of 310000 as a national
// admin, submits it once through n's console and returns its signatures.
func onboardShanghai(t *testing.T, n *Node, kr *admin.Keyring, cl *http.Client) []string {
	t.Helper()
	sc, err := kr.Sign(&roamv1.UpsertJurisdiction{Jurisdiction: &roamv1.Jurisdiction{Id: "310000", Name: "Shanghai"}}, kr.Nat())
	if err != nil {
		t.Fatal(err)
	}
	if code, body := postJSON(t, cl, "http://"+n.ConsoleAddr()+"/api/admin/submit", map[string]any{"signatures": sc.GetSignatures()}); code != http.StatusOK {
		t.Fatalf("submit: %d %s", code, body)
	}
	return sc.GetSignatures()
}

func postJSON(t *testing.T, cl *http.Client, url string, v any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := cl.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestConsoleRateLimited: the gRPC API limits an anonymous client to 100
// calls/s with bursts of 200 (rate_limit); the console, which calls the
// same service methods, once had no limit at all. 400 back-to-back calls: gRPC
// refuses some with ResourceExhausted, the console none with 429.
func TestConsoleRateLimited(t *testing.T) {
	n, _ := startConsoleNode(t)
	const calls = 400
	conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc := roamv1.NewRecognitionServiceClient(conn)
	grpcLimited := 0
	for range calls {
		_, err := rc.Verify(context.Background(), &roamv1.VerifyRequest{Payload: []byte("roam:x.y.z"), Checkpoint: "intercity"})
		if status.Code(err) == codes.ResourceExhausted {
			grpcLimited++
		}
	}
	cl := &http.Client{Timeout: 10 * time.Second}
	defer cl.CloseIdleConnections()
	consoleLimited := 0
	for range calls {
		code, _ := postJSON(t, cl, "http://"+n.ConsoleAddr()+"/api/verify", map[string]string{"code": "roam:x.y.z", "checkpoint": "intercity"})
		if code == http.StatusTooManyRequests {
			consoleLimited++
		}
	}
	t.Logf("%d back-to-back Verify calls: gRPC refused %d, console refused %d", calls, grpcLimited, consoleLimited)
	if grpcLimited == 0 {
		t.Fatal("control: gRPC rate limit did not trigger")
	}
	if consoleLimited == 0 {
		t.Errorf("the console applies no rate limit: %d anonymous verifies in a burst, none refused (gRPC refused %d)", calls, grpcLimited)
	}
}

// TestReplayedCommandsStayOutOfTheLog: a signed command that was applied
// once can be re-submitted by anyone (signed commands are public:
// ListAudit returns every entry's bytes) through /api/admin/submit, with
// no rate limit. Each replay once passed the pre-log signature check and
// was committed to the Raft log as a rejected audit record, replicated to
// every node and kept forever (against the demo: 2000 anonymous replays
// in 3.7 s added 2000 log entries); now replays are refused before the
// log.
func TestReplayedCommandsStayOutOfTheLog(t *testing.T) {
	n, kr := startConsoleNode(t)
	cl := &http.Client{Timeout: 15 * time.Second}
	defer cl.CloseIdleConnections()
	sigs := onboardShanghai(t, n, kr, cl)
	url := "http://" + n.ConsoleAddr() + "/api/admin/submit"
	before := n.fsm.AppliedIndex()
	const replays = 100
	for range replays {
		if code, body := postJSON(t, cl, url, map[string]any{"signatures": sigs}); code != http.StatusConflict {
			t.Fatalf("replay: %d %s", code, body)
		}
	}
	grew := n.fsm.AppliedIndex() - before
	t.Logf("%d anonymous replays of one signed command: the log grew by %d entries (%d audit records now)", replays, grew, len(n.fsm.Audit(0, 0)))
	if grew != 0 {
		t.Errorf("each replay of an already-applied command became a permanent, replicated log entry (%d of %d): refuse replays (and expired commands) before the log, and rate-limit the console", grew, replays)
	}
}

// TestConsoleAuditLog: /api/registry reports the node's audit log (it once
// read the audit from fsm.State(), which never carries it, and showed 0).
func TestConsoleAuditLog(t *testing.T) {
	n, kr := startConsoleNode(t)
	cl := &http.Client{Timeout: 15 * time.Second}
	defer cl.CloseIdleConnections()
	onboardShanghai(t, n, kr, cl)
	resp, err := cl.Get("http://" + n.ConsoleAddr() + "/api/registry")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		AuditTotal int `json:"audit_total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if want := len(n.fsm.Audit(0, 0)); v.AuditTotal != want {
		t.Errorf("/api/registry audit_total = %d; the node's audit log (ListAudit) has %d records", v.AuditTotal, want)
	}
}
