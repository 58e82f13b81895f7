// Package clock owns roam's notion of time (DESIGN.md §3 "Time"): every
// component takes a Clock instead of calling time.Now, so the demo and tests
// can run on a simulated clock that starts on 2020-02-26.
//
// It must not be used inside the Raft FSM, which takes no time at all.
package clock
