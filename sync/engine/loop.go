package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
)

// LoopOptions tune Pair.Run.
type LoopOptions struct {
	// PollInterval is how often the remote is listed when nothing else
	// triggers a pass (no change feed exists).
	PollInterval time.Duration
	// Hints carries local change hints (debounced by the watcher): the
	// sender says what changed with Pair.LocalChanged first. A hint
	// triggers a local-only pass (see PassOptions.LocalOnly). A closed
	// channel is treated as "no more hints".
	Hints <-chan struct{}
	// RetryMin and RetryMax bound the backoff after a failed pass.
	RetryMin, RetryMax time.Duration
	// Settle is how soon to look again when a pass left files that were
	// still being written (default 1s).
	Settle time.Duration
	// OnPass, when set, is called after every pass.
	OnPass func(PassResult, error)
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

// Run owns the pair until ctx ends: a pass at once, then a pass on every
// local hint, every poll interval, and after failures with backoff. Passes
// never overlap: one goroutine runs them all. They are incremental: a poll
// lists the hot folders (everything at a sweep), a hint rescans what
// LocalChanged named, and a pass that finds nothing changed stops before
// planning. Items that fail are retried by
// later passes without holding up the others; an outage keeps hints queued
// (coalesced) and sync resumes by itself when the server is back.
func (p *Pair) Run(ctx context.Context, lo LoopOptions) error {
	if lo.PollInterval <= 0 {
		lo.PollInterval = 30 * time.Second
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
	hints := lo.Hints
	poll := time.NewTimer(0) // first pass at once
	defer poll.Stop()
	var retry *time.Timer
	var retryC <-chan time.Time
	failures := 0
	for {
		localOnly := false
		select {
		case <-ctx.Done():
			p.live.update(func(s *Status) { s.State = StateStopped })
			return nil
		case _, ok := <-hints:
			if !ok {
				hints = nil
				continue
			}
			localOnly = true
		case <-poll.C:
		case <-retryC:
		}
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
		res, err := p.Pass(ctx, PassOptions{Incremental: true, LocalOnly: localOnly})
		if ctx.Err() != nil {
			p.live.update(func(s *Status) { s.State = StateStopped })
			return nil
		}
		if lo.OnPass != nil {
			lo.OnPass(res, err)
		}
		if err != nil || res.Failed > 0 || (!res.Converged && res.Done == 0 && res.Unsettled == 0) {
			failures++
			d := backoff(lo.RetryMin, lo.RetryMax, failures)
			if errors.Is(err, ErrAuth) || errors.Is(err, ErrHalted) {
				d = lo.RetryMax // nothing a quick retry can fix
			}
			p.log.Warn("pass incomplete; retrying", zap.Error(err), zap.Int("failed", res.Failed), zap.Duration("in", d))
			retry = time.NewTimer(d)
			retryC = retry.C
			next := p.opt.Now().Add(d)
			p.live.update(func(s *Status) { s.NextRetry = next })
		} else {
			failures = 0
			switch {
			case res.Unsettled > 0:
				retry = time.NewTimer(lo.Settle)
				retryC = retry.C
			case !res.Converged && res.Skipped > 0:
				// Some ops were skipped (a premise changed): look again
				// right away. A plan that fully succeeded needs no second
				// look: base records what it did.
				retry = time.NewTimer(0)
				retryC = retry.C
			}
		}
		if !localOnly {
			poll.Reset(lo.PollInterval)
		}
	}
}

// backoff is a jittered exponential delay.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}
