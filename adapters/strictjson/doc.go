// Package strictjson owns the one strict JSON check roam's verifiers share
// on hostile input (DESIGN.md §4 rule 9): exactly one JSON object, no
// duplicate key in any object (a lenient decoder keeps the last, which
// would let a crafted token say two things), bounded nesting, nothing
// trailing. roamjws (roam codes) and shc (SMART Health Cards) use it.
//
// It checks structure only; decoding into types stays with the callers.
package strictjson
