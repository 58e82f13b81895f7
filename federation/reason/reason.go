package reason

import (
	"errors"
	"fmt"
)

// Code is a stable snake_case reason code (DESIGN.md §4).
type Code string

// The catalogue. Grouped as in DESIGN.md §4.
const (
	// Input.
	InputTooLarge     Code = "input_too_large"
	Malformed         Code = "malformed"
	UnsupportedFormat Code = "unsupported_format"

	// Header and signature.
	SerializationNotCompact Code = "serialization_not_compact"
	AlgNotAllowed           Code = "alg_not_allowed"
	AlgMismatch             Code = "alg_mismatch"
	KidMissing              Code = "kid_missing"
	UnknownKey              Code = "unknown_key"
	KeyIssuerMismatch       Code = "key_issuer_mismatch"
	HeaderForbidden         Code = "header_forbidden"
	SignatureFormat         Code = "signature_format"
	SignatureInvalid        Code = "signature_invalid"
	TypeInvalid             Code = "typ_invalid"

	// Validity and claims.
	NotYetValid       Code = "not_yet_valid"
	Expired           Code = "expired"
	TimestampsInvalid Code = "timestamps_invalid"
	KeyRevoked        Code = "key_revoked"
	KeyNotValidAtIat  Code = "key_not_valid_at_iat"
	CodeRevoked       Code = "code_revoked"
	ClaimsInvalid     Code = "claims_invalid"
	ColorUnknown      Code = "color_unknown"
	DecompressLimit   Code = "decompress_limit"

	// Agreement and status.
	NoAgreement         Code = "no_agreement"
	OwnJurisdiction     Code = "own_jurisdiction"
	AgreementSuspended  Code = "agreement_suspended"
	AgreementNotInForce Code = "agreement_not_in_force"
	ColorNotRecognised  Code = "color_not_recognised"
	StatusChanged       Code = "status_changed"
	StatusUnchanged     Code = "status_confirmed"
	IssuerUnreachable   Code = "issuer_unreachable"
	StatusInvalid       Code = "status_invalid"
	CodeUnknown         Code = "code_unknown"
	RegistryStale       Code = "registry_stale"
	CheckpointUnknown   Code = "checkpoint_unknown"
	HostUnknown         Code = "host_unknown"

	// Foreign formats.
	KeyUsage Code = "key_usage"
	Schema   Code = "schema"

	// Policy.
	PolicyRule  Code = "policy_rule"
	PolicyError Code = "policy_error"
)

// Error is a verification failure with a stable reason code and a message a
// person can check. Every rejection in roam's verify path is an *Error.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// New returns an *Error with a formatted message.
func New(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Of extracts the reason code from err. Errors that carry none map to
// Malformed, so no failure ever surfaces without a code.
func Of(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Malformed
}
