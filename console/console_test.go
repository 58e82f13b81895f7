package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/roam-federation/roam/adapters/qrimage"
	"github.com/roam-federation/roam/federation/registry"
	roamv1 "github.com/roam-federation/roam/proto/roam/v1"
)

// fakeBackend stands in for a node in these handler tests; the real node
// is driven through a browser in cmd/roamd's TestDemoServing/browser.
type fakeBackend struct {
	verified []string
	proposed []*roamv1.SignedCommand
}

func (f *fakeBackend) Info() Info {
	return Info{NodeID: "410000", Jurisdiction: "410000", Name: "Henan", Checkpoints: []string{"intercity", "metro"}}
}

func (f *fakeBackend) Verify(_ context.Context, payload []byte, checkpoint string) (*roamv1.Decision, error) {
	if checkpoint != "intercity" && checkpoint != "metro" {
		return nil, status.Errorf(codes.InvalidArgument, "checkpoint: %q is not one of [intercity metro]", checkpoint)
	}
	f.verified = append(f.verified, string(payload))
	return &roamv1.Decision{Outcome: roamv1.Outcome_OUTCOME_REJECT, Host: "410000",
		Reasons:     []*roamv1.Reason{{Code: "signature_invalid", Message: "ES256 signature does not verify"}},
		EvaluatedAt: timestamppb.New(time.Date(2020, 3, 1, 1, 0, 0, 0, time.UTC)), RegistryIndex: 7}, nil
}

func (f *fakeBackend) Registry() *roamv1.RegistrySnapshot {
	return &roamv1.RegistrySnapshot{Index: 9,
		Jurisdictions: []*roamv1.Jurisdiction{{Id: "410000", Name: "Henan"}, {Id: "330000", Name: "Zhejiang"}},
		Keys:          []*roamv1.IssuerKey{{Kid: "k1", Jurisdiction: "330000", Alg: "ES256", State: roamv1.KeyState_KEY_STATE_ACTIVE, Jwk: []byte(`{"d":"never shown"}`)}},
		Agreements:    []*roamv1.Agreement{{Id: "410000-330000", Host: "410000", Issuer: "330000", Version: 1, State: roamv1.AgreementState_AGREEMENT_STATE_ACTIVE, EffectiveFrom: 1582819200}},
	}
}

func (f *fakeBackend) Audit(int) ([]*roamv1.AuditRecord, int) {
	return []*roamv1.AuditRecord{{Index: 1, Accepted: true}, {Index: 2, Reason: "expired"}}, 5
}

func (f *fakeBackend) Cluster(context.Context) (*Cluster, error) {
	return &Cluster{NodeID: "410000", State: "Follower", Members: []Member{{ID: "330000", Leader: true}}}, nil
}

func (f *fakeBackend) Propose(_ context.Context, sc *roamv1.SignedCommand) (*roamv1.ProposeResponse, error) {
	if strings.Count(sc.GetSignatures()[0], ".") != 2 {
		return nil, status.Error(codes.InvalidArgument, "signed: not a compact JWS")
	}
	f.proposed = append(f.proposed, sc)
	return &roamv1.ProposeResponse{Index: 10, CommandId: "c1"}, nil
}

func (f *fakeBackend) Now() time.Time { return time.Date(2020, 3, 1, 9, 0, 0, 0, time.UTC) }

func do(t *testing.T, h http.Handler, method, path, ctype string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, rec.Body)
		}
	}
	return rec.Code, out
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func multipartBody(t *testing.T, fields map[string]string, image []byte) (string, *bytes.Buffer) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if image != nil {
		fw, _ := w.CreateFormFile("image", "qr.png")
		_, _ = fw.Write(image)
	}
	_ = w.Close()
	return w.FormDataContentType(), &b
}

