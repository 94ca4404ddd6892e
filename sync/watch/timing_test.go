package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// These tests drive the watcher through the fake event source inside a
// synctest bubble, so every duration below is exact, fake time.

func expectNone(t *testing.T, w *Watcher) {
	t.Helper()
	synctest.Wait()
	select {
	case b := <-w.Batches():
		t.Fatalf("unexpected batch %+v at %v", b, time.Now())
	default:
	}
}

func expectBatch(t *testing.T, w *Watcher, want Batch) {
	t.Helper()
	synctest.Wait()
	select {
	case b := <-w.Batches():
		if diff := cmp.Diff(want, b); diff != "" {
			t.Fatalf("batch (-want +got):\n%s", diff)
		}
	default:
		t.Fatalf("no batch ready at %v, want %+v", time.Now(), want)
	}
}

// limitWatches fails Add as inotify does beyond fs.inotify.max_user_watches.
func limitWatches(n int) func(path string, watched int) error {
	return func(path string, watched int) error {
		if watched >= n {
			return fmt.Errorf("add watch %s: %w", path, syscall.ENOSPC)
		}
		return nil
	}
}

func TestDebounceCoalescesPerDirectory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		mkdirs(t, root, "a", "b")
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second}, f)

		f.event(root, "a/x", fsnotify.Create)
		time.Sleep(600 * time.Millisecond)
		for i := range 100 {
			f.event(root, fmt.Sprintf("a/f%d", i), fsnotify.Write)
		}
		f.event(root, "b/y", fsnotify.Write)
		f.event(root, "a/z", fsnotify.Remove)
		time.Sleep(time.Second - time.Nanosecond)
		expectNone(t, w) // the quiet period restarted with the last event
		time.Sleep(time.Nanosecond)
		expectBatch(t, w, Batch{Dirs: []string{"a", "b"}})
		time.Sleep(time.Minute)
		expectNone(t, w)
	})
}

func TestMaxDelayUnderConstantEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		mkdirs(t, root, "a")
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second}, f)

		start := time.Now()
		var got Batch
	loop:
		for {
			f.event(root, "a/busy.log", fsnotify.Write) // never quiet for a second
			time.Sleep(500 * time.Millisecond)
			synctest.Wait()
			select {
			case got = <-w.Batches():
				break loop
			default:
			}
			if time.Since(start) > time.Minute {
				t.Fatal("no batch within a minute of constant events")
			}
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Fatalf("batch after %v of constant events, want MaxDelay 10s", d)
		}
		if diff := cmp.Diff(Batch{Dirs: []string{"a"}}, got); diff != "" {
			t.Fatalf("batch (-want +got):\n%s", diff)
		}
		// The next batch starts its own MaxDelay window.
		f.event(root, "a/busy.log", fsnotify.Write)
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Dirs: []string{"a"}})
	})
}

func TestSlowEngineGetsMergedBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		mkdirs(t, root, "a", "b")
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second}, f)

		f.event(root, "a/x", fsnotify.Write)
		time.Sleep(1500 * time.Millisecond) // batch {a} ready, engine busy
		f.event(root, "b/y", fsnotify.Write)
		time.Sleep(500 * time.Millisecond)
		// b's hint is still settling: the engine would get {a} alone now, and b next.
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Dirs: []string{"a", "b"}})
		expectNone(t, w)
		if got := w.Stats().Batches; got != 2 {
			t.Fatalf("Stats.Batches = %d, want 2 (first Full and one merged)", got)
		}
	})
}

func TestNewDirectoryIsWatchedAndHintedAsTree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second}, f)

		// mkdir -p n/a/b/c, with only the top creation reported.
		mkdirs(t, root, "n/a/b/c", "n/a/d")
		f.event(root, "n", fsnotify.Create)
		synctest.Wait()
		if diff := cmp.Diff([]string{".", "n", "n/a", "n/a/b", "n/a/b/c", "n/a/d"}, f.watchedRel(t, root)); diff != "" {
			t.Fatalf("watched (-want +got):\n%s", diff)
		}
		// The creations inside, reported once their parents are watched,
		// are subsumed by the tree.
		f.event(root, "n/a", fsnotify.Create)
		f.event(root, "n/a/b/c/f", fsnotify.Create)
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Dirs: []string{"."}, Trees: []string{"n"}})
		if got := w.Stats().Watches; got != 6 {
			t.Fatalf("Stats.Watches = %d, want 6", got)
		}

		// Moving it away drops every watch below it.
		if err := os.Rename(filepath.Join(root, "n"), filepath.Join(t.TempDir(), "gone")); err != nil {
			t.Fatal(err)
		}
		f.event(root, "n", fsnotify.Rename)
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Dirs: []string{"."}})
		if diff := cmp.Diff([]string{"."}, f.watchedRel(t, root)); diff != "" {
			t.Fatalf("watched after move out (-want +got):\n%s", diff)
		}
	})
}

func TestOverflowRewalksAndSendsFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		mkdirs(t, root, "a", "old")
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second}, f)

		// Changes whose events the overflow swallowed.
		mkdirs(t, root, "lost/deep")
		if err := os.Remove(filepath.Join(root, "old")); err != nil {
			t.Fatal(err)
		}
		f.errs <- fsnotify.ErrEventOverflow
		synctest.Wait()
		if deg, why := w.Degraded(); !deg || !strings.Contains(why, "overflow") {
			t.Fatalf("Degraded() = %v, %q after overflow", deg, why)
		}
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Full: true})
		if diff := cmp.Diff([]string{".", "a", "lost", "lost/deep"}, f.watchedRel(t, root)); diff != "" {
			t.Fatalf("watched after re-walk (-want +got):\n%s", diff)
		}
		if deg, why := w.Degraded(); deg {
			t.Fatalf("still degraded after a clean re-walk: %s", why)
		}
		if got := w.Stats().Overflows; got != 1 {
			t.Fatalf("Stats.Overflows = %d, want 1", got)
		}
		// And it keeps working, in the directory it only found by re-walking.
		f.event(root, "lost/deep/f", fsnotify.Create)
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Dirs: []string{"lost/deep"}})
	})
}

func TestWatcherErrorSendsFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second}, f)

		f.event(root, "x", fsnotify.Write)
		f.errs <- errors.New("inotify read: input/output error")
		synctest.Wait()
		if deg, why := w.Degraded(); !deg || !strings.Contains(why, "input/output error") {
			t.Fatalf("Degraded() = %v, %q after a watcher error", deg, why)
		}
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Full: true})
	})
}

func TestOutOfWatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		mkdirs(t, root, "a", "b")
		core, logs := observer.New(zapcore.WarnLevel)
		f := newFakeSource()
		f.setAddErr(limitWatches(3))
		w := startFake(t, Options{Root: root, Debounce: time.Second, Logger: zap.New(core)}, f)
		if deg, _ := w.Degraded(); deg {
			t.Fatal("degraded with watches to spare")
		}

		mkdirs(t, root, "c/d")
		f.event(root, "c", fsnotify.Create)
		synctest.Wait()
		deg, why := w.Degraded()
		if !deg || !strings.Contains(why, "fs.inotify.max_user_watches") || !strings.Contains(why, "524288") {
			t.Fatalf("Degraded() = %v, %q, want the sysctl and its fix named", deg, why)
		}
		found := logs.FilterField(zap.String("fix", "sysctl fs.inotify.max_user_watches=524288")).Len()
		if found != 1 {
			t.Fatalf("%d log entries name the fix, want 1: %v", found, logs.All())
		}
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Full: true})

		// Still out of watches: a new directory is hinted as a tree (its
		// present content is scanned) without another Full.
		mkdirs(t, root, "e")
		f.event(root, "e", fsnotify.Create)
		f.event(root, "a/f", fsnotify.Write) // what is watched still works
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Dirs: []string{".", "a"}, Trees: []string{"e"}})
		if n := logs.FilterField(zap.String("sysctl", "fs.inotify.max_user_watches")).Len(); n != 1 {
			t.Fatalf("the limit was logged %d times, want once per episode", n)
		}

		// The operator raised the limit; the next re-walk restores coverage.
		f.setAddErr(nil)
		f.errs <- fsnotify.ErrEventOverflow
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Full: true})
		if diff := cmp.Diff([]string{".", "a", "b", "c", "c/d", "e"}, f.watchedRel(t, root)); diff != "" {
			t.Fatalf("watched after the limit was raised (-want +got):\n%s", diff)
		}
		if deg, why := w.Degraded(); deg {
			t.Fatalf("still degraded: %s", why)
		}
	})
}

func TestRootRemoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "root")
		mkdirs(t, root, "a")
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second}, f)

		if err := os.RemoveAll(root); err != nil {
			t.Fatal(err)
		}
		f.event(root, ".", fsnotify.Remove)
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Full: true})
		if deg, why := w.Degraded(); !deg || !strings.Contains(why, "root") {
			t.Fatalf("Degraded() = %v, %q with the root gone", deg, why)
		}
	})
}

func TestIgnoredPathsAreNeitherWatchedNorHinted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		mkdirs(t, root, "a/cache/x", ".syncd/tmp", "b")
		ignore := func(rel string, dir bool) bool {
			return (dir && filepath.Base(rel) == "cache") || strings.HasSuffix(rel, ".tmp")
		}
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second, Ignore: ignore}, f)
		if diff := cmp.Diff([]string{".", "a", "b"}, f.watchedRel(t, root)); diff != "" {
			t.Fatalf("watched (-want +got):\n%s", diff)
		}

		f.event(root, ".syncd", fsnotify.Write)
		f.event(root, ".syncd/tmp", fsnotify.Create)
		f.event(root, "b/f.tmp", fsnotify.Create)
		f.event(root, "b/f.tmp", fsnotify.Write)
		mkdirs(t, root, "b/cache")
		f.event(root, "b/cache", fsnotify.Create)
		time.Sleep(time.Minute)
		expectNone(t, w)
		if diff := cmp.Diff([]string{".", "a", "b"}, f.watchedRel(t, root)); diff != "" {
			t.Fatalf("watched (-want +got):\n%s", diff)
		}

		// Save by rename: only the real name is hinted.
		f.event(root, "b/f.tmp", fsnotify.Rename)
		f.event(root, "b/f", fsnotify.Create)
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Dirs: []string{"b"}})
	})
}

func TestRunReleasesWatchesOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		f := newFakeSource()
		w, err := newWatcher(Options{Root: root}, func() (source, error) { return f, nil })
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		<-w.Batches()
		f.event(root, "x", fsnotify.Write) // a batch pending at cancel time
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
		if _, open := <-w.Batches(); open {
			t.Fatal("Batches still open after Run returned")
		}
		if !f.closed {
			t.Fatal("event source not closed")
		}
		if err := w.Run(ctx); err == nil {
			t.Fatal("second Run succeeded")
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	abs := t.TempDir()
	for name, o := range map[string]Options{
		"relative root":        {Root: "data"},
		"negative debounce":    {Root: abs, Debounce: -time.Second},
		"max delay < debounce": {Root: abs, Debounce: 5 * time.Second, MaxDelay: time.Second},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
	w, err := New(Options{Root: abs, Debounce: time.Minute})
	if err != nil || w.maxDelay != time.Minute {
		t.Fatalf("a debounce longer than the default max delay: %v, max delay %v", err, w.maxDelay)
	}
	w, err = New(Options{Root: abs + "/"})
	if err != nil {
		t.Fatal(err)
	}
	if w.debounce != DefaultDebounce || w.maxDelay != DefaultMaxDelay || w.root != abs {
		t.Fatalf("defaults: debounce %v, max delay %v, root %q", w.debounce, w.maxDelay, w.root)
	}
}

func TestOutOfWatchesRecoversByItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		mkdirs(t, root, "a", "b", "c")
		core, logs := observer.New(zapcore.WarnLevel)
		f := newFakeSource()
		f.setAddErr(limitWatches(3))
		w := startFake(t, Options{Root: root, Debounce: time.Second, Logger: zap.New(core)}, f)
		if deg, _ := w.Degraded(); !deg {
			t.Fatal("not degraded with a directory unwatched")
		}

		time.Sleep(retryInterval) // retried, still out of watches
		expectNone(t, w)
		if deg, _ := w.Degraded(); !deg {
			t.Fatal("not degraded with a directory unwatched")
		}
		if n := logs.FilterField(zap.String("sysctl", "fs.inotify.max_user_watches")).Len(); n != 1 {
			t.Fatalf("the limit was logged %d times, want once", n)
		}

		f.setAddErr(nil) // the operator raised the limit
		time.Sleep(retryInterval)
		expectNone(t, w) // a Full batch settles like any other
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Full: true})
		if diff := cmp.Diff([]string{".", "a", "b", "c"}, f.watchedRel(t, root)); diff != "" {
			t.Fatalf("watched (-want +got):\n%s", diff)
		}
		if deg, why := w.Degraded(); deg {
			t.Fatalf("still degraded: %s", why)
		}
		time.Sleep(10 * retryInterval) // no more retries, no more batches
		expectNone(t, w)
	})
}

func TestRootComesBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "root")
		mkdirs(t, root, "a")
		f := newFakeSource()
		w := startFake(t, Options{Root: root, Debounce: time.Second}, f)

		if err := os.RemoveAll(root); err != nil { // an unmounted disk
			t.Fatal(err)
		}
		f.event(root, ".", fsnotify.Remove)
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Full: true})
		time.Sleep(retryInterval)
		expectNone(t, w)

		mkdirs(t, root, "b") // mounted again
		time.Sleep(retryInterval + time.Second)
		expectBatch(t, w, Batch{Full: true})
		if diff := cmp.Diff([]string{".", "b"}, f.watchedRel(t, root)); diff != "" {
			t.Fatalf("watched (-want +got):\n%s", diff)
		}
		if deg, why := w.Degraded(); deg {
			t.Fatalf("still degraded: %s", why)
		}
	})
}

// OnHint fires at the first hint of each batch, a debounce before the
// batch is ready, and not again for the hints that join it: the engine
// readies its client for the pass the batch will ask for.
func TestOnHintAtTheFirstHintOfEachBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		mkdirs(t, root, "a")
		f := newFakeSource()
		var hints atomic.Int32
		w := startFake(t, Options{Root: root, Debounce: time.Second, OnHint: func() { hints.Add(1) }}, f)
		want := func(n int32, when string) {
			t.Helper()
			synctest.Wait()
			if got := hints.Load(); got != n {
				t.Fatalf("OnHint called %d times %s, want %d", got, when, n)
			}
		}
		want(0, "before any event")
		f.event(root, "a/x", fsnotify.Create)
		want(1, "at the first event")
		expectNone(t, w) // the batch is not ready yet: the hint came first
		for i := range 10 {
			f.event(root, fmt.Sprintf("a/f%d", i), fsnotify.Write)
		}
		time.Sleep(time.Second)
		expectBatch(t, w, Batch{Dirs: []string{"a"}})
		want(1, "for one batch")
		f.event(root, "a/y", fsnotify.Write)
		want(2, "after the next batch's first event")
	})
}
