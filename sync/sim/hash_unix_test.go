//go:build unix

package sim

import (
	"crypto/md5"
	"encoding/hex"
	"io/fs"
	"syscall"
)

// hashFile is the MD5 of the file at p, read through buf. It is
// sum(os.ReadFile(p)) in fewer system calls (open, read, close: an
// os.File also offers the descriptor to the runtime's poller, which
// refuses a regular file, at the cost of an fcntl or three and an
// epoll_ctl), with no buffer the size of the file: the checks hash the
// whole local tree several times a round, and these reads were most of a
// run's system calls.
func hashFile(p string, buf []byte) (string, error) {
	var fd int
	var err error
	for {
		if fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return "", &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	h := md5.New()
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		h.Write(buf[:n])
	}
}
