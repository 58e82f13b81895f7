package backendhttp

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
	"github.com/roam-federation/roam/federation/reason"
)

const (
	// MaxPayload caps a native QR payload, in bytes.
	MaxPayload = 128
	// MaxResponse caps a backend response body, in bytes (1 MiB).
	MaxResponse = 1 << 20
	// DefaultTimeout bounds every request whose context has no deadline.
	DefaultTimeout = 2 * time.Second
)

// Dialect is what sets one backend dialect apart. Its methods are the
// shared adapters.Native behaviour, run against a Conn.
type Dialect struct {
	// Name is the format name ("zhejiang"); it starts every error message.
	Name string
	// PayloadPrefix starts every native QR payload: "<PayloadPrefix><code id>".
	PayloadPrefix string
	// IssuePath is the path and query Issue appends the query-escaped
	// resident id to, e.g. "/zjhc/v1/codes?idNo=".
	IssuePath string
	// LookupPath is the path Lookup appends the path-escaped code id to.
	LookupPath string
	// ValidCodeID reports whether s is a code id of the dialect; CodeIDRule
	// says what one is, in errors ("16 to 64 characters of A-Z a-z 0-9").
	ValidCodeID func(s string) bool
	CodeIDRule  string
	// DecodeBody strictly decodes the body of a 200 answer. Its errors are
	// *reason.Error; Jurisdiction and System are overwritten afterwards.
	DecodeBody func(body []byte) (*adapters.NativeStatus, error)
	// The dialect's sentinels: ErrUnknownCode and ErrUnknownResident for a
	// 404 to Lookup and Issue, ErrReportOverdue for 409 report_overdue,
	// ErrRefused for any other 4xx, ErrUnavailable for no answer, 429 or 5xx.
	ErrUnknownCode, ErrUnknownResident, ErrReportOverdue, ErrRefused, ErrUnavailable error
}

// Conn is one adapter's backend and client. HTTPClient, Timeout and System
// are set before Dial (by the dialect's options); Dial sets the rest. The
// zero Conn has no backend.
type Conn struct {
	HTTPClient *http.Client  // nil: Dial makes one
	Timeout    time.Duration // deadline of requests whose context has none (0: DefaultTimeout)
	System     string        // put in NativeStatus.System and Claims.System
	base       string        // scheme://host[:port][/prefix], no trailing slash
	jur        string
}

// Dial points c at the backend at baseURL (http or https) serving
// jurisdiction (a six-digit GB/T 2260 code), and gives it an HTTP client
// if it has none.
func (d *Dialect) Dial(c *Conn, baseURL, jurisdiction string) error {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: base URL %q: want http(s)://host[:port][/path]", d.Name, baseURL)
	}
	if !isDigits(jurisdiction, 6) {
		return fmt.Errorf("%s: jurisdiction %q: want a six-digit GB/T 2260 code", d.Name, jurisdiction)
	}
	c.base, c.jur = strings.TrimRight(u.String(), "/"), jurisdiction
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Timeout: 30 * time.Second, // backstop; the context deadline is what bounds a call
			Transport: &http.Transport{
				Proxy:                 nil,
				DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				MaxIdleConnsPerHost:   8,
				IdleConnTimeout:       30 * time.Second,
				ResponseHeaderTimeout: 10 * time.Second,
			},
		}
	}
	return nil
}

// Jurisdiction returns the GB/T 2260 code of the backend.
func (c *Conn) Jurisdiction() string { return c.jur }

// CloseIdleConnections closes pooled connections to the backend.
func (c *Conn) CloseIdleConnections() { c.HTTPClient.CloseIdleConnections() }

// Detect reports whether payload has the dialect's prefix and at most
// MaxPayload bytes. No I/O, no verification.
func (d *Dialect) Detect(payload []byte) bool {
	return len(payload) <= MaxPayload && bytes.HasPrefix(payload, []byte(d.PayloadPrefix))
}

// ParsePayload returns the code id of a "<PayloadPrefix><code id>" payload.
// Errors (*reason.Error): input_too_large over MaxPayload bytes,
// unsupported_format without the prefix, malformed for an invalid code id.
func (d *Dialect) ParsePayload(payload []byte) (string, error) {
	if len(payload) > MaxPayload {
		return "", reason.New(reason.InputTooLarge, "%s payload is %d bytes; at most %d allowed", d.Name, len(payload), MaxPayload)
	}
	if !bytes.HasPrefix(payload, []byte(d.PayloadPrefix)) {
		return "", reason.New(reason.UnsupportedFormat, "not a %s payload: want prefix %q", d.Name, d.PayloadPrefix)
	}
	id := string(payload[len(d.PayloadPrefix):])
	if !d.ValidCodeID(id) {
		return "", reason.New(reason.Malformed, "%s code id must be %s", d.Name, d.CodeIDRule)
	}
	return id, nil
}

// Issue asks the backend for a fresh native code for the resident with
// national ID number residentID (18 characters). Errors carry a reason code
// and wrap ErrUnknownResident (404), ErrReportOverdue (409 report_overdue),
// ErrRefused (other 4xx) or ErrUnavailable (unreachable, deadline, 5xx; the
// cause is wrapped too); a bad body is malformed or color_unknown.
func (d *Dialect) Issue(ctx context.Context, c *Conn, residentID string) (*adapters.NativeStatus, error) {
	if !ValidIDNumber(residentID) {
		return nil, reason.New(reason.Malformed, "resident id must be 18 characters: 17 digits then a digit or X")
	}
	st, err := d.fetch(ctx, c, d.IssuePath+url.QueryEscape(residentID), d.ErrUnknownResident)
	if err != nil {
		return nil, err
	}
	if st.ResidentKey != residentID {
		return nil, reason.New(reason.Malformed, "%s backend %s answered for another resident", d.Name, c.jur)
	}
	return st, nil
}

