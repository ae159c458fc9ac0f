package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing bytes [off, off+n) of f
// to disk now, without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE),
// so that the fsync before the final rename has only the tail left to wait
// for. An error is ignored: the fsync still makes the file durable.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
