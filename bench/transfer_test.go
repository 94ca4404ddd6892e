package bench

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote"
)

// env is an emulator on loopback and a client of it configured as the
// product's defaults are (no testenv.Quick: the benchmarks measure
// transfers as syncd makes them).
type env struct {
	c   *remote.Client
	dir string
}

func newEnv(b *testing.B) *env {
	b.Helper()
	s := testenv.NewServer(b, false)
	return &env{c: s.Client(b), dir: b.TempDir()}
}

// makeFile writes size pseudo-random bytes to a file and returns its path
// and MD5, without holding the content in memory.
func makeFile(b *testing.B, dir string, size int64) (string, string) {
	b.Helper()
	p := filepath.Join(dir, fmt.Sprintf("src-%d", size))
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	h := md5.New()
	r := rand.NewChaCha8([32]byte{7})
	if _, err := io.CopyN(io.MultiWriter(f, h), r, size); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// peak samples the live heap while an operation runs and reports the
// highest value above the heap at the start, and the growth of the peak
// resident set (Linux VmHWM, reset through /proc/self/clear_refs).
type peak struct {
	stop     chan struct{}
	done     sync.WaitGroup
	base     uint64
	maxHeap  atomic.Uint64
	rssStart int64
}

func startPeak() *peak {
	runtime.GC()
	p := &peak{stop: make(chan struct{}), base: heapLive()}
	resetHWM()
	p.rssStart = procStatus("VmRSS:")
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if h := heapLive(); h > p.maxHeap.Load() {
				p.maxHeap.Store(h)
			}
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peak) report(b *testing.B) {
	close(p.stop)
	p.done.Wait()
	growth := float64(0)
	if m := p.maxHeap.Load(); m > p.base {
		growth = float64(m - p.base)
	}
	b.ReportMetric(growth/(1<<20), "peak-heap-MiB")
	if hwm := procStatus("VmHWM:"); hwm >= 0 && p.rssStart >= 0 {
		b.ReportMetric(float64(hwm-p.rssStart)/(1<<20), "peak-rss-growth-MiB")
	}
}

func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func resetHWM() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// procStatus returns a /proc/self/status field in bytes, -1 if unknown.
func procStatus(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	var kb int64
	for _, line := range splitLines(string(data)) {
		if n, _ := fmt.Sscanf(line, field+" %d kB", &kb); n == 1 {
			return kb << 10
		}
	}
	return -1
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

var sizes = []struct {
	name string
	n    int64
}{{"1MiB", 1 << 20}, {"256MiB", 256 << 20}}

func BenchmarkUpload(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			e := newEnv(b)
			path, _ := makeFile(b, e.dir, sz.n)
			open := func() (io.ReadCloser, error) { return os.Open(path) }
			known := func(remote.ID) bool { return false }
			ctx := context.Background()
			b.SetBytes(sz.n)
			b.ReportAllocs()
			b.ResetTimer()
			p := startPeak()
			for i := 0; b.Loop(); i++ {
				if _, err := e.c.Upload(ctx, remote.UploadRequest{Name: fmt.Sprintf("f%d", i), Size: sz.n, Open: open, KnownIDs: known}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			p.report(b)
		})
	}
}

func BenchmarkDownload(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			e := newEnv(b)
			path, sum := makeFile(b, e.dir, sz.n)
			ctx := context.Background()
			f, err := e.c.Upload(ctx, remote.UploadRequest{Name: "d", Size: sz.n,
				Open: func() (io.ReadCloser, error) { return os.Open(path) }, KnownIDs: func(remote.ID) bool { return false }})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(sz.n)
			b.ReportAllocs()
			b.ResetTimer()
			p := startPeak()
			for b.Loop() {
				n, err := e.c.Download(ctx, remote.DownloadRequest{ID: f.ID, Size: sz.n, MD5: sum}, io.Discard)
				if err != nil || n != sz.n {
					b.Fatal(n, err)
				}
			}
			b.StopTimer()
			p.report(b)
		})
	}
}
