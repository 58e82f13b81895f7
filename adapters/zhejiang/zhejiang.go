package zhejiang

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/backendhttp"
)

const (
	// FormatName is what Format returns.
	FormatName = "zhejiang"
	// System is the native code system name put in Claims.System.
	System = "zhejiang-health-code"
	// PayloadPrefix starts every native QR payload: "ZJHC:<codeId>".
	PayloadPrefix = "ZJHC:"
	// MaxPayload caps a native QR payload, in bytes.
	MaxPayload = backendhttp.MaxPayload
	// MaxResponse caps a backend response body, in bytes (1 MiB).
	MaxResponse = backendhttp.MaxResponse
	// DefaultTimeout bounds every request whose context has no deadline.
	DefaultTimeout = backendhttp.DefaultTimeout
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

// dialect is what backendhttp needs to speak to a zhejiang backend.
var dialect = backendhttp.Dialect{
	Name:          FormatName,
	PayloadPrefix: PayloadPrefix,
	IssuePath:     "/zjhc/v1/codes?idNo=",
	LookupPath:    "/zjhc/v1/codes/",
	ValidCodeID:   validCodeID,
	CodeIDRule:    "16 to 64 characters of A-Z a-z 0-9 - _",
	DecodeBody:    decodeCode,

	ErrUnknownCode: ErrUnknownCode, ErrUnknownResident: ErrUnknownResident,
	ErrReportOverdue: ErrReportOverdue, ErrRefused: ErrRefused, ErrUnavailable: ErrUnavailable,
}

// Option configures an Adapter.
type Option func(*Adapter)

// WithHTTPClient makes the adapter use hc instead of its own client.
func WithHTTPClient(hc *http.Client) Option { return func(a *Adapter) { a.c.HTTPClient = hc } }

// WithTimeout sets the deadline given to requests whose context has none
// (default 2 s). Non-positive values are ignored.
func WithTimeout(d time.Duration) Option {
	return func(a *Adapter) {
		if d > 0 {
			a.c.Timeout = d
		}
	}
}

// WithSystem names the native code system (default System). Provinces
// whose backend speaks this dialect but runs their own product set it, e.g.
// "henan-health-code".
func WithSystem(name string) Option { return func(a *Adapter) { a.c.System = name } }

// Adapter is an adapters.Native for one zhejiang-dialect backend. Safe for
// concurrent use.
type Adapter struct{ c backendhttp.Conn }

var _ adapters.Native = (*Adapter)(nil)

// New returns an adapter for the backend at baseURL (http or https) serving
// jurisdiction (a six-digit GB/T 2260 code).
func New(baseURL, jurisdiction string, opts ...Option) (*Adapter, error) {
	a := &Adapter{c: backendhttp.Conn{Timeout: DefaultTimeout, System: System}}
	for _, o := range opts {
		o(a)
	}
	if err := dialect.Dial(&a.c, baseURL, jurisdiction); err != nil {
		return nil, err
	}
	return a, nil
}

// Format returns "zhejiang".
func (a *Adapter) Format() string { return FormatName }

// Jurisdiction returns the GB/T 2260 code of the backend.
func (a *Adapter) Jurisdiction() string { return a.c.Jurisdiction() }

// CloseIdleConnections closes pooled connections to the backend.
func (a *Adapter) CloseIdleConnections() { a.c.CloseIdleConnections() }

// Detect reports whether payload looks like a native Zhejiang QR payload
// ("ZJHC:" prefix, at most MaxPayload bytes). No I/O, no verification.
func (a *Adapter) Detect(payload []byte) bool { return dialect.Detect(payload) }

// FormatPayload returns the QR payload for a native code id: "ZJHC:<codeId>".
func FormatPayload(nativeID string) string { return PayloadPrefix + nativeID }

// ParsePayload returns the code id of a "ZJHC:<codeId>" payload. Errors
// (*reason.Error): input_too_large over MaxPayload bytes,
// unsupported_format without the prefix, malformed if the id is not 16–64
// characters of the base64url alphabet.
func ParsePayload(payload []byte) (string, error) { return dialect.ParsePayload(payload) }

// Issue asks the backend for a fresh native code for the resident with
// national ID number residentID (18 characters). Errors carry a reason code
// and wrap ErrUnknownResident (404), ErrReportOverdue (409 report_overdue),
// ErrRefused (other 4xx) or ErrUnavailable (unreachable, deadline, 5xx; the
// cause is wrapped too); a bad body is malformed or color_unknown.
func (a *Adapter) Issue(ctx context.Context, residentID string) (*adapters.NativeStatus, error) {
	return dialect.Issue(ctx, &a.c, residentID)
}

// Lookup asks the backend for the current colour and version of native code
// nativeID, with the code's issue time and validity. Errors as for Issue,
// with ErrUnknownCode for a 404; an id outside the code id alphabet is
// malformed and sent nowhere.
func (a *Adapter) Lookup(ctx context.Context, nativeID string) (*adapters.NativeStatus, error) {
	return dialect.Lookup(ctx, &a.c, nativeID)
}

// Decode parses a "ZJHC:<codeId>" payload, looks the code up and returns
// its canonical claims as of at: Issuer is the jurisdiction, CodeID the
// native id, Display the masked name, Subject empty (the issuing node
// derives it), times in Unix seconds with NotBefore = IssuedAt. Errors are
// those of ParsePayload and Lookup, plus expired if at ≥ validUntil.
func (a *Adapter) Decode(ctx context.Context, payload []byte, at time.Time) (*adapters.Claims, error) {
	return dialect.Decode(ctx, &a.c, payload, at)
}
