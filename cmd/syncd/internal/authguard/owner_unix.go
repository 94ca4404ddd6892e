//go:build unix

package authguard

import (
	"os"
	"syscall"
)

// adopt gives a file root created in dir to dir's owner, so that root
// running `syncd once` in the service's state_dir does not leave files the
// service's user cannot open. Failures are ignored: the file still works
// for root, and the service reports what it cannot open.
func adopt(dir, name string) {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = os.Lchown(name, int(st.Uid), int(st.Gid))
	}
}
