// Package sim owns the whole-engine simulation and the fault matrix of
// syncd: the real scanner, planner, executor and state store, a real temp
// directory and the API emulator behind httptest, driven by one seeded
// random source with a fake clock, so that every run is a pure function of
// its seed and every failure replays from the seed it prints.
//
// Everything lives in the package's tests: random user actions on both
// sides between and during passes, injected HTTP faults, emulator restarts,
// crashes at every failpoint, loss and corruption of the state file, and
// the invariants of /work/shared/TESTING.md checked at quiescence (see
// sim_test.go). Replay a seed with
//
//	go test ./sync/sim -run TestSim -seed N -v
package sim
