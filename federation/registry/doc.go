// Package registry owns the trust registry's replicated state machine: the
// jurisdictions, issuer keys, agreements, cluster members and revoked code
// ids that every node holds, the typed commands that change them (a protobuf
// envelope with one enum, rqlite style), and a dispatch table of handlers
// (Consul style) that refuses unknown commands loudly.
//
// Apply is deterministic (DESIGN.md §3 "Raft"): no clocks, no randomness, no
// I/O; any time a command needs travels inside it. Reads are served from the
// local replica with the applied index. This package must not start Raft,
// open network connections or know about gRPC: federation/node wires it up.
package registry
