package input

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/actprof/actprof/profiler"
)

func TestFingerprint(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 200<<10)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	a := filepath.Join(dir, "a.npy")
	os.WriteFile(a, data, 0o644)
	size, fp, err := Fingerprint(a)
	if err != nil {
		t.Fatal(err)
	}
	// the definition: SHA-256 of the size, the first and the last 64 KiB
	h := sha256.New()
	binary.Write(h, binary.LittleEndian, uint64(len(data)))
	h.Write(data[:64<<10])
	h.Write(data[len(data)-64<<10:])
	if want := "sha256:" + hex.EncodeToString(h.Sum(nil)); size != int64(len(data)) || fp != want {
		t.Fatalf("Fingerprint = %d, %s; want %d, %s", size, fp, len(data), want)
	}
	// another name and time: the same; another last byte or size: not
	b := filepath.Join(dir, "b.npy")
	os.WriteFile(b, data, 0o644)
	os.Chtimes(b, time.Unix(1, 0), time.Unix(1, 0))
	if _, fb, _ := Fingerprint(b); fb != fp {
		t.Errorf("a copy has fingerprint %s, want %s", fb, fp)
	}
	data[len(data)-1]++
	os.WriteFile(b, data, 0o644)
	if _, fb, _ := Fingerprint(b); fb == fp {
		t.Errorf("a changed last byte keeps the fingerprint")
	}
	os.WriteFile(b, data[:len(data)-1], 0o644)
	if _, fb, _ := Fingerprint(b); fb == fp {
		t.Errorf("a shorter file keeps the fingerprint")
	}
	// a small file: both ends are the whole file
	small := filepath.Join(dir, "s.npy")
	os.WriteFile(small, []byte("xyz"), 0o644)
	h = sha256.New()
	binary.Write(h, binary.LittleEndian, uint64(3))
	h.Write([]byte("xyzxyz"))
	if _, fs, _ := Fingerprint(small); fs != "sha256:"+hex.EncodeToString(h.Sum(nil)) {
		t.Errorf("small file: %s", fs)
	}
	if _, _, err := Fingerprint(filepath.Join(dir, "none.npy")); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestInputFilesListsShards(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"000.npy", "001.npy"} {
		os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644)
	}
	one := filepath.Join(dir, "000.npy")
	files, err := InputFiles([]profiler.Layer{
		{Name: "sh", Path: dir, Files: []string{one, filepath.Join(dir, "001.npy")}},
		{Name: "again", Path: one},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != one || files[1].Path != filepath.Join(dir, "001.npy") || files[0].Size != 7 {
		t.Fatalf("InputFiles = %+v", files)
	}
}
