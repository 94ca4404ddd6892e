// Package engine owns one sync pass and the loop around it: observe both
// sides (local scan, remote snapshot), decide (plan.Reconcile), execute the
// plan through the remote and the local filesystem within the account's
// limits, journal every multi-step operation, and advance the base only by
// what really happened, in one store transaction per batch. Pair.Run is the
// daemon's whole per-pair loop: watcher batches, polls, safety rescans,
// trash purge, settle and backoff, on one goroutine.
//
// It consumes small interfaces declared here (Remote, LocalFS, Store,
// ChangeSource, TrashPurger) and
// never imports the API client, the state store, bbolt or net/http: the
// bind package adapts the real implementations, tests may adapt others.
package engine
