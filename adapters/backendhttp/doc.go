// Package backendhttp owns the HTTP client core that the native adapters
// (adapters/zhejiang, adapters/beijing) share: one GET under a deadline
// (Conn.Timeout when the caller's context has none), a response size cap
// (MaxResponse), the mapping of HTTP statuses onto reason codes and the
// dialect's sentinel errors, strict JSON decoding (DecodeStrict: one object,
// unknown, duplicate and missing keys rejected), the "<prefix><id>" QR
// payload, and the Issue / Lookup / Decode flow of an adapters.Native.
//
// A dialect package describes itself in a Dialect (name, payload prefix,
// paths, code id rule, body decoder, sentinels) and forwards its Adapter's
// methods to it.
//
// It must not:
//   - know any dialect's field names, status vocabulary, time or id formats:
//     those stay in the dialect package, behind Dialect.DecodeBody and
//     Dialect.ValidCodeID;
//   - put the holder's name or national ID number into an error: errors of
//     the HTTP client quote the URL, which carries the ID number, so they are
//     unwrapped before being returned;
//   - block without a deadline.
package backendhttp
