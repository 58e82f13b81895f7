package backendhttp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/roam-federation/roam/federation/reason"
)

// roundTrip is an http.RoundTripper that answers every request itself.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzResponse: a provincial backend's answer (status code and body) is
// untrusted. Lookup must not panic; it succeeds only on a 200 whose body
// the dialect decodes; every failure carries one of the codes the shared
// machinery documents and wraps the dialect's sentinel for the status.
func FuzzResponse(f *testing.F) {
	f.Add(200, []byte(toyGood))
	f.Add(404, []byte(`{"error":"unknown_code"}`))
	f.Add(409, []byte(`{"error":"report_overdue"}`))
	f.Add(503, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 200 + (status%800+800)%800
		}
		a := &toyAdapter{}
		a.c.HTTPClient = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}, Request: r}, nil
		})}
		if err := toy.Dial(&a.c, "http://backend.invalid", "330000"); err != nil {
			t.Fatal(err)
		}
		st, err := a.Lookup(context.Background(), "0123456789abcdef")
		if err == nil {
			if status != http.StatusOK || st == nil {
				t.Fatalf("HTTP %d accepted", status)
			}
			if _, derr := decodeToy(body); derr != nil {
				t.Fatalf("accepted a body the dialect refuses: %v", derr)
			}
			return
		}
		var re *reason.Error
		if !errors.As(err, &re) {
			t.Fatalf("error %v has no reason code", err)
		}
		switch re.Code {
		case reason.Malformed, reason.ClaimsInvalid, reason.Expired, reason.IssuerUnreachable, reason.ColorUnknown:
		default:
			t.Fatalf("error %v: unexpected reason code %s", err, re.Code)
		}
		switch {
		case status == http.StatusNotFound && !errors.Is(err, toy.ErrUnknownCode),
			(status == http.StatusTooManyRequests || status >= 500) && !errors.Is(err, toy.ErrUnavailable):
			t.Fatalf("HTTP %d: %v wraps the wrong sentinel", status, err)
		}
	})
}
