package zhejiang

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

const (
	// FormatName is what Format returns.
	FormatName = "zhejiang"
	// System is the native code system name put in Claims.System.
	System = "zhejiang-health-code"
	// PayloadPrefix starts every native QR payload: "ZJHC:<codeId>".
	PayloadPrefix = "ZJHC:"
	// MaxPayload caps a native QR payload, in bytes.
	MaxPayload = 128
	// MaxResponse caps a backend response body, in bytes (1 MiB).
	MaxResponse = 1 << 20
	// DefaultTimeout bounds every request whose context has no deadline.
	DefaultTimeout = 2 * time.Second
)

// Sentinel errors callers branch on. Every error from Issue, Lookup and
// Decode also carries a *reason.Error (see reason.Of).
var (
	// ErrUnknownCode: the backend answered 404 to a code look-up.
	ErrUnknownCode = fmt.Errorf("zhejiang: unknown code: %w", adapters.ErrNotFound)
	// ErrUnknownResident: the backend answered 404 to an issue request.
	ErrUnknownResident = fmt.Errorf("zhejiang: unknown resident: %w", adapters.ErrNotFound)
	// ErrReportOverdue: the resident must file a daily report before a code is issued.
	ErrReportOverdue = fmt.Errorf("zhejiang: daily report overdue: %w", adapters.ErrRefused)
	// ErrRefused: the backend refused the request (other 4xx).
	ErrRefused = fmt.Errorf("zhejiang: backend refused the request: %w", adapters.ErrRefused)
	// ErrUnavailable: the backend could not be reached, timed out or answered 5xx.
	ErrUnavailable = fmt.Errorf("zhejiang: backend unavailable: %w", adapters.ErrUnavailable)
)

// Option configures an Adapter.
type Option func(*Adapter)

// WithHTTPClient makes the adapter use hc instead of its own client.
func WithHTTPClient(hc *http.Client) Option { return func(a *Adapter) { a.hc = hc } }

// WithTimeout sets the deadline given to requests whose context has none
// (default 2 s). Non-positive values are ignored.
func WithTimeout(d time.Duration) Option {
	return func(a *Adapter) {
		if d > 0 {
			a.timeout = d
		}
	}
}

// WithSystem names the native code system (default System). Provinces
// whose backend speaks this dialect but runs their own product set it, e.g.
// "henan-health-code".
func WithSystem(name string) Option { return func(a *Adapter) { a.sys = name } }

// Adapter is an adapters.Native for one zhejiang-dialect backend. Safe for
// concurrent use.
type Adapter struct {
	base    string // scheme://host[:port][/prefix], no trailing slash
	jur     string
	hc      *http.Client
	timeout time.Duration
	sys     string // code system name put in Claims.System and NativeStatus.System
}

var _ adapters.Native = (*Adapter)(nil)

