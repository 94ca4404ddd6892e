// Package plan owns the decision of a sync pass: a pure function from three
// trees (base = last agreed state, local, remote) to a plan of operations
// with dependencies, the conflicts it resolves and the problems it reports.
// It performs no I/O, reads no clock and logs nothing; its output is sorted
// and deterministic so tests compare plans directly.
package plan
