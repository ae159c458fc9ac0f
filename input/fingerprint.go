package input

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/actprof/actprof/profiler"
)

// fingerprintEdge is how much of each end of a file a fingerprint reads.
const fingerprintEdge = 64 << 10

// maxFingerprintHeader bounds the safetensors header a fingerprint reads
// whole.
const maxFingerprintHeader = 16 << 20

// Fingerprint identifies a file's content cheaply, whatever its name or
// modification time: "sha256:" and the hex SHA-256 of its size (8 bytes,
// little-endian), its first 64 KiB (for a .safetensors file, at least its
// whole header, up to 16 MiB) and its last 64 KiB. Two copies of one
// dataset have the same fingerprints; a file rewritten with other values
// at its ends, another header or another size has another. An S3 object is
// fingerprinted the same way, with two ranged GETs, so that an object and
// its local copy have one fingerprint; its ETag is not used, since it
// depends on how the object was uploaded (in parts or whole) and matches no
// local file.
func Fingerprint(path string) (size int64, fp string, err error) {
	f, size, err := openSized(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	head := int64(fingerprintEdge)
	if strings.HasSuffix(strings.ToLower(path), ".safetensors") && size >= 8 {
		var n [8]byte
		if _, err := f.ReadAt(n[:], 0); err != nil {
			return 0, "", fileError(path, err)
		}
		if h := binary.LittleEndian.Uint64(n[:]); h <= maxFingerprintHeader {
			head = max(head, 8+int64(h))
		}
	}
	h := sha256.New()
	var sz [8]byte
	binary.LittleEndian.PutUint64(sz[:], uint64(size))
	h.Write(sz[:])
	for _, r := range [][2]int64{{0, min(head, size)}, {max(0, size-fingerprintEdge), size}} {
		buf := make([]byte, r[1]-r[0])
		if _, err := f.ReadAt(buf, r[0]); err != nil {
			return 0, "", fileError(path, err)
		}
		h.Write(buf)
	}
	return size, "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// InputFiles lists the files layers are read from, each once, in order,
// with their sizes and fingerprints: the input set a shard's profile
// records. Files are fingerprinted by up to fingerprintWorkers at once (a
// folder may hold thousands of small ones).
func InputFiles(layers []profiler.Layer) ([]profiler.InputFile, error) {
	var paths []string
	seen := map[string]bool{}
	for _, l := range layers {
		files := l.Files
		if files == nil {
			files = []string{l.Path}
		}
		for _, p := range files {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	out := make([]profiler.InputFile, len(paths))
	errs := make([]error, len(paths))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(fingerprintWorkers, len(paths)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(paths); i = int(next.Add(1) - 1) {
				size, fp, err := Fingerprint(paths[i])
				out[i], errs[i] = profiler.InputFile{Path: paths[i], Size: size, Fingerprint: fp}, err
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fingerprintWorkers bounds the files fingerprinted at once.
const fingerprintWorkers = 8
