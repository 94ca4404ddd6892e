package engine_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

var incSeeds = flag.Int("inc-seeds", 12, "seeds of TestIncrementalAgreesWithFullObservation")

// TestIncrementalAgreesWithFullObservation drives one long-lived pair with
// incremental passes (local-only, polls, sweeps) between random changes on
// both sides, telling it what changed locally as the watcher would. At the
// end, after a sweep, a pass that observes both sides whole must find
// nothing to do, both sides must be equal, and every version a user wrote
// and did not itself remove must be live: the caches never hid a change,
// never invented one, and never read a stale entry as a deletion.
func TestIncrementalAgreesWithFullObservation(t *testing.T) {
	for seed := range uint64(*incSeeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { incrementalRun(t, seed, 30) })
	}
}

func incrementalRun(t *testing.T, seed uint64, steps int) {
	r := rand.New(rand.NewPCG(seed, 0x1c))
	e := newEnv(t)
	e.write("a/x.txt", "seed a/x")
	e.write("b/y.txt", "seed b/y")
	e.sync()
	p := e.pair()
	ctx := context.Background()
	other := e.otherWithRoot()
	alive := map[string]bool{sum("seed a/x"): true, sum("seed b/y"): true}
	n := 0
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: "+format+"\nactions:\n  %s", append([]any{seed}, append(args, strings.Join(log, "\n  "))...)...)
	}
	dirs := []string{"", "a", "b", "a/c", "d"}
	names := []string{"x.txt", "y.txt", "z.txt", "w.bin"}

	localFiles := func() []string {
		var out []string
		for k, v := range e.localFiles() {
			if v != "/" {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	localDirs := func() []string {
		var out []string
		for k, v := range e.localFiles() {
			if v == "/" {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	remoteOf := func(folders bool) []string {
		var out []string
		for k, v := range e.remoteFiles() {
			if (v == "/") == folders {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	parent := func(p string) string {
		if d := path.Dir(p); d != "." {
			return d
		}
		return ""
	}
	join := func(d, name string) string {
		if d == "" {
			return name
		}
		return d + "/" + name
	}
	id := func(rel string) remote.ID {
		en, ok := e.remoteEntry(rel)
		if !ok {
			fail("no remote entry %s", rel)
		}
		return remote.ID(itoa(en.ID))
	}

	for step := 0; step < steps; step++ {
		n++
		content := fmt.Sprintf("version %d of seed %d", n, seed)
		switch a := r.IntN(9); a {
		case 0, 1: // local write, new or over an existing file
			p2 := join(dirs[r.IntN(len(dirs))], names[r.IntN(len(names))])
			full := filepath.Join(e.dir, filepath.FromSlash(p2))
			if fi, err := os.Stat(full); err == nil && fi.IsDir() {
				continue
			}
			if b, err := os.ReadFile(full); err == nil {
				delete(alive, sum(string(b)))
			}
			first := ""
			for d := parent(p2); d != ""; d = parent(d) {
				if _, err := os.Lstat(filepath.Join(e.dir, d)); err != nil {
					first = d
				}
			}
			if blocked := func() bool { // a file where a directory is needed
				for d := parent(p2); d != ""; d = parent(d) {
					if fi, err := os.Lstat(filepath.Join(e.dir, d)); err == nil && !fi.IsDir() {
						return true
					}
				}
				return false
			}(); blocked {
				continue
			}
			e.write(p2, content)
			alive[sum(content)] = true
			if first != "" {
				p.LocalChanged([]string{parent(first)}, []string{first}, false)
			} else {
				p.LocalChanged([]string{parent(p2)}, nil, false)
			}
			log = append(log, "local write "+p2)
		case 2: // local delete
			fs := localFiles()
			if len(fs) == 0 {
				continue
			}
			f := fs[r.IntN(len(fs))]
			b, _ := os.ReadFile(filepath.Join(e.dir, f))
			delete(alive, sum(string(b)))
			os.Remove(filepath.Join(e.dir, f))
			p.LocalChanged([]string{parent(f)}, nil, false)
			log = append(log, "local delete "+f)
		case 3: // local rename or move of a file
			fs, ds := localFiles(), append(localDirs(), "")
			if len(fs) == 0 {
				continue
			}
			f := fs[r.IntN(len(fs))]
			to := join(ds[r.IntN(len(ds))], names[r.IntN(len(names))])
			if _, err := os.Lstat(filepath.Join(e.dir, to)); err == nil {
				continue
			}
			if os.Rename(filepath.Join(e.dir, f), filepath.Join(e.dir, to)) == nil {
				p.LocalChanged([]string{parent(f), parent(to)}, nil, false)
				log = append(log, "local move "+f+" -> "+to)
			}
		case 4: // local move of a directory
			ds := localDirs()
			if len(ds) == 0 {
				continue
			}
			d := ds[r.IntN(len(ds))]
			to := join([]string{"", "b", "d"}[r.IntN(3)], []string{"m", "n"}[r.IntN(2)])
			if strings.HasPrefix(to+"/", d+"/") {
				continue
			}
			if _, err := os.Lstat(filepath.Join(e.dir, to)); err == nil {
				continue
			}
			if os.Rename(filepath.Join(e.dir, d), filepath.Join(e.dir, to)) == nil {
				p.LocalChanged([]string{parent(d), parent(to)}, []string{to}, false)
				log = append(log, "local move dir "+d+" -> "+to)
			}
		case 5: // remote upload of a new file
			fs := remoteOf(true)
			fs = append(fs, "")
			d := fs[r.IntN(len(fs))]
			name := fmt.Sprintf("r%d.txt", n)
			e.upload(other, d, name, content)
			alive[sum(content)] = true
			log = append(log, "remote upload "+join(d, name))
		case 6: // remote delete
			fs := remoteOf(false)
			if len(fs) == 0 {
				continue
			}
			f := fs[r.IntN(len(fs))]
			delete(alive, e.remoteFiles()[f])
			if err := other.DeleteFile(ctx, id(f)); err != nil {
				fail("remote delete %s: %v", f, err)
			}
			log = append(log, "remote delete "+f)
		case 7: // remote rename
			fs := remoteOf(false)
			if len(fs) == 0 {
				continue
			}
			f := fs[r.IntN(len(fs))]
			to := fmt.Sprintf("renamed%d.txt", n)
			if _, err := other.RenameFile(ctx, id(f), to); err != nil {
				fail("remote rename %s: %v", f, err)
			}
			log = append(log, "remote rename "+f+" -> "+to)
		case 8: // remote move into another folder
			fs, ds := remoteOf(false), remoteOf(true)
			if len(fs) == 0 || len(ds) == 0 {
				continue
			}
			f, d := fs[r.IntN(len(fs))], ds[r.IntN(len(ds))]
			if _, taken := e.remoteEntry(join(d, path.Base(f))); taken || parent(f) == d {
				continue
			}
			if _, err := other.MoveFile(ctx, id(f), id(d)); err != nil {
				fail("remote move %s: %v", f, err)
			}
			log = append(log, "remote move "+f+" -> "+d)
		}
		if r.IntN(3) == 0 {
			po := engine.PassOptions{Incremental: true}
			switch r.IntN(4) {
			case 0:
				po.LocalOnly = true
			case 1:
				po.Sweep = true
			}
			res, err := p.Pass(ctx, po)
			if err != nil {
				fail("pass (%+v): %v", po, err)
			}
			log = append(log, fmt.Sprintf("pass local-only=%v sweep=%v: %d ops, %d listings, unchanged %v", po.LocalOnly, po.Sweep, len(res.Plan.Ops), res.Requests, res.Unchanged))
		}
	}
	// Quiesce incrementally, with a sweep first: only the remote needs it.
	for i := 0; ; i++ {
		res, err := p.Pass(ctx, engine.PassOptions{Incremental: true, Sweep: i == 0})
		if err != nil {
			fail("quiescing pass: %v", err)
		}
		if res.Converged && i > 0 {
			break
		}
		if i == 8 {
			fail("incremental passes do not converge: %v", res.Plan.Ops)
		}
	}
	full, err := e.pair().Pass(ctx, engine.PassOptions{})
	if err != nil {
		fail("full pass: %v", err)
	}
	if len(full.Plan.Ops) != 0 {
		fail("incremental passes converged, but a full observation plans %v", full.Plan.Ops)
	}
	l, rm := e.localFiles(), e.remoteFiles()
	if !equalMaps(l, rm) {
		fail("sides differ:\nlocal:  %v\nremote: %v", sorted(l), sorted(rm))
	}
	live := map[string]bool{}
	for _, v := range l {
		live[v] = true
	}
	for v := range alive {
		if !live[v] {
			fail("a version the user wrote and never removed is gone (md5 %s)\nlocal: %v", v, sorted(l))
		}
	}
}

// Another client moves a file and a folder out of a folder that a poll
// reads from the cache into one the poll lists (the root): the poll must
// see moves, not each entry at both places. It once downloaded the moved file beside its old
// copy, and a later pass uploaded the old copy back: a deleted file
// resurrected on both sides (issue 14, found by bench/twohosts.sh on a git
// checkout that reused an inode).
func TestPollSeesAMoveOutOfAFolderItDoesNotList(t *testing.T) {
	e := newEnv(t)
	e.write("a/x.txt", "the file that moves")
	e.write("b/y.txt", "another")
	e.write("a/sub/s.txt", "in a folder that moves")
	want := map[string]string{"x.txt": sum("the file that moves"), "a": "/", "b": "/", "b/y.txt": sum("another"),
		"sub": "/", "sub/s.txt": sum("in a folder that moves")}
	for i := range engine.HotFolders + 2 { // more folders than a poll lists
		e.write(fmt.Sprintf("f%02d/z.txt", i), "z")
		want[fmt.Sprintf("f%02d", i)], want[fmt.Sprintf("f%02d/z.txt", i)] = "/", sum("z")
	}
	e.sync()
	p := e.pair()
	ctx := context.Background()
	if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true, Sweep: true}); err != nil {
		t.Fatal(err)
	}
	other := e.otherWithRoot()
	x, _ := e.remoteEntry("a/x.txt")
	if _, err := other.MoveFile(ctx, idOf(x), e.folderID("")); err != nil {
		t.Fatal(err)
	}
	if _, err := other.MoveFolder(ctx, e.folderID("a/sub"), e.folderID("")); err != nil {
		t.Fatal(err)
	}
	res, err := p.Pass(ctx, engine.PassOptions{Incremental: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range res.Plan.Ops {
		if op.Kind.String() == "download" {
			t.Errorf("the poll downloads %s: it took the moved file for a new one", op.Path)
		}
	}
	for i := 0; i < 2; i++ { // and it stays so
		if got := e.localFiles(); !equalMaps(got, want) {
			t.Fatalf("after poll %d:\n got  %v\n want %v", i+1, sorted(got), sorted(want))
		}
		if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true, Sweep: i == 1}); err != nil {
			t.Fatal(err)
		}
	}
	e.assertSame()
}

// moveDuringList is the pair's remote with another client's action run
// just before the first listing of one folder: what a client moving
// entries between two listings of one snapshot does.
type moveDuringList struct {
	engine.Remote
	folder string
	do     func()
	done   atomic.Bool // listings run in parallel
}

func (m *moveDuringList) List(ctx context.Context, folder string) ([]engine.RemoteFolder, []engine.RemoteFile, error) {
	if folder == m.folder && m.done.CompareAndSwap(false, true) {
		m.do()
	}
	return m.Remote.List(ctx, folder)
}

// Another client moves a file from a folder the snapshot has listed into
// one it is about to list: both listings are fresh and show the file. The
// pass must see one move (or nothing yet), never a new file beside the old
// one (issue 14: host B downloaded the moved file and uploaded its old copy
// back, found by bench/twohosts.sh).
func TestMoveBetweenTwoListingsOfOneSnapshot(t *testing.T) {
	e := newEnv(t)
	e.write("d/atomic.go", "atomic")
	e.write("d/t/a.go", "a")
	e.sync()
	ctx := context.Background()
	other := e.otherWithRoot()
	x, _ := e.remoteEntry("d/atomic.go")
	y, _ := e.remoteEntry("d/t/a.go")
	dt := e.folderID("d/t")
	r := &moveDuringList{Remote: bind.Remote{C: e.client}, folder: string(dt), do: func() {
		if err := other.DeleteFile(ctx, idOf(y)); err != nil {
			t.Error(err)
		}
		if _, err := other.RenameFile(ctx, idOf(x), "a.go"); err != nil {
			t.Error(err)
		}
		if _, err := other.MoveFile(ctx, idOf(x), dt); err != nil {
			t.Error(err)
		}
	}}
	p := e.pairOver(r, engine.Options{})
	res, err := p.Pass(ctx, engine.PassOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.done.Load() {
		t.Fatal("the snapshot never listed d/t")
	}
	for _, op := range res.Plan.Ops {
		if op.Kind.String() == "download" || op.Kind.String() == "upload" {
			t.Errorf("%s %s: the moved file taken for a new one", op.Kind, op.Path)
		}
	}
	e.sync()
	want := map[string]string{"d": "/", "d/t": "/", "d/t/a.go": sum("atomic")}
	if got := e.localFiles(); !equalMaps(got, want) {
		t.Fatalf("local:\n got  %v\n want %v", sorted(got), sorted(want))
	}
	e.assertSame()
}

// ghostList shows, in every listing of folder, the file ghost as well: one
// id at two paths for as long as the test likes (another client moving it
// back and forth faster than the listings).
type ghostList struct {
	engine.Remote
	folder string
	ghost  engine.RemoteFile
}

func (g *ghostList) List(ctx context.Context, folder string) ([]engine.RemoteFolder, []engine.RemoteFile, error) {
	folders, files, err := g.Remote.List(ctx, folder)
	if err == nil && folder == g.folder {
		files = append(files, g.ghost)
	}
	return folders, files, err
}

// An id the listings still show at two paths after the relists is frozen
// at both, and stays frozen in the next pass too when nothing it lists
// again has changed: that pass assembles its tree from the same cached
// listings (the execution in between dropped the last tree). It used to
// forget the frozen ids there and download the second path as a new file.
func TestIdAtTwoPathsStaysFrozenWhileListingsStayTheSame(t *testing.T) {
	e := newEnv(t)
	e.write("d/x.go", "x")
	e.write("t/a.go", "a")
	e.sync()
	x, _ := e.remoteEntry("d/x.go")
	r := &ghostList{Remote: bind.Remote{C: e.client}, folder: string(e.folderID("t")),
		ghost: engine.RemoteFile{ID: string(idOf(x)), Name: "ghost.go", FolderID: string(e.folderID("t")), Size: 1, Active: true}}
	p := e.pairOver(r, engine.Options{})
	ctx := context.Background()
	// Another client adds a file: the first pass has something to do.
	e.upload(e.other(), "t", "b.go", "b")
	for i := range 3 {
		res, err := p.Pass(ctx, engine.PassOptions{Incremental: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range res.Plan.Ops {
			if op.Path == "t/ghost.go" || op.Path == "d/x.go" {
				t.Errorf("pass %d: %s %s: a path of the id at two places not frozen", i+1, op.Kind, op.Path)
			}
		}
	}
	if _, ok := e.read("t/ghost.go"); ok {
		t.Error("the second path of one id was downloaded")
	}
}

// baseReads counts the reads of the base from the store.
type baseReads struct {
	engine.Store
	n int
}

func (s *baseReads) Base(pair string) (map[string]plan.Base, error) {
	s.n++
	return s.Store.Base(pair)
}

// An idle daemon holds neither the base nor the remote snapshot: a pass
// that finds nothing changed lets them go, and the next pass with a change
// reads the base from the store again and propagates the change from it.
// Passes in a burst, each with a change, keep the base.
func TestQuietPassReleasesTheBase(t *testing.T) {
	e := newEnv(t)
	e.write("a/x.txt", "one")
	e.write("b/y.txt", "two")
	e.sync()
	b := e.bind()
	store := &baseReads{Store: b.Store}
	b.Store = store
	p := b.Pair(e.cfg, engine.Options{ValidLocalName: testenv.ValidLocalName, LateUploadWait: 500 * time.Millisecond})
	ctx := context.Background()
	pass := func(what string, wantReads int) engine.PassResult {
		t.Helper()
		res, err := p.Pass(ctx, engine.PassOptions{Incremental: true})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if store.n != wantReads {
			t.Fatalf("%s: %d reads of the base, want %d", what, store.n, wantReads)
		}
		return res
	}
	pass("first pass", 1)
	e.write("a/x.txt", "one, edited")
	p.LocalChanged([]string{"a"}, nil, false)
	if res := pass("a change right after", 1); res.Done != 1 {
		t.Fatalf("a change right after: %d ops done, want 1", res.Done)
	}
	// The next pass lists the folder it wrote to, and sees its own upload.
	if res := pass("the echo of the edit", 1); res.Done != 0 || !res.Converged {
		t.Fatalf("the echo of the edit: %d ops done, converged %v", res.Done, res.Converged)
	}
	if res := pass("a quiet pass", 1); !res.Unchanged {
		t.Fatalf("a quiet pass: not unchanged: %+v", res)
	}
	e.write("b/y.txt", "two, edited")
	p.LocalChanged([]string{"b"}, nil, false)
	if res := pass("a change after the quiet pass", 2); res.Done != 1 {
		t.Fatalf("a change after the quiet pass: %d ops done, want 1", res.Done)
	}
	if res := pass("the pass after it", 2); res.Done != 0 || !res.Converged {
		t.Fatalf("the pass after it: %d ops done, converged %v", res.Done, res.Converged)
	}
	e.assertSame()
	if got := e.remoteFiles()["b/y.txt"]; got != sum("two, edited") {
		t.Fatalf("remote b/y.txt is %s, want the edit", got)
	}
}
