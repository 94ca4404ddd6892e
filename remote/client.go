package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Config configures a Client.
type Config struct {
	// URL is the API base, e.g. https://host/api/v2/. http:// is allowed
	// only for loopback hosts.
	URL string
	// Key1 and Key2 are the account's API key pair, 64 characters each.
	Key1, Key2 string
	// HTTPClient is optional. The client uses a copy of it with its own
	// cookie jar for API calls (api.md 16) and a copy without any jar
	// for download URLs.
	HTTPClient *http.Client
	// Logger is optional (zap.NewNop).
	Logger *zap.Logger
	// RequestsPerSecond caps API requests; 0 means no fixed cap: the
	// client then paces itself by the server's answers (see pacer).
	RequestsPerSecond float64
	// MaxRetries bounds the retries of a retryable failure; 0 means
	// DefaultMaxRetries, a negative value means none.
	MaxRetries int
	// RetryBaseDelay is the first backoff delay, doubled per retry with
	// full jitter and capped at 30 s; 0 means 500 ms.
	RetryBaseDelay time.Duration
	// Now is the clock used for the download day-quota; nil means time.Now.
	Now func() time.Time
	// StallTimeout abandons an upload or download whose bytes stopped
	// moving for this long (the transfer is then retried or resumed); 0
	// means DefaultStallTimeout, negative disables it.
	StallTimeout time.Duration
	// AuthGuard, when set, is consulted around every /authorize (see
	// AuthGuard).
	AuthGuard AuthGuard
	// Jitter spreads the retry delays: it returns a duration in [0, max]
	// and must be safe for concurrent use. Nil: uniformly random. The
	// simulation seeds it so that a run is a function of its seed.
	Jitter func(max time.Duration) time.Duration
}

// AuthGuard decides whether a key pair may be sent to /authorize and learns
// how each attempt ended. Five failed authorizations lock the client's IP
// out for a day (api.md 9), and the count is the IP's, not the process's:
// a guard remembers refusals where every process of the host sees them.
//
// Authorize calls send at most once, unless it withholds the request, and
// returns send's error or its own. To withhold the request it returns an
// error wrapping ErrBadKeys, which the client then treats as a refusal by
// the server. send's error is classified: errors.Is(err, ErrBadKeys) or
// ErrNoAPIAccess means the server refused the key pair.
type AuthGuard interface {
	Authorize(ctx context.Context, key1, key2 string, send func(context.Context) error) error
}

// Defaults for Config's zero values.
const (
	DefaultMaxRetries   = 5
	DefaultStallTimeout = 2 * time.Minute
)

const (
	maxBackoff        = 30 * time.Second
	maxRetryAfterWait = 2 * time.Minute
)

// Client speaks the File Upload API v2. It is safe for concurrent use; all
// its requests share one access token (api.md 7).
type Client struct {
	base       *url.URL
	key1, key2 string
	api        *http.Client // with a cookie jar
	files      *http.Client // for download URLs: no jar, no credentials
	log        *zap.Logger
	lim        *pacer
	maxRetries int
	baseDelay  time.Duration
	readerWait time.Duration // readerHoldOff, scaled down with a shorter RetryBaseDelay (tests)
	jitter     func(time.Duration) time.Duration
	stall      time.Duration
	now        func() time.Time
	guard      AuthGuard // nil: none

	// authSlot serialises authorizations so that many requests seeing the
	// same invalidated token cause one /authorize (a channel, not a mutex,
	// so that waiting honours ctx).
	authSlot chan struct{}

	mu        sync.Mutex // guards the fields below
	token     string
	accountID string
	tokenGen  uint64 // incremented on every new token
	// authAt is when the client last obtained a token; contested counts
	// the invalidations in a row that came within contestWindow of it
	// (another host sharing the keys is active: see reauthorize).
	authAt    time.Time
	contested int
	// writes counts the calls in flight that change the account; wroteAt
	// is when the last one ended (see writing).
	writes  int
	wroteAt time.Time
	// expectUntil: the caller said writes are coming (ExpectWrites); the
	// client counts as writing until then. wake ends a reader's hold-off
	// when that happens during it.
	expectUntil time.Time
	wake        chan struct{}
	losses      uint64 // requests refused because another client took the token
	authErr     error  // sticky ErrBadKeys / ErrNoAPIAccess
	limits      Limits
	limitsSet   bool

	uploads   *gate
	downloads *gate
	quota     *downloadQuota
}

