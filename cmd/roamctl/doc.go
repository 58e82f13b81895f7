// Command roamctl is the CLI for national admins, provincial operators and
// checkpoint staff: registry reads, agreement and key changes, code issuance
// and verification, all over a node's gRPC API (--addr).
//
// It owns flag parsing and output formatting only; it must not re-implement
// any rule that a node enforces.
package main
