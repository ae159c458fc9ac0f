package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/actprof/actprof/input"
	"github.com/actprof/actprof/internal/atomicfile"
	"github.com/actprof/actprof/profiler"
	"github.com/actprof/actprof/store"
)

// Checkpoints. A run with -o is counted in segments: shards of the run's
// own shard (of the whole input without --shard), each of about
// segmentBytes, in order. Completed segments merge into a partial profile,
// which is written atomically to OUT.ckpt whenever --checkpoint-every has
// passed since the last one, and when a stop signal ends the run. --resume
// reads it back and counts only the segments it lacks; the merge of all
// segments is the profile of one uninterrupted run (counts, lists and
// histograms exactly; float sums to their last bits, as between any two
// runs with several workers). The output is only ever written whole, at the
// end; the checkpoint is removed once it is.

// exitCheckpointed is the exit status of a run stopped by a signal after
// it wrote its checkpoint: rerun it with --resume (EX_TEMPFAIL).
const exitCheckpointed = 75

// defaultSegmentBytes is the bytes of input a segment counts: small enough
// that a stop loses little, large enough that segments cost nothing
// measurable. ACTPROF_SEGMENT_BYTES overrides it (for tests).
const defaultSegmentBytes = 256 << 20

// maxSegments bounds the segments of a run.
const maxSegments = 4096

// checkpointed is the error of a run stopped after writing its checkpoint.
type checkpointed struct {
	cause error
	path  string
	done  int
	of    int
}

func (c *checkpointed) Error() string {
	return fmt.Sprintf("%v: %d of %d segments counted, kept in %s: rerun with --resume to go on", c.cause, c.done, c.of, c.path)
}

// checkpointPath is the checkpoint beside the output out.
func checkpointPath(out string) string { return out + ".ckpt" }

// segmentBytes is the segment size in use.
func segmentBytes() int64 {
	if v, err := strconv.ParseInt(os.Getenv("ACTPROF_SEGMENT_BYTES"), 10, 64); err == nil && v > 0 {
		return v
	}
	return defaultSegmentBytes
}

// runSegments profiles ls as runCheckpointed's comment says. base is the
// run's shard (nil: the whole input); every is the checkpoint interval.
func runSegments(ctx context.Context, stderr io.Writer, ls []profiler.Layer, opt profiler.Options, base *profiler.ShardSpec,
	ckpt string, every time.Duration, resume bool, durable bool) (*profiler.Profile, error) {
	plans, b, share, err := runShare(ls, opt, base)
	if err != nil {
		return nil, err
	}
	k := int(min(max((share+segmentBytes()-1)/segmentBytes(), 1), maxSegments))
	if !allReadAt(ls) {
		// a streamed layer (a deflated .npz member) would be read from its
		// start again for every segment: one segment, no checkpoints
		k = 1
	}
	if opt.Inputs == nil {
		if opt.Inputs, err = input.InputFiles(ls); err != nil {
			return nil, err
		}
	}
	var acc *profiler.Profile
	if resume {
		// the checkpoint's segments, whatever the segment size now
		if acc, _, err = readCheckpoint(ckpt, opt, b, false); err != nil {
			return nil, err
		}
		if acc != nil {
			k = acc.Shard.Count / b.Count
		}
	} else if _, err := os.Stat(ckpt); err == nil {
		return nil, fmt.Errorf("%s: a checkpoint of an earlier run of this output is here: pass --resume to go on from it, or remove it", ckpt)
	}
	seg := func(j int) profiler.ShardSpec { return profiler.ShardSpec{Index: b.Index*k + j, Count: b.Count * k} }
	done := func(j int) bool { return acc != nil && slices.Contains(acc.Shard.Shards, seg(j).Index) }
	// progress over the whole run, not per segment
	var counted int64
	userProgress := opt.Progress
	last := time.Now()
	for j := range k {
		if done(j) {
			continue
		}
		s := seg(j)
		o := opt
		o.Shard = &s
		var err error
		acc, err = runSegment(ctx, ls, o, acc, &counted, userProgress, share, ckpt, k,
			func() error { return writeCheckpoint(ckpt, acc, durable) })
		if err != nil {
			return nil, err
		}
		if j < k-1 && time.Since(last) >= every {
			if err := writeCheckpoint(ckpt, acc, durable); err != nil {
				return nil, err
			}
			last = time.Now()
		}
	}
	if acc == nil {
		return nil, fmt.Errorf("%s: no segment was counted", ckpt)
	}
	if base == nil {
		return profiler.CompleteShards(acc)
	}
	return ownShard(acc, plans, opt, b), nil
}

