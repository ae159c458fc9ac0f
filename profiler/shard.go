package profiler

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
)

// Sharding: N independent runs of one input set, each over a part of every
// layer, whose partial profiles merge into the profile of a single run.
//
// A layer is split into whole outer rows of its [Outer, Units, Inner]
// geometry: an outer row holds Inner observations and is one contiguous
// run of the layer's bytes, so a shard reads its rows at an offset. The
// layers' bytes are laid end to end, in the run's order, and cut into N
// ranges of equal bytes (as equal as integers allow); each row goes to
// the shard whose range holds its first byte. Every row of every layer
// is thus in exactly one shard, each shard's bytes are within one row of
// the even share, and a layer may be split across shards. A shard whose
// range starts and ends inside one row (a layer of fewer rows than
// shards, or rows larger than the share) gets nothing of that layer.

// ShardSpec selects shard Index of Count.
type ShardSpec struct{ Index, Count int }

func (s ShardSpec) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Check tests that the shard is one of Count.
func (s ShardSpec) Check() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("%w: shard %d/%d: want I/N with 0 <= I < N", ErrBadOption, s.Index, s.Count)
	}
	return nil
}

// RowRange is the outer rows [First, First+Count) of a layer.
type RowRange struct{ First, Count int64 }

// ShardRows returns, per plan, the rows of the plans' layers that shard s
// covers (Count 0: none).
func ShardRows(plans []Plan, s ShardSpec) ([]RowRange, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	var total uint64
	for _, p := range plans {
		var cy uint64
		if total, cy = bits.Add64(total, uint64(p.Bytes()), 0); cy != 0 || total > 1<<63-1 {
			return nil, fmt.Errorf("%w: the layers hold more than 2^63 bytes: too large to shard", ErrBadOption)
		}
	}
	cut := func(i int) int64 { // the first byte of shard i's range: floor(i*total/N)
		hi, lo := bits.Mul64(uint64(i), total)
		q, _ := bits.Div64(hi, lo, uint64(s.Count)) // i <= N: the quotient fits
		return int64(q)
	}
	lo, hi := cut(s.Index), cut(s.Index+1)
	out := make([]RowRange, len(plans))
	var start int64 // the layer's first byte
	for i, p := range plans {
		rows, rowBytes := p.Geom.Outer, p.Bytes()/max(p.Geom.Outer, 1)
		// rows whose first byte start+r*rowBytes is at or after x
		from := func(x int64) int64 {
			if x <= start {
				return 0
			}
			return min(rows, (x-start+rowBytes-1)/rowBytes)
		}
		r0, r1 := from(lo), from(hi)
		out[i] = RowRange{First: r0, Count: r1 - r0}
		start += p.Bytes()
	}
	return out, nil
}

// ObsRange is the observations [First, First+Count) of a layer, in the
// numbering of the whole layer.
type ObsRange struct {
	First uint64 `json:"first"`
	Count uint64 `json:"count"`
}

// InputFile is one file of a run's input set, as a shard saw it.
type InputFile struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// Fingerprint identifies the file's content cheaply (see
	// input.Fingerprint); two files with the same size and fingerprint
	// are taken for the same data.
	Fingerprint string `json:"fingerprint"`
}

// ShardSettings are the run's options that change its results, beyond
// the profile's threshold, rare_below and stats: the unit axes and
// saturation ranges as given (by layer name, "" for every other layer).
type ShardSettings struct {
	UnitAxes map[string]int       `json:"unit_axes,omitempty"`
	Saturate map[string][]float64 `json:"saturate,omitempty"`
}

