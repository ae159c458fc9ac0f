package profiler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/profiler/backendtest"
)

// mkLayer builds a consistent layer from its counts: units and
// observations from the shape, the lists and figures by docs/usage.md's
// rules (dead: 0 fires; always on: fires = observations; rare: below
// rareBelow of the observations).
func mkLayer(name string, shape []int, axis int, counts, nans []uint64, rareBelow float64) profiler.LayerProfile {
	obs := uint64(1)
	for i, d := range shape {
		if i != axis {
			obs *= uint64(d)
		}
	}
	l := profiler.LayerProfile{Name: name, Source: name + ".npy", DType: "float32", Shape: shape, UnitAxis: axis,
		Units: shape[axis], Observations: obs, Counts: counts, NaNCounts: nans, Dead: []int{}, Rare: []int{}, AlwaysOn: []int{}}
	var sum float64
	for u, c := range counts {
		l.NaNTotal += nans[u]
		sum += float64(c) / float64(obs)
		switch {
		case c == 0:
			l.Dead = append(l.Dead, u)
		case c == obs:
			l.AlwaysOn = append(l.AlwaysOn, u)
		case float64(c) < rareBelow*float64(obs):
			l.Rare = append(l.Rare, u)
		}
	}
	l.MeanActivationProbability = sum / float64(len(counts))
	return l
}

func mkProfile(layers ...profiler.LayerProfile) *profiler.Profile {
	return &profiler.Profile{FormatVersion: 1, Tool: "actprof test", Backend: "cpu", RareBelow: 1e-3, Layers: layers}
}

// wide is a profile of one layer of n units over 4 observations, counts
// as random as a randn dataset's.
func wide(n int) *profiler.Profile {
	rng := rand.New(rand.NewPCG(1, 2))
	counts, nans := make([]uint64, n), make([]uint64, n)
	for u := range counts {
		counts[u] = uint64(rng.IntN(5))
	}
	return mkProfile(mkLayer("wide", []int{4, n}, 1, counts, nans, 1e-3))
}

