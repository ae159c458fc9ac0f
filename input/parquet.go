package input

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/actprof/actprof/profiler"
)

// Parquet files (.parquet, .pq) and folders of Parquet shards. Each selected
// column is a layer named by the column, read by the column rules of
// arrowcol.go: a list of floats per row is one observation, nested lists (a
// [T, H] block per row, T free to vary by row) give T, and every innermost
// list must hold the same number of floats, the layer's units. Fixed-size
// lists arrive as plain lists (Parquet has no fixed-size list), checked the
// same way. The leaf is FLOAT (float32), DOUBLE (float64) or a
// FIXED_LEN_BYTE_ARRAY(2) annotated FLOAT16 (float16).
//
// Parquet data are encoded and compressed, so they cannot be counted in
// place: a layer's Source decodes its column chunks, a row group at a time
// in parallel (parquetSource), through ReadAt on the file or object, and
// hands over the floats as they are in memory. Listing reads the footer;
// for nested lists it also decodes the column's repetition and definition
// levels once, to count the observations and check the lists.

const parquetMagic = "PAR1"

// Limits on what a Parquet reader holds at once.
const (
	// parquetMaxPage bounds a page's compressed and decompressed size.
	parquetMaxPage = 64 << 20
	// parquetBuffer is the read buffer of a column chunk's stream.
	parquetBuffer = 1 << 20
	// parquetBatch is the values (and levels) decoded per call.
	parquetBatch = 1 << 14
)

// parquetProps returns the reader properties: column chunks streamed
// through a buffer (never read whole), pages bounded.
func parquetProps() *parquet.ReaderProperties {
	p := parquet.NewReaderProperties(memory.DefaultAllocator)
	p.BufferedStreamEnabled = true
	p.BufferSize = parquetBuffer
	p.MaxCompressedPageSize = parquetMaxPage
	p.MaxUncompressedPageSize = parquetMaxPage
	return p
}

// parquetCall runs f, turning a panic in the Parquet library (on a corrupt
// file) into an error.
func parquetCall(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: corrupt Parquet data: %v", profiler.ErrFormat, r)
		}
	}()
	return f()
}

// libError wraps an error of the Parquet library in a sentinel.
func libError(err error) error {
	switch {
	case err == nil:
		return nil
	case wrapsSentinel(err):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %v", profiler.ErrTruncated, err)
	}
	return fmt.Errorf("%w: %v", profiler.ErrFormat, err)
}

// wrapsSentinel reports whether err wraps one of the readers' sentinels.
func wrapsSentinel(err error) bool {
	for _, s := range []error{profiler.ErrFormat, profiler.ErrTruncated, profiler.ErrUnsupported, profiler.ErrShape, ErrShardMismatch} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// parquetErr is a problem found in a column chunk's data, reported with
// the column and row group.
type parquetErr struct {
	kind error
	msg  string
}

func (e *parquetErr) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *parquetErr) Unwrap() error { return e.kind }

