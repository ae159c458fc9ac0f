//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package input

import (
	"os"
	"sync"
	"syscall"
)

const mmapSupported = true

var pageMask = int64(os.Getpagesize() - 1)

// mapWindow maps the page-aligned window of f that covers [off, off+n),
// read-only and shared, and returns the n bytes at off with the function
// that unmaps them. The unmapping runs once however often it is called, and
// is safe from any goroutine.
func mapWindow(f *os.File, off int64, n int) ([]byte, func(), error) {
	start := off &^ pageMask
	delta := int(off - start)
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	var m []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		m, merr = syscall.Mmap(int(fd), start, delta+n, syscall.PROT_READ, mmapFlags)
	}); err != nil {
		return nil, nil, err
	}
	if merr != nil {
		return nil, nil, merr
	}
	var once sync.Once
	return m[delta : delta+n : delta+n], func() { once.Do(func() { syscall.Munmap(m) }) }, nil
}