// stdEncode is the encoding Profile.Encode must match byte for byte.
func stdEncode(t *testing.T, p *profiler.Profile) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestEncodeIsEncodingJSONsBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	data := backendtest.Gen(rng, profiler.Float32, 40*6*3, 0)
	fromRun, err := profiler.Run(context.Background(), []profiler.Layer{
		profiler.MemoryLayer("fc", profiler.Float32, []int{40, 18}, data),
		profiler.MemoryLayer("tok", profiler.Float32, []int{40, 6, 3}, data),
	}, profiler.Options{Backend: cpu.New(), Threshold: -0.125})
	if err != nil {
		t.Fatal(err)
	}
	odd := mkLayer("a<b>&\"c\\\n\x1b[31m\u2028\xff", []int{3, 2}, 1, []uint64{0, 3}, []uint64{3, 0}, 1e-3)
	odd.Source = ""
	odd.MeanActivationProbability = 1e-7 // the 'e' form encoding/json switches to
	big := mkLayer("big", []int{1, 2}, 0, []uint64{math.MaxUint64 >> 1, 1}, []uint64{0, 0}, 1e-3)
	big.Observations, big.NaNTotal = math.MaxUint64, math.MaxUint64
	nilLists := mkLayer("nil", []int{2, 1}, 1, []uint64{1}, []uint64{0}, 1e-3)
	nilLists.Dead, nilLists.Rare, nilLists.AlwaysOn, nilLists.Shape = nil, nil, nil, nil
	for i, p := range []*profiler.Profile{
		fromRun,
		mkProfile(odd, big, nilLists),
		{FormatVersion: 1, Threshold: 3e21, RareBelow: 0.5, Layers: []profiler.LayerProfile{}},
		{},
		wide(1000),
	} {
		var got bytes.Buffer
		if err := p.Encode(&got); err != nil {
			t.Fatal(err)
		}
		if want := stdEncode(t, p); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("profile %d: Encode differs from encoding/json:\n--- got\n%s\n--- want\n%s", i, got.Bytes(), want)
		}
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestEncodeDecodeMemory(t *testing.T) {
	const n = 1 << 20
	p := wide(n)
	var doc bytes.Buffer
	doc.Grow(32 << 20)
	var encErr error
	enc := allocated(func() { encErr = p.Encode(&doc) })
	if encErr != nil {
		t.Fatal(encErr)
	}
	// A buffer, not the document (24 MB here; 241 MB for 10M units).
	if enc > 1<<20 {
		t.Errorf("Encode of %d units (%d bytes) allocated %d bytes, want under 1 MiB", n, doc.Len(), enc)
	}
	var q *profiler.Profile
	var decErr error
	dec := allocated(func() { q, decErr = profiler.DecodeProfile(bytes.NewReader(doc.Bytes())) })
	if decErr != nil {
		t.Fatal(decErr)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatal("round trip differs")
	}
	// The arrays themselves: 8 bytes a unit for counts and for
	// nan_counts, 8 a listed unit, the lists read through a scratch of
	// the longest; not the document.
	l := q.Layers[0]
	listed := len(l.Dead) + len(l.Rare) + len(l.AlwaysOn)
	longest := max(len(l.Dead), len(l.Rare), len(l.AlwaysOn))
	want := uint64(16*n+8*listed+8*5*longest) + 1<<20
	if dec > want {
		t.Errorf("DecodeProfile of %d units allocated %d bytes, want at most %d", n, dec, want)
	}
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	// Valid documents in forms Encode does not write: compact, keys in
	// another case and order, unknown members, nulls, escapes, exponents.
	for _, doc := range []string{
		`{"format_version":1,"rare_below":0.001,"layers":[{"name":"a","dtype":"float16","shape":[2,3],"unit_axis":1,"units":3,"observations":2,"counts":[0,1,2],"nan_counts":[0,0,0],"dead":[0],"rare":[],"always_on":[2],"mean_activation_probability":0.5}]}`,
		"{\"Format_Version\": 1, \"extra\": {\"x\": [1, {\"y\": null}, \"s\\\"\", true, false, -1.5e-3]}, \"RARE_BELOW\": 1E-3,\n\t\"tool\": \"t\\u00e9\\ud83d\\ude00\\/\", \"backend\": null, \"threshold\": -0.0,\r\n" +
			`"layers": [{"counts": [5], "units": 1, "nan_counts": [0], "name": "\u001b", "observations": 5, "shape": [5, 1], "unit_axis": 1, "dtype": "float64",` +
			`"always_on": [0], "dead": [], "rare": [], "nan_total": 0, "mean_activation_probability": 1.0, "source": "s", "more": [[[]]]}]}  ` + "\n",
		`{"format_version": 1, "rare_below": 1, "layers": null}`,
		`{"format_version": 1, "rare_below": 1, "layers": []}`,
	} {
		var want profiler.Profile
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		got, err := profiler.DecodeProfile(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", doc, *got, want)
		}
	}
}