// New checks cfg and returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimSpace(cfg.URL))
	if err != nil {
		return nil, fmt.Errorf("remote: api url: %w", err)
	}
	switch base.Scheme {
	case "https":
	case "http":
		if !isLoopback(base.Hostname()) {
			return nil, fmt.Errorf("remote: api url %s: plain http is allowed only for loopback hosts", base.Redacted())
		}
	default:
		return nil, fmt.Errorf("remote: api url %s: scheme must be https", base.Redacted())
	}
	if base.Host == "" {
		return nil, fmt.Errorf("remote: api url %q has no host", base.Redacted())
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	base.RawQuery, base.Fragment, base.User = "", "", nil
	if len(cfg.Key1) != 64 || len(cfg.Key2) != 64 {
		return nil, &APIError{Endpoint: "authorize", Message: "key1 and key2 must be 64 characters each", Kind: ErrBadKeys}
	}
	api := &http.Client{}
	if cfg.HTTPClient != nil {
		*api = *cfg.HTTPClient
	} else {
		api.Transport = defaultTransport()
	}
	files := *api
	files.Jar = nil
	if api.Jar == nil {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, fmt.Errorf("remote: cookie jar: %w", err)
		}
		api.Jar = jar
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultMaxRetries
	case retries < 0:
		retries = 0
	}
	delay := cfg.RetryBaseDelay
	if delay <= 0 {
		delay = defaultBaseDelay
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	stall := cfg.StallTimeout
	if stall == 0 {
		stall = DefaultStallTimeout
	}
	jitter := cfg.Jitter
	if jitter == nil {
		jitter = func(max time.Duration) time.Duration { return rand.N(max + 1) }
	}
	return &Client{
		base:       base,
		key1:       cfg.Key1,
		key2:       cfg.Key2,
		api:        api,
		files:      &files,
		log:        log.Named("remote"),
		lim:        newPacer(cfg.RequestsPerSecond),
		maxRetries: retries,
		baseDelay:  delay,
		readerWait: min(readerHoldOff, delay*(readerHoldOff/defaultBaseDelay)),
		jitter:     jitter,
		stall:      stall,
		now:        now,
		authSlot:   make(chan struct{}, 1),
		wake:       make(chan struct{}, 1),
		guard:      cfg.AuthGuard,
		uploads:    newGate(),
		downloads:  newGate(),
		quota:      &downloadQuota{},
	}, nil
}

func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// The server answers an upload only after storing it; a long silence
	// after the request is written means a lost reply.
	t.ResponseHeaderTimeout = 10 * time.Minute
	// Every connection keeps its two buffers for its whole life, and the
	// engine keeps up to the account's concurrent uploads (100) of them:
	// at 256 KiB each they were half of a first sync's heap. Transfers
	// bypass them anyway: an upload's headers are flushed on their own and
	// its streamed body goes to the socket through io.Copy (32 KiB writes,
	// a small file in one), and a download's or a reply's reads of at least
	// the buffer's size go straight into the caller's buffer. What is left
	// to them is headers and the API's small form bodies and replies.
	t.WriteBufferSize = 8 << 10
	t.ReadBufferSize = 16 << 10
	// The engine keeps dozens of requests in flight (up to the account's
	// concurrent uploads plus its metadata calls). With the default of 2
	// idle connections per host, each burst closed the rest and dialled
	// them again: about one request in ten paid a TCP connect, the
	// buffers above and the server's accept.
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	return t
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactor returns a redactor knowing the current secrets.
func (c *Client) redactor() redactor {
	c.mu.Lock()
	defer c.mu.Unlock()
	return redactor{secrets: []string{c.key1, c.key2, c.token}}
}

// session is the token a request was made with.
type session struct {
	token, accountID string
	gen              uint64
}

// Authorize obtains the shared access token unless the client holds one
// already. After ErrBadKeys or ErrNoAPIAccess the client refuses to try
// again: five failures lock the IP out for a day (api.md 9).
func (c *Client) Authorize(ctx context.Context) error {
	_, err := c.session(ctx)
	return err
}

