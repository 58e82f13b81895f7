package provsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/roam-federation/roam/adapters"
)

// DefaultClientTimeout bounds every Client request whose context has no
// earlier deadline (5 s).
const DefaultClientTimeout = 5 * time.Second

// maxResponseBody caps admin responses read by Client, in bytes (1 MiB).
const maxResponseBody = 1 << 20

// APIError is a refusal from the admin API: an HTTP status and the body's
// snake_case error code (e.g. "unknown_resident", "duplicate_report",
// "report_overdue") and message.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("provsim: %d %s: %s", e.Status, e.Code, e.Message)
}

// Client speaks the admin API of a simulated backend. It is used by the demo
// and the CLI. Safe for concurrent use.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// NewClient returns a client for the backend at baseURL (e.g.
// "http://127.0.0.1:8081"). If hc is nil a client with a 5 s overall timeout
// and its own connection pool is used.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("provsim: base URL %q: want http(s)://host[:port]", baseURL)
	}
	if hc == nil {
		hc = &http.Client{
			Timeout: DefaultClientTimeout,
			Transport: &http.Transport{
				DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				ResponseHeaderTimeout: DefaultClientTimeout,
				MaxIdleConnsPerHost:   4,
				IdleConnTimeout:       30 * time.Second,
			},
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return &Client{base: u, hc: hc}, nil
}

// CloseIdleConnections closes pooled connections (useful in tests and on
// shutdown).
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Enrol registers a resident and returns it with its assigned colour and
// ver 1. Errors: *APIError (400 invalid_*, 409 resident_exists) or a
// transport error.
func (c *Client) Enrol(ctx context.Context, e Enrolment) (*Resident, error) {
	return c.do(ctx, http.MethodPost, "/admin/v1/residents", e)
}

// Report files the daily report for date (YYYY-MM-DD, CST) and returns the
// updated resident. Errors: *APIError (404 unknown_resident, 409
// duplicate_report, report_out_of_order, report_in_future,
// report_before_enrolment) or a transport error.
func (c *Client) Report(ctx context.Context, idNumber, date string, normal bool) (*Resident, error) {
	return c.do(ctx, http.MethodPost, "/admin/v1/residents/"+url.PathEscape(idNumber)+"/reports", DailyReport{Date: date, Normal: normal})
}

// SetStatus sets a resident's colour after contact tracing, restarting the
// streak; reason is required. Errors: *APIError (400 invalid_color,
// invalid_reason; 404 unknown_resident) or a transport error.
func (c *Client) SetStatus(ctx context.Context, idNumber string, color adapters.Color, reason string) (*Resident, error) {
	return c.do(ctx, http.MethodPut, "/admin/v1/residents/"+url.PathEscape(idNumber)+"/status", StatusChange{Color: color, Reason: reason})
}

// Get returns a resident. Errors: *APIError (404 unknown_resident) or a
// transport error.
func (c *Client) Get(ctx context.Context, idNumber string) (*Resident, error) {
	return c.do(ctx, http.MethodGet, "/admin/v1/residents/"+url.PathEscape(idNumber), nil)
}

func (c *Client) do(ctx context.Context, method, path string, in any) (*Resident, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultClientTimeout)
		defer cancel()
	}
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("provsim: encode request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, fmt.Errorf("provsim: build request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("provsim: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("provsim: read response: %w", err)
	}
	if len(raw) > maxResponseBody {
		return nil, errors.New("provsim: response exceeds 1 MiB")
	}
	if resp.StatusCode/100 != 2 {
		ae := &APIError{Status: resp.StatusCode}
		var eb struct{ Error, Message string }
		if json.Unmarshal(raw, &eb) == nil && eb.Error != "" {
			ae.Code, ae.Message = eb.Error, eb.Message
		} else {
			ae.Code, ae.Message = "http_status", http.StatusText(resp.StatusCode)
		}
		return nil, ae
	}
	var res Resident
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("provsim: decode resident: %w", err)
	}
	return &res, nil
}
