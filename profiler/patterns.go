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
