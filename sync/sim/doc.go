// Package sim owns the whole-engine simulation and the fault matrix of
// syncd: the real scanner, planner, executor and state store, a real temp
// directory and the API emulator reached in process (emulator.Transport),
// driven by one seeded random source with a fake clock, so that every run
// is a pure function of its seed and every failure replays from the seed
// it prints. Each run is inside a testing/synctest bubble, so that the
// clients' waits (retry backoff, the pace after a 429) cost no real time;
// the emulator's data and the state files live on a memory file system
// when there is one (the local roots stay on the disk), and the state
// files are written without fsync (a crash is the process's, never the
// machine's). bench/simsweep.sh runs the long sweeps.
//
// Everything lives in the package's tests:
//
//   - sim_test.go: TestSim, random user actions on both sides between and
//     during passes, injected HTTP faults, emulator restarts, clock jumps,
//     crashes at every failpoint, loss and corruption of the state file,
//     and the invariants of docs/testing.md checked at each quiescence
//     (convergence, no lost version, no duplicate, no resurrection, modify
//     beats delete, no false conflict, no operation skipped or failed in
//     a quiescence pass, an idle second pass, renames without transfers);
//     TestSimIncremental, the same schedules run as the daemon runs the
//     engine: one long-lived pair, incremental passes told of each local
//     action as the watcher would tell them, some triggered by a local
//     change, some polls, some sweeps; a crash restarts it, and at each
//     quiescence a fresh pair observing both sides whole must find
//     nothing to do. TestSimTwoHosts: two local roots on one account;
//     TestSimTwoHostsInterleaved: the same with some passes of one host
//     run inside the other's, at one of its operation steps (the two
//     daemons at once, each authorization killing the other's token).
//     TestSimDeterministic; shrinking of failing schedules.
//   - loop_test.go: TestSimLoop, the same schedules run by the daemon's
//     own loop: one long-lived pair in engine.Pair.Run inside a
//     testing/synctest bubble, the emulator reached in-process
//     (emulator.Transport), the clients' and the loop's jitter seeded.
//     Run and the driver hand control to each other (LoopOptions.OnIdle),
//     so one of them runs at a time and the bubble's clock moves when
//     both wait: the driver acts between passes and from the pass's hooks,
//     feeds the watcher's batches through the loop's ChangeSource (late,
//     overflowing, degraded, missing events, stopped), lets polls, sweeps,
//     scan_interval rescans and backoff fire, injects faults and outages,
//     and crashes the daemon (Run stopped, state reopened, Run started).
//     At each quiescence the loop is held until a whole rescan and a
//     sweep are due, runs until a pass converges, and the checks above
//     apply, with the live pair's status. TestSimLoopDeterministic.
//   - sched_test.go: the seeded scheduler. Passes run the parallel
//     executor with the product's worker count (engine.Options.Dispatch):
//     the operations in flight run one at a time and switch at every
//     remote call, tree-changing local call and failpoint, in an order
//     drawn from the scheduler's own random stream (user actions and
//     faults have theirs), so a run stays a pure function of its seed.
//     -one-worker runs one op at a time instead.
//   - conflicts_test.go: no false conflicts (invariant 10): a conflict
//     copy that appears in a round must be of a path both sides' users
//     touched since the last quiescence (not only with identical
//     writes), unless the state file was lost that round; and
//     TestBugSimSeeds, the seeds of engine bugs not fixed yet (-bugs).
//   - twin_test.go: crash equivalence (-twin, invariants 18 and 25): a
//     faulted schedule runs again without its faults, crashes, emulator
//     restarts and token invalidations, and the two runs' trees must be
//     equal at each quiescence, conflict copies compared by the path they
//     were made for and their content, not by name. Rounds compare while
//     the user saw the same trees before each action and did the same:
//     after a round where a crash changed what the user found, the runs
//     are no longer one schedule.
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
// (TestSimIncremental for a daemon-mode seed, TestSimLoop for a loop one)
// and run many with -seeds N (-inc-seeds N, -loop-seeds N) -first-seed S. -steps sets the actions per run,
// -engine-log prints the engine's log, SIM_DEBUG=1 traces quiescence
// passes and skipped operations, -twin adds the crash-equivalence twin,
// -one-worker the one-op-at-a-time executor, -bugs runs TestBugSimSeeds.
package sim
