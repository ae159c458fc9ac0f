package store

import (
	"io/fs"
	"os"

	"github.com/actprof/actprof/profiler"
)

// notRegularError: a store path that names no regular file (a FIFO, a
// device, a folder, a socket). It is a profiler.ErrUnsupported.
type notRegularError struct{ what string }

func (e notRegularError) Error() string { return "not a regular file (" + e.what + ")" }

func (e notRegularError) Is(target error) bool { return target == profiler.ErrUnsupported }

// checkRegular returns a *profiler.FileError for path if mode is not a
// regular file's.
func checkRegular(path string, mode fs.FileMode) error {
	if mode.IsRegular() {
		return nil
	}
	what := "not a plain file"
	switch {
	case mode&fs.ModeDir != 0:
		what = "a folder"
	case mode&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case mode&fs.ModeSocket != 0:
		what = "a socket"
	case mode&fs.ModeCharDevice != 0:
		what = "a character device"
	case mode&fs.ModeDevice != 0:
		what = "a block device"
	}
	return &profiler.FileError{Path: path, Err: notRegularError{what}}
}

// openRegular opens path for reading if it is a regular file (or a link to
// one). It refuses anything else before opening it, so that a FIFO does not
// block the open until a writer comes; the file is opened without blocking
// (openFlags) and checked again once open, in case path was replaced by
// something else in between.
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	if err := checkRegular(path, st.Mode()); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, pathError(path, err)
	}
	if st, err = f.Stat(); err == nil {
		err = checkRegular(path, st.Mode())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// pathError is err as "PATH: problem", the form every error line takes.
func pathError(path string, err error) error {
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	return &profiler.FileError{Path: path, Err: err}
}
