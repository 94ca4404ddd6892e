// Package sim owns the whole-engine simulation and the fault matrix of
// syncd: the real scanner, planner, executor and state store, a real temp
// directory and the API emulator behind httptest, driven by one seeded
// random source with a fake clock, so that every run is a pure function of
// its seed and every failure replays from the seed it prints.
//
// Everything lives in the package's tests:
//
//   - sim_test.go: TestSim, random user actions on both sides between and
//     during passes, injected HTTP faults, emulator restarts, clock jumps,
//     crashes at every failpoint, loss and corruption of the state file,
//     and the invariants of TESTING.md checked at each quiescence
//     (convergence, no lost version, no duplicate, no resurrection, modify
//     beats delete, an idle second pass, renames without transfers);
//     TestSimIncremental, the same schedules run as the daemon runs the
//     engine: one long-lived pair, incremental passes told of each local
//     action as the watcher would tell them, some triggered by a local
//     change, some polls, some sweeps; a crash restarts it, and at each
//     quiescence a fresh pair observing both sides whole must find
//     nothing to do. TestSimTwoHosts: two local roots on one account.
//     TestSimDeterministic; shrinking of failing schedules.
//   - faults_test.go, perm_test.go: one test per named fault.
//   - bugs_test.go: minimal reproductions of bugs found in other packages
//     (TestBug... fail until fixed, then become TestRegression...), and
//     TestRegressionSimSeeds, which replays the TestSim failures fixed so
//     far from their seeds and shrunk step lists.
//   - checks_test.go: each quiescence check reports a planted violation.
//
// Replay a seed, or the shrunk steps of one, with
//
//	go test ./sync/sim -run 'TestSim$' -seed N -v [-keep i,j,k]
//
// (TestSimIncremental for a daemon-mode seed) and run many with -seeds N
// (-inc-seeds N) -first-seed S. -steps sets the actions per run,
// -engine-log prints the engine's log, SIM_DEBUG=1 traces quiescence
// passes and skipped operations.
package sim
