// Package registrytest builds trust registries for tests and measurements
// only: a City is a real registry FSM that reached its state by applying
// real signed commands (genesis, onboarding, admin keys, issuer keys,
// proposed and accepted agreements) through FSM.Apply, at any scale up to
// every directed pair of a few hundred jurisdictions (issue 6 §5 "City
// scale").
//
// It holds private keys of every role in one process, which only tests do.
// Production code must never import it.
package registrytest
