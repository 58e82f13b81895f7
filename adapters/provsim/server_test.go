package provsim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/clock"
)

const testID = "330102199001011234"

type env struct {
	srv    *Server
	ts     *httptest.Server
	client *Client
	clk    *clock.Sim
	path   string
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	clk := clock.NewSim(time.Date(2020, 2, 26, 9, 0, 0, 0, clock.CST))
	path := filepath.Join(t.TempDir(), "prov.db")
	jur := "330000"
	if dialect == DialectBeijing {
		jur = "110000"
	}
	srv, err := New(Config{Jurisdiction: jur, Dialect: dialect, DBPath: path, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	c, err := NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, ts: ts, client: c, clk: clk, path: path}
	t.Cleanup(func() {
		c.CloseIdleConnections()
		e.ts.Close()
		e.srv.Close()
	})
	return e
}

func (e *env) getJSON(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, err := e.ts.Client().Get(e.ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: body not JSON: %v", path, err)
	}
	return resp.StatusCode, m
}

func apiCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

func TestClientRoundTrip(t *testing.T) {
	e := newEnv(t, DialectZhejiang)
	ctx := context.Background()
	r, err := e.client.Enrol(ctx, Enrolment{IDNumber: testID, Name: "张小三", Address: "杭州", TravelHistory: []string{"420100"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Color != adapters.Yellow || r.Ver != 1 {
		t.Fatalf("enrol: %+v", r)
	}
	if _, err := e.client.Enrol(ctx, Enrolment{IDNumber: testID, Name: "x"}); apiCode(err) != "resident_exists" {
		t.Fatalf("re-enrol: %v", err)
	}
	for i := 0; i < 7; i++ {
		if i > 0 {
			e.clk.Advance(24 * time.Hour)
		}
		if r, err = e.client.Report(ctx, testID, e.clk.Now().In(clock.CST).Format(DateLayout), true); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	if r.Color != adapters.Green || r.Ver != 2 || r.Streak != 7 {
		t.Fatalf("after 7 reports: %+v", r)
	}
	if _, err := e.client.Report(ctx, testID, r.LastReport, true); apiCode(err) != "duplicate_report" {
		t.Fatalf("duplicate report: %v", err)
	}
	if _, err := e.client.Report(ctx, testID, "2020-02-27", true); apiCode(err) != "duplicate_report" {
		t.Fatalf("duplicate older report: %v", err)
	}
	if r, err = e.client.SetStatus(ctx, testID, adapters.Red, "close contact"); err != nil || r.Color != adapters.Red || r.Ver != 3 || r.Streak != 0 {
		t.Fatalf("set status: %+v %v", r, err)
	}
	if r, err = e.client.Get(ctx, testID); err != nil || r.Color != adapters.Red || r.StatusReason != "close contact" {
		t.Fatalf("get: %+v %v", r, err)
	}
	if _, err := e.client.Get(ctx, "110102199001011234"); apiCode(err) != "unknown_resident" {
		t.Fatalf("get unknown: %v", err)
	}
	if _, err := e.client.Report(ctx, "110102199001011234", "2020-03-01", true); apiCode(err) != "unknown_resident" {
		t.Fatalf("report unknown: %v", err)
	}
}

func TestIssueValidityAndOverdue(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		ttl       time.Duration
		report    string // optional report date before issuing
		issueAt   time.Time
		wantUntil time.Time // zero: refused with report_overdue
	}{
		{"ttl bound", time.Hour, "", time.Date(2020, 2, 26, 9, 0, 0, 0, clock.CST), time.Date(2020, 2, 26, 10, 0, 0, 0, clock.CST)},
		{"enrolment bound", 0, "", time.Date(2020, 2, 28, 9, 0, 0, 0, clock.CST), time.Date(2020, 3, 4, 0, 0, 0, 0, clock.CST)},
		{"report bound", 0, "2020-02-28", time.Date(2020, 3, 1, 9, 0, 0, 0, clock.CST), time.Date(2020, 3, 6, 0, 0, 0, 0, clock.CST)},
		{"overdue after enrolment", 0, "", time.Date(2020, 3, 4, 0, 0, 0, 0, clock.CST), time.Time{}},
		{"overdue after report", 0, "2020-02-27", time.Date(2020, 3, 5, 12, 0, 0, 0, clock.CST), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, DialectZhejiang)
			e.srv.cfg.CodeTTL = DefaultCodeTTL
			if tt.ttl != 0 {
				e.srv.cfg.CodeTTL = tt.ttl
			}
			if _, err := e.client.Enrol(ctx, Enrolment{IDNumber: testID, Name: "张小三"}); err != nil {
				t.Fatal(err)
			}
			if tt.report != "" {
				d, _ := parseDate(tt.report)
				e.clk.Set(d.Add(20 * time.Hour))
				if _, err := e.client.Report(ctx, testID, tt.report, true); err != nil {
					t.Fatal(err)
				}
			}
			e.clk.Set(tt.issueAt)
			st, body := e.getJSON(t, "/zjhc/v1/codes?idNo="+testID)
			if tt.wantUntil.IsZero() {
				if st != 409 || body["error"] != "report_overdue" {
					t.Fatalf("got %d %v, want 409 report_overdue", st, body)
				}
				return
			}
			if st != 200 {
				t.Fatalf("issue: %d %v", st, body)
			}
			if body["validUntil"] != tt.wantUntil.Format(time.RFC3339) || body["issueTime"] != tt.issueAt.Format(time.RFC3339) {
				t.Fatalf("got issued %v until %v, want %s until %s", body["issueTime"], body["validUntil"], tt.issueAt.Format(time.RFC3339), tt.wantUntil.Format(time.RFC3339))
			}
		})
	}
}

func TestCodeDialects(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range []string{DialectZhejiang, DialectBeijing} {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			if _, err := e.client.Enrol(ctx, Enrolment{IDNumber: testID, Name: "张小三"}); err != nil {
				t.Fatal(err)
			}
			issue, lookup, other := "/zjhc/v1/codes?idNo=", "/zjhc/v1/codes/", "/bjjkb/api/v1/jkb?sfzh="
			idKey, colKey, verKey := "codeId", "healthColor", "colorVersion"
			green, red := "green", "red"
			if dialect == DialectBeijing {
				issue, lookup, other = "/bjjkb/api/v1/jkb?sfzh=", "/bjjkb/api/v1/jkb/", "/zjhc/v1/codes?idNo="
				idKey, colKey, verKey = "jkbbh", "zt", "ztbb"
				green, red = StatusNormal, StatusCentralized
			}
			st, body := e.getJSON(t, issue+testID)
			if st != 200 || body[colKey] != green || body[verKey] != 1.0 {
				t.Fatalf("issue: %d %v", st, body)
			}
			codeID, _ := body[idKey].(string)
			if len(codeID) < 22 {
				t.Fatalf("code id %q too short for 128 bits", codeID)
			}
			st2, body2 := e.getJSON(t, issue+testID)
			if st2 != 200 || body2[idKey] == codeID {
				t.Fatalf("second issue must give a fresh id: %v", body2)
			}
			if dialect == DialectBeijing && body["scsj"] != "2020-02-26 09:00:00" {
				t.Fatalf("scsj %v, want 2020-02-26 09:00:00 (UTC+8)", body["scsj"])
			}
			if _, err := e.client.SetStatus(ctx, testID, adapters.Red, "close contact"); err != nil {
				t.Fatal(err)
			}
			st, body = e.getJSON(t, lookup+codeID)
			if st != 200 || body[colKey] != red || body[verKey] != 2.0 || body[idKey] != codeID {
				t.Fatalf("lookup after change: %d %v", st, body)
			}
			for path, code := range map[string]string{
				lookup + "nope":                "unknown_code",
				issue + "110102199001011234":   "unknown_resident",
				issue + "123":                  "invalid_id_number",
				other + testID:                 "not_found",
				strings.TrimSuffix(issue, "="): "invalid_id_number",
			} {
				st, body := e.getJSON(t, path)
				if st/100 != 4 || body["error"] != code {
					t.Errorf("GET %s: %d %v, want 4xx %s", path, st, body, code)
				}
			}
		})
	}
}

