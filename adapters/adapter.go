package adapters

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Color is a health-code colour (DESIGN.md §1).
type Color string

// The three colours. Any other value is rejected with color_unknown (rule 9).
const (
	Green  Color = "green"
	Yellow Color = "yellow"
	Red    Color = "red"
)

// ParseColor returns the Color named by s, or an error for anything but the
// three lower-case colour names.
func ParseColor(s string) (Color, error) {
	switch c := Color(s); c {
	case Green, Yellow, Red:
		return c, nil
	}
	return "", fmt.Errorf("unknown colour %q", s)
}

// Claims are the canonical claims of a roam code (DESIGN.md §4). Times are
// Unix seconds.
type Claims struct {
	Issuer    string `json:"iss"`  // issuer jurisdiction id, GB/T 2260 code
	CodeID    string `json:"jti"`  // 128-bit random, base64url
	Subject   string `json:"sub"`  // pseudonymous keyed hash, never the national ID
	Display   string `json:"disp"` // masked display name, e.g. 张*三
	Color     Color  `json:"color"`
	System    string `json:"sys"` // native code system, e.g. "zhejiang-health-code"
	Version   int64  `json:"ver"` // status version; increases on every colour change
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	Expires   int64  `json:"exp"`

	// Facts of a foreign certificate (EU DCC, SMART Health Card), which has
	// no colour; nil for health codes. Never part of a roam code.
	Facts *Facts `json:"-"`
}

// Facts are a foreign certificate's normalised facts (issue 4 §4), what
// host policies see as facts.*. Kind is "vaccination", "test" or
// "recovery"; a zero time means "not given".
type Facts struct {
	Kind                string
	VaccinationComplete bool
	VaccinationDate     time.Time
	Doses               int64
	TestType            string // "pcr", "rat", or the LOINC code when neither
	TestResult          string // "negative", "positive" or "unknown"
	SampleTime          time.Time
	RecoveryFrom        time.Time
	RecoveryUntil       time.Time
}

// Stage is one decoding or verification stage's result, for Explain: the
// stage name, whether it passed, and the reason code when it did not.
type Stage struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// Staged is an adapter that reports its own stages (foreign formats have
// more than roam's decode/signature/expiry: unprefix, base45, decompress,
// key_usage, schema …). The stages reached are returned even on error.
type Staged interface {
	DecodeStages(ctx context.Context, payload []byte, at time.Time) (*Claims, []Stage, error)
}

// SumDecoder is an adapter that can take the payload's SHA-256 from its
// caller instead of hashing the payload again (roam's verified-code cache
// is keyed by it; the pipeline hashes every payload for its decision log).
// sum must be sha256.Sum256(payload).
type SumDecoder interface {
	DecodeWithSum(ctx context.Context, payload []byte, sum [32]byte, at time.Time) (*Claims, error)
}

// Adapter translates one code format into canonical Claims.
type Adapter interface {
	// Format names the format: "roam", "zhejiang", "beijing".
	Format() string
	// Detect reports whether payload is in this format. It is cheap and does
	// no I/O; it never verifies anything.
	Detect(payload []byte) bool
	// Decode verifies payload as of at and returns its canonical claims.
	// Failures are *reason.Error values carrying a stable reason code.
	Decode(ctx context.Context, payload []byte, at time.Time) (*Claims, error)
}

// NativeStatus is what a provincial backend says about one resident's code,
// in canonical vocabulary. It stays inside the issuing node: the name and the
// resident key are used to derive disp and sub and are never put in a token.
type NativeStatus struct {
	Jurisdiction string    // GB/T 2260 code of the backend
	System       string    // native code system name
	NativeID     string    // the backend's id for this code; used for later status look-ups
	ResidentKey  string    // stable resident identifier (national ID number); secret
	Name         string    // full name; secret
	Color        Color     // mapped into the canonical colours
	Version      int64     // status version; increases on every colour change
	IssuedAt     time.Time // when the backend issued this native code
	ValidUntil   time.Time // when the native code expires
}

// Native is a provincial health-code system reached through its own API.
// Implementations are real HTTP clients (adapters/zhejiang, adapters/beijing).
type Native interface {
	Adapter
	// Jurisdiction is the GB/T 2260 code this backend serves.
	Jurisdiction() string
	// Issue asks the backend for the resident's current native code.
	Issue(ctx context.Context, residentID string) (*NativeStatus, error)
	// Lookup asks the backend for the current status of a native code id.
	Lookup(ctx context.Context, nativeID string) (*NativeStatus, error)
}

// Errors a Native adapter's errors wrap, whatever the backend's dialect, so
// callers branch on them without knowing the adapter.
var (
	// ErrNotFound: the backend does not know the resident or code.
	ErrNotFound = errors.New("not found at the provincial backend")
	// ErrRefused: the backend refused the request (e.g. daily report overdue).
	ErrRefused = errors.New("refused by the provincial backend")
	// ErrUnavailable: the backend could not be reached, timed out or failed.
	ErrUnavailable = errors.New("provincial backend unavailable")
)
