package atomicfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Rename moves the finished temporary file tmp to path, replacing any file
// there in one step. Over an existing file it exchanges the two names
// (renameat2 RENAME_EXCHANGE) and removes the old file, instead of renaming
// over it: ext4 starts writing back every dirty page of a file renamed
// over another (its auto_da_alloc heuristic, for programs that never
// fsync), inside the rename, which would make replacing a store of
// gigabytes take seconds. durable callers have
// synced tmp already and rename plainly. Where the exchange is not
// supported (old kernels, some filesystems) it renames.
func Rename(tmp, path string, durable bool) error {
	if !durable {
		if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
			err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
			if err == nil {
				// tmp is now the old file
				if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				return nil
			}
		}
	}
	return os.Rename(tmp, path)
}
