package report

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

// profileOf profiles rows x units of float32 values where unit u fires
// with probability rates[u].
func profileOf(t *testing.T, name string, rows int, rates []float64, seed uint64) *profiler.Profile {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var b []byte
	for r := 0; r < rows; r++ {
		for _, p := range rates {
			v := float32(-1)
			if rng.Float64() < p {
				v = 1
			}
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	p, err := profiler.Run(context.Background(), []profiler.Layer{profiler.MemoryLayer(name, profiler.Float32, []int{rows, len(rates)}, b)},
		profiler.Options{Backend: cpu.New()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// statsProfile profiles vals ([rows][units] float64) with value
// statistics, saturation range sat (nil: none).
func statsProfile(t *testing.T, name string, vals [][]float64, sat *profiler.Range) *profiler.Profile {
	t.Helper()
	var b []byte
	for _, row := range vals {
		for _, v := range row {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	so := profiler.DefaultStats()
	if sat != nil {
		so.Saturate = map[string]profiler.Range{name: *sat}
	}
	p, err := profiler.Run(context.Background(), []profiler.Layer{profiler.MemoryLayer(name, profiler.Float64, []int{len(vals), len(vals[0])}, b)},
		profiler.Options{Backend: cpu.New(), Stats: so})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// planted is a [rows][5] layer: unit 0 constant 2 (always on, constant),
// unit 1 tiny values (dormant), unit 2 alternating -3, 3 (saturated in
// [-1, 1]), unit 3 always 0 (dead, constant, dormant), unit 4 i/rows.
func planted(rows int) [][]float64 {
	out := make([][]float64, rows)
	for i := range out {
		out[i] = []float64{2, 1e-6 * float64(i%2), 3 * float64(1-2*(i%2)), 0, float64(i) / float64(rows)}
	}
	return out
}

func TestCheckStatsRules(t *testing.T) {
	p := statsProfile(t, "tanh1", planted(100), &profiler.Range{Lo: -1, Hi: 1})
	rules := func(vs ...string) []Rule {
		var out []Rule
		for i := 0; i < len(vs); i += 2 {
			m := map[string]Metric{"dormant": MaxDormantFrac, "saturated": MaxSaturatedFrac, "constant": MaxConstantFrac}[vs[i]]
			r, err := ParseRule(m, vs[i+1])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	// dormant {1, 3}, saturated {0, 2} (2 >= 1 too), constant {0, 3}: 2 of 5 each
	s := p.Layers[0].Stats
	if !slices.Equal(s.Dormant, []int{1, 3}) || !slices.Equal(s.Saturated, []int{0, 2}) || !slices.Equal(s.Constant, []int{0, 3}) {
		t.Fatalf("planted classes: dormant %v saturated %v constant %v", s.Dormant, s.Saturated, s.Constant)
	}
	vs, checked, err := Check(p, nil, rules("dormant", "0.4", "saturated", "0.3", "constant", "tanh*=0.1"), nil)
	if err != nil || checked != 3 || !slices.Equal(vs, []Violation{{"tanh1", "max-saturated-frac", 0.4, 0.3}, {"tanh1", "max-constant-frac", 0.4, 0.1}}) {
		t.Fatalf("%d checked, %+v, %v", checked, vs, err)
	}
	// a profile without statistics, or a layer without a range, is an error
	plain := profileOf(t, "fc", 100, []float64{0.5}, 3)
	if _, _, err := Check(plain, nil, rules("dormant", "0.1"), nil); err == nil || !strings.Contains(err.Error(), "no value statistics") {
		t.Errorf("dormant rule on a profile without stats: %v", err)
	}
	q := statsProfile(t, "relu1", planted(10), nil)
	if _, _, err := Check(q, nil, rules("saturated", "0.1"), nil); err == nil || !strings.Contains(err.Error(), "no saturation counts") {
		t.Errorf("saturated rule on a layer without a range: %v", err)
	}
	// diff: units that became dormant (and still fire)
	old := statsProfile(t, "tanh1", planted(100), &profiler.Range{Lo: -1, Hi: 1})
	vals := planted(100)
	for i := range vals {
		vals[i][4] *= 1e-6 // unit 4 now fires tiny: dormant
	}
	cur := statsProfile(t, "tanh1", vals, &profiler.Range{Lo: -1, Hi: 1})
	d, err := DiffProfiles(old, cur, 10)
	if err != nil || !slices.Equal(d.Layers[0].BecameDormant, []int{4}) {
		t.Fatalf("became dormant: %+v %v", d, err)
	}
}

func TestCheckRules(t *testing.T) {
	rates := []float64{0, 0, 0.5, 1, 0.0005, 0.3, 0, 0.2, 0.9, 0.05}
	p := profileOf(t, "enc.fc1", 4000, rates, 1)
	q := profileOf(t, "dec.fc1", 4000, []float64{0.5, 0.5, 0.5, 0.5}, 2)
	p.Layers = append(p.Layers, q.Layers...)
	l := p.Layers[0]
	deadFrac := float64(len(l.Dead)) / 10 // the profile's dead list, checked next
	var naiveDead []int
	for u, c := range l.Counts {
		if c == 0 {
			naiveDead = append(naiveDead, u)
		}
	}
	if !slices.Equal(naiveDead, []int{0, 1, 6}) || !slices.Equal(l.Dead, naiveDead) {
		t.Fatalf("dead %v, naive %v", l.Dead, naiveDead)
	}
	mustRule := func(m Metric, v string) Rule {
		r, err := ParseRule(m, v)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	rules := []Rule{mustRule(MaxDeadFrac, "0.25"), mustRule(MaxDead, "dec.*=0"), mustRule(MinActivationProbability, "enc.*=0.4"),
		mustRule(MaxRareFrac, "0.5")}
	vs, checked, err := Check(p, nil, rules, nil)
	if err != nil {
		t.Fatal(err)
	}
	if checked != 2+1+1+2 {
		t.Fatalf("checked %d", checked)
	}
	want := []Violation{{"enc.fc1", "max-dead-frac", deadFrac, 0.25}, {"enc.fc1", "min-activation-probability", l.MeanActivationProbability, 0.4}}
	if !slices.Equal(vs, want) {
		t.Fatalf("violations %+v, want %+v", vs, want)
	}
	if got := vs[0].String(); got != "layer enc.fc1: max-dead-frac 0.3 > 0.25" {
		t.Fatalf("line %q", got)
	}
	// against a baseline in which units 1 and 6 fired
	base := profileOf(t, "enc.fc1", 4000, []float64{0, 0.5, 0.5, 1, 0.5, 0.3, 0.5, 0.2, 0.9, 0.05}, 3)
	base.Layers = append(base.Layers, q.Layers...)
	vs, _, err = Check(p, base, []Rule{mustRule(MaxNewDead, "1")}, nil)
	if err != nil || len(vs) != 1 || vs[0].Value != 2 || vs[0].Layer != "enc.fc1" {
		t.Fatalf("new dead: %+v %v", vs, err)
	}
	for _, c := range []struct {
		m    Metric
		v    string
		want string
	}{{MaxDeadFrac, "1.5", "in [0, 1]"}, {MaxDead, "2.5", "whole number"}, {MaxDead, "x", "want LIMIT"}, {MaxDead, "[=3", "bad layer pattern"},
		{MaxDeadFrac, "NaN", "want LIMIT"}, {MaxDead, "=3", "empty layer pattern"}} {
		if _, err := ParseRule(c.m, c.v); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: %v", c.m.Flag(), c.v, err)
		}
	}
	if _, _, err := Check(p, nil, []Rule{mustRule(MaxDead, "fc9*=1")}, nil); err == nil || !strings.Contains(err.Error(), "matches no layer") {
		t.Errorf("unmatched pattern: %v", err)
	}
	if _, _, err := Check(p, nil, []Rule{mustRule(MaxNewDead, "0")}, nil); err == nil {
		t.Error("--max-new-dead without a baseline")
	}
	// --layer selects the layers checked; a rule's pattern narrows it:
	// dec.fc1 alone has no dead unit, enc.fc1 alone three
	vs, checked, err = Check(p, nil, []Rule{mustRule(MaxDead, "0")}, []string{"dec.*"})
	if err != nil || checked != 1 || len(vs) != 0 {
		t.Fatalf("--layer dec.*: %d checked, %+v, %v", checked, vs, err)
	}
	vs, checked, err = Check(p, nil, []Rule{mustRule(MaxDead, "0"), mustRule(MaxDeadFrac, "enc.*=0.1")}, []string{"dec.*", "enc.*"})
	if err != nil || checked != 3 || !slices.Equal(vs, []Violation{{"enc.fc1", "max-dead", 3, 0}, {"enc.fc1", "max-dead-frac", deadFrac, 0.1}}) {
		t.Fatalf("--layer dec.* --layer enc.*: %d checked, %+v, %v", checked, vs, err)
	}
	if _, _, err := Check(p, nil, []Rule{mustRule(MaxDead, "enc.*=0")}, []string{"dec.*"}); err == nil || !strings.Contains(err.Error(), "matches no layer selected by --layer") {
		t.Errorf("rule outside the selection: %v", err)
	}
	if _, _, err := Check(p, nil, []Rule{mustRule(MaxDead, "0")}, []string{"mid.*"}); err == nil || err.Error() != "--layer mid.*: the pattern matches no layer" {
		t.Errorf("unmatched --layer: %v", err)
	}
	if _, _, err := Check(p, nil, []Rule{mustRule(MaxDead, "0")}, []string{"[x"}); err == nil || !strings.Contains(err.Error(), "bad layer pattern") {
		t.Errorf("bad --layer: %v", err)
	}
}

func TestDiff(t *testing.T) {
	old := profileOf(t, "fc", 5000, []float64{0.5, 0, 0.3, 0.5, 0.1, 0.004, 0.2, 0.5}, 4)
	cur := profileOf(t, "fc", 3000, []float64{0, 0.4, 0.3, 0.02, 0.5, 0.5, 0.0005, 0.5}, 5)
	d, err := DiffProfiles(old, cur, 10)
	if err != nil {
		t.Fatal(err)
	}
	o, n := old.Layers[0], cur.Layers[0]
	// naive reference from the counts
	var died, revived, rose, fell []int
	for u := range n.Counts {
		co, cn := o.Counts[u], n.Counts[u]
		ro, rn := float64(co)/5000, float64(cn)/3000
		switch {
		case co > 0 && cn == 0:
			died = append(died, u)
		case co == 0 && cn > 0:
			revived = append(revived, u)
		case co > 0 && rn/ro >= 10:
			rose = append(rose, u)
		case cn > 0 && ro/rn >= 10:
			fell = append(fell, u)
		}
	}
	l := d.Layers[0]
	if !slices.Equal(l.Died, died) || !slices.Equal(l.Revived, revived) || !slices.Equal(changed(l.Rose), rose) || !slices.Equal(changed(l.Fell), fell) {
		t.Fatalf("diff %+v; naive died %v revived %v rose %v fell %v", l, died, revived, rose, fell)
	}
	if !slices.Equal(died, []int{0}) || !slices.Equal(revived, []int{1}) || !slices.Equal(fell, []int{3, 6}) || !slices.Equal(rose, []int{5}) {
		t.Fatalf("the data should give died [0] revived [1] fell [3 6] rose [5]: %v %v %v %v", died, revived, fell, rose)
	}
	var b bytes.Buffer
	if err := WriteDiff(&b, d); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff.golden", b.Bytes())
	js, _ := json.MarshalIndent(d, "", "  ")
	golden(t, "diff.json.golden", append(js, '\n'))
	// shapes that differ, thresholds that differ
	other := profileOf(t, "fc", 100, []float64{0.5, 0.5}, 6)
	if _, err := DiffProfiles(old, other, 10); err == nil || !strings.Contains(err.Error(), "layer fc: shape") {
		t.Errorf("different units: %v", err)
	}
	cur.Threshold = 0.5
	if _, err := DiffProfiles(old, cur, 10); err == nil || !strings.Contains(err.Error(), "thresholds") {
		t.Errorf("different thresholds: %v", err)
	}
}

func TestCSVGolden(t *testing.T) {
	p := profileOf(t, "fc,1", 2000, []float64{0, 0.0004, 1, 0.25}, 8)
	vals := planted(8)
	sp := statsProfile(t, "tanh", vals, &profiler.Range{Lo: -1, Hi: 1})
	var b2 bytes.Buffer
	if err := WriteCSV(&b2, sp); err != nil {
		t.Fatal(err)
	}
	golden(t, "units-stats.csv.golden", b2.Bytes())
	// the statistics columns against the planted values
	recs, err := csv.NewReader(&b2).ReadAll()
	if err != nil || len(recs) != 6 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for u, rec := range recs[1:] {
		var sum, sumAbs float64
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, row := range vals {
			sum, sumAbs, lo, hi = sum+row[u], sumAbs+math.Abs(row[u]), min(lo, row[u]), max(hi, row[u])
		}
		for k, want := range []float64{sum / 8, sumAbs / 8, lo, hi} {
			if got, err := strconv.ParseFloat(rec[6+k], 64); err != nil || math.Abs(got-want) > 1e-15*math.Abs(want) {
				t.Errorf("unit %d %s: %s, want %g", u, recs[0][6+k], rec[6+k], want)
			}
		}
	}
	if recs[4][10] != "dead constant dormant" || recs[1][10] != "always-on constant saturated" {
		t.Errorf("flags: %q, %q", recs[4][10], recs[1][10])
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, p); err != nil {
		t.Fatal(err)
	}
	golden(t, "units.csv.golden", b.Bytes())
	// every row's rate is its count over the observations
	rows := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(rows) != 5 || rows[0] != "layer,unit,count,observations,rate,nan_count,mean,mean_abs,min,max,flags" || !strings.HasPrefix(rows[1], `"fc,1",0,0,2000,0,0,,,,,dead`) {
		t.Fatalf("csv:\n%s", b.String())
	}
}

// The table and the JSON profile of a profile with value statistics, as
// golden files (go test ./report -update to accept a change).
func TestStatsTableAndJSONGolden(t *testing.T) {
	p := statsProfile(t, "tanh", planted(8), &profiler.Range{Lo: -1, Hi: 1})
	p.Tool, p.Backend = "actprof test", "cpu" // whatever the machine's vector support
	var tb, js bytes.Buffer
	if err := WriteTable(&tb, p); err != nil {
		t.Fatal(err)
	}
	golden(t, "table-stats.golden", tb.Bytes())
	if err := p.Encode(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "profile-stats.json.golden", js.Bytes())
	// the table's columns against the profile's lists
	s := p.Layers[0].Stats
	line := strings.Split(tb.String(), "\n")[3]
	for _, want := range []string{withPct(len(s.Dormant), 5), withPct(len(s.Constant), 5), withPct(len(s.Saturated), 5)} {
		if !strings.Contains(line, want) {
			t.Errorf("table row %q lacks %q", line, want)
		}
	}
}
