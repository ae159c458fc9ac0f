package profiler

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by actprof wrap one of these (test with
// errors.Is) and, where a file is involved, are a *FileError naming it.
var (
	// ErrFormat: the file is not a valid .npy, .npz or safetensors file, or
	// its header is malformed.
	ErrFormat = errors.New("bad format")
	// ErrTruncated: the file holds fewer bytes than its header promises.
	ErrTruncated = errors.New("truncated")
	// ErrUnsupported: a valid file whose element type or layout actprof does
	// not read (integer dtypes, big-endian, structured arrays).
	ErrUnsupported = errors.New("unsupported")
	// ErrShape: the array has no unit axis to profile (0-D or 1-D), no
	// observations, or a unit axis out of range.
	ErrShape = errors.New("bad shape")
	// ErrMerge: two profiles cannot be merged (threshold, units differ).
	ErrMerge = errors.New("profiles do not merge")
	// ErrBadOption: an option value is out of range.
	ErrBadOption = errors.New("bad option")
	// ErrBackend: the counting backend failed.
	ErrBackend = errors.New("backend failure")
)

// FileError is an error about one input or output file.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// FileErrorf returns a *FileError for path wrapping kind with a message.
func FileErrorf(path string, kind error, format string, args ...any) error {
	return &FileError{Path: path, Err: fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)}
}
