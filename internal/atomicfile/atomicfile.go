// Package atomicfile writes files that appear whole or not at all: the
// content goes to a temporary file in the same folder, renamed into place
// only when every byte was written. WriteSync also flushes the file to
// stable storage (fsync) before the rename, so that it survives a crash of
// the machine right after; Write leaves that to the kernel's writeback, as
// gzip, zstd and rsync do by default.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write calls fill with a buffered writer onto a temporary file next to path
// and, if fill and the write succeed, renames it to path. On any error the
// temporary file is removed and path is untouched. A path that exists and is
// not a regular file (/dev/null, a pipe, a terminal) is written directly:
// renaming over it would replace the device.
func Write(path string, fill func(w io.Writer) error) error {
	return write(path, false, fill)
}

// WriteSync is Write with an fsync of the file before it is renamed into
// place.
func WriteSync(path string, fill func(w io.Writer) error) error {
	return write(path, true, fill)
}

func write(path string, durable bool, fill func(w io.Writer) error) (err error) {
	if Special(path) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", path, unwrapPath(err))
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		if err := fill(bw); err != nil {
			f.Close()
			return err
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", path, unwrapPath(err))
		}
		return f.Close()
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if durable {
		if err = f.Sync(); err != nil {
			return fmt.Errorf("%s: %w", path, unwrapPath(err))
		}
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if err = Rename(f.Name(), path, durable); err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	return nil
}

// unwrapPath drops the *PathError's own (temporary) path from messages.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	if le, ok := err.(*os.LinkError); ok {
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}

// Special reports whether path exists and is not a regular file or a
// symbolic link to one.
func Special(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.Mode().IsRegular()
}
