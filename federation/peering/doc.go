// Package peering owns node-to-node calls over gRPC: a pool of client
// connections to other members, and the live status query a host makes to
// an issuer's node (DESIGN.md §4 pipeline step 4), always under a deadline
// (default 500 ms) so an issuer that is down or slow never hangs a host.
//
// It verifies every status assertion it receives (roamjws.VerifyStatus) and
// must not decide outcomes: recognition and policy do that.
package peering
