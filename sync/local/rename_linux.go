package local

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames with RENAME_NOREPLACE relative to the two parent
// directories opened through the root: atomic, never replacing, and the
// last elements are not resolved outside their parents. File systems
// without renameat2 support fall back to renameCheck.
func renameNoReplace(root *os.Root, from, to string) error {
	fromDir, err := root.Open(osPath(parentDir(from)))
	if err != nil {
		return classify(err)
	}
	defer fromDir.Close()
	toDir, err := root.Open(osPath(parentDir(to)))
	if err != nil {
		return classify(err)
	}
	defer toDir.Close()
	var rerr error
	err = withFd(fromDir, func(ofd int) error {
		return withFd(toDir, func(nfd int) error {
			rerr = unix.Renameat2(ofd, path.Base(from), nfd, path.Base(to), unix.RENAME_NOREPLACE)
			return nil
		})
	})
	if err != nil {
		return err
	}
	switch {
	case rerr == nil:
		return nil
	case errors.Is(rerr, unix.EEXIST) || errors.Is(rerr, unix.ENOTEMPTY):
		return fmt.Errorf("%s: %w", to, ErrExists)
	case errors.Is(rerr, unix.ENOENT):
		return fmt.Errorf("%s: %w: %w", from, ErrNotFound, rerr)
	case errors.Is(rerr, unix.EINVAL) || errors.Is(rerr, unix.ENOSYS) || errors.Is(rerr, unix.ENOTSUP):
		return renameCheck(root, from, to)
	}
	return fmt.Errorf("renameat2 %s %s: %w", from, to, rerr)
}

func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