// ShardRecord says what part of which input set a partial profile holds:
// the shards of Count it covers (one for a shard's own profile, several
// for a merge of some), the run's layers in order (a layer of which the
// shards hold no rows is in Layers but not in the profile's layers), its
// input files, and its settings. Each of the profile's layers then lists
// the observation ranges it holds.
//
// A part of a distributed live run (Live.Part) has no input files: Run is
// the run's id, which its processes agreed on, and parts merge only with
// parts of the same run.
type ShardRecord struct {
	Count    int           `json:"count"`
	Shards   []int         `json:"shards"`
	Layers   []string      `json:"layers"`
	Inputs   []InputFile   `json:"inputs"`
	Run      string        `json:"run,omitempty"`
	Settings ShardSettings `json:"settings"`
}

// NewShardRecord is the shard record of a run of plans over shard
// opt.Shard of opt.Inputs.
func NewShardRecord(plans []Plan, opt *Options) *ShardRecord {
	sr := &ShardRecord{Count: opt.Shard.Count, Shards: []int{opt.Shard.Index},
		Inputs: slices.Clone(opt.Inputs), Settings: NewShardSettings(opt)}
	for _, p := range plans {
		sr.Layers = append(sr.Layers, p.Layer.Name)
	}
	return sr
}

// NewShardSettings records the options of a run that change its results
// beyond the profile's top-level fields.
func NewShardSettings(opt *Options) ShardSettings {
	var st ShardSettings
	if len(opt.UnitAxis) > 0 {
		st.UnitAxes = maps.Clone(opt.UnitAxis)
	}
	if opt.Stats != nil && len(opt.Stats.Saturate) > 0 {
		st.Saturate = map[string][]float64{}
		for k, r := range opt.Stats.Saturate {
			st.Saturate[k] = []float64{r.Lo, r.Hi}
		}
	}
	return st
}

// wholeObservations is the observations of the whole layer: its
// observations, or for a part of it the product of its shape's axes but
// the unit axis (check has tested the shape).
func (lp *LayerProfile) wholeObservations() uint64 {
	if lp.Ranges == nil {
		return lp.Observations
	}
	obs := uint64(1)
	for i, d := range lp.Shape {
		if i != lp.UnitAxis {
			obs *= uint64(d)
		}
	}
	return obs
}

// checkRanges tests a part's ranges: ascending, apart, within the layer,
// none empty, adding up to its observations.
func (lp *LayerProfile) checkRanges(whole uint64) error {
	if len(lp.Ranges) == 0 {
		return fmt.Errorf("layer %q: ranges is empty (a part lists the observations it holds)", lp.Name)
	}
	var sum, end uint64
	for i, r := range lp.Ranges {
		last, cy := bits.Add64(r.First, r.Count, 0)
		if r.Count == 0 || cy != 0 || last > whole || i > 0 && r.First <= end {
			return fmt.Errorf("layer %q: ranges: [%d, +%d) is empty, past the layer's %d observations or not after the range before it", lp.Name, r.First, r.Count, whole)
		}
		sum += r.Count
		end = last
	}
	if sum != lp.Observations {
		return fmt.Errorf("layer %q: observations %d, but its ranges hold %d", lp.Name, lp.Observations, sum)
	}
	return nil
}

// checkShard tests the shard record against the profile's layers.
func (p *Profile) checkShard() error {
	sr := p.Shard
	if sr == nil {
		for _, lp := range p.Layers {
			if lp.Ranges != nil {
				return fmt.Errorf("layer %q: ranges without the profile's shard record", lp.Name)
			}
		}
		return nil
	}
	if sr.Count < 1 || len(sr.Shards) == 0 {
		return fmt.Errorf("shard: count %d with shards %v", sr.Count, sr.Shards)
	}
	for i, s := range sr.Shards {
		if s < 0 || s >= sr.Count || i > 0 && s <= sr.Shards[i-1] {
			return fmt.Errorf("shard: shards %v: want ascending indices below count %d", sr.Shards, sr.Count)
		}
	}
	order := make(map[string]int, len(sr.Layers))
	for i, name := range sr.Layers {
		if _, dup := order[name]; dup {
			return fmt.Errorf("shard: layer %q is listed twice", name)
		}
		order[name] = i
	}
	last := -1
	for _, lp := range p.Layers {
		k, ok := order[lp.Name]
		if !ok || k <= last {
			return fmt.Errorf("layer %q: not in the shard record's layers, or out of their order", lp.Name)
		}
		last = k
		if lp.Ranges == nil {
			return fmt.Errorf("layer %q: a part without ranges", lp.Name)
		}
	}
	return nil
}

