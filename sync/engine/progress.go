package engine

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/syncd/syncd/sync/plan"
)

// Progress is how far the execution of a pass's plan has come, for status,
// metrics and progress lines. Files counts the plan's operations (each
// moves, deletes, creates or transfers one file or folder); Bytes counts
// the content of its uploads and downloads, the part already sent of those
// in flight included.
type Progress struct {
	FilesDone, FilesTotal int
	BytesDone, BytesTotal int64
	Started               time.Time
	// Initial: the pair had never synced before this pass.
	Initial bool
}

// ETA estimates the time left from the rate so far: by bytes when the plan
// transfers content, else by operations. ok is false before any rate is
// known.
func (p Progress) ETA(now time.Time) (eta time.Duration, ok bool) {
	el := now.Sub(p.Started)
	if el <= 0 {
		return 0, false
	}
	switch {
	case p.BytesTotal > 0 && p.BytesDone > 0:
		left := float64(p.BytesTotal - p.BytesDone)
		return time.Duration(left / float64(p.BytesDone) * float64(el)), true
	case p.BytesTotal == 0 && p.FilesDone > 0:
		left := float64(p.FilesTotal - p.FilesDone)
		return time.Duration(left / float64(p.FilesDone) * float64(el)), true
	}
	return 0, false
}

// progress tracks the running execution and, for a pair that had never
// synced, what its passes did until one converges (the initial sync). The
// execution's goroutine writes it; status readers read it under mu.
type progress struct {
	mu        sync.Mutex
	running   bool
	cur       Progress
	finished  int64 // bytes of transfers that ended
	transfers func() int64
	reported  int64 // the last BytesDone handed out: never goes back

	// The initial sync, from the first pass of a never synced pair to
	// the first that converges.
	initial      bool
	initialStart time.Time
	initialOps   int
	initialBytes int64
}

// transferBytes is what a plan op transfers.
func transferBytes(op plan.Op) int64 {
	switch op.Kind {
	case plan.Upload, plan.Replace:
		if op.Local != nil {
			return op.Local.Size
		}
	case plan.Download:
		if op.Remote != nil {
			return op.Remote.Size
		}
	}
	return 0
}

// progressSawMeta is called by each pass once it has read the pair's meta.
func (p *Pair) progressSawMeta(m Meta, now time.Time) {
	g := &p.prog
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.LastSync.IsZero() && !g.initial {
		g.initial, g.initialStart = true, now
		g.initialOps, g.initialBytes = 0, 0
	}
}

// progressBegin starts tracking an execution of ops.
func (p *Pair) progressBegin(ops []plan.Op, now time.Time) {
	g := &p.prog
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running = true
	g.cur = Progress{FilesTotal: len(ops), Started: now, Initial: g.initial}
	for _, op := range ops {
		g.cur.BytesTotal += transferBytes(op)
	}
	g.finished, g.reported = 0, 0
	g.transfers = p.live.inflightBytes
}

// progressOp counts one finished op (done, skipped or failed: either way it
// is no longer waiting).
func (p *Pair) progressOp(op plan.Op, st OpStatus) {
	g := &p.prog
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		return
	}
	g.cur.FilesDone++
	g.finished += transferBytes(op)
	if st == OpDone && g.initial {
		g.initialOps++
		g.initialBytes += transferBytes(op)
	}
}

// progressEnd stops tracking the execution.
func (p *Pair) progressEnd() {
	g := &p.prog
	g.mu.Lock()
	g.running = false
	g.mu.Unlock()
}

// progressPassEnd logs the end of the initial sync when this pass is the
// first to leave both sides agreeing for a pair that had never synced: its
// plan was empty, or every op of it succeeded (base then records what
// both sides hold; the daemon's loop looks again only at the next poll,
// which must not delay the news).
func (p *Pair) progressPassEnd(res PassResult, err error) {
	g := &p.prog
	g.mu.Lock()
	complete := res.Converged || (res.Skipped == 0 && res.Unsettled == 0 && res.Plan.Halt == "")
	done := g.initial && err == nil && res.Failed == 0 && complete
	ops, bytes, start := g.initialOps, g.initialBytes, g.initialStart
	if done {
		g.initial = false
	}
	g.mu.Unlock()
	if done {
		p.log.Info("initial sync done", zap.Int("operations", ops), zap.Int64("bytes", bytes),
			zap.Duration("duration", res.Finished.Sub(start).Round(time.Millisecond)))
	}
}

// Progress reports the execution in progress; ok is false between
// executions (observing, planning, or idle).
func (p *Pair) Progress() (Progress, bool) {
	g := &p.prog
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		return Progress{}, false
	}
	c := g.cur
	c.BytesDone = g.finished
	if g.transfers != nil {
		c.BytesDone += g.transfers()
	}
	// A transfer that just ended counts neither in flight nor finished
	// until its result is noted: never report less than before.
	c.BytesDone = min(max(c.BytesDone, g.reported), c.BytesTotal)
	g.reported = c.BytesDone
	return c, true
}

// inflightBytes sums what the transfers in flight have moved so far.
func (l *liveStatus) inflightBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n int64
	for _, t := range l.transfers {
		n += t.Done
	}
	return n
}
