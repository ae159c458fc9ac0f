package input

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// The restricted unpickler on any bytes: an error or a value, never a
// panic, a hang or unbounded memory. Seeds: a torch.save data.pkl
// (testdata/fuzz/FuzzUnpickle) and small hand-made pickles.
func FuzzUnpickle(f *testing.F) {
	for _, s := range []string{
		"\x80\x02}q\x00.",                                       // {}
		"\x80\x02]q\x00(K\x01K\x02e.",                           // [1, 2]
		"\x80\x02cposix\nsystem\nq\x00.",                        // a refused global
		"\x80\x02(K\x01t\x85.",                                  // nested tuples
		"\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", // a 9-byte long
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := unpickle(data)
		if err == nil {
			_, _ = collectTensors(v, "f")
		}
	})
}

// The seed pickle of torch.save decodes to its tensors.
func TestUnpickleTorchSeed(t *testing.T) {
	raw, err := os.ReadFile("testdata/fuzz/FuzzUnpickle/torch-dict")
	if err != nil {
		t.Fatal(err)
	}
	// the corpus file's []byte("...") literal
	s := string(raw)
	i, j := len("go test fuzz v1\n[]byte(\""), len(s)-len("\")\n")
	data := unquoteGo(t, s[i-1:j+1])
	v, err := unpickle(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := collectTensors(v, "f")
	if err != nil || len(out) != 2 || out[0].name != "a" || out[1].name != "b.0" {
		t.Fatalf("tensors %+v, %v", out, err)
	}
	if a := out[0].t; a.storage.dtype != "FloatStorage" || len(a.size) != 2 || a.size[0] != 2 || a.size[1] != 3 || a.stride[0] != 3 {
		t.Fatalf("tensor a: %+v", a)
	}
	if b := out[1].t; b.storage.dtype != "HalfStorage" || b.storage.numel != 6 {
		t.Fatalf("tensor b: %+v", b)
	}
}

func unquoteGo(t *testing.T, q string) []byte {
	t.Helper()
	s, err := strconv.Unquote(q)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// A few hundred bytes whose value reaches one tuple 2^199 times through the
// memo, and a list that holds itself: the walk stops with an error, fast.
func TestUnpickleSharedBounds(t *testing.T) {
	dag := []byte("\x80\x02)q\x00")
	for i := 1; i < 200; i++ {
		dag = append(dag, 'h', byte(i-1), 0x86, 'q', byte(i)) // T_i = (T_i-1, T_i-1)
	}
	dag = append(dag, '.')
	cycle := []byte("\x80\x02]q\x00(h\x00h\x00e.") // L = [L, L]
	for name, p := range map[string][]byte{"dag": dag, "cycle": cycle} {
		v, err := unpickle(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := collectTensors(v, "f"); err == nil {
			t.Errorf("%s: walked without error", name)
		}
	}
}

// A list memoized before its APPEND and referenced twice is one list with
// its elements under both keys, as Python's unpickler builds it.
func TestUnpickleSharedList(t *testing.T) {
	// {'a': L, 'b': L} with L = [1, 'x']
	v, err := unpickle([]byte("\x80\x02}q\x00(X\x01\x00\x00\x00a]q\x01(K\x01X\x01\x00\x00\x00xeX\x01\x00\x00\x00bh\x01u."))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*pkDict)
	for i, k := range []string{"a", "b"} {
		l, ok := d.vals[i].(*pkList)
		if d.keys[i] != k || !ok || len(l.items) != 2 || l.items[0] != int64(1) || l.items[1] != "x" {
			t.Errorf("%s: %#v", k, d.vals[i])
		}
	}
}

// Storage types are names, whatever their dtype; other torch globals and
// storage types named as callables are refused, naming the global.
func TestUnpickleGlobals(t *testing.T) {
	for _, c := range []struct {
		pickle, want string // want: "" for success, else part of the error
	}{
		{"\x80\x02ctorch\nFloat8_e4m3fnStorage\n.", ""},
		{"\x80\x02ctorch\nLongStorage\n.", ""},
		{"\x80\x02ctorch\nload\n.", "global torch.load is not one"},
		{"\x80\x02ctorch\nStorage\n.", "global torch.Storage is not one"},
		{"\x80\x02ctorch\nx.yStorage\n.", "global torch.x.yStorage is not one"},
		{"\x80\x02cbuiltins\neval\n.", "global builtins.eval is not one"},
		{"\x80\x02\x8c\x05posix\x8c\x06system\x93.", "global posix.system is not one"},
		{"\x80\x02ctorch\nFloatStorage\n)R.", "torch.FloatStorage cannot be called"},
	} {
		v, err := unpickle([]byte(c.pickle))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.pickle, err)
		case c.want == "":
			if _, ok := v.(pkGlobal); !ok {
				t.Errorf("%q: %#v", c.pickle, v)
			}
		case err == nil || !strings.Contains(err.Error(), c.want):
			t.Errorf("%q: error %v, want %q", c.pickle, err, c.want)
		}
	}
}