// current returns the token held and the sticky authorization error.
func (c *Client) current() (session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return session{c.token, c.accountID, c.tokenGen}, c.authErr
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error { return sleepOrWake(ctx, d, nil) }

// sleepOrWake is sleep that also ends early when wake delivers.
func sleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// session returns the current token, authorizing when there is none.
func (c *Client) session(ctx context.Context) (session, error) {
	s, authErr := c.current()
	if authErr != nil {
		return session{}, authErr
	}
	if s.token != "" {
		return s, nil
	}
	return c.reauthorize(ctx, s.gen)
}

// reauthorize replaces the token of generation stale. When another caller
// has already replaced it, the newer token is returned without a request:
// N requests that saw the same invalid token cause one /authorize.
func (c *Client) reauthorize(ctx context.Context, stale uint64) (session, error) {
	select {
	case c.authSlot <- struct{}{}:
	case <-ctx.Done():
		return session{}, ctx.Err()
	}
	defer func() { <-c.authSlot }()

	s, authErr := c.current()
	if authErr != nil {
		return session{}, authErr
	}
	if s.gen != stale && s.token != "" {
		return s, nil
	}
	select {
	case <-c.wake: // an ExpectWrites from before: holdOff sees its effect
	default:
	}
	if d, reader := c.holdOff(s.token != ""); d > 0 {
		// Every request that saw the token die waits here, behind the
		// slot, and goes on with the one token this call gets.
		c.log.Info("access token taken again soon after our authorization; holding off",
			zap.Duration("wait", d), zap.Int("in_a_row", c.contested))
		var wake <-chan struct{}
		if reader {
			// A reader that learns, while it waits, that writes are coming
			// (ExpectWrites) is a writer now, and stops yielding.
			wake = c.wake
		}
		if err := sleepOrWake(ctx, d, wake); err != nil {
			return session{}, err
		}
	}
	params := url.Values{"key1": {c.key1}, "key2": {c.key2}}
	send := func(ctx context.Context) error {
		env, err := c.retry(ctx, "authorize", true, func(ctx context.Context) (envelope, error) {
			return c.send(ctx, "authorize", formRequest(params))
		})
		if err != nil {
			return err
		}
		tok, acct, err := decodeAuth(env)
		if err != nil {
			return &APIError{Endpoint: "authorize", Message: err.Error(), HTTPStatus: 200, Kind: ErrTransient}
		}
		c.mu.Lock()
		c.token, c.accountID = tok, acct
		c.tokenGen++
		c.authAt = c.now()
		s = session{c.token, c.accountID, c.tokenGen}
		c.mu.Unlock()
		return nil
	}
	var err error
	if c.guard != nil {
		err = c.guard.Authorize(ctx, c.key1, c.key2, send)
	} else {
		err = send(ctx)
	}
	if err == nil {
		c.log.Info("authorized", zap.Uint64("token_generation", s.gen))
		return s, nil
	}
	if errors.Is(err, ErrBadKeys) || errors.Is(err, ErrNoAPIAccess) {
		c.mu.Lock()
		c.authErr = err
		c.mu.Unlock()
		c.log.Error("authorization refused; not trying again", zap.Error(err))
	}
	return session{}, err
}

// contestWindow: a token invalidated this soon after the client obtained
// it was taken by another host sharing the keys, busy at the same time
// (api.md 7).
const contestWindow = 10 * time.Second

// readOnly reports whether endpoint only looks at the account: a client
// whose calls are all of these (a poll) yields the token to one at work
// (see holdOff). A download is work: a host bringing down another's burst
// must not lose the token to that host's idle polls, each of which would
// cost it a hold-off (measured: a 1,188-file download pass cut every
// 6 s by 6 s waits).
func readOnly(endpoint string) bool {
	switch endpoint {
	case "folder/listing", "folder/info", "file/info", "account/info", "account/package":
		return true
	}
	return false
}

// writeLinger keeps a client writing for a moment after its last write
// ended: the gaps between one op's steps, or between batches.
const writeLinger = time.Second

func (c *Client) beginWrite() {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
}

func (c *Client) endWrite() {
	c.mu.Lock()
	c.writes--
	c.wroteAt = c.now()
	c.mu.Unlock()
}

// writing reports whether the client changes the account now, or was told
// it will soon (ExpectWrites). Called with c.mu held.
func (c *Client) writing() bool {
	now := c.now()
	return c.writes > 0 || !c.wroteAt.IsZero() && now.Sub(c.wroteAt) < writeLinger || now.Before(c.expectUntil)
}

// ExpectWrites tells the client that the caller has changes to send soon
// (local changes wait for a pass): for the next d it counts as writing
// for the shared token, as though a write were in flight, and a hold-off
// it is sitting out as a reader ends now. Without it a host whose user
// has just rewritten its tree, but whose last calls were an idle poll's,
// yields the token to the other host's poll and waits out a reader's
// hold-off before its burst can start (measured: 6 s of a 35 s two-host
// burst). d <= 0 withdraws the expectation (the pass found nothing to
// send).
func (c *Client) ExpectWrites(d time.Duration) {
	c.mu.Lock()
	if d <= 0 {
		c.expectUntil = time.Time{}
		c.mu.Unlock()
		return
	}
	c.expectUntil = c.now().Add(d)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// holdOff is how long to wait before replacing a token that was
// invalidated (invalidated: the client held one; false for a first
// authorization). Two hosts busy at once would otherwise trade the token on
// every request, each authorization killing the other's requests in
// flight. A token that dies long after our authorization (contestWindow)
// never waits, nor does the first that dies soon after: a single host,
// whose token only dies of age, is never slower. From the second
// invalidation in a row within contestWindow another host is busy, and who
// waits depends on what each does (api.md 7, 9):
//
//   - A client that only looks (a poll: see readOnly) yields to one at
//     work (uploads, changes, downloads; "writing" below): it waits
//     readerHoldOff before taking the token back. Its poll would see the
//     other's work half done; after the burst it sees it whole. A client
//     told that writes are coming (ExpectWrites) is a writer already, and
//     one told so during its wait stops waiting.
//   - A writer takes the token back at once when it had held it for
//     yieldedAfter or longer: the host that took it had waited that long,
//     so it was yielding (writers never wait that long), and it waits
//     again. The writer's burst goes on almost at its single-host speed.
//   - Two writers share the token in time slices: the wait grows as the
//     retry backoff does (RetryBaseDelay doubled per invalidation, up to
//     maxHoldOff, jittered with the client's Jitter so that the hosts do not
//     retry in step).
//
// Authorizations with good keys never count toward the IP lockout (api.md
// 9), so the waits cost no lockout risk, only time. Called with authSlot
// held.
func (c *Client) holdOff(invalidated bool) (wait time.Duration, reader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lived := c.now().Sub(c.authAt)
	if !invalidated || c.authAt.IsZero() || lived >= contestWindow {
		c.contested = 0
		return 0, false
	}
	c.contested++
	writing := c.writing()
	if writing && lived >= c.readerWait/11*8 { // yieldedAfter, as scaled
		// Taken back at once, but the other host is still active: the
		// next invalidation within the window is a contested one, so that
		// this host, idle by then, yields to the other's work instead of
		// taking the token once more as though it were the first
		// (bench/twohosts.sh: host A's first poll after its burst took the
		// token from host B's downloads, and B waited 5 s).
		c.contested = 1
		return 0, false
	}
	if c.contested < 2 {
		return 0, false
	}
	if !writing {
		return c.readerWait - c.readerWait/5 + c.jitter(2*c.readerWait/5), true
	}
	d := c.baseDelay << min(c.contested-2, 16)
	if d <= 0 || d > maxHoldOff {
		d = maxHoldOff
	}
	return d/2 + c.jitter(d/2), false
}

// maxHoldOff caps a writer's hold-off: it is a time slice, the stretch the
// other writer gets on its token, not a retry backoff. Longer, and the
// writer that holds off starves: the busy host takes the token back at the
// first request after our authorization (its own lived long, so it does
// not wait), before our work is through (measured: waits of 23 s, 29 in a
// row, host B not converged after 10 minutes of a 1,475-file burst).
const maxHoldOff = 2 * time.Second

// yieldedAfter: a token that lived this long before another host took it
// was taken by a reader that had waited readerHoldOff (a writer waits at
// most maxHoldOff).
const yieldedAfter = 2 * maxHoldOff

// readerHoldOff is how long a client that only reads waits before it takes
// the token from a busy host, give or take a fifth (jitter); always more
// than yieldedAfter, so that a writer tells it from another writer. It
// bounds how long a reader lags behind once the writer's burst ends. Both
// shrink with a RetryBaseDelay below the default (tests, the simulation).
const readerHoldOff = yieldedAfter / 8 * 11

// defaultBaseDelay is RetryBaseDelay's default.
const defaultBaseDelay = 500 * time.Millisecond

// TokenLosses counts the requests refused because another client sharing
// the keys had taken the token (api.md 7): the daemon's loop spaces its
// idle polls by it.
func (c *Client) TokenLosses() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.losses
}

// Refused returns the refusal (wrapping ErrBadKeys or ErrNoAPIAccess) that
// made the client stop authorizing, or nil.
func (c *Client) Refused() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authErr
}

