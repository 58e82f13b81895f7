package dcc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"github.com/roam-federation/roam/federation/reason"
)

// TestDSCValidityWindow: a DSC signs only within its own validity; an
// expired or not-yet-valid DSC gets key_not_valid_at_iat (found by review).
func TestDSCValidityWindow(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iat := time.Date(2021, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		from, until time.Time
		want        reason.Code
	}{
		{"valid", iat.AddDate(0, -1, 0), iat.AddDate(1, 0, 0), ""},
		{"expired DSC", iat.AddDate(-2, 0, 0), iat.AddDate(-1, 0, 0), reason.KeyNotValidAtIat},
		{"not yet valid DSC", iat.AddDate(1, 0, 0), iat.AddDate(2, 0, 0), reason.KeyNotValidAtIat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is, err := NewCertIssuer("AT", key, tc.from, tc.until)
			if err != nil {
				t.Fatal(err)
			}
			code, err := is.Vaccination(iat, iat.AddDate(1, 0, 0), 2, 2, iat.AddDate(0, 0, -30))
			if err != nil {
				t.Fatal(err)
			}
			_, err = (&Verifier{Trust: trustMap{}.add(is.DSC)}).Verify([]byte(code), iat.AddDate(0, 0, 10))
			if got := reason.Code(""); err != nil {
				got = reason.Of(err)
				if got != tc.want {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
			} else if tc.want != "" {
				t.Fatalf("accepted, want %s", tc.want)
			}
		})
	}
}
