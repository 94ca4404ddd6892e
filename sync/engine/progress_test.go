package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/syncd/syncd/sync/engine"
)

// Progress is reported while a plan executes: totals from the plan, counts
// that only grow, everything done at the end; Once adds up all its passes.
func TestProgressDuringExecution(t *testing.T) {
	e := newEnv(t)
	want := int64(0)
	for i := range 12 {
		c := strings.Repeat(fmt.Sprint(i), 1000+i)
		want += int64(len(c))
		e.write(fmt.Sprintf("d/f%02d.txt", i), c)
	}
	var mu sync.Mutex
	var seen []engine.Progress
	var p *engine.Pair
	core, logs := observer.New(zap.InfoLevel)
	p = e.pair(func(o *engine.Options) {
		o.Workers = 1
		o.Logger = zap.New(core)
		o.Observer = func(engine.OpEvent) {
			if pr, ok := p.Progress(); ok {
				mu.Lock()
				seen = append(seen, pr)
				mu.Unlock()
			}
		}
	})
	if _, ok := p.Progress(); ok {
		t.Fatal("progress reported before any pass")
	}
	// The pass that did all its plan ends the initial sync: the daemon
	// would look again only at its next poll.
	if _, err := p.Pass(context.Background(), engine.PassOptions{}); err != nil {
		t.Fatal(err)
	}
	done := logs.FilterMessage("initial sync done").All()
	if len(done) != 1 || done[0].ContextMap()["operations"] != int64(13) || done[0].ContextMap()["bytes"] != want {
		t.Fatalf("initial sync done lines after the first pass: %v", done)
	}
	res := e.onceWith(p)
	if !res.Converged || res.Passes != 1 || res.Done != 0 {
		t.Fatalf("once after the sync: converged %v after %d passes, %d done", res.Converged, res.Passes, res.Done)
	}
	if n := logs.FilterMessage("initial sync done").Len(); n != 1 {
		t.Fatalf("initial sync done logged %d times", n)
	}
	if len(seen) != 13 {
		t.Fatalf("%d progress samples, want one per op", len(seen))
	}
	for i, s := range seen {
		if s.FilesTotal != 13 || s.BytesTotal != want || s.FilesDone != i+1 || !s.Initial {
			t.Fatalf("sample %d: %+v; want %d/13 files of %d bytes, initial", i, s, i+1, want)
		}
		if i > 0 && s.BytesDone < seen[i-1].BytesDone {
			t.Fatalf("bytes done went back: %d then %d", seen[i-1].BytesDone, s.BytesDone)
		}
	}
	if last := seen[len(seen)-1]; last.BytesDone != want {
		t.Fatalf("last sample: %d of %d bytes", last.BytesDone, want)
	}
	if _, ok := p.Progress(); ok {
		t.Fatal("progress still reported after the pass")
	}
}

func (e *env) onceWith(p *engine.Pair) engine.PassResult {
	e.t.Helper()
	res, err := p.Once(context.Background(), engine.PassOptions{})
	if err != nil {
		e.t.Fatalf("once: %v", err)
	}
	return res
}
