package backendhttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/backendhttp"
	"github.com/roam-federation/roam/adapters/backendhttp/backendhttptest"
	"github.com/roam-federation/roam/federation/reason"
)

// toy is a minimal dialect, built the way adapters/zhejiang and
// adapters/beijing are, so that the shared machinery is tested on its own.
var toy = backendhttp.Dialect{
	Name:          "toy",
	PayloadPrefix: "TOY:",
	IssuePath:     "/toy/codes?id=",
	LookupPath:    "/toy/codes/",
	ValidCodeID:   func(s string) bool { return backendhttp.ValidCodeID(s, "") },
	CodeIDRule:    "16 to 64 characters of A-Z a-z 0-9",
	DecodeBody:    decodeToy,

	ErrUnknownCode:     fmt.Errorf("toy: unknown code: %w", adapters.ErrNotFound),
	ErrUnknownResident: fmt.Errorf("toy: unknown resident: %w", adapters.ErrNotFound),
	ErrReportOverdue:   fmt.Errorf("toy: daily report overdue: %w", adapters.ErrRefused),
	ErrRefused:         fmt.Errorf("toy: backend refused the request: %w", adapters.ErrRefused),
	ErrUnavailable:     fmt.Errorf("toy: backend unavailable: %w", adapters.ErrUnavailable),
}

type toyBody struct {
	ID       string `json:"id"`
	Version  int64  `json:"version"`
	Name     string `json:"name"`
	Resident string `json:"resident"`
	Until    int64  `json:"until"`
}

func decodeToy(body []byte) (*adapters.NativeStatus, error) {
	var b toyBody
	if err := backendhttp.DecodeStrict(body, []string{"id", "version", "name", "resident", "until"}, &b, "toy code body"); err != nil {
		return nil, err
	}
	if b.Version < 1 {
		return nil, reason.New(reason.Malformed, "toy code body: version %d is not positive", b.Version)
	}
	return &adapters.NativeStatus{NativeID: b.ID, ResidentKey: b.Resident, Name: b.Name, Color: adapters.Green,
		Version: b.Version, IssuedAt: backendhttptest.Start, ValidUntil: time.Unix(b.Until, 0)}, nil
}

type toyAdapter struct{ c backendhttp.Conn }

func (a *toyAdapter) Format() string             { return toy.Name }
func (a *toyAdapter) Jurisdiction() string       { return a.c.Jurisdiction() }
func (a *toyAdapter) CloseIdleConnections()      { a.c.CloseIdleConnections() }
func (a *toyAdapter) Detect(payload []byte) bool { return toy.Detect(payload) }
func (a *toyAdapter) Issue(ctx context.Context, id string) (*adapters.NativeStatus, error) {
	return toy.Issue(ctx, &a.c, id)
}
func (a *toyAdapter) Lookup(ctx context.Context, id string) (*adapters.NativeStatus, error) {
	return toy.Lookup(ctx, &a.c, id)
}
func (a *toyAdapter) Decode(ctx context.Context, payload []byte, at time.Time) (*adapters.Claims, error) {
	return toy.Decode(ctx, &a.c, payload, at)
}

const toyGood = `{"id":"0123456789abcdef","version":3,"name":"张小三","resident":"330102199001011234","until":1583251200}`

func TestToyDialect(t *testing.T) {
	backendhttptest.Run(t, backendhttptest.Dialect{
		Jurisdiction:   "330000",
		ResidentID:     "330102199001011234",
		CodeID:         "0123456789abcdef",
		Format:         "toy",
		DefaultTimeout: backendhttp.DefaultTimeout,
		New: func(baseURL, jurisdiction string, timeout time.Duration) (backendhttptest.Adapter, error) {
			a := &toyAdapter{c: backendhttp.Conn{Timeout: backendhttp.DefaultTimeout}}
			if timeout > 0 {
				a.c.Timeout = timeout
			}
			return a, toy.Dial(&a.c, baseURL, jurisdiction)
		},
		FormatPayload: func(id string) string { return "TOY:" + id },
		ParsePayload:  toy.ParsePayload,

		ErrUnknownCode: toy.ErrUnknownCode, ErrUnknownResident: toy.ErrUnknownResident,
		ErrReportOverdue: toy.ErrReportOverdue, ErrRefused: toy.ErrRefused, ErrUnavailable: toy.ErrUnavailable,

		GoodBody: toyGood,
		Bodies: []backendhttptest.Body{
			{"expired", 200, `{"id":"0123456789abcdef","version":3,"name":"张小三","resident":"330102199001011234","until":1}`, reason.Expired, nil},
			{"other code id", 200, `{"id":"fedcba9876543210","version":3,"name":"张小三","resident":"330102199001011234","until":1583251200}`, reason.Malformed, nil},
		},
		Payloads: []backendhttptest.Payload{
			{"TOY:0123456789abcdef", true, "0123456789abcdef", ""},
			{"TOY:0123456789abcde_", true, "", reason.Malformed},
		},
	})
}

func TestDecodeStrict(t *testing.T) {
	fields := []string{"a", "b"}
	for _, tt := range []struct {
		body, err string
	}{
		{`{"a":1,"b":2}`, ""},
		{`{"b":2,"\u0061":1}`, ""},
		{`{"a":1}`, `malformed: x: missing field "b"`},
		{`{"a":1,"a":1,"b":2}`, `malformed: x: duplicate field "a"`},
		{`{"A":1,"b":2}`, `malformed: x: unknown field "A"`},
		{`{"a":1,"b":2} {}`, `malformed: x: data after the JSON object`},
		{`[]`, `malformed: x: not a JSON object`},
		{`{"a":"1","b":2}`, `malformed: x: json: cannot unmarshal string`},
	} {
		var v struct{ A, B int }
		err := backendhttp.DecodeStrict([]byte(tt.body), fields, &v, "x")
		if got := fmt.Sprint(err); tt.err == "" && err != nil || tt.err != "" && !strings.HasPrefix(got, tt.err) {
			t.Errorf("DecodeStrict(%s) = %v, want %q", tt.body, err, tt.err)
		}
	}
}

func TestValidators(t *testing.T) {
	if !backendhttp.ValidIDNumber("33010219900101123X") || backendhttp.ValidIDNumber("33010219900101123x") || backendhttp.ValidIDNumber("3301021990010112") {
		t.Error("ValidIDNumber")
	}
	if !backendhttp.ValidCodeID("abc-_0123456789XYZ", "-_") || backendhttp.ValidCodeID("abc-_0123456789XYZ", "") || backendhttp.ValidCodeID("short", "") {
		t.Error("ValidCodeID")
	}
	if !backendhttp.ValidName("张小三") || backendhttp.ValidName("") || backendhttp.ValidName("\xff") {
		t.Error("ValidName")
	}
	if backendhttp.Clip("0123456789012345678901234567890123") != "01234567890123456789012345678901…" {
		t.Error("Clip")
	}
}

// TestZeroTimeoutUsesDefault: a Conn whose Timeout was never set still
// gives a request without a deadline DefaultTimeout (not an expired one).
func TestZeroTimeoutUsesDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, toyGood)
	}))
	defer srv.Close()
	a := &toyAdapter{} // Timeout 0
	if err := toy.Dial(&a.c, srv.URL, "330000"); err != nil {
		t.Fatal(err)
	}
	defer a.CloseIdleConnections()
	if _, err := a.Lookup(context.Background(), "0123456789abcdef"); err != nil {
		t.Fatalf("Lookup with a zero Conn.Timeout: %v", err)
	}
}