// sameSetting compares what two parts must share, or says how they differ.
func sameSettings(a, b *Profile) string {
	x, y := a.Shard, b.Shard
	switch {
	case a.Threshold != b.Threshold:
		return fmt.Sprintf("thresholds %g and %g", a.Threshold, b.Threshold)
	case a.RareBelow != b.RareBelow:
		return fmt.Sprintf("rare-below %g and %g", a.RareBelow, b.RareBelow)
	case (a.Stats == nil) != (b.Stats == nil) || a.Stats != nil && *a.Stats != *b.Stats:
		return fmt.Sprintf("value statistics %s and %s", a.Stats.describe(), b.Stats.describe())
	case !maps.Equal(x.Settings.UnitAxes, y.Settings.UnitAxes):
		return fmt.Sprintf("unit axes %s and %s", describeAxes(x.Settings.UnitAxes), describeAxes(y.Settings.UnitAxes))
	case !maps.EqualFunc(x.Settings.Saturate, y.Settings.Saturate, slices.Equal[[]float64]):
		return fmt.Sprintf("saturation ranges %v and %v", x.Settings.Saturate, y.Settings.Saturate)
	}
	return ""
}

// CompareShards says how two shard records of parts that are to merge
// differ (count, settings, input files, layers), or "": what a merge of
// pattern stores checks beyond their thresholds. The message starts with
// the kind of difference ("different settings: ...").
func CompareShards(x, y *ShardRecord) string {
	switch {
	case !maps.Equal(x.Settings.UnitAxes, y.Settings.UnitAxes):
		return fmt.Sprintf("different settings: unit axes %s and %s", describeAxes(x.Settings.UnitAxes), describeAxes(y.Settings.UnitAxes))
	case !maps.EqualFunc(x.Settings.Saturate, y.Settings.Saturate, slices.Equal[[]float64]):
		return fmt.Sprintf("different settings: saturation ranges %v and %v", x.Settings.Saturate, y.Settings.Saturate)
	case x.Count != y.Count:
		return fmt.Sprintf("parts of %d shards and of %d", x.Count, y.Count)
	}
	if msg := sameInputs(x, y); msg != "" {
		return "different input sets: " + msg
	}
	return ""
}

