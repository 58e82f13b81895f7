package roamjws

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/roam-federation/roam/adapters"
	"github.com/roam-federation/roam/adapters/jwscompact"
	"github.com/roam-federation/roam/adapters/strictjson"
	"github.com/roam-federation/roam/federation/reason"
)

// Defaults from DESIGN.md §4.
const (
	// DefaultMaxInput caps the presented payload, in bytes (rule 1).
	DefaultMaxInput = 4096
	// DefaultSkew is the clock skew allowed for nbf, in seconds (rule 7).
	DefaultSkew = 60 * time.Second
	// maxSeconds is the largest timestamp taken as Unix seconds (year 5138);
	// anything larger is a millisecond timestamp (rule 7).
	maxSeconds = 1e11
	// maxKid bounds the kid header; an RFC 7638 SHA-256 thumbprint is 43.
	maxKid = 128
)

// cst is UTC+8, the zone roam's messages show times in (GB/T 2260 jurisdictions).
var cst = time.FixedZone("CST", 8*3600)

// KeyState of a registered key, as the resolver reports it.
type KeyState int

// Key states (DESIGN.md §2).
const (
	KeyActive KeyState = iota + 1
	KeyRetired
	KeyRevoked
)

// Key is a registered issuer key as the verifier needs it. Times are Unix
// seconds; NotAfter 0 means open-ended. For a retired key, StateChangedAt is
// when it stopped signing.
type Key struct {
	PublicKey
	State          KeyState
	NotBefore      int64
	NotAfter       int64
	StateChangedAt int64
}

// KeyResolver is the verifier's read-only view of the trust registry.
type KeyResolver interface {
	// Key returns the key registered under kid.
	Key(kid string) (*Key, bool)
	// CodeRevoked reports whether jurisdiction revoked code id jti.
	CodeRevoked(jurisdiction, jti string) bool
}

// Verifier checks roam codes and status assertions against a KeyResolver.
// The zero values of MaxInput and Skew mean the defaults.
type Verifier struct {
	Keys     KeyResolver
	MaxInput int           // bytes
	Skew     time.Duration // allowed clock skew for nbf
	// Cache, when set, remembers codes whose signature verified (issue 6
	// §2); see Cache for what is checked again on every scan. Status
	// assertions are never cached.
	Cache *Cache
}

var allowedHeaders = map[string]bool{"alg": true, "kid": true, "typ": true}

// forbidden headers get header_forbidden (rule 5); other unknown headers too.
var forbiddenHeaders = map[string]bool{"jku": true, "x5u": true, "jwk": true, "crit": true, "b64": true, "x5c": true, "x5t": true, "x5t#S256": true}

type header struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Verify checks a roam code (with or without the "roam:" prefix) as of at and
// returns its claims. It applies DESIGN.md §4 rules 1–9 in order; every
// failure is a *reason.Error.
func (v *Verifier) Verify(payload []byte, at time.Time) (*adapters.Claims, error) {
	return v.verify(context.Background(), payload, nil, at, TypCode)
}

// VerifyContext is Verify with spans for the decode and signature stages
// when ctx carries a recording span.
func (v *Verifier) VerifyContext(ctx context.Context, payload []byte, at time.Time) (*adapters.Claims, error) {
	return v.verify(ctx, payload, nil, at, TypCode)
}

// VerifyStatus checks a status assertion (typ roam-status+jwt) as of at.
func (v *Verifier) VerifyStatus(token []byte, at time.Time) (*adapters.Claims, error) {
	return v.verify(context.Background(), token, nil, at, TypStatus)
}

