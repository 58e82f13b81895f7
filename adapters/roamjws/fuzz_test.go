package roamjws

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/jwscompact"
	"github.com/roam-federation/roam/federation/reason"
)

// FuzzVerify is rule 11 for the roam decoder: no input panics, and every
// rejection is a *reason.Error (reason.Of's Malformed fallback must never be
// what names a failure).
func FuzzVerify(f *testing.F) {
	es := goldenKey(f, ES256)
	v := goldenVerifier(f, es)
	a := Adapter{V: v}
	f.Fuzz(func(t *testing.T, in []byte) {
		a.Detect(in)
		for _, verify := range []func([]byte, time.Time) (*adapters.Claims, error){v.Verify, v.VerifyStatus} {
			c, err := verify(in, testAt)
			if err != nil {
				var re *reason.Error
				if !errors.As(err, &re) {
					t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
				}
				if re.Code == "" {
					t.Fatalf("error %v has an empty reason code", err)
				}
				if c != nil {
					t.Fatalf("rejection %v returned claims", err)
				}
				continue
			}
			if c == nil {
				t.Fatal("accepted with nil claims")
			}
			if len(in) > DefaultMaxInput {
				t.Fatalf("accepted %d bytes", len(in))
			}
			if _, err := adapters.ParseColor(string(c.Color)); err != nil {
				t.Fatalf("accepted colour %q", c.Color)
			}
			tok := bytes.TrimPrefix(in, []byte(Prefix))
			if bytes.Count(tok, []byte(".")) != 2 {
				t.Fatalf("accepted %q", in)
			}
			for _, b := range tok {
				if !jwscompact.IsB64URL(b) && b != '.' {
					t.Fatalf("accepted byte 0x%02x", b)
				}
			}
		}
	})
}

// FuzzStrictJSON checks scanStrict and strictUnmarshal never panic, and
// compares them with an oracle built from separate json.Unmarshal calls:
// they accept exactly the valid JSON objects without duplicate keys and
// nested no deeper than maxDepth.
func FuzzStrictJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]json.RawMessage
		err := strictUnmarshal(data, &m, nil)
		// Also drive the claims path, with a top-level key check.
		var c adapters.Claims
		_ = strictUnmarshal(data, &c, func(k string) error {
			if !knownClaims[k] {
				return reason.New(reason.ClaimsInvalid, "unknown claim %q", k)
			}
			return nil
		})

		valid := json.Valid(data)
		isObj := valid && bytes.TrimSpace(data)[0] == '{'
		var dup bool
		var depth int
		if isObj {
			dup, depth = jsonShape(data)
		}
		if err == nil {
			if serr := scanStrict(data, nil); serr != nil {
				t.Fatalf("strictUnmarshal accepted what scanStrict rejects: %v", serr)
			}
			switch {
			case !isObj:
				t.Fatalf("accepted %q: not a valid JSON object", data)
			case dup:
				t.Fatalf("accepted %q: duplicate keys", data)
			case depth > maxDepth:
				t.Fatalf("accepted %q: depth %d", data, depth)
			}
		} else if isObj && !dup && depth <= maxDepth {
			t.Fatalf("rejected %q: %v", data, err)
		}
	})
}

// jsonShape reports whether valid JSON raw has a duplicate object key at any
// depth, and its nesting depth (a scalar is 0, {} is 1). It decodes one
// level at a time with json.Unmarshal and shares no code with scanStrict.
func jsonShape(raw []byte) (dup bool, depth int) {
	raw = bytes.TrimSpace(raw)
	var children []json.RawMessage
	switch raw[0] {
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			panic(err)
		}
		if countKeys(raw) != len(m) {
			dup = true
		}
		for _, v := range m {
			children = append(children, v)
		}
	case '[':
		if err := json.Unmarshal(raw, &children); err != nil {
			panic(err)
		}
	default:
		return false, 0
	}
	for _, ch := range children {
		d, dd := jsonShape(ch)
		dup = dup || d
		depth = max(depth, dd)
	}
	return dup, depth + 1
}

// countKeys counts the members of one JSON object, duplicates included.
func countKeys(raw []byte) int {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		panic(err)
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			panic(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			panic(err)
		}
		n++
	}
	return n
}
