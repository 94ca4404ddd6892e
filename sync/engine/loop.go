package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"sync"
	"time"

	"go.uber.org/zap"
)

// LoopOptions tune Pair.Run.
type LoopOptions struct {
	// PollInterval is how often the remote is listed when nothing else
	// triggers a pass (no change feed exists; default 30s).
	PollInterval time.Duration
	// Changes is the local change feed (the watcher), nil when there is
	// none. Every batch triggers a local-only pass (PassOptions.LocalOnly)
	// that rescans what the batch names. A source whose Batches channel
	// closes has stopped: the loop then relies on periodic scans only, as
	// when there is none.
	Changes ChangeSource
	// ScanInterval is how often the whole local tree is rescanned whatever
	// the watcher says (default 1h). While the watcher is degraded or off
	// (events may be missing) the whole tree is rescanned every
	// DegradedScanInterval (or ScanInterval when shorter) instead.
	ScanInterval time.Duration
	// Trash, when set, has its trash older than TrashRetention purged at
	// every full rescan of ScanInterval or DegradedScanInterval.
	Trash          TrashPurger
	TrashRetention time.Duration
	// RetryMin and RetryMax bound the backoff after a failed pass.
	RetryMin, RetryMax time.Duration
	// Settle is how soon to look again when a pass left files that were
	// still being written (default 1s).
	Settle time.Duration
	// OnPass, when set, is called after every pass.
	OnPass func(PassResult, error)
	// OnIdle, when set, is called each time the loop has nothing due and is
	// about to wait; the loop waits for it to return. Whatever fell due
	// meanwhile (timers, a batch) is then taken together, as always. The
	// simulation acts between iterations from it.
	OnIdle func()
	// Jitter spreads the backoff after a failed pass: it returns a
	// duration in [0, max]. Nil: uniformly random. The simulation seeds it
	// so that a run is a function of its seed.
	Jitter func(max time.Duration) time.Duration
}

// DegradedScanInterval is how often Run rescans the whole local tree while
// its change source is degraded or off.
const DegradedScanInterval = time.Minute

// ChangeSource is a feed of local changes: the watcher (see bind.Watcher).
type ChangeSource interface {
	// Batches delivers what changed, coalesced while the loop is busy. It
	// is closed when the source stops.
	Batches() <-chan Batch
	// Degraded reports whether the source may be missing events, and why.
	Degraded() (bool, string)
}

// Batch is one set of local changes, in tree keys (see LocalChanged).
type Batch struct {
	Dirs  []string // directories whose direct entries changed
	Trees []string // directories to read again whole
	Full  bool     // rescan the whole tree
}

// TrashPurger removes a pair's local trash older than olderThan at now and
// says how many entries it removed (*local.FS is one).
type TrashPurger interface {
	PurgeTrash(olderThan time.Duration, now time.Time) (int, error)
}

// State is what a pair is doing, for status.
type State string

const (
	StateIdle    State = "idle"
	StateSyncing State = "syncing"
	StateError   State = "error"
	StateHalted  State = "halted"
	StateStopped State = "stopped"
)

// Status is a pair's live status.
type Status struct {
	State       State
	LastSync    time.Time // end of the last clean pass
	LastAttempt time.Time
	LastPoll    time.Time // start of the last remote listing
	LastError   string
	Pending     int
	Conflicts   int
	Problems    []ItemError
	Errors      []ItemError
	Transfers   []Transfer
	NextRetry   time.Time
}

// Transfer is an upload or download in flight.
type Transfer struct {
	Path      string
	Direction string // "up" or "down"
	Size      int64
	Done      int64
	Started   time.Time
}

// liveStatus is the mutable status behind Pair.Status.
type liveStatus struct {
	mu        sync.Mutex
	st        Status
	transfers map[string]*Transfer
}

func (l *liveStatus) update(f func(*Status)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(&l.st)
}