// verify checks in as of at; sum, when not nil, is sha256.Sum256(in),
// computed by the caller (the cache's key).
func (v *Verifier) verify(ctx context.Context, in []byte, sum *[sha256.Size]byte, at time.Time, typ string) (*adapters.Claims, error) {
	// Rule 1: cap before any parsing; reject, never trim.
	maxIn := v.MaxInput
	if maxIn <= 0 {
		maxIn = DefaultMaxInput
	}
	if len(in) > maxIn {
		return nil, reason.New(reason.InputTooLarge, "payload is %d bytes; the limit is %d", len(in), maxIn)
	}
	// Issue 6 §2: a code seen before skips decoding and the signature
	// check; everything the registry and the clock decide runs again.
	cache := v.Cache
	if typ != TypCode {
		cache = nil
	}
	if cache != nil {
		if sum == nil {
			s := sha256.Sum256(in)
			sum = &s
		}
		if e, ok := cache.get(*sum); ok {
			c := e.claims
			key, ok := v.Keys.Key(e.kid)
			switch {
			case !ok:
				return nil, reason.New(reason.UnknownKey, "kid %q is not in the registry", e.kid)
			case key.Jurisdiction != c.Issuer:
				return nil, reason.New(reason.KeyIssuerMismatch, "kid %q is registered to %s, but iss is %s", e.kid, key.Jurisdiction, c.Issuer)
			case e.sameKey(key):
				if err := v.checkState(&c, e.kid, key, at, typ); err != nil {
					if reason.Of(err) == reason.Expired {
						cache.lru.Remove(*sum)
					}
					return nil, err
				}
				return &c, nil
			}
			cache.lru.Remove(*sum) // another key under that kid: verify again
		}
	}
	// Spans for the two stages only under a recording span (issue 7 §1):
	// a verification traced end to end shows decode and signature apart.
	recording := trace.SpanFromContext(ctx).IsRecording()
	var sp trace.Span
	if recording {
		sp = startStage(ctx, "roamjws.decode")
	}
	cj, c, err := decodeToken(in, typ)
	if recording {
		endStage(sp, err)
	}
	if err != nil {
		return nil, err
	}
	if recording {
		sp = startStage(ctx, "roamjws.signature")
	}
	key, err := v.checkSignature(cj, &c)
	if recording {
		endStage(sp, err)
	}
	if err != nil {
		return nil, err
	}
	if err := v.checkState(&c, cj.Kid, key, at, typ); err != nil {
		return nil, err
	}
	if cache != nil {
		cache.lru.Add(*sum, &cached{claims: c, kid: cj.Kid, alg: key.Alg, pub: key.Raw})
	}
	return &c, nil
}

// decodeToken parses a compact JWS (rules 1-3, 9) and its claims, without
// checking the signature.
func decodeToken(in []byte, typ string) (_ *Compact, c adapters.Claims, _ error) {
	cj, err := ParseCompact(bytes.TrimPrefix(in, []byte(Prefix)), typ)
	if err != nil {
		return nil, c, err
	}
	pb := cj.Payload
	if !utf8.Valid(pb) {
		return nil, c, reason.New(reason.ClaimsInvalid, "claims are not valid UTF-8")
	}
	// Rule 9: strict JSON, duplicate keys and unknown claims rejected.
	if err := decodeClaims(pb, &c); err != nil {
		return nil, c, err
	}
	if c.Issuer == "" {
		return nil, c, reason.New(reason.ClaimsInvalid, "iss is required")
	}
	for _, v := range []string{c.Issuer, c.CodeID, c.Subject, c.Display, string(c.Color), c.System} {
		// encoding/json turns a lone surrogate escape (\ud800) into U+FFFD.
		if strings.ContainsRune(v, utf8.RuneError) {
			return nil, c, reason.New(reason.ClaimsInvalid, "a claim holds an invalid character (lone surrogate or U+FFFD)")
		}
	}
	return cj, c, nil
}

// checkSignature finds cj's key in the registry, checks it belongs to the
// claims' iss (rule 4) and verifies the signature with it (rules 5-6).
func (v *Verifier) checkSignature(cj *Compact, c *adapters.Claims) (*Key, error) {
	// Rule 4: the key must be registered to the token's iss.
	key, ok := v.Keys.Key(cj.Kid)
	if !ok {
		return nil, reason.New(reason.UnknownKey, "kid %q is not in the registry", cj.Kid)
	}
	if key.Jurisdiction != c.Issuer {
		return nil, reason.New(reason.KeyIssuerMismatch, "kid %q is registered to %s, but iss is %s", cj.Kid, key.Jurisdiction, c.Issuer)
	}
	if err := cj.VerifyWith(key.Alg, key.Raw); err != nil {
		return nil, err
	}
	return key, nil
}

// startStage starts a child span of ctx's span with the same provider.
func startStage(ctx context.Context, name string) trace.Span {
	_, s := trace.SpanFromContext(ctx).TracerProvider().Tracer("roam/roamjws").Start(ctx, name)
	return s
}

// endStage records err's reason code on s and ends it.
func endStage(s trace.Span, err error) {
	if err != nil {
		s.SetStatus(otelcodes.Error, string(reason.Of(err)))
	}
	s.End()
}

