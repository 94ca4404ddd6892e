//go:build unix

package local

import "syscall"

// nonBlock keeps an open of something that turned into a FIFO after it was
// stat'ed from blocking forever.
const nonBlock = syscall.O_NONBLOCK
