// Package blackbox owns the black-box tests of the built syncd binary: it
// builds cmd/syncd with `go build`, serves the API emulator, runs `syncd
// once` and `syncd run` against real directories, SIGKILLs them at random
// moments while both sides change, and checks afterwards that nothing was
// lost, nothing duplicated, and both sides converged.
package blackbox
