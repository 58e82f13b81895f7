// Package jwscompact owns the byte-level split of a compact JWS (RFC 7515
// §7.1) that every roam verifier shares on hostile input: compact form only
// (DESIGN.md §4 rule 2), the base64url alphabet only, exactly three parts,
// a header that decodes as strict unpadded base64url and is valid UTF-8.
// roamjws (roam codes) and shc (SMART Health Cards) use it.
//
// It must not interpret header members, pick algorithms or verify
// signatures: each format's header profile stays with its adapter.
package jwscompact
