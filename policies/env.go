package policies

import (
	"reflect"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// The CEL object types. Their Go names appear in CEL type errors as
// policies.codeVars etc.; the cel tags give the field names policies use.
type codeVars struct {
	Iss        string `cel:"iss"`
	Color      string `cel:"color"`
	Sys        string `cel:"sys"`
	Ver        int64  `cel:"ver"`
	AgeSeconds int64  `cel:"age_seconds"`
}

type agreementVars struct {
	ID                string `cel:"id"`
	RequireLiveStatus bool   `cel:"require_live_status"`
}

// factsVars are the normalised facts of a foreign certificate (EU DCC,
// SMART Health Card; issue 4 §4). For health codes kind is "" and the rest
// is zero. Times are timestamps; a zero time means "not given".
type factsVars struct {
	Kind                string    `cel:"kind"` // "", vaccination, test, recovery
	VaccinationComplete bool      `cel:"vaccination_complete"`
	VaccinationDate     time.Time `cel:"vaccination_date"`
	Doses               int64     `cel:"doses"`
	TestType            string    `cel:"test_type"`   // pcr, rat
	TestResult          string    `cel:"test_result"` // negative, positive
	SampleTime          time.Time `cel:"sample_time"`
	RecoveryFrom        time.Time `cel:"recovery_from"`
	RecoveryUntil       time.Time `cel:"recovery_until"`
}

type statusVars struct {
	Required  bool `cel:"required"`
	Checked   bool `cel:"checked"`
	Reachable bool `cel:"reachable"`
	Changed   bool `cel:"changed"`
}

var (
	envOnce sync.Once
	envVal  *cel.Env
	envErr  error
)

// celEnv is shared by every policy: it is immutable once built, and
// building it is the expensive part of loading.
func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		envVal, envErr = cel.NewEnv(
			ext.NativeTypes(reflect.TypeFor[codeVars](), reflect.TypeFor[agreementVars](), reflect.TypeFor[statusVars](), reflect.TypeFor[factsVars](), ext.ParseStructTags(true)),
			cel.Variable("facts", cel.ObjectType("policies.factsVars")),
			cel.Variable("code", cel.ObjectType("policies.codeVars")),
			cel.Variable("checkpoint", cel.StringType),
			cel.Variable("host", cel.StringType),
			cel.Variable("agreement", cel.ObjectType("policies.agreementVars")),
			cel.Variable("status", cel.ObjectType("policies.statusVars")),
			cel.Variable("at", cel.TimestampType),
			cel.ParserRecursionLimit(parserRecursionMax),
			cel.ParserExpressionSizeLimit(MaxExprRunes),
		)
	})
	return envVal, envErr
}

// activation resolves the policy variables from one Input. One is built per
// Evaluate call and shared by all rules of that call.
type activation struct {
	code      codeVars
	agreement agreementVars
	status    statusVars
	facts     factsVars
	in        *Input
}

func newActivation(in *Input) *activation {
	return &activation{
		in: in,
		code: codeVars{
			Iss: in.Issuer, Color: in.Color, Sys: in.System,
			Ver: in.Version, AgeSeconds: in.AgeSeconds,
		},
		agreement: agreementVars{ID: in.AgreementID, RequireLiveStatus: in.RequireLiveStatus},
		status: statusVars{
			Required: in.StatusRequired, Checked: in.StatusChecked,
			Reachable: in.StatusReachable, Changed: in.StatusChanged,
		},
		facts: factsVars(in.Facts),
	}
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "code":
		return &a.code, true
	case "checkpoint":
		return types.String(a.in.Checkpoint), true
	case "host":
		return types.String(a.in.Host), true
	case "agreement":
		return &a.agreement, true
	case "status":
		return &a.status, true
	case "facts":
		return &a.facts, true
	case "at":
		return types.Timestamp{Time: a.in.At.UTC()}, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
