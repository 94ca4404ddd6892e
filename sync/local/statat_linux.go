package local

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// statDir calls fn for each name with the lstat of that name in the open
// directory dir, relative to dir's descriptor: no path is resolved again, so
// a directory swapped for a symlink meanwhile cannot redirect it.
func statDir(_ *os.Root, dir *os.File, _ string, names []string, fn func(i int, st fileStat, err error)) error {
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) {
		var st unix.Stat_t
		for i, name := range names {
			if err := unix.Fstatat(int(fd), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				fn(i, fileStat{}, &fs.PathError{Op: "fstatat", Path: name, Err: err})
				continue
			}
			fn(i, unixStat(&st), nil)
		}
	})
}

func unixStat(st *unix.Stat_t) fileStat {
	s := fileStat{size: st.Size, mtimeNs: st.Mtim.Nano(), dev: st.Dev, ino: st.Ino}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		s.mode = fs.ModeDir
	case unix.S_IFLNK:
		s.mode = fs.ModeSymlink
	case unix.S_IFIFO:
		s.mode = fs.ModeNamedPipe
	case unix.S_IFSOCK:
		s.mode = fs.ModeSocket
	case unix.S_IFCHR:
		s.mode = fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		s.mode = fs.ModeDevice
	default:
		s.mode = fs.ModeIrregular
	}
	return s
}
