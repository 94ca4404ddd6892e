package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// BenchmarkStartLargeTree measures what watching a tree of 10,000
// directories holding 100,000 files costs: the initial walk (time to the
// first batch), the number of watches and the Go heap held while running.
// (Each inotify watch also costs the kernel about 1 KiB, outside the heap.)
//
//	go test -run '^$' -bench StartLargeTree ./sync/watch
func BenchmarkStartLargeTree(b *testing.B) {
	root := b.TempDir()
	dirs, files := 0, 0
	for i := range 100 {
		for j := range 100 {
			d := filepath.Join(root, fmt.Sprintf("d%02d", i), fmt.Sprintf("e%02d", j))
			if err := os.MkdirAll(d, 0o755); err != nil {
				b.Fatal(err)
			}
			dirs++
			for k := range 10 {
				if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", k)), nil, 0o644); err != nil {
					b.Fatal(err)
				}
				files++
			}
		}
	}
	dirs += 100 + 1 // the d?? level and the root

	var heap uint64
	var watches int
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w, err := New(Options{Root: root})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		if first := <-w.Batches(); !first.Full {
			b.Fatalf("first batch %+v", first)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		watches = w.Stats().Watches
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	if watches != dirs {
		b.Fatalf("%d watches for %d directories", watches, dirs)
	}
	b.ReportMetric(float64(watches), "watches")
	b.ReportMetric(float64(heap), "heap-B")
	b.ReportMetric(float64(heap)/float64(watches), "heap-B/watch")
	b.Logf("%d directories, %d files", dirs, files)
}

// BenchmarkEventHandling measures the owning goroutine's cost per event
// (10,000 distinct directories, writes only) and the cost of building the
// resulting batch, through the fake source.
func BenchmarkEventHandling(b *testing.B) {
	root := b.TempDir()
	f := newFakeSource()
	w, err := newWatcher(Options{Root: root, Debounce: time.Hour, MaxDelay: time.Hour},
		func() (source, error) { return f, nil })
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-w.Batches()
	names := make([]string, 10000)
	for i := range names {
		names[i] = filepath.Join(root, fmt.Sprintf("d%02d/e%02d/f", i/100, i%100))
	}
	i := 0
	for b.Loop() {
		f.events <- fsnotify.Event{Name: names[i%len(names)], Op: fsnotify.Write}
		i++
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}

	h := newHints()
	for _, n := range names {
		h.addDir(filepath.ToSlash(filepath.Dir(n[len(root)+1:])))
	}
	h.addTree("d01")
	start := time.Now()
	batch := h.batch()
	b.ReportMetric(float64(time.Since(start).Microseconds()), "batch-build-µs")
	if len(batch.Dirs) != 9900 {
		b.Fatalf("batch of %d dirs, want 9900", len(batch.Dirs))
	}
}
