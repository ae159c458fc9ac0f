package input

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file parses the small subset of Python literal syntax that .npy
// headers are written in: a dict of str keys whose values are str, bool,
// int, None, tuples, lists and dicts, as ast.literal_eval would read them.

// pyTuple and pyList are Python tuples and lists; pyDict is a dict in key
// order (keys are strings: a .npy header has no other).
type (
	pyTuple []any
	pyList  []any
	pyDict  struct {
		keys []string
		vals []any
	}
)

// maxPyDepth bounds nesting so hostile headers cannot exhaust the stack.
const maxPyDepth = 64

type pyParser struct {
	s   string
	pos int
}

// parsePyLiteral parses s, a single literal with only whitespace around it.
// Values are string, int64, bool, nil (None), pyTuple, pyList and *pyDict.
func parsePyLiteral(s string) (any, error) {
	p := &pyParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, p.errorf("unexpected %q after the literal", p.peekText())
	}
	return v, nil
}

func (p *pyParser) errorf(msg string, args ...any) error {
	return errors.New(fmt.Sprintf(msg, args...) + " at byte " + strconv.Itoa(p.pos))
}

// peekText is a short excerpt at the current position, for messages.
func (p *pyParser) peekText() string {
	rest := p.s[p.pos:]
	if len(rest) > 12 {
		rest = rest[:12] + "..."
	}
	return rest
}

func (p *pyParser) space() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.pos++
		default:
			return
		}
	}
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > maxPyDepth {
		return nil, p.errorf("literal nested too deeply")
	}
	p.space()
	if p.pos >= len(p.s) {
		return nil, p.errorf("unexpected end of header")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.dict(depth)
	case c == '(':
		return p.sequence(depth, ')')
	case c == '[':
		return p.sequence(depth, ']')
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		return p.int()
	case isIdentByte(c):
		start := p.pos
		for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
			p.pos++
		}
		switch w := p.s[start:p.pos]; w {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return nil, nil
		default:
			p.pos = start
			return nil, p.errorf("unexpected name %q", w)
		}
	}
	return nil, p.errorf("unexpected %q", p.peekText())
}

func isIdentByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// sequence parses a tuple or list. As in Python, "(x)" is x itself, not a
// tuple; "(x,)" and "()" are tuples.
func (p *pyParser) sequence(depth int, end byte) (any, error) {
	p.pos++ // opening bracket
	var items []any
	comma := false
	for {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == end {
			p.pos++
			break
		}
		if len(items) > 0 && !comma {
			return nil, p.errorf("expected ',' or '%c'", end)
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.space()
		comma = p.pos < len(p.s) && p.s[p.pos] == ','
		if comma {
			p.pos++
		}
	}
	if end == ']' {
		return pyList(items), nil
	}
	if len(items) == 1 && !comma {
		return items[0], nil
	}
	if items == nil {
		items = []any{}
	}
	return pyTuple(items), nil
}

func (p *pyParser) dict(depth int) (any, error) {
	p.pos++ // '{'
	d := &pyDict{}
	comma := false
	for {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return d, nil
		}
		if len(d.keys) > 0 && !comma {
			return nil, p.errorf("expected ',' or '}'")
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, p.errorf("dict key is not a string")
		}
		p.space()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.errorf("expected ':' after key %q", key)
		}
		p.pos++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		d.keys = append(d.keys, key)
		d.vals = append(d.vals, v)
		p.space()
		comma = p.pos < len(p.s) && p.s[p.pos] == ','
		if comma {
			p.pos++
		}
	}
}

// get returns the value of the last occurrence of key (as Python does).
func (d *pyDict) get(key string) (any, bool) {
	for i := len(d.keys) - 1; i >= 0; i-- {
		if d.keys[i] == key {
			return d.vals[i], true
		}
	}
	return nil, false
}

// str parses a quoted string with the common backslash escapes; others are
// kept as written. Triple quotes and prefixes are not needed for headers.
func (p *pyParser) str() (any, error) {
	q := p.s[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		p.pos++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\n':
			return nil, p.errorf("newline in string")
		case c == '\\' && p.pos < len(p.s):
			e := p.s[p.pos]
			p.pos++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case '\\', '\'', '"':
				b.WriteByte(e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return nil, p.errorf("unterminated string")
}

// int parses a decimal integer, optionally signed and with a Python 2 'L'
// suffix, that fits in an int64.
func (p *pyParser) int() (any, error) {
	start := p.pos
	if c := p.s[p.pos]; c == '-' || c == '+' {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == digits {
		return nil, p.errorf("expected a digit")
	}
	text := p.s[start:p.pos]
	if p.pos < len(p.s) && (p.s[p.pos] == 'L' || p.s[p.pos] == 'l') {
		p.pos++
	}
	if p.pos < len(p.s) && (isIdentByte(p.s[p.pos]) || p.s[p.pos] == '.') {
		return nil, p.errorf("bad number %q", text+p.peekText())
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return nil, p.errorf("integer %s out of range", text)
	}
	return n, nil
}

// pyRepr formats a parsed literal as Python would, shortened for a
// one-line message.
func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	s := b.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

func writeRepr(b *strings.Builder, v any) {
	if b.Len() > 80 {
		return
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		b.WriteString(map[bool]string{true: "True", false: "False"}[v])
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case string:
		b.WriteString(strconv.Quote(v))
	case pyTuple:
		writeItems(b, "(", []any(v), ")")
		if len(v) == 1 {
			s := b.String()
			b.Reset()
			b.WriteString(s[:len(s)-1] + ",)")
		}
	case pyList:
		writeItems(b, "[", []any(v), "]")
	case *pyDict:
		b.WriteString("{")
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, k)
			b.WriteString(": ")
			writeRepr(b, v.vals[i])
		}
		b.WriteString("}")
	}
}

func writeItems(b *strings.Builder, open string, items []any, close string) {
	b.WriteString(open)
	for i, x := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		writeRepr(b, x)
	}
	b.WriteString(close)
}

// shapeString formats a shape as a Python tuple: (5, 7), (3,), ().
func shapeString(shape []int) string {
	t := make(pyTuple, len(shape))
	for i, d := range shape {
		t[i] = int64(d)
	}
	return pyRepr(t)
}
