package input

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// A restricted unpickler for the data.pkl of torch.save's zip files: the
// opcodes a pickle of containers, numbers, strings and tensors uses, and
// only the globals torch.save writes for tensors. Anything else (an
// os.system call, a class of the user's) is refused by name: nothing is
// ever executed, imported or emulated beyond building these values.

// pickle values: nil, bool, int64, *big.Int, float64, string, *pkList,
// pkTuple, *pkDict, pkGlobal, ptStorage, *ptTensor. Lists and dicts are
// pointers: the memo shares them, and an APPEND or SETITEM after a memo
// PUT must show through every reference, as in Python.
type (
	pkTuple  []any
	pkList   struct{ items []any }
	pkGlobal struct{ module, name string }
	pkDict   struct {
		keys []any
		vals []any
		// ordered: made by collections.OrderedDict(), which may then get
		// attributes by BUILD (a state_dict's _metadata): passed over.
		ordered bool
	}
)

// ptStorage is a persistent reference to one of the zip's storages.
type ptStorage struct {
	key   string // its entry: <archive>/data/<key>
	dtype string // torch's storage type name ("FloatStorage")
	numel int64
}

// ptTensor is a _rebuild_tensor_v2 call: a view of a storage.
type ptTensor struct {
	storage ptStorage
	offset  int64
	size    []int64
	stride  []int64
}

// allowedGlobals are the callables a tensor pickle may name.
var allowedGlobals = map[string]bool{
	"torch._utils._rebuild_tensor_v2": true,
	"torch._utils._rebuild_parameter": true,
	"collections.OrderedDict":         true,
}