func TestEncodeReadByPython(t *testing.T) {
	py := requirePython(t)
	p := wide(10000)
	l := &p.Layers[0]
	l.NaNCounts[7], l.Counts[7] = 2, 1
	l.Name = "w\x1b\u00e9"
	p = mkProfile(mkLayer(l.Name, l.Shape, 1, l.Counts, l.NaNCounts, 1e-3))
	var doc bytes.Buffer
	if err := p.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", `import json, sys
p = json.load(sys.stdin)
l = p["layers"][0]
print(repr(l["name"]), l["units"], sum(l["counts"]), sum(l["nan_counts"]), l["nan_total"], len(l["dead"]), len(l["always_on"]), repr(l["mean_activation_probability"]))`)
	cmd.Stdin = &doc
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var sum uint64
	for _, c := range l.Counts {
		sum += c
	}
	q := p.Layers[0]
	want := fmt.Sprintf("'w\\x1bé' %d %d 2 2 %d %d %s\n", q.Units, sum, len(q.Dead), len(q.AlwaysOn), pyRepr(q.MeanActivationProbability))
	if string(out) != want {
		t.Errorf("python read %q, want %q", out, want)
	}
}

// pyRepr is Python's repr of a float (the shortest that reads back).
func pyRepr(f float64) string {
	s := fmt.Sprint(f)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

func TestDecodeRefusesInconsistentProfiles(t *testing.T) {
	good := mkProfile(
		mkLayer("fc", []int{10, 3}, 1, []uint64{0, 4, 10}, []uint64{2, 1, 0}, 1e-3),
		mkLayer("conv", []int{2, 2, 3, 1}, 1, []uint64{6, 0}, []uint64{0, 0}, 1e-3),
	)
	var doc bytes.Buffer
	if err := good.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := profiler.DecodeProfile(bytes.NewReader(doc.Bytes())); err != nil {
		t.Fatalf("good profile: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(p *profiler.Profile)
		want string
	}{
		{"duplicate name", func(p *profiler.Profile) { p.Layers[1].Name = "fc" }, `layer "fc" appears twice`},
		{"observations not the shape's", func(p *profiler.Profile) { p.Layers[0].Observations = 11 },
			`layer "fc": observations 11, but shape [10 3] gives 10`},
		{"observations of all axes but the unit axis", func(p *profiler.Profile) { p.Layers[1].Observations = 2 },
			`layer "conv": observations 2, but shape [2 2 3 1] gives 6`},
		{"shape[0] changed", func(p *profiler.Profile) { p.Layers[0].Shape[0] = 9 }, `observations 10, but shape [9 3] gives 9`},
		{"units not the shape's", func(p *profiler.Profile) { p.Layers[0].Shape[1] = 4 }, `units 3, but shape [10 4] has 4 on unit axis 1`},
		{"unit axis", func(p *profiler.Profile) { p.Layers[0].UnitAxis = 2 }, `unit_axis 2 out of range`},
		{"1-D", func(p *profiler.Profile) { p.Layers[0].Shape = []int{3} }, `shape [3] has fewer than 2 axes`},
		{"zero axis", func(p *profiler.Profile) { p.Layers[1].Shape[2] = 0 }, `has an axis of length 0`},
		{"shape overflows", func(p *profiler.Profile) {
			p.Layers[0].Shape[0] = 1 << 62
			p.Layers[0].Shape = append(p.Layers[0].Shape, 8)
		},
			`overflow 64 bits`},
		{"short counts", func(p *profiler.Profile) { p.Layers[0].Counts = p.Layers[0].Counts[:2] }, `2 counts for 3 units`},
		{"long nan_counts", func(p *profiler.Profile) { p.Layers[0].NaNCounts = append(p.Layers[0].NaNCounts, 0) }, `4 nan_counts for 3 units`},
		{"counts above observations", func(p *profiler.Profile) { p.Layers[0].Counts[2] = 11 }, `unit 2: counts 11 plus nan_counts 0 exceed observations 10`},
		{"counts and NaNs above observations", func(p *profiler.Profile) { p.Layers[0].NaNCounts[2] = 1 }, `unit 2: counts 10 plus nan_counts 1 exceed`},
		{"counts plus NaNs wrap", func(p *profiler.Profile) { p.Layers[0].Counts[1], p.Layers[0].NaNCounts[1] = math.MaxUint64, 2 },
			`unit 1: counts 18446744073709551615 plus nan_counts 2 exceed observations 10`},
		{"nan_total", func(p *profiler.Profile) { p.Layers[0].NaNTotal = 4 }, `nan_total 4, but nan_counts sum to 3`},
		{"dead lacks", func(p *profiler.Profile) { p.Layers[0].Dead = []int{} }, `dead lacks unit 0`},
		{"dead extra", func(p *profiler.Profile) { p.Layers[0].Dead = []int{0, 1} }, `dead lists unit 1`},
		{"always_on beyond units", func(p *profiler.Profile) { p.Layers[0].AlwaysOn = []int{2, 7} }, `always_on holds 7`},
		{"rare", func(p *profiler.Profile) { p.Layers[0].Rare = []int{1} }, `rare lists unit 1`},
		{"mean", func(p *profiler.Profile) { p.Layers[0].MeanActivationProbability = 0.9 }, `mean_activation_probability 0.9, but the counts give 0.4666`},
		{"dtype", func(p *profiler.Profile) { p.Layers[0].DType = "int8" }, `dtype "int8"`},
		{"rare_below", func(p *profiler.Profile) { p.RareBelow = 0 }, `rare_below 0 not in (0, 1]`},
		{"format_version", func(p *profiler.Profile) { p.FormatVersion = 2 }, `format_version 2`},
	} {
		var p profiler.Profile
		if err := json.Unmarshal(doc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		c.edit(&p)
		var b bytes.Buffer
		if err := p.Encode(&b); err != nil {
			t.Fatal(err)
		}
		_, err := profiler.DecodeProfile(&b)
		if !errors.Is(err, profiler.ErrFormat) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err %v, want one line with %q", c.name, err, c.want)
		}
	}
	// Documents that are not JSON profiles at all.
	s := doc.String()
	for _, c := range []struct{ doc, want string }{
		{s + "{}", `after the profile`},
		{s[:len(s)-3], `unexpected end of JSON input`},
		{strings.Replace(s, `"observations": 10`, `"observations": 18446744073709551616`, 1), `not an unsigned 64-bit integer`},
		{strings.Replace(s, `"observations": 10`, `"observations": 1e1`, 1), `not an unsigned 64-bit integer`},
		{strings.Replace(s, `"observations": 10`, `"observations": -10`, 1), `not an unsigned 64-bit integer`},
		{strings.Replace(s, `"observations": 10`, `"observations": 010`, 1), `bad number "010"`},
		{strings.Replace(s, `"units": 3`, `"units": "3"`, 1), `where a number was expected`},
		{strings.Replace(s, `"name": "fc"`, "\"name\": \"f\x01c\"", 1), `control byte 0x01`},
		{`[]`, `where the profile's object was expected`},
		{``, `unexpected end of JSON input`},
	} {
		_, err := profiler.DecodeProfile(strings.NewReader(c.doc))
		if !errors.Is(err, profiler.ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60q...: err %v, want %q", c.doc, err, c.want)
		}
	}
}