// TestVerifyBadInput: every malformed request gets a 4xx with a specific
// code and never reaches the pipeline.
func TestVerifyBadInput(t *testing.T) {
	qr, err := qrimage.PNG("roam:abc.def.ghi", 256)
	if err != nil {
		t.Fatal(err)
	}
	bigJSON := `{"code":"` + strings.Repeat("A", maxCodeBytes+2048) + `","checkpoint":"metro"}`
	for _, tc := range []struct {
		name, ctype, body string
		multipart         func() (string, *bytes.Buffer)
		status            int
		code              string
		verified          bool
	}{
		{name: "no content type", body: `{}`, status: 415, code: "malformed"},
		{name: "text/plain", ctype: "text/plain", body: "roam:x", status: 415, code: "malformed"},
		{name: "not JSON", ctype: "application/json", body: "{", status: 400, code: "malformed"},
		{name: "unknown field", ctype: "application/json", body: `{"code":"x","checkpoint":"metro","host":"110000"}`, status: 400, code: "malformed"},
		{name: "two objects", ctype: "application/json", body: `{"code":"x","checkpoint":"metro"}{}`, status: 400, code: "malformed"},
		{name: "empty code", ctype: "application/json", body: `{"code":"  ","checkpoint":"metro"}`, status: 400, code: "malformed"},
		{name: "no checkpoint", ctype: "application/json", body: `{"code":"roam:x"}`, status: 400, code: "checkpoint_unknown"},
		{name: "bad checkpoint", ctype: "application/json", body: `{"code":"roam:x","checkpoint":"moon"}`, status: 400, code: "checkpoint_unknown"},
		{name: "too large", ctype: "application/json", body: bigJSON, status: 413, code: "input_too_large"},
		{name: "pasted code", ctype: "application/json", body: `{"code":" roam:x ","checkpoint":"metro"}`, status: 200, verified: true},
		{name: "multipart without image", multipart: func() (string, *bytes.Buffer) {
			return multipartBody(t, map[string]string{"checkpoint": "metro"}, nil)
		}, status: 400, code: "malformed"},
		{name: "multipart not an image", multipart: func() (string, *bytes.Buffer) {
			return multipartBody(t, map[string]string{"checkpoint": "metro"}, []byte("GIF89a not really"))
		}, status: 422, code: "malformed"},
		{name: "multipart QR photo", multipart: func() (string, *bytes.Buffer) {
			return multipartBody(t, map[string]string{"checkpoint": "intercity"}, qr)
		}, status: 200, verified: true},
		{name: "multipart photo over the cap", multipart: func() (string, *bytes.Buffer) {
			return multipartBody(t, map[string]string{"checkpoint": "metro"}, bytes.Repeat([]byte{0x89}, maxUploadBytes+1))
		}, status: 413, code: "input_too_large"},
		{name: "multipart broken", ctype: "multipart/form-data; boundary=zz", body: "--zz\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n", status: 422, code: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBackend{}
			h := New(f, Options{})
			ctype, body := tc.ctype, io.Reader(strings.NewReader(tc.body))
			if tc.multipart != nil {
				var b *bytes.Buffer
				ctype, b = tc.multipart()
				body = b
			}
			got, out := do(t, h, "POST", "/api/verify", ctype, body)
			if got != tc.status || (tc.code != "" && errCode(out) != tc.code) {
				t.Fatalf("status %d code %q, want %d %q: %v", got, errCode(out), tc.status, tc.code, out)
			}
			if (len(f.verified) > 0) != tc.verified {
				t.Fatalf("reached the pipeline: %v, want %v", f.verified, tc.verified)
			}
		})
	}
}

// TestVerifyView: the decision's reasons carry both languages, and a QR
// photo is verified as the exact text it encodes.
func TestVerifyView(t *testing.T) {
	f := &fakeBackend{}
	code, out := do(t, New(f, Options{}), "POST", "/api/verify", "application/json", strings.NewReader(`{"code":"roam:a.b.c","checkpoint":"metro"}`))
	if code != 200 {
		t.Fatal(code, out)
	}
	r := out["reasons"].([]any)[0].(map[string]any)
	if out["outcome"] != "REJECT" || out["outcome_zh"] != "拒绝" || r["zh"] != "签名无效（疑似伪造）" || r["en"] != "Signature invalid (possible forgery)" || r["message"] != "ES256 signature does not verify" {
		t.Fatalf("view = %v", out)
	}
	if f.verified[0] != "roam:a.b.c" {
		t.Fatalf("verified %q", f.verified)
	}
}

