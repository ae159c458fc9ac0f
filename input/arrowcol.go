package input

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/actprof/actprof/profiler"
)

// An Arrow column read as a layer: lists of floats, one observation per
// innermost list. A fixed-size list of H floats per row gives one
// observation per row; nested lists (a [T, H] block per row, T free to vary
// by row, as Hugging Face datasets store Array2D features) give T. The
// innermost lists must all hold the same number of floats, the layer's
// units. The layer's bytes are the float buffer's referenced range in each
// record batch, read in place.

// maxListDepth bounds the list levels above a column's floats.
const maxListDepth = 8

// arrowColumn collects a column's data over record batches and files.
type arrowColumn struct {
	name   string
	levels []*arrowField // list levels, outermost first
	leaf   *arrowField
	dtype  profiler.DType
	units  int64 // floats per observation
	known  bool  // units is known (from a fixed size or a first list)
	obs    int64
	segs   []segment
	batch  int // record batches seen, for messages
}

// arrowFloat maps a FloatingPoint precision to a dtype.
var arrowFloat = [...]profiler.DType{profiler.Float16, profiler.Float32, profiler.Float64}

// newArrowColumn checks that field a is lists of floats.
func newArrowColumn(name string, a *arrowField) (*arrowColumn, error) {
	c := &arrowColumn{name: name}
	t := a
	for {
		if t.dict {
			return nil, fmt.Errorf("%w: column %q is %s: write it without dictionary encoding", profiler.ErrUnsupported, name, a.typeName())
		}
		switch t.typ {
		case arrowList, arrowLargeList, arrowFixedSizeList:
			if len(c.levels) == maxListDepth {
				return nil, fmt.Errorf("%w: column %q: lists nested deeper than %d", profiler.ErrUnsupported, name, maxListDepth)
			}
			c.levels = append(c.levels, t)
			t = t.children[0]
			continue
		case arrowFloatingPoint:
			if len(c.levels) == 0 {
				return nil, fmt.Errorf("%w: column %q holds one float per row: a layer needs a list of units per row (a fixed-size list, or nested lists of floats)", profiler.ErrShape, name)
			}
			c.leaf, c.dtype = t, arrowFloat[t.precision]
			if last := c.levels[len(c.levels)-1]; last.typ == arrowFixedSizeList {
				c.units, c.known = last.listSize, true
			}
			return c, nil
		}
		return nil, fmt.Errorf("%w: column %q holds %s, not lists of floats (float16, float32, float64): select the activation columns with --layer", profiler.ErrUnsupported, name, a.typeName())
	}
}

// arrowLayout counts the nodes and buffers of field a in a record batch,
// advancing *node and *buf past them and using up view types' variadic
// buffer counts.
func arrowLayout(a *arrowField, version int16, variadic *[]int64, node, buf *int) error {
	*node++
	if a.dict {
		*buf += 2 // validity and indices; the values are a dictionary's
		return nil
	}
	switch a.typ {
	case arrowNull, arrowRunEndEncoded:
	case arrowInt, arrowFloatingPoint, arrowBool, arrowDecimal, arrowDate, arrowTime, arrowTimestamp,
		arrowInterval, arrowFixedSizeBinary, arrowDuration, arrowList, arrowLargeList, arrowMap:
		*buf += 2
	case arrowBinary, arrowUtf8, arrowLargeBinary, arrowLargeUtf8, arrowListView, arrowLargeListView:
		*buf += 3
	case arrowStruct, arrowFixedSizeList:
		*buf++
	case arrowUnion:
		*buf++
		if a.unionMode == 1 {
			*buf++
		}
		if version < metadataV5 {
			*buf++
		}
	case arrowBinaryView, arrowUtf8View:
		v := *variadic
		if len(v) == 0 || v[0] < 0 || v[0] > 1<<20 {
			return fmt.Errorf("%w: field %q: the record batch lacks a valid count of variadic buffers", profiler.ErrFormat, a.name)
		}
		*buf += 2 + int(v[0])
		*variadic = v[1:]
	}
	for _, c := range a.children {
		if err := arrowLayout(c, version, variadic, node, buf); err != nil {
			return err
		}
	}
	return nil
}

