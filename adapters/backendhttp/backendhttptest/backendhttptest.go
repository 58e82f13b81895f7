package backendhttptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/backendhttp"
	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/reason"
)

// Adapter is what the suite tests: a dialect package's *Adapter.
type Adapter interface {
	adapters.Native
	CloseIdleConnections()
}

// Dialect describes a dialect package to the suite.
type Dialect struct {
	// Provsim is the provsim dialect the adapter speaks; "" skips the tests
	// against a real backend.
	Provsim string
	// Jurisdiction is the backend's GB/T 2260 code; ResidentID the ID number
	// of the resident enrolled there; Stranger a well-formed ID number the
	// backend does not know.
	Jurisdiction, ResidentID, Stranger string
	// CodeID is a well-formed code id the real backend never issued, and
	// the codeId of GoodBody.
	CodeID string
	// Format and System are the adapter's format and default system names.
	Format, System string
	// DefaultTimeout is the deadline of requests whose context has none.
	DefaultTimeout time.Duration
	// New is the package's New, with WithTimeout(timeout) if timeout > 0.
	New func(baseURL, jurisdiction string, timeout time.Duration) (Adapter, error)
	// FormatPayload and ParsePayload are the package's.
	FormatPayload func(nativeID string) string
	ParsePayload  func(payload []byte) (string, error)
	// The package's sentinel errors.
	ErrUnknownCode, ErrUnknownResident, ErrReportOverdue, ErrRefused, ErrUnavailable error
	// GoodBody is a code body for CodeID: green, holder 张小三, version 3
	// (the only ":3" in it).
	GoodBody string
	// Bodies are the dialect's own rows for the fake backend tests.
	Bodies []Body
	// Payloads are the dialect's rows for Detect and ParsePayload.
	Payloads []Payload
}

// Body is a fake backend's answer and the reason code Decode must fail
// with ("": success, the claims of GoodBody), and the error it must wrap.
// (An alias of an unnamed struct, so that tables of them need no keys.)
type Body = struct {
	Name   string
	Status int
	Body   string
	Code   reason.Code
	Is     error
}

// Payload is a QR payload, whether Detect accepts it, and the id
// ParsePayload returns or the reason code it fails with.
type Payload = struct {
	In     string
	Detect bool
	ID     string
	Code   reason.Code
}

// Start is when the real backend's clock starts.
var Start = time.Date(2020, 2, 26, 9, 0, 0, 0, clock.CST)

// Run runs the whole suite.
func Run(t *testing.T, d Dialect) {
	if d.Provsim != "" {
		t.Run("IssueLookupDecode", func(t *testing.T) { issueLookupDecode(t, d) })
		t.Run("BackendRefusals", func(t *testing.T) { backendRefusals(t, d) })
	}
	t.Run("DetectAndParsePayload", func(t *testing.T) { detectAndParsePayload(t, d) })
	t.Run("NewRejects", func(t *testing.T) { newRejects(t, d) })
	t.Run("FakeBackendBodies", func(t *testing.T) { fakeBackendBodies(t, d) })
	t.Run("BackendDown", func(t *testing.T) { backendDown(t, d) })
	t.Run("HangingBackendHonoursDeadline", func(t *testing.T) { hangingBackend(t, d) })
}

// Backend is a real provsim backend of the dialect with one enrolled
// resident, and an adapter pointed at it.
type Backend struct {
	Clock *clock.Sim
	Admin *provsim.Client
	Ad    Adapter
}

