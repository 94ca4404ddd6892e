package local

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openForWriting reports whether some process has f's file open for
// writing, when the system can tell (known). It asks for a read lease
// (fcntl F_SETLEASE), which Linux grants only while no process has the
// file open for writing, and gives it back at once: a writer that opens the
// file between the two calls waits for the release only that long. The
// kernel refuses a lease on a file the process neither owns nor may lease
// (CAP_LEASE), on file systems without leases, or with leases disabled:
// then known is false and the caller falls back on the file's age.
func openForWriting(f *os.File) (open, known bool) {
	sc, err := f.SyscallConn()
	if err != nil {
		return false, false
	}
	var lerr error
	if err := sc.Control(func(fd uintptr) {
		if _, lerr = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_RDLCK); lerr == nil {
			_, lerr = unix.FcntlInt(fd, unix.F_SETLEASE, unix.F_UNLCK)
			if lerr != nil {
				lerr = errLeaseKept
			}
		}
	}); err != nil {
		return false, false
	}
	switch {
	case lerr == nil:
		return false, true
	case errors.Is(lerr, unix.EAGAIN):
		return true, true
	}
	return false, false
}

// errLeaseKept: a lease granted but not given back. Closing the file
// releases it; the caller does, and reads the answer as unknown.
var errLeaseKept = errors.New("lease not released")
