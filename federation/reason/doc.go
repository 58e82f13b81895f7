// Package reason owns roam's catalogue of stable reason codes (DESIGN.md §4
// "Reason codes") and the error type that carries one.
//
// Reason codes are part of the public API: once shipped, a code is never
// renamed or reused. This package must not import anything else from roam.
package reason
