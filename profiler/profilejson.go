package profiler

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The JSON profile is written and read as a stream: a wide layer's per-unit
// arrays (tens of millions of numbers) go number by number through a
// buffer, never as a whole document in memory. The bytes written are those
// of encoding/json's Encoder with two-space indentation.

// Encode writes p as indented JSON, the bytes encoding/json's Encoder with
// SetIndent("", "  ") writes, streamed: memory stays at a small buffer
// whatever the layers' sizes.
func (p *Profile) Encode(w io.Writer) error {
	e := &jsonWriter{w: bufio.NewWriterSize(w, 64<<10)}
	e.raw("{")
	e.field(1, "format_version", true)
	e.int(int64(p.FormatVersion))
	e.field(1, "tool", false)
	e.value(p.Tool)
	e.field(1, "backend", false)
	e.value(p.Backend)
	e.field(1, "threshold", false)
	e.value(p.Threshold)
	e.field(1, "rare_below", false)
	e.value(p.RareBelow)
	if sp := p.Stats; sp != nil {
		e.field(1, "stats", false)
		e.raw("{")
		e.field(2, "dormant_tau", true)
		e.value(sp.DormantTau)
		e.field(2, "saturated_above", false)
		e.value(sp.SaturatedAbove)
		e.field(2, "dead_window", false)
		e.uint(sp.DeadWindow)
		e.newline(1)
		e.raw("}")
	}
	if p.Shard != nil {
		e.field(1, "shard", false)
		e.indented(p.Shard, 1)
	}
	e.field(1, "layers", false)
	if p.Layers == nil {
		e.raw("null")
	} else {
		e.raw("[")
		for i := range p.Layers {
			if i > 0 {
				e.raw(",")
			}
			e.newline(2)
			e.layer(&p.Layers[i])
		}
		if len(p.Layers) > 0 {
			e.newline(1)
		}
		e.raw("]")
	}
	e.newline(0)
	e.raw("}\n")
	if e.err != nil {
		return e.err
	}
	return e.w.Flush()
}

func (e *jsonWriter) layer(l *LayerProfile) {
	const d = 3 // the depth of the layer's fields
	e.raw("{")
	e.field(d, "name", true)
	e.value(l.Name)
	if l.Source != "" {
		e.field(d, "source", false)
		e.value(l.Source)
	}
	e.field(d, "dtype", false)
	e.value(l.DType)
	e.field(d, "shape", false)
	writeInts(e, d, l.Shape)
	e.field(d, "unit_axis", false)
	e.int(int64(l.UnitAxis))
	e.field(d, "units", false)
	e.int(int64(l.Units))
	e.field(d, "observations", false)
	e.uint(l.Observations)
	if len(l.Ranges) > 0 {
		e.field(d, "ranges", false)
		e.indented(l.Ranges, d)
	}
	e.field(d, "counts", false)
	writeUints(e, d, l.Counts)
	e.field(d, "nan_counts", false)
	writeUints(e, d, l.NaNCounts)
	e.field(d, "nan_total", false)
	e.uint(l.NaNTotal)
	e.field(d, "dead", false)
	writeInts(e, d, l.Dead)
	e.field(d, "rare", false)
	writeInts(e, d, l.Rare)
	e.field(d, "always_on", false)
	writeInts(e, d, l.AlwaysOn)
	e.field(d, "mean_activation_probability", false)
	e.value(l.MeanActivationProbability)
	if l.Stats != nil {
		e.field(d, "stats", false)
		e.stats(l.Stats, d+1)
	}
	e.newline(d - 1)
	e.raw("}")
}

