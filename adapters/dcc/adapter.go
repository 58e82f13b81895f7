package dcc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/roam-federation/roam/adapters"
)

// Registry is what the adapter needs of the trust registry: the DSCs by
// kid, and the jurisdiction each DSC is registered to.
type Registry interface {
	TrustList
	DSCJurisdiction(der []byte) (string, bool)
}

// Adapter is the EU DCC adapters.Adapter. Beyond Verifier, it binds the
// DSC to the claimed issuer: a certificate signed by one country's DSC but
// claiming another country is rejected (key_issuer_mismatch), as DESIGN.md
// §4 rule 4 binds kid to iss for roam codes.
type Adapter struct {
	Registry   Registry
	MaxInput   int // bytes; DefaultMaxInput when 0
	MaxInflate int // bytes; DefaultMaxInflate when 0
}

var _ adapters.Staged = Adapter{}

// Format returns "dcc".
func (Adapter) Format() string { return "dcc" }

// Detect reports an "HC1:" payload.
func (Adapter) Detect(p []byte) bool { return bytes.HasPrefix(p, []byte(Prefix)) }

// Decode verifies the certificate as of at and returns canonical claims:
// the issuing country as jurisdiction (XX-<ISO 3166>), its times and facts.
func (a Adapter) Decode(ctx context.Context, payload []byte, at time.Time) (*adapters.Claims, error) {
	c, _, err := a.DecodeStages(ctx, payload, at)
	return c, err
}

// DecodeStages is Decode with the stages of issue 4 §5: unprefix, base45,
// decompress, decode, signature, expiry, key_usage, schema.
func (a Adapter) DecodeStages(_ context.Context, payload []byte, at time.Time) (*adapters.Claims, []adapters.Stage, error) {
	v := &Verifier{MaxInput: a.MaxInput, MaxInflate: a.MaxInflate}
	if a.Registry != nil {
		v.Trust, v.Jurisdiction = a.Registry, a.Registry.DSCJurisdiction
	}
	r, err := v.Verify(payload, at)
	if err != nil {
		return nil, r.Stages, err
	}
	sum := sha256.Sum256(payload)
	c := &adapters.Claims{
		Issuer: r.Issuer, CodeID: base64.RawURLEncoding.EncodeToString(sum[:16]), System: "eu-dcc", Version: 1,
		IssuedAt: r.IssuedAt.Unix(), NotBefore: r.IssuedAt.Unix(), Expires: r.Expires.Unix(),
		Facts: &adapters.Facts{Kind: r.Facts.Kind},
	}
	if x := r.Facts.Vaccination; x != nil {
		c.Facts.VaccinationComplete, c.Facts.VaccinationDate, c.Facts.Doses = x.Complete, x.Date, int64(x.DoseNumber)
	}
	if x := r.Facts.Test; x != nil {
		c.Facts.TestType, c.Facts.TestResult, c.Facts.SampleTime = x.Type, x.Result, x.SampleTime
	}
	if x := r.Facts.Recovery; x != nil {
		c.Facts.RecoveryFrom, c.Facts.RecoveryUntil = x.ValidFrom, x.ValidUntil
	}
	return c, r.Stages, nil
}
