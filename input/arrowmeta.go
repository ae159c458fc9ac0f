package input

import (
	"fmt"

	"github.com/actprof/actprof/profiler"
)

// Arrow IPC metadata (Schema.fbs, Message.fbs and File.fbs of the Arrow
// format), parsed with the bounds-checked reader of flatbuf.go: only what
// locating a column's buffers needs.

// Arrow type ids (the Type union).
const (
	arrowNull            = 1
	arrowInt             = 2
	arrowFloatingPoint   = 3
	arrowBinary          = 4
	arrowUtf8            = 5
	arrowBool            = 6
	arrowDecimal         = 7
	arrowDate            = 8
	arrowTime            = 9
	arrowTimestamp       = 10
	arrowInterval        = 11
	arrowList            = 12
	arrowStruct          = 13
	arrowUnion           = 14
	arrowFixedSizeBinary = 15
	arrowFixedSizeList   = 16
	arrowMap             = 17
	arrowDuration        = 18
	arrowLargeBinary     = 19
	arrowLargeUtf8       = 20
	arrowLargeList       = 21
	arrowRunEndEncoded   = 22
	arrowBinaryView      = 23
	arrowUtf8View        = 24
	arrowListView        = 25
	arrowLargeListView   = 26
)

var arrowTypeNames = [...]string{"none", "null", "int", "floating point", "binary", "string", "bool", "decimal",
	"date", "time", "timestamp", "interval", "list", "struct", "union", "fixed-size binary", "fixed-size list",
	"map", "duration", "large binary", "large string", "large list", "run-end encoded", "binary view",
	"string view", "list view", "large list view"}

// Message header types (the MessageHeader union).
const (
	msgSchema          = 1
	msgDictionaryBatch = 2
	msgRecordBatch     = 3
)

// metadataV5 is MetadataVersion V5 (unions lost their validity buffer).
const metadataV5 = 4

// Bounds on metadata: a schema's fields (nested ones counted), nesting
// depth, and the size of one message's metadata.
const (
	maxArrowFields   = 1 << 16
	maxArrowDepth    = 64
	maxArrowMetadata = 64 << 20
)

// arrowField is a field of a schema.
type arrowField struct {
	name      string
	nullable  bool
	typ       uint8
	precision int16 // FloatingPoint: 0 half, 1 single, 2 double
	listSize  int64 // FixedSizeList
	unionMode int16 // Union: 0 sparse, 1 dense
	dict      bool  // dictionary-encoded
	children  []*arrowField
}

// typeName describes the field's type for messages.
func (a *arrowField) typeName() string {
	name := "unknown type"
	if int(a.typ) < len(arrowTypeNames) {
		name = arrowTypeNames[a.typ]
	}
	switch {
	case a.dict:
		return "dictionary-encoded " + name
	case a.typ == arrowFloatingPoint:
		return [...]string{"float16", "float32", "float64"}[a.precision]
	case a.typ == arrowFixedSizeList && len(a.children) == 1:
		return fmt.Sprintf("fixed-size list[%d] of %s", a.listSize, a.children[0].typeName())
	case (a.typ == arrowList || a.typ == arrowLargeList) && len(a.children) == 1:
		return name + " of " + a.children[0].typeName()
	}
	return name
}

// arrowSchema is a parsed Schema message.
type arrowSchema struct {
	fields  []*arrowField
	version int16
}

// parseSchema reads a Schema table.
func parseSchema(t fbTable, version int16) (*arrowSchema, error) {
	f := t.f
	if t.i16(0, 0) != 0 {
		return nil, fmt.Errorf("%w: a big-endian Arrow file: write it on a little-endian machine", profiler.ErrUnsupported)
	}
	s := &arrowSchema{version: version}
	count := 0
	var field func(t fbTable, depth int) *arrowField
	field = func(t fbTable, depth int) *arrowField {
		if count++; count > maxArrowFields || depth > maxArrowDepth {
			f.fail("more than %d fields or nested deeper than %d", maxArrowFields, maxArrowDepth)
			return nil
		}
		a := &arrowField{name: t.str(0), nullable: t.u8(1, 0) != 0, typ: t.u8(2, 0)}
		if a.typ == 0 || a.typ > arrowLargeListView {
			f.fail("field %q has unknown type id %d", a.name, a.typ)
			return nil
		}
		if tt, ok := t.table(3); ok {
			switch a.typ {
			case arrowFloatingPoint:
				a.precision = tt.i16(0, 0)
				if a.precision < 0 || a.precision > 2 {
					f.fail("field %q: floating point precision %d", a.name, a.precision)
				}
			case arrowFixedSizeList:
				a.listSize = int64(tt.i32(0, 0))
				if a.listSize < 0 {
					f.fail("field %q: fixed-size list of size %d", a.name, a.listSize)
				}
			case arrowUnion:
				a.unionMode = tt.i16(0, 0)
			}
		} else if a.typ == arrowFloatingPoint || a.typ == arrowFixedSizeList {
			f.fail("field %q lacks its type's parameters", a.name)
		}
		_, a.dict = t.table(4)
		p, n := t.vector(5, 4)
		for i := 0; i < n && f.err == nil; i++ {
			if c := field(f.vecTable(p, i), depth+1); c != nil {
				a.children = append(a.children, c)
			}
		}
		if f.err == nil {
			switch a.typ {
			case arrowList, arrowLargeList, arrowFixedSizeList, arrowMap, arrowListView, arrowLargeListView:
				if len(a.children) != 1 {
					f.fail("field %q: a list with %d child fields", a.name, len(a.children))
				}
			case arrowRunEndEncoded:
				if len(a.children) != 2 {
					f.fail("field %q: run-end encoded with %d child fields", a.name, len(a.children))
				}
			}
		}
		return a
	}
	p, n := t.vector(1, 4)
	for i := 0; i < n && f.err == nil; i++ {
		if a := field(f.vecTable(p, i), 1); a != nil {
			s.fields = append(s.fields, a)
		}
	}
	if f.err != nil {
		return nil, fmt.Errorf("%w: Arrow schema: %v", profiler.ErrFormat, f.err)
	}
	return s, nil
}