func (e *jsonWriter) stats(s *LayerStats, d int) {
	e.raw("{")
	for i, f := range []struct {
		key string
		v   []float64
	}{{"min", s.Min}, {"max", s.Max}, {"sum", s.Sum}, {"sum_abs", s.SumAbs}} {
		e.field(d, f.key, i == 0)
		writeFloats(e, d, f.v)
	}
	e.field(d, "pos_inf_counts", false)
	writeUints(e, d, s.PosInfCounts)
	e.field(d, "neg_inf_counts", false)
	writeUints(e, d, s.NegInfCounts)
	e.field(d, "first_fired", false)
	writeArray(e, d, s.FirstFired)
	e.field(d, "last_fired", false)
	writeArray(e, d, s.LastFired)
	if len(s.Saturate) > 0 {
		e.field(d, "saturate", false)
		writeFloats(e, d, s.Saturate)
	}
	if len(s.SaturatedCounts) > 0 {
		e.field(d, "saturated_counts", false)
		writeUints(e, d, s.SaturatedCounts)
	}
	e.field(d, "value_hist", false)
	writeUints(e, d, s.ValueHist)
	e.field(d, "l0_bin_width", false)
	e.int(int64(s.L0BinWidth))
	e.field(d, "l0_hist", false)
	writeUints(e, d, s.L0Hist)
	e.field(d, "mean_l0", false)
	e.value(s.MeanL0)
	e.field(d, "constant", false)
	writeInts(e, d, s.Constant)
	e.field(d, "dormant", false)
	writeInts(e, d, s.Dormant)
	if len(s.Saturated) > 0 {
		e.field(d, "saturated", false)
		writeInts(e, d, s.Saturated)
	}
	if len(s.WindowDead) > 0 {
		e.field(d, "window_dead", false)
		writeInts(e, d, s.WindowDead)
	}
	e.newline(d - 1)
	e.raw("}")
}

// appendJSONFloat appends x as encoding/json writes a float64, and null
// for NaN (Floats' encoding).
func appendJSONFloat(b []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(b, "null"...)
	}
	f := byte('f')
	if a := math.Abs(x); a != 0 && (a < 1e-6 || a >= 1e21) {
		f = 'e'
	}
	b = strconv.AppendFloat(b, x, f, -1, 64)
	if f == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// writeFloats writes an array of floats, null for NaN, one a line.
func writeFloats(e *jsonWriter, depth int, v []float64) {
	switch {
	case v == nil:
		e.raw("null")
		return
	case len(v) == 0:
		e.raw("[]")
		return
	}
	e.raw("[")
	line := indent[:1+2*(depth+1)]
	next := "," + line
	sep := line
	for _, x := range v {
		if e.w.Available() < len(sep)+32 {
			e.err = e.w.Flush()
		}
		if e.err != nil {
			return
		}
		b := append(e.w.AvailableBuffer(), sep...)
		b = appendJSONFloat(b, x)
		_, e.err = e.w.Write(b)
		sep = next
	}
	e.newline(depth)
	e.raw("]")
}

// jsonWriter writes indented JSON through a buffer; the first error sticks.
type jsonWriter struct {
	w   *bufio.Writer
	err error
}

