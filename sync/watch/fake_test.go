package watch

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fakeSource is the event stream under the test's control. Directories are
// still walked on the real disk; only events and watch bookkeeping are fake.
type fakeSource struct {
	events chan fsnotify.Event
	errs   chan error

	mu      sync.Mutex
	watched map[string]bool
	addErr  func(path string, watched int) error // nil: every Add succeeds
	closed  bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{events: make(chan fsnotify.Event), errs: make(chan error), watched: make(map[string]bool)}
}

func (f *fakeSource) Add(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		if err := f.addErr(path, len(f.watched)); err != nil {
			return err
		}
	}
	if _, err := os.Lstat(path); err != nil {
		return err
	}
	f.watched[path] = true
	return nil
}

func (f *fakeSource) Remove(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.watched[path] {
		return fsnotify.ErrNonExistentWatch
	}
	delete(f.watched, path)
	return nil
}

func (f *fakeSource) Events() <-chan fsnotify.Event { return f.events }
func (f *fakeSource) Errors() <-chan error          { return f.errs }

func (f *fakeSource) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeSource) setAddErr(fn func(path string, watched int) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addErr = fn
}

// watchedRel lists the watched directories relative to root, sorted.
func (f *fakeSource) watchedRel(t *testing.T, root string) []string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for p := range f.watched {
		r, err := filepath.Rel(root, p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, filepath.ToSlash(r))
	}
	slices.Sort(out)
	return out
}

// event sends one event for a path relative to root; it returns once Run's
// goroutine has taken it.
func (f *fakeSource) event(root, rel string, op fsnotify.Op) {
	f.events <- fsnotify.Event{Name: filepath.Join(root, filepath.FromSlash(rel)), Op: op}
}

// startFake runs a Watcher on root with a fake source and takes its first
// (Full) batch. The watcher stops when the test ends.
func startFake(t *testing.T, opts Options, f *fakeSource) *Watcher {
	t.Helper()
	w, err := newWatcher(opts, func() (source, error) { return f, nil })
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)
	return w
}

// runWatcher runs w until the test ends, when it checks that Run returned
// nil, and takes the first batch, which must be Full.
func runWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case b := <-w.Batches():
		if !b.Full {
			t.Fatalf("first batch %+v, want Full", b)
		}
	case <-time.After(time.Minute):
		t.Fatal("no first batch")
	}
}

// mkdirs creates directories (slash paths) below root.
func mkdirs(t *testing.T, root string, rels ...string) {
	t.Helper()
	for _, r := range rels {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(r)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
