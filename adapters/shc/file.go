package shc

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/roam-federation/roam/federation/reason"
)

// MaxFile caps a .smart-health-card file, in bytes.
const MaxFile = 1 << 20

// ParseFile reads a .smart-health-card file (SMART Health Cards, "via File
// Download"; MIME type application/smart-health-card): a JSON object
// {"verifiableCredential": ["<JWS>", …]}. The JSON is strict: valid UTF-8,
// no duplicate keys, no other members, no trailing data, at least one
// credential, each a non-empty string. It returns the JWS strings, not yet
// verified: pass each to Verifier.Verify. Errors (*reason.Error):
// input_too_large, malformed.
func ParseFile(b []byte) ([]string, error) {
	if len(b) > MaxFile {
		return nil, reason.New(reason.InputTooLarge, "file is %d bytes; the limit is %d", len(b), MaxFile)
	}
	if !utf8.Valid(b) {
		return nil, reason.New(reason.Malformed, ".smart-health-card file is not valid UTF-8")
	}
	var other string
	if err := scanStrict(b, func(k string) {
		if other == "" && k != "verifiableCredential" {
			other = k
		}
	}); err != nil {
		return nil, reason.New(reason.Malformed, ".smart-health-card file: %v", err)
	}
	if other != "" {
		return nil, reason.New(reason.Malformed, ".smart-health-card file: unknown member %q", other)
	}
	var f struct {
		VC []*string `json:"verifiableCredential"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, reason.New(reason.Malformed, ".smart-health-card file: %v", err)
	}
	if len(f.VC) == 0 {
		return nil, reason.New(reason.Malformed, ".smart-health-card file: verifiableCredential holds no credential")
	}
	out := make([]string, len(f.VC))
	for i, s := range f.VC {
		if s == nil || *s == "" {
			return nil, reason.New(reason.Malformed, ".smart-health-card file: verifiableCredential[%d] is not a JWS string", i)
		}
		out[i] = *s
	}
	return out, nil
}