// checkState applies the rules that depend on the registry and the clock,
// not on the code's bytes, after the signature verified with key: rules 7
// and 8 and the claim checks, in DESIGN.md §4 order.
func (v *Verifier) checkState(c *adapters.Claims, kid string, key *Key, at time.Time, typ string) error {
	// Rule 8: key state and validity at iat; revoked code ids.
	if key.State == KeyRevoked {
		return reason.New(reason.KeyRevoked, "kid %q is revoked", kid)
	}
	// Rule 7: time.
	if err := checkTimes(c, at, v.skew()); err != nil {
		return err
	}
	if c.IssuedAt < key.NotBefore || (key.NotAfter != 0 && c.IssuedAt >= key.NotAfter) {
		return reason.New(reason.KeyNotValidAtIat, "kid %q was not valid at iat %d", kid, c.IssuedAt)
	}
	// Fail closed: a state that is neither active nor retired (zero value,
	// or one added to the registry later) never signs.
	if key.State != KeyActive && key.State != KeyRetired {
		return reason.New(reason.KeyNotValidAtIat, "kid %q is in state %d, neither active nor retired", kid, key.State)
	}
	if key.State == KeyRetired && c.IssuedAt >= key.StateChangedAt {
		return reason.New(reason.KeyNotValidAtIat, "kid %q was retired at %d and no longer signs; iat is %d", kid, key.StateChangedAt, c.IssuedAt)
	}
	if err := checkClaims(c, typ); err != nil {
		return err
	}
	if v.Keys.CodeRevoked(c.Issuer, c.CodeID) {
		return reason.New(reason.CodeRevoked, "code id %s was revoked by %s", c.CodeID, c.Issuer)
	}
	return nil
}

// Compact is a compact JWS parsed under roam's JWS profile but not yet
// verified: only alg, kid and typ headers, ES256 or EdDSA, a kid present.
type Compact struct {
	Alg, Kid, Typ string
	Payload       []byte // decoded payload
	signingInput  []byte
	sig           []byte
	header        []byte // decoded protected header, for headerMemo
}

// ParseCompact parses tok (no prefix) as a compact JWS of type typ under
// roam's JWS profile (DESIGN.md §4 rules 1-6, minus the size cap, which
// callers apply): base64url alphabet only, three parts, strict JSON header
// with only alg, kid and typ, alg ES256 or EdDSA, kid present. It does not
// verify the signature: call VerifyWith with the key the caller trusts for
// Kid. Errors are *reason.Error.
func ParseCompact(tok []byte, typ string) (*Compact, error) {
	// Rules 1-2: compact serialization, base64url only, three parts.
	p, err := jwscompact.Split(tok)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(p.Header)
	if err != nil {
		return nil, err
	}
	// Rule 3: none and HMAC are never accepted.
	if h.Alg != ES256 && h.Alg != EdDSA {
		return nil, reason.New(reason.AlgNotAllowed, "alg %q is not allowed (ES256 or EdDSA)", h.Alg)
	}
	if h.Typ != typ {
		return nil, reason.New(reason.TypeInvalid, "typ %q, want %q", h.Typ, typ)
	}
	// Rule 4: kid required.
	if h.Kid == "" {
		return nil, reason.New(reason.KidMissing, "kid header is required")
	}
	if len(h.Kid) > maxKid {
		return nil, reason.New(reason.UnknownKey, "kid is %d bytes; no registered kid is longer than %d", len(h.Kid), maxKid)
	}
	pb, err := jwscompact.Decode(p.Payload)
	if err != nil {
		return nil, reason.New(reason.Malformed, "payload: %v", err)
	}
	sig, err := jwscompact.Decode(p.Signature)
	if err != nil {
		return nil, reason.New(reason.SignatureFormat, "signature: %v", err)
	}
	return &Compact{Alg: h.Alg, Kid: h.Kid, Typ: h.Typ, Payload: pb, signingInput: p.SigningInput, sig: sig, header: p.Header}, nil
}

// VerifyWith checks the signature with a trusted key: alg is the key's
// registered algorithm (rule 3: never the header's) and raw its public key
// (*ecdsa.PublicKey or ed25519.PublicKey). Errors: alg_mismatch,
// signature_format (rule 6: raw 64-byte signatures only), signature_invalid.
func (c *Compact) VerifyWith(alg string, raw any) error {
	if c.Alg != alg {
		return reason.New(reason.AlgMismatch, "header alg %s differs from the registered key's %s", c.Alg, alg)
	}
	if len(c.sig) != 64 {
		return reason.New(reason.SignatureFormat, "%s signature is %d bytes, want 64 (raw r‖s; DER is rejected)", alg, len(c.sig))
	}
	if !verifySignature(alg, raw, c.signingInput, c.sig) {
		return reason.New(reason.SignatureInvalid, "signature does not verify with kid %q", c.Kid)
	}
	// A registered key signed this header: parse it once from now on.
	headerMemo.Add(string(c.header), header{Alg: c.Alg, Kid: c.Kid, Typ: c.Typ})
	return nil
}