// Lookup asks the backend for the current colour and version of native code
// nativeID, with the code's issue time and validity. Errors as for Issue,
// with ErrUnknownCode for a 404; an invalid code id is malformed and sent
// nowhere.
func (d *Dialect) Lookup(ctx context.Context, c *Conn, nativeID string) (*adapters.NativeStatus, error) {
	if !d.ValidCodeID(nativeID) {
		return nil, reason.New(reason.Malformed, "%s code id must be %s", d.Name, d.CodeIDRule)
	}
	st, err := d.fetch(ctx, c, d.LookupPath+url.PathEscape(nativeID), d.ErrUnknownCode)
	if err != nil {
		return nil, err
	}
	if st.NativeID != nativeID {
		return nil, reason.New(reason.Malformed, "%s backend %s answered for another code", d.Name, c.jur)
	}
	return st, nil
}

// Decode parses payload, looks the code up and returns its canonical claims
// as of at: Issuer is the jurisdiction, CodeID the native id, Display the
// masked name, Subject empty (the issuing node derives it), times in Unix
// seconds with NotBefore = IssuedAt. Errors are those of ParsePayload and
// Lookup, plus expired if at ≥ ValidUntil.
func (d *Dialect) Decode(ctx context.Context, c *Conn, payload []byte, at time.Time) (*adapters.Claims, error) {
	id, err := d.ParsePayload(payload)
	if err != nil {
		return nil, err
	}
	st, err := d.Lookup(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if !at.Before(st.ValidUntil) {
		return nil, reason.New(reason.Expired, "%s code expired at %s", d.Name, st.ValidUntil.UTC().Format(time.RFC3339))
	}
	return &adapters.Claims{
		Issuer:    c.jur,
		CodeID:    st.NativeID,
		Display:   adapters.MaskName(st.Name),
		Color:     st.Color,
		System:    c.System,
		Version:   st.Version,
		IssuedAt:  st.IssuedAt.Unix(),
		NotBefore: st.IssuedAt.Unix(),
		Expires:   st.ValidUntil.Unix(),
	}, nil
}

// fetch GETs pathAndQuery and decodes the answer; notFound is the sentinel
// a 404 maps to.
func (d *Dialect) fetch(ctx context.Context, c *Conn, pathAndQuery string, notFound error) (*adapters.NativeStatus, error) {
	body, err := d.get(ctx, c, pathAndQuery, notFound)
	if err != nil {
		return nil, err
	}
	st, err := d.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	st.Jurisdiction = c.jur
	st.System = c.System
	return st, nil
}

// get performs one GET against the backend under a deadline and returns the
// body of a 200 answer. notFound is the sentinel a 404 maps to.
func (d *Dialect) get(ctx context.Context, c *Conn, pathAndQuery string, notFound error) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		timeout := c.Timeout
		if timeout <= 0 { // a Conn built without its dialect's New
			timeout = DefaultTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+pathAndQuery, nil)
	if err != nil {
		return nil, reason.New(reason.Malformed, "%s: cannot build request", d.Name)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		return nil, d.unreachable(c, stripURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, d.unreachable(c, stripURL(err))
	}
	if len(body) > MaxResponse {
		return nil, reason.New(reason.Malformed, "%s backend %s sent a body over %d bytes", d.Name, c.jur, MaxResponse)
	}
	switch sc := resp.StatusCode; {
	case sc == http.StatusOK:
		return body, nil
	case sc == http.StatusNotFound:
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.ClaimsInvalid, "%s backend %s does not know it: %s", d.Name, c.jur, errorCode(body)), notFound)
	case sc == http.StatusConflict && errorCode(body) == "report_overdue":
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.Expired, "%s backend %s: daily report overdue", d.Name, c.jur), d.ErrReportOverdue)
	case sc == http.StatusTooManyRequests || sc >= 500:
		return nil, d.unreachable(c, fmt.Errorf("HTTP %d", sc))
	case sc >= 400 && sc < 500:
		return nil, fmt.Errorf("%w (%w)", reason.New(reason.Malformed, "%s backend %s refused: HTTP %d %s", d.Name, c.jur, sc, errorCode(body)), d.ErrRefused)
	default:
		return nil, reason.New(reason.Malformed, "%s backend %s: unexpected HTTP %d", d.Name, c.jur, sc)
	}
}

func (d *Dialect) unreachable(c *Conn, cause error) error {
	return fmt.Errorf("%w (%w: %w)", reason.New(reason.IssuerUnreachable, "%s backend %s did not answer", d.Name, c.jur), d.ErrUnavailable, cause)
}

// stripURL drops the request URL from a client error: it carries the
// resident's ID number. The underlying cause (net.OpError,
// context.DeadlineExceeded, …) stays in the chain.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// errorCode extracts the snake_case "error" of an error body, or "".
func errorCode(body []byte) string {
	var eb struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &eb) != nil || len(eb.Error) > 64 {
		return ""
	}
	for i := 0; i < len(eb.Error); i++ {
		if c := eb.Error[i]; !(c >= 'a' && c <= 'z' || c == '_') {
			return ""
		}
	}
	return eb.Error
}
