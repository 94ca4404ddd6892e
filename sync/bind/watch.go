package bind

import (
	"context"

	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
	"github.com/syncd/syncd/sync/watch"
)

// Watcher adapts a *watch.Watcher (one pair root) to engine.ChangeSource:
// the watcher's batches, in on-disk relative paths ("." for the root),
// become batches of the engine's tree keys.
type Watcher struct {
	w   *watch.Watcher
	out chan engine.Batch
}

var _ engine.ChangeSource = (*Watcher)(nil)

// NewWatcher wraps w, which must not be running yet: Run runs it.
func NewWatcher(w *watch.Watcher) *Watcher {
	return &Watcher{w: w, out: make(chan engine.Batch)}
}

// Run runs the watcher and hands on its batches until ctx ends or the
// watcher stops, and returns the watcher's error (nil when ctx ended).
// Batches is closed when Run returns. Call it once.
func (a *Watcher) Run(ctx context.Context) error {
	defer close(a.out)
	errc := make(chan error, 1)
	go func() { errc <- a.w.Run(ctx) }()
	for b := range a.w.Batches() { // closed when the watcher's Run returns
		select {
		case a.out <- engine.Batch{Dirs: watchKeys(b.Dirs), Trees: watchKeys(b.Trees), Full: b.Full}:
		case <-ctx.Done(): // nobody takes batches any more: drop them
		}
	}
	return <-errc
}

// Batches delivers the watcher's batches in tree keys.
func (a *Watcher) Batches() <-chan engine.Batch { return a.out }

// Degraded reports whether the watcher may be missing events, and why.
func (a *Watcher) Degraded() (bool, string) { return a.w.Degraded() }

// watchKeys turns the watcher's on-disk relative paths ("." for the root)
// into the engine's tree keys.
func watchKeys(rels []string) []string {
	keys := make([]string, 0, len(rels))
	for _, r := range rels {
		if r == "." {
			r = ""
		}
		keys = append(keys, local.Key(r))
	}
	return keys
}
