package dcc

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/roam-federation/roam/federation/reason"
)

// schemaJSON is the DGC JSON schema, embedded so that verification never
// fetches anything. It is a compact subset of the official v1.3.0 schema;
// see its $comment.
//
//go:embed schema/DCC.schema.json
var schemaJSON []byte

const schemaURL = "https://roam-federation.invalid/dcc/DCC.schema.json"

// compiledSchema compiles schemaJSON once, asserting formats (date,
// date-time) as the official validators do.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
})

// Facts are the normalised facts of a verified certificate, for host
// policies. Exactly one of Vaccination, Test, Recovery is set, as Kind says.
// Dates without a time of day are midnight UTC.
type Facts struct {
	// Kind is "vaccination", "test" or "recovery".
	Kind        string       `json:"kind"`
	Vaccination *Vaccination `json:"vaccination,omitempty"`
	Test        *Test        `json:"test,omitempty"`
	Recovery    *Recovery    `json:"recovery,omitempty"`
}

// Vaccination is the v group's single entry.
type Vaccination struct {
	DoseNumber int       `json:"dose_number"` // dn
	TotalDoses int       `json:"total_doses"` // sd
	Complete   bool      `json:"complete"`    // dn ≥ sd
	Date       time.Time `json:"date"`        // dt
	Product    string    `json:"product"`     // mp, e.g. "EU/1/20/1528"
}

// Test is the t group's single entry.
type Test struct {
	// Type is "pcr" (tt LP6464-4, nucleic acid amplification), "rat"
	// (LP217198-3, rapid antigen) or "other".
	Type string `json:"type"`
	// Result is "negative" (tr 260415000), "positive" (260373001) or
	// "other".
	Result     string    `json:"result"`
	SampleTime time.Time `json:"sample_time"` // sc, UTC
}

// Recovery is the r group's single entry.
type Recovery struct {
	ValidFrom  time.Time `json:"valid_from"`  // df
	ValidUntil time.Time `json:"valid_until"` // du
}

// Value-set codes (EU eHealthNetwork value sets for DCC, 2.7 and 2.9).
var (
	testTypes   = map[string]string{"LP6464-4": "pcr", "LP217198-3": "rat"}
	testResults = map[string]string{"260415000": "negative", "260373001": "positive"}
)

// validateSchema checks the DGC against the embedded schema (failure:
// schema) and extracts its Facts (a date the schema let through but that
// cannot be read: claims_invalid).
func validateSchema(dgc map[string]any) (*Facts, *reason.Error) {
	sch, err := compiledSchema()
	if err != nil { // the embedded schema is tested; this is a build defect
		return nil, reason.New(reason.Schema, "embedded schema: %v", err)
	}
	norm, err := toJSONValue(dgc, 0)
	if err != nil {
		return nil, reason.New(reason.Schema, "DGC is not JSON-compatible: %v", err)
	}
	raw, err := json.Marshal(norm)
	if err != nil {
		return nil, reason.New(reason.Schema, "DGC is not JSON-compatible: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, reason.New(reason.Schema, "DGC JSON: %v", err)
	}
	if err := sch.Validate(doc); err != nil {
		msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ;")), " ")
		return nil, reason.New(reason.Schema, "%s", msg)
	}
	f, err := extractFacts(doc.(map[string]any))
	if err != nil {
		return nil, reason.New(reason.ClaimsInvalid, "%v", err)
	}
	return f, nil
}

// toJSONValue turns a decoded CBOR value into one encoding/json can write:
// CBOR time tags become RFC 3339 strings, other tags their content. Byte
// strings, non-finite floats and undefined have no JSON form and are errors.
func toJSONValue(v any, depth int) (any, error) {
	if depth > 32 {
		return nil, fmt.Errorf("nested too deeply")
	}
	switch x := v.(type) {
	case nil, bool, string, int64, uint64, float64:
		return x, nil
	case big.Int:
		return &x, nil
	case *big.Int:
		return x, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := toJSONValue(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := toJSONValue(e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = n
		}
		return out, nil
	default:
		if t, ok := tagContent(v); ok {
			return toJSONValue(t, depth+1)
		}
		return nil, fmt.Errorf("value of type %T", v)
	}
}

// extractFacts reads the Facts from a schema-valid DGC (JSON values as
// jsonschema.UnmarshalJSON gives them).
func extractFacts(dgc map[string]any) (*Facts, error) {
	entry := func(group string) map[string]any {
		arr, _ := dgc[group].([]any)
		if len(arr) != 1 {
			return nil
		}
		m, _ := arr[0].(map[string]any)
		return m
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	f := &Facts{}
	var err error
	switch {
	case entry("v") != nil:
		e := entry("v")
		f.Kind = KindVaccination
		v := &Vaccination{Product: str(e, "mp")}
		if v.DoseNumber, err = intField(e, "dn"); err != nil {
			return nil, err
		}
		if v.TotalDoses, err = intField(e, "sd"); err != nil {
			return nil, err
		}
		v.Complete = v.DoseNumber >= v.TotalDoses
		if v.Date, err = dateField(e, "dt"); err != nil {
			return nil, err
		}
		f.Vaccination = v
	case entry("t") != nil:
		e := entry("t")
		f.Kind = KindTest
		t := &Test{Type: "other", Result: "other"}
		if s, ok := testTypes[str(e, "tt")]; ok {
			t.Type = s
		}
		if s, ok := testResults[str(e, "tr")]; ok {
			t.Result = s
		}
		if t.SampleTime, err = dateTimeField(e, "sc"); err != nil {
			return nil, err
		}
		f.Test = t
	case entry("r") != nil:
		e := entry("r")
		f.Kind = KindRecovery
		r := &Recovery{}
		if r.ValidFrom, err = dateField(e, "df"); err != nil {
			return nil, err
		}
		if r.ValidUntil, err = dateField(e, "du"); err != nil {
			return nil, err
		}
		f.Recovery = r
	default:
		return nil, fmt.Errorf("no v, t or r entry")
	}
	return f, nil
}

func intField(m map[string]any, k string) (int, error) {
	n, ok := m[k].(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not a number", k)
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > 1<<20 {
		return 0, fmt.Errorf("%s %s is not a small integer", k, n)
	}
	return int(i), nil
}

func dateField(m map[string]any, k string) (time.Time, error) {
	s, _ := m[k].(string)
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not a date", k, s)
	}
	return t, nil
}

func dateTimeField(m map[string]any, k string) (time.Time, error) {
	s, _ := m[k].(string)
	t, err := time.Parse(time.RFC3339, strings.ToUpper(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not an RFC 3339 date-time", k, s)
	}
	return t.UTC(), nil
}

// tagContent unwraps a CBOR tag the decoder left as a cbor.Tag.
func tagContent(v any) (any, bool) {
	switch t := v.(type) {
	case cbor.Tag:
		return t.Content, true
	case *cbor.Tag:
		return t.Content, true
	}
	return nil, false
}
