package store

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/actprof/actprof/profiler"
)

// TestDictionaryBlocks: at level better, each block of BlockObs
// observations is stored as fastSplit blocks (parts) of at most
// splitLen(BlockObs) observations; part k < 4 (block 0's) names the parts
// before it as its dictionary, the parts of blocks 1-3 the parts of the
// blocks before theirs (4, 8, 12), and every later part the first 16; every
// part decodes back, and a frame naming blocks at or after itself is
// refused.
func TestDictionaryBlocks(t *testing.T) {
	const units = 2048
	bo := BlockObs(units)
	nobs := 7*bo - 100
	w := words(units)
	rng := rand.New(rand.NewPCG(9, 10))
	pats := make([][]uint64, 40) // few distinct rows: zstd's matches win
	for p := range pats {
		pats[p] = make([]uint64, w)
		for k := range pats[p] {
			pats[p][k] = rng.Uint64() & rng.Uint64() & rng.Uint64()
		}
	}
	rows := make([]uint64, nobs*w)
	for o := 0; o < nobs; o++ {
		copy(rows[o*w:], pats[rng.IntN(len(pats))])
	}
	path := filepath.Join(t.TempDir(), "d.actbits")
	writeDense(t, path, "better", units, nobs, rows, 4*bo, nil) // chunks of the sink's size
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l := r.Layers()[0]
	if n := len(r.index[0]); n != 7*fastSplit {
		t.Fatalf("%d blocks, want %d (7 of BlockObs, each in %d parts)", n, 7*fastSplit, fastSplit)
	}
	zstdBlocks := 0
	for k, e := range r.index[0] {
		if int(e.NObs) > splitLen(bo) {
			t.Errorf("block %d: %d observations, more than %d", k, e.NObs, splitLen(bo))
		}
		data, err := r.readAt(int64(e.Length), int64(e.Offset))
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != codecZstd {
			continue
		}
		zstdBlocks++
		want := min(k, 16)
		if k >= 4 {
			want = min(k/4*4, 16)
		}
		j, err := l.frameDict(k, data[1:])
		if err != nil || j != want {
			t.Errorf("block %d: dictionary of %d blocks (%v), want %d", k, j, err, want)
		}
		b, err := l.block(k)
		if err != nil {
			t.Fatal(err)
		}
		back := b.rows()
		for o := 0; o < b.nobs; o++ {
			for q := 0; q < w; q++ {
				if back[o*w+q] != rows[(int(b.first)+o)*w+q] {
					t.Fatalf("block %d observation %d decodes differently", k, o)
				}
			}
		}
	}
	// A fresh reader asked for the last block first builds the 16-part
	// dictionary, its parts decoded with their own shorter ones.
	r2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	l2 := r2.Layers()[0]
	for k := l2.Blocks() - 1; k >= 0; k -= 5 {
		b, err := l2.block(k)
		if err != nil {
			t.Fatal(err)
		}
		if back := b.rows(); !slices.Equal(back[:b.nobs*w], rows[int(b.first)*w:(int(b.first)+b.nobs)*w]) {
			t.Fatalf("fresh reader: block %d decodes differently", k)
		}
	}
	if zstdBlocks < 5 {
		t.Fatalf("only %d zstd blocks: the test data should favour zstd", zstdBlocks)
	}
	// a frame of block 2 naming 3 blocks (itself included) is refused
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(dictID(0, 3), make([]byte, 64)))
	forged := enc.EncodeAll(make([]byte, 100), nil)
	if _, err := l.frameDict(2, forged); err == nil {
		t.Error("a frame naming blocks at or after itself is accepted")
	}
	binary.LittleEndian.PutUint32(forged[5:], 0) // damaged header bytes: an error, no panic
	l.frameDict(2, forged)
}

// denseLayer is the header of a store of one float32 layer "l" of nobs
// observations of units, and its plan.
func denseLayer(units, nobs int) (Header, profiler.Plan) {
	h := Header{FormatVersion: FormatVersion, Codec: Codecs, Layers: []LayerInfo{{Name: "l", DType: "float32",
		Shape: []int{nobs, units}, UnitAxis: 1, Units: units, Observations: int64(nobs), ObsPerSample: 1}}}
	plan := profiler.Plan{Layer: profiler.Layer{Name: "l", Shape: []int{nobs, units}}, Geom: profiler.Geometry{Outer: int64(nobs), Units: int64(units), Inner: 1}}
	return h, plan
}

// writeDense writes rows (nobs observations of units) as the store of
// denseLayer at path, in chunks of chunk observations, in the order of
// the chunk indices in order (nil: first to last).
func writeDense(t *testing.T, path, level string, units, nobs int, rows []uint64, chunk int, order []int) {
	t.Helper()
	h, plan := denseLayer(units, nobs)
	w := words(units)
	wr, err := Create(path, h, level)
	if err != nil {
		t.Fatal(err)
	}
	if err := wr.BeginLayer(0, plan); err != nil {
		t.Fatal(err)
	}
	if order == nil {
		for c := 0; c*chunk < nobs; c++ {
			order = append(order, c)
		}
	}
	for _, c := range order {
		first := c * chunk
		n := min(chunk, nobs-first)
		if err := wr.Write(0, int64(first), n, rows[first*w:(first+n)*w]); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.EndLayer(0); err != nil {
		t.Fatal(err)
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
}
