// Command roamd is the roam node daemon.
//
//	roamd serve --config FILE      one real node
//	roamd provsim --jurisdiction 330000 --listen ADDR
//	                               a simulated provincial backend
//	roamd demo [--once] [--json]   five nodes on loopback playing the 2020 journey
//
// It owns flag parsing and process lifecycle only; everything else lives in
// federation/ and adapters/.
package main
