//go:build unix

package local

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncd/syncd/sync/plan"
)

// makeTree creates files small files spread over dirs directories of two
// levels, like a source tree or a photo library.
func makeTree(b *testing.B, files, dirs int) string {
	b.Helper()
	dir := b.TempDir()
	for i := 0; i < files; i++ {
		d := i % dirs
		rel := fmt.Sprintf("top%02d/dir%04d/file-%06d.txt", d%10, d, i)
		p := filepath.Join(dir, rel)
		if i < dirs {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkScanNoChange is a periodic rescan of a 100,000-file tree where
// nothing changed: every file carries its base MD5, nothing is read.
// Target: <= 1 s per scan (warm cache).
func BenchmarkScanNoChange(b *testing.B) {
	const files, dirs = 100_000, 1_000
	dir := makeTree(b, files, dirs)
	m, err := NewMatcher([]string{"*.tmp", "cache/"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	first, err := Scan(context.Background(), ScanOptions{RootPath: dir, Matcher: m})
	if err != nil {
		b.Fatal(err)
	}
	if first.Stats.Files != files {
		b.Fatalf("scanned %d files", first.Stats.Files)
	}
	base := make(map[string]plan.Base, len(first.Tree))
	for k, l := range first.Tree {
		base[k] = plan.Base{Kind: l.Kind, LocalName: l.Name, Size: l.Size, MtimeNs: l.MtimeNs, Dev: l.Dev, Ino: l.Ino, MD5: l.MD5}
	}
	first = ScanResult{}
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	opts := ScanOptions{Root: root, Matcher: m, SizeHint: len(base), Base: func(p string) (plan.Base, bool) { l, ok := base[p]; return l, ok }}

	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.ResetTimer()
	var res ScanResult
	for b.Loop() {
		res, err = Scan(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if res.Stats.Hashed != 0 || res.Stats.Files != files {
			b.Fatalf("no-change scan hashed %d, saw %d files", res.Stats.Hashed, res.Stats.Files)
		}
	}
	b.StopTimer()
	// CPU time per scan, unlike ns/op, does not grow when other processes
	// compete for the CPUs.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/(1<<20), "tree-MiB")
	b.ReportMetric(float64(vmHWM())/(1<<10), "peakRSS-MiB")
	runtime.KeepAlive(res)
	runtime.KeepAlive(base)
}

// BenchmarkScanFirst is the first scan of a 10,000-file tree: everything
// is read and hashed.
func BenchmarkScanFirst(b *testing.B) {
	dir := makeTree(b, 10_000, 100)
	for b.Loop() {
		res, err := Scan(context.Background(), ScanOptions{RootPath: dir})
		if err != nil || res.Stats.Hashed != 10_000 {
			b.Fatalf("%v %+v", err, res.Stats)
		}
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM is the process's peak resident set in KiB (Linux; 0 elsewhere).
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
