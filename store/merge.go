package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store/internal/huff"
)

// ErrMerge: pattern stores that are not parts of one sharded run, or
// parts that do not make up what was asked.
var ErrMerge = errors.New("pattern stores do not merge")

// MergeOptions are Merge's options.
type MergeOptions struct {
	// Partial writes the merge of some of the shards, itself a part,
	// rather than refusing the missing ones.
	Partial bool
	Sync    bool // as Writer.Sync
}

// MergeStats says what a merge wrote.
type MergeStats struct {
	Complete bool  // every shard: the store of the whole run
	Copied   int   // blocks copied as they were
	Recoded  int   // blocks coded again: those that join parts, and those a part stores otherwise
	Bytes    int64 // the merged store's blocks
}

// mergeSrc is one part's holding of a layer.
type mergeSrc struct {
	r    *Reader
	li   int // the layer's index in the part's header
	l    *Layer
	copy bool // its blocks may be copied: the natural unit order
	// lastOf[base]: the last block coded with base's tables
	lastOf map[uint32]int
	// carrier[base]: the merged block that carries base's tables
	carrier map[uint32]uint32
	buf     []byte // read window of the part's file
	bufOff  int64
}

// srcBlock is block k of source s, at observation first of the whole layer.
type srcBlock struct {
	s, k  int
	first uint64
	n     uint32
}

// Merge writes to out the merge of the pattern stores at paths, parts of
// one sharded run (profile --shard I/N --patterns): with every shard, the
// store of the whole run, whose queries answer as a single run's store
// does; with some (opt.Partial), a part holding their shards. The parts
// must have the same threshold, settings, shard count and input files
// and no shard in common; any order and grouping merge alike (a merge of
// merges is a merge). Blocks that lie within one part and are stored in
// the natural unit order (level fastest) are copied, with their checksums
// checked; the others, blocks that join the ends of two parts and the
// blocks of parts written at level best, are decoded and coded again
// (docs/format.md). The store is written to a temporary file and renamed
// into place when complete.
func Merge(ctx context.Context, out string, paths []string, opt MergeOptions) (MergeStats, error) {
	var st MergeStats
	if len(paths) == 0 {
		return st, fmt.Errorf("%w: no pattern stores to merge", ErrMerge)
	}
	var rs []*Reader
	defer func() {
		for _, r := range rs {
			r.Close()
		}
	}()
	for _, p := range paths {
		r, err := Open(p)
		if err != nil {
			return st, err
		}
		rs = append(rs, r)
	}
	h, err := mergeHeader(rs, paths, opt.Partial)
	if err != nil {
		return st, err
	}
	st.Complete = h.Shard == nil
	w, err := create(out, h, DefaultLevel)
	if err != nil {
		return st, err
	}
	w.Sync = opt.Sync
	for i, info := range h.Layers {
		var srcs []*mergeSrc
		for _, r := range rs {
			if li := slices.IndexFunc(r.Header.Layers, func(l LayerInfo) bool { return l.Name == info.Name }); li >= 0 {
				srcs = append(srcs, &mergeSrc{r: r, li: li, l: r.Layers()[li], copy: isIdentity(r.order[li]),
					lastOf: map[uint32]int{}, carrier: map[uint32]uint32{}})
			}
		}
		if err := mergeLayer(ctx, w, i, info, srcs, &st); err != nil {
			w.Abort()
			return st, err
		}
	}
	return st, w.Close()
}

