package main

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cacheSamples is how many pages of a file residentFraction looks at.
const cacheSamples = 1024

// residentFraction estimates the fraction of the bytes of files that is in
// the page cache, from mincore(2) over up to cacheSamples evenly spaced
// pages of each (files weighted by size); ok is false when it cannot tell
// (no file could be mapped).
func residentFraction(files []string) (frac float64, ok bool) {
	var in, all float64
	ps := int64(os.Getpagesize())
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 || int64(int(st.Size())) != st.Size() {
			f.Close()
			continue
		}
		size := st.Size()
		m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
		f.Close()
		if err != nil {
			continue
		}
		pages := (size + ps - 1) / ps
		k := min(pages, cacheSamples)
		hit := 0
		var vec [1]byte
		for i := range k {
			off := i * pages / k * ps
			_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[off])), uintptr(ps), uintptr(unsafe.Pointer(&vec[0])))
			if e == 0 && vec[0]&1 != 0 {
				hit++
			}
		}
		unix.Munmap(m)
		in += float64(size) * float64(hit) / float64(k)
		all += float64(size)
		ok = true
	}
	if !ok || all == 0 {
		return 0, false
	}
	return in / all, true
}
