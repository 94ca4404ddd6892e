package remote

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
)

// holdClock is a settable clock shared by the clients of a test.
type holdClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *holdClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *holdClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// holdHost is one host's client on the emulator account, recording the
// hold-offs it would have waited instead of sleeping.
type holdHost struct {
	c     *Client
	mu    sync.Mutex
	holds []time.Duration
}

func (h *holdHost) waited() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.holds...)
}

func newHoldHosts(t *testing.T, n int) ([]*holdHost, *emulator.Server, *holdClock) {
	t.Helper()
	emu, err := emulator.New(emulator.Options{DataDir: t.TempDir(), NoSync: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	acct := emulator.DefaultAccount()
	clk := &holdClock{t: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	var hosts []*holdHost
	for range n {
		h := &holdHost{}
		c, err := New(Config{URL: srv.URL + "/api/v2/", Key1: acct.Key1, Key2: acct.Key2,
			RequestsPerSecond: 1000, RetryBaseDelay: time.Millisecond, TheftHoldOff: time.Second, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		c.wait = func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.holds = append(h.holds, d)
			return nil
		}
		h.c = c
		hosts = append(hosts, h)
	}
	return hosts, emu, clk
}

// Two hosts on one account taking the token from each other on every
// request: the first theft in a while is answered at once, the next ones
// within the window after a jittered hold-off that grows with each one in a
// row (bounded), and a quiet spell resets it.
func TestRepeatedTokenTheftHoldsOff(t *testing.T) {
	hosts, _, clk := newHoldHosts(t, 2)
	a, b := hosts[0], hosts[1]
	ctx := testCtx(t)
	info := func(h *holdHost) {
		t.Helper()
		if _, err := h.c.AccountInfo(ctx); err != nil {
			t.Fatalf("account info: %v", err)
		}
	}
	info(a)
	info(b) // authorizes: a's token is gone
	info(a) // a's first theft: at once
	info(b) // b's first: at once
	if got := append(a.waited(), b.waited()...); len(got) != 0 {
		t.Fatalf("the first theft of each host was held off: %v", got)
	}
	for round := 1; round <= 6; round++ {
		clk.advance(2 * time.Second)
		info(a)
		info(b)
		for name, h := range map[string]*holdHost{"a": a, "b": b} {
			w := h.waited()
			if len(w) != round {
				t.Fatalf("round %d: host %s held off %d times, want %d", round, name, len(w), round)
			}
			want := time.Second << min(round-1, 3)
			if got := w[round-1]; got < want/2 || got > want {
				t.Errorf("round %d: host %s held off %v, want within [%v, %v]", round, name, got, want/2, want)
			}
		}
	}
	// A quiet spell longer than the window: the next theft is the first.
	clk.advance(theftWindow + time.Second)
	info(a)
	if got := len(a.waited()); got != 6 {
		t.Errorf("a theft after a quiet spell was held off (%d hold-offs)", got)
	}
}

// A single host is never delayed: not by its first authorization, not by
// requests with a good token, and not by a token lost now and then (the
// idle lifetime ran out, another client authorized once).
func TestSingleHostIsNeverHeldOff(t *testing.T) {
	hosts, emu, clk := newHoldHosts(t, 1)
	h := hosts[0]
	ctx := testCtx(t)
	for range 20 {
		if _, err := h.c.AccountInfo(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		emu.InvalidateTokens(emulator.DefaultAccount().ID)
		if _, err := h.c.AccountInfo(ctx); err != nil {
			t.Fatal(err)
		}
		clk.advance(theftWindow + time.Second)
	}
	if w := h.waited(); len(w) != 0 {
		t.Fatalf("a single host was held off: %v", w)
	}
}
