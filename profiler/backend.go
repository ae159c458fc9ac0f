package profiler

// Backend counts firing units. Implementations: package cpu (the reference,
// always available) and package cuda (build tag cuda).
type Backend interface {
	// Name identifies the backend in profiles and messages ("cpu", "cuda:0").
	Name() string
	// Count adds each unit's fire count (x > T) and NaN count in b to t, and
	// when t.Bits is not nil writes the fired bits of each observation whose
	// elements all lie in b (b.FirstObs() on). It is called concurrently
	// from several goroutines, each with its own Tally.
	Count(b *Block, t *Tally) error
}

// HostAllocator is implemented by backends that count faster from host
// memory of their own: a GPU backend hands out page-locked memory, which it
// copies to the device directly, at full bus speed and with no staging
// copy. When the backend has it, the driver reads chunks into such buffers
// and gives them back with FreeHost when the layer is done.
type HostAllocator interface {
	AllocHost(n int) ([]byte, error)
	FreeHost(b []byte)
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
}

// Words is the number of 64-bit words that hold one observation's bits.
func Words(units int) int { return (units + 63) / 64 }
