package shc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/federation/reason"
)

// Adapter is the SMART Health Cards adapters.Adapter: it verifies a card
// and maps its issuer URL to the foreign jurisdiction it is registered to.
type Adapter struct {
	V *Verifier
	// JurisdictionOf maps an issuer URL (iss) to its registered
	// jurisdiction (XX-<ISO 3166>).
	JurisdictionOf func(issuer string) (string, bool)
}

var _ adapters.Staged = Adapter{}

// Format returns "shc".
func (Adapter) Format() string { return "shc" }

// Detect reports a "shc:/" numeric payload.
func (Adapter) Detect(p []byte) bool { return bytes.HasPrefix(p, []byte(Prefix)) }

// Decode verifies the card as of at and returns canonical claims: the
// issuer's jurisdiction, the card's times and its facts (no colour).
func (a Adapter) Decode(ctx context.Context, payload []byte, at time.Time) (*adapters.Claims, error) {
	c, _, err := a.DecodeStages(ctx, payload, at)
	return c, err
}

// DecodeStages is Decode with the verifier's stages.
func (a Adapter) DecodeStages(_ context.Context, payload []byte, at time.Time) (*adapters.Claims, []adapters.Stage, error) {
	r, err := a.V.Verify(payload, at)
	if err != nil {
		return nil, r.Stages, err
	}
	j, ok := a.JurisdictionOf(r.Issuer)
	if !ok {
		return nil, r.Stages, reason.New(reason.UnknownKey, "SMART Health Card issuer %s is not registered to any jurisdiction", r.Issuer)
	}
	sum := sha256.Sum256(payload)
	c := &adapters.Claims{
		Issuer: j, CodeID: base64.RawURLEncoding.EncodeToString(sum[:16]), System: "smart-health-card",
		IssuedAt: r.IssuedAt.Unix(), NotBefore: r.IssuedAt.Unix(), Expires: r.Expires.Unix(), Version: 1,
		Facts: &adapters.Facts{Kind: r.Facts.Kind},
	}
	if r.Expires.IsZero() {
		c.Expires = 0
	}
	if v := r.Facts.Vaccination; v != nil {
		c.Facts.VaccinationComplete, c.Facts.VaccinationDate, c.Facts.Doses = v.Complete, v.Date, int64(v.Doses)
	}
	if t := r.Facts.Test; t != nil {
		c.Facts.TestType, c.Facts.TestResult, c.Facts.SampleTime = testType(t.Type), t.Result, t.SampleTime
	}
	return c, r.Stages, nil
}

// testType names common SARS-CoV-2 LOINC codes: molecular (PCR) or antigen.
func testType(loinc string) string {
	switch loinc {
	case "94309-2", "94500-6", "94533-7", "94534-5", "94759-8":
		return "pcr"
	case "94558-4", "95209-3", "94763-0", "97097-0":
		return "rat"
	}
	return loinc
}
