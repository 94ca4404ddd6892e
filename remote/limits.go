package remote

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// adaptiveLimiter paces API requests. A 429 halves the rate (down to a
// floor) and holds every request back until Retry-After has passed. Without
// further 429s the rate doubles every recoveryDoubling back to the
// configured rate, so the client settles just under a server's limit and
// recovers within a minute once the pressure is gone.
type adaptiveLimiter struct {
	target float64
	lim    *rate.Limiter

	mu            sync.Mutex
	current       float64
	holdUntil     time.Time
	throttledAt   time.Time // last 429
	throttledRate float64   // the rate set then
}

const (
	minRate          = 0.2 // one request per five seconds at the slowest
	recoveryDoubling = 5 * time.Second
)

func newAdaptiveLimiter(rps float64) *adaptiveLimiter {
	burst := max(int(rps), 1)
	return &adaptiveLimiter{target: rps, current: rps, lim: rate.NewLimiter(rate.Limit(rps), burst)}
}

// errHeld marks a request refused locally because the server asked for a
// pause longer than the client waits inside a call.
var errHeld = errors.New("held by an earlier Retry-After")

func (l *adaptiveLimiter) wait(ctx context.Context, endpoint string) error {
	l.mu.Lock()
	hold := time.Until(l.holdUntil)
	l.mu.Unlock()
	if hold > maxRetryAfterWait {
		return markedError{&APIError{Endpoint: endpoint,
			Message:    fmt.Sprintf("the server asked for no requests until %s", time.Now().Add(hold).UTC().Format(time.RFC3339)),
			HTTPStatus: http.StatusTooManyRequests, RetryAfter: hold, Kind: ErrRateLimited}, errHeld}
	}
	if err := sleep(ctx, hold); err != nil {
		return err
	}
	return l.lim.Wait(ctx)
}

// throttled records a 429 and returns how long the caller should wait.
func (l *adaptiveLimiter) throttled(retryAfter time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.current = max(l.current/2, min(minRate, l.target))
	l.throttledAt, l.throttledRate = time.Now(), l.current
	l.lim.SetLimit(rate.Limit(l.current))
	if retryAfter > 0 {
		if until := time.Now().Add(retryAfter); until.After(l.holdUntil) {
			l.holdUntil = until
		}
	}
	return retryAfter
}

func (l *adaptiveLimiter) success() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.current >= l.target {
		return
	}
	since := time.Since(l.throttledAt)
	r := l.throttledRate * math.Exp2(float64(since)/float64(recoveryDoubling))
	if r > l.current {
		l.current = min(l.target, r)
		l.lim.SetLimit(rate.Limit(l.current))
	}
}

// rate returns the current request rate.
func (l *adaptiveLimiter) rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}

// gate is a counting semaphore whose size can change while in use (the
// package limits arrive after the client starts). A limit <= 0 means
// unlimited.
type gate struct {
	mu    sync.Mutex
	limit int
	used  int
	wake  chan struct{}
}

func newGate() *gate { return &gate{wake: make(chan struct{})} }

