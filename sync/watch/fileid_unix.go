//go:build unix

package watch

import (
	"io/fs"
	"syscall"
)

// fileIDOf returns the identity of a directory, which survives renames.
func fileIDOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true //nolint:unconvert // Dev is narrower on some systems
}
