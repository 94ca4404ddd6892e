package bind_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/watch"
)

// The watcher's batches reach the engine in tree keys: "" for the root,
// names in NFC whatever their bytes on disk; Batches closes when Run ends.
func TestWatcherHandsOnBatchesInTreeKeys(t *testing.T) {
	dir := t.TempDir()
	w, err := watch.New(watch.Options{Root: dir, Debounce: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src := bind.NewWatcher(w)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx) }()
	next := func() engine.Batch {
		t.Helper()
		select {
		case b, ok := <-src.Batches():
			if !ok {
				t.Fatalf("batches closed early: %v", <-errc)
			}
			return b
		case <-time.After(10 * time.Second):
			t.Fatal("no batch")
		}
		return engine.Batch{}
	}
	if b := next(); !b.Full {
		t.Fatalf("first batch %+v, want Full", b)
	}
	nfd := "Cafe\u0301" // "Café" decomposed, as macOS writes it
	if err := os.Mkdir(filepath.Join(dir, nfd), 0o755); err != nil {
		t.Fatal(err)
	}
	var dirs, trees []string
	for !slices.Contains(trees, "Caf\u00e9") {
		b := next()
		dirs, trees = append(dirs, b.Dirs...), append(trees, b.Trees...)
	}
	if !slices.Contains(dirs, "") {
		t.Fatalf("dirs %q, trees %q: want the root as \"\" and the new directory as its NFC key", dirs, trees)
	}
	cancel()
	for range src.Batches() {
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}
