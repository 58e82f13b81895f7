package zhejiang

import (
	"testing"

	"github.com/roam-federation/roam/adapters/backendhttp/backendhttptest"
)

// FuzzParsePayload: the payload parser never panics, returns a reason code
// on failure and, on success, an id that round-trips through FormatPayload.
func FuzzParsePayload(f *testing.F) {
	f.Add([]byte("ZJHC:AAAAAAAAAAAAAAAAAAAAAA"))
	f.Add([]byte("ZJHC:"))
	f.Add([]byte("BJJKB:0123456789ABCDEF0123456789ABCDEF"))
	f.Fuzz(backendhttptest.FuzzPayload(suite, validCodeID, (&Adapter{}).Detect))
}

// FuzzDecodeCode: the response body decoder never panics and only accepts
// bodies with a canonical colour, a positive version and ordered times.
func FuzzDecodeCode(f *testing.F) {
	f.Add([]byte(goodBody))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"codeId":"AAAAAAAAAAAAAAAAAAAAAA","codeId":"x"}`))
	f.Fuzz(backendhttptest.FuzzBody(decodeCode, validCodeID))
}
