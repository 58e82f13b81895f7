package shc

import (
	"encoding/json"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/roam-federation/roam/adapters/strictjson"
	"github.com/roam-federation/roam/federation/reason"
)

// HealthCardType is the vc.type every SMART Health Card holds.
const HealthCardType = "https://smarthealth.cards#health-card"

const (
	// maxSeconds is the largest timestamp taken as Unix seconds (year
	// 5138); anything larger is a millisecond timestamp and is rejected.
	maxSeconds = 1e11
	// maxRid is the longest rid the SHC spec allows, in characters.
	maxRid = 24
	// maxIss bounds the issuer URL, in bytes.
	maxIss = 512
	// maxDepth bounds JSON nesting; FHIR bundles nest about 10 deep.
	maxDepth = 64
)

// claims are the verified-later claims of a card.
type claims struct {
	iss   string
	nbf   time.Time
	exp   time.Time // zero when absent
	rid   string    // vc.rid; "" when absent
	facts Facts
}

// parseClaims decodes the inflated JWS payload: strict JSON (RFC 8259, valid
// UTF-8, no duplicate keys at any depth, no trailing data), iss an https
// URL without a trailing slash, nbf and optional exp in seconds, vc.type
// holding HealthCardType, optional vc.rid (base64url alphabet, at most 24
// characters) and vc.credentialSubject.fhirBundle a FHIR Bundle, from
// which the facts are read. Errors: claims_invalid, timestamps_invalid.
func parseClaims(raw []byte) (*claims, error) {
	if !utf8.Valid(raw) {
		return nil, reason.New(reason.ClaimsInvalid, "claims are not valid UTF-8")
	}
	if err := scanStrict(raw, nil); err != nil {
		return nil, reason.New(reason.ClaimsInvalid, "claims: %v", err)
	}
	var p struct {
		Iss *string         `json:"iss"`
		Nbf json.RawMessage `json:"nbf"`
		Exp json.RawMessage `json:"exp"`
		VC  *struct {
			Type              []string `json:"type"`
			Rid               *string  `json:"rid"`
			CredentialSubject *struct {
				FhirVersion *string         `json:"fhirVersion"`
				FhirBundle  json.RawMessage `json:"fhirBundle"`
			} `json:"credentialSubject"`
		} `json:"vc"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, reason.New(reason.ClaimsInvalid, "claims: %v", err)
	}
	c := &claims{}
	if p.Iss == nil {
		return nil, reason.New(reason.ClaimsInvalid, "iss is required")
	}
	if err := checkIssuer(*p.Iss); err != nil {
		return nil, err
	}
	c.iss = *p.Iss
	nbf, err := seconds("nbf", p.Nbf)
	if err != nil {
		return nil, err
	}
	if nbf.IsZero() {
		return nil, reason.New(reason.ClaimsInvalid, "nbf is required")
	}
	c.nbf = nbf
	if c.exp, err = seconds("exp", p.Exp); err != nil {
		return nil, err
	}
	if !c.exp.IsZero() && !c.exp.After(c.nbf) {
		return nil, reason.New(reason.TimestampsInvalid, "exp %d is not after nbf %d", c.exp.Unix(), c.nbf.Unix())
	}
	if p.VC == nil {
		return nil, reason.New(reason.ClaimsInvalid, "vc is required")
	}
	if !slices.Contains(p.VC.Type, HealthCardType) {
		return nil, reason.New(reason.ClaimsInvalid, "vc.type does not include %s", HealthCardType)
	}
	if p.VC.Rid != nil {
		rid := *p.VC.Rid
		if rid == "" || len(rid) > maxRid || !isB64URLString(rid) {
			return nil, reason.New(reason.ClaimsInvalid, "vc.rid must be 1 to %d characters of the base64url alphabet", maxRid)
		}
		c.rid = rid
	}
	cs := p.VC.CredentialSubject
	if cs == nil || len(cs.FhirBundle) == 0 || string(cs.FhirBundle) == "null" {
		return nil, reason.New(reason.ClaimsInvalid, "vc.credentialSubject.fhirBundle is required")
	}
	if c.facts, err = bundleFacts(cs.FhirBundle); err != nil {
		return nil, err
	}
	return c, nil
}

// checkIssuer accepts an absolute https URL with a host and no user info,
// query or fragment, that does not end in "/" (SHC: iss SHALL use https
// and SHALL NOT include a trailing slash).
func checkIssuer(iss string) error {
	if iss == "" || len(iss) > maxIss {
		return reason.New(reason.ClaimsInvalid, "iss must be an https URL of at most %d bytes", maxIss)
	}
	u, err := url.Parse(iss)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.ContainsAny(iss, "?# \t\r\n") {
		return reason.New(reason.ClaimsInvalid, "iss %q is not an https URL", iss)
	}
	if strings.HasSuffix(iss, "/") {
		return reason.New(reason.ClaimsInvalid, "iss %q ends with a slash", iss)
	}
	return nil
}

// seconds decodes a NumericDate (RFC 7519 §2): a JSON number of seconds,
// fractions allowed. Absent or null gives the zero time. Errors:
// claims_invalid (not a number), timestamps_invalid (not positive, or
// milliseconds).
func seconds(name string, raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, reason.New(reason.ClaimsInvalid, "%s is not a number", name)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return time.Time{}, reason.New(reason.ClaimsInvalid, "%s is not a number", name)
	}
	if f <= 0 {
		return time.Time{}, reason.New(reason.TimestampsInvalid, "%s %s is not positive", name, raw)
	}
	if f >= maxSeconds {
		return time.Time{}, reason.New(reason.TimestampsInvalid, "%s %s looks like milliseconds; NumericDate is seconds", name, raw)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC(), nil
}

// checkValidity applies nbf ≤ at+skew and at < exp, then SHC revocation:
// a card with a vc.rid listed by Keys.Revoked is rejected. Errors:
// not_yet_valid, expired, code_revoked.
func (v *Verifier) checkValidity(c *claims, kid string, at time.Time) error {
	if c.nbf.After(at.Add(v.skew())) {
		return reason.New(reason.NotYetValid, "not valid before %s", c.nbf.Format(time.RFC3339))
	}
	if !c.exp.IsZero() && !at.Before(c.exp) {
		return reason.New(reason.Expired, "expired at %s", c.exp.Format(time.RFC3339))
	}
	if c.rid != "" && v.Keys != nil && v.Keys.Revoked(c.iss, kid, c.rid, c.nbf) {
		return reason.New(reason.CodeRevoked, "card rid %s was revoked by %s (kid %s)", c.rid, c.iss, kid)
	}
	return nil
}

// scanStrict checks that data is exactly one JSON object with no duplicate
// key in any object, nested at most maxDepth deep (strictjson.Scan). key,
// if not nil, sees every key of the top-level object.
func scanStrict(data []byte, key func(string)) error {
	return strictjson.Scan(data, maxDepth, func(k string) error {
		if key != nil {
			key(k)
		}
		return nil
	})
}