func (l *liveStatus) startTransfer(path, dir string, size int64, now time.Time) func(int64) {
	l.mu.Lock()
	if l.transfers == nil {
		l.transfers = make(map[string]*Transfer)
	}
	t := &Transfer{Path: path, Direction: dir, Size: size, Started: now}
	l.transfers[path] = t
	l.mu.Unlock()
	return func(n int64) {
		l.mu.Lock()
		t.Done = n
		l.mu.Unlock()
	}
}

func (l *liveStatus) endTransfer(path string) {
	l.mu.Lock()
	delete(l.transfers, path)
	l.mu.Unlock()
}

// Status returns a copy of the pair's live status.
func (p *Pair) Status() Status {
	p.live.mu.Lock()
	defer p.live.mu.Unlock()
	s := p.live.st
	s.Problems = append([]ItemError(nil), s.Problems...)
	s.Errors = append([]ItemError(nil), s.Errors...)
	for _, t := range p.live.transfers {
		s.Transfers = append(s.Transfers, *t)
	}
	if s.State == "" {
		s.State = StateIdle
	}
	return s
}

// Run owns the pair until ctx ends, on one goroutine: a pass at once, then
// a local-only pass on every batch of lo.Changes, a pass every poll
// interval, a full local rescan (and a trash purge) every scan interval and
// every DegradedScanInterval while the change source is degraded or off, a
// look again after the settle delay while files are still being written,
// and passes after failures with backoff (a failed pass holds back the
// poll until its retry). Passes never overlap. They are
// incremental: a poll lists the hot folders (everything at a sweep), a
// batch rescans what it names, and a pass that finds nothing changed stops
// before planning. Items that fail are retried by later passes without
// holding up the others; an outage keeps batches queued (coalesced by the
// source) and sync resumes by itself when the server is back. Every timer
// is the time package's, so testing/synctest controls the loop's time.
func (p *Pair) Run(ctx context.Context, lo LoopOptions) error {
	if lo.PollInterval <= 0 {
		lo.PollInterval = 30 * time.Second
	}
	if lo.ScanInterval <= 0 {
		lo.ScanInterval = time.Hour
	}
	if lo.RetryMin <= 0 {
		lo.RetryMin = 2 * time.Second
	}
	if lo.RetryMax <= 0 {
		lo.RetryMax = 5 * time.Minute
	}
	if lo.Settle <= 0 {
		lo.Settle = time.Second
	}
	if lo.Jitter == nil {
		lo.Jitter = func(max time.Duration) time.Duration { return rand.N(max + 1) }
	}
	w := &loopWait{poll: time.NewTimer(0)} // first pass at once
	defer w.poll.Stop()
	if lo.Changes != nil {
		w.batches = lo.Changes.Batches()
	}
	// The safety net ticks at the degraded rate and rescans whole when the
	// source is degraded or off, or a scan interval has passed.
	w.scan = time.NewTicker(min(lo.ScanInterval, DegradedScanInterval))
	defer w.scan.Stop()
	lastScan := time.Now()
	failures := 0
	idleContested := 0 // contested idle polls in a row (see nextIdleContested)
	lostAtPoll := p.tokenLosses()
	for {
		due := w.take(ctx, false)
		if due.none() {
			if lo.OnIdle != nil {
				lo.OnIdle()
			}
			due = w.take(ctx, true)
		}
		if due.stop {
			p.live.update(func(s *Status) { s.State = StateStopped })
			return nil
		}
		if due.closed && ctx.Err() == nil {
			p.log.Info("local change feed closed; relying on periodic scans")
		}
		// Every batch, the first (Full, sent once every directory is
		// watched) included, asks for a pass: a change made between the
		// first scan and the watches existing is caught.
		for _, b := range due.batches {
			p.LocalChanged(b.Dirs, b.Trees, b.Full)
		}
		rescan := false
		if due.scan {
			degraded := w.batches == nil
			if !degraded {
				degraded, _ = lo.Changes.Degraded()
			}
			rescan = degraded || time.Since(lastScan) >= lo.ScanInterval
		}
		if rescan {
			lastScan = time.Now()
			p.LocalChanged(nil, nil, true)
			if lo.Trash != nil {
				if _, err := lo.Trash.PurgeTrash(lo.TrashRetention, p.opt.Now()); err != nil {
					p.log.Warn("could not purge old trash", zap.Error(err))
				}
			}
		}
		// Only a local change, no timer of the remote's: the pass lists
		// no more of the remote than the last execution touched.
		localOnly := !due.poll && !due.retry
		if localOnly && len(due.batches) == 0 && !rescan {
			continue // a scan tick with nothing to rescan, or the feed closed
		}
		w.stopRetry()
		lost0 := p.tokenLosses()
		// Another host took the token since our last poll: it is active,
		// and may have changed folders this host does not list at a
		// plain poll (only hot ones): look everywhere.
		sweep := !localOnly && lost0 != lostAtPoll
		res, err := p.Pass(ctx, PassOptions{Incremental: true, LocalOnly: localOnly, Sweep: sweep})
		if !localOnly {
			// Losses during this poll count for the next: this one may
			// have listed the hot folders only.
			lostAtPoll = lost0
		}
		if ctx.Err() != nil {
			p.live.update(func(s *Status) { s.State = StateStopped })
			return nil
		}
		if lo.OnPass != nil {
			lo.OnPass(res, err)
		}
		// A pass that listed the remote starts the poll interval again,
		// stretched while idle polls only trade the token with another host.
		pollIn, resetPoll := lo.PollInterval, !localOnly
		if !localOnly {
			idleContested = nextIdleContested(idleContested, res, err, p.tokenLosses() != lost0)
			pollIn = pollAfter(lo.PollInterval, idleContested, lo.Jitter)
		}
		if err != nil || res.Failed > 0 || (!res.Converged && res.Done == 0 && res.Unsettled == 0 && !res.SettledTemps) {
			failures++
			if p.tokenLosses() != lost0 {
				// Another host took the token during the pass: it is busy,
				// not down. The client already spaces its authorizations
				// (a hold-off per contested one); a growing backoff on top
				// kept this host waiting long after the other's burst had
				// ended (bench/twohosts.sh: 9 s of backoff plus a 6 s
				// hold-off). Retry at the shortest delay.
				failures = 1
			}
			d := backoff(lo.RetryMin, lo.RetryMax, failures, lo.Jitter)
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrHalted) {
				d = lo.RetryMax // nothing a quick retry can fix
			}
			p.log.Warn("pass incomplete; retrying", zap.Error(err), zap.Int("failed", res.Failed), zap.Duration("in", d))
			w.retryIn(d)
			if err != nil {
				// The pass as a whole failed (the server is down, the keys
				// refused, a guard halted it): no poll before the retry,
				// which lists the remote, or the backoff would stop growing
				// at the poll interval. (While only items fail, the server
				// answers: polls go on, and so do the other files.)
				pollIn, resetPoll = max(pollIn, d), true
			}
			next := p.opt.Now().Add(d)
			p.live.update(func(s *Status) { s.NextRetry = next })
		} else {
			failures = 0
			switch {
			case res.Unsettled > 0:
				w.retryIn(lo.Settle)
			case !res.Converged && (res.Skipped > 0 || res.SettledTemps):
				// Some ops were skipped (a premise changed), or paths
				// frozen by temporary entries this pass settled: look
				// again right away. A plan that fully succeeded needs no second
				// look: base records what it did.
				w.retryIn(0)
			}
		}
		if resetPoll {
			w.poll.Reset(pollIn)
		}
	}
}

