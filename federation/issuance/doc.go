// Package issuance owns the issuer side of a node: it turns the node's own
// provincial codes (through an adapters.Native backend) into signed roam
// codes, remembers which backend code each roam code id stands for, and
// signs short-lived status assertions for live status queries.
//
// Names and national ID numbers never leave this package: disp is masked and
// sub is a keyed hash (HMAC-SHA256) of the resident key. It must not verify
// foreign codes or touch the registry.
package issuance
