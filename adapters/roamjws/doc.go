// Package roamjws owns the canonical roam code: a compact JWS (RFC 7515)
// issued and verified with lestrrat-go/jwx/v2 (DESIGN.md §4), and the
// short-lived status assertion that issuer nodes sign for live status checks.
//
// Verify enforces every numbered rule of DESIGN.md §4 "Verifying a code";
// each rejection is a *reason.Error with its own reason code. Keys reach the
// verifier only through the KeyResolver interface, so this package must not
// import the registry, Raft or gRPC, must never follow a header (jku, x5u,
// jwk) and must never take the algorithm from a token.
package roamjws