// maxPollStretch bounds how far contested idle polls are spaced: up to
// 2^maxPollStretch poll intervals.
const maxPollStretch = 3

// nextIdleContested counts the polls in a row that found nothing to do on
// either side and lost the token to another host sharing the keys (api.md
// 7): both hosts idle, each poll of one kills the other's token, so every
// poll costs an authorization. Anything else starts the count again: a
// pass with work, a failure, or a poll the token survived (a single host's
// polls are never spaced).
func nextIdleContested(n int, res PassResult, err error, lost bool) int {
	if err != nil || !lost || res.Done > 0 || res.Failed > 0 || !res.Converged {
		return 0
	}
	return min(n+1, maxPollStretch)
}

// pollAfter is the wait before the next poll: the interval, doubled per
// contested idle poll in a row (up to 2^maxPollStretch times) with its
// upper half jittered, so that two idle hosts trade the token at a
// fraction of their polls and drift out of step. A local change still
// starts a pass at once, and a poll that finds work resets the count.
func pollAfter(interval time.Duration, contested int, jitter func(time.Duration) time.Duration) time.Duration {
	if contested == 0 {
		return interval
	}
	d := interval << contested
	return d/2 + jitter(d/2)
}

// tokenLosses reads the remote's count of requests refused because
// another host took the token (0 when it does not count them).
func (p *Pair) tokenLosses() uint64 {
	if t, ok := p.remote.(TokenLosses); ok {
		return t.TokenLosses()
	}
	return 0
}

