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

func write(path string, durable bool, fill func(w io.Writer) error) error {
	p, err := Begin(path)
	if err != nil {
		return err
	}
	if err := p.Fill(fill, durable); err != nil {
		return err
	}
	return p.Commit(durable)
}

// Pending is a file begun but not yet in place: Fill writes its content,
// Commit renames it into place. Its temporary file exists from Begin, so a
// folder that cannot be written, or a name that cannot be made, fails
// before any work; several outputs can be filled first and committed
// together.
type Pending struct {
	path      string
	f         *os.File
	tmpName   string
	direct    bool // a device or pipe: written through, nothing to rename
	filled    bool
	committed bool
}

// Begin creates the temporary file for path (or, for a path that is not a
// regular file, such as /dev/null, opens it for writing).
func Begin(path string) (*Pending, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: is a folder", path)
	}
	if Special(path) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
		}
		return &Pending{path: path, f: f, direct: true}, nil
	}
	f, err := CreateTemp(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	return &Pending{path: path, f: f, tmpName: f.Name()}, nil
}

// Fill writes the content through a buffered writer, flushes it (and
// fsyncs it if durable) and closes the file. On an error the temporary file
// is removed.
func (p *Pending) Fill(fill func(w io.Writer) error, durable bool) (err error) {
	defer func() {
		if err != nil {
			p.Abort()
		}
	}()
	bw := bufio.NewWriterSize(p.f, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", p.path, unwrapPath(err))
	}
	if durable && !p.direct {
		if err = p.f.Sync(); err != nil {
			return fmt.Errorf("%s: %w", p.path, unwrapPath(err))
		}
	}
	err = p.f.Close()
	p.f = nil
	if err != nil {
		return fmt.Errorf("%s: %w", p.path, unwrapPath(err))
	}
	p.filled = true
	return nil
}

// Commit renames the filled file into place.
func (p *Pending) Commit(durable bool) error {
	if !p.filled {
		p.Abort()
		return fmt.Errorf("%s: not written", p.path)
	}
	if p.direct {
		return nil
	}
	if err := Commit(p.tmpName, p.path, durable); err != nil {
		p.Abort()
		return fmt.Errorf("%s: %w", p.path, unwrapPath(err))
	}
	p.committed = true
	return nil
}

// Abort removes the temporary file (a pending file never filled or
// committed); it may be called more than once.
func (p *Pending) Abort() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	if !p.direct && !p.committed {
		Discard(p.tmpName)
	}
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
