package shc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/reason"
)

// FuzzNumeric is DESIGN.md §4 rule 11 for the numeric QR decoder: no input
// panics, every rejection is a *reason.Error, and what is accepted
// round-trips through JWSToNumeric.
func FuzzNumeric(f *testing.F) {
	for _, s := range []string{"shc:/5676", "shc:/567", "shc:/5678", "shc:/1/2/5676", "shc:/", "shc:5676", "shc:/0077", "shc:/56a6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NumericToJWS(s)
		if err != nil {
			var re *reason.Error
			if !errors.As(err, &re) || re.Code == "" {
				t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
			}
			if out != "" {
				t.Fatalf("rejection %v returned %q", err, out)
			}
			return
		}
		if len(out)*2+len(Prefix) != len(s) {
			t.Fatalf("%d digits gave %d characters", len(s)-len(Prefix), len(out))
		}
		if back := JWSToNumeric(out); back != s {
			t.Fatalf("round trip %q → %q → %q", s, out, back)
		}
	})
}

// FuzzVerify is rule 11 for the whole verifier and ParseFile: no input
// panics, every rejection is a *reason.Error naming a failed last stage,
// and an accepted card passed every stage.
func FuzzVerify(f *testing.F) {
	k := newTestKey(f)
	store := &TrustStore{}
	if err := store.AddJWKS(issA, k.jwks()); err != nil {
		f.Fatal(err)
	}
	if err := store.AddJWKS(specIssuer, readVector(f, "issuer-jwks.json")); err != nil {
		f.Fatal(err)
	}
	v := &Verifier{Keys: store}
	good := k.card(f, claimsJSON(issA, genAt.Add(-time.Hour).Unix(), 0, "", vaxBundle))
	for _, s := range []string{good, JWSToNumeric(good), good + "\n", strings.ToUpper(good[:3]) + good[3:]} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, at := range []time.Time{genAt, vectorAt} {
			r, err := v.Verify(in, at)
			if r == nil {
				t.Fatal("nil Result")
			}
			if err != nil {
				var re *reason.Error
				if !errors.As(err, &re) || re.Code == "" {
					t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
				}
				if len(r.Stages) == 0 || r.Stages[len(r.Stages)-1].OK || r.Stages[len(r.Stages)-1].Reason != string(re.Code) {
					t.Fatalf("stages %+v for %v", r.Stages, err)
				}
				if r.Facts.Kind != "" {
					t.Fatalf("rejection %v has facts", err)
				}
				continue
			}
			if len(r.Stages) != 6 || r.Issuer == "" || r.Kid == "" || r.IssuedAt.IsZero() {
				t.Fatalf("accepted with result %+v", r)
			}
			if len(in) > DefaultMaxInput {
				t.Fatalf("accepted %d bytes", len(in))
			}
		}
		jws, err := ParseFile(in)
		if err != nil {
			var re *reason.Error
			if !errors.As(err, &re) || re.Code == "" {
				t.Fatalf("ParseFile error %v (%T) is not a *reason.Error", err, err)
			}
		} else if len(jws) == 0 {
			t.Fatal("ParseFile accepted no credential")
		}
	})
}