// loopWait is what Run waits on: the change feed and its timers.
type loopWait struct {
	batches <-chan Batch // nil once the feed closed, or without one
	poll    *time.Timer
	scan    *time.Ticker
	retry   *time.Timer // nil when no retry is pending
}

// loopDue is what fell due at one wake of Run.
type loopDue struct {
	stop              bool // ctx ended
	closed            bool // the change feed closed
	batches           []Batch
	scan, poll, retry bool
}

func (d loopDue) none() bool {
	return !d.stop && !d.closed && len(d.batches) == 0 && !d.scan && !d.poll && !d.retry
}

// take returns everything due now, after waiting for something to be when
// block is set. It takes every ready case, not the one a select happens
// to pick: when a timer and a batch (or two timers) are due at once, the
// pass they start does not depend on the runtime's random choice, so a
// run under testing/synctest is a function of its inputs. (One case list,
// with a default once something was taken: reflect.Select.)
func (w *loopWait) take(ctx context.Context, block bool) loopDue {
	var d loopDue
	for {
		cases := []reflect.SelectCase{recv(ctx.Done()), recv(w.poll.C), recv(w.scan.C), recv(w.retryC(d)), recv(w.batches)}
		if !block {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectDefault})
		}
		block = false
		i, v, ok := reflect.Select(cases)
		switch i {
		case 0:
			d.stop = true
			return d
		case 1:
			d.poll = true
		case 2:
			d.scan = true
		case 3:
			d.retry = true
		case 4:
			if !ok {
				d.closed, w.batches = true, nil
			} else {
				d.batches = append(d.batches, v.Interface().(Batch))
			}
		default:
			return d
		}
	}
}

// retryC is the pending retry's channel, nil when there is none or d has
// taken it.
func (w *loopWait) retryC(d loopDue) <-chan time.Time {
	if w.retry == nil || d.retry {
		return nil
	}
	return w.retry.C
}

func recv[T any](c <-chan T) reflect.SelectCase {
	return reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)}
}

// retryIn schedules a look again in dur, replacing a pending one.
func (w *loopWait) retryIn(dur time.Duration) {
	w.stopRetry()
	w.retry = time.NewTimer(dur)
}

func (w *loopWait) stopRetry() {
	if w.retry != nil {
		w.retry.Stop()
		w.retry = nil
	}
}

// backoff is a jittered exponential delay: the n-th after a failure is
// in [d/2, d] for d = min doubled n-1 times, at most max.
func backoff(min, max time.Duration, n int, jitter func(time.Duration) time.Duration) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + jitter(d/2)
}
