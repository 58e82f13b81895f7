package provsim

import (
	"fmt"
	"time"

	"github.com/roam-federation/roam/federation/clock"
)

// The two code API dialects a backend can speak.
const (
	// DialectZhejiang is the colour dialect: GET /zjhc/v1/codes…
	DialectZhejiang = "zhejiang"
	// DialectBeijing is the Jing-Jin-Ji status dialect: GET /bjjkb/api/v1/jkb…
	DialectBeijing = "beijing"
)

// DefaultCodeTTL is how long an issued native code is valid at most
// (7 days), before the report-based limit is applied.
const DefaultCodeTTL = 168 * time.Hour

// Config configures a simulated backend.
type Config struct {
	// Jurisdiction is the GB/T 2260 six-digit code the backend serves, e.g. "330000".
	Jurisdiction string
	// Dialect is DialectZhejiang or DialectBeijing. See DialectFor.
	Dialect string
	// DBPath is the bbolt file; it is created if missing.
	DBPath string
	// Clock gives the current time. Required (use clock.Real{} for wall time).
	Clock clock.Clock
	// CodeTTL is the longest validity of an issued code. Zero means DefaultCodeTTL.
	CodeTTL time.Duration
}

// DialectFor returns the code API dialect a jurisdiction's backend speaks:
// DialectBeijing for Beijing (110000), Tianjin (120000) and Hebei (130000),
// which shared the Jing-Jin-Ji status vocabulary, DialectZhejiang otherwise.
func DialectFor(jurisdiction string) string {
	switch jurisdiction {
	case "110000", "120000", "130000":
		return DialectBeijing
	}
	return DialectZhejiang
}

// ConfigError is the error Config.Validate returns: the bad field, its
// value, what is wrong and how to fix it. Callers with another vocabulary
// (roamd's flags) can re-word it from Field, Value and Problem.
type ConfigError struct {
	Field   string // Go field name: Jurisdiction, Dialect, DBPath, Clock or CodeTTL
	Value   string // the bad value, formatted (quoted for strings); "" if empty or nil
	Problem string // e.g. "is not a GB/T 2260 code"
	Fix     string // e.g. `set six digits, e.g. "330000"`
}

func (e *ConfigError) Error() string {
	v := ""
	if e.Value != "" {
		v = e.Value + " "
	}
	return "provsim config: " + e.Field + " " + v + e.Problem + ": " + e.Fix
}

// Validate reports the first bad field as a *ConfigError, naming it and the
// fix. It does not modify cfg; New applies defaults.
func (c Config) Validate() error {
	if !isDivisionCode(c.Jurisdiction) {
		return &ConfigError{"Jurisdiction", fmt.Sprintf("%q", c.Jurisdiction), "is not a GB/T 2260 code", `set six digits, e.g. "330000"`}
	}
	switch c.Dialect {
	case DialectZhejiang, DialectBeijing:
	default:
		return &ConfigError{"Dialect", fmt.Sprintf("%q", c.Dialect), "is unknown",
			fmt.Sprintf("set %q or %q (DialectFor(%q) = %q)", DialectZhejiang, DialectBeijing, c.Jurisdiction, DialectFor(c.Jurisdiction))}
	}
	if c.DBPath == "" {
		return &ConfigError{"DBPath", "", "is empty", "set the path of the bbolt file to keep residents in"}
	}
	if c.Clock == nil {
		return &ConfigError{"Clock", "", "is nil", "set clock.Real{} or a *clock.Sim"}
	}
	if c.CodeTTL < 0 {
		return &ConfigError{"CodeTTL", c.CodeTTL.String(), "is negative", fmt.Sprintf("set a positive duration or 0 for the default %v", DefaultCodeTTL)}
	}
	if c.CodeTTL != 0 && c.CodeTTL < time.Minute {
		return &ConfigError{"CodeTTL", c.CodeTTL.String(), "is under a minute", fmt.Sprintf("set at least 1m or 0 for the default %v", DefaultCodeTTL)}
	}
	return nil
}

func isDivisionCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
