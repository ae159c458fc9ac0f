package atomicfile

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// nameMax is the longest file name most filesystems take (NAME_MAX).
const nameMax = 255

// TempName returns the name of a temporary file for path, in its folder:
// ".BASE.tmp-" and suffix, with BASE shortened where that would pass
// nameMax bytes, so that any name the filesystem takes for path has a
// temporary name too.
func TempName(path, suffix string) string {
	dir, base := filepath.Split(path)
	if max := nameMax - len(".") - len(".tmp-") - len(suffix); len(base) > max {
		base = base[:max]
	}
	return filepath.Join(dir, "."+base+".tmp-"+suffix)
}

// CreateTemp creates a new temporary file beside path, named by TempName,
// with the permissions a new file gets (0666 less the umask), and records
// it so that RemoveTemps can remove it. Commit renames it into place;
// Discard removes it.
func CreateTemp(path string) (*os.File, error) {
	for try := 0; ; try++ {
		name := TempName(path, strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		if err != nil {
			return nil, err
		}
		temps.Lock()
		temps.names[name] = true
		temps.Unlock()
		return f, nil
	}
}

// Commit gives the closed temporary file tmp the mode of the file it
// replaces at path (if any: a replaced file keeps its permissions, as
// editors and sed -i keep them) and renames it to path (see Rename).
func Commit(tmp, path string, durable bool) error {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		if err := os.Chmod(tmp, st.Mode().Perm()); err != nil {
			return err
		}
	}
	if err := Rename(tmp, path, durable); err != nil {
		return err
	}
	forget(tmp)
	return nil
}

// Discard removes the temporary file tmp.
func Discard(tmp string) {
	os.Remove(tmp)
	forget(tmp)
}

var temps = struct {
	sync.Mutex
	names map[string]bool
}{names: map[string]bool{}}

func forget(name string) {
	temps.Lock()
	delete(temps.names, name)
	temps.Unlock()
}

// RemoveTemps removes every temporary file CreateTemp made that was not yet
// committed or discarded: a process that must exit at once (a second
// interrupt) leaves none behind. Files still being written lose their
// name only; their writers fail or finish into nothing.
func RemoveTemps() {
	temps.Lock()
	defer temps.Unlock()
	for name := range temps.names {
		os.Remove(name)
		delete(temps.names, name)
	}
}

// Keep takes the temporary file tmp off the files RemoveTemps removes: a
// file that a checkpoint names outlives the process that made it.
func Keep(tmp string) { forget(tmp) }