// Close disables the access token (disable_access_token) and releases idle
// connections. The client authorizes again if used afterwards.
func (c *Client) Close(ctx context.Context) error {
	defer c.files.CloseIdleConnections()
	defer c.api.CloseIdleConnections()
	c.mu.Lock()
	tok, acct := c.token, c.accountID
	c.token, c.accountID = "", ""
	c.tokenGen++
	c.mu.Unlock()
	if tok == "" {
		return nil
	}
	params := url.Values{"access_token": {tok}, "account_id": {acct}}
	_, err := c.retry(ctx, "disable_access_token", true, func(ctx context.Context) (envelope, error) {
		return c.send(ctx, "disable_access_token", formRequest(params))
	})
	if errors.Is(err, ErrTokenInvalid) {
		return nil // already gone: what Close wanted
	}
	return err
}

// requestBuilder builds one attempt's request body; it is called once per
// attempt so that streamed bodies are reopened.
type requestBuilder func(ctx context.Context, u string) (*http.Request, error)

func formRequest(params url.Values) requestBuilder {
	body := params.Encode()
	return func(ctx context.Context, u string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}
}

// call performs an authenticated API request with token refresh, rate
// limiting and, for idempotent requests, retries.
func (c *Client) call(ctx context.Context, endpoint string, params url.Values, idempotent bool) (envelope, error) {
	return c.authed(ctx, endpoint, idempotent, func(s session) requestBuilder {
		p := url.Values{}
		for k, v := range params {
			p[k] = v
		}
		p.Set("access_token", s.token)
		p.Set("account_id", s.accountID)
		return formRequest(p)
	})
}

