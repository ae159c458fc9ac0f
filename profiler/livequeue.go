package profiler

import (
	"fmt"
	"slices"
	"sync"
)

// liveQueue is a Live's queue of batches copied for asynchronous
// counting (LiveOptions.QueueBytes): one goroutine counts them in the
// order they were queued, so every layer's observations keep the order of
// its Adds. Memory: the queued copies, at most QueueBytes (or one larger
// batch), whatever the number of batches.
type liveQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled when a job is queued or done, or the queue stops
	jobs    []liveJob
	bytes   int64 // of the queued and counting jobs
	running bool  // a job is being counted
	started bool
	stopped bool
	err     error // the first counting error, returned once by drain or enqueue
}

type liveJob struct {
	name  string
	dtype DType
	shape []int
	data  []byte // C order, owned by the queue
}

// enqueue checks a batch as addNow would (so that most errors are
// returned by the Add that caused them), copies it and queues it.
func (lv *Live) enqueue(name string, dtype DType, shape []int, strides []int64, data []byte) error {
	l, err := lv.layer(name, dtype, shape)
	if err != nil {
		return err
	}
	size := int64(dtype.Size())
	l.mu.Lock()
	err = l.err
	var g Geometry
	contig := false
	if err == nil {
		if g, err = l.check(dtype, shape); err != nil {
			err = fmt.Errorf("layer %s: %w", name, err)
		} else if contig, err = contiguous(shape, strides, size, len(data)); err != nil {
			err = fmt.Errorf("layer %s: %w", name, err)
		}
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	// The copy is taken before Add returns: the caller may then free or
	// overwrite its buffer at once.
	var own []byte
	if contig {
		own = append([]byte(nil), data[:g.Elements()*size]...)
	} else {
		own = gather(data, shape, strides, size)
	}
	q := &lv.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started {
		q.cond = sync.NewCond(&q.mu)
		q.started = true
		go lv.countQueued()
	}
	for q.err == nil && !q.stopped && q.bytes > 0 && q.bytes+int64(len(own)) > lv.opt.QueueBytes {
		q.cond.Wait()
	}
	if err := q.err; err != nil {
		q.err = nil
		return err
	}
	if q.stopped {
		return fmt.Errorf("%w: the live profile is finished", ErrBadOption)
	}
	q.jobs = append(q.jobs, liveJob{name, dtype, slices.Clone(shape), own})
	q.bytes += int64(len(own))
	q.cond.Broadcast()
	return nil
}

// countQueued counts the queued jobs until the queue stops.
func (lv *Live) countQueued() {
	q := &lv.q
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for len(q.jobs) == 0 && !q.stopped {
			q.cond.Wait()
		}
		if len(q.jobs) == 0 {
			return
		}
		j := q.jobs[0]
		q.jobs[0] = liveJob{}
		q.jobs = q.jobs[1:]
		q.running = true
		q.mu.Unlock()
		err := lv.addNow(j.name, j.dtype, j.shape, nil, j.data)
		q.mu.Lock()
		q.running = false
		q.bytes -= int64(len(j.data))
		if err != nil && q.err == nil {
			q.err = err
		}
		q.cond.Broadcast()
	}
}

// drain waits until every queued batch is counted and returns the first
// counting error since the last one returned.
func (q *liveQueue) drain() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started {
		return nil
	}
	for len(q.jobs) > 0 || q.running {
		q.cond.Wait()
	}
	err := q.err
	q.err = nil
	return err
}

// stop counts what is queued and ends the goroutine.
func (q *liveQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started {
		return
	}
	q.stopped = true
	q.cond.Broadcast()
	for len(q.jobs) > 0 || q.running {
		q.cond.Wait()
	}
}
