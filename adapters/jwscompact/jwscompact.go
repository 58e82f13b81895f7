package jwscompact

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/roam-federation/roam/federation/reason"
)

// Parts is a compact JWS split at its dots.
type Parts struct {
	Header       []byte // the decoded protected header (JSON, valid UTF-8)
	Payload      []byte // the payload as presented (base64url, not decoded)
	Signature    []byte // the signature as presented (base64url, not decoded)
	SigningInput []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload)), RFC 7515 §5.2
}

// Split checks tok (no prefix) as a compact JWS and splits it. Errors, all
// *reason.Error: serialization_not_compact (JSON serialization, or not three
// dot-separated parts), malformed (a byte outside the base64url alphabet, a
// header that is not strict base64url or not UTF-8).
func Split(tok []byte) (Parts, error) {
	if t := bytes.TrimLeft(tok, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return Parts{}, reason.New(reason.SerializationNotCompact, "JSON serialization is not accepted; present the compact form")
	}
	for i, c := range tok {
		if !IsB64URL(c) && c != '.' {
			return Parts{}, reason.New(reason.Malformed, "byte %d (0x%02x) is outside the base64url alphabet", i, c)
		}
	}
	parts := bytes.Split(tok, []byte("."))
	if len(parts) != 3 {
		return Parts{}, reason.New(reason.SerializationNotCompact, "compact JWS has 3 dot-separated parts, got %d", len(parts))
	}
	hb, err := Decode(parts[0])
	if err != nil {
		return Parts{}, reason.New(reason.Malformed, "header: %v", err)
	}
	if !utf8.Valid(hb) {
		return Parts{}, reason.New(reason.Malformed, "header is not valid UTF-8")
	}
	return Parts{
		Header:       hb,
		Payload:      parts[1],
		Signature:    parts[2],
		SigningInput: tok[:len(parts[0])+1+len(parts[1])],
	}, nil
}

// IsB64URL reports whether c is in the base64url alphabet (RFC 4648 §5),
// without padding.
func IsB64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Decode decodes strict unpadded base64url (RFC 7515 §2): no padding, no
// whitespace, no non-zero trailing bits.
func Decode(p []byte) ([]byte, error) {
	out := make([]byte, base64.RawURLEncoding.DecodedLen(len(p)))
	n, err := base64.RawURLEncoding.Strict().Decode(out, p)
	if err != nil {
		return nil, fmt.Errorf("not base64url: %w", err)
	}
	return out[:n], nil
}
