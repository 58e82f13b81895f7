// Package identity owns node identity for transport security (issue 3 §7):
// X.509 certificates bound to a jurisdiction and node by a URI SAN
// (spiffe://roam/jurisdiction/<GB/T 2260 code>/node/<node id>, SPIFFE
// style), a throwaway CA for the demo and tests, mutual-TLS configurations
// for gRPC and a TLS stream layer for Raft's TCP transport, and reading the
// verified peer identity from a gRPC context.
//
// It authenticates; it must not decide what an identity may do beyond
// "is a node of jurisdiction J": the registry's signed commands carry
// authority.
package identity
