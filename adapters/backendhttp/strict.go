package backendhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/roam-federation/roam/federation/reason"
)

// DecodeStrict decodes body into v, which must be exactly one JSON object
// whose keys are all in fields, each present exactly once (keys compared
// after unescaping, case-sensitively), with nothing after it, and at most
// MaxResponse bytes. Errors are malformed, quoting what ("zhejiang code
// body").
func DecodeStrict(body []byte, fields []string, v any, what string) error {
	if len(body) > MaxResponse {
		return reason.New(reason.Malformed, "%s over %d bytes", what, MaxResponse)
	}
	if err := strictObject(body, fields); err != nil {
		return reason.New(reason.Malformed, "%s: %v", what, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return reason.New(reason.Malformed, "%s: %v", what, err)
	}
	return nil
}

func strictObject(body []byte, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if !slices.Contains(fields, key) {
			return fmt.Errorf("unknown field %q", Clip(key))
		}
		if seen[key] {
			return fmt.Errorf("duplicate field %q", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	for _, f := range fields {
		if !seen[f] {
			return fmt.Errorf("missing field %q", f)
		}
	}
	return nil
}

// Clip shortens attacker-controlled text quoted in an error.
func Clip(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return s
}

// ValidIDNumber reports whether s looks like a national ID number: 17
// digits then a digit or X.
func ValidIDNumber(s string) bool {
	return len(s) == 18 && isDigits(s[:17], 17) && (s[17] == 'X' || (s[17] >= '0' && s[17] <= '9'))
}

// ValidCodeID reports whether s is 16 to 64 characters of A-Z a-z 0-9 and
// of extra (e.g. "-_" for the base64url alphabet).
func ValidCodeID(s, extra string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// ValidName reports whether s is a holder's name: 1 to 64 characters of
// UTF-8.
func ValidName(s string) bool {
	return s != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) <= 64
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