// NewBackend starts a Backend; e.IDNumber defaults to d.ResidentID and
// e.Name to 张小三. Everything is closed when t ends.
func NewBackend(t *testing.T, d Dialect, e provsim.Enrolment) *Backend {
	t.Helper()
	clk := clock.NewSim(Start)
	srv, err := provsim.New(provsim.Config{Jurisdiction: d.Jurisdiction, Dialect: d.Provsim,
		DBPath: filepath.Join(t.TempDir(), "provsim.db"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	admin, err := provsim.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := d.New(ts.URL, d.Jurisdiction, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ad.CloseIdleConnections()
		admin.CloseIdleConnections()
		ts.Close()
		srv.Close()
	})
	if e.IDNumber == "" {
		e.IDNumber = d.ResidentID
	}
	if e.Name == "" {
		e.Name = "张小三"
	}
	if _, err := admin.Enrol(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return &Backend{Clock: clk, Admin: admin, Ad: ad}
}

func issueLookupDecode(t *testing.T, d Dialect) {
	ctx := context.Background()
	b := NewBackend(t, d, provsim.Enrolment{})
	st, err := b.Ad.Issue(ctx, d.ResidentID)
	if err != nil {
		t.Fatal(err)
	}
	wantUntil := time.Date(2020, 3, 4, 0, 0, 0, 0, clock.CST)
	if st.Jurisdiction != d.Jurisdiction || st.System != d.System || st.Color != adapters.Green || st.Version != 1 ||
		st.ResidentKey != d.ResidentID || st.Name != "张小三" || !st.IssuedAt.Equal(Start) || !st.ValidUntil.Equal(wantUntil) {
		t.Fatalf("issue: %+v", st)
	}
	at := Start.Add(time.Hour)
	c, err := b.Ad.Decode(ctx, []byte(d.FormatPayload(st.NativeID)), at)
	if err != nil {
		t.Fatal(err)
	}
	want := adapters.Claims{Issuer: d.Jurisdiction, CodeID: st.NativeID, Display: "张*三", Color: adapters.Green, System: d.System,
		Version: 1, IssuedAt: Start.Unix(), NotBefore: Start.Unix(), Expires: wantUntil.Unix()}
	if *c != want {
		t.Fatalf("claims %+v, want %+v", *c, want)
	}

	// The holder turns red after issue: look-ups see the current colour.
	if _, err := b.Admin.SetStatus(ctx, d.ResidentID, adapters.Red, "close contact"); err != nil {
		t.Fatal(err)
	}
	c, err = b.Ad.Decode(ctx, []byte(d.FormatPayload(st.NativeID)), at)
	if err != nil || c.Color != adapters.Red || c.Version != 2 {
		t.Fatalf("after status change: %+v %v", c, err)
	}

	for _, tt := range []struct {
		at   time.Time
		want reason.Code
	}{
		{wantUntil.Add(-time.Second), ""},
		{wantUntil, reason.Expired},
		{wantUntil.Add(time.Hour), reason.Expired},
	} {
		_, err := b.Ad.Decode(ctx, []byte(d.FormatPayload(st.NativeID)), tt.at)
		if tt.want == "" && err != nil || tt.want != "" && reason.Of(err) != tt.want {
			t.Errorf("Decode at %s: %v, want %q", tt.at, err, tt.want)
		}
	}
}

func backendRefusals(t *testing.T, d Dialect) {
	ctx := context.Background()
	b := NewBackend(t, d, provsim.Enrolment{})

	_, err := b.Ad.Lookup(ctx, d.CodeID)
	if !errors.Is(err, d.ErrUnknownCode) || reason.Of(err) != reason.ClaimsInvalid {
		t.Errorf("unknown code: %v", err)
	}
	_, err = b.Ad.Decode(ctx, []byte(d.FormatPayload(d.CodeID)), Start)
	if !errors.Is(err, d.ErrUnknownCode) {
		t.Errorf("decode unknown code: %v", err)
	}
	_, err = b.Ad.Issue(ctx, d.Stranger)
	if !errors.Is(err, d.ErrUnknownResident) {
		t.Errorf("unknown resident: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), d.Stranger) {
		t.Errorf("error leaks the ID number: %v", err)
	}
	_, err = b.Ad.Issue(ctx, "not-an-id")
	if reason.Of(err) != reason.Malformed {
		t.Errorf("bad resident id: %v", err)
	}
	b.Clock.Set(time.Date(2020, 3, 5, 0, 0, 0, 0, clock.CST))
	_, err = b.Ad.Issue(ctx, d.ResidentID)
	if !errors.Is(err, d.ErrReportOverdue) || reason.Of(err) != reason.Expired {
		t.Errorf("overdue: %v", err)
	}
	if _, err := b.Admin.Report(ctx, d.ResidentID, "2020-03-05", true); err != nil {
		t.Fatal(err)
	}
	if _, err = b.Ad.Issue(ctx, d.ResidentID); err != nil {
		t.Errorf("after report: %v", err)
	}
}

func detectAndParsePayload(t *testing.T, d Dialect) {
	ad, err := d.New("http://127.0.0.1:1", d.Jurisdiction, 0)
	if err != nil {
		t.Fatal(err)
	}
	prefix := d.FormatPayload("")
	rows := append([]Payload{
		{prefix, true, "", reason.Malformed},
		{prefix + "short", true, "", reason.Malformed},
		{prefix + "AAAAAAAAAAAA/../AAAAAAAA", true, "", reason.Malformed},
		{prefix + "AAAAAAAAAAAAAAAAAAAA%2F", true, "", reason.Malformed},
		{"roam:eyJhbGciOiJFUzI1NiJ9", false, "", reason.UnsupportedFormat},
		{"", false, "", reason.UnsupportedFormat},
		{prefix + strings.Repeat("A", backendhttp.MaxPayload), false, "", reason.InputTooLarge},
	}, d.Payloads...)
	for _, tt := range rows {
		if got := ad.Detect([]byte(tt.In)); got != tt.Detect {
			t.Errorf("Detect(%q) = %v", tt.In, got)
		}
		id, err := d.ParsePayload([]byte(tt.In))
		if tt.Code == "" && (err != nil || id != tt.ID) || tt.Code != "" && reason.Of(err) != tt.Code {
			t.Errorf("ParsePayload(%q) = %q, %v; want %q, %q", tt.In, id, err, tt.ID, tt.Code)
		}
	}
	if d.FormatPayload("x") != prefix+"x" || ad.Format() != d.Format || ad.Jurisdiction() != d.Jurisdiction {
		t.Error("FormatPayload/Format/Jurisdiction")
	}
}

func newRejects(t *testing.T, d Dialect) {
	j := d.Jurisdiction
	for _, c := range [][2]string{{"", j}, {"ftp://x", j}, {"http://", j}, {"http://x", "33"}, {"http://x?a=b", j}} {
		if _, err := d.New(c[0], c[1], 0); err == nil {
			t.Errorf("New(%q, %q) accepted", c[0], c[1])
		}
	}
}

func fakeBackendBodies(t *testing.T, d Dialect) {
	rows := append([]Body{
		{"good", 200, d.GoodBody, "", nil},
		{"oversized", 200, `{"x":"` + strings.Repeat("A", backendhttp.MaxResponse) + `"}`, reason.Malformed, nil},
		{"not json", 200, `<html>`, reason.Malformed, nil},
		{"array", 200, `[` + d.GoodBody + `]`, reason.Malformed, nil},
		{"unknown field", 200, strings.Replace(d.GoodBody, `{`, `{"extra":1,`, 1), reason.Malformed, nil},
		{"trailing data", 200, d.GoodBody + `{}`, reason.Malformed, nil},
		{"version as string", 200, strings.Replace(d.GoodBody, `:3`, `:"3"`, 1), reason.Malformed, nil},
		{"version fractional", 200, strings.Replace(d.GoodBody, `:3`, `:3.5`, 1), reason.Malformed, nil},
		{"version zero", 200, strings.Replace(d.GoodBody, `:3`, `:0`, 1), reason.Malformed, nil},
		{"404", 404, `{"error":"unknown_code"}`, reason.ClaimsInvalid, d.ErrUnknownCode},
		{"409 overdue", 409, `{"error":"report_overdue"}`, reason.Expired, d.ErrReportOverdue},
		{"409 other", 409, `{"error":"conflict"}`, reason.Malformed, d.ErrRefused},
		{"400", 400, `{"error":"bad"}`, reason.Malformed, d.ErrRefused},
		{"429", 429, ``, reason.IssuerUnreachable, d.ErrUnavailable},
		{"500", 500, `oops`, reason.IssuerUnreachable, d.ErrUnavailable},
		{"503", 503, ``, reason.IssuerUnreachable, d.ErrUnavailable},
		{"302", 302, ``, reason.Malformed, nil},
	}, d.Bodies...)
	for _, tt := range rows {
		t.Run(tt.Name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.Status)
				_, _ = w.Write([]byte(tt.Body))
			}))
			defer ts.Close()
			ad, _ := d.New(ts.URL, d.Jurisdiction, 0)
			defer ad.CloseIdleConnections()
			c, err := ad.Decode(context.Background(), []byte(d.FormatPayload(d.CodeID)), Start)
			if tt.Code == "" {
				if err != nil || c.Color != adapters.Green || c.Version != 3 || c.Display != "张*三" {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if reason.Of(err) != tt.Code {
				t.Fatalf("got %v, want %s", err, tt.Code)
			}
			if tt.Is != nil && !errors.Is(err, tt.Is) {
				t.Fatalf("got %v, want it to wrap %v", err, tt.Is)
			}
		})
	}
}

func backendDown(t *testing.T, d Dialect) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	ad, _ := d.New(url, d.Jurisdiction, 0)
	_, err := ad.Issue(context.Background(), d.ResidentID)
	var oe *net.OpError
	if reason.Of(err) != reason.IssuerUnreachable || !errors.Is(err, d.ErrUnavailable) || !errors.As(err, &oe) {
		t.Fatalf("got %v, want issuer_unreachable wrapping a *net.OpError", err)
	}
	if strings.Contains(err.Error(), d.ResidentID) {
		t.Fatalf("error leaks the ID number: %v", err)
	}
}

