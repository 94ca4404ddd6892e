//go:build unix && !linux

package local

import (
	"os"
	"runtime"
	"testing"
)

// asUnprivileged: see the Linux version. Elsewhere a root test skips the
// permission cases.
func asUnprivileged(t *testing.T, _ string) bool {
	if os.Geteuid() == 0 {
		t.Skip("running as root and no unprivileged re-run on " + runtime.GOOS + ": chmod 000 does not deny root")
	}
	return false
}