func TestMergeRefusesOverflow(t *testing.T) {
	// 2^64-1 = 5 * 3689348814741910323 observations, plus 400: the sum
	// wrapped to 399.
	a := mkProfile(mkLayer("fc", []int{3689348814741910323, 2, 5}, 1, []uint64{7, math.MaxUint64}, []uint64{0, 0}, 1e-3))
	b := mkProfile(mkLayer("fc", []int{80, 2, 5}, 1, []uint64{1, 400}, []uint64{0, 0}, 1e-3))
	m, err := profiler.Merge(a, b)
	if !errors.Is(err, profiler.ErrMerge) || err.Error() != `profiles do not merge: layer "fc": observations overflows 64 bits (18446744073709551615 + 400)` {
		t.Fatalf("merge gave %v; observations %v", err, m)
	}
	// NaNs on every observation of two units: each unit's count fits, the
	// layer's nan_total does not.
	half := uint64(1) << 63
	c := mkProfile(mkLayer("n", []int{1 << 62, 2, 2}, 1, []uint64{0, 0}, []uint64{half - 1, half - 1}, 1e-3))
	d := mkProfile(mkLayer("n", []int{1, 2, 2}, 1, []uint64{0, 0}, []uint64{2, 2}, 1e-3))
	if _, err := profiler.Merge(c, d); !errors.Is(err, profiler.ErrMerge) || !strings.Contains(err.Error(), `layer "n": nan_total overflows 64 bits`) {
		t.Fatalf("nan_total: %v", err)
	}
	// Rows past the largest int.
	e := mkProfile(mkLayer("r", []int{math.MaxInt - 1, 1, 1}, 1, []uint64{0}, []uint64{0}, 1e-3))
	f := mkProfile(mkLayer("r", []int{2, 1, 1}, 1, []uint64{0}, []uint64{0}, 1e-3))
	if _, err := profiler.Merge(e, f); !errors.Is(err, profiler.ErrMerge) || !strings.Contains(err.Error(), `layer "r": shape[0] overflows`) {
		t.Fatalf("shape[0]: %v", err)
	}
}

