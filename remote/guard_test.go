package remote

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// recordingGuard withholds when told to and records what it saw.
type recordingGuard struct {
	withhold bool
	calls    int
	outcomes []error
}

func (g *recordingGuard) Authorize(ctx context.Context, key1, key2 string, send func(context.Context) error) error {
	g.calls++
	if key1 != testKey1 || key2 != testKey2 {
		return fmt.Errorf("guard got other keys")
	}
	if g.withhold {
		return fmt.Errorf("withheld: %w", ErrBadKeys)
	}
	err := send(ctx)
	g.outcomes = append(g.outcomes, err)
	return err
}

// The guard sees every /authorize and its outcome; a pair it withholds is
// never sent, and the refusal is sticky like the server's.
func TestAuthGuardIsConsultedAroundAuthorize(t *testing.T) {
	f := newFakeAPI(t, nil)
	g := &recordingGuard{withhold: true}
	c, err := New(Config{URL: f.url(), Key1: testKey1, Key2: testKey2, AuthGuard: g})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.Authorize(context.Background()); !errors.Is(err, ErrBadKeys) {
			t.Fatalf("withheld: %v, want ErrBadKeys", err)
		}
	}
	if f.count("authorize") != 0 || g.calls != 1 || c.Refused() == nil {
		t.Fatalf("withheld pair: %d requests, %d guard calls, refused %v", f.count("authorize"), g.calls, c.Refused())
	}

	g = &recordingGuard{}
	c, _ = New(Config{URL: f.url(), Key1: testKey1, Key2: testKey2, AuthGuard: g})
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.count("authorize") != 1 || len(g.outcomes) != 1 || g.outcomes[0] != nil || c.Refused() != nil {
		t.Fatalf("allowed pair: %d requests, outcomes %v", f.count("authorize"), g.outcomes)
	}
	// A rotated token makes the client re-authorize: through the guard
	// (the listing itself has no route here; only the token check matters).
	f.rotate()
	_, _ = c.List(context.Background(), Root)
	if g.calls != 2 {
		t.Fatalf("re-authorization bypassed the guard: %d calls", g.calls)
	}
}
