// Package backendhttptest owns the test suite every native dialect adapter
// runs (zhejiang, beijing): a real provsim backend over HTTP, the shared
// refusal, deadline and body-decoding cases, and the fuzz checks. Each
// dialect supplies its settings and its own rows.
//
// It is imported only by tests and must not be used by production code.
package backendhttptest