func describeAxes(m map[string]int) string {
	if len(m) == 0 {
		return "(defaults)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k == "" {
			parts = append(parts, fmt.Sprint(m[k]))
		} else {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	return strings.Join(parts, ",")
}

// sameInputs compares two parts' input sets by size and fingerprint, in
// order (paths may differ: the data may be mounted elsewhere on another
// machine), or says how they differ.
func sameInputs(x, y *ShardRecord) string {
	if x.Run != y.Run {
		run := func(r string) string {
			if r == "" {
				return "a run over files"
			}
			return "live run " + r
		}
		return fmt.Sprintf("%s and %s", run(x.Run), run(y.Run))
	}
	if len(x.Inputs) != len(y.Inputs) {
		return fmt.Sprintf("%d input files and %d", len(x.Inputs), len(y.Inputs))
	}
	for i, f := range x.Inputs {
		g := y.Inputs[i]
		if f.Size != g.Size || f.Fingerprint != g.Fingerprint {
			if f.Path == g.Path {
				return fmt.Sprintf("input %d, %s, was %d bytes with fingerprint %s and %d bytes with %s (the file changed between the runs?)",
					i+1, f.Path, f.Size, shortPrint(f.Fingerprint), g.Size, shortPrint(g.Fingerprint))
			}
			return fmt.Sprintf("input %d is %s (%d bytes, fingerprint %s) and %s (%d bytes, %s)", i+1, f.Path, f.Size, shortPrint(f.Fingerprint), g.Path, g.Size, shortPrint(g.Fingerprint))
		}
	}
	if !slices.Equal(x.Layers, y.Layers) {
		return fmt.Sprintf("layers %s and %s", strings.Join(x.Layers, ","), strings.Join(y.Layers, ","))
	}
	return ""
}

// shortPrint is enough of a fingerprint to tell two apart in a message.
func shortPrint(fp string) string {
	if len(fp) > 19 {
		return fp[:19] + "..."
	}
	return fp
}

// mergeParts merges two parts of one sharded run: the union of their
// shards and, layer by layer, of their observation ranges. When the
// union covers every shard, the result is the profile of the whole run,
// with no shard record and no ranges.
func mergeParts(a, b *Profile) (*Profile, error) {
	if a.Shard == nil || b.Shard == nil {
		return nil, fmt.Errorf("%w: a part of a sharded run (--shard) and a profile of a whole run", ErrMerge)
	}
	x, y := a.Shard, b.Shard
	if msg := sameSettings(a, b); msg != "" {
		return nil, fmt.Errorf("%w: different settings: %s", ErrMerge, msg)
	}
	if x.Count != y.Count {
		return nil, fmt.Errorf("%w: parts of %d shards and of %d", ErrMerge, x.Count, y.Count)
	}
	if msg := sameInputs(x, y); msg != "" {
		return nil, fmt.Errorf("%w: different input sets: %s", ErrMerge, msg)
	}
	for _, s := range x.Shards {
		if slices.Contains(y.Shards, s) {
			return nil, fmt.Errorf("%w: overlapping shards: both hold shard %d of %d", ErrMerge, s, x.Count)
		}
	}
	for _, s := range []struct {
		p    *Profile
		side string
	}{{a, "first"}, {b, "second"}} {
		if err := s.p.check(false); err != nil {
			return nil, fmt.Errorf("%w: the %s profile: %v", ErrMerge, s.side, err)
		}
	}
	out := &Profile{FormatVersion: FormatVersion, Tool: ToolVersion, Backend: a.Backend,
		Threshold: a.Threshold, RareBelow: a.RareBelow}
	if b.Backend != a.Backend {
		out.Backend = a.Backend + "+" + b.Backend
	}
	if a.Stats != nil {
		sp := *a.Stats
		out.Stats = &sp
	}
	sr := *x
	sr.Shards = slices.Sorted(slices.Values(append(slices.Clone(x.Shards), y.Shards...)))
	out.Shard = &sr
	la, lb := layerIndex(a.Layers), layerIndex(b.Layers)
	for _, name := range x.Layers {
		i, inA := la[name]
		j, inB := lb[name]
		switch {
		case inA && inB:
			m, err := mergePartLayer(&a.Layers[i], &b.Layers[j], out)
			if err != nil {
				return nil, err
			}
			out.Layers = append(out.Layers, m)
		case inA:
			out.Layers = append(out.Layers, a.Layers[i])
		case inB:
			out.Layers = append(out.Layers, b.Layers[j])
		}
	}
	if len(sr.Shards) == sr.Count {
		return completeParts(out)
	}
	return out, nil
}

func layerIndex(ls []LayerProfile) map[string]int {
	m := make(map[string]int, len(ls))
	for i, l := range ls {
		m[l.Name] = i
	}
	return m
}

// mergePartLayer merges two parts of one layer: disjoint observation
// ranges of the same whole layer.
func mergePartLayer(a, b *LayerProfile, out *Profile) (LayerProfile, error) {
	if a.Units != b.Units || a.UnitAxis != b.UnitAxis || a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) {
		return LayerProfile{}, fmt.Errorf("%w: different input sets: layer %q is %v %s (unit axis %d) and %v %s (unit axis %d)",
			ErrMerge, a.Name, a.Shape, a.DType, a.UnitAxis, b.Shape, b.DType, b.UnitAxis)
	}
	ranges, err := unionRanges(a.Ranges, b.Ranges)
	if err != nil {
		return LayerProfile{}, fmt.Errorf("%w: overlapping shards: layer %q: %v", ErrMerge, a.Name, err)
	}
	m := *a
	m.Shape = slices.Clone(a.Shape)
	if a.Source != b.Source {
		m.Source = ""
	}
	m.Ranges = ranges
	m.Observations = a.Observations + b.Observations // both within the layer, disjoint
	m.Counts, m.NaNCounts = make([]uint64, a.Units), make([]uint64, a.Units)
	for u := range m.Counts {
		m.Counts[u] = a.Counts[u] + b.Counts[u]
		m.NaNCounts[u] = a.NaNCounts[u] + b.NaNCounts[u]
	}
	if err := m.classify(out.RareBelow); err != nil {
		return LayerProfile{}, fmt.Errorf("%w: %v", ErrMerge, err)
	}
	if err := mergeStats(a.Name, a, b, &m, 0); err != nil {
		return LayerProfile{}, err
	}
	m.classifyStats(out.Stats)
	return m, nil
}