// ownShard relabels the merge of the segments of the run's shard b as the
// part one run of the shard writes.
func ownShard(acc *profiler.Profile, plans []profiler.Plan, opt profiler.Options, b profiler.ShardSpec) *profiler.Profile {
	if acc.Shard == nil {
		// shard 0/1: the merge of every segment is a whole profile
		o := opt
		o.Shard = &b
		acc.Shard = profiler.NewShardRecord(plans, &o)
		for i := range acc.Layers {
			acc.Layers[i].Ranges = []profiler.ObsRange{{First: 0, Count: acc.Layers[i].Observations}}
		}
		return acc
	}
	acc.Shard.Count, acc.Shard.Shards = b.Count, []int{b.Index}
	return acc
}

// writeCheckpoint replaces the checkpoint atomically.
func writeCheckpoint(path string, p *profiler.Profile, durable bool) error {
	return writeFile(path, durable, p.Encode)
}

// readCheckpoint reads the checkpoint of an earlier run (nil when there is
// none) and checks that it is one of this run: the same inputs and
// settings, segments of this run's shard b, and a checkpoint of a run
// writing a pattern store (with its state, ps) just when this one is
// (patterns).
func readCheckpoint(path string, opt profiler.Options, b profiler.ShardSpec, patterns bool) (*profiler.Profile, *patternsState, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	bad := func(what string) error { return anotherRun(path, what) }
	var ck patternsCheckpoint
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) == nil && top["patterns_checkpoint"] != nil {
		if !patterns {
			return nil, nil, bad("one writing a pattern store, with --patterns")
		}
		if err := json.Unmarshal(raw, &ck); err != nil || ck.Patterns.Store == nil || ck.Patterns.PieceBytes <= 0 {
			return nil, nil, &profiler.FileError{Path: path, Err: fmt.Errorf("not a checkpoint of a run writing patterns: %v", err)}
		}
		raw = ck.Profile
	} else if patterns {
		return nil, nil, bad("one writing no pattern store, without --patterns")
	}
	p, err := profiler.DecodeProfile(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, &profiler.FileError{Path: path, Err: err}
	}
	sr := p.Shard
	switch {
	case sr == nil || sr.Count%b.Count != 0 || !patterns && sr.Count/b.Count > maxSegments:
		return nil, nil, bad("other segments")
	case !reflect.DeepEqual(sr.Inputs, opt.Inputs):
		return nil, nil, bad("other input files, or files that changed")
	case p.Threshold != opt.Threshold || p.RareBelow != opt.RareBelow:
		return nil, nil, bad("another threshold or rare fraction")
	case (p.Stats == nil) != (opt.Stats == nil) || p.Stats != nil && *p.Stats != opt.Stats.StatsParams:
		return nil, nil, bad("other value statistics")
	case !reflect.DeepEqual(sr.Settings, profiler.NewShardSettings(&opt)):
		return nil, nil, bad("other unit axes or saturation ranges")
	}
	k := sr.Count / b.Count
	for _, s := range sr.Shards {
		if s < b.Index*k || s >= (b.Index+1)*k {
			return nil, nil, bad("segments of another shard")
		}
	}
	if patterns {
		return p, &ck.Patterns, nil
	}
	return p, nil, nil
}

// anotherRun is the error of a checkpoint at path of a run that differs
// from this one in what.
func anotherRun(path, what string) error {
	return fmt.Errorf("%s: the checkpoint is of another run (%s): remove it to start again", path, what)
}

// checkStoreCheckpoint tests that a checkpoint's pattern store state ps is
// one of a store at path and level.
func checkStoreCheckpoint(ckpt string, ps *patternsState, path, level string) error {
	if ps.Store.Level != level {
		return anotherRun(ckpt, fmt.Sprintf("--patterns-level %s", ps.Store.Level))
	}
	if _, err := store.TempPath(path, ps.Store); err != nil {
		return anotherRun(ckpt, "another --patterns file")
	}
	return nil
}

// removeCheckpoint removes the checkpoint once the output is written (one
// that cannot be removed is refused by a later run, never misused).
func removeCheckpoint(path string) { _ = os.Remove(path) }

