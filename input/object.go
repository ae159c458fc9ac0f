package input

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Object is what a reader reads: a local file, or an object in a store
// such as S3. ReadAt is safe from several goroutines at once; a read short
// of len(p) returns an error. Errors name the object. A reader opens one
// with OpenObject (or openSized), parses headers through objectReader (or
// io.NewSectionReader, for libraries that want an io.ReadSeeker and
// io.ReaderAt), and reads data through openRegion, which maps local files
// and reads others with ReadAt, so that every format reads every store.
type Object interface {
	io.ReaderAt
	io.Closer
	// Name is the path the object was opened by, for messages.
	Name() string
	// Size returns the object's size now: a local file is stat'ed again
	// (it may have been cut short since it was opened), a stored object's
	// size is the one it had when opened.
	Size() (int64, error)
}

// mappable is an Object whose bytes can be memory-mapped: a local file.
type mappable interface {
	file() *os.File
}

// store holds objects under names: the local filesystem (and, through
// storeFor, object stores addressed by URL).
type store interface {
	// Open opens the object at name for reading.
	Open(name string) (Object, error)
	// Stat tells whether name is an object (or regular file), a folder, or
	// neither (an error naming it).
	Stat(name string) (kind entryKind, err error)
	// ReadDir lists a folder's entries in lexical order, following symbolic
	// links and leaving out names starting with '.' and entries that are
	// neither objects nor folders.
	ReadDir(dir string) ([]entry, error)
	// Join names the entry elem of folder dir.
	Join(dir, elem string) string
}

// entryKind is what a name in a store stands for.
type entryKind int

const (
	// kindOther: something neither a regular file nor a folder (a device,
	// a socket).
	kindOther entryKind = iota
	// kindFile: a regular file or a stored object.
	kindFile
	// kindDir: a folder, or a prefix of stored objects.
	kindDir
)

// entry is a folder entry, symbolic links followed.
type entry struct {
	name, path string
	dir        bool
}

// globber is a store that expands patterns itself (an object store, which
// no shell can list).
type globber interface {
	// Glob returns the names that pattern matches, or an error when none
	// does.
	Glob(pattern string) ([]string, error)
	// IsPattern reports whether name is a pattern to expand.
	IsPattern(name string) bool
}

// storeFor returns the store that holds the object at name: S3 for an
// s3:// URL, the local filesystem otherwise.
func storeFor(name string) (store, error) {
	if isS3(name) {
		return newS3Store()
	}
	return localStore{}, nil
}

// OpenObject opens the object at name (a local path, or s3://bucket/key)
// for reading. S3 objects are read with ranged GETs from the endpoint and
// with the credentials that the AWS environment variables and files name
// (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_PROFILE, ...; see
// newS3Client).
func OpenObject(name string) (Object, error) {
	st, err := storeFor(name)
	if err != nil {
		return nil, err
	}
	return st.Open(name)
}

// localStore is the local filesystem.
type localStore struct{}

func (localStore) Open(name string) (Object, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fileError(name, err)
	}
	return &localFile{f: f, name: name}, nil
}

func (localStore) Stat(name string) (entryKind, error) {
	st, err := os.Stat(name)
	switch {
	case err != nil:
		return kindOther, fileError(name, err)
	case st.IsDir():
		return kindDir, nil
	case st.Mode().IsRegular():
		return kindFile, nil
	}
	return kindOther, nil
}

func (localStore) Join(dir, elem string) string { return filepath.Join(dir, elem) }

func (localStore) ReadDir(dir string) ([]entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fileError(dir, err)
	}
	var out []entry
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		e := entry{name: de.Name(), path: filepath.Join(dir, de.Name())}
		mode := de.Type()
		if mode&os.ModeSymlink != 0 {
			st, err := os.Stat(e.path)
			switch {
			case err == nil:
				mode = st.Mode().Type()
			case fileKind(e.name) == "":
				continue // a broken link that would be ignored anyway
			default:
				return nil, fileError(e.path, err)
			}
		}
		switch {
		case mode.IsDir():
			e.dir = true
		case !mode.IsRegular():
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// localFile is a local file: read with pread, mapped where the reader maps.
type localFile struct {
	f    *os.File
	name string
}

func (l *localFile) Name() string   { return l.name }
func (l *localFile) file() *os.File { return l.f }
func (l *localFile) Close() error   { return l.f.Close() }

func (l *localFile) Size() (int64, error) {
	st, err := l.f.Stat()
	if err != nil {
		return 0, fileError(l.name, err)
	}
	return st.Size(), nil
}

// ReadAt reads with pread; errors from the os package come back as they
// are, so that callers can tell an end of file from a failed read.
func (l *localFile) ReadAt(p []byte, off int64) (int, error) { return l.f.ReadAt(p, off) }

// objectReader reads an object from its start, for the header parsers.
func objectReader(o Object, size int64) io.Reader { return io.NewSectionReader(o, 0, size) }

// openSized opens the object at name and returns it with its size.
func openSized(name string) (Object, int64, error) {
	o, err := OpenObject(name)
	if err != nil {
		return nil, 0, err
	}
	size, err := o.Size()
	if err != nil {
		o.Close()
		return nil, 0, err
	}
	return o, size, nil
}
