//go:build unix

package store

import "syscall"

// openFlags: a FIFO that replaces a store between openRegular's stat and
// its open opens at once (and is then refused) rather than waiting for a
// writer; on a regular file O_NONBLOCK changes nothing.
const openFlags = syscall.O_NONBLOCK
