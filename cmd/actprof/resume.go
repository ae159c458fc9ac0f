package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/actprof/actprof/input"
	"github.com/actprof/actprof/profiler"
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
	plans, err := profiler.PlanLayers(ls, opt.UnitAxis)
	if err != nil {
		return nil, err
	}
	b := profiler.ShardSpec{Index: 0, Count: 1}
	if base != nil {
		b = *base
	}
	var total int64
	for _, p := range plans {
		total += p.Bytes()
	}
	share := total / int64(b.Count)
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
		if acc, err = readCheckpoint(ckpt, opt, b); err != nil {
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
		if userProgress != nil {
			before := counted
			o.Progress = func(d, t int64) { userProgress(before+d, share) }
		}
		p, err := profiler.Run(ctx, ls, o)
		if err != nil {
			if ctx.Err() != nil && acc != nil {
				if werr := writeCheckpoint(ckpt, acc, durable); werr != nil {
					return nil, errors.Join(err, werr)
				}
				return nil, &checkpointed{cause: context.Cause(ctx), path: ckpt, done: len(acc.Shard.Shards), of: k}
			}
			return nil, err
		}
		for _, l := range p.Layers {
			counted += int64(l.Observations) * int64(l.Units) * int64(dtypeSize(l.DType))
		}
		if acc == nil {
			acc = p
		} else if acc, err = profiler.Merge(acc, p); err != nil {
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
	// the run's own shard, as one run of it records it
	acc.Shard.Count, acc.Shard.Shards = b.Count, []int{b.Index}
	return acc, nil
}

// writeCheckpoint replaces the checkpoint atomically.
func writeCheckpoint(path string, p *profiler.Profile, durable bool) error {
	return writeFile(path, durable, p.Encode)
}

// readCheckpoint reads the checkpoint of an earlier run (nil when there is
// none) and checks that it is one of this run: the same inputs and
// settings, segments of this run's shard b.
func readCheckpoint(path string, opt profiler.Options, b profiler.ShardSpec) (*profiler.Profile, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profiler.DecodeProfile(f)
	if err != nil {
		return nil, &profiler.FileError{Path: path, Err: err}
	}
	bad := func(what string) error {
		return fmt.Errorf("%s: the checkpoint is of another run (%s): remove it to start again", path, what)
	}
	sr := p.Shard
	switch {
	case sr == nil || sr.Count%b.Count != 0 || sr.Count/b.Count > maxSegments:
		return nil, bad("other segments")
	case !reflect.DeepEqual(sr.Inputs, opt.Inputs):
		return nil, bad("other input files, or files that changed")
	case p.Threshold != opt.Threshold || p.RareBelow != opt.RareBelow:
		return nil, bad("another threshold or rare fraction")
	case (p.Stats == nil) != (opt.Stats == nil) || p.Stats != nil && *p.Stats != opt.Stats.StatsParams:
		return nil, bad("other value statistics")
	case !reflect.DeepEqual(sr.Settings, profiler.NewShardSettings(&opt)):
		return nil, bad("other unit axes or saturation ranges")
	}
	k := sr.Count / b.Count
	for _, s := range sr.Shards {
		if s < b.Index*k || s >= (b.Index+1)*k {
			return nil, bad("segments of another shard")
		}
	}
	return p, nil
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
