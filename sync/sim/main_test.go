package sim

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMain runs the package's tests with the garbage collector at a
// quarter of its default pace (GOGC=400) unless GOGC is set: a run's live
// heap is a few megabytes, so at the default pace the collector ran all
// the time and took a sixth of a seed's CPU, for some megabytes saved. No
// outcome depends on it.
func TestMain(m *testing.M) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(m.Run())
}
