package beijing

import (
	"testing"

	"github.com/roam-federation/roam/adapters/backendhttp/backendhttptest"
)

// FuzzParsePayload: the payload parser never panics, returns a reason code
// on failure and, on success, an id that round-trips through FormatPayload.
func FuzzParsePayload(f *testing.F) {
	f.Add([]byte("BJJKB:0123456789ABCDEF0123456789ABCDEF"))
	f.Add([]byte("BJJKB:"))
	f.Add([]byte("ZJHC:AAAAAAAAAAAAAAAAAAAAAA"))
	f.Fuzz(backendhttptest.FuzzPayload(suite, validCodeID, (&Adapter{}).Detect))
}

// FuzzDecodeCode: the response body decoder never panics and only accepts
// bodies with a canonical colour, a positive version and ordered times.
func FuzzDecodeCode(f *testing.F) {
	f.Add([]byte(goodBody))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"jkbbh":"0123456789ABCDEF0123456789ABCDEF","jkbbh":"x"}`))
	f.Fuzz(backendhttptest.FuzzBody(decodeCode, validCodeID))
}
