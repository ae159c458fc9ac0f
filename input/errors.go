package input

import "errors"

// ErrShardMismatch: the .npy shards of one layer disagree on dtype, order or
// on an axis other than the first. The readers' other errors wrap the
// profiler's sentinels (profiler.ErrFormat, ErrTruncated, ErrUnsupported),
// shared with the in-memory and tensor paths, and are *profiler.FileError
// values naming the file.
var ErrShardMismatch = errors.New("shards disagree")
