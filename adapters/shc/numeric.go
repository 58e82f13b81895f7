package shc

import (
	"strings"

	"github.com/roam-federation/roam/federation/reason"
)

// Prefix is the QR content prefix of a SMART Health Card (the IANA-registered
// "shc" URI scheme).
const Prefix = "shc:/"

// NumericToJWS decodes numeric QR content into the compact JWS it carries
// (SMART Health Cards, "Encoding QRs"): after "shc:/", each pair of decimal
// digits NN (00 to 77) is the character with code NN+45, so "56" is 'e'.
//
// Multi-chunk content ("shc:/C/N/…", deprecated since SHC 1.3.0) is rejected
// with unsupported_format; a missing or wrong "shc:/" header, an odd number of
// digits, a non-digit or a pair above 77 is malformed. Errors are
// *reason.Error. The result is not checked to be a JWS.
func NumericToJWS(s string) (string, error) {
	body, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return "", reason.New(reason.Malformed, "wrong QR header: numeric content starts with %q", Prefix)
	}
	if i := strings.IndexByte(body, '/'); i >= 0 {
		if isDigits(body[:i]) && i > 0 {
			return "", reason.New(reason.UnsupportedFormat, "multi-chunk QR content (%q…, deprecated in SHC 1.3.0) is not supported; present the card as one QR or a .smart-health-card file", Prefix+body[:i]+"/")
		}
		return "", reason.New(reason.Malformed, "numeric QR content holds '/' at digit %d", i)
	}
	if body == "" {
		return "", reason.New(reason.Malformed, "numeric QR content is empty after %q", Prefix)
	}
	if len(body)%2 != 0 {
		return "", reason.New(reason.Malformed, "numeric QR content has %d digits; digits come in pairs", len(body))
	}
	out := make([]byte, len(body)/2)
	for i := 0; i < len(body); i += 2 {
		a, b := body[i], body[i+1]
		if !isDigit(a) || !isDigit(b) {
			return "", reason.New(reason.Malformed, "numeric QR content holds a non-digit at digit %d", i)
		}
		n := int(a-'0')*10 + int(b-'0')
		if n > 77 {
			return "", reason.New(reason.Malformed, "digit pair %q at digit %d is above 77", body[i:i+2], i)
		}
		out[i/2] = byte(n + 45)
	}
	return string(out), nil
}

// JWSToNumeric encodes a compact JWS as numeric QR content, the inverse of
// NumericToJWS: "shc:/" then each character c as the two digits of c-45. It
// returns "" if tok holds a character outside '-' to 'z'.
func JWSToNumeric(tok string) string {
	var b strings.Builder
	b.Grow(len(Prefix) + 2*len(tok))
	b.WriteString(Prefix)
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 45 || c > 45+77 {
			return ""
		}
		n := c - 45
		b.WriteByte('0' + n/10)
		b.WriteByte('0' + n%10)
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