// mergeHeader checks that the stores are parts that merge and returns the
// merged store's header.
func mergeHeader(rs []*Reader, paths []string, partial bool) (Header, error) {
	refuse := func(i int, format string, args ...any) error {
		return &profiler.FileError{Path: paths[i], Err: fmt.Errorf("%w: %s", ErrMerge, fmt.Sprintf(format, args...))}
	}
	first := rs[0].Header
	shards := map[int]int{} // shard -> the part holding it
	for i, r := range rs {
		sr := r.Header.Shard
		if sr == nil {
			return Header{}, refuse(i, "not a part of a sharded run (a store of a whole run); 'patterns merge' takes the stores of 'profile --shard I/N --patterns'")
		}
		if i > 0 {
			with := fmt.Sprintf("does not merge with %s (the first part)", paths[0])
			if r.Header.Threshold != first.Threshold {
				return Header{}, refuse(i, "%s: different settings: thresholds %g and %g", with, first.Threshold, r.Header.Threshold)
			}
			if msg := profiler.CompareShards(first.Shard, sr); msg != "" {
				return Header{}, refuse(i, "%s: %s", with, msg)
			}
		}
		for _, s := range sr.Shards {
			if j, ok := shards[s]; ok {
				return Header{}, refuse(i, "overlapping shards: both it and %s hold shard %d of %d", paths[j], s, sr.Count)
			}
			shards[s] = i
		}
	}
	sr := *first.Shard
	sr.Shards = nil
	for s := range sr.Count {
		if _, ok := shards[s]; ok {
			sr.Shards = append(sr.Shards, s)
		}
	}
	complete := len(sr.Shards) == sr.Count
	if !complete && !partial {
		var miss []string
		for s := range sr.Count {
			if _, ok := shards[s]; !ok {
				miss = append(miss, strconv.Itoa(s))
			}
		}
		return Header{}, fmt.Errorf("%w: missing shards %s of %d: merge every part (or pass --partial to write a merge of some)", ErrMerge, strings.Join(miss, ", "), sr.Count)
	}
	h := Header{FormatVersion: FormatVersion, Codec: Codecs, Threshold: first.Threshold}
	for _, name := range sr.Layers {
		var m *LayerInfo
		for i, r := range rs {
			k := slices.IndexFunc(r.Header.Layers, func(l LayerInfo) bool { return l.Name == name })
			if k < 0 {
				continue
			}
			l := r.Header.Layers[k]
			if m == nil {
				c := l
				c.Shape, c.Ranges = slices.Clone(l.Shape), slices.Clone(l.Ranges)
				m = &c
				continue
			}
			if l.Units != m.Units || l.DType != m.DType || l.UnitAxis != m.UnitAxis || !slices.Equal(l.Shape, m.Shape) {
				return Header{}, refuse(i, "different input sets: layer %q is %v %s (unit axis %d) here and %v %s (unit axis %d) in %s",
					name, l.Shape, l.DType, l.UnitAxis, m.Shape, m.DType, m.UnitAxis, paths[0])
			}
			var err error
			if m.Ranges, err = unionObsRanges(m.Ranges, l.Ranges); err != nil {
				return Header{}, refuse(i, "overlapping shards: layer %q: %v", name, err)
			}
			m.Observations += l.Observations
		}
		if m == nil {
			if complete {
				return Header{}, fmt.Errorf("%w: every shard is merged, but no part holds layer %q", ErrMerge, name)
			}
			continue
		}
		if complete {
			whole := uint64(m.WholeObservations())
			if len(m.Ranges) != 1 || m.Ranges[0].First != 0 || m.Ranges[0].Count != whole {
				return Header{}, fmt.Errorf("%w: every shard is merged, but layer %q holds %d of its %d observations", ErrMerge, name, m.Observations, whole)
			}
			m.Ranges = nil
		}
		h.Layers = append(h.Layers, *m)
	}
	if !complete {
		h.Shard = &sr
	}
	if msg := checkHeader(h); msg != "" {
		return Header{}, fmt.Errorf("%w: the merged header: %s", ErrMerge, msg)
	}
	return h, nil
}