// derSignature encodes a raw r‖s signature (32 bytes each) as the ASN.1
// DER SEQUENCE { INTEGER r, INTEGER s } crypto/ecdsa verifies (SEC 1
// §C.5): each integer minimal, with a zero byte before a high bit. It
// costs a few allocations less than big.Int round trips.
func derSignature(sig []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, half := range [][]byte{sig[:32], sig[32:]} {
			b.AddASN1(asn1.INTEGER, func(b *cryptobyte.Builder) {
				for len(half) > 1 && half[0] == 0 && half[1]&0x80 == 0 {
					half = half[1:]
				}
				if half[0]&0x80 != 0 {
					b.AddUint8(0)
				}
				b.AddBytes(half)
			})
		}
	})
	return b.BytesOrPanic()
}

// verifySignature checks a raw 64-byte JWS signature with the standard
// library: ES256 is ECDSA P-256 over SHA-256 with r‖s, 32 bytes each (RFC
// 7518 §3.4); EdDSA is Ed25519 over the signing input itself (RFC 8037
// §3.1). A key of the wrong type for alg never verifies.
func verifySignature(alg string, raw any, signingInput, sig []byte) bool {
	switch alg {
	case ES256:
		pk, ok := raw.(*ecdsa.PublicKey)
		if !ok || pk.Curve != elliptic.P256() {
			return false
		}
		h := sha256.Sum256(signingInput)
		return ecdsa.VerifyASN1(pk, h[:], derSignature(sig))
	case EdDSA:
		pk, ok := raw.(ed25519.PublicKey)
		return ok && len(pk) == ed25519.PublicKeySize && ed25519.Verify(pk, signingInput, sig)
	}
	return false
}

func (v *Verifier) skew() time.Duration {
	if v.Skew <= 0 {
		return DefaultSkew
	}
	return v.Skew
}

var knownClaims = map[string]bool{"iss": true, "jti": true, "sub": true, "disp": true, "color": true, "sys": true, "ver": true, "iat": true, "nbf": true, "exp": true}

func checkTimes(c *adapters.Claims, at time.Time, skew time.Duration) error {
	for _, t := range []struct {
		name string
		v    int64
	}{{"iat", c.IssuedAt}, {"nbf", c.NotBefore}, {"exp", c.Expires}} {
		if t.v <= 0 {
			return reason.New(reason.TimestampsInvalid, "%s is missing or not positive", t.name)
		}
		if t.v >= maxSeconds {
			return reason.New(reason.TimestampsInvalid, "%s %d looks like milliseconds; roam timestamps are seconds", t.name, t.v)
		}
	}
	if c.Expires <= c.NotBefore {
		return reason.New(reason.TimestampsInvalid, "exp %d is not after nbf %d", c.Expires, c.NotBefore)
	}
	if c.IssuedAt >= c.Expires {
		return reason.New(reason.TimestampsInvalid, "iat %d is not before exp %d", c.IssuedAt, c.Expires)
	}
	now := at.Unix()
	if c.IssuedAt > now+int64(skew/time.Second) {
		return reason.New(reason.NotYetValid, "issued at %s, after the time of the check", time.Unix(c.IssuedAt, 0).In(cst).Format(time.RFC3339))
	}
	if c.NotBefore > now+int64(skew/time.Second) {
		return reason.New(reason.NotYetValid, "not valid before %s", time.Unix(c.NotBefore, 0).In(cst).Format(time.RFC3339))
	}
	if now >= c.Expires {
		return reason.New(reason.Expired, "expired at %s", time.Unix(c.Expires, 0).In(cst).Format(time.RFC3339))
	}
	return nil
}

