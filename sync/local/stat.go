package local

import (
	"io/fs"
	"os"

	"github.com/syncd/syncd/sync/plan"
)

// fileStat is what the scanner and the premise checks need of a stat: the
// type bits, size, mtime and identity (device, inode; zero where the OS has
// none to offer).
type fileStat struct {
	mode    fs.FileMode // type bits only
	size    int64
	mtimeNs int64
	dev     uint64
	ino     uint64
}

func statOf(fi os.FileInfo) fileStat {
	dev, ino := identity(fi)
	return fileStat{mode: fi.Mode().Type(), size: fi.Size(), mtimeNs: fi.ModTime().UnixNano(), dev: dev, ino: ino}
}

// kind is the tree kind of a stat; 0 for everything syncd does not sync
// (symlinks, sockets, devices, FIFOs).
func (s fileStat) kind() plan.Kind {
	switch {
	case s.mode.IsRegular():
		return plan.File
	case s.mode.IsDir():
		return plan.Dir
	}
	return 0
}

// what names a stat's type for problem messages.
func (s fileStat) what() string {
	switch {
	case s.mode&fs.ModeSymlink != 0:
		return "symbolic link"
	case s.mode&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case s.mode&fs.ModeSocket != 0:
		return "socket"
	case s.mode&fs.ModeDevice != 0:
		return "device"
	case s.mode.IsDir():
		return "directory"
	case s.mode.IsRegular():
		return "file"
	}
	return "special file"
}

func (s fileStat) local(name string) plan.Local {
	l := plan.Local{Kind: s.kind(), Name: name, MtimeNs: s.mtimeNs, Dev: s.dev, Ino: s.ino}
	if l.Kind == plan.File {
		l.Size = s.size
	}
	return l
}

// sameObject reports whether two stats are of the same file system object.
func (s fileStat) sameObject(o fileStat) bool {
	return s.dev == o.dev && s.ino == o.ino && s.mode == o.mode
}

// sameContent reports whether nothing suggests the content changed between
// two stats of the same object.
func (s fileStat) sameContent(o fileStat) bool {
	return s.sameObject(o) && s.size == o.size && s.mtimeNs == o.mtimeNs
}

// Matches reports whether got still satisfies the premise want: same kind
// and identity, and for files the same size and mtime. A directory's mtime
// changes whenever an entry is added or removed, so it is not compared.
// Identity is compared only when both sides know it (non-zero inode).
func Matches(want, got plan.Local) bool {
	if want.Kind != got.Kind {
		return false
	}
	if want.Ino != 0 && got.Ino != 0 && (want.Ino != got.Ino || want.Dev != got.Dev) {
		return false
	}
	if want.Kind == plan.File {
		return want.Size == got.Size && want.MtimeNs == got.MtimeNs
	}
	return true
}