// addBatch adds the column's data in one record batch, whose nodes and
// buffers for it start at node and buf, its body at byte body of file.
func (c *arrowColumn) addBatch(r io.ReaderAt, size int64, file int, b *arrowBatch, body int64, node, buf int) error {
	c.batch++
	fail := func(kind error, format string, args ...any) error {
		return fmt.Errorf("%w: column %q, record batch %d: %s", kind, c.name, c.batch, fmt.Sprintf(format, args...))
	}
	if node+len(c.levels) >= len(b.nodes) {
		return fail(profiler.ErrFormat, "the batch has %d field nodes, too few for its schema", len(b.nodes))
	}
	lo, hi := int64(0), b.length
	if b.nodes[node].length != b.length {
		return fail(profiler.ErrFormat, "the column claims %d rows, its record batch %d", b.nodes[node].length, b.length)
	}
	for i, lv := range c.levels {
		nd, child := b.nodes[node+i], b.nodes[node+i+1]
		if nd.nulls != 0 {
			return fail(profiler.ErrUnsupported, "%d null values: fill or drop them (every value is an observation)", nd.nulls)
		}
		if hi > nd.length || child.length < 0 {
			return fail(profiler.ErrFormat, "entries [%d, %d) of a list array of %d", lo, hi, nd.length)
		}
		inner := i == len(c.levels)-1
		var nlo, nhi int64
		if lv.typ == arrowFixedSizeList {
			buf++
			s := lv.listSize
			if s > 0 && hi > child.length/s {
				return fail(profiler.ErrFormat, "%d lists of %d need %d values, the child array has %d", hi, s, hi*s, child.length)
			}
			nlo, nhi = lo*s, hi*s
		} else {
			if buf+1 >= len(b.buffers) {
				return fail(profiler.ErrFormat, "too few buffers for its schema")
			}
			ob := b.buffers[buf+1]
			buf += 2
			var err error
			if nlo, nhi, err = c.readOffsets(r, size, body+ob.offset, ob.length, lv.typ == arrowLargeList, lo, hi, child.length, inner, fail); err != nil {
				return err
			}
		}
		if inner {
			c.obs += hi - lo
		}
		lo, hi = nlo, nhi
	}
	nd := b.nodes[node+len(c.levels)]
	if nd.nulls != 0 {
		return fail(profiler.ErrUnsupported, "%d null values: fill or drop them (every value is an observation)", nd.nulls)
	}
	if buf+1 >= len(b.buffers) {
		return fail(profiler.ErrFormat, "too few buffers for its schema")
	}
	db := b.buffers[buf+1]
	sz := int64(c.dtype.Size())
	if hi > nd.length || hi > db.length/sz {
		return fail(profiler.ErrFormat, "values [%d, %d) of a float array of %d in a buffer of %d bytes", lo, hi, nd.length, db.length)
	}
	if hi > lo {
		off := body + db.offset + lo*sz
		if n := len(c.segs); n > 0 && c.segs[n-1].file == file && c.segs[n-1].off+c.segs[n-1].n == off {
			c.segs[n-1].n += (hi - lo) * sz
		} else {
			c.segs = append(c.segs, segment{file: file, off: off, n: (hi - lo) * sz})
		}
	}
	return nil
}

// readOffsets reads offsets lo..hi of a list array (int32, or int64 for a
// large list) from its buffer at byte at of n bytes, checks that they
// ascend within the child array's length, and, for the innermost lists,
// that each holds the column's units. It returns the child range the
// lists cover.
func (c *arrowColumn) readOffsets(r io.ReaderAt, size, at, n int64, large bool, lo, hi, childLen int64, inner bool, fail func(error, string, ...any) error) (int64, int64, error) {
	if lo == hi {
		return 0, 0, nil
	}
	w := int64(4)
	if large {
		w = 8
	}
	if hi+1 > n/w {
		return 0, 0, fail(profiler.ErrFormat, "offsets [%d, %d] of a buffer of %d bytes", lo, hi, n)
	}
	const block = 1 << 16
	buf := make([]byte, min(hi+1-lo, block)*w)
	var first, prev int64
	for i := lo; i <= hi; {
		k := min(hi+1-i, block)
		p := buf[:k*w]
		if err := readFull(r, size, p, at+i*w); err != nil {
			return 0, 0, err
		}
		for j := int64(0); j < k; j++ {
			var o int64
			if large {
				o = int64(binary.LittleEndian.Uint64(p[j*8:]))
			} else {
				o = int64(int32(binary.LittleEndian.Uint32(p[j*4:])))
			}
			idx := i + j
			if o < 0 || o > childLen {
				return 0, 0, fail(profiler.ErrFormat, "list offset %d of row %d lies outside the child array of %d", o, idx, childLen)
			}
			if idx == lo {
				first = o
			} else {
				d := o - prev
				if d < 0 {
					return 0, 0, fail(profiler.ErrFormat, "list offsets descend at entry %d (%d, then %d)", idx, prev, o)
				}
				if inner {
					if !c.known {
						c.units, c.known = d, true
					}
					if d != c.units {
						return 0, 0, fail(profiler.ErrShape, "a list of %d values where the others hold %d: every observation needs the same units", d, c.units)
					}
				}
			}
			prev = o
		}
		i += k
	}
	return first, prev, nil
}
