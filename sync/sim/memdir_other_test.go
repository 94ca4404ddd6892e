//go:build !linux

package sim

import "testing"

// memDir is "" here: the emulator's data and the state files stay below
// the run's directory.
func memDir(testing.TB) string { return "" }
