package remote

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// Two hosts busy on one account take the token from each other (api.md 7).
// The first invalidation is answered at once, so a single host is never
// slower; a token taken again soon after our own authorization, again and
// again, holds the next authorization off, longer each time (issue 14).
func TestContestedTokenHoldsOffReauthorization(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"account/info": func(w http.ResponseWriter, r *http.Request) {
			// Another host authorizes at every one of our requests.
			writeJSON(w, apiError("Could not validate access_token, please reauthenticate or try again."))
		},
	})
	c, logs := newTestClient(t, f.url(), func(cfg *Config) { cfg.RetryBaseDelay = 40 * time.Millisecond })
	holds := func() []time.Duration {
		var out []time.Duration
		for _, e := range logs.FilterMessage("access token taken again soon after our authorization; holding off").All() {
			out = append(out, e.ContextMap()["wait"].(time.Duration))
		}
		return out
	}
	if _, err := c.AccountInfo(testCtx(t)); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrTokenInvalid", err)
	}
	if h := holds(); len(h) != 0 {
		t.Fatalf("the first invalidation waited %v: a single host would be slower", h)
	}
	for range 3 {
		c.AccountInfo(testCtx(t))
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
	c.AccountInfo(testCtx(t))
	if got := holds(); len(got) != 3 {
		t.Fatalf("an invalidation long after our authorization waited: %v", got[3:])
	}
}
