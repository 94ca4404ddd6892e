package watch

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

// These tests run the real fsnotify watcher on real temporary directories
// and check the one property that matters: the union of the hints covers
// every change. Waiting is bounded by a generous deadline, never a sleep.

const coverDeadline = 20 * time.Second

// union accumulates the batches of one phase of a test.
type union struct {
	dirs, trees map[string]struct{}
	full        bool
	batches     int
}

func newUnion() *union {
	return &union{dirs: make(map[string]struct{}), trees: make(map[string]struct{})}
}

func (u *union) add(b Batch) {
	u.batches++
	u.full = u.full || b.Full
	for _, d := range b.Dirs {
		u.dirs[d] = struct{}{}
	}
	for _, t := range b.Trees {
		u.trees[t] = struct{}{}
	}
}

// entry reports whether a change of the entry rel (created, written,
// removed, renamed) is covered: its directory is rescanned, or it lies in
// (or is) a hinted new tree.
func (u *union) entry(rel string) bool {
	if u.full || underAny(rel, u.trees) {
		return true
	}
	_, ok := u.dirs[parent(rel)]
	return ok
}

// tree reports whether everything below rel is covered.
func (u *union) tree(rel string) bool { return u.full || underAny(rel, u.trees) }

// mentions reports whether any hint names rel or a path below it.
func (u *union) mentions(rel string) bool {
	for _, set := range []map[string]struct{}{u.dirs, u.trees} {
		for p := range set {
			if p == rel || strings.HasPrefix(p, rel+"/") {
				return true
			}
		}
	}
	return false
}

func (u *union) String() string {
	return fmt.Sprintf("full=%v dirs=%v trees=%v batches=%d", u.full, keys(u.dirs), keys(u.trees), u.batches)
}

func keys(m map[string]struct{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
		if len(out) == 20 {
			out = append(out, "…")
			break
		}
	}
	return out
}

type realWatch struct {
	t    *testing.T
	root string
	w    *Watcher
}

func startReal(t *testing.T, root string, ignore func(string, bool) bool) *realWatch {
	t.Helper()
	w, err := New(Options{Root: root, Ignore: ignore, Debounce: 20 * time.Millisecond,
		MaxDelay: 500 * time.Millisecond, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	runWatcher(t, w)
	return &realWatch{t: t, root: root, w: w}
}

// await collects batches into u until ok holds.
func (r *realWatch) await(u *union, what string, ok func() bool) {
	r.t.Helper()
	deadline := time.After(coverDeadline)
	for !ok() {
		select {
		case b := <-r.w.Batches():
			u.add(b)
		case <-deadline:
			r.t.Fatalf("%s not covered after %v: %v", what, coverDeadline, u)
		}
	}
}

// fence makes a new directory and waits for it to be hinted as a tree; every
// event before its creation has then been handled, and hinted in u. (A file
// would not do: its hint, its parent directory, is shared with other
// changes.)
func (r *realWatch) fence(u *union) {
	r.t.Helper()
	name := fmt.Sprintf("fence-%d", time.Now().UnixNano())
	r.mkdir(name)
	r.await(u, "fence", func() bool {
		_, ok := u.trees[name]
		return ok || u.full
	})
}

func (r *realWatch) path(rel string) string { return filepath.Join(r.root, filepath.FromSlash(rel)) }

func (r *realWatch) write(rel string) {
	r.t.Helper()
	if err := os.WriteFile(r.path(rel), []byte(rel), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *realWatch) mkdir(rel string) {
	r.t.Helper()
	if err := os.MkdirAll(r.path(rel), 0o755); err != nil {
		r.t.Fatal(err)
	}
}

// checkWatches compares the watch count with the directories on disk that
// are not ignored: a missing watch loses events, an extra one is stale. It
// fences first, so that every event so far has been handled.
func (r *realWatch) checkWatches(u *union, ignore func(string, bool) bool) {
	r.t.Helper()
	r.fence(u)
	want := 0
	err := filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(r.root, p)
		rel = filepath.ToSlash(rel)
		if rel == ".syncd" || (ignore != nil && rel != "." && ignore(rel, true)) {
			return filepath.SkipDir
		}
		want++
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	if got := r.w.Stats().Watches; got != want {
		r.t.Fatalf("%d watches, %d directories", got, want)
	}
	if got, ok := kernelWatches(r.t); ok && got != want {
		r.t.Fatalf("the kernel holds %d watches for %d directories", got, want)
	}
}

// kernelWatches counts the watches of this process's inotify instances as
// the kernel lists them (Linux only). Tests in this package run one watcher
// at a time, and goleak proves each is closed.
func kernelWatches(t *testing.T) (int, bool) {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err != nil || target != "anon_inode:inotify" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + fd.Name())
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(info), "inotify wd:")
	}
	return n, true
}