func dataErrorf(kind error, format string, args ...any) error {
	return &parquetErr{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// readParquetMeta checks a Parquet file's magics and parses its footer.
func readParquetMeta(r io.ReaderAt, size int64) (*metadata.FileMetaData, error) {
	if size < 12 {
		return nil, fmt.Errorf("%w: %d bytes: too short for a Parquet file", profiler.ErrFormat, size)
	}
	var head [4]byte
	if err := readFull(r, size, head[:], 0); err != nil {
		return nil, err
	}
	if string(head[:]) != parquetMagic {
		return nil, fmt.Errorf("%w: not a Parquet file: it does not start with %q", profiler.ErrFormat, parquetMagic)
	}
	var tail [8]byte
	if err := readFull(r, size, tail[:], size-8); err != nil {
		return nil, err
	}
	switch string(tail[4:]) {
	case parquetMagic:
	case "PARE":
		return nil, fmt.Errorf("%w: an encrypted Parquet file", profiler.ErrUnsupported)
	default:
		return nil, fmt.Errorf("%w: the Parquet file does not end with its magic %q (a truncated file?)", profiler.ErrTruncated, parquetMagic)
	}
	var md *metadata.FileMetaData
	err := parquetCall(func() error {
		rd, err := file.NewParquetReader(io.NewSectionReader(r, 0, size), file.WithReadProps(parquetProps()))
		if err != nil {
			return err
		}
		md = rd.MetaData()
		if md.IsSetEncryptionAlgorithm() {
			return fmt.Errorf("%w: an encrypted Parquet file", profiler.ErrUnsupported)
		}
		if md.Schema == nil || md.Schema.Root() == nil {
			return fmt.Errorf("%w: the Parquet footer has no schema", profiler.ErrFormat)
		}
		for i := range md.NumRowGroups() {
			rg := md.RowGroup(i)
			if rg.NumRows() < 0 || rg.NumColumns() != md.NumColumns() {
				return fmt.Errorf("%w: row group %d: %d rows in %d column chunks, where the schema has %d columns", profiler.ErrFormat, i, rg.NumRows(), rg.NumColumns(), md.NumColumns())
			}
		}
		return nil
	})
	if err != nil {
		return nil, libError(err)
	}
	return md, nil
}

// parquetColumn is a column of lists of floats.
type parquetColumn struct {
	name     string
	leaf     int // the leaf's column index in the file's schema
	typeName string
	dtype    profiler.DType
	depth    int16  // list levels: the leaf's maximum repetition level
	maxDef   int16  // the leaf's maximum definition level
	absent   []int8 // per definition level below maxDef: the list level left empty, or -1 for a null
	units    int64
	known    bool
	obs      int64
}

// parquetTypeName describes node n for messages: string, int32,
// list<float>, ...
func parquetTypeName(n schema.Node) string {
	switch t := n.(type) {
	case *schema.PrimitiveNode:
		lt := t.LogicalType()
		var s string
		switch {
		case lt != nil && !lt.IsNone():
			s = strings.ToLower(lt.String())
			if _, ok := lt.(*schema.StringLogicalType); ok {
				s = "string"
			}
		default:
			switch t.PhysicalType() {
			case parquet.Types.Float:
				s = "float"
			case parquet.Types.Double:
				s = "double"
			case parquet.Types.FixedLenByteArray:
				s = fmt.Sprintf("fixed_len_byte_array(%d)", t.TypeLength())
			default:
				s = strings.ToLower(t.PhysicalType().String())
			}
		}
		if t.RepetitionType() == parquet.Repetitions.Repeated {
			return "list<" + s + ">"
		}
		return s
	case *schema.GroupNode:
		if inner, ok := parquetListChild(t); ok {
			return "list<" + parquetTypeName(inner) + ">"
		}
		if t.RepetitionType() == parquet.Repetitions.Repeated && t.NumFields() == 1 {
			return "list<" + parquetTypeName(t.Field(0)) + ">"
		}
		var fs []string
		for i := range t.NumFields() {
			fs = append(fs, t.Field(i).Name()+": "+parquetTypeName(t.Field(i)))
		}
		kind := "struct"
		if _, ok := t.LogicalType().(*schema.MapLogicalType); ok || t.ConvertedType() == schema.ConvertedTypes.Map {
			kind = "map"
		}
		return kind + "<" + strings.Join(fs, ", ") + ">"
	}
	return "unknown"
}

// parquetListChild returns the element node of a LIST-annotated group (the
// three-level layout: group (LIST) { repeated group list { element } }, or
// the two-level one: group (LIST) { repeated element }).
func parquetListChild(g *schema.GroupNode) (schema.Node, bool) {
	_, isList := g.LogicalType().(*schema.ListLogicalType)
	if !isList && g.ConvertedType() != schema.ConvertedTypes.List {
		return nil, false
	}
	if g.NumFields() != 1 || g.Field(0).RepetitionType() != parquet.Repetitions.Repeated {
		return nil, false
	}
	rep := g.Field(0)
	if rg, ok := rep.(*schema.GroupNode); ok && rg.NumFields() == 1 {
		return rg.Field(0), true
	}
	return rep, true
}

// newParquetColumn checks that top-level field number fi of s is lists of
// floats.
func newParquetColumn(s *schema.Schema, fi int) (*parquetColumn, error) {
	top := s.Root().Field(fi)
	name := top.Name()
	c := &parquetColumn{name: name, leaf: -1, typeName: parquetTypeName(top)}
	refuse := func() error {
		return fmt.Errorf("%w: column %q holds %s, not lists of floats (float16, float32, float64): select the activation columns with --layer", profiler.ErrUnsupported, name, c.typeName)
	}
	// walk down to the one leaf, lists only on the way
	n := top
	for depth := 0; ; depth++ {
		if depth > 3*maxListDepth {
			return nil, fmt.Errorf("%w: column %q: lists nested deeper than %d", profiler.ErrUnsupported, name, maxListDepth)
		}
		g, ok := n.(*schema.GroupNode)
		if !ok {
			break
		}
		switch {
		case g.NumFields() != 1:
			return nil, refuse()
		case g.RepetitionType() == parquet.Repetitions.Repeated:
			n = g.Field(0) // a list's repeated level (or a legacy repeated group)
		default:
			if _, ok := parquetListChild(g); !ok {
				return nil, refuse()
			}
			n = g.Field(0)
		}
	}
	leaf, ok := n.(*schema.PrimitiveNode)
	if !ok {
		return nil, refuse()
	}
	c.leaf = s.ColumnIndexByNode(leaf)
	if c.leaf < 0 {
		return nil, fmt.Errorf("%w: column %q: its leaf is not in the schema's columns", profiler.ErrFormat, name)
	}
	col := s.Column(c.leaf)
	lt := leaf.LogicalType()
	plain := lt == nil || lt.IsNone()
	switch {
	case leaf.PhysicalType() == parquet.Types.Float && plain:
		c.dtype = profiler.Float32
	case leaf.PhysicalType() == parquet.Types.Double && plain:
		c.dtype = profiler.Float64
	case leaf.PhysicalType() == parquet.Types.FixedLenByteArray && leaf.TypeLength() == 2 && isFloat16(lt):
		c.dtype = profiler.Float16
	default:
		return nil, refuse()
	}
	c.depth, c.maxDef = col.MaxRepetitionLevel(), col.MaxDefinitionLevel()
	if c.depth == 0 {
		return nil, fmt.Errorf("%w: column %q holds one float per row: a layer needs a list of units per row (a list, or nested lists of floats)", profiler.ErrShape, name)
	}
	if c.depth > maxListDepth {
		return nil, fmt.Errorf("%w: column %q: lists nested deeper than %d", profiler.ErrUnsupported, name, maxListDepth)
	}
	// what each definition level below the maximum leaves out: the first
	// node on the path whose level is above it
	var path []schema.Node
	for p := schema.Node(leaf); p != nil && p != schema.Node(s.Root()); p = p.Parent() {
		path = append([]schema.Node{p}, path...)
	}
	c.absent = make([]int8, c.maxDef)
	def, level := int16(0), int8(-1)
	for _, p := range path {
		switch p.RepetitionType() {
		case parquet.Repetitions.Optional:
			def++
			if def <= c.maxDef {
				c.absent[def-1] = -1
			}
		case parquet.Repetitions.Repeated:
			def++
			level++
			if def <= c.maxDef {
				c.absent[def-1] = level
			}
		}
	}
	if def != c.maxDef || int16(level+1) != c.depth {
		return nil, fmt.Errorf("%w: column %q: definition and repetition levels %d and %d disagree with its schema", profiler.ErrFormat, name, c.maxDef, c.depth)
	}
	return c, nil
}

func isFloat16(lt schema.LogicalType) bool {
	_, ok := lt.(schema.Float16LogicalType)
	if !ok {
		_, ok = lt.(*schema.Float16LogicalType)
	}
	return ok
}

// parquetUnit is one column chunk of a layer: row group rg of file.
type parquetUnit struct {
	file, rg int
	rows     int64
	obs      int64 // observations, counted when listed
}

// parquetTable is the Parquet files holding the row groups of one table,
// in order, and its selected columns.
type parquetTable struct {
	openObj func(name string) (Object, int64, error) // openSized, but in tests
	files   []string
	metas   []*metadata.FileMetaData
	sizes   []int64
	cols    []*parquetColumn
	leafs   [][]int // per file, each column's leaf index
}

// openParquet lists the layers of one Parquet file.
func openParquet(path string, sel func(string) bool) ([]profiler.Layer, error) {
	return openParquetFiles(path, []string{path}, "", sel)
}

// openParquetFiles lists the layers of Parquet files holding the row
// groups of one table, in order (a folder's shards, or one file), named
// prefix and the column name. where names them in messages.
func openParquetFiles(where string, files []string, prefix string, sel func(string) bool) ([]profiler.Layer, error) {
	return openParquetTable(&parquetTable{openObj: openSized, files: files}, where, prefix, sel)
}

// openParquetTable lists the layers of table t's files.
func openParquetTable(t *parquetTable, where, prefix string, sel func(string) bool) ([]profiler.Layer, error) {
	files := t.files
	first := filepath.Base(files[0])
	for fi, path := range files {
		o, size, err := t.openObj(path)
		if err != nil {
			return nil, err
		}
		md, err := readParquetMeta(o, size)
		o.Close()
		if err != nil {
			return nil, fileError(path, err)
		}
		t.metas, t.sizes = append(t.metas, md), append(t.sizes, size)
		s := md.Schema
		if fi == 0 {
			for i := range s.Root().NumFields() {
				if !sel(prefix + s.Root().Field(i).Name()) {
					continue
				}
				c, err := newParquetColumn(s, i)
				if err != nil {
					return nil, fileError(path, err)
				}
				t.cols = append(t.cols, c)
			}
			if len(t.cols) == 0 {
				return nil, nil
			}
		}
		leafs := make([]int, len(t.cols))
		for i, c := range t.cols {
			fj := s.Root().FieldIndexByName(c.name)
			if fj < 0 {
				return nil, profiler.FileErrorf(path, ErrShardMismatch, "no column %q, which %s has", c.name, first)
			}
			if fi == 0 {
				leafs[i] = c.leaf
				continue
			}
			d, err := newParquetColumn(s, fj)
			if err != nil {
				return nil, fileError(path, err)
			}
			if d.typeName != c.typeName || d.dtype != c.dtype || !slices.Equal(d.absent, c.absent) {
				return nil, profiler.FileErrorf(path, ErrShardMismatch, "column %q is %s, but %s has %s", c.name, d.typeName, first, c.typeName)
			}
			leafs[i] = d.leaf
		}
		t.leafs = append(t.leafs, leafs)
	}
	var layers []profiler.Layer
	for i, c := range t.cols {
		units, err := t.count(i)
		if err != nil {
			return nil, err
		}
		if !c.known || c.obs == 0 {
			return nil, profiler.FileErrorf(where, profiler.ErrShape, "column %q has no observations", c.name)
		}
		l := profiler.Layer{Name: prefix + c.name, Path: where, DType: c.dtype, Shape: []int{int(c.obs), int(c.units)}}
		if len(files) > 1 || files[0] != where {
			l.Files = files
		}
		l.Open = func() (profiler.Source, error) { return newParquetSource(t, i, units), nil }
		layers = append(layers, l)
	}
	return layers, nil
}

// count finds column i's units and observations, row group by row group:
// for a list per row, the observations are the rows, and the units those of
// the first list (every list is checked when counted); nested lists are
// decoded to count them.
func (t *parquetTable) count(i int) ([]parquetUnit, error) {
	c := t.cols[i]
	var units []parquetUnit
	for fi, md := range t.metas {
		for rg := range md.NumRowGroups() {
			if rows := md.RowGroup(rg).NumRows(); rows > 0 {
				units = append(units, parquetUnit{file: fi, rg: rg, rows: rows})
			}
		}
	}
	var rd *parquetFile
	defer func() {
		if rd != nil {
			rd.close()
		}
	}()
	for k := 0; k < len(units); k++ {
		u := &units[k]
		path := t.files[u.file]
		cc, err := t.metas[u.file].RowGroup(u.rg).ColumnChunk(t.leafs[u.file][i])
		if err != nil {
			return nil, profiler.FileErrorf(path, profiler.ErrFormat, "column %q, row group %d: %v", c.name, u.rg+1, err)
		}
		for _, e := range cc.Encodings() {
			switch e {
			case parquet.Encodings.Plain, parquet.Encodings.PlainDict, parquet.Encodings.RLEDict,
				parquet.Encodings.ByteStreamSplit, parquet.Encodings.RLE, parquet.Encodings.BitPacked:
			default:
				return nil, profiler.FileErrorf(path, profiler.ErrUnsupported, "column %q, row group %d: values in %s encoding, which actprof does not decode: write it with PLAIN, dictionary or BYTE_STREAM_SPLIT encoding (version 1 data pages)", c.name, u.rg+1, e)
			}
		}
		if c.depth == 1 && c.known && u.rows <= math.MaxInt64/c.units && cc.NumValues() == u.rows*c.units {
			u.obs = u.rows
			if c.obs += u.obs; c.obs < 0 {
				return nil, profiler.FileErrorf(path, profiler.ErrFormat, "column %q: more rows than a file holds", c.name)
			}
			continue
		}
		if rd == nil || rd.fi != u.file {
			if rd != nil {
				rd.close()
				rd = nil
			}
			if rd, err = t.open(u.file); err != nil {
				return nil, err
			}
		}
		// decode: all of it for nested lists, up to the first list's end
		// for lists (all of it where the values do not add up, to tell why)
		w := &parquetWalker{col: c, units: c.units, known: c.known, stopFirst: c.depth == 1 && !c.known}
		if err := rd.decode(i, u, w, nil); err != nil && err != errStopScan {
			return nil, err
		}
		if c.depth == 1 && c.known {
			return nil, profiler.FileErrorf(path, profiler.ErrShape, "column %q, row group %d: %d values in %d rows, where each row needs a list of %d: lists of varying length, or nulls", c.name, u.rg+1, cc.NumValues(), u.rows, c.units)
		}
		if !c.known && w.known {
			c.units, c.known = w.units, true
		}
		if c.depth == 1 {
			if !c.known {
				return nil, profiler.FileErrorf(path, profiler.ErrFormat, "column %q, row group %d: %d rows and no list", c.name, u.rg+1, u.rows)
			}
			k-- // count it as above, now that the units are known
			continue
		}
		u.obs = w.obs
		c.obs += u.obs
	}
	if c.known && c.obs > (1<<62)/(c.units*int64(c.dtype.Size())) {
		return nil, profiler.FileErrorf(t.files[0], profiler.ErrFormat, "column %q: %d observations of %d units: more than a file holds", c.name, c.obs, c.units)
	}
	return units, nil
}

// parquetFile is a file of a table opened for decoding.
type parquetFile struct {
	t    *parquetTable
	fi   int
	obj  Object
	rd   *file.Reader
	path string
}

// open opens file fi for decoding, with the footer already parsed.
func (t *parquetTable) open(fi int) (*parquetFile, error) {
	path := t.files[fi]
	o, size, err := t.openObj(path)
	if err != nil {
		return nil, err
	}
	if size != t.sizes[fi] {
		o.Close()
		return nil, profiler.FileErrorf(path, profiler.ErrTruncated, "%d bytes, where it had %d when listed", size, t.sizes[fi])
	}
	var rd *file.Reader
	err = parquetCall(func() error {
		var err error
		rd, err = file.NewParquetReader(io.NewSectionReader(o, 0, size), file.WithMetadata(t.metas[fi]), file.WithReadProps(parquetProps()))
		return err
	})
	if err != nil {
		o.Close()
		return nil, fileError(path, libError(err))
	}
	return &parquetFile{t: t, fi: fi, obj: o, rd: rd, path: path}, nil
}

func (f *parquetFile) close() error { return f.obj.Close() }

// parquetWalker follows a column's levels, checking its lists and counting
// its observations.
type parquetWalker struct {
	col       *parquetColumn
	units     int64
	known     bool
	stopFirst bool  // stop (errStopScan) when the first list ends
	cur       int64 // values in the innermost list being read
	open      bool  // an innermost list is being read
	obs       int64
	entries   int64 // level entries seen, for messages
}

// end ends the innermost list being read.
func (w *parquetWalker) end() error {
	w.open = false
	if w.cur == 0 {
		return dataErrorf(profiler.ErrShape, "an empty list: every observation needs the same units, at least one")
	}
	if !w.known {
		w.units, w.known = w.cur, true
	}
	if w.cur != w.units {
		return dataErrorf(profiler.ErrShape, "a list of %d values where the others hold %d: every observation needs the same units", w.cur, w.units)
	}
	if w.stopFirst {
		return errStopScan
	}
	return nil
}

// levels follows n level entries.
func (w *parquetWalker) levels(def, rep []int16) error {
	c := w.col
	for i := 0; i < len(def); i++ {
		r, d := rep[i], def[i]
		if w.open && r == c.depth && d == c.maxDef {
			// the common case: a run of values continuing the open list
			j := i + 1
			for j < len(def) && rep[j] == c.depth && def[j] == c.maxDef {
				j++
			}
			w.cur += int64(j - i)
			i = j - 1
			continue
		}
		if r < 0 || r > c.depth || d < 0 || d > c.maxDef {
			return dataErrorf(profiler.ErrFormat, "level entry %d: repetition level %d, definition level %d, outside [0, %d] and [0, %d]", w.entries+int64(i), r, d, c.depth, c.maxDef)
		}
		if r < c.depth && w.open {
			if err := w.end(); err != nil {
				return err
			}
		}
		if d == c.maxDef {
			if r < c.depth {
				w.open, w.cur = true, 0
				w.obs++
			} else if !w.open {
				return dataErrorf(profiler.ErrFormat, "level entry %d continues no list", w.entries+int64(i))
			}
			w.cur++
			continue
		}
		switch lv := c.absent[d]; {
		case lv < 0:
			return dataErrorf(profiler.ErrUnsupported, "null values: fill or drop them (every value is an observation)")
		case int16(lv) == c.depth-1:
			w.cur = 0
			return w.end() // an empty innermost list: no units
		}
		// an empty outer list: a row (or block) of no observations
	}
	w.entries += int64(len(def))
	return nil
}

// floatReader is arrow-go's reader of a FLOAT or DOUBLE column chunk.
type floatReader[T float32 | float64] interface {
	HasNext() bool
	ReadBatch(batchSize int64, values []T, defLvls, repLvls []int16) (int64, int, error)
	Err() error
}

// readFloats reads a float column chunk with r, its levels into def and
// rep, handing each batch to step; the values are decoded into raw itself on a little-endian host
// (the data's byte order), else converted into it with put.
func readFloats[T float32 | float64](r floatReader[T], raw []byte, def, rep []int16, put func([]byte, []T), step func(int64, int, error, func([]byte)) error) error {
	vals := make([]T, parquetBatch)
	if raw != nil && littleEndian {
		vals, put = unsafe.Slice((*T)(unsafe.Pointer(&raw[0])), parquetBatch), nil
	}
	for r.HasNext() {
		total, nv, err := r.ReadBatch(parquetBatch, vals, def, rep)
		if err := step(total, nv, err, func(b []byte) {
			if put != nil {
				put(b, vals[:nv])
			}
		}); err != nil {
			return err
		}
	}
	return r.Err()
}

// finish ends the column chunk.
func (w *parquetWalker) finish() error {
	if w.open {
		return w.end()
	}
	return nil
}

// decode reads column i's chunk in unit u, following its levels with w
// and handing its values' bytes to sink (nil: the values are dropped).
func (f *parquetFile) decode(i int, u *parquetUnit, w *parquetWalker, sink func([]byte) error) error {
	c := f.t.cols[i]
	err := parquetCall(func() error {
		rg := f.rd.RowGroup(u.rg)
		cr, err := rg.Column(f.t.leafs[f.fi][i])
		if err != nil {
			return err
		}
		def := make([]int16, parquetBatch)
		rep := make([]int16, parquetBatch)
		var raw []byte
		if sink != nil {
			raw = make([]byte, parquetBatch*c.dtype.Size())
		}
		step := func(total int64, nv int, err error, put func([]byte)) error {
			if err != nil {
				return err
			}
			if err := w.levels(def[:total], rep[:total]); err != nil {
				return err
			}
			if sink == nil || nv == 0 {
				return nil
			}
			b := raw[:nv*c.dtype.Size()]
			put(b)
			return sink(b)
		}
		switch r := cr.(type) {
		case *file.Float32ColumnChunkReader:
			return readFloats(r, raw, def, rep, putFloat32s, step)
		case *file.Float64ColumnChunkReader:
			return readFloats(r, raw, def, rep, putFloat64s, step)
		case *file.FixedLenByteArrayColumnChunkReader:
			vals := make([]parquet.FixedLenByteArray, parquetBatch)
			for r.HasNext() {
				total, nv, err := r.ReadBatch(parquetBatch, vals, def, rep)
				if err == nil {
					for _, v := range vals[:nv] {
						if len(v) != 2 {
							return dataErrorf(profiler.ErrFormat, "a float16 value of %d bytes", len(v))
						}
					}
				}
				if err := step(total, nv, err, func(b []byte) {
					for k, v := range vals[:nv] {
						b[2*k], b[2*k+1] = v[0], v[1]
					}
				}); err != nil {
					return err
				}
			}
			return r.Err()
		}
		return dataErrorf(profiler.ErrFormat, "a %s column reader", cr.Type())
	})
	if err == nil {
		err = w.finish()
	}
	if err == errStopScan {
		return err
	}
	var pe *parquetErr
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return profiler.FileErrorf(f.path, pe.kind, "column %q, row group %d: %s", c.name, u.rg+1, pe.msg)
	}
	return profiler.FileErrorf(f.path, sentinelOf(err), "column %q, row group %d: %v", c.name, u.rg+1, err)
}

// sentinelOf returns the sentinel that err wraps, ErrFormat for a library
// error.
func sentinelOf(err error) error {
	for _, s := range []error{profiler.ErrShape, profiler.ErrUnsupported, profiler.ErrTruncated, profiler.ErrFormat} {
		if errors.Is(err, s) {
			return s
		}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return profiler.ErrTruncated
	}
	return profiler.ErrFormat
}

// pqShard is the name of a shard of a Parquet table:
// PREFIX-NNNNN-of-NNNNN.parquet, as the Hugging Face Hub names a split's
// files.
var pqShard = regexp.MustCompile(`^(.+)-(\d+)-of-(\d+)\.(?i:parquet|pq)$`)

// parquetGroup is the Parquet shards of one table in a folder.
type parquetGroup struct {
	name  string // the shards' name before -NNNNN-of-NNNNN
	total string
	files []string
}

// prefix names the group's layers: by the column alone where the folder
// holds one table, else by the table's name and the column.
func (g *parquetGroup) prefix(groups int) string {
	if groups == 1 {
		return ""
	}
	return g.name + "/"
}

// where names the group in messages: its folder and its files' pattern.
func (g *parquetGroup) where(st store, dir string) string {
	return st.Join(dir, g.name+"-*-of-"+g.total+filepath.Ext(g.files[0]))
}

// open lists the layers of the group's table, named prefix and the
// column; every shard of the count its names give must be there.
func (g *parquetGroup) open(st store, dir, prefix string, sel func(string) bool) ([]profiler.Layer, error) {
	where := g.where(st, dir)
	if n := fmt.Sprint(len(g.files)); strings.TrimLeft(g.total, "0") != n {
		return nil, profiler.FileErrorf(where, profiler.ErrFormat, "%d shards, where their names count %s", len(g.files), g.total)
	}
	return openParquetFiles(where, g.files, prefix, sel)
}

// parquetShards groups a folder's PREFIX-NNNNN-of-NNNNN.parquet files by
// prefix and count, in lexical order, and maps each file to its group.
func parquetShards(entries []entry) ([]*parquetGroup, map[string]*parquetGroup) {
	var groups []*parquetGroup
	byFile := map[string]*parquetGroup{}
	byName := map[string]*parquetGroup{}
	for _, e := range entries {
		m := pqShard.FindStringSubmatch(e.name)
		if e.dir || m == nil {
			continue
		}
		key := m[1] + "\x00" + m[3]
		g := byName[key]
		if g == nil {
			g = &parquetGroup{name: m[1], total: m[3]}
			byName[key] = g
			groups = append(groups, g)
		}
		g.files = append(g.files, e.path)
		byFile[e.path] = g
	}
	return groups, byFile
}