func checkClaims(c *adapters.Claims, typ string) error {
	if _, err := adapters.ParseColor(string(c.Color)); err != nil {
		return reason.New(reason.ColorUnknown, "color %q is not green, yellow or red", c.Color)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(c.CodeID); err != nil || len(raw) != 16 {
		return reason.New(reason.ClaimsInvalid, "jti must be 128 bits, base64url")
	}
	if c.Version < 1 {
		return reason.New(reason.ClaimsInvalid, "ver must be at least 1")
	}
	if typ == TypCode && (c.Subject == "" || c.System == "") {
		return reason.New(reason.ClaimsInvalid, "sub and sys are required")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"sub", c.Subject, maxSubject}, {"disp", c.Display, maxDisplay}, {"sys", c.System, maxSystem}} {
		if len(f.v) > f.max {
			return reason.New(reason.ClaimsInvalid, "%s is %d bytes; at most %d", f.name, len(f.v), f.max)
		}
	}
	return nil
}

// Claim length limits, in bytes: a pseudonymous subject is a keyed hash
// (43 bytes in base64url), a masked name a few characters, a code system a
// short name. They bound what a verified-code cache entry or a policy memo
// key can hold.
const (
	maxSubject = 128
	maxDisplay = 128
	maxSystem  = 64
)

func asReason(err error, fallback reason.Code, what string) error {
	var re *reason.Error
	if errors.As(err, &re) {
		return re
	}
	return reason.New(fallback, "%s: %v", what, err)
}

// decodeClaims decodes a code's claims (DESIGN.md §4 rule 9) in one pass
// with go-json-experiment/json (the encoding/json/v2 design): exactly one
// JSON object, no duplicate member names, no member that is not a claim,
// names matched case-sensitively, valid UTF-8 (a lone surrogate escape
// too), nothing after it. Errors are claims_invalid. It is several times
// cheaper than a strict scan followed by encoding/json, and it runs on
// every code never seen before (issue 6 §1).
func decodeClaims(pb []byte, c *adapters.Claims) error {
	if t := bytes.TrimLeft(pb, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return reason.New(reason.ClaimsInvalid, "claims are not a JSON object")
	}
	if err := jsonv2.Unmarshal(pb, c, jsonv2.RejectUnknownMembers(true)); err != nil {
		return reason.New(reason.ClaimsInvalid, "claims: %v", err)
	}
	return nil
}

// strictUnmarshal decodes one JSON object into v, rejecting duplicate keys at
// any depth, trailing data, and (through check) keys of the top-level object.
func strictUnmarshal(data []byte, v any, check func(key string) error) error {
	if err := scanStrict(data, check); err != nil {
		return err
	}
	// scanStrict has refused trailing data already.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// scanStrict checks the JSON structure once (strictjson.Scan): duplicate
// keys in every object, nesting, and check on the top-level keys.
func scanStrict(data []byte, check func(string) error) error {
	return strictjson.Scan(data, maxDepth, check)
}

const maxDepth = 16

// Adapter is the roam format's adapters.Adapter: "roam:" codes and bare
// compact JWS.
type Adapter struct{ V *Verifier }

// Format returns "roam".
func (Adapter) Format() string { return "roam" }

// Detect reports whether payload is a roam code: the "roam:" prefix, a bare
// compact JWS header ("eyJ"), or a JSON serialization (rejected by Decode).
func (Adapter) Detect(p []byte) bool {
	return bytes.HasPrefix(p, []byte(Prefix)) || bytes.HasPrefix(p, []byte("eyJ")) || bytes.HasPrefix(bytes.TrimLeft(p, " \t\r\n"), []byte("{"))
}

// Decode verifies payload as of at; see Verifier.Verify.
func (a Adapter) Decode(ctx context.Context, payload []byte, at time.Time) (*adapters.Claims, error) {
	return a.V.VerifyContext(ctx, payload, at)
}

// DecodeWithSum is Decode with the payload's SHA-256 already computed by
// the caller (adapters.SumDecoder).
func (a Adapter) DecodeWithSum(ctx context.Context, payload []byte, sum [32]byte, at time.Time) (*adapters.Claims, error) {
	return a.V.verify(ctx, payload, &sum, at, TypCode)
}

// ClaimedIssuer returns the iss a roam code claims, without verifying
// anything, or "" if it cannot be read. It is for display on rejected codes
// only ("claimed by the code"); never trust it.
func ClaimedIssuer(payload []byte) string {
	if len(payload) > DefaultMaxInput {
		return ""
	}
	tok := bytes.TrimPrefix(payload, []byte(Prefix))
	parts := bytes.Split(tok, []byte("."))
	if len(parts) != 3 {
		return ""
	}
	pb, err := jwscompact.Decode(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(pb, &c) != nil || len(c.Iss) > 16 {
		return ""
	}
	return c.Iss
}