// authed runs build with the shared token; when the server says the token
// is invalid it re-authorizes once and tries again (api.md 7, 8).
func (c *Client) authed(ctx context.Context, endpoint string, idempotent bool, build func(session) requestBuilder) (envelope, error) {
	if !readOnly(endpoint) {
		c.beginWrite()
		defer c.endWrite()
	}
	s, err := c.session(ctx)
	if err != nil {
		return envelope{}, err
	}
	for refreshed := false; ; refreshed = true {
		env, err := c.retry(ctx, endpoint, idempotent, func(ctx context.Context) (envelope, error) {
			return c.send(ctx, endpoint, build(s))
		})
		if !errors.Is(err, ErrTokenInvalid) || refreshed {
			return env, err
		}
		c.log.Info("access token invalidated; re-authorizing", zap.String("endpoint", endpoint))
		c.mu.Lock()
		c.losses++
		c.mu.Unlock()
		if s, err = c.reauthorize(ctx, s.gen); err != nil {
			return envelope{}, err
		}
	}
}

// retry runs attempt until it succeeds, fails permanently, or retries are
// exhausted. Rate-limited attempts are always repeated (the proxy refused
// them before the application saw them); transient failures are repeated
// only for idempotent requests, or when the request provably never left.
func (c *Client) retry(ctx context.Context, endpoint string, idempotent bool, attempt func(context.Context) (envelope, error)) (envelope, error) {
	for n := 0; ; n++ {
		env, err := attempt(ctx)
		if err == nil {
			c.lim.success()
			return env, nil
		}
		if ctx.Err() != nil {
			return envelope{}, fmt.Errorf("%s: %w", endpoint, context.Cause(ctx))
		}
		var wait time.Duration
		switch {
		case errors.Is(err, errHeld):
			return envelope{}, err
		case errors.Is(err, ErrRateLimited):
			wait = c.lim.throttled(retryAfterOf(err))
			if wait > maxRetryAfterWait {
				// Hours of waiting inside one call would hide the state from
				// the caller; it gets the error with RetryAfter instead.
				return envelope{}, err
			}
		case errors.Is(err, ErrTransient) && (idempotent || errors.Is(err, errNotSent)):
		default:
			return envelope{}, err
		}
		if n >= c.maxRetries {
			return envelope{}, err
		}
		wait = max(wait, c.backoff(n))
		c.log.Warn("retrying", zap.String("endpoint", endpoint), zap.Int("attempt", n+1),
			zap.Duration("wait", wait), zap.Error(err))
		if serr := sleep(ctx, wait); serr != nil {
			return envelope{}, fmt.Errorf("%s: %w (last failure: %v)", endpoint, serr, err)
		}
	}
}