func (e *jsonWriter) raw(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

// indent is a newline and the indentation of the deepest line written.
const indent = "\n                "

func (e *jsonWriter) newline(depth int) { e.raw(indent[:1+2*depth]) }

// field starts the object member key at depth.
func (e *jsonWriter) field(depth int, key string, first bool) {
	if !first {
		e.raw(",")
	}
	e.newline(depth)
	e.raw(`"` + key + `": `)
}

// value writes a string or float as encoding/json does (its escapes, its
// float format).
func (e *jsonWriter) value(v any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	_, e.err = e.w.Write(b)
}

// indented writes a small value (a few lines) as a member at depth, as
// encoding/json's indenting Encoder does.
func (e *jsonWriter) indented(v any, depth int) {
	if e.err != nil {
		return
	}
	b, err := json.MarshalIndent(v, indent[1:1+2*depth], "  ")
	if err != nil {
		e.err = err
		return
	}
	_, e.err = e.w.Write(b)
}

func (e *jsonWriter) int(v int64) { e.raw(strconv.FormatInt(v, 10)) }

func (e *jsonWriter) uint(v uint64) { e.raw(strconv.FormatUint(v, 10)) }

// writeArray writes a member's array of integers at depth (the member's):
// null for nil, [] for empty, else one number a line, each line appended
// to the writer's buffer in place.
func writeArray[T int | int64 | uint64](e *jsonWriter, depth int, v []T) {
	switch {
	case v == nil:
		e.raw("null")
		return
	case len(v) == 0:
		e.raw("[]")
		return
	}
	e.raw("[")
	line := indent[:1+2*(depth+1)]
	next := "," + line
	sep := line // the first number's
	for _, x := range v {
		if e.w.Available() < len(sep)+20 { // room for the line: no append grows the buffer
			e.err = e.w.Flush()
		}
		if e.err != nil {
			return
		}
		b := append(e.w.AvailableBuffer(), sep...)
		if x < 0 {
			b = strconv.AppendInt(b, int64(x), 10)
		} else {
			b = strconv.AppendUint(b, uint64(x), 10)
		}
		_, e.err = e.w.Write(b)
		sep = next
	}
	e.newline(depth)
	e.raw("]")
}

func writeInts(e *jsonWriter, depth int, v []int) { writeArray(e, depth, v) }

func writeUints(e *jsonWriter, depth int, v []uint64) { writeArray(e, depth, v) }

// DecodeProfile reads a JSON profile and checks it is whole and consistent:
// the layers' names are distinct, each shape gives its units and
// observations, each per-unit array has one entry per unit, no unit fired
// or was NaN on more observations than there are, and nan_total, the unit
// lists and the mean activation probability agree with the counts. It
// reads as a stream: memory is the profile's arrays, not the document.
func DecodeProfile(r io.Reader) (*Profile, error) {
	d := &jsonReader{r: r, buf: make([]byte, 64<<10)}
	p, err := d.profile()
	if err == nil {
		err = d.finish()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: not a profile: %v", ErrFormat, err)
	}
	if p.FormatVersion < 1 || p.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("%w: profile format_version %d (this actprof reads 1 to %d)", ErrFormat, p.FormatVersion, FormatVersion)
	}
	if !(p.RareBelow > 0 && p.RareBelow <= 1) {
		return nil, fmt.Errorf("%w: profile rare_below %g not in (0, 1]", ErrFormat, p.RareBelow)
	}
	if err := p.check(true); err != nil {
		return nil, fmt.Errorf("%w: profile %v", ErrFormat, err)
	}
	return p, nil
}

// jsonReader reads JSON from a buffered stream, with encoding/json's rules
// for the values it decodes (object keys matched without regard to case,
// the last of a repeated key kept, unknown keys skipped, null leaving the
// zero value).
type jsonReader struct {
	r        io.Reader
	buf      []byte // buf[pos:end] is read and not yet taken
	pos, end int
	base     int64  // the offset in the stream of buf[0]
	rerr     error  // the error that ended the stream (io.EOF at its end)
	tok      []byte // scratch for one string or number
	// scratch for arrays of unknown length
	ints   []int
	uints  []uint64
	int64s []int64
	floats []float64
}

// maxDepth bounds the nesting of values that are skipped (encoding/json's
// bound).
const maxDepth = 10000

// maxPrealloc bounds the entries allocated at once for a per-unit array
// from the units a profile claims, before the entries are read.
const maxPrealloc = 1 << 24

var errEOF = errors.New("unexpected end of JSON input")

func (d *jsonReader) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: "+format, append([]any{d.base + int64(d.pos)}, args...)...)
}

// fill reads more of the stream into the emptied buffer.
func (d *jsonReader) fill() error {
	for d.rerr == nil {
		d.base += int64(d.end)
		n, err := d.r.Read(d.buf)
		d.pos, d.end, d.rerr = 0, n, err
		if n > 0 {
			return nil
		}
	}
	if d.rerr == io.EOF {
		return errEOF
	}
	return d.rerr
}

func (d *jsonReader) readByte() (byte, error) {
	if d.pos == d.end {
		if err := d.fill(); err != nil {
			return 0, err
		}
	}
	d.pos++
	return d.buf[d.pos-1], nil
}

// unread gives back the byte readByte returned last.
func (d *jsonReader) unread() { d.pos-- }

