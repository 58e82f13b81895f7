// Package decisionlog owns a node's local decision log (DESIGN.md §4
// pipeline step 6): one record per decision with a hash of the code, the
// outcome, reason codes, agreement, policy version and registry index —
// never the code itself or any personal data — kept in bbolt under the data
// dir and pruned after a retention period (default 14 days).
//
// Writes are asynchronous and batched so the verify path never waits on
// disk; when the queue is full a record is dropped and counted, never
// blocking a checkpoint. It must not be replicated or sent off the node.
package decisionlog