func TestRegistryView(t *testing.T) {
	code, out := do(t, New(&fakeBackend{}, Options{}), "GET", "/api/registry", "", nil)
	if code != 200 {
		t.Fatal(code)
	}
	b, _ := json.Marshal(out)
	if bytes.Contains(b, []byte("never shown")) {
		t.Fatal("the registry view carries JWK bytes")
	}
	if out["now"].(float64) != float64(time.Date(2020, 3, 1, 9, 0, 0, 0, time.UTC).Unix()) {
		t.Fatalf("now = %v", out["now"])
	}
	audit := out["audit"].([]any)
	if len(audit) != 2 || audit[0].(map[string]any)["index"].(float64) != 2 {
		t.Fatalf("audit newest first: %v", audit)
	}
	js := out["jurisdictions"].([]any)
	if js[0].(map[string]any)["id"] != "330000" || len(js[0].(map[string]any)["keys"].([]any)) != 1 {
		t.Fatalf("jurisdictions sorted with keys: %v", js)
	}
}

// TestPrepareSubmit: prepare returns exactly the CommandPayload to sign
// and holds no key; submit forwards only signatures.
func TestPrepareSubmit(t *testing.T) {
	f := &fakeBackend{}
	h := New(f, Options{})
	code, out := do(t, h, "POST", "/api/admin/prepare", "application/json",
		strings.NewReader(`{"type":"SuspendAgreement","body":{"id":"410000-330000","by":"410000","reason":"outbreak","at":"1583020800"}}`))
	if code != 200 {
		t.Fatal(code, out)
	}
	raw, err := base64.RawURLEncoding.DecodeString(out["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var cp roamv1.CommandPayload
	if err := proto.Unmarshal(raw, &cp); err != nil {
		t.Fatal(err)
	}
	_, msg, err := registry.DecodePayload(cp.GetCommand())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := msg.(*roamv1.SuspendAgreement)
	if !ok || s.GetId() != "410000-330000" || s.GetAt() != 1583020800 || cp.GetId() != out["command_id"] || out["typ"] != registry.TypCommand {
		t.Fatalf("prepared %v %v, response %v", &cp, msg, out)
	}
	if d := time.Until(time.Unix(cp.GetExpiresAt(), 0)); d <= 0 || d > registry.MaxCommandTTL {
		t.Fatalf("expires in %s", d)
	}
	code, out = do(t, h, "POST", "/api/admin/submit", "application/json", strings.NewReader(`{"signatures":["a.b.c"]}`))
	if code != 200 || out["index"] != "10" || len(f.proposed) != 1 {
		t.Fatal(code, out)
	}
}

func TestAdminBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"unknown type", "/api/admin/prepare", `{"type":"DropTables"}`, 400, "bad_command"},
		{"not a command", "/api/admin/prepare", `{"type":"Decision"}`, 400, "bad_command"},
		{"qualified name", "/api/admin/prepare", `{"type":"v1.SuspendAgreement"}`, 400, "bad_command"},
		{"genesis", "/api/admin/prepare", `{"type":"Genesis","body":{}}`, 400, "bad_command"},
		{"bad body", "/api/admin/prepare", `{"type":"SuspendAgreement","body":{"idd":"x"}}`, 400, "bad_command"},
		{"body wrong type", "/api/admin/prepare", `{"type":"SuspendAgreement","body":[1]}`, 400, "bad_command"},
		{"huge", "/api/admin/prepare", `{"type":"SuspendAgreement","body":{"reason":"` + strings.Repeat("x", maxJSONBytes) + `"}}`, 413, "input_too_large"},
		{"no signatures", "/api/admin/submit", `{"signatures":[]}`, 400, "bad_command"},
		{"too many signatures", "/api/admin/submit", `{"signatures":[` + strings.TrimSuffix(strings.Repeat(`"a.b.c",`, 17), ",") + `]}`, 400, "bad_command"},
		{"not JWS", "/api/admin/submit", `{"signatures":["nope"]}`, 400, "invalid_argument"},
		{"private key sent", "/api/admin/submit", `{"signatures":["a.b.c"],"jwk":{"d":"x"}}`, 400, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeBackend{}
			code, out := do(t, New(f, Options{}), "POST", tc.path, "application/json", strings.NewReader(tc.body))
			if code != tc.status || errCode(out) != tc.code {
				t.Fatalf("status %d code %q, want %d %q: %v", code, errCode(out), tc.status, tc.code, out)
			}
			if len(f.proposed) != 0 {
				t.Fatal("proposed a bad command")
			}
		})
	}
}

