//go:build linux

package pagemem

import "golang.org/x/sys/unix"

// Alloc returns n zeroed bytes (n > 0), mapped and populated at once
// (mmap with MAP_POPULATE), and whether they are outside the Go heap (and
// so must go back through Free). Where the mapping fails it falls back to
// the Go heap.
func Alloc(n int) ([]byte, bool) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return make([]byte, n), false
	}
	return b, true
}

// Free unmaps b, which Alloc returned with true (its whole length).
func Free(b []byte) error {
	return unix.Munmap(b)
}
