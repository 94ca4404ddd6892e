package remote

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"
)

// stolenEveryTime is an API where another host authorizes at every one of
// our requests of endpoint (api.md 7).
func stolenEveryTime(t *testing.T, endpoint string) *fakeAPI {
	return newFakeAPI(t, map[string]http.HandlerFunc{
		endpoint: func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, apiError("Could not validate access_token, please reauthenticate or try again."))
		},
	})
}

// stolenAfterLiving is an API where another host authorizes at every one
// of our requests of each endpoint in lived, each time after our token
// lived that long (the client's clock moves on by it per request).
func stolenAfterLiving(t *testing.T, lived map[string]time.Duration) (*fakeAPI, *Client, *observer.ObservedLogs) {
	var mu sync.Mutex
	now := time.Now()
	handlers := map[string]http.HandlerFunc{}
	for endpoint, d := range lived {
		handlers[endpoint] = func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			now = now.Add(d)
			mu.Unlock()
			writeJSON(w, apiError("Could not validate access_token, please reauthenticate or try again."))
		}
	}
	f := newFakeAPI(t, handlers)
	c, logs := newTestClient(t, f.url(), func(cfg *Config) { cfg.RetryBaseDelay = 40 * time.Millisecond })
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	return f, c, logs
}

// holdOffs are the hold-offs the client logged.
func holdOffs(logs *observer.ObservedLogs) []time.Duration {
	var out []time.Duration
	for _, e := range logs.FilterMessage("access token taken again soon after our authorization; holding off").All() {
		out = append(out, e.ContextMap()["wait"].(time.Duration))
	}
	return out
}

// Two hosts writing to one account take the token from each other (api.md
// 7). The first invalidation is answered at once, so a single host is never
// slower; a token taken again soon after our own authorization, again and
// again, holds the next authorization off, longer each time: the two share
// the token in time slices (issue 14).
func TestContestedTokenHoldsOffReauthorization(t *testing.T) {
	f := stolenEveryTime(t, "file/edit")
	c, logs := newTestClient(t, f.url(), func(cfg *Config) { cfg.RetryBaseDelay = 40 * time.Millisecond })
	holds := func() []time.Duration { return holdOffs(logs) }
	if _, err := c.RenameFile(testCtx(t), "7", "a.txt"); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrTokenInvalid", err)
	}
	if h := holds(); len(h) != 0 {
		t.Fatalf("the first invalidation waited %v: a single host would be slower", h)
	}
	for range 3 {
		c.RenameFile(testCtx(t), "7", "a.txt")
	}
	h := holds()
	if len(h) != 3 {
		t.Fatalf("hold-offs %v, want one per contested re-authorization after the first", h)
	}
	if h[0] < 20*time.Millisecond || h[2] < 80*time.Millisecond {
		t.Fatalf("hold-offs %v do not grow from half the base delay", h)
	}
	if f.auths != 5 {
		t.Fatalf("authorize requests = %d, want 5 (one, then one per request)", f.auths)
	}

	// Long after our authorization, an invalidation is a first one again.
	now := time.Now().Add(time.Minute)
	c.now = func() time.Time { return now }
	c.RenameFile(testCtx(t), "7", "a.txt")
	if got := holds(); len(got) != 3 {
		t.Fatalf("an invalidation long after our authorization waited: %v", got[3:])
	}
}

// A client that only reads (a poll, downloads) yields the token to a host
// that writes: from the second contested invalidation it waits about
// readerWait every time, not a growing slice, so that the writer's burst
// runs on (issue 14).
func TestReaderYieldsTokenToWriter(t *testing.T) {
	f := stolenEveryTime(t, "account/info")
	c, logs := newTestClient(t, f.url(), func(cfg *Config) { cfg.RetryBaseDelay = 10 * time.Millisecond })
	c.readerWait = 200 * time.Millisecond
	for range 4 {
		c.AccountInfo(testCtx(t))
	}
	h := holdOffs(logs)
	if len(h) != 3 {
		t.Fatalf("hold-offs %v, want one per contested re-authorization after the first", h)
	}
	for _, d := range h {
		if d < 160*time.Millisecond || d > 240*time.Millisecond {
			t.Fatalf("hold-offs %v, want each within a fifth of %v", h, c.readerWait)
		}
	}
}

