package profiler

// Backend counts firing units. Implementations: package cpu (the reference,
// always available) and package cuda (build tag cuda).
type Backend interface {
	// Name identifies the backend in profiles and messages ("cpu", "cuda:0").
	Name() string
	// Count adds each unit's fire count (x > T) and NaN count in b to t,
	// when t.Bits is not nil writes the fired bits of each observation whose
	// elements all lie in b, and when t.Stats is not nil adds b's value
	// statistics to it (b then holds whole observation groups). It is
	// called concurrently from several goroutines, each with its own Tally.
	Count(b *Block, t *Tally) error
}

// Device is the optional side of a backend that counts on a device of its
// own (a GPU): how the driver should feed it, the host memory it copies
// from fastest, and the resources its owner releases. The driver uses it
// when the backend has it; a backend without it (the CPU) gets the
// defaults: GOMAXPROCS workers, DefaultChunkBytes, Go memory.
type Device interface {
	Backend
	// Workers is the number of counting goroutines that keep the device
	// busy (0: the default). Each spends much of its time waiting for its
	// chunk on the device, so more than one per core pays.
	Workers() int
	// ChunkBytes is the block size the device counts best (0: the
	// default).
	ChunkBytes() int
	// AllocHost returns n bytes of host memory that the device copies
	// from directly (page-locked): the driver reads chunks into them, so a
	// chunk crosses the bus at full speed with no staging copy. An error
	// makes the driver use Go memory instead. FreeHost gives a buffer
	// back.
	AllocHost(n int) ([]byte, error)
	FreeHost(b []byte)
	// Close releases the device's memory and context; the owner calls it
	// once no run is counting on it.
	Close() error
}

// Block is a contiguous run of a layer's elements, the unit of work handed
// to a backend: one call per chunk, never per row or element.
type Block struct {
	DType DType
	Thr   Threshold
	Geom  Geometry
	// Data holds whole elements, little-endian, in C order of the [Outer,
	// Units, Inner] view; Start is the index of its first element in the
	// whole array.
	Data  []byte
	Start int64
}

// Len is the number of elements in the block.
func (b *Block) Len() int { return len(b.Data) / b.DType.Size() }

// Tally accumulates counts for one layer. Counts and NaNs have one entry per
// unit.
type Tally struct {
	Counts []uint64
	NaNs   []uint64
	// Bits, if not nil, receives the packed fired bits of the block's
	// observations: observation k of the block (the k-th whose elements the
	// block holds completely) in words [k*W, (k+1)*W) with W = Words(units),
	// unit u at bit u%64 of word u/64. Only blocks of whole [Units, Inner]
	// groups carry patterns.
	Bits []uint64
	// Stats, if not nil, receives the block's value statistics. Blocks
	// then hold whole [Units, Inner] groups.
	Stats *Stats
}

// NewTally allocates a zero tally for units.
func NewTally(units int) *Tally {
	return &Tally{Counts: make([]uint64, units), NaNs: make([]uint64, units)}
}

// Add adds o's counts into t.
func (t *Tally) Add(o *Tally) {
	for i, c := range o.Counts {
		t.Counts[i] += c
	}
	for i, c := range o.NaNs {
		t.NaNs[i] += c
	}
	if t.Stats != nil && o.Stats != nil {
		t.Stats.Add(o.Stats)
	}
}

// Words is the number of 64-bit words that hold one observation's bits.
func Words(units int) int { return (units + 63) / 64 }