// peek returns the next byte that is not white space, left unread.
func (d *jsonReader) peek() (byte, error) {
	for {
		for ; d.pos < d.end; d.pos++ {
			switch c := d.buf[d.pos]; c {
			case ' ', '\t', '\n', '\r':
			default:
				return c, nil
			}
		}
		if err := d.fill(); err != nil {
			return 0, err
		}
	}
}

func (d *jsonReader) expect(want byte) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c != want {
		return d.errorf("%s where %q was expected", describe(c), want)
	}
	d.readByte()
	return nil
}

func describe(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// literal reads true, false or null.
func (d *jsonReader) literal() (string, error) {
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	var want string
	switch c {
	case 't':
		want = "true"
	case 'f':
		want = "false"
	case 'n':
		want = "null"
	default:
		return "", d.errorf("%s where a value was expected", describe(c))
	}
	for i := 0; i < len(want); i++ {
		c, err := d.readByte()
		if err != nil {
			return "", err
		}
		if c != want[i] {
			return "", d.errorf("%s in literal %s", describe(c), want)
		}
	}
	return want, nil
}

// null reads a null if one is next.
func (d *jsonReader) null() (bool, error) {
	c, err := d.peek()
	if err != nil || c != 'n' {
		return false, err
	}
	_, err = d.literal()
	return err == nil, err
}

// string reads a JSON string.
func (d *jsonReader) string() (string, error) {
	if err := d.expect('"'); err != nil {
		return "", err
	}
	d.tok = append(d.tok[:0], '"')
	plain := true
	for {
		c, err := d.readByte()
		if err != nil {
			return "", err
		}
		d.tok = append(d.tok, c)
		switch {
		case c == '"':
			if plain && utf8.Valid(d.tok) {
				return string(d.tok[1 : len(d.tok)-1]), nil
			}
			var s string // escapes, control bytes, bad UTF-8: encoding/json's rules
			if err := json.Unmarshal(d.tok, &s); err != nil {
				return "", d.errorf("string: %v", err)
			}
			return s, nil
		case c == '\\':
			plain = false
			c, err := d.readByte()
			if err != nil {
				return "", err
			}
			d.tok = append(d.tok, c)
		case c < 0x20:
			return "", d.errorf("control byte 0x%02x in a string", c)
		}
	}
}

// number reads a JSON number's text (into d.tok), checking its syntax.
func (d *jsonReader) number() ([]byte, error) {
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	if c != '-' && (c < '0' || c > '9') {
		return nil, d.errorf("%s where a number was expected", describe(c))
	}
	d.tok = d.tok[:0]
	for {
		start := d.pos
		for d.pos < d.end && numberByte[d.buf[d.pos]] {
			d.pos++
		}
		d.tok = append(d.tok, d.buf[start:d.pos]...)
		if d.pos < d.end {
			break
		}
		if err := d.fill(); err == errEOF {
			break
		} else if err != nil {
			return nil, err
		}
	}
	if !validNumber(d.tok) {
		return nil, d.errorf("bad number %q", d.tok)
	}
	return d.tok, nil
}

// numberByte marks the bytes a JSON number is made of.
var numberByte = func() (t [256]bool) {
	for _, c := range []byte("0123456789+-.eE") {
		t[c] = true
	}
	return t
}()

// validNumber reports whether s is a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s []byte) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// parseUint parses the digits of a JSON integer; ok is false for a
// fraction, an exponent, a sign or a value above max.
func parseUint(t []byte, max uint64) (v uint64, ok bool) {
	for _, c := range t {
		if c < '0' || c > '9' {
			return 0, false
		}
		hi, lo := bits.Mul64(v, 10)
		lo, cy := bits.Add64(lo, uint64(c-'0'), 0)
		if hi != 0 || cy != 0 || lo > max {
			return 0, false
		}
		v = lo
	}
	return v, true
}

func (d *jsonReader) uint64() (uint64, error) {
	t, err := d.number()
	if err != nil {
		return 0, err
	}
	v, ok := parseUint(t, math.MaxUint64)
	if !ok {
		return 0, d.errorf("number %s is not an unsigned 64-bit integer", t)
	}
	return v, nil
}

func (d *jsonReader) int() (int, error) {
	t, err := d.number()
	if err != nil {
		return 0, err
	}
	neg := len(t) > 0 && t[0] == '-'
	digits := t
	if neg {
		digits = t[1:]
	}
	v, ok := parseUint(digits, math.MaxInt+uint64(b2u(neg)))
	if !ok {
		return 0, d.errorf("number %s is not an integer of this platform's int", t)
	}
	if neg {
		return int(-v), nil // -MaxInt-1 wraps to itself
	}
	return int(v), nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (d *jsonReader) float() (float64, error) {
	t, err := d.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(string(t), 64)
	if err != nil {
		return 0, d.errorf("number %s is out of float64 range", t)
	}
	return v, nil
}

// array reads an array (null leaves it nil), calling elem for each
// element.
func (d *jsonReader) array(elem func() error) (null bool, err error) {
	if null, err := d.null(); null || err != nil {
		return null, err
	}
	if err := d.expect('['); err != nil {
		return false, err
	}
	c, err := d.peek()
	if err != nil {
		return false, err
	}
	if c == ']' {
		d.readByte()
		return false, nil
	}
	for {
		if err := elem(); err != nil {
			return false, err
		}
		c, err := d.peek()
		if err != nil {
			return false, err
		}
		d.readByte()
		switch c {
		case ',':
		case ']':
			return false, nil
		default:
			return false, d.errorf("%s after an array element", describe(c))
		}
	}
}

// object reads an object (null is no-op), calling member with each key;
// member reads the value.
func (d *jsonReader) object(member func(key string) error) error {
	if null, err := d.null(); null || err != nil {
		return err
	}
	if err := d.expect('{'); err != nil {
		return err
	}
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c == '}' {
		d.readByte()
		return nil
	}
	for {
		key, err := d.string()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		c, err := d.peek()
		if err != nil {
			return err
		}
		d.readByte()
		switch c {
		case ',':
		case '}':
			return nil
		default:
			return d.errorf("%s after an object member", describe(c))
		}
	}
}

// skip reads and drops any value.
func (d *jsonReader) skip(depth int) error {
	if depth > maxDepth {
		return d.errorf("values nested deeper than %d", maxDepth)
	}
	c, err := d.peek()
	if err != nil {
		return err
	}
	switch {
	case c == '{':
		return d.object(func(string) error { return d.skip(depth + 1) })
	case c == '[':
		_, err := d.array(func() error { return d.skip(depth + 1) })
		return err
	case c == '"':
		_, err := d.string()
		return err
	case c == '-' || c >= '0' && c <= '9':
		_, err := d.number()
		return err
	}
	_, err = d.literal()
	return err
}

// finish checks that only white space follows the profile.
func (d *jsonReader) finish() error {
	c, err := d.peek()
	if err == errEOF {
		return nil
	}
	if err != nil {
		return err
	}
	return d.errorf("%s after the profile", describe(c))
}

// stringInto, intInto, ... read a member's value, null leaving it as it is.
func (d *jsonReader) stringInto(key string, v *string) error {
	if null, err := d.null(); null || err != nil {
		return err
	}
	s, err := d.string()
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	*v = s
	return nil
}

func (d *jsonReader) intInto(key string, v *int) error {
	if null, err := d.null(); null || err != nil {
		return err
	}
	n, err := d.int()
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	*v = n
	return nil
}

func (d *jsonReader) uintInto(key string, v *uint64) error {
	if null, err := d.null(); null || err != nil {
		return err
	}
	n, err := d.uint64()
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	*v = n
	return nil
}

func (d *jsonReader) floatInto(key string, v *float64) error {
	if null, err := d.null(); null || err != nil {
		return err
	}
	f, err := d.float()
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	*v = f
	return nil
}

// arrayInto reads an array of numbers into *v (null makes it nil). With
// want, the entries a profile's units promise, the array is allocated for
// them up front (up to maxPrealloc); else it is read into scratch, kept
// from array to array, and copied at its length, so that no array leaves
// the garbage of growing by appends behind.
func arrayInto[T any](d *jsonReader, key string, v *[]T, want int, scratch *[]T, read func() (T, error)) error {
	out := (*scratch)[:0]
	if want > 0 {
		out = make([]T, 0, min(want, maxPrealloc))
	}
	null, err := d.array(func() error {
		x, err := read()
		out = append(out, x)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	switch {
	case null:
		*v = nil
	case want > 0:
		*v = out
	default:
		*v = append(make([]T, 0, len(out)), out...)
		*scratch = out[:0]
	}
	return nil
}

func (d *jsonReader) profile() (*Profile, error) {
	var p Profile
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	if c != '{' {
		return nil, d.errorf("%s where the profile's object was expected", describe(c))
	}
	err = d.object(func(key string) error {
		is := func(name string) bool { return strings.EqualFold(key, name) }
		switch {
		case is("format_version"):
			return d.intInto(key, &p.FormatVersion)
		case is("tool"):
			return d.stringInto(key, &p.Tool)
		case is("backend"):
			return d.stringInto(key, &p.Backend)
		case is("threshold"):
			return d.floatInto(key, &p.Threshold)
		case is("rare_below"):
			return d.floatInto(key, &p.RareBelow)
		case is("stats"):
			if null, err := d.null(); null || err != nil {
				return err
			}
			sp := &StatsParams{}
			p.Stats = sp
			return d.object(func(key string) error {
				is := func(name string) bool { return strings.EqualFold(key, name) }
				switch {
				case is("dormant_tau"):
					return d.floatInto(key, &sp.DormantTau)
				case is("saturated_above"):
					return d.floatInto(key, &sp.SaturatedAbove)
				case is("dead_window"):
					return d.uintInto(key, &sp.DeadWindow)
				}
				return d.skip(2)
			})
		case is("shard"):
			if null, err := d.null(); null || err != nil {
				return err
			}
			sr := &ShardRecord{}
			p.Shard = sr
			return d.smallInto(key, sr)
		case is("layers"):
			p.Layers = p.Layers[:0]
			null, err := d.array(func() error {
				var l LayerProfile
				if err := d.layer(&l); err != nil {
					return fmt.Errorf("layer %d: %w", len(p.Layers), err)
				}
				p.Layers = append(p.Layers, l)
				return nil
			})
			if null {
				p.Layers = nil
			} else if p.Layers == nil {
				p.Layers = []LayerProfile{}
			}
			return err
		}
		return d.skip(1)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

func (d *jsonReader) layer(l *LayerProfile) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		return d.errorf("%s where a layer's object was expected", describe(c))
	}
	return d.object(func(key string) error {
		is := func(name string) bool { return strings.EqualFold(key, name) }
		switch {
		case is("name"):
			return d.stringInto(key, &l.Name)
		case is("source"):
			return d.stringInto(key, &l.Source)
		case is("dtype"):
			return d.stringInto(key, &l.DType)
		case is("shape"):
			return arrayInto(d, key, &l.Shape, 0, &d.ints, d.int)
		case is("unit_axis"):
			return d.intInto(key, &l.UnitAxis)
		case is("units"):
			return d.intInto(key, &l.Units)
		case is("observations"):
			return d.uintInto(key, &l.Observations)
		case is("ranges"):
			return d.smallInto(key, &l.Ranges)
		case is("counts"):
			return arrayInto(d, key, &l.Counts, l.Units, &d.uints, d.uint64)
		case is("nan_counts"):
			return arrayInto(d, key, &l.NaNCounts, l.Units, &d.uints, d.uint64)
		case is("nan_total"):
			return d.uintInto(key, &l.NaNTotal)
		case is("dead"):
			return arrayInto(d, key, &l.Dead, 0, &d.ints, d.int)
		case is("rare"):
			return arrayInto(d, key, &l.Rare, 0, &d.ints, d.int)
		case is("always_on"):
			return arrayInto(d, key, &l.AlwaysOn, 0, &d.ints, d.int)
		case is("mean_activation_probability"):
			return d.floatInto(key, &l.MeanActivationProbability)
		case is("stats"):
			if null, err := d.null(); null || err != nil {
				return err
			}
			l.Stats = &LayerStats{}
			return d.layerStats(l.Stats, l.Units)
		}
		return d.skip(1)
	})
}

func (d *jsonReader) layerStats(s *LayerStats, units int) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		return d.errorf("%s where a layer's stats object was expected", describe(c))
	}
	floats := func(key string, v *Floats) error {
		var f []float64
		err := arrayInto(d, key, &f, units, &d.floats, d.floatOrNull)
		*v = f
		return err
	}
	return d.object(func(key string) error {
		is := func(name string) bool { return strings.EqualFold(key, name) }
		switch {
		case is("min"):
			return floats(key, &s.Min)
		case is("max"):
			return floats(key, &s.Max)
		case is("sum"):
			return floats(key, &s.Sum)
		case is("sum_abs"):
			return floats(key, &s.SumAbs)
		case is("pos_inf_counts"):
			return arrayInto(d, key, &s.PosInfCounts, units, &d.uints, d.uint64)
		case is("neg_inf_counts"):
			return arrayInto(d, key, &s.NegInfCounts, units, &d.uints, d.uint64)
		case is("first_fired"):
			return arrayInto(d, key, &s.FirstFired, units, &d.int64s, d.int64)
		case is("last_fired"):
			return arrayInto(d, key, &s.LastFired, units, &d.int64s, d.int64)
		case is("saturate"):
			return arrayInto(d, key, &s.Saturate, 0, &d.floats, d.float)
		case is("saturated_counts"):
			return arrayInto(d, key, &s.SaturatedCounts, units, &d.uints, d.uint64)
		case is("value_hist"):
			return arrayInto(d, key, &s.ValueHist, 0, &d.uints, d.uint64)
		case is("l0_bin_width"):
			return d.intInto(key, &s.L0BinWidth)
		case is("l0_hist"):
			return arrayInto(d, key, &s.L0Hist, 0, &d.uints, d.uint64)
		case is("mean_l0"):
			return d.floatInto(key, &s.MeanL0)
		case is("constant"):
			return arrayInto(d, key, &s.Constant, 0, &d.ints, d.int)
		case is("dormant"):
			return arrayInto(d, key, &s.Dormant, 0, &d.ints, d.int)
		case is("saturated"):
			return arrayInto(d, key, &s.Saturated, 0, &d.ints, d.int)
		case is("window_dead"):
			return arrayInto(d, key, &s.WindowDead, 0, &d.ints, d.int)
		}
		return d.skip(4)
	})
}

// smallInto reads a small value (a shard record, a layer's ranges) with
// encoding/json into v.
func (d *jsonReader) smallInto(key string, v any) error {
	x, err := d.anyValue(0)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	b, err := json.Marshal(x)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("%s: %v", key, err)
	}
	return nil
}

// anyValue reads any value as encoding/json decodes into an interface,
// numbers kept as their text.
func (d *jsonReader) anyValue(depth int) (any, error) {
	if depth > maxDepth {
		return nil, d.errorf("values nested deeper than %d", maxDepth)
	}
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	switch {
	case c == '{':
		m := map[string]any{}
		err := d.object(func(key string) error {
			v, err := d.anyValue(depth + 1)
			m[key] = v
			return err
		})
		return m, err
	case c == '[':
		a := []any{}
		_, err := d.array(func() error {
			v, err := d.anyValue(depth + 1)
			a = append(a, v)
			return err
		})
		return a, err
	case c == '"':
		return d.string()
	case c == '-' || c >= '0' && c <= '9':
		t, err := d.number()
		return json.Number(string(t)), err
	}
	lit, err := d.literal()
	switch lit {
	case "true":
		return true, err
	case "false":
		return false, err
	}
	return nil, err
}

// floatOrNull reads a number, or null as NaN.
func (d *jsonReader) floatOrNull() (float64, error) {
	if null, err := d.null(); null || err != nil {
		return math.NaN(), err
	}
	return d.float()
}

// int64 reads a signed 64-bit integer.
func (d *jsonReader) int64() (int64, error) {
	t, err := d.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(t), 10, 64)
	if err != nil {
		return 0, d.errorf("number %s is not a 64-bit integer", t)
	}
	return v, nil
}
