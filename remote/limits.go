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

// pacer paces API requests. Without a configured cap it lets requests go
// as fast as the callers send them (the executor's worker count bounds
// that) until the server pushes back. A 429 says where the server's limit
// is: about the rate at which requests were going out when it came. The
// pacer then sends at half that rate, climbs back to just under it within
// a couple of seconds, and from there probes upwards slowly, so that it
// settles just under a fixed limit and follows one that rises. After
// forgetAfter without a 429 it forgets the limit. Every Retry-After holds
// all requests back until it has passed. A configured cap is never
// exceeded. Failed authorizations are not paced here: they are never
// retried at all (api.md 9).
type pacer struct {
	cap float64 // the operator's ceiling; +Inf when none
	lim *rate.Limiter

	mu          sync.Mutex
	current     float64   // the pace now; +Inf while unpaced
	ceiling     float64   // the server's limit as last seen; 0 when unknown
	throttledAt time.Time // the last 429 that lowered the pace
	holdUntil   time.Time
	sent        sendWindow
}

const (
	minRate = 0.2 // one request per five seconds at the slowest
	// After a 429 the pace doubles every recoveryDoubling from half the
	// limit seen, up to safeShare of it; then it rises by probeGrowth of
	// that level per second, and by at least minProbe requests per
	// second per second (so that a low estimate does not last).
	recoveryDoubling = time.Second
	safeShare        = 0.95
	probeGrowth      = 0.005
	minProbe         = 0.01
	// throttleSettle: 429s within this time after the one that lowered
	// the pace answer requests sent before it and do not lower it again.
	throttleSettle = time.Second
	firstCeiling   = 10 // requests per second: the old fixed default
	forgetAfter    = 5 * time.Minute
)

func newPacer(limit float64) *pacer {
	if limit <= 0 {
		limit = math.Inf(1)
	}
	p := &pacer{cap: limit, current: limit, lim: rate.NewLimiter(rate.Inf, 0)}
	p.apply()
	return p
}

// apply hands the current pace to the token bucket. Called with p.mu held
// (or before p is shared).
func (p *pacer) apply() {
	if math.IsInf(p.current, 1) {
		p.lim.SetLimit(rate.Inf)
		return
	}
	// A tenth of a second's worth of burst: concurrent callers are spread
	// evenly instead of leaving together.
	p.lim.SetBurst(max(1, int(p.current/10)))
	p.lim.SetLimit(rate.Limit(p.current))
}

// errHeld marks a request refused locally because the server asked for a
// pause longer than the client waits inside a call.
var errHeld = errors.New("held by an earlier Retry-After")

func (p *pacer) wait(ctx context.Context, endpoint string) error {
	p.mu.Lock()
	hold := time.Until(p.holdUntil)
	p.mu.Unlock()
	if hold > maxRetryAfterWait {
		return markedError{&APIError{Endpoint: endpoint,
			Message:    fmt.Sprintf("the server asked for no requests until %s", time.Now().Add(hold).UTC().Format(time.RFC3339)),
			HTTPStatus: http.StatusTooManyRequests, RetryAfter: hold, Kind: ErrRateLimited}, errHeld}
	}
	if err := sleep(ctx, hold); err != nil {
		return err
	}
	if err := p.lim.Wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	p.sent.add(time.Now())
	p.mu.Unlock()
	return nil
}

// throttled records a 429 and returns how long the caller should wait.
func (p *pacer) throttled(retryAfter time.Duration) time.Duration {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if retryAfter > 0 {
		if until := now.Add(retryAfter); until.After(p.holdUntil) {
			p.holdUntil = until
		}
	}
	if !p.throttledAt.IsZero() && now.Sub(p.throttledAt) < throttleSettle {
		return retryAfter
	}
	seen := min(p.current, float64(p.sent.count(now)))
	if p.ceiling == 0 {
		// A first 429 while the client sent little (an idle poll hit by a
		// proxy's hiccup, or another client on the IP) says little about
		// the limit: take no less than firstCeiling, or one stray 429
		// would hold a burst of work to a crawl for forgetAfter. A second
		// one soon after is believed.
		seen = max(seen, min(firstCeiling, p.cap))
	}
	p.ceiling = max(seen, minRate)
	p.current = max(p.ceiling/2, min(minRate, p.cap))
	p.throttledAt = now
	p.apply()
	return retryAfter
}

// success lets the pace recover after a 429, as the type's comment says.
func (p *pacer) success() {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ceiling == 0 {
		return
	}
	since := now.Sub(p.throttledAt)
	if since >= forgetAfter {
		p.ceiling, p.current = 0, p.cap
		p.apply()
		return
	}
	safe := p.ceiling * safeShare
	r := p.ceiling / 2 * math.Exp2(float64(since)/float64(recoveryDoubling))
	if r >= safe {
		// Time since the pace reached the safe level, then a slow probe.
		reached := float64(recoveryDoubling) * math.Log2(2*safeShare)
		r = safe + max(safe*probeGrowth, minProbe)*max(0, float64(since)-reached)/float64(time.Second)
	}
	r = min(r, p.cap)
	if r > p.current {
		p.current = r
		p.apply()
	}
}

// rate returns the current pace (+Inf while unpaced).
func (p *pacer) rate() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current
}

// sendWindow counts the requests sent in the last second, in tenths of a
// second, so that a 429 can tell how fast requests were going out.
type sendWindow struct {
	slots [10]struct {
		at int64 // the tenth of a second (Unix) this slot counts
		n  int
	}
}

func (w *sendWindow) add(t time.Time) {
	tick := t.UnixMilli() / 100
	s := &w.slots[tick%10]
	if s.at != tick {
		s.at, s.n = tick, 0
	}
	s.n++
}

func (w *sendWindow) count(t time.Time) int {
	tick := t.UnixMilli() / 100
	n := 0
	for _, s := range w.slots {
		if tick-s.at < 10 {
			n += s.n
		}
	}
	return n
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
// the limits are respected from the start (api.md 13).
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