// allReadAt reports whether every layer is read at offsets (a file region),
// so that a segment of it costs only its own bytes.
func allReadAt(ls []profiler.Layer) bool {
	for _, l := range ls {
		src, err := l.Open()
		if err != nil {
			return false // the run reports it
		}
		_, ok := src.(profiler.ReaderAtSource)
		src.Close()
		if !ok {
			return false
		}
	}
	return true
}

// Checkpoints of a run writing a pattern store. The store's writer takes
// each layer whole and in order, so such a run goes in pieces of about
// segmentBytes: the rows of one layer (of the run's shard), in order,
// cut at the store's block boundaries (store.PieceCuts). Piece j of P is
// counted as shard I·P + j of N·P, with the piece's rows (Options.Rows),
// and its patterns go to the store's writer as that piece of the layer
// (Writer.Piece). The checkpoint holds the merge of the pieces done and
// the writer's state after the last of them (store.State: the temporary
// file, fsynced before the checkpoint is written, and the blocks in it);
// --resume reopens the file, cuts it to those blocks and goes on from the
// next piece. The store is then byte for byte that of a run in one go.

// patternsCheckpoint is the checkpoint of a run writing a pattern store.
type patternsCheckpoint struct {
	Patterns patternsState   `json:"patterns_checkpoint"`
	Profile  json.RawMessage `json:"profile"`
}

// patternsState is the pattern store's part of a checkpoint.
type patternsState struct {
	// PieceBytes is the size the pieces were cut for, kept: a resumed
	// run cuts the same pieces whatever the segment size now.
	PieceBytes int64        `json:"piece_bytes"`
	Store      *store.State `json:"store"`
}

// storePiece is one piece of a run writing patterns: rows of a layer,
// observations [from, to) of it in the store's numbering.
type storePiece struct {
	layer    int
	rows     profiler.RowRange
	from, to int64
}

// storePieces cuts the run's rows (its shard's, base, or all) into the
// pieces of pieceBytes that a store at level takes.
func storePieces(ls []profiler.Layer, plans []profiler.Plan, base *profiler.ShardSpec, pieceBytes int64, level string) ([]storePiece, error) {
	rows := make([]profiler.RowRange, len(plans))
	if base != nil {
		var err error
		if rows, err = profiler.ShardRows(plans, *base); err != nil {
			return nil, err
		}
	} else {
		for i, p := range plans {
			rows[i] = profiler.RowRange{First: 0, Count: p.Geom.Outer}
		}
	}
	readAt := allReadAt(ls)
	var out []storePiece
	for i, p := range plans {
		r := rows[i]
		if r.Count == 0 {
			continue
		}
		var cuts []int64
		if readAt {
			// a streamed layer is one piece: each would read it from its start
			rowBytes := max(p.Bytes()/max(p.Geom.Outer, 1), 1)
			cuts = store.PieceCuts(int(p.Geom.Units), p.Geom.Inner, r.First, r.Count, max(pieceBytes/rowBytes, 1), level)
		}
		inner := max(p.Geom.Inner, 1)
		start := int64(0)
		for _, c := range append(cuts, r.Count) {
			out = append(out, storePiece{layer: i, rows: profiler.RowRange{First: r.First + start, Count: c - start}, from: start * inner, to: c * inner})
			start = c
		}
	}
	return out, nil
}

