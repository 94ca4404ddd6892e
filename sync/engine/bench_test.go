package engine_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
)

var (
	benchFiles   = flag.Int("bench.files", 100_000, "files in the no-change pass benchmark")
	benchUploads = flag.Int("bench.uploads", 10_000, "files in the initial upload benchmark")
)

// countingRemote measures what the engine asks of the remote: requests by
// kind and how many uploads are in flight over time.
type countingRemote struct {
	engine.Remote
	mu        sync.Mutex
	calls     map[string]int
	inflight  int
	maxFlight int
	area      time.Duration // integral of in-flight uploads over time
	last      time.Time
}

func newCounting(r engine.Remote) *countingRemote {
	return &countingRemote{Remote: r, calls: map[string]int{}, last: time.Now()}
}

func (c *countingRemote) note(kind string, delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.area += time.Duration(c.inflight) * now.Sub(c.last)
	c.last = now
	if kind != "" {
		c.calls[kind]++
	}
	c.inflight += delta
	c.maxFlight = max(c.maxFlight, c.inflight)
}

func (c *countingRemote) List(ctx context.Context, folder string) ([]engine.RemoteFolder, []engine.RemoteFile, error) {
	c.note("list", 0)
	return c.Remote.List(ctx, folder)
}

func (c *countingRemote) Upload(ctx context.Context, u engine.Upload) (engine.RemoteFile, error) {
	c.note("upload", 1)
	defer c.note("", -1)
	return c.Remote.Upload(ctx, u)
}

func (c *countingRemote) FileInfo(ctx context.Context, id string) (engine.RemoteFile, error) {
	c.note("file-info", 0)
	return c.Remote.FileInfo(ctx, id)
}

func (c *countingRemote) Download(ctx context.Context, id string, size int64, w io.Writer, p func(int64)) (string, error) {
	c.note("download", 0)
	return c.Remote.Download(ctx, id, size, w, p)
}

func (c *countingRemote) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.area, c.last, c.maxFlight = map[string]int{}, 0, time.Now(), c.inflight
}

// peakRSS is the process's high-water resident set size in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// writeTree makes n small files in folders of 1,000.
func writeTree(tb testing.TB, dir string, n int) {
	tb.Helper()
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		p := filepath.Join(sub, fmt.Sprintf("f%06d.txt", i))
		if err := os.WriteFile(p, []byte(fmt.Sprintf("file %d\n", i)), 0o644); err != nil {
			tb.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(p, old, old)
	}
}

// BenchmarkInitialUpload measures an initial upload of many small files
// and how busy it keeps the account's concurrent_uploads.
func BenchmarkInitialUpload(b *testing.B) {
	for range b.N {
		b.StopTimer()
		acct := emulator.DefaultAccount()
		acct.ConcurrentUploads = 8
		e := newEnvTB(b, func(o *emulator.Options) {
			o.Accounts = []emulator.Account{acct}
			o.Latency = 2 * time.Millisecond // a network, not a memcpy
		})
		writeTree(b, e.dir, *benchUploads)
		cr := newCounting(bind.Remote{C: e.client})
		p := e.pairOver(cr, engine.Options{ValidLocalName: testenv.ValidLocalName})
		b.StartTimer()
		start := time.Now()
		res, err := p.Once(context.Background(), engine.PassOptions{})
		el := time.Since(start)
		b.StopTimer()
		if err != nil || !res.Converged && !res.Complete {
			b.Fatalf("initial upload: %v %+v", err, res.Errors)
		}
		cr.note("", 0)
		b.ReportMetric(float64(*benchUploads)/el.Seconds(), "files/s")
		b.ReportMetric(cr.area.Seconds()/el.Seconds(), "avg_uploads_in_flight")
		b.ReportMetric(float64(cr.maxFlight), "max_uploads_in_flight")
		b.ReportMetric(float64(acct.ConcurrentUploads), "concurrent_uploads")
	}
}

