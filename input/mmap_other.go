//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package input

import (
	"errors"
	"os"
)

const mmapSupported = false

// mapWindow is not available here: data are read with pread.
func mapWindow(f *os.File, off int64, n int) ([]byte, func(), error) {
	return nil, nil, errors.New("mmap not supported")
}