// runPieces profiles ls into the store's writer sw in pieces, as the
// comment above says; acc and ps are the checkpoint resumed (nil: none).
func runPieces(ctx context.Context, ls []profiler.Layer, opt profiler.Options, base *profiler.ShardSpec, ckpt string,
	every time.Duration, sw *store.Writer, level string, acc *profiler.Profile, ps *patternsState) (*profiler.Profile, error) {
	plans, b, share, err := runShare(ls, opt, base)
	if err != nil {
		return nil, err
	}
	pieceBytes := max(segmentBytes(), (share+maxSegments-1)/maxSegments)
	if ps != nil {
		pieceBytes = ps.PieceBytes
	}
	pieces, err := storePieces(ls, plans, base, pieceBytes, level)
	if err != nil {
		return nil, err
	}
	n := len(pieces)
	if n == 0 {
		return nil, fmt.Errorf("%s: no rows to profile", ckpt)
	}
	seg := func(j int) profiler.ShardSpec { return profiler.ShardSpec{Index: b.Index*n + j, Count: b.Count * n} }
	done := 0
	if acc != nil {
		sr := acc.Shard
		done = len(sr.Shards)
		ok := sr.Count == b.Count*n && done < n
		for j, s := range sr.Shards {
			ok = ok && s == seg(j).Index
		}
		if st := ps.Store; ok && done > 0 {
			last := pieces[done-1]
			ok = st.Layer == last.layer && st.Next == last.to
		}
		if !ok {
			return nil, anotherRun(ckpt, "other pieces")
		}
	}
	var counted int64
	userProgress := opt.Progress
	last := time.Now()
	mark := sw.Mark()
	for j := done; j < n; j++ {
		pc := pieces[j]
		s := seg(j)
		o := opt
		o.Shard = &s
		o.Rows = make([]profiler.RowRange, len(plans))
		o.Rows[pc.layer] = pc.rows
		o.Patterns = sw.Piece(pc.layer, pc.from, pc.to)
		var err error
		acc, err = runSegment(ctx, ls, o, acc, &counted, userProgress, share, ckpt, n,
			func() error { return writePatternsCheckpoint(ckpt, acc, sw, mark, pieceBytes) })
		if err != nil {
			return nil, err
		}
		mark = sw.Mark()
		if j < n-1 && time.Since(last) >= every {
			if err := writePatternsCheckpoint(ckpt, acc, sw, mark, pieceBytes); err != nil {
				return nil, err
			}
			last = time.Now()
		}
	}
	if base == nil {
		return profiler.CompleteShards(acc)
	}
	return ownShard(acc, plans, opt, b), nil
}

// writePatternsCheckpoint writes the checkpoint of a run writing patterns:
// the merge of the pieces done, acc, and the store's state at m, the
// point after the last of them. The store's file is on stable storage
// before the checkpoint that names its blocks is, and the checkpoint is
// too (fsync) before it replaces the last: a crash of the machine leaves
// one that holds.
func writePatternsCheckpoint(path string, acc *profiler.Profile, sw *store.Writer, m store.Mark, pieceBytes int64) error {
	// off the files a second stop signal removes before a checkpoint names it
	sw.Keep()
	st, err := sw.Checkpoint(m)
	if err != nil {
		return err
	}
	var prof bytes.Buffer
	if err := acc.Encode(&prof); err != nil {
		return err
	}
	ck := patternsCheckpoint{Patterns: patternsState{PieceBytes: pieceBytes, Store: st}, Profile: prof.Bytes()}
	return atomicfile.WriteSync(path, func(w io.Writer) error { return json.NewEncoder(w).Encode(ck) })
}

// runSegment runs one segment of a checkpointed run (o, over ls), adds its
// bytes to *counted and returns acc merged with it. When the run is
// interrupted (ctx ends it) after some segments, save writes the
// checkpoint of acc, the segments done of of, and the error says so.
// userProgress, if set, sees the progress over the whole run of share
// bytes.
func runSegment(ctx context.Context, ls []profiler.Layer, o profiler.Options, acc *profiler.Profile, counted *int64,
	userProgress func(done, total int64), share int64, ckpt string, of int, save func() error) (*profiler.Profile, error) {
	if userProgress != nil {
		before := *counted
		o.Progress = func(d, t int64) { userProgress(before+d, share) }
	}
	p, err := profiler.Run(ctx, ls, o)
	if err != nil {
		if ctx.Err() != nil && acc != nil {
			if werr := save(); werr != nil {
				return nil, errors.Join(err, werr)
			}
			return nil, &checkpointed{cause: context.Cause(ctx), path: ckpt, done: len(acc.Shard.Shards), of: of}
		}
		return nil, err
	}
	for _, l := range p.Layers {
		*counted += int64(l.Observations) * int64(l.Units) * int64(dtypeSize(l.DType))
	}
	if acc == nil {
		return p, nil
	}
	return profiler.Merge(acc, p)
}

// runShare returns the plans of a checkpointed run over ls, its shard (base,
// or the whole input as shard 0 of 1) and the bytes the shard holds, for
// progress.
func runShare(ls []profiler.Layer, opt profiler.Options, base *profiler.ShardSpec) ([]profiler.Plan, profiler.ShardSpec, int64, error) {
	plans, err := profiler.PlanLayers(ls, opt.UnitAxis)
	if err != nil {
		return nil, profiler.ShardSpec{}, 0, err
	}
	b := profiler.ShardSpec{Index: 0, Count: 1}
	if base != nil {
		b = *base
	}
	var total int64
	for _, p := range plans {
		total += p.Bytes()
	}
	return plans, b, total / int64(b.Count), nil
}