func TestMergeNeedsTheSameLayers(t *testing.T) {
	fc := func(rows int) profiler.LayerProfile {
		return mkLayer("fc", []int{rows, 2}, 1, []uint64{1, uint64(rows)}, []uint64{0, 0}, 1e-3)
	}
	conv := func(rows int) profiler.LayerProfile {
		return mkLayer("conv", []int{rows, 1, 2}, 1, []uint64{0}, []uint64{0}, 1e-3)
	}
	for _, c := range []struct {
		a, b *profiler.Profile
		want string
	}{
		{mkProfile(fc(3), conv(3)), mkProfile(fc(4)), `layer "conv" is missing from the second profile`},
		{mkProfile(fc(3)), mkProfile(conv(4), fc(4)), `layer "conv" is missing from the first profile`},
		{mkProfile(fc(3)), mkProfile(), `layer "fc" is missing from the second profile`},
		{mkProfile(fc(3), conv(3)), mkProfile(fc(4), fc(4)), `the second profile: layer "fc" appears twice`},
		{mkProfile(fc(3)), mkProfile(func() profiler.LayerProfile { l := fc(4); l.Counts = l.Counts[:1]; return l }()),
			`the second profile: layer "fc": 1 counts for 2 units`},
	} {
		_, err := profiler.Merge(c.a, c.b)
		if !errors.Is(err, profiler.ErrMerge) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err %v, want %q", err, c.want)
		}
	}
	// The same layers in another order merge, in the first's order.
	m, err := profiler.Merge(mkProfile(fc(3), conv(3)), mkProfile(conv(5), fc(4)))
	if err != nil {
		t.Fatal(err)
	}
	want := mkProfile(mkLayer("fc", []int{7, 2}, 1, []uint64{2, 7}, []uint64{0, 0}, 1e-3), conv(8))
	want.Tool = profiler.ToolVersion
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("merged\n%+v\nwant\n%+v", m, want)
	}
	var b bytes.Buffer
	if err := m.Encode(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := profiler.DecodeProfile(&b); err != nil {
		t.Fatalf("merged profile does not decode: %v", err)
	}
}

// FuzzDecodeProfile: DecodeProfile never panics, and a document it takes
// is one encoding/json reads as the same profile.
func FuzzDecodeProfile(f *testing.F) {
	var b bytes.Buffer
	mkProfile(mkLayer("fc", []int{10, 3}, 1, []uint64{0, 4, 10}, []uint64{2, 1, 0}, 1e-3)).Encode(&b)
	f.Add(b.String())
	f.Add(`{"format_version":1,"rare_below":1,"layers":[{"name":"a","dtype":"float16","shape":[2,1],"unit_axis":1,"units":1,"observations":2,"counts":[1],"nan_counts":[0],"dead":[],"rare":[],"always_on":[],"mean_activation_probability":0.5,"x":[{"y":null},true]}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := profiler.DecodeProfile(strings.NewReader(doc))
		if err != nil {
			if !errors.Is(err, profiler.ErrFormat) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q", err)
			}
			return
		}
		var want profiler.Profile
		if err := json.Unmarshal([]byte(doc), &want); err != nil {
			t.Fatalf("DecodeProfile took a document encoding/json refuses (%v)", err)
		}
		if !reflect.DeepEqual(*p, want) {
			t.Fatalf("DecodeProfile read\n%+v\nencoding/json\n%+v", *p, want)
		}
	})
}