// unionRanges returns the union of two lists of ascending, apart ranges,
// adjacent ones joined, or an error naming an observation in both.
func unionRanges(a, b []ObsRange) ([]ObsRange, error) {
	all := append(slices.Clone(a), b...)
	slices.SortFunc(all, func(p, q ObsRange) int {
		switch {
		case p.First < q.First:
			return -1
		case p.First > q.First:
			return 1
		}
		return 0
	})
	var out []ObsRange
	for _, r := range all {
		if n := len(out); n > 0 {
			last := &out[n-1]
			end := last.First + last.Count
			if r.First < end {
				return nil, fmt.Errorf("observation %d is in both", r.First)
			}
			if r.First == end {
				last.Count += r.Count
				continue
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// completeParts turns the merge of every shard into the profile of the
// whole run: every layer whole, in the run's order, and no shard record.
func completeParts(p *Profile) (*Profile, error) {
	sr := p.Shard
	idx := layerIndex(p.Layers)
	out := make([]LayerProfile, 0, len(sr.Layers))
	for _, name := range sr.Layers {
		i, ok := idx[name]
		if !ok {
			return nil, fmt.Errorf("%w: every shard is merged, but no part holds layer %q", ErrMerge, name)
		}
		lp := p.Layers[i]
		whole := lp.wholeObservations()
		if len(lp.Ranges) != 1 || lp.Ranges[0].First != 0 || lp.Ranges[0].Count != whole {
			return nil, fmt.Errorf("%w: every shard is merged, but layer %q holds observations %s of %d", ErrMerge, name, describeRanges(lp.Ranges), whole)
		}
		lp.Ranges = nil
		out = append(out, lp)
	}
	p.Layers = out
	p.Shard = nil
	return p, nil
}

func describeRanges(rs []ObsRange) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("[%d, %d)", r.First, r.First+r.Count))
	}
	return strings.Join(parts, " ")
}

// CompleteShards returns the profile of the whole run for a part that
// covers every shard (a run with --shard 0/1, or a merge of all parts),
// and p as it is otherwise.
func CompleteShards(p *Profile) (*Profile, error) {
	if p.Shard == nil || len(p.Shard.Shards) != p.Shard.Count {
		return p, nil
	}
	q := *p
	sr := *p.Shard
	q.Shard = &sr
	q.Layers = slices.Clone(p.Layers)
	return completeParts(&q)
}

// MissingShards lists the shards a part's merge lacks (nil for a whole
// profile).
func (p *Profile) MissingShards() []int {
	if p.Shard == nil {
		return nil
	}
	var miss []int
	for i := range p.Shard.Count {
		if !slices.Contains(p.Shard.Shards, i) {
			miss = append(miss, i)
		}
	}
	return miss
}