func TestRealNestedCreatesInABurst(t *testing.T) {
	r := startReal(t, t.TempDir(), nil)
	u := newUnion()
	var files []string
	for i := range 50 { // mkdir -p a/b/c && echo x > a/b/c/f, many times over
		f := fmt.Sprintf("n%d/a/b/c/f", i)
		r.mkdir(filepath.Dir(f))
		r.write(f)
		files = append(files, f)
	}
	r.await(u, "nested files", func() bool {
		for _, f := range files {
			if !u.entry(f) {
				return false
			}
		}
		return true
	})
	r.checkWatches(u, nil)

	// The new deep directories are watched: a later write there is hinted
	// by its own directory.
	u = newUnion()
	r.write("n7/a/b/c/g")
	r.await(u, "write in a new deep directory", func() bool { return u.entry("n7/a/b/c/g") })
}

func TestRealTreeMovedIn(t *testing.T) {
	r := startReal(t, t.TempDir(), nil)
	outside := t.TempDir()
	for _, d := range []string{"src/x/y/z", "src/w"} {
		if err := os.MkdirAll(filepath.Join(outside, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(outside, d, "f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u := newUnion()
	if err := os.Rename(filepath.Join(outside, "src"), r.path("in")); err != nil {
		t.Fatal(err)
	}
	r.await(u, "moved-in tree", func() bool { return u.tree("in") })
	r.checkWatches(u, nil)

	u = newUnion()
	r.write("in/x/y/z/new")
	r.await(u, "write in the moved-in tree", func() bool { return u.entry("in/x/y/z/new") })
}

func TestRealTreeMovedWithin(t *testing.T) {
	r := startReal(t, t.TempDir(), nil)
	r.mkdir("m/s1/s2")
	r.write("m/s1/s2/f")
	r.mkdir("n")
	u := newUnion()
	r.await(u, "setup", func() bool { return u.entry("m/s1/s2/f") && u.entry("n") })

	u = newUnion()
	if err := os.Rename(r.path("m"), r.path("n/m2")); err != nil {
		t.Fatal(err)
	}
	r.await(u, "move within", func() bool { return u.entry("m") && u.tree("n/m2") })
	r.checkWatches(u, nil)

	// Events below the moved tree carry the new names, never the old ones.
	u = newUnion()
	r.write("n/m2/s1/s2/new")
	r.await(u, "write in the moved tree", func() bool { return u.entry("n/m2/s1/s2/new") })
	r.fence(u)
	if u.mentions("m") {
		t.Fatalf("hints name the old location: %v", u)
	}
}

func TestRealTreeMovedOut(t *testing.T) {
	r := startReal(t, t.TempDir(), nil)
	r.mkdir("o/sub/deeper")
	r.write("o/sub/f")
	u := newUnion()
	r.await(u, "setup", func() bool { return u.entry("o/sub/f") })

	u = newUnion()
	away := filepath.Join(t.TempDir(), "o")
	if err := os.Rename(r.path("o"), away); err != nil {
		t.Fatal(err)
	}
	r.await(u, "move out", func() bool { return u.entry("o") })
	r.checkWatches(u, nil)

	// Changes in the tree now outside the root are not reported.
	u = newUnion()
	if err := os.WriteFile(filepath.Join(away, "sub", "deeper", "g"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.fence(u)
	if u.mentions("o") {
		t.Fatalf("a tree moved out of the root is still watched: %v", u)
	}
}

func TestRealSaveByRename(t *testing.T) {
	r := startReal(t, t.TempDir(), func(rel string, dir bool) bool { return strings.HasSuffix(rel, ".swp") })
	r.mkdir("doc")
	r.write("doc/f")
	u := newUnion()
	r.await(u, "setup", func() bool { return u.entry("doc/f") })

	u = newUnion()
	r.write("doc/.f.swp")
	if err := os.Rename(r.path("doc/.f.swp"), r.path("doc/f")); err != nil {
		t.Fatal(err)
	}
	r.await(u, "save by rename", func() bool { return u.entry("doc/f") })
}

func TestRealDeleteWholeTree(t *testing.T) {
	r := startReal(t, t.TempDir(), nil)
	for i := range 30 {
		r.mkdir(fmt.Sprintf("big/d%d/e", i))
		r.write(fmt.Sprintf("big/d%d/e/f", i))
	}
	r.mkdir("keep")
	u := newUnion()
	r.await(u, "setup", func() bool { return u.tree("big") && u.entry("keep") })
	r.checkWatches(u, nil)

	u = newUnion()
	if err := os.RemoveAll(r.path("big")); err != nil {
		t.Fatal(err)
	}
	r.await(u, "delete of a tree", func() bool { return u.entry("big") })
	r.checkWatches(u, nil)
}

func TestRealTenThousandFiles(t *testing.T) {
	r := startReal(t, t.TempDir(), nil)
	r.mkdir("flat")
	u := newUnion()
	r.await(u, "setup", func() bool { return u.entry("flat") })

	// 10,000 files in one existing directory, and 100 new directories of
	// 100 files each, created as fast as possible while batches are taken
	// as they come, as the engine would.
	u = newUnion()
	var files []string
	for i := range 10000 {
		files = append(files, fmt.Sprintf("flat/f%05d", i))
	}
	for i := range 100 {
		for j := range 100 {
			files = append(files, fmt.Sprintf("burst/d%03d/f%03d", i, j))
		}
	}
	written := make(chan error, 1)
	go func() {
		for _, f := range files {
			if err := os.MkdirAll(filepath.Dir(r.path(f)), 0o755); err != nil {
				written <- err
				return
			}
			if err := os.WriteFile(r.path(f), nil, 0o644); err != nil {
				written <- err
				return
			}
		}
		written <- nil
	}()
	deadline := time.After(time.Minute)
	for writing := true; writing; {
		select {
		case b := <-r.w.Batches():
			u.add(b)
		case err := <-written:
			if err != nil {
				t.Fatal(err)
			}
			writing = false
		case <-deadline:
			t.Fatal("writer stuck")
		}
	}
	r.await(u, "20,000 files", func() bool {
		for _, f := range files {
			if !u.entry(f) {
				return false
			}
		}
		return true
	})
	t.Logf("20,000 files (10,000 in a burst into one directory) -> %v", u)
	// Exact coalescing is proven with fake time; here, on a loaded machine,
	// only gross failure is: more than one batch per 20 files written.
	if u.batches > len(files)/20 {
		t.Fatalf("%d batches for %d files: events do not coalesce", u.batches, len(files))
	}
	r.checkWatches(u, nil)
}

func TestRealOwnReadsAndIgnoredPathsStayQuiet(t *testing.T) {
	ignore := func(rel string, dir bool) bool { return dir && filepath.Base(rel) == "cache" }
	root := t.TempDir()
	for _, d := range []string{"data", "cache", ".syncd/tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := startReal(t, root, ignore)
	r.checkWatches(newUnion(), ignore)
	// The engine writes a download into place from .syncd/tmp: hinted once
	// (its echo), like any change.
	r.write(".syncd/tmp/f")
	if err := os.Rename(r.path(".syncd/tmp/f"), r.path("data/f")); err != nil {
		t.Fatal(err)
	}
	u := newUnion()
	r.await(u, "rename into place", func() bool { return u.entry("data/f") })
	r.fence(u)

	// What the engine does after such a batch: scan and read. It must not
	// cause another hint (no echo cycle), nor must writes into ignored
	// places.
	u = newUnion()
	entries, err := os.ReadDir(r.path("data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := e.Info(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.ReadFile(r.path("data/" + e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	r.write("cache/f")
	r.write(".syncd/tmp/download")
	r.fence(u)
	if u.mentions("data") || u.mentions("cache") || u.mentions(".syncd") {
		t.Fatalf("reads or ignored writes were hinted: %v", u)
	}
}

// The walk of a new directory can run ahead of the event queue: here n is
// listed (and m2 found in it) before the event saying m moved away is
// handled. The kernel keeps one watch per directory, which must end up
// under the new name and only it.
func TestRealMoveIntoDirectoryJustCreated(t *testing.T) {
	r := startReal(t, t.TempDir(), nil)
	const rounds = 40
	for i := range rounds {
		r.mkdir(fmt.Sprintf("m%d/s1/s2", i))
	}
	u := newUnion()
	r.checkWatches(u, nil)

	for i := range rounds {
		r.mkdir(fmt.Sprintf("n%d", i))
		if err := os.Rename(r.path(fmt.Sprintf("m%d", i)), r.path(fmt.Sprintf("n%d/m2", i))); err != nil {
			t.Fatal(err)
		}
	}
	r.checkWatches(u, nil)

	u = newUnion()
	for i := range rounds {
		r.write(fmt.Sprintf("n%d/m2/s1/s2/new", i))
	}
	r.await(u, "writes in the moved trees", func() bool {
		for i := range rounds {
			if !u.entry(fmt.Sprintf("n%d/m2/s1/s2/new", i)) {
				return false
			}
		}
		return true
	})
	r.fence(u)
	for i := range rounds {
		if u.mentions(fmt.Sprintf("m%d", i)) {
			t.Fatalf("hints name an old location: %v", u)
		}
	}
}

// A directory deleted and made again under the same name, faster than the
// watcher handles the events, must end up watched as the new directory.
func TestRealDeleteAndRecreateSameName(t *testing.T) {
	r := startReal(t, t.TempDir(), nil)
	const rounds = 30
	for i := range rounds {
		r.mkdir(fmt.Sprintf("a%d/b", i))
	}
	u := newUnion()
	r.checkWatches(u, nil)
	for i := range rounds {
		if err := os.RemoveAll(r.path(fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
		r.mkdir(fmt.Sprintf("a%d/b", i))
	}
	r.checkWatches(u, nil)

	u = newUnion()
	for i := range rounds {
		r.write(fmt.Sprintf("a%d/b/f", i))
	}
	r.await(u, "writes in the recreated directories", func() bool {
		for i := range rounds {
			if !u.entry(fmt.Sprintf("a%d/b/f", i)) {
				return false
			}
		}
		return true
	})
	// And their watches can still be dropped: nothing leaks when they go.
	for i := range rounds {
		if err := os.RemoveAll(r.path(fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	r.checkWatches(u, nil)
}

func TestRealRunLeavesNoGoroutines(t *testing.T) {
	root := t.TempDir()
	w, err := New(Options{Root: root, Debounce: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-w.Batches()
	if err := os.Mkdir(filepath.Join(root, "x"), 0o755); err != nil { // busy at cancel time
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	goleak.VerifyNone(t)
	if n, ok := kernelWatches(t); ok && n != 0 {
		t.Fatalf("%d kernel watches left", n)
	}
}
