// Package node owns one roamd node: its typed configuration, the Raft wiring
// (TCP transport, raft-boltdb/v2 log and stable store, file snapshot store
// under the data dir), leader forwarding, cluster joins for voters and
// non-voters, and the thin gRPC handlers of the Registry, Recognition,
// Peering and Issuance services, which validate, call the core and map
// errors to gRPC codes in one place (SPIRE style).
//
// Business rules live elsewhere (registry, recognition, issuance); this
// package must not grow any.
package node