// allowedGlobal reports whether a pickle may name module.name: one of
// allowedGlobals, or a storage type (torch.FloatStorage, and those of
// dtypes actprof does not read, such as torch.LongStorage or newer torch's
// torch.Float8_e4m3fnStorage, so that a tensor of one is refused for its
// dtype, by name). A storage type is only ever a name here: it cannot be
// called.
func allowedGlobal(module, name string) bool {
	if allowedGlobals[module+"."+name] {
		return true
	}
	if module != "torch" || len(name) <= len("Storage") || !strings.HasSuffix(name, "Storage") {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Bounds on what a pickle may build: far beyond any real checkpoint of
// activations, small enough that a forged one cannot exhaust memory.
const (
	maxPickleMemo  = 1 << 20
	maxPickleStack = 1 << 20
	maxPickleDepth = 256
	maxPickleDims  = 32
	// maxPickleItems bounds the elements of all lists and dicts together
	// (a pickle can refill the stack and append it again and again), and
	// maxPickleVisits the containers and tensors walked to find the tensors (through the
	// memo a few bytes can make a value that reaches a sub-value 2^256 times).
	maxPickleItems  = 1 << 22
	maxPickleVisits = 1 << 20
)

var errPickle = errors.New("pickle")

// unpickle runs the restricted machine over data and returns the value.
func unpickle(data []byte) (any, error) {
	var stack []any
	var marks []int
	memo := map[uint32]any{}
	pos, elems := 0, 0
	fail := func(format string, args ...any) (any, error) {
		return nil, fmt.Errorf("%w: at byte %d: %s", errPickle, pos, fmt.Sprintf(format, args...))
	}
	need := func(n int) bool { return n >= 0 && pos+n <= len(data) }
	pop := func() (any, bool) {
		if len(stack) == 0 || (len(marks) > 0 && len(stack) <= marks[len(marks)-1]) {
			return nil, false
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, true
	}
	popMark := func() ([]any, bool) {
		if len(marks) == 0 {
			return nil, false
		}
		m := marks[len(marks)-1]
		if m > len(stack) {
			return nil, false
		}
		marks = marks[:len(marks)-1]
		items := append([]any(nil), stack[m:]...)
		stack = stack[:m]
		return items, true
	}
	push := func(v any) bool {
		if len(stack) >= maxPickleStack {
			return false
		}
		stack = append(stack, v)
		return true
	}
	for {
		if !need(1) {
			return fail("the pickle ends before its STOP")
		}
		op := data[pos]
		pos++
		var v any
		switch op {
		case 0x80: // PROTO
			if !need(1) {
				return fail("truncated PROTO")
			}
			if data[pos] > 5 {
				return fail("pickle protocol %d", data[pos])
			}
			pos++
			continue
		case 0x95: // FRAME
			if !need(8) {
				return fail("truncated FRAME")
			}
			pos += 8
			continue
		case '.': // STOP
			if len(stack) != 1 || len(marks) != 0 {
				return fail("STOP with %d values and %d marks", len(stack), len(marks))
			}
			return stack[0], nil
		case '(': // MARK
			if len(marks) >= maxPickleStack {
				return fail("too many marks")
			}
			marks = append(marks, len(stack))
			continue
		case '}':
			v = &pkDict{}
		case ']':
			v = &pkList{}
		case ')':
			v = pkTuple{}
		case 'N':
			v = nil
		case 0x88:
			v = true
		case 0x89:
			v = false
		case 'K': // BININT1
			if !need(1) {
				return fail("truncated BININT1")
			}
			v = int64(data[pos])
			pos++
		case 'M': // BININT2
			if !need(2) {
				return fail("truncated BININT2")
			}
			v = int64(binary.LittleEndian.Uint16(data[pos:]))
			pos += 2
		case 'J': // BININT
			if !need(4) {
				return fail("truncated BININT")
			}
			v = int64(int32(binary.LittleEndian.Uint32(data[pos:])))
			pos += 4
		case 0x8a: // LONG1
			if !need(1) || !need(1+int(data[pos])) {
				return fail("truncated LONG1")
			}
			n := int(data[pos])
			b := data[pos+1 : pos+1+n]
			pos += 1 + n
			v = longValue(b)
		case 'G': // BINFLOAT
			if !need(8) {
				return fail("truncated BINFLOAT")
			}
			v = math.Float64frombits(binary.BigEndian.Uint64(data[pos:]))
			pos += 8
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			var n uint64
			switch op {
			case 'X':
				if !need(4) {
					return fail("truncated string")
				}
				n = uint64(binary.LittleEndian.Uint32(data[pos:]))
				pos += 4
			case 0x8c:
				if !need(1) {
					return fail("truncated string")
				}
				n = uint64(data[pos])
				pos++
			default:
				if !need(8) {
					return fail("truncated string")
				}
				n = binary.LittleEndian.Uint64(data[pos:])
				pos += 8
			}
			if n > uint64(len(data)-pos) {
				return fail("a string of %d bytes past the pickle's end", n)
			}
			v = string(data[pos : pos+int(n)])
			pos += int(n)
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			var idx uint32
			switch op {
			case 'q':
				if !need(1) {
					return fail("truncated BINPUT")
				}
				idx = uint32(data[pos])
				pos++
			case 'r':
				if !need(4) {
					return fail("truncated LONG_BINPUT")
				}
				idx = binary.LittleEndian.Uint32(data[pos:])
				pos += 4
			default:
				idx = uint32(len(memo))
			}
			if len(stack) == 0 {
				return fail("memo of an empty stack")
			}
			if _, ok := memo[idx]; !ok && len(memo) >= maxPickleMemo {
				return fail("memo larger than %d", maxPickleMemo)
			}
			memo[idx] = stack[len(stack)-1]
			continue
		case 'h', 'j': // BINGET, LONG_BINGET
			var idx uint32
			if op == 'h' {
				if !need(1) {
					return fail("truncated BINGET")
				}
				idx = uint32(data[pos])
				pos++
			} else {
				if !need(4) {
					return fail("truncated LONG_BINGET")
				}
				idx = binary.LittleEndian.Uint32(data[pos:])
				pos += 4
			}
			var ok bool
			if v, ok = memo[idx]; !ok {
				return fail("memo entry %d was never set", idx)
			}
		case 'c': // GLOBAL module\nname\n
			mod, rest, ok := cutLine(data[pos:])
			name, _, ok2 := cutLine(rest)
			if !ok || !ok2 {
				return fail("truncated GLOBAL")
			}
			pos += len(mod) + len(name) + 2
			g := pkGlobal{string(mod), string(name)}
			if !allowedGlobal(g.module, g.name) {
				return fail("global %s.%s is not one torch.save writes for tensors: refused (actprof never runs pickled code)", g.module, g.name)
			}
			v = g
		case 0x93: // STACK_GLOBAL
			n, ok1 := pop()
			m, ok2 := pop()
			ms, ok3 := m.(string)
			ns, ok4 := n.(string)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return fail("STACK_GLOBAL without two strings")
			}
			if !allowedGlobal(ms, ns) {
				return fail("global %s.%s is not one torch.save writes for tensors: refused (actprof never runs pickled code)", ms, ns)
			}
			v = pkGlobal{ms, ns}
		case 't':
			items, ok := popMark()
			if !ok {
				return fail("TUPLE without a mark")
			}
			v = pkTuple(items)
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			t := make(pkTuple, n)
			for i := n - 1; i >= 0; i-- {
				var ok bool
				if t[i], ok = pop(); !ok {
					return fail("TUPLE%d on a short stack", n)
				}
			}
			v = t
		case 'a', 'e', 's', 'u': // APPEND, APPENDS, SETITEM, SETITEMS
			var items []any
			switch op {
			case 'a', 's':
				n := 1
				if op == 's' {
					n = 2
				}
				floor := 0 // values below the top mark are not this opcode's
				if len(marks) > 0 {
					floor = marks[len(marks)-1]
				}
				if len(stack)-floor < n+1 {
					return fail("opcode %q on a short stack", op)
				}
				items = append([]any(nil), stack[len(stack)-n:]...)
				stack = stack[:len(stack)-n]
			default:
				var ok bool
				if items, ok = popMark(); !ok {
					return fail("opcode %q without a mark", op)
				}
			}
			if len(stack) == 0 || len(marks) > 0 && len(stack) <= marks[len(marks)-1] {
				return fail("opcode %q without a container", op)
			}
			if elems += len(items); elems > maxPickleItems {
				return fail("lists and dicts of more than %d elements", maxPickleItems)
			}
			switch c := stack[len(stack)-1].(type) {
			case *pkList:
				if op != 'a' && op != 'e' {
					return fail("SETITEM on a list")
				}
				c.items = append(c.items, items...)
			case *pkDict:
				if op != 's' && op != 'u' || len(items)%2 != 0 {
					return fail("APPEND on a dict")
				}
				for i := 0; i < len(items); i += 2 {
					c.keys = append(c.keys, items[i])
					c.vals = append(c.vals, items[i+1])
				}
			default:
				return fail("opcode %q on a %T", op, c)
			}
			continue
		case 'Q': // BINPERSID
			pid, ok := pop()
			if !ok {
				return fail("BINPERSID on an empty stack")
			}
			st, err := persistentStorage(pid)
			if err != nil {
				return fail("%v", err)
			}
			v = st
		case 'b': // BUILD: obj.__dict__.update(state)
			state, ok1 := pop()
			if !ok1 || len(stack) == 0 || len(marks) > 0 && len(stack) <= marks[len(marks)-1] {
				return fail("BUILD on a short stack")
			}
			d, ok2 := stack[len(stack)-1].(*pkDict)
			_, ok3 := state.(*pkDict)
			if !ok2 || !d.ordered || !ok3 {
				return fail("BUILD of anything but an OrderedDict's attributes: refused")
			}
			continue // attributes are not items: no tensors there
		case 'R': // REDUCE
			args, ok1 := pop()
			fn, ok2 := pop()
			g, ok3 := fn.(pkGlobal)
			t, ok4 := args.(pkTuple)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return fail("REDUCE of something other than an allowed global and its arguments")
			}
			var err error
			if v, err = reduce(g, t); err != nil {
				return fail("%v", err)
			}
		default:
			return fail("opcode 0x%02x is not one of a tensor pickle: refused", op)
		}
		if !push(v) {
			return fail("stack deeper than %d", maxPickleStack)
		}
	}
}

func cutLine(b []byte) (line, rest []byte, ok bool) {
	for i, c := range b {
		if c == '\n' {
			return b[:i], b[i+1:], true
		}
		if i > 256 {
			break
		}
	}
	return nil, nil, false
}

// longValue decodes LONG1's little-endian two's complement bytes.
func longValue(b []byte) any {
	if len(b) <= 8 {
		var u uint64
		for i := len(b) - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		if len(b) > 0 && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
			u |= ^uint64(0) << (8 * len(b))
		}
		return int64(u)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return x
}

// persistentStorage reads torch.save's persistent id of a storage:
// ('storage', <StorageType>, key, location, numel).
func persistentStorage(pid any) (ptStorage, error) {
	t, ok := pid.(pkTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return ptStorage{}, errors.New("a persistent id that is not a tensor storage")
	}
	g, ok1 := t[1].(pkGlobal)
	key, ok2 := t[2].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 || g.module != "torch" {
		return ptStorage{}, errors.New("a storage reference of the wrong form")
	}
	return ptStorage{key: key, dtype: g.name, numel: numel}, nil
}

// reduce applies one of the allowed callables.
func reduce(g pkGlobal, args pkTuple) (any, error) {
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, errors.New("OrderedDict with arguments")
		}
		return &pkDict{ordered: true}, nil
	case "torch._utils._rebuild_parameter":
		// (tensor, requires_grad, backward_hooks): a Parameter is its tensor
		if len(args) < 1 {
			return nil, errors.New("_rebuild_parameter without a tensor")
		}
		t, ok := args[0].(*ptTensor)
		if !ok {
			return nil, errors.New("_rebuild_parameter of something other than a tensor")
		}
		return t, nil
	case "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride, requires_grad,
		// backward_hooks[, metadata])
		if len(args) < 4 {
			return nil, errors.New("_rebuild_tensor_v2 with too few arguments")
		}
		st, ok := args[0].(ptStorage)
		off, ok2 := args[1].(int64)
		size, ok3 := intTuple(args[2])
		stride, ok4 := intTuple(args[3])
		if !ok || !ok2 || !ok3 || !ok4 || off < 0 || len(size) != len(stride) || len(size) > maxPickleDims {
			return nil, errors.New("_rebuild_tensor_v2 arguments of the wrong form")
		}
		return &ptTensor{storage: st, offset: off, size: size, stride: stride}, nil
	}
	return nil, fmt.Errorf("%s.%s cannot be called", g.module, g.name)
}

func intTuple(v any) ([]int64, bool) {
	t, ok := v.(pkTuple)
	if !ok {
		return nil, false
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}
