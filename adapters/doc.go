// Package adapters owns the contract between roam and the code formats it
// speaks: the canonical Claims every format is translated into, the Adapter
// interface, and the Native interface a provincial health-code system is
// reached through.
//
// One sub-package per format: roamjws (canonical, DESIGN.md §4), zhejiang
// (colour dialect) and beijing (status dialect), plus provsim, the simulated
// provincial backend the native adapters speak HTTP to. This package must not
// depend on the registry, Raft or gRPC: adapters see keys only through the
// small interfaces their packages declare.
package adapters
