package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/actprof/actprof/internal/s3test"
)

// Parquet files written by parquet-wasm from apache-arrow tables of
// NumPy's values: several row groups; snappy, zstd, gzip and no
// compression; version 1 and 2 data pages, with and without dictionaries,
// BYTE_STREAM_SPLIT floats; fixed-size lists, lists, lists of lists and
// lists of fixed-size lists (T varying by row, some rows empty); float32,
// float16 and float64; columns left out with --layer; a folder of shards
// joined. Counts and statistics equal NumPy's.
func TestParquetFiles(t *testing.T) {
	dir, want := makeArrowFiles(t)
	n := 0
	for file, layers := range want {
		if !strings.HasSuffix(file, ".parquet") {
			continue
		}
		n++
		var args []string
		if strings.HasPrefix(file, "mixed.") {
			args = []string{"--layer", "acts"}
		}
		checkAgainstNumPy(t, file, filepath.Join(dir, file), layers, args...)
	}
	if n < 7 {
		t.Errorf("%d Parquet files, want 7 or more", n)
	}
	// shards of one table, the folder given, and the folder above it
	hub := want["hub/data"]
	checkAgainstNumPy(t, "hub/data", filepath.Join(dir, "hub", "data"), hub, "--layer", "hook", "--layer", "h16")
	sub := map[string]arrowRef{}
	for n, r := range hub {
		sub["data/"+n] = r
	}
	checkAgainstNumPy(t, "hub", filepath.Join(dir, "hub"), sub, "--layer", "data/h*")
	// one decoder at a time, and a chunk smaller than a row group's values
	checkAgainstNumPy(t, "nested.parquet, one worker", filepath.Join(dir, "nested.parquet"), want["nested.parquet"], "--workers", "1")
}

// Bad Parquet files: one line naming the file and the problem, exit 1,
// nothing written.
func TestParquetBadFiles(t *testing.T) {
	dir, _ := makeArrowFiles(t)
	bad := filepath.Join(dir, "bad")
	src, err := os.ReadFile(filepath.Join(dir, "fsl.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(bad, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("truncated.parquet", src[:len(src)*6/10])
	magic := append([]byte("PAR2"), src[4:]...)
	write("magic.parquet", magic)
	write("short.parquet", []byte("PAR1PAR1"))
	// a footer length past the file's start
	forged := append([]byte(nil), src...)
	copy(forged[len(forged)-8:], []byte{0xff, 0xff, 0xff, 0x00})
	write("footer.parquet", forged)
	// garbage in the middle of the data pages
	mid := append([]byte(nil), src...)
	for i := len(mid) / 4; i < len(mid)/2; i++ {
		mid[i] ^= 0x5a
	}
	write("garbled.parquet", mid)
	for _, c := range []struct{ file, want string }{
		{"nulls.parquet", `column "nulls", row group 1: null values`},
		{"strings.parquet", `column "strings" holds string, not lists of floats`},
		{"ragged.parquet", `column "ragged", row group 1: a list of 5 values where the others hold 4`},
		{"ragged2.parquet", `column "ragged2", row group 1: a list of 5 values where the others hold 4`},
		{"delta16.parquet", `column "h16", row group 1: values in DELTA_BYTE_ARRAY encoding`},
		{"truncated.parquet", "does not end with its magic"},
		{"magic.parquet", `not a Parquet file: it does not start with "PAR1"`},
		{"short.parquet", "too short for a Parquet file"},
		{"footer.parquet", "bad format"},
		{"garbled.parquet", "bad format"},
	} {
		refusedOneLine(t, filepath.Join(bad, c.file), filepath.Join(dir, "bad.json"), c.want)
	}
}

// Parquet objects from the loopback S3 server, read by ranged GETs: the
// profile of each is the local file's, through faults too, and a folder of
// shards is the local folder's.
func TestS3Parquet(t *testing.T) {
	dir, want := makeArrowFiles(t)
	srv := s3test.Start(t, "parquets")
	for _, name := range []string{"nested.parquet", "zstd.parquet", "fsl.parquet"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		srv.Put(t, "acts/"+name, b)
		if _, ok := want[name]; !ok {
			t.Fatalf("no reference for %s", name)
		}
		local := profileJSON(t, filepath.Join(dir, name))
		if got := profileJSON(t, "s3://parquets/acts/"+name); !reflect.DeepEqual(got, local) {
			t.Errorf("%s: the profile from S3 differs from the local file's", name)
		}
	}
	srv.PutDir(t, "hub/data/", filepath.Join(dir, "hub", "data"))
	local := profileJSON(t, "--layer", "hook", "--layer", "h16", filepath.Join(dir, "hub", "data"))
	srv.ResetNext(3, 200)
	srv.FailNext(2)
	if got := profileJSON(t, "--layer", "hook", "--layer", "h16", "s3://parquets/hub/data/"); !reflect.DeepEqual(got, local) {
		t.Errorf("hub/data: the profile from S3 differs from the local folder's")
	}
	if n := srv.Pending(); n != 0 {
		t.Errorf("%d faults not served", n)
	}
}
