package input

import (
	"encoding/binary"
	"fmt"
)

// A bounds-checked reader of FlatBuffers, the encoding of Arrow IPC
// metadata. Every offset is checked against the buffer before it is
// followed, so a forged or truncated message gives an error, never a read
// out of bounds. The first error sticks: later reads return zero values and
// fbBuf.err says what went wrong.

type fbBuf struct {
	b   []byte
	err error
}

// fail records the first error.
func (f *fbBuf) fail(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

// has reports whether n bytes at pos lie inside the buffer, failing if not.
func (f *fbBuf) has(pos, n uint64, what string) bool {
	if f.err != nil {
		return false
	}
	if pos > uint64(len(f.b)) || n > uint64(len(f.b))-pos {
		f.fail("%s at byte %d (%d bytes) lies beyond the metadata's %d bytes", what, pos, n, len(f.b))
		return false
	}
	return true
}

func (f *fbBuf) u32(pos uint64) uint32 {
	if !f.has(pos, 4, "an offset") {
		return 0
	}
	return binary.LittleEndian.Uint32(f.b[pos:])
}

// fbTable is a table: its position and its vtable's.
type fbTable struct {
	f          *fbBuf
	pos        uint64
	vt         uint64
	vtLen, len uint16 // vtable and table sizes in bytes
}

// root returns the buffer's root table.
func (f *fbBuf) root() fbTable {
	return f.tableAt(uint64(f.u32(0)))
}

// tableAt returns the table at pos.
func (f *fbBuf) tableAt(pos uint64) fbTable {
	t := fbTable{f: f}
	if !f.has(pos, 4, "a table") {
		return t
	}
	vt := int64(pos) - int64(int32(binary.LittleEndian.Uint32(f.b[pos:])))
	if vt < 0 || !f.has(uint64(vt), 4, "a vtable") {
		f.fail("a table at byte %d has its vtable outside the metadata", pos)
		return t
	}
	vtLen := binary.LittleEndian.Uint16(f.b[vt:])
	tlen := binary.LittleEndian.Uint16(f.b[vt+2:])
	if vtLen < 4 || vtLen%2 != 0 || !f.has(uint64(vt), uint64(vtLen), "a vtable") || tlen < 4 || !f.has(pos, uint64(tlen), "a table") {
		f.fail("a malformed table at byte %d", pos)
		return t
	}
	t.pos, t.vt, t.vtLen, t.len = pos, uint64(vt), vtLen, tlen
	return t
}

// field returns the position of field slot's value of width bytes, or 0
// when the field is absent (or after an error).
func (t fbTable) field(slot int, width uint16) uint64 {
	if t.f.err != nil || t.vtLen == 0 {
		return 0
	}
	e := 4 + 2*uint64(slot)
	if e+2 > uint64(t.vtLen) {
		return 0
	}
	o := binary.LittleEndian.Uint16(t.f.b[t.vt+e:])
	if o == 0 {
		return 0
	}
	if uint32(o)+uint32(width) > uint32(t.len) {
		t.f.fail("a field of the table at byte %d lies beyond the table", t.pos)
		return 0
	}
	return t.pos + uint64(o)
}

func (t fbTable) u8(slot int, def uint8) uint8 {
	if p := t.field(slot, 1); p != 0 {
		return t.f.b[p]
	}
	return def
}

func (t fbTable) i16(slot int, def int16) int16 {
	if p := t.field(slot, 2); p != 0 {
		return int16(binary.LittleEndian.Uint16(t.f.b[p:]))
	}
	return def
}

func (t fbTable) i32(slot int, def int32) int32 {
	if p := t.field(slot, 4); p != 0 {
		return int32(binary.LittleEndian.Uint32(t.f.b[p:]))
	}
	return def
}

func (t fbTable) i64(slot int, def int64) int64 {
	if p := t.field(slot, 8); p != 0 {
		return int64(binary.LittleEndian.Uint64(t.f.b[p:]))
	}
	return def
}

// ref follows the offset stored in field slot, returning its target and
// whether the field is present.
func (t fbTable) ref(slot int) (uint64, bool) {
	p := t.field(slot, 4)
	if p == 0 {
		return 0, false
	}
	return p + uint64(t.f.u32(p)), t.f.err == nil
}

// table returns the table of field slot, and whether it is present.
func (t fbTable) table(slot int) (fbTable, bool) {
	p, ok := t.ref(slot)
	if !ok {
		return fbTable{f: t.f}, false
	}
	tt := t.f.tableAt(p)
	return tt, t.f.err == nil
}

// vector returns the position of the first element of field slot's vector
// of elements of size bytes, and its length (0, 0 when absent).
func (t fbTable) vector(slot int, size uint64) (uint64, int) {
	p, ok := t.ref(slot)
	if !ok {
		return 0, 0
	}
	n := uint64(t.f.u32(p))
	if !t.f.has(p+4, n*size, "a vector") {
		return 0, 0
	}
	return p + 4, int(n)
}

// str returns field slot's string ("" when absent).
func (t fbTable) str(slot int) string {
	p, n := t.vector(slot, 1)
	if n == 0 {
		return ""
	}
	return string(t.f.b[p : p+uint64(n)])
}

// vecTable returns table i of a vector of tables starting at p.
func (f *fbBuf) vecTable(p uint64, i int) fbTable {
	q := p + 4*uint64(i)
	return f.tableAt(q + uint64(f.u32(q)))
}

// i64At reads a little-endian int64 inside a vector already checked.
func (f *fbBuf) i64At(p uint64) int64 { return int64(binary.LittleEndian.Uint64(f.b[p:])) }
