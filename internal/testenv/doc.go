// Package testenv owns the test environment syncd's harnesses share: the
// emulator served to real clients (over a loopback socket through
// httptest, or in process for testing/synctest bubbles), the account it
// serves, clients of that account, a host's state store and local root,
// and the engine's Pair over the real bindings.
//
// It owns the wiring only. What one harness needs beyond it (a fake clock,
// a request counter, a seeded scheduler, its assertions) stays in that
// harness, on top of these pieces. Only tests and benchmarks import it.
package testenv