func TestPagesAndRoutes(t *testing.T) {
	h := New(&fakeBackend{}, Options{})
	for _, tc := range []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/checkpoint", 200, "卡口查验"},
		{"GET", "/admin", 200, "互认矩阵"},
		{"GET", "/static/jws.js", 200, "crypto.subtle.sign"},
		{"GET", "/", 302, ""},
		{"GET", "/api/nope", 404, "not_found"},
		{"DELETE", "/api/verify", 405, "method_not_allowed"},
		{"POST", "/api/registry", 405, "takes GET"},
		{"GET", "/static/../console.go", 404, ""},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status && !(tc.status == 404 && rec.Code >= 300 && rec.Code < 500) || !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("%s %s = %d %.80q", tc.method, tc.path, rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/checkpoint", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
}

// FuzzAPI sends arbitrary bodies to every POST endpoint: the answer is a
// JSON body with a 2xx or 4xx status, never a panic or a 5xx.
func FuzzAPI(f *testing.F) {
	f.Add(uint8(0), "application/json", []byte(`{"code":"roam:a.b.c","checkpoint":"metro"}`))
	f.Add(uint8(1), "application/json", []byte(`{"type":"SuspendAgreement","body":{"id":"x"}}`))
	f.Add(uint8(2), "application/json", []byte(`{"signatures":["a.b.c"]}`))
	f.Add(uint8(0), "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n\x89PNG\r\n--x--\r\n"))
	f.Add(uint8(1), "application/json", []byte(`{"type":"AddKey","body":{"jwk":"AAAA"}}`))
	paths := []string{"/api/verify", "/api/admin/prepare", "/api/admin/submit"}
	h := New(&fakeBackend{}, Options{})
	f.Fuzz(func(t *testing.T, which uint8, ctype string, body []byte) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: body is not JSON: %q", path, rec.Body)
		}
	})
}

// TestWebHardening: found by review — DNS rebinding to a loopback console,
// pages served under /static/ without the security headers, directory
// listings, and cross-site form posts to the admin API.
func TestWebHardening(t *testing.T) {
	local := New(&fakeBackend{}, Options{LocalOnly: true})
	open := New(&fakeBackend{}, Options{})
	for _, tc := range []struct {
		name         string
		h            http.Handler
		method, path string
		host, ctype  string
		body         string
		status       int
	}{
		{"rebinding name refused", local, "GET", "/api/registry", "attacker.example:7450", "", "", http.StatusMisdirectedRequest},
		{"localhost served", local, "GET", "/api/registry", "localhost:7450", "", "", 200},
		{"127.0.0.1 served", local, "GET", "/api/registry", "127.0.0.1:7450", "", "", 200},
		{"[::1] served", local, "GET", "/api/info", "[::1]:7450", "", "", 200},
		{"any host when not local-only", open, "GET", "/api/info", "console.henan.example", "", "", 200},
		{"no directory listing", open, "GET", "/static/", "", "", "", 404},
		{"cross-site form to prepare", open, "POST", "/api/admin/prepare", "", "text/plain", `{"type":"SuspendAgreement"}`, 415},
		{"cross-site form to submit", open, "POST", "/api/admin/submit", "", "application/x-www-form-urlencoded", `signatures=a.b.c`, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.status)
			}
		})
	}
	rec := httptest.NewRecorder()
	open.ServeHTTP(rec, httptest.NewRequest("GET", "/static/admin.html", nil))
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("/static/admin.html: %d, CSP %q", rec.Code, rec.Header().Get("Content-Security-Policy"))
	}
}

// TestDecodeQueue: one photo decodes per slot; a full queue or a long wait
// is answered busy, never queued without bound.
func TestDecodeQueue(t *testing.T) {
	h := &handler{decodeSem: make(chan struct{}, 1)}
	ctx := context.Background()
	if !h.acquireDecode(ctx) {
		t.Fatal("free slot refused")
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if h.acquireDecode(short) {
		t.Fatal("second decode admitted while the slot is held")
	}
	h.decodeWaiting.Store(maxDecodeWaiting)
	start := time.Now()
	if h.acquireDecode(ctx) || time.Since(start) > time.Second {
		t.Fatal("a full queue must refuse at once")
	}
	h.decodeWaiting.Store(0)
	<-h.decodeSem
	if !h.acquireDecode(ctx) {
		t.Fatal("released slot refused")
	}
}
