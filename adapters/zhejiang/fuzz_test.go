package zhejiang

import (
	"testing"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// FuzzParsePayload: the payload parser never panics, returns a reason code
// on failure and, on success, an id that round-trips through FormatPayload.
func FuzzParsePayload(f *testing.F) {
	f.Add([]byte("ZJHC:AAAAAAAAAAAAAAAAAAAAAA"))
	f.Add([]byte("ZJHC:"))
	f.Add([]byte("BJJKB:0123456789ABCDEF0123456789ABCDEF"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		id, err := ParsePayload(payload)
		if err != nil {
			var re *reason.Error
			if !asReason(err, &re) {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if !validCodeID(id) || FormatPayload(id) != string(payload) {
			t.Fatalf("accepted %q as id %q", payload, id)
		}
		if !(&Adapter{}).Detect(payload) {
			t.Fatalf("parsed but not detected: %q", payload)
		}
	})
}

// FuzzDecodeCode: the response body decoder never panics and only accepts
// bodies with a canonical colour, a positive version and ordered times.
func FuzzDecodeCode(f *testing.F) {
	f.Add([]byte(goodBody))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"codeId":"AAAAAAAAAAAAAAAAAAAAAA","codeId":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		st, err := decodeCode(body)
		if err != nil {
			var re *reason.Error
			if !asReason(err, &re) {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if _, err := adapters.ParseColor(string(st.Color)); err != nil {
			t.Fatalf("accepted colour %q", st.Color)
		}
		if st.Version < 1 || !st.ValidUntil.After(st.IssuedAt) || !validCodeID(st.NativeID) || !validIDNumber(st.ResidentKey) {
			t.Fatalf("accepted %+v", st)
		}
	})
}

func asReason(err error, re **reason.Error) bool {
	e, ok := err.(*reason.Error)
	*re = e
	return ok
}