func hangingBackend(t *testing.T, d Dialect) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer ts.Close()
	defer close(release)

	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		max     time.Duration
	}{
		{"option timeout", 150 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, time.Second},
		{"default timeout", 0, func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, d.DefaultTimeout + time.Second},
		{"caller deadline", 0, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ad, _ := d.New(ts.URL, d.Jurisdiction, tt.timeout)
			defer ad.CloseIdleConnections()
			ctx, cancel := tt.ctx()
			defer cancel()
			t0 := time.Now()
			_, err := ad.Lookup(ctx, d.CodeID)
			if el := time.Since(t0); el > tt.max {
				t.Fatalf("took %v, want under %v", el, tt.max)
			}
			if reason.Of(err) != reason.IssuerUnreachable || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want issuer_unreachable wrapping context.DeadlineExceeded", err)
			}
		})
	}
}

// FuzzPayload is the property a dialect's FuzzParsePayload checks:
// d.ParsePayload never panics, fails with a *reason.Error and, on success,
// returns an id validID accepts that round-trips through d.FormatPayload and
// whose payload detect (the zero Adapter's Detect) accepts.
func FuzzPayload(d Dialect, validID func(string) bool, detect func([]byte) bool) func(*testing.T, []byte) {
	return func(t *testing.T, payload []byte) {
		id, err := d.ParsePayload(payload)
		if err != nil {
			if _, ok := err.(*reason.Error); !ok {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if !validID(id) || d.FormatPayload(id) != string(payload) {
			t.Fatalf("accepted %q as id %q", payload, id)
		}
		if !detect(payload) {
			t.Fatalf("parsed but not detected: %q", payload)
		}
	}
}

// FuzzBody is the property a dialect's FuzzDecodeCode checks: decode never
// panics, fails with a *reason.Error and only accepts bodies with a
// canonical colour, a positive version, ordered times, a code id validID
// accepts and a well-formed ID number.
func FuzzBody(decode func([]byte) (*adapters.NativeStatus, error), validID func(string) bool) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		st, err := decode(body)
		if err != nil {
			if _, ok := err.(*reason.Error); !ok {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if _, err := adapters.ParseColor(string(st.Color)); err != nil {
			t.Fatalf("accepted colour %q", st.Color)
		}
		if st.Version < 1 || !st.ValidUntil.After(st.IssuedAt) || !validID(st.NativeID) || !backendhttp.ValidIDNumber(st.ResidentKey) {
			t.Fatalf("accepted %+v", st)
		}
	}
}
