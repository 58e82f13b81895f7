package beijing

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
	"github.com/roam-federation/roam/adapters/provsim"
	"github.com/roam-federation/roam/federation/clock"
	"github.com/roam-federation/roam/federation/reason"
)

const residentID = "110102199001011234"

var start = time.Date(2020, 2, 26, 9, 0, 0, 0, clock.CST)

type backend struct {
	clk   *clock.Sim
	admin *provsim.Client
	ad    *Adapter
	ts    *httptest.Server
}

// newBackend starts a real provsim (zhejiang dialect) with one enrolled
// resident and returns an adapter pointed at it.
func newBackend(t *testing.T, e provsim.Enrolment) *backend {
	t.Helper()
	clk := clock.NewSim(start)
	srv, err := provsim.New(provsim.Config{Jurisdiction: "110000", Dialect: provsim.DialectBeijing,
		DBPath: filepath.Join(t.TempDir(), "bj.db"), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	admin, err := provsim.NewClient(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := New(ts.URL, "110000")
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
		e.IDNumber = residentID
	}
	if e.Name == "" {
		e.Name = "张小三"
	}
	if _, err := admin.Enrol(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return &backend{clk: clk, admin: admin, ad: ad, ts: ts}
}

func TestIssueLookupDecode(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, provsim.Enrolment{})
	st, err := b.ad.Issue(ctx, residentID)
	if err != nil {
		t.Fatal(err)
	}
	wantUntil := time.Date(2020, 3, 4, 0, 0, 0, 0, clock.CST)
	if st.Jurisdiction != "110000" || st.System != System || st.Color != adapters.Green || st.Version != 1 ||
		st.ResidentKey != residentID || st.Name != "张小三" || !st.IssuedAt.Equal(start) || !st.ValidUntil.Equal(wantUntil) {
		t.Fatalf("issue: %+v", st)
	}
	at := start.Add(time.Hour)
	c, err := b.ad.Decode(ctx, []byte(FormatPayload(st.NativeID)), at)
	if err != nil {
		t.Fatal(err)
	}
	want := adapters.Claims{Issuer: "110000", CodeID: st.NativeID, Display: "张*三", Color: adapters.Green, System: System,
		Version: 1, IssuedAt: start.Unix(), NotBefore: start.Unix(), Expires: wantUntil.Unix()}
	if *c != want {
		t.Fatalf("claims %+v, want %+v", *c, want)
	}

	// The holder turns red after issue: look-ups see the current colour.
	if _, err := b.admin.SetStatus(ctx, residentID, adapters.Red, "close contact"); err != nil {
		t.Fatal(err)
	}
	c, err = b.ad.Decode(ctx, []byte(FormatPayload(st.NativeID)), at)
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
		_, err := b.ad.Decode(ctx, []byte(FormatPayload(st.NativeID)), tt.at)
		if tt.want == "" && err != nil || tt.want != "" && reason.Of(err) != tt.want {
			t.Errorf("Decode at %s: %v, want %q", tt.at, err, tt.want)
		}
	}
}

func TestBackendRefusals(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, provsim.Enrolment{})

	_, err := b.ad.Lookup(ctx, "0123456789ABCDEF0123456789ABCDEF")
	if !errors.Is(err, ErrUnknownCode) || reason.Of(err) != reason.ClaimsInvalid {
		t.Errorf("unknown code: %v", err)
	}
	_, err = b.ad.Decode(ctx, []byte("BJJKB:0123456789ABCDEF0123456789ABCDEF"), start)
	if !errors.Is(err, ErrUnknownCode) {
		t.Errorf("decode unknown code: %v", err)
	}
	_, err = b.ad.Issue(ctx, "120102199001011234")
	if !errors.Is(err, ErrUnknownResident) {
		t.Errorf("unknown resident: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), "120102199001011234") {
		t.Errorf("error leaks the ID number: %v", err)
	}
	_, err = b.ad.Issue(ctx, "not-an-id")
	if reason.Of(err) != reason.Malformed {
		t.Errorf("bad resident id: %v", err)
	}
	b.clk.Set(time.Date(2020, 3, 5, 0, 0, 0, 0, clock.CST))
	_, err = b.ad.Issue(ctx, residentID)
	if !errors.Is(err, ErrReportOverdue) || reason.Of(err) != reason.Expired {
		t.Errorf("overdue: %v", err)
	}
	if _, err := b.admin.Report(ctx, residentID, "2020-03-05", true); err != nil {
		t.Fatal(err)
	}
	if _, err = b.ad.Issue(ctx, residentID); err != nil {
		t.Errorf("after report: %v", err)
	}
}

func TestDetectAndParsePayload(t *testing.T) {
	ad, err := New("http://127.0.0.1:1", "110000")
	if err != nil {
		t.Fatal(err)
	}
	long := "BJJKB:" + strings.Repeat("A", MaxPayload)
	tests := []struct {
		in     string
		detect bool
		id     string
		code   reason.Code
	}{
		{"BJJKB:0123456789ABCDEF0123456789ABCDEF", true, "0123456789ABCDEF0123456789ABCDEF", ""},
		{"BJJKB:abc0123456789XYZ", true, "abc0123456789XYZ", ""},
		{"BJJKB:", true, "", reason.Malformed},
		{"BJJKB:short", true, "", reason.Malformed},
		{"BJJKB:0123456789ABCDEF0123456789ABCDEF ", true, "", reason.Malformed},
		{"BJJKB:AAAAAAAAAAAA/../AAAAAAAA", true, "", reason.Malformed},
		{"BJJKB:AAAAAAAAAAAAAAAAAAAA%2F", true, "", reason.Malformed},
		{"bjjkb:0123456789ABCDEF0123456789ABCDEF", false, "", reason.UnsupportedFormat},
		{"ZJHC:AAAAAAAAAAAAAAAAAAAAAA", false, "", reason.UnsupportedFormat},
		{"BJJKB:0123456789ABCDEF-123456789ABCDEF", true, "", reason.Malformed},
		{"roam:eyJhbGciOiJFUzI1NiJ9", false, "", reason.UnsupportedFormat},
		{"", false, "", reason.UnsupportedFormat},
		{long, false, "", reason.InputTooLarge},
	}
	for _, tt := range tests {
		if got := ad.Detect([]byte(tt.in)); got != tt.detect {
			t.Errorf("Detect(%q) = %v", tt.in, got)
		}
		id, err := ParsePayload([]byte(tt.in))
		if tt.code == "" && (err != nil || id != tt.id) || tt.code != "" && reason.Of(err) != tt.code {
			t.Errorf("ParsePayload(%q) = %q, %v; want %q, %q", tt.in, id, err, tt.id, tt.code)
		}
	}
	if FormatPayload("x") != "BJJKB:x" || ad.Format() != "beijing" || ad.Jurisdiction() != "110000" {
		t.Error("FormatPayload/Format/Jurisdiction")
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range [][2]string{{"", "110000"}, {"ftp://x", "110000"}, {"http://", "110000"}, {"http://x", "33"}, {"http://x?a=b", "110000"}} {
		if _, err := New(c[0], c[1]); err == nil {
			t.Errorf("New(%q, %q) accepted", c[0], c[1])
		}
	}
}

const goodBody = `{"jkbbh":"0123456789ABCDEF0123456789ABCDEF","zt":"未见异常","ztbb":3,"xm":"张小三","sfzh":"110102199001011234","scsj":"2020-02-26 09:00:00","yxqz":"2020-03-04 00:00:00"}`

func TestFakeBackendBodies(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   reason.Code
		is     error
	}{
		{"good", 200, goodBody, "", nil},
		{"unknown status", 200, strings.Replace(goodBody, `"未见异常"`, `"解除观察"`, 1), reason.ColorUnknown, nil},
		{"colour word", 200, strings.Replace(goodBody, `"未见异常"`, `"green"`, 1), reason.ColorUnknown, nil},
		{"status with space", 200, strings.Replace(goodBody, `"未见异常"`, `"未见异常 "`, 1), reason.ColorUnknown, nil},
		{"empty status", 200, strings.Replace(goodBody, `"未见异常"`, `""`, 1), reason.ColorUnknown, nil},
		{"oversized", 200, `{"jkbbh":"` + strings.Repeat("A", MaxResponse) + `"}`, reason.Malformed, nil},
		{"not json", 200, `<html>`, reason.Malformed, nil},
		{"array", 200, `[` + goodBody + `]`, reason.Malformed, nil},
		{"unknown field", 200, strings.Replace(goodBody, `{`, `{"extra":1,`, 1), reason.Malformed, nil},
		{"case-folded field", 200, strings.Replace(goodBody, `"jkbbh"`, `"JKBBH"`, 1), reason.Malformed, nil},
		{"duplicate field", 200, strings.Replace(goodBody, `{`, `{"zt":"集中观察",`, 1), reason.Malformed, nil},
		{"missing field", 200, strings.Replace(goodBody, `"ztbb":3,`, ``, 1), reason.Malformed, nil},
		{"trailing data", 200, goodBody + `{}`, reason.Malformed, nil},
		{"version as string", 200, strings.Replace(goodBody, `:3`, `:"3"`, 1), reason.Malformed, nil},
		{"version fractional", 200, strings.Replace(goodBody, `:3`, `:3.5`, 1), reason.Malformed, nil},
		{"version zero", 200, strings.Replace(goodBody, `:3`, `:0`, 1), reason.Malformed, nil},
		{"rfc3339 time", 200, strings.Replace(goodBody, `2020-03-04 00:00:00`, `2020-03-04T00:00:00+08:00`, 1), reason.Malformed, nil},
		{"no seconds", 200, strings.Replace(goodBody, `2020-03-04 00:00:00`, `2020-03-04 00:00`, 1), reason.Malformed, nil},
		{"impossible date", 200, strings.Replace(goodBody, `2020-03-04 00:00:00`, `2020-02-30 00:00:00`, 1), reason.Malformed, nil},
		{"until before issue", 200, strings.Replace(goodBody, `2020-03-04 00:00:00`, `2020-02-26 08:00:00`, 1), reason.TimestampsInvalid, nil},
		{"other code id", 200, strings.Replace(goodBody, `0123456789ABCDEF0123456789ABCDEF`, `FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF`, 1), reason.Malformed, nil},
		{"bad sfzh", 200, strings.Replace(goodBody, `110102199001011234`, `11010219900101123`, 1), reason.Malformed, nil},
		{"404", 404, `{"error":"unknown_code"}`, reason.ClaimsInvalid, ErrUnknownCode},
		{"400", 400, `{"error":"bad"}`, reason.Malformed, ErrRefused},
		{"500", 500, `oops`, reason.IssuerUnreachable, ErrUnavailable},
		{"503", 503, ``, reason.IssuerUnreachable, ErrUnavailable},
		{"302", 302, ``, reason.Malformed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			ad, _ := New(ts.URL, "110000")
			defer ad.CloseIdleConnections()
			c, err := ad.Decode(context.Background(), []byte("BJJKB:0123456789ABCDEF0123456789ABCDEF"), start)
			if tt.code == "" {
				if err != nil || c.Color != adapters.Green || c.Version != 3 || c.Display != "张*三" {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if reason.Of(err) != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("got %v, want it to wrap %v", err, tt.is)
			}
		})
	}
}

func TestBackendDown(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	ad, _ := New(url, "110000")
	_, err := ad.Issue(context.Background(), residentID)
	var oe *net.OpError
	if reason.Of(err) != reason.IssuerUnreachable || !errors.Is(err, ErrUnavailable) || !errors.As(err, &oe) {
		t.Fatalf("got %v, want issuer_unreachable wrapping a *net.OpError", err)
	}
	if strings.Contains(err.Error(), residentID) {
		t.Fatalf("error leaks the ID number: %v", err)
	}
}

func TestHangingBackendHonoursDeadline(t *testing.T) {
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
		name string
		ad   []Option
		ctx  func() (context.Context, context.CancelFunc)
		max  time.Duration
	}{
		{"option timeout", []Option{WithTimeout(150 * time.Millisecond)}, func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, time.Second},
		{"default timeout", nil, func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}, DefaultTimeout + time.Second},
		{"caller deadline", nil, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ad, _ := New(ts.URL, "110000", tt.ad...)
			defer ad.CloseIdleConnections()
			ctx, cancel := tt.ctx()
			defer cancel()
			t0 := time.Now()
			_, err := ad.Lookup(ctx, "0123456789ABCDEF0123456789ABCDEF")
			if el := time.Since(t0); el > tt.max {
				t.Fatalf("took %v, want under %v", el, tt.max)
			}
			if reason.Of(err) != reason.IssuerUnreachable || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want issuer_unreachable wrapping context.DeadlineExceeded", err)
			}
		})
	}
}

func TestStatusMapping(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		e    provsim.Enrolment
		want adapters.Color
	}{
		{"未见异常", provsim.Enrolment{}, adapters.Green},
		{"居家观察", provsim.Enrolment{TravelHistory: []string{"420100"}}, adapters.Yellow},
		{"集中观察", provsim.Enrolment{Symptoms: true}, adapters.Red},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, tt.e)
			st, err := b.ad.Issue(ctx, residentID)
			if err != nil || st.Color != tt.want {
				t.Fatalf("got %+v %v, want %s", st, err, tt.want)
			}
			if c, err := ColorOf(tt.name); err != nil || c != tt.want {
				t.Fatalf("ColorOf(%s) = %s %v", tt.name, c, err)
			}
		})
	}
	if _, err := ColorOf("green"); reason.Of(err) != reason.ColorUnknown {
		t.Fatalf("ColorOf(green): %v", err)
	}
}
