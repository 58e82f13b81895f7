// Package admin owns the signing side of governance (issue 3): loading an
// admin's private key from a file, signing registry commands as one or
// more admins, and a Keyring that holds every role's keys at once — which
// only the demo and tests do; in a real federation each key stays with its
// holder.
//
// It must not decide authority: the registry FSM checks every signature
// and role when it applies a command.
package admin
