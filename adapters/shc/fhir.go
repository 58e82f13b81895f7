package shc

import (
	"encoding/json"
	"time"

	"github.com/roam-federation/roam/federation/reason"
)

// Code systems (FHIR R4 canonical URLs) the facts are read from.
const (
	SystemCVX    = "http://hl7.org/fhir/sid/cvx"
	SystemLOINC  = "http://loinc.org"
	SystemSNOMED = "http://snomed.info/sct"
)

// SNOMED CT result codes of SHC lab observations, and the single-dose CVX.
const (
	snomedNegative = "260385009" // Negative (qualifier value)
	snomedPositive = "10828004"  // Positive (qualifier value)
	cvxJanssen     = "212"       // Janssen COVID-19 vaccine, one dose
)

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
}

func (c *codeableConcept) code(system string) string {
	if c == nil {
		return ""
	}
	for _, cd := range c.Coding {
		if cd.System == system && cd.Code != "" {
			return cd.Code
		}
	}
	return ""
}

// resource holds the fields of Immunization and Observation the facts use.
type resource struct {
	ResourceType string `json:"resourceType"`
	Status       string `json:"status"`
	// Immunization.
	VaccineCode        *codeableConcept `json:"vaccineCode"`
	OccurrenceDateTime *string          `json:"occurrenceDateTime"`
	// Observation.
	Code                 *codeableConcept `json:"code"`
	ValueCodeableConcept *codeableConcept `json:"valueCodeableConcept"`
	EffectiveDateTime    *string          `json:"effectiveDateTime"`
}

// bundleFacts reads the facts of a FHIR R4 Bundle (SMART Health Cards:
// Vaccination & Testing IG). Completed Immunizations (status "completed")
// count as doses: their CVX vaccineCode and occurrenceDateTime are
// required. Final, amended or corrected Observations with a LOINC code are
// lab tests; the latest by effectiveDateTime is reported, with its SNOMED
// result. Other resources are ignored. Errors: claims_invalid.
func bundleFacts(raw json.RawMessage) (Facts, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource *resource `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return Facts{}, reason.New(reason.ClaimsInvalid, "fhirBundle: %v", err)
	}
	if b.ResourceType != "Bundle" {
		return Facts{}, reason.New(reason.ClaimsInvalid, "fhirBundle.resourceType is %q, want Bundle", b.ResourceType)
	}
	var f Facts
	for i, e := range b.Entry {
		r := e.Resource
		if r == nil {
			return Facts{}, reason.New(reason.ClaimsInvalid, "fhirBundle.entry[%d] has no resource", i)
		}
		switch r.ResourceType {
		case "Immunization":
			if r.Status != "completed" {
				continue
			}
			cvx := r.VaccineCode.code(SystemCVX)
			if cvx == "" {
				return Facts{}, reason.New(reason.ClaimsInvalid, "fhirBundle.entry[%d]: Immunization has no CVX vaccineCode", i)
			}
			if r.OccurrenceDateTime == nil {
				return Facts{}, reason.New(reason.ClaimsInvalid, "fhirBundle.entry[%d]: Immunization has no occurrenceDateTime", i)
			}
			d, err := fhirDateTime(*r.OccurrenceDateTime)
			if err != nil {
				return Facts{}, reason.New(reason.ClaimsInvalid, "fhirBundle.entry[%d]: occurrenceDateTime: %v", i, err)
			}
			v := f.Vaccination
			if v == nil {
				v = &Vaccination{}
				f.Vaccination = v
			}
			v.Doses++
			if !d.Before(v.Date) {
				v.Date, v.Product = d, cvx
			}
			if v.Doses >= 2 || cvx == cvxJanssen {
				v.Complete = true
			}
		case "Observation":
			switch r.Status {
			case "final", "amended", "corrected":
			default:
				continue
			}
			loinc := r.Code.code(SystemLOINC)
			if loinc == "" {
				continue // not a lab result SHC reports
			}
			if r.EffectiveDateTime == nil {
				return Facts{}, reason.New(reason.ClaimsInvalid, "fhirBundle.entry[%d]: Observation has no effectiveDateTime", i)
			}
			t, err := fhirDateTime(*r.EffectiveDateTime)
			if err != nil {
				return Facts{}, reason.New(reason.ClaimsInvalid, "fhirBundle.entry[%d]: effectiveDateTime: %v", i, err)
			}
			if f.Test != nil && t.Before(f.Test.SampleTime) {
				continue
			}
			res := "unknown"
			switch r.ValueCodeableConcept.code(SystemSNOMED) {
			case snomedNegative:
				res = "negative"
			case snomedPositive:
				res = "positive"
			}
			f.Test = &Test{Type: loinc, Result: res, SampleTime: t}
		}
	}
	switch {
	case f.Vaccination != nil:
		f.Kind = "vaccination"
	case f.Test != nil:
		f.Kind = "test"
	}
	return f, nil
}

// fhirDateTime parses a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD, or a full
// time with seconds and a zone), as UTC. Partial dates are their first
// instant.
func fhirDateTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", time.RFC3339Nano, "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, reason.New(reason.ClaimsInvalid, "%q is not a FHIR dateTime", s)
}
