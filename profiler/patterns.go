package profiler

// PatternSink receives, during a run, each observation's fired bits (one bit
// per unit, the same rule as the counts: x > T, NaN never). The pattern store
// (package store) is one.
type PatternSink interface {
	// BeginLayer is called before layer i of the run's plans is counted.
	BeginLayer(i int, p Plan) error
	// Write receives the bits of observations [first, first+n) of layer i,
	// Words(units) words each, unit u at bit u%64 of word u/64. It is called
	// from several goroutines at once, in any order of first, and must not
	// keep bits after it returns. The driver writes a layer's first chunk
	// (first == 0) from the goroutine that counted it, as soon as it is
	// counted, not through the queue the others wait in.
	Write(i int, first int64, n int, bits []uint64) error
	// EndLayer is called once every observation of layer i was written.
	EndLayer(i int) error
	// ChunkObservations is how many observations of layer i the sink
	// would like per Write (its block size), or 0 for no preference. The
	// driver then sizes blocks to at least that many.
	ChunkObservations(i int) int
}

// SlowWriter is implemented by a PatternSink whose Writes may cost more
// than counting the observations they carry (a slow compression level).
// When SlowWrites reports true the driver runs as many writing goroutines
// as counting workers, not one fewer, so that every core compresses while
// the workers wait for buffers: the pattern store at level balanced went
// from 1.02 to 0.71 s on 2 cores (2 GiB float32 file). At level fastest,
// whose Writes are cheap, the extra goroutine made runs 4% slower.
type SlowWriter interface {
	SlowWrites() bool
}
