package shc

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/reason"
)

// vectorAt is inside the validity of the specification's example cards
// (nbf 2021-06-01, no exp).
var vectorAt = time.Date(2021, 9, 1, 0, 0, 0, 0, time.UTC)

// TestVectors runs the public sample vectors (testdata/vectors/README.md).
func TestVectors(t *testing.T) {
	v := &Verifier{Keys: specStore(t)}
	for _, tc := range []struct {
		file  string
		code  []reason.Code // acceptable codes; nil: verifies
		stage string        // failing stage
	}{
		{file: "valid-example-00.jws"},
		{"test-example-00-d-jws-der-signature.txt", []reason.Code{reason.SignatureFormat}, StageSignature},
		{"test-example-00-d-jws-invalid-signature.txt", []reason.Code{reason.SignatureInvalid}, StageSignature},
		{"test-example-00-d-jws-no_jws_header_kid.txt", []reason.Code{reason.KidMissing}, StageDecode},
		{"test-example-00-e-file-invalid_deflate.smart-health-card", []reason.Code{reason.Malformed, reason.DecompressLimit}, StageDecompress},
		{"test-example-00-f-qr-code-numeric-value-0-wrong_qr_header.txt", []reason.Code{reason.Malformed, reason.UnsupportedFormat}, StageUnprefix},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in := readVector(t, tc.file)
			payloads := [][]byte{in}
			if len(in) > 0 && in[0] == '{' {
				jws, err := ParseFile(in)
				if err != nil {
					t.Fatalf("ParseFile: %v", err)
				}
				payloads = payloads[:0]
				for _, j := range jws {
					payloads = append(payloads, []byte(j))
				}
			}
			for _, p := range payloads {
				r, err := v.Verify(p, vectorAt)
				if r == nil {
					t.Fatal("nil Result")
				}
				if tc.code == nil {
					if err != nil {
						t.Fatalf("Verify: %v (stages %+v)", err, r.Stages)
					}
					checkSpecExample(t, r)
					// The same card as numeric QR content.
					r2, err := v.Verify([]byte(JWSToNumeric(string(p))), vectorAt)
					if err != nil {
						t.Fatalf("numeric form: %v", err)
					}
					if r2.Facts.Vaccination == nil || r2.Facts.Vaccination.Doses != 2 {
						t.Fatalf("numeric form facts %+v", r2.Facts)
					}
					continue
				}
				var re *reason.Error
				if !errors.As(err, &re) {
					t.Fatalf("error %v (%T) is not a *reason.Error", err, err)
				}
				if !slices.Contains(tc.code, re.Code) {
					t.Fatalf("code %s (%v), want one of %v", re.Code, err, tc.code)
				}
				last := r.Stages[len(r.Stages)-1]
				if last.Name != tc.stage || last.OK || last.Reason != string(re.Code) {
					t.Fatalf("last stage %+v, want %s failed with %s", last, tc.stage, re.Code)
				}
				t.Logf("%s: %v", tc.stage, err)
			}
		})
	}
}

func checkSpecExample(t *testing.T, r *Result) {
	t.Helper()
	if r.Issuer != specIssuer || r.Kid != "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s" {
		t.Fatalf("iss %q kid %q", r.Issuer, r.Kid)
	}
	if want := time.Unix(1622578753, 170e6).UTC(); !r.IssuedAt.Equal(want) {
		t.Fatalf("IssuedAt %v, want %v", r.IssuedAt, want)
	}
	if !r.Expires.IsZero() {
		t.Fatalf("Expires %v, want zero", r.Expires)
	}
	var names []string
	for _, s := range r.Stages {
		if !s.OK || s.Reason != "" {
			t.Fatalf("stage %+v", s)
		}
		names = append(names, s.Name)
	}
	if want := []string{"unprefix", "decode", "decompress", "decode", "signature", "expiry"}; !slices.Equal(names, want) {
		t.Fatalf("stages %v, want %v", names, want)
	}
	f := r.Facts
	if f.Kind != "vaccination" || f.Test != nil || f.Vaccination == nil {
		t.Fatalf("facts %+v", f)
	}
	want := Vaccination{Doses: 2, Complete: true, Date: time.Date(2021, 1, 29, 0, 0, 0, 0, time.UTC), Product: "207"}
	if *f.Vaccination != want {
		t.Fatalf("vaccination %+v, want %+v", *f.Vaccination, want)
	}
}

// TestVectorKeys checks the example JWKS registers both keys under their
// thumbprints, and only for the example issuer.
func TestVectorKeys(t *testing.T) {
	s := specStore(t)
	for _, kid := range []string{"3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s", "EBKOr72QQDcTBUuVzAzkfBTGew0ZA16GuWty64nS-sw"} {
		if _, ok := s.Key(specIssuer, kid); !ok {
			t.Fatalf("kid %s not registered", kid)
		}
		if _, ok := s.Key(issA, kid); ok {
			t.Fatalf("kid %s registered for another issuer", kid)
		}
	}
	// Valid example, verified as if its kid belonged to another issuer.
	v := &Verifier{Keys: s}
	tok := readVector(t, "valid-example-00.jws")
	other := &TrustStore{}
	if err := other.AddJWKS(issA, readVector(t, "issuer-jwks.json")); err != nil {
		t.Fatal(err)
	}
	v.Keys = other
	_, err := v.Verify(tok, vectorAt)
	if reason.Of(err) != reason.KeyIssuerMismatch {
		t.Fatalf("got %v, want key_issuer_mismatch", err)
	}
}