// New returns an adapter for the backend at baseURL (http or https) serving
// jurisdiction (a six-digit GB/T 2260 code).
func New(baseURL, jurisdiction string, opts ...Option) (*Adapter, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("zhejiang: base URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	if !isDigits(jurisdiction, 6) {
		return nil, fmt.Errorf("zhejiang: jurisdiction %q: want a six-digit GB/T 2260 code", jurisdiction)
	}
	a := &Adapter{base: strings.TrimRight(u.String(), "/"), jur: jurisdiction, timeout: DefaultTimeout, sys: System}
	for _, o := range opts {
		o(a)
	}
	if a.hc == nil {
		a.hc = &http.Client{
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
	return a, nil
}

// Format returns "zhejiang".
func (a *Adapter) Format() string { return FormatName }

// Jurisdiction returns the GB/T 2260 code of the backend.
func (a *Adapter) Jurisdiction() string { return a.jur }

// CloseIdleConnections closes pooled connections to the backend.
func (a *Adapter) CloseIdleConnections() { a.hc.CloseIdleConnections() }

// Detect reports whether payload looks like a native Zhejiang QR payload
// ("ZJHC:" prefix, at most MaxPayload bytes). No I/O, no verification.
func (a *Adapter) Detect(payload []byte) bool {
	return len(payload) <= MaxPayload && bytes.HasPrefix(payload, []byte(PayloadPrefix))
}

// FormatPayload returns the QR payload for a native code id: "ZJHC:<codeId>".
func FormatPayload(nativeID string) string { return PayloadPrefix + nativeID }

// ParsePayload returns the code id of a "ZJHC:<codeId>" payload. Errors
// (*reason.Error): input_too_large over MaxPayload bytes,
// unsupported_format without the prefix, malformed if the id is not 16–64
// characters of the base64url alphabet.
func ParsePayload(payload []byte) (string, error) {
	if len(payload) > MaxPayload {
		return "", reason.New(reason.InputTooLarge, "zhejiang payload is %d bytes; at most %d allowed", len(payload), MaxPayload)
	}
	if !bytes.HasPrefix(payload, []byte(PayloadPrefix)) {
		return "", reason.New(reason.UnsupportedFormat, "not a zhejiang payload: want prefix %q", PayloadPrefix)
	}
	id := string(payload[len(PayloadPrefix):])
	if !validCodeID(id) {
		return "", reason.New(reason.Malformed, "zhejiang code id must be 16 to 64 characters of A-Z a-z 0-9 - _")
	}
	return id, nil
}

// Issue asks the backend for a fresh native code for the resident with
// national ID number residentID (18 characters). Errors carry a reason code
// and wrap ErrUnknownResident (404), ErrReportOverdue (409 report_overdue),
// ErrRefused (other 4xx) or ErrUnavailable (unreachable, deadline, 5xx; the
// cause is wrapped too); a bad body is malformed or color_unknown.
func (a *Adapter) Issue(ctx context.Context, residentID string) (*adapters.NativeStatus, error) {
	if !validIDNumber(residentID) {
		return nil, reason.New(reason.Malformed, "resident id must be 18 characters: 17 digits then a digit or X")
	}
	body, err := a.get(ctx, "/zjhc/v1/codes?idNo="+url.QueryEscape(residentID), ErrUnknownResident)
	if err != nil {
		return nil, err
	}
	st, err := a.decode(body)
	if err != nil {
		return nil, err
	}
	if st.ResidentKey != residentID {
		return nil, reason.New(reason.Malformed, "zhejiang backend %s answered for another resident", a.jur)
	}
	return st, nil
}

// Lookup asks the backend for the current colour and version of native code
// nativeID, with the code's issue time and validity. Errors as for Issue,
// with ErrUnknownCode for a 404; an id outside the code id alphabet is
// malformed and sent nowhere.
func (a *Adapter) Lookup(ctx context.Context, nativeID string) (*adapters.NativeStatus, error) {
	if !validCodeID(nativeID) {
		return nil, reason.New(reason.Malformed, "zhejiang code id must be 16 to 64 characters of A-Z a-z 0-9 - _")
	}
	body, err := a.get(ctx, "/zjhc/v1/codes/"+url.PathEscape(nativeID), ErrUnknownCode)
	if err != nil {
		return nil, err
	}
	st, err := a.decode(body)
	if err != nil {
		return nil, err
	}
	if st.NativeID != nativeID {
		return nil, reason.New(reason.Malformed, "zhejiang backend %s answered for another code", a.jur)
	}
	return st, nil
}

// Decode parses a "ZJHC:<codeId>" payload, looks the code up and returns
// its canonical claims as of at: Issuer is the jurisdiction, CodeID the
// native id, Display the masked name, Subject empty (the issuing node
// derives it), times in Unix seconds with NotBefore = IssuedAt. Errors are
// those of ParsePayload and Lookup, plus expired if at ≥ validUntil.
func (a *Adapter) Decode(ctx context.Context, payload []byte, at time.Time) (*adapters.Claims, error) {
	id, err := ParsePayload(payload)
	if err != nil {
		return nil, err
	}
	st, err := a.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if !at.Before(st.ValidUntil) {
		return nil, reason.New(reason.Expired, "zhejiang code expired at %s", st.ValidUntil.UTC().Format(time.RFC3339))
	}
	return &adapters.Claims{
		Issuer:    a.jur,
		CodeID:    st.NativeID,
		Display:   adapters.MaskName(st.Name),
		Color:     st.Color,
		System:    a.sys,
		Version:   st.Version,
		IssuedAt:  st.IssuedAt.Unix(),
		NotBefore: st.IssuedAt.Unix(),
		Expires:   st.ValidUntil.Unix(),
	}, nil
}

func (a *Adapter) decode(body []byte) (*adapters.NativeStatus, error) {
	st, err := decodeCode(body)
	if err != nil {
		return nil, err
	}
	st.Jurisdiction = a.jur
	st.System = a.sys
	return st, nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validIDNumber(s string) bool {
	return len(s) == 18 && isDigits(s[:17], 17) && (s[17] == 'X' || (s[17] >= '0' && s[17] <= '9'))
}

func validCodeID(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