// arrowNode and arrowBuffer are a record batch's FieldNode and Buffer
// structs.
type arrowNode struct{ length, nulls int64 }
type arrowBuffer struct{ offset, length int64 }

// arrowBatch is a parsed RecordBatch message.
type arrowBatch struct {
	length     int64
	nodes      []arrowNode
	buffers    []arrowBuffer
	variadic   []int64
	compressed bool
}

// parseBatch reads a RecordBatch table.
func parseBatch(t fbTable) (*arrowBatch, error) {
	f := t.f
	b := &arrowBatch{length: t.i64(0, 0)}
	p, n := t.vector(1, 16)
	for i := 0; i < n; i++ {
		b.nodes = append(b.nodes, arrowNode{f.i64At(p + 16*uint64(i)), f.i64At(p + 16*uint64(i) + 8)})
	}
	p, n = t.vector(2, 16)
	for i := 0; i < n; i++ {
		b.buffers = append(b.buffers, arrowBuffer{f.i64At(p + 16*uint64(i)), f.i64At(p + 16*uint64(i) + 8)})
	}
	_, b.compressed = t.table(3)
	p, n = t.vector(4, 8)
	for i := 0; i < n; i++ {
		b.variadic = append(b.variadic, f.i64At(p+8*uint64(i)))
	}
	if f.err != nil {
		return nil, fmt.Errorf("%w: Arrow record batch: %v", profiler.ErrFormat, f.err)
	}
	if b.length < 0 {
		return nil, fmt.Errorf("%w: Arrow record batch of %d rows", profiler.ErrFormat, b.length)
	}
	return b, nil
}

// arrowMessage is a parsed Message: its header (a schema or a record
// batch; nil for other kinds) and the length of the body that follows it.
type arrowMessage struct {
	kind    uint8
	version int16
	schema  *arrowSchema
	batch   *arrowBatch
	bodyLen int64
}

// parseMessage parses one Message flatbuffer.
func parseMessage(meta []byte) (*arrowMessage, error) {
	f := &fbBuf{b: meta}
	t := f.root()
	m := &arrowMessage{version: t.i16(0, 0), kind: t.u8(1, 0), bodyLen: t.i64(3, 0)}
	if f.err != nil {
		return nil, fmt.Errorf("%w: Arrow message: %v", profiler.ErrFormat, f.err)
	}
	if m.bodyLen < 0 {
		return nil, fmt.Errorf("%w: Arrow message with a body of %d bytes", profiler.ErrFormat, m.bodyLen)
	}
	h, ok := t.table(2)
	if !ok && (m.kind == msgSchema || m.kind == msgRecordBatch) {
		return nil, fmt.Errorf("%w: Arrow message without its header", profiler.ErrFormat)
	}
	var err error
	switch m.kind {
	case msgSchema:
		m.schema, err = parseSchema(h, m.version)
	case msgRecordBatch:
		m.batch, err = parseBatch(h)
	}
	if err == nil && f.err != nil {
		err = fmt.Errorf("%w: Arrow message: %v", profiler.ErrFormat, f.err)
	}
	return m, err
}

// arrowBlock is a File footer's Block: where a message lies.
type arrowBlock struct {
	offset  int64
	metaLen int32
	bodyLen int64
}

// arrowFooter is a parsed Footer of the IPC file format.
type arrowFooter struct {
	schema  *arrowSchema
	batches []arrowBlock
}

// parseFooter parses the Footer flatbuffer of an IPC file.
func parseFooter(b []byte) (*arrowFooter, error) {
	f := &fbBuf{b: b}
	t := f.root()
	version := t.i16(0, 0)
	st, ok := t.table(1)
	if !ok {
		if f.err != nil {
			return nil, fmt.Errorf("%w: Arrow file footer: %v", profiler.ErrFormat, f.err)
		}
		return nil, fmt.Errorf("%w: Arrow file footer without a schema", profiler.ErrFormat)
	}
	s, err := parseSchema(st, version)
	if err != nil {
		return nil, err
	}
	ft := &arrowFooter{schema: s}
	p, n := t.vector(3, 24)
	for i := 0; i < n; i++ {
		q := p + 24*uint64(i)
		ft.batches = append(ft.batches, arrowBlock{f.i64At(q), int32(f.u32(q + 8)), f.i64At(q + 16)})
	}
	if f.err != nil {
		return nil, fmt.Errorf("%w: Arrow file footer: %v", profiler.ErrFormat, f.err)
	}
	return ft, nil
}
