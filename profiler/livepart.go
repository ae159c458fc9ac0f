package profiler

import (
	"fmt"
	"maps"
	"slices"
)

// Distributed live runs: P processes (ranks) profile batches of their own
// and each writes its part, recorded as shard rank of P, which Merge
// combines into the profile of one process that ran every rank's batches,
// rank 0's first, then rank 1's, and so on: a layer's observations are
// numbered in that order (first and last fired included). A part holds,
// per layer, the one range of those observations that are its rank's.
//
// At the end of the run each rank tells the others its layers
// (LayerInfos, exchanged by the caller's collective), and each makes its
// part from all of them (Part): the whole layer's shape is what one
// process over all the batches would give, so every part has the same.
// The parts record no input files: they share the run's id (Run), agreed
// by the ranks, and its settings, which Merge checks.

// LiveLayerInfo is what a rank tells the others of one of its layers.
type LiveLayerInfo struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	// Shape is the layer's first batch's; Rows its outer extent so far
	// (axis 0, or every axis before a last unit axis); Varied: its middle
	// axes varied between batches.
	Shape  []int `json:"shape"`
	Rows   int64 `json:"rows"`
	Varied bool  `json:"varied"`
}

// LayerInfos returns the live profile's layers, in name order.
func (lv *Live) LayerInfos() ([]LiveLayerInfo, error) {
	if err := lv.q.drain(); err != nil {
		return nil, err
	}
	var out []LiveLayerInfo
	for _, l := range lv.sorted() {
		l.mu.Lock()
		out = append(out, LiveLayerInfo{Name: l.name, DType: l.dtype.String(), Shape: slices.Clone(l.shape), Rows: l.rows, Varied: l.varied})
		err := l.err
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Part returns the profile of this process's batches as part rank of the
// distributed live run run, whose ranks' layers are infos (infos[r] is
// rank r's LayerInfos; infos[rank] must be this profile's).
func (lv *Live) Part(rank int, run string, infos [][]LiveLayerInfo) (*Profile, error) {
	count := len(infos)
	if err := (ShardSpec{Index: rank, Count: count}).Check(); err != nil {
		return nil, err
	}
	if run == "" {
		return nil, fmt.Errorf("%w: a distributed live run needs a run id", ErrBadOption)
	}
	mine, err := lv.LayerInfos()
	if err != nil {
		return nil, err
	}
	byName, names := indexInfos(infos)
	if len(mine) != len(infos[rank]) {
		return nil, fmt.Errorf("%w: rank %d's layers are not this profile's", ErrBadOption, rank)
	}
	for _, l := range mine {
		if o, ok := byName[rank][l.Name]; !ok || o.Rows != l.Rows {
			return nil, fmt.Errorf("%w: rank %d's layers are not this profile's", ErrBadOption, rank)
		}
	}
	p, err := lv.Profile()
	if err != nil {
		return nil, err
	}
	own := layerIndex(p.Layers)
	sr := &ShardRecord{Count: count, Shards: []int{rank}, Layers: slices.Sorted(maps.Keys(names)), Run: run,
		Settings: NewShardSettings(&Options{UnitAxis: lv.opt.UnitAxis, Stats: lv.opt.Stats})}
	p.Shard = sr
	var layers []LayerProfile
	for _, name := range sr.Layers {
		shape, axis, offset, err := lv.wholeLayer(name, rank, byName)
		if err != nil {
			return nil, err
		}
		i, ok := own[name]
		if !ok {
			continue // no batch of it here
		}
		lp := p.Layers[i]
		lp.Shape, lp.UnitAxis = shape, axis
		lp.Ranges = []ObsRange{{First: offset, Count: lp.Observations}}
		_ = lp.classify(lv.opt.RareBelow)
		if s := lp.Stats; s != nil {
			for u := range s.FirstFired {
				if s.FirstFired[u] >= 0 {
					s.FirstFired[u] += int64(offset)
					s.LastFired[u] += int64(offset)
				}
			}
			lp.classifyStats(p.Stats)
		}
		layers = append(layers, lp)
	}
	p.Layers = layers
	return p, nil
}

// PartPlans returns, for a pattern store of part rank of the distributed
// live run whose ranks' layers are infos (as for Part), the plans of the
// run's layers over every rank's batches, in the run's layer order (its
// ShardRecord's), and the rows of each that are this rank's batches (none
// where it has no batch of the layer): store.NewPartHeader's arguments.
func (lv *Live) PartPlans(rank int, infos [][]LiveLayerInfo) ([]Plan, []RowRange, error) {
	if err := (ShardSpec{Index: rank, Count: len(infos)}).Check(); err != nil {
		return nil, nil, err
	}
	byName, names := indexInfos(infos)
	var plans []Plan
	var rows []RowRange
	for _, name := range slices.Sorted(maps.Keys(names)) {
		shape, axis, offset, err := lv.wholeLayer(name, rank, byName)
		if err != nil {
			return nil, nil, err
		}
		g, err := NewGeometry(shape, axis)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: layer %s: %v", ErrShape, name, err)
		}
		var dt DType
		for r := range byName {
			if l, ok := byName[r][name]; ok {
				dt = ParseDType(l.DType)
				break
			}
		}
		plans = append(plans, Plan{Layer: Layer{Name: name, DType: dt, Shape: shape}, Geom: g})
		rr := RowRange{First: int64(offset) / max(g.Inner, 1)}
		if l, ok := byName[rank][name]; ok {
			rr.Count = l.Rows
		}
		rows = append(rows, rr)
	}
	return plans, rows, nil
}

// WritePartPatterns hands sink the fired bits of this rank's batches as
// a shard's run over the layers names (the run's, PartPlans' order) does:
// a layer of which the rank has no batch is begun and ended with no Write.
func (lv *Live) WritePartPatterns(sink PatternSink, names []string) error {
	if !lv.opt.Patterns {
		return fmt.Errorf("%w: the live profile keeps no patterns", ErrBadOption)
	}
	if err := lv.q.drain(); err != nil {
		return err
	}
	own := map[string]*liveLayer{}
	for _, l := range lv.sorted() {
		own[l.name] = l
	}
	for i, name := range names {
		if l, ok := own[name]; ok {
			if err := l.writePatterns(i, sink); err != nil {
				return err
			}
			delete(own, name)
			continue
		}
		if err := sink.BeginLayer(i, Plan{Layer: Layer{Name: name}}); err != nil {
			return err
		}
		if err := sink.EndLayer(i); err != nil {
			return err
		}
	}
	for name := range own {
		return fmt.Errorf("%w: layer %s is not one of the run's", ErrBadOption, name)
	}
	return nil
}

// indexInfos indexes every rank's layers by name (byName[r]), and gives
// the set of the run's layer names.
func indexInfos(infos [][]LiveLayerInfo) (byName []map[string]LiveLayerInfo, names map[string]bool) {
	byName = make([]map[string]LiveLayerInfo, len(infos))
	names = map[string]bool{}
	for r, ls := range infos {
		byName[r] = map[string]LiveLayerInfo{}
		for _, l := range ls {
			byName[r][l.Name] = l
			names[l.Name] = true
		}
	}
	return byName, names
}

// wholeLayer returns the shape and unit axis of layer name over every
// rank's batches, and the first observation of rank's.
func (lv *Live) wholeLayer(name string, rank int, byName []map[string]LiveLayerInfo) (shape []int, axis int, offset uint64, err error) {
	var first *LiveLayerInfo // the first rank's with batches of it
	var rows int64
	varied := false
	for r := range byName {
		l, ok := byName[r][name]
		if !ok {
			continue
		}
		dt := ParseDType(l.DType)
		g, err := NewGeometry(l.Shape, lv.unitAxis(name, len(l.Shape)))
		if err != nil || !dt.Valid() {
			return nil, 0, 0, fmt.Errorf("%w: layer %s: rank %d's batches are %s %v", ErrShape, name, r, l.DType, l.Shape)
		}
		if first == nil {
			first = &l
		} else {
			f := *first
			ok := f.DType == l.DType && len(f.Shape) == len(l.Shape)
			if ok {
				ff, lf := f.Shape[1:], l.Shape[1:]
				if g.UnitAxis == len(l.Shape)-1 {
					ff, lf = f.Shape[g.UnitAxis:], l.Shape[g.UnitAxis:]
				}
				ok = slices.Equal(ff, lf)
			}
			if !ok {
				return nil, 0, 0, fmt.Errorf("%w: layer %s: rank %d's batches are %s %v, an earlier rank's %s %v: only axis 0 and the axes before a last unit axis may vary",
					ErrShape, name, r, l.DType, l.Shape, f.DType, f.Shape)
			}
			if !slices.Equal(f.Shape[1:], l.Shape[1:]) {
				varied = true
			}
		}
		varied = varied || l.Varied
		if r < rank {
			offset += uint64(l.Rows * g.Inner)
		}
		rows += l.Rows
		axis = g.UnitAxis
		shape = l.Shape
		if rows < 0 || rows > 1<<62/g.Units/g.Inner {
			return nil, 0, 0, fmt.Errorf("%w: layer %s too large", ErrShape, name)
		}
	}
	shape = slices.Clone(first.Shape)
	axis = lv.unitAxis(name, len(shape))
	if varied {
		return []int{int(rows), shape[len(shape)-1]}, 1, offset, nil
	}
	shape[0] = int(rows / outerPerRow(shape, axis))
	return shape, axis, offset, nil
}

// unitAxis is the (non-negative) unit axis of an n-D layer name.
func (lv *Live) unitAxis(name string, n int) int {
	axis, ok := lv.opt.UnitAxis[name]
	if !ok {
		axis, ok = lv.opt.UnitAxis[""]
	}
	if !ok {
		axis = DefaultUnitAxis(n)
	}
	if axis < 0 {
		axis += n
	}
	return axis
}
