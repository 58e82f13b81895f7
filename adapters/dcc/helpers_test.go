package dcc

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/roam-federation/roam/federation/reason"
)

// trustMap is a TrustList keyed by hex kid.
type trustMap map[string][]*x509.Certificate

func (m trustMap) DSCs(kid []byte) []*x509.Certificate { return m[hex.EncodeToString(kid)] }

// add registers dsc under its HCERT kid.
func (m trustMap) add(dsc *x509.Certificate) trustMap {
	return m.addAs(Kid(dsc), dsc)
}

// addAs registers dsc under an arbitrary kid (collision tests).
func (m trustMap) addAs(kid []byte, dsc *x509.Certificate) trustMap {
	k := hex.EncodeToString(kid)
	m[k] = append(m[k], dsc)
	return m
}

// stage returns the named stage of r, or nil if not reached.
func (r *Result) stage(name string) *Stage {
	for i := range r.Stages {
		if r.Stages[i].Name == name {
			return &r.Stages[i]
		}
	}
	return nil
}

// wantCode asserts err is a *reason.Error with code c.
func wantCode(t testing.TB, err error, c reason.Code) {
	t.Helper()
	var re *reason.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *reason.Error, want %s", err, err, c)
	}
	if re.Code != c {
		t.Fatalf("reason %s (%v), want %s", re.Code, err, c)
	}
}
