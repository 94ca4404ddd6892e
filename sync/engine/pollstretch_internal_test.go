package engine

import (
	"errors"
	"testing"
	"time"
)

// Two idle hosts on one account kill each other's token at every poll
// (api.md 7): their polls are spaced, up to 8 intervals; a single host
// (its token survives) and any poll with work keep the interval (issue 14).
func TestContestedIdlePollsAreSpaced(t *testing.T) {
	idle := PassResult{Converged: true}
	half := func(d time.Duration) time.Duration { return d / 2 }
	n := 0
	var waits []time.Duration
	for range 5 {
		n = nextIdleContested(n, idle, nil, true)
		waits = append(waits, pollAfter(30*time.Second, n, half))
	}
	want := []time.Duration{45 * time.Second, 90 * time.Second, 180 * time.Second, 180 * time.Second, 180 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	for name, c := range map[string]struct {
		res  PassResult
		err  error
		lost bool
	}{
		"single host: the token survived": {idle, nil, false},
		"a poll with work":                {PassResult{Converged: true, Done: 3}, nil, true},
		"a failed pass":                   {idle, errors.New("x"), true},
		"not converged":                   {PassResult{}, nil, true},
	} {
		if got := nextIdleContested(3, c.res, c.err, c.lost); got != 0 {
			t.Errorf("%s: count %d, want 0 (the plain interval)", name, got)
		}
	}
	if d := pollAfter(30*time.Second, 0, half); d != 30*time.Second {
		t.Fatalf("uncontested poll after %v, want the interval", d)
	}
}
