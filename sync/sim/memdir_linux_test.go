package sim

import (
	"os"
	"syscall"
	"testing"
)

// memDir is a fresh directory on a memory file system (/dev/shm, when it
// is a tmpfs with room), removed when tb's test ends; "" when there is
// none.
func memDir(tb testing.TB) string {
	const (
		shm        = "/dev/shm"
		tmpfsMagic = 0x01021994
		room       = 256 << 20
	)
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err != nil || st.Type != tmpfsMagic || st.Bavail*uint64(st.Bsize) < room {
		return ""
	}
	d, err := os.MkdirTemp(shm, "syncd-sim-")
	if err != nil {
		return ""
	}
	tb.Cleanup(func() { os.RemoveAll(d) })
	return d
}
