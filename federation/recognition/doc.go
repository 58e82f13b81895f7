// Package recognition owns the decision pipeline of DESIGN.md §4: detect the
// format, decode and verify, find the agreement host ← iss in force, ask the
// issuer for a live status when the agreement or policy needs one, and let
// the host policy (CEL) give the outcome, with reasons a person can check.
//
// It reads the registry only from the local replica and never writes to it.
// It must not log personal data: the decision log holds a code hash, the
// outcome, reason codes and the registry index.
package recognition
