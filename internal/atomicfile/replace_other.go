//go:build !linux

package atomicfile

import "os"

// Rename moves the finished temporary file tmp to path, replacing any file
// there in one step (durable is for the Linux version).
func Rename(tmp, path string, durable bool) error {
	return os.Rename(tmp, path)
}