// unionObsRanges is the union of two lists of ascending, apart ranges,
// adjacent ones joined, or an error naming an observation in both.
func unionObsRanges(a, b []profiler.ObsRange) ([]profiler.ObsRange, error) {
	all := append(slices.Clone(a), b...)
	slices.SortFunc(all, func(p, q profiler.ObsRange) int {
		if p.First < q.First {
			return -1
		}
		if p.First > q.First {
			return 1
		}
		return 0
	})
	var out []profiler.ObsRange
	for _, r := range all {
		if n := len(out); n > 0 {
			last := &out[n-1]
			end := last.First + last.Count
			if r.First < end {
				return nil, fmt.Errorf("observation %d is in both", r.First)
			}
			if r.First == end {
				last.Count += r.Count
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// mergeLayer writes layer i of the merged store from its parts' blocks:
// the whole layer's blocks (blockLen) over the merged ranges, each copied
// where one part's block is exactly it, else coded again from the parts'
// rows.
func mergeLayer(ctx context.Context, w *Writer, i int, info LayerInfo, srcs []*mergeSrc, st *MergeStats) error {
	g, err := profiler.NewGeometry(info.Shape, info.UnitAxis)
	if err != nil {
		return err
	}
	var sb []srcBlock
	for s, src := range srcs {
		es := src.r.index[src.li]
		gm := src.r.gmaps[src.li]
		for k, e := range es {
			sb = append(sb, srcBlock{s: s, k: k, first: gm.global(e.FirstObs), n: e.NObs})
			src.lastOf[e.Base] = k
		}
	}
	sort.Slice(sb, func(a, b int) bool { return sb[a].first < sb[b].first })
	ranges := info.Ranges
	if ranges == nil {
		ranges = []profiler.ObsRange{{First: 0, Count: uint64(info.Observations)}}
	}
	m := &layerMerger{w: w, h: i, run: w.hdr.runIndex(i), info: info, srcs: srcs, st: st, sc: &blockScratch{}}
	w.orders[i] = identityOrder(info.Units)
	next := 0
	for _, r := range ranges {
		end := r.First + r.Count
		for o := r.First; o < end; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := uint64(blockLen(info.Units, g.Inner, int64(o), int(min(end-o, 1<<31))))
			for next < len(sb) && sb[next].first+uint64(sb[next].n) <= o {
				next++
			}
			j := next
			for j < len(sb) && sb[j].first < o+n {
				j++
			}
			pieces := sb[next:j]
			done := false
			if len(pieces) == 1 && pieces[0].first == o && uint64(pieces[0].n) == n {
				if done, err = m.copyBlock(pieces[0]); err != nil {
					return err
				}
			}
			if !done {
				if err := m.recode(pieces, o, int(n)); err != nil {
					return err
				}
			}
			o += n
		}
	}
	return m.flush()
}

// layerMerger writes one layer of a merge.
type layerMerger struct {
	w    *Writer
	h    int // the layer's index in the merged header
	run  int // and among the run's layers
	info LayerInfo
	srcs []*mergeSrc
	st   *MergeStats
	sc   *blockScratch
	rows []uint64
	// pend is copied blocks not yet written, consecutive in a source's
	// read window: written in one piece (flush), not block by block
	// through the writer's buffer
	pend []byte
}

// flush writes the copied blocks pending.
func (m *layerMerger) flush() error {
	if len(m.pend) > 0 {
		m.w.write(m.pend)
		m.pend = nil
	}
	return m.w.err
}

// read returns block k of source s's bytes, read through a window of a
// few MiB of its file (the blocks are read in order).
func (m *layerMerger) read(s *mergeSrc, e entry) ([]byte, error) {
	start, end := int64(e.Offset), int64(e.Offset)+int64(e.Length)
	if start < s.bufOff || end > s.bufOff+int64(len(s.buf)) {
		if err := m.flush(); err != nil { // pend may be in the window
			return nil, err
		}
		n := min(max(end-start, 8<<20), s.r.size-start)
		buf, err := s.r.readInto(s.buf, n, start)
		if err != nil {
			return nil, err
		}
		s.buf, s.bufOff = buf, start
	}
	return s.buf[start-s.bufOff : end-s.bufOff], nil
}

// copyBlock copies a part's block that is exactly the merged one, if it
// can be: stored in the natural order, with tables of its own or of a
// block already in the merged store. It reports whether it did.
func (m *layerMerger) copyBlock(b srcBlock) (bool, error) {
	s := m.srcs[b.s]
	if !s.copy {
		return false, nil
	}
	e := s.r.index[s.li][b.k]
	data, err := m.read(s, e)
	if err != nil {
		return false, s.l.errorf(err, "block %d", b.k)
	}
	if checksum(data) != e.CRC {
		return false, s.l.errorf(ErrCorrupt, "block %d: checksum mismatch", b.k)
	}
	codec := data[0]
	if codec != codecHuff && codec != codecHuffOwn {
		return false, nil // zstd: its dictionary is the part's first blocks
	}
	var want [blockHead]byte
	putHead(want[:], m.run, int64(b.first), int(b.n))
	if len(data) < 1+blockHead || string(data[1:1+blockHead]) != string(want[:]) {
		return false, s.l.errorf(ErrCorrupt, "block %d: its head is not the index's", b.k)
	}
	out := uint32(len(m.w.index[m.h]))
	base := out
	if codec == codecHuff {
		c, ok := s.carrier[e.Base]
		if !ok {
			return false, nil
		}
		base = c
	} else if int(e.Base) == b.k {
		s.carrier[e.Base] = out
	}
	m.w.index[m.h] = append(m.w.index[m.h], entry{Offset: uint64(m.w.off) + uint64(len(m.pend)), Length: e.Length, CRC: e.CRC,
		FirstObs: len64(m.w.index[m.h]), NObs: b.n, Base: base})
	if len(m.pend) > 0 && unsafe.SliceData(data) != unsafe.SliceData(m.pend[len(m.pend):cap(m.pend)]) {
		if err := m.flush(); err != nil {
			return false, err
		}
	}
	if len(m.pend) == 0 {
		m.pend = data
	} else {
		m.pend = m.pend[:len(m.pend)+len(data)]
	}
	m.st.Copied++
	m.st.Bytes += int64(len(data))
	return true, nil
}

// len64 is the observations the entries cover.
func len64(es []entry) uint64 {
	if len(es) == 0 {
		return 0
	}
	l := es[len(es)-1]
	return l.FirstObs + uint64(l.NObs)
}

// recode codes the merged block of observations [o, o+n) of the whole
// layer from the rows of the parts' blocks pieces, which cover it: with
// Huffman tables of its own, or, where the last piece's part goes on past
// it with blocks coded with tables that no merged block carries yet,
// with those tables, which it then carries.
func (m *layerMerger) recode(pieces []srcBlock, o uint64, n int) error {
	units := m.info.Units
	wd, nb := words(units), rowBytes(units)
	m.rows = slices.Grow(m.rows[:0], n*wd)[:n*wd]
	at := o
	for _, p := range pieces {
		s := m.srcs[p.s]
		if p.first > at {
			break
		}
		b, err := s.l.block(p.k)
		if err != nil {
			return err
		}
		rows := b.rows()
		b.release()
		from := at - p.first
		to := min(uint64(p.n), o+uint64(n)-p.first)
		copy(m.rows[(at-o)*uint64(wd):], rows[from*uint64(wd):to*uint64(wd)])
		at = p.first + to
	}
	if at != o+uint64(n) {
		return fmt.Errorf("%w: layer %s: no part holds observation %d", ErrCorrupt, m.info.Name, at)
	}
	pl := rowPlanes(&m.sc.pl, m.rows, wd, nb, n)
	dst := make([]byte, 0, 1+blockHead+nb*n+64)
	dst = append(dst, codecHuffOwn)
	var head [blockHead]byte
	putHead(head[:], m.run, int64(o), n)
	out := uint32(len(m.w.index[m.h]))
	last := pieces[len(pieces)-1]
	s := m.srcs[last.s]
	base := s.r.index[s.li][last.k].Base
	_, carried := s.carrier[base]
	var codes *huff.Codes
	if s.copy && !carried && s.lastOf[base] > last.k && last.first+uint64(last.n) == o+uint64(n) {
		// (a base without tables, a zstd block, has no block coded with
		// them: it is not carried)
		codes, _ = s.l.layerCodes(base)
	}
	if codes != nil {
		dst = append(dst, head[:]...)
		dst = codes.AppendTables(dst)
		dst = codes.Encode(dst, pl, n, 0, nb, n, &m.sc.sbuf)
		s.carrier[base] = out
	} else {
		dst = m.w.appendOwn(dst, m.sc, head[:], pl, nb, n, nil)
	}
	if err := m.flush(); err != nil {
		return err
	}
	m.w.index[m.h] = append(m.w.index[m.h], entry{Offset: uint64(m.w.off), Length: uint32(len(dst)), CRC: checksum(dst),
		FirstObs: len64(m.w.index[m.h]), NObs: uint32(n), Base: out})
	m.w.write(dst)
	m.st.Recoded++
	m.st.Bytes += int64(len(dst))
	return m.w.err
}