func TestAdminBadInput(t *testing.T) {
	e := newEnv(t, DialectZhejiang)
	if _, err := e.client.Enrol(context.Background(), Enrolment{IDNumber: testID, Name: "张小三"}); err != nil {
		t.Fatal(err)
	}
	big := `{"id_number":"` + testID + `","name":"` + strings.Repeat("a", MaxRequestBody) + `"}`
	rep := "/admin/v1/residents/" + testID + "/reports"
	status := "/admin/v1/residents/" + testID + "/status"
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
		allow                    string // want this Allow header if set
	}{
		{"not json", "POST", "/admin/v1/residents", "hello", 400, "bad_json", ""},
		{"unknown field", "POST", "/admin/v1/residents", `{"id_number":"` + testID + `","name":"a","colour":"green"}`, 400, "bad_json", ""},
		{"trailing data", "POST", "/admin/v1/residents", `{"id_number":"110102199001011234","name":"a"}{}`, 400, "bad_json", ""},
		{"wrong type", "POST", "/admin/v1/residents", `{"id_number":18,"name":"a"}`, 400, "bad_json", ""},
		{"oversized", "POST", "/admin/v1/residents", big, 413, "body_too_large", ""},
		{"empty body", "POST", "/admin/v1/residents", "", 400, "bad_json", ""},
		{"truncated body", "POST", "/admin/v1/residents", `{"id_number":"110102199001011234"`, 400, "bad_json", ""},
		{"null body", "POST", "/admin/v1/residents", "null", 400, "bad_json", ""},
		{"array body", "POST", "/admin/v1/residents", `[{"id_number":"110102199001011234","name":"a"}]`, 400, "bad_json", ""},
		{"too deep", "POST", "/admin/v1/residents", `{"id_number":"110102199001011234","name":"a","travel_history":[[[[[[[[[]]]]]]]]]}`, 400, "bad_json", ""},
		// Required fields: absent or null is missing_field, never a zero value.
		{"report without normal", "POST", rep, `{"date":"2020-03-08"}`, 400, "missing_field", ""},
		{"report with null normal", "POST", rep, `{"date":"2020-02-26","normal":null}`, 400, "missing_field", ""},
		{"report without date", "POST", rep, `{"normal":true}`, 400, "missing_field", ""},
		{"report empty object", "POST", rep, `{}`, 400, "missing_field", ""},
		{"enrol without name", "POST", "/admin/v1/residents", `{"id_number":"110102199001011234"}`, 400, "missing_field", ""},
		{"enrol with null name", "POST", "/admin/v1/residents", `{"id_number":"110102199001011234","name":null}`, 400, "missing_field", ""},
		{"enrol without id_number", "POST", "/admin/v1/residents", `{"name":"a","symptoms":true}`, 400, "missing_field", ""},
		{"status without color", "PUT", status, `{"reason":"close contact"}`, 400, "missing_field", ""},
		{"no reason", "PUT", status, `{"color":"red"}`, 400, "missing_field", ""},
		{"blank reason", "PUT", status, `{"color":"red","reason":"  "}`, 400, "invalid_reason", ""},
		// Keys are case-sensitive: encoding/json would take "Normal" for "normal".
		{"case-variant key", "POST", rep, `{"date":"2020-02-26","Normal":true}`, 400, "bad_json", ""},
		{"case-variant second key", "POST", rep, `{"date":"2020-02-26","normal":true,"NORMAL":false}`, 400, "bad_json", ""},
		// Duplicate keys: encoding/json would keep the last.
		{"duplicate name", "POST", "/admin/v1/residents", `{"id_number":"110102199001011234","name":"a","name":"b"}`, 400, "duplicate_key", ""},
		{"duplicate normal", "POST", rep, `{"date":"2020-02-26","normal":true,"normal":false}`, 400, "duplicate_key", ""},
		{"duplicate via escape", "POST", rep, `{"date":"2020-02-26","normal":true,"norm\u0061l":false}`, 400, "duplicate_key", ""},
		{"duplicate color", "PUT", status, `{"color":"green","reason":"x","color":"red"}`, 400, "duplicate_key", ""},
		{"nested duplicate", "POST", "/admin/v1/residents", `{"id_number":"110102199001011234","name":"a","travel_history":[{"a":1,"a":2}]}`, 400, "duplicate_key", ""},
		// GB 11643 birth dates (characters 7-14) must be real, 1900-01-01..today.
		{"impossible birth date", "POST", "/admin/v1/residents", `{"id_number":"330102999999991239","name":"a"}`, 400, "invalid_id_number", ""},
		{"february 30 birth date", "POST", "/admin/v1/residents", `{"id_number":"330102199002301234","name":"a"}`, 400, "invalid_id_number", ""},
		{"born before 1900", "POST", "/admin/v1/residents", `{"id_number":"330102189912311234","name":"a"}`, 400, "invalid_id_number", ""},
		{"born after today", "POST", "/admin/v1/residents", `{"id_number":"330102202002271234","name":"a"}`, 400, "invalid_id_number", ""},
		{"impossible birth date in path", "GET", "/admin/v1/residents/330102999999991239", "", 400, "invalid_id_number", ""},
		{"impossible birth date in query", "GET", "/zjhc/v1/codes?idNo=330102999999991239", "", 400, "invalid_id_number", ""},
		{"bad date", "POST", rep, `{"date":"2020-2-27","normal":true}`, 400, "invalid_date", ""},
		{"impossible date", "POST", rep, `{"date":"2020-02-30","normal":true}`, 400, "invalid_date", ""},
		{"future report", "POST", rep, `{"date":"2020-03-27","normal":true}`, 409, "report_in_future", ""},
		{"bad path id", "GET", "/admin/v1/residents/abc", "", 400, "invalid_id_number", ""},
		{"bad colour", "PUT", status, `{"color":"purple","reason":"x"}`, 400, "invalid_color", ""},
		{"status unknown resident", "PUT", "/admin/v1/residents/110102199001011234/status", `{"color":"red","reason":"x"}`, 404, "unknown_resident", ""},
		// A known path with the wrong method is 405 with Allow, not 404.
		{"wrong method", "DELETE", "/admin/v1/residents/" + testID, "", 405, "method_not_allowed", "GET, HEAD"},
		{"get enrol path", "GET", "/admin/v1/residents", "", 405, "method_not_allowed", "POST"},
		{"post status", "POST", status, `{"color":"red","reason":"x"}`, 405, "method_not_allowed", "PUT"},
		{"put reports", "PUT", rep, `{"date":"2020-02-26","normal":true}`, 405, "method_not_allowed", "POST"},
		{"delete code", "DELETE", "/zjhc/v1/codes/abc", "", 405, "method_not_allowed", "GET, HEAD"},
		{"other dialect path", "DELETE", "/bjjkb/api/v1/jkb/abc", "", 404, "not_found", ""},
		{"unknown path", "GET", "/nope", "", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.ts.URL+tt.path, strings.NewReader(tt.body))
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var eb struct{ Error, Message string }
			if err := json.Unmarshal(raw, &eb); err != nil {
				t.Fatalf("error body is not JSON: %q", raw)
			}
			if resp.StatusCode != tt.status || eb.Error != tt.code || eb.Message == "" {
				t.Fatalf("got %d %s (%s), want %d %s", resp.StatusCode, eb.Error, eb.Message, tt.status, tt.code)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Fatalf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
	// None of the refused requests changed the resident.
	r, err := e.client.Get(context.Background(), testID)
	if err != nil || r.Color != adapters.Green || r.Ver != 1 || r.LastReport != "" || r.StatusReason != "" {
		t.Fatalf("refused requests changed the resident: %+v %v", r, err)
	}
}

func TestRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, DialectZhejiang)
	if _, err := e.client.Enrol(ctx, Enrolment{IDNumber: testID, Name: "张小三", Symptoms: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Report(ctx, testID, "2020-02-26", true); err != nil {
		t.Fatal(err)
	}
	_, body := e.getJSON(t, "/zjhc/v1/codes?idNo="+testID)
	codeID := body["codeId"].(string)

	// Restart: close the server and the bbolt file, reopen the same file.
	e.ts.Close()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Jurisdiction: "330000", Dialect: DialectZhejiang, DBPath: e.path, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.ts = srv, httptest.NewServer(srv.Handler())
	c, _ := NewClient(e.ts.URL, nil)
	defer c.CloseIdleConnections()

	r, err := c.Get(ctx, testID)
	if err != nil || r.Color != adapters.Red || r.Streak != 1 || r.LastReport != "2020-02-26" {
		t.Fatalf("after restart: %+v %v", r, err)
	}
	if _, err := c.Report(ctx, testID, "2020-02-26", true); apiCode(err) != "duplicate_report" {
		t.Fatalf("report survives restart: %v", err)
	}
	st, body := e.getJSON(t, "/zjhc/v1/codes/"+codeID)
	if st != 200 || body["healthColor"] != "red" {
		t.Fatalf("code survives restart: %d %v", st, body)
	}

}

func TestReopenAsOtherJurisdiction(t *testing.T) {
	clk := clock.NewSim(time.Date(2020, 2, 26, 9, 0, 0, 0, clock.CST))
	path := filepath.Join(t.TempDir(), "prov.db")
	s, err := New(Config{Jurisdiction: "330000", Dialect: DialectZhejiang, DBPath: path, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := New(Config{Jurisdiction: "410000", Dialect: DialectZhejiang, DBPath: path, Clock: clk}); err == nil || !strings.Contains(err.Error(), "jurisdiction") {
		t.Fatalf("got %v, want a jurisdiction mismatch", err)
	}
}
