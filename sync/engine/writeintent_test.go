package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
)

// intentRemote records what the pair tells its client about coming writes
// (engine.WriteIntent), and can stir a new local change during a listing.
type intentRemote struct {
	engine.Remote
	mu      sync.Mutex
	calls   []time.Duration
	stirOne func() // called at the next listing, then cleared
}

func (r *intentRemote) ExpectWrites(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, d)
}

func (r *intentRemote) List(ctx context.Context, folder string) ([]engine.RemoteFolder, []engine.RemoteFile, error) {
	r.mu.Lock()
	stir := r.stirOne
	r.stirOne = nil
	r.mu.Unlock()
	if stir != nil {
		stir()
	}
	return r.Remote.List(ctx, folder)
}

func (r *intentRemote) last() (time.Duration, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) == 0 {
		return -1, 0
	}
	return r.calls[len(r.calls)-1], len(r.calls)
}

// The watcher's first hint of a batch makes the pair's client a writer for
// the shared token at once (issue 14: a host whose user just rewrote its
// tree yielded the token to the other host's poll and waited out a
// reader's hold-off before its burst). The pass the batch asks for
// withdraws it once it has planned (its ops then mark their own writes),
// unless another change stirred meanwhile: that one's pass is still to come.
func TestLocalChangeOnItsWayMakesTheClientAWriter(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "a")
	e.sync()
	r := &intentRemote{Remote: bind.Remote{C: e.client}}
	p := e.pairOver(r, engine.Options{})
	ctx := context.Background()
	if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true}); err != nil {
		t.Fatal(err)
	}

	e.write("b.txt", "b")
	p.LocalStirring()
	if d, _ := r.last(); d <= 0 {
		t.Fatalf("after LocalStirring the client was told %v, want writes expected", d)
	}
	p.LocalChanged([]string{""}, nil, false)
	res, err := p.Pass(ctx, engine.PassOptions{Incremental: true, LocalOnly: true})
	if err != nil || res.Done == 0 {
		t.Fatalf("pass: %+v, %v", res, err)
	}
	if d, _ := r.last(); d != 0 {
		t.Fatalf("after the pass planned the client was told %v, want the expectation withdrawn", d)
	}

	// A change stirring while a pass runs keeps the expectation: its
	// own pass has not run yet.
	e.write("c.txt", "c")
	p.LocalStirring()
	p.LocalChanged([]string{""}, nil, false)
	r.mu.Lock()
	r.stirOne = p.LocalStirring
	r.mu.Unlock()
	if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true}); err != nil {
		t.Fatal(err)
	}
	if d, n := r.last(); d <= 0 {
		t.Fatalf("a change stirred during the pass, yet the client was told %v (call %d)", d, n)
	}
	// Its pass, finding nothing more, withdraws it.
	if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true}); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.last(); d != 0 {
		t.Fatalf("the next pass left the client told %v", d)
	}
}
