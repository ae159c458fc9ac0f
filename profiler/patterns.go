package profiler

// PatternSink receives, during a run, each observation's fired bits (one bit
// per unit, the same rule as the counts: x > T, NaN never). The pattern store
// (package store) is one.
//
// Order: for each layer i of the run's plans, in order, the driver calls
// BeginLayer(i), then Layout(i), then Write for chunks that cover the
// layer's observations without gap or overlap, then EndLayer(i) once every
// Write of the layer has returned. The layer's chunk 0 (first == 0) is
// written first, alone, from the goroutine that counted it, as soon as it
// is counted; the other chunks are written after it has returned, from
// several goroutines at once, in any order of first. Every chunk but the
// layer's last holds a whole multiple of Layout(i).Chunk observations, but
// chunk 0, which holds Layout(i).Shift fewer (so at least Chunk - Shift,
// or the whole layer). In a shard's run (Options.Shard) observations are
// numbered from the first of the layer's rows in the shard.
type PatternSink interface {
	// BeginLayer is called before layer i of the run's plans is counted.
	BeginLayer(i int, p Plan) error
	// Layout describes how the sink wants layer i delivered; called after
	// BeginLayer(i).
	Layout(i int) PatternLayout
	// Write receives the bits of observations [first, first+n) of layer i,
	// Words(units) words each, unit u at bit u%64 of word u/64. It must
	// not keep bits after it returns.
	Write(i int, first int64, n int, bits []uint64) error
	// EndLayer is called once every observation of layer i was written.
	EndLayer(i int) error
}

// PatternLayout is a sink's layout of a layer (PatternSink.Layout).
type PatternLayout struct {
	// Chunk is the observations of the sink's unit of work (whole blocks,
	// and in chunk 0 those the sink learns its codes from): every chunk
	// but the last holds a whole multiple of it; 0 for no preference.
	Chunk int
	// Slow reports Writes that may cost more than counting the
	// observations they carry (a slow compression level): the driver then
	// runs as many writing goroutines as counting workers, not one fewer,
	// so that every core compresses while the workers wait for buffers.
	Slow bool
	// Shift, below Chunk and a whole number of the layer's groups
	// (Geometry.Inner observations), makes chunk 0 that much shorter
	// than a multiple of Chunk, and so moves where the others start: a
	// shard's sink whose blocks start where the whole layer's do.
	Shift int
}
