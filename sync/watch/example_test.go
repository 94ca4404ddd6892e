package watch_test

import (
	"context"
	"fmt"
	"time"

	"github.com/syncd/syncd/sync/watch"
	"go.uber.org/zap"
)

// How an engine consumes the watcher: one goroutine runs it, the pair's
// loop takes batches and scans what they name.
func Example() {
	w, err := watch.New(watch.Options{
		Root:     "/srv/data",
		Ignore:   func(rel string, dir bool) bool { return dir && rel == "cache" },
		Debounce: time.Second,
		Logger:   zap.NewNop(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.Run(ctx) }() // returns nil once ctx is done

	for b := range w.Batches() { // closed when Run returns
		switch {
		case b.Full: // first batch, overflow, lost watches: rescan everything
		default:
			for range b.Dirs { // list the directory, compare its entries
			}
			for range b.Trees { // scan the new subtree as a whole
			}
		}
		if degraded, why := w.Degraded(); degraded {
			fmt.Println("full rescans more often:", why)
		}
	}
}