func (g *gate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.limit <= 0 || g.used < g.limit {
			g.used++
			g.mu.Unlock()
			return nil
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (g *gate) release() {
	g.mu.Lock()
	g.used--
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) setLimit(n int) {
	g.mu.Lock()
	g.limit = n
	close(g.wake)
	g.wake = make(chan struct{})
	g.mu.Unlock()
}

// downloadQuota enforces wait_between_downloads and downloads_per_24_hours
// over a sliding day of download starts.
type downloadQuota struct {
	mu     sync.Mutex
	starts []time.Time // oldest first, within the last 24 h
	last   time.Time
}

// reserve records a download start at now, or reports how long the caller
// must wait for the wait-between gap (wait > 0), or that the day's quota is
// used up (err, with the time the next slot frees).
func (q *downloadQuota) reserve(now time.Time, lim Limits) (wait time.Duration, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dayAgo := now.Add(-24 * time.Hour)
	i := 0
	for i < len(q.starts) && !q.starts[i].After(dayAgo) {
		i++
	}
	q.starts = q.starts[i:]
	if lim.DownloadsPer24Hours > 0 && len(q.starts) >= lim.DownloadsPer24Hours {
		next := q.starts[0].Add(24 * time.Hour)
		return 0, &APIError{
			Endpoint:   "file/download",
			Message:    fmt.Sprintf("downloads_per_24_hours limit of %d reached; the next download is allowed at %s", lim.DownloadsPer24Hours, next.UTC().Format(time.RFC3339)),
			RetryAfter: next.Sub(now),
			Kind:       ErrRateLimited,
		}
	}
	if lim.WaitBetweenDownloads > 0 && !q.last.IsZero() {
		if gap := q.last.Add(lim.WaitBetweenDownloads).Sub(now); gap > 0 {
			return gap, nil
		}
	}
	q.starts = append(q.starts, now)
	q.last = now
	return 0, nil
}

// Limits returns the package limits last read by Package (the zero Limits,
// meaning unlimited, before that).
func (c *Client) Limits() Limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits
}

// Package reads /account/package and applies the limits to the client's
// own gates: concurrent uploads and downloads, the download quota and the
// size limits.
func (c *Client) Package(ctx context.Context) (Limits, error) {
	env, err := c.call(ctx, "account/package", nil, true)
	if err != nil {
		return Limits{}, err
	}
	lim, err := decodeLimits(env)
	if err != nil {
		return Limits{}, badReply("account/package", "", err)
	}
	c.mu.Lock()
	c.limits, c.limitsSet = lim, true
	c.mu.Unlock()
	c.uploads.setLimit(lim.ConcurrentUploads)
	c.downloads.setLimit(lim.ConcurrentDownloads)
	c.log.Info("package limits", zap.String("label", lim.Label), zap.Int64("max_upload_size", lim.MaxUploadSize),
		zap.Int("concurrent_uploads", lim.ConcurrentUploads), zap.Int("concurrent_downloads", lim.ConcurrentDownloads),
		zap.Int("downloads_per_24_hours", lim.DownloadsPer24Hours))
	return lim, nil
}

// ensureLimits reads the package once, before the first transfer, so that
// the limits are respected from the start (BEHAVIOUR 13).
func (c *Client) ensureLimits(ctx context.Context) (Limits, error) {
	c.mu.Lock()
	lim, ok := c.limits, c.limitsSet
	c.mu.Unlock()
	if ok {
		return lim, nil
	}
	return c.Package(ctx)
}

// stallGuard cancels a transfer's request when no byte has moved for a
// while: a dead connection (a NAT that forgot it, a peer gone silent) must
// end in a retryable error, not hang a daemon until its context ends.
type stallGuard struct {
	after  time.Duration
	t      *time.Timer
	cancel context.CancelCauseFunc
	fired  chan struct{}
}

// errStalled is the cause of a request cancelled by its stallGuard.
var errStalled = errors.New("transfer stalled")

// newStallGuard returns a child of ctx that is cancelled after d without
// progress; d <= 0 disables the guard. stop must be called when the
// request is over.
func newStallGuard(ctx context.Context, d time.Duration) (context.Context, *stallGuard) {
	ctx, cancel := context.WithCancelCause(ctx)
	g := &stallGuard{after: d, cancel: cancel, fired: make(chan struct{})}
	if d > 0 {
		g.t = time.AfterFunc(d, func() {
			close(g.fired)
			cancel(fmt.Errorf("%w: no progress for %v", errStalled, d))
		})
	}
	return ctx, g
}

// progress restarts the countdown.
func (g *stallGuard) progress() {
	if g.t != nil {
		g.t.Reset(g.after)
	}
}

// pause stops the countdown (the body is sent; the reply's wait is bounded
// by the transport's ResponseHeaderTimeout).
func (g *stallGuard) pause() {
	if g.t != nil {
		g.t.Stop()
	}
}

// stop ends the guard and releases its context.
func (g *stallGuard) stop() {
	g.pause()
	g.cancel(context.Canceled)
}

// stalled reports whether the guard cancelled the request.
func (g *stallGuard) stalled() bool {
	select {
	case <-g.fired:
		return true
	default:
		return false
	}
}

// stallError describes a stalled transfer as a transient failure.
func (g *stallGuard) stallError(endpoint string) error {
	return &APIError{Endpoint: endpoint, Message: fmt.Sprintf("no progress for %v; connection abandoned", g.after), Kind: ErrTransient}
}
