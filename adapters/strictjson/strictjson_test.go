package strictjson

import (
	"errors"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	errTop := errors.New("top refused")
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"object", `{"a":1,"b":[1,{"c":2}]}`, true},
		{"duplicate top key", `{"a":1,"a":2}`, false},
		{"duplicate nested key", `{"a":{"b":1,"b":2}}`, false},
		{"duplicate via escape", `{"color":1,"\u0063olor":2}`, false},
		{"array", `[1]`, false},
		{"trailing data", `{} {}`, false},
		{"too deep", strings.Repeat(`{"a":`, 5) + `1` + strings.Repeat(`}`, 5), false},
		{"deep arrays", `{"a":[[[[[1]]]]]}`, false},
		{"truncated", `{"a":`, false},
		{"top callback refuses", `{"x":1}`, false},
		{"top callback sees top-level keys only", `{"a":{"x":1}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Scan([]byte(tc.in), 4, func(k string) error {
				if k == "x" {
					return errTop
				}
				return nil
			})
			if (err == nil) != tc.ok {
				t.Fatalf("Scan(%s) = %v", tc.in, err)
			}
			if tc.name == "top callback refuses" && !errors.Is(err, errTop) {
				t.Fatalf("callback error not returned as is: %v", err)
			}
		})
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":2}]}`))
	f.Add([]byte(`{"a":1,"a":2}`))
	f.Fuzz(func(t *testing.T, b []byte) { _ = Scan(b, 16, nil) })
}