// A writer whose token lived yieldedAfter before another host took it takes
// it back at once: the other host had waited that long, so it only reads
// (writers never wait longer than maxHoldOff), and it waits again.
func TestWriterTakesTokenBackFromReader(t *testing.T) {
	f, c, logs := stolenAfterLiving(t, map[string]time.Duration{"file/edit": yieldedAfter})
	for range 4 {
		c.RenameFile(testCtx(t), "7", "a.txt")
	}
	if h := holdOffs(logs); len(h) != 0 {
		t.Fatalf("hold-offs %v, want none: the other host was yielding", h)
	}
	if f.auths != 5 {
		t.Fatalf("authorize requests = %d, want 5 (one, then one per request)", f.auths)
	}
}

// A download is work, not a look: a host bringing down another host's
// burst shares the token in short slices with it, rather than waiting
// readerWait at each of its idle polls.
func TestDownloadIsWorkForTheToken(t *testing.T) {
	f := stolenEveryTime(t, "file/download")
	c, logs := newTestClient(t, f.url(), func(cfg *Config) { cfg.RetryBaseDelay = 10 * time.Millisecond })
	c.readerWait = 2 * time.Second
	for range 3 {
		c.downloadURL(testCtx(t), "7")
	}
	h := holdOffs(logs)
	if len(h) != 2 {
		t.Fatalf("hold-offs %v, want one per contested re-authorization after the first", h)
	}
	for _, d := range h {
		if d >= time.Second {
			t.Fatalf("hold-offs %v: a download waited as a poll does", h)
		}
	}
}

// A client told that writes are coming (local changes wait for a pass) is
// a writer for the token before its first write: its listings take a token
// that lived yieldedAfter back at once, as a write would (issue 14: host A's
// burst waited out a reader's hold-off after an idle poll).
func TestExpectedWritesMakeAReaderAWriter(t *testing.T) {
	f, c, logs := stolenAfterLiving(t, map[string]time.Duration{"account/info": yieldedAfter})
	c.ExpectWrites(time.Hour)
	for range 4 {
		c.AccountInfo(testCtx(t))
	}
	if h := holdOffs(logs); len(h) != 0 {
		t.Fatalf("hold-offs %v, want none: writes were expected", h)
	}
	if f.auths != 5 {
		t.Fatalf("authorize requests = %d, want 5 (one, then one per request)", f.auths)
	}

	// Withdrawn, the client reads again, and yields.
	c.ExpectWrites(0)
	c.readerWait = 10 * time.Millisecond
	for range 3 {
		c.AccountInfo(testCtx(t))
	}
	if h := holdOffs(logs); len(h) == 0 {
		t.Fatal("no hold-off after the expectation was withdrawn: the reader never yields")
	}
}

// A reader sitting out a hold-off stops waiting when it is told writes are
// coming: the user's burst starts now, not at the end of the wait.
func TestExpectWritesEndsAReadersHoldOff(t *testing.T) {
	f := stolenEveryTime(t, "account/info")
	c, logs := newTestClient(t, f.url(), func(cfg *Config) { cfg.RetryBaseDelay = 10 * time.Millisecond })
	c.readerWait = time.Minute
	c.AccountInfo(testCtx(t)) // the first invalidation: no wait
	go func() {
		for len(holdOffs(logs)) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		c.ExpectWrites(time.Minute)
	}()
	done := make(chan struct{})
	go func() { c.AccountInfo(testCtx(t)); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the reader waited out its hold-off although writes were expected")
	}
	if h := holdOffs(logs); len(h) != 1 {
		t.Fatalf("hold-offs %v, want the one ExpectWrites cut short", h)
	}
}

// A writer that took the token back at once knows another host is active:
// when it only reads again, the next token taken soon after is a contested
// one, and it yields, rather than taking it once more as though it were
// the first (bench/twohosts.sh: host A's first poll after its burst took
// the token from host B's downloads of that burst, and B waited 5 s).
func TestWriterThatTookTheTokenBackYieldsWhenItOnlyReads(t *testing.T) {
	_, c, logs := stolenAfterLiving(t, map[string]time.Duration{
		"file/edit":    yieldedAfter, // the other host was yielding
		"account/info": 2 * time.Second,
	})
	c.readerWait = 20 * time.Millisecond
	for range 3 {
		c.RenameFile(testCtx(t), "7", "a.txt")
	}
	if h := holdOffs(logs); len(h) != 0 {
		t.Fatalf("the writer held off %v: the other host was yielding", h)
	}
	c.AccountInfo(testCtx(t)) // idle now (writeLinger passed), token taken 2 s after ours
	if h := holdOffs(logs); len(h) != 1 {
		t.Fatalf("hold-offs %v: the host, only reading now, took the token from the active one at once", h)
	}
}