// BenchmarkNoChangePass measures a pass over a large synced tree with no
// change: scan time, requests (listings only), memory.
func BenchmarkNoChangePass(b *testing.B) {
	e := newEnvTB(b)
	writeTree(b, e.dir, *benchFiles)
	setupStart := time.Now()
	p := e.bind().Pair(e.cfg, engine.Options{ValidLocalName: testenv.ValidLocalName})
	if res, err := p.Once(context.Background(), engine.PassOptions{}); err != nil || !res.Converged && !res.Complete {
		b.Fatalf("initial sync: %v", err)
	}
	b.Logf("initial sync of %d files took %s", *benchFiles, time.Since(setupStart))
	cr := newCounting(bind.Remote{C: e.client})
	p = e.pairOver(cr, engine.Options{ValidLocalName: testenv.ValidLocalName})
	p.Pass(context.Background(), engine.PassOptions{}) // warm the page cache
	runtime.GC()
	cr.reset()
	var scan, list, plan time.Duration
	passes := 0
	// b.Loop runs the setup above once, however many iterations follow.
	for b.Loop() {
		res, err := p.Pass(context.Background(), engine.PassOptions{})
		if err != nil || len(res.Plan.Ops) != 0 {
			b.Fatalf("no-change pass planned %d ops: %v", len(res.Plan.Ops), err)
		}
		scan += res.ScanTime
		list += res.ListTime
		plan += res.PlanTime
		passes++
	}
	n := float64(passes)
	b.ReportMetric(scan.Seconds()/n, "scan_s/pass")
	b.ReportMetric(list.Seconds()/n, "list_s/pass")
	b.ReportMetric(plan.Seconds()/n, "plan_s/pass")
	var other int
	for k, v := range cr.calls {
		if k != "list" {
			other += v
		}
	}
	b.ReportMetric(float64(cr.calls["list"])/n, "listings/pass")
	b.ReportMetric(float64(other)/n, "other_requests/pass")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_MiB")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak_rss_MiB")
}

// BenchmarkLocalChangePass measures what the daemon does on a local write
// in a large synced tree: one watcher-named directory rescanned, the
// cached listings reused, one upload. Its time is most of the
// write-to-synced latency beyond the debounce.
func BenchmarkLocalChangePass(b *testing.B) {
	e := newEnvTB(b)
	writeTree(b, e.dir, *benchFiles)
	p := e.bind().Pair(e.cfg, engine.Options{ValidLocalName: testenv.ValidLocalName})
	ctx := context.Background()
	if res, err := p.Once(ctx, engine.PassOptions{}); err != nil || !res.Converged && !res.Complete {
		b.Fatalf("initial sync: %v", err)
	}
	if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true}); err != nil {
		b.Fatal(err)
	}
	var scan, list, plan, exec time.Duration
	i := 0
	for b.Loop() {
		i++
		name := fmt.Sprintf("d000/new%06d.txt", i)
		b.StopTimer()
		e.write(name, fmt.Sprintf("change %d", i))
		p.LocalChanged([]string{"d000"}, nil, false)
		b.StartTimer()
		res, err := p.Pass(ctx, engine.PassOptions{Incremental: true, LocalOnly: true})
		if err != nil || res.Done != 1 {
			b.Fatalf("local change pass: %v, %d done", err, res.Done)
		}
		scan += res.ScanTime
		list += res.ListTime
		plan += res.PlanTime
		exec += res.ExecTime
		// The pass that follows the daemon's own upload (its echo).
		b.StopTimer()
		if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true, LocalOnly: true}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(i)
	b.ReportMetric(scan.Seconds()/n, "scan_s/pass")
	b.ReportMetric(list.Seconds()/n, "list_s/pass")
	b.ReportMetric(plan.Seconds()/n, "plan_s/pass")
	b.ReportMetric(exec.Seconds()/n, "exec_s/pass")
}