// backoff is the n-th delay: exponential, jittered over its upper half so
// that clients that failed together do not retry together.
func (c *Client) backoff(n int) time.Duration {
	d := c.baseDelay << min(n, 16)
	if d <= 0 || d > maxBackoff {
		d = maxBackoff
	}
	return d/2 + c.jitter(d/2)
}

func retryAfterOf(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// errNotSent marks a transport failure that proves the request never
// reached the server.
var errNotSent = errors.New("request not sent")

// maxReplyBytes bounds API reply bodies (a folder listing of many
// thousand entries fits easily).
const maxReplyBytes = 256 << 20

// readReply reads a reply body whole: into one buffer of the announced
// size when the server announced one (a listing of a thousand entries is a
// quarter megabyte, and growing a buffer to it copies it over and over),
// else as it comes. net/http ends the body at its Content-Length and fails
// a shorter one with io.ErrUnexpectedEOF.
func readReply(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= maxReplyBytes {
		body := make([]byte, n)
		m, err := io.ReadFull(resp.Body, body)
		return body[:m], err
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
}

// send performs one HTTP exchange with the API and classifies the result.
func (c *Client) send(ctx context.Context, endpoint string, build requestBuilder) (envelope, error) {
	if err := c.lim.wait(ctx, endpoint); err != nil {
		return envelope{}, err
	}
	req, err := build(ctx, c.base.String()+endpoint)
	if err != nil {
		return envelope{}, fmt.Errorf("%s: build request: %w", endpoint, err)
	}
	start := time.Now()
	resp, err := c.api.Do(req)
	if err != nil {
		terr := transportError(ctx, endpoint, err)
		c.log.Debug("request failed", zap.String("endpoint", endpoint), zap.Duration("took", time.Since(start)), zap.Error(terr))
		var ae *APIError
		if notSent(err) && errors.As(terr, &ae) {
			return envelope{}, markedError{ae, errNotSent}
		}
		return envelope{}, terr
	}
	defer resp.Body.Close()
	body, err := readReply(resp)
	if err != nil {
		return envelope{}, transportError(ctx, endpoint, err)
	}
	c.log.Debug("request", zap.String("endpoint", endpoint), zap.Int("http_status", resp.StatusCode),
		zap.Duration("took", time.Since(start)), zap.Int("reply_bytes", len(body)))
	return c.interpret(endpoint, resp, body)
}

// interpret turns an HTTP reply into an envelope or a classified error.
func (c *Client) interpret(endpoint string, resp *http.Response, body []byte) (envelope, error) {
	red := c.redactor()
	mkErr := func(msg string, kind error) error {
		return &APIError{
			Endpoint:   endpoint,
			Message:    red.clean(msg),
			HTTPStatus: resp.StatusCode,
			RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
			Kind:       kind,
		}
	}
	env, derr := decodeEnvelope(body)
	if resp.StatusCode != http.StatusOK {
		msg := http.StatusText(resp.StatusCode)
		if derr == nil && env.message != "" {
			msg = env.message
		} else if nj := (*errNotJSON)(nil); errors.As(derr, &nj) && len(bytes.TrimSpace(body)) > 0 {
			msg = nj.summary
		}
		return envelope{}, mkErr(msg, classifyHTTP(resp.StatusCode))
	}
	if derr != nil {
		var nj *errNotJSON
		errors.As(derr, &nj)
		return envelope{}, mkErr(nj.summary, ErrTransient)
	}
	switch env.status {
	case "error", "fail", "failed":
		msg := env.message
		if msg == "" {
			msg = "error without a message"
		}
		return envelope{}, mkErr(msg, classifyMessage(endpoint, msg))
	case "success", "ok":
		return env, nil
	case "":
		if env.data() != nil {
			return env, nil
		}
		return envelope{}, mkErr("reply without status or data", ErrTransient)
	}
	return envelope{}, mkErr("unknown status "+env.status, ErrTransient)
}

// badReply wraps a decoding failure of a successful reply.
func badReply(endpoint string, id ID, err error) error {
	what := endpoint
	if id != "" {
		what += " " + string(id)
	}
	return &APIError{Endpoint: what, Message: "unreadable reply: " + err.Error(), HTTPStatus: 200, Kind: ErrTransient}
}
