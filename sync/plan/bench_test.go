package plan

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the user and system time of this process so far: on a shared,
// loaded machine it says more about the planner's cost than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// bigTree builds a synced tree of dirs folders holding per files each
// (dirs*(per+1) entries), with inodes and ids assigned in order. Each tree
// is built in a pass of its own with strings of its own, as the engine gets
// them from the state DB, the scanner and the listing: only a local MD5 is
// the base's string, which the scanner carries over for an unchanged file.
func bigTree(dirs, per int) Input {
	size := dirs * (per + 1)
	in := Input{
		Base:   make(map[string]Base, size),
		Local:  make(map[string]Local, size),
		Remote: make(map[string]Remote, size),
		Now:    fxNow(),
		Host:   "box",
	}
	bigWalk(dirs, per, func(e bigEntry) {
		in.Base[e.path] = Base{Kind: e.kind, LocalName: e.name, RemoteName: e.name, Size: e.size, MtimeNs: e.mtime,
			Dev: 1, Ino: e.ino, MD5: e.md5, RemoteID: e.id, RemoteParentID: e.parentID}
	})
	bigWalk(dirs, per, func(e bigEntry) {
		in.Local[e.path] = Local{Kind: e.kind, Name: e.name, Size: e.size, MtimeNs: e.mtime, Dev: 1, Ino: e.ino,
			MD5: in.Base[e.path].MD5}
	})
	bigWalk(dirs, per, func(e bigEntry) {
		in.Remote[e.path] = Remote{Kind: e.kind, Name: e.name, ID: e.id, ParentID: e.parentID, Size: e.size, MD5: e.md5}
	})
	return in
}

type bigEntry struct {
	path, name, id, parentID, md5 string
	kind                          Kind
	size, mtime                   int64
	ino                           uint64
}

// bigWalk calls fn for each entry of bigTree, every string made anew.
func bigWalk(dirs, per int, fn func(bigEntry)) {
	ino := uint64(0)
	for d := range dirs {
		ino++
		dp := fmt.Sprintf("dir%05d", d)
		fn(bigEntry{path: dp, name: fmt.Sprintf("dir%05d", d), id: fmt.Sprintf("d%d", d), parentID: "root",
			kind: Dir, ino: ino})
		for f := range per {
			ino++
			fn(bigEntry{path: fmt.Sprintf("%s/file%03d.dat", dp, f), name: fmt.Sprintf("file%03d.dat", f),
				id: fmt.Sprintf("f%d", ino), parentID: fmt.Sprintf("d%d", d), md5: fmt.Sprintf("%032x", ino),
				kind: File, size: 100, mtime: 1, ino: ino})
		}
	}
}

// perturb makes about changes changes of each kind, spread over the tree.
func perturb(in Input, dirs, per, changes int) {
	step := dirs / changes
	if step == 0 {
		step = 1
	}
	for i := 0; i < changes && i*step < dirs; i++ {
		dp := fmt.Sprintf("dir%05d", i*step)
		// local edit
		p := dp + "/file000.dat"
		l := in.Local[p]
		l.MD5, l.MtimeNs = fmt.Sprintf("%032x", 1<<40+i), 2
		in.Local[p] = l
		// remote new version
		p = dp + "/file001.dat"
		r := in.Remote[p]
		r.ID, r.MD5 = fmt.Sprintf("n%d", i), fmt.Sprintf("%032x", 1<<41+i)
		in.Remote[p] = r
		// local rename
		from, to := dp+"/file002.dat", dp+"/renamed.dat"
		l = in.Local[from]
		delete(in.Local, from)
		l.Name = "renamed.dat"
		in.Local[to] = l
		// remote delete
		delete(in.Remote, dp+"/file003.dat")
		// new local and remote files
		in.Local[dp+"/new-local.dat"] = Local{Kind: File, Name: "new-local.dat", Size: 5, Dev: 1, Ino: uint64(1<<40 + i), MD5: "n"}
		in.Remote[dp+"/new-remote.dat"] = Remote{Kind: File, Name: "new-remote.dat", ID: fmt.Sprintf("r%d", i), ParentID: "x", Size: 5, MD5: "m"}
	}
}

// perturbBothSides adds to perturb the changes it leaves out, so that each
// side creates, modifies, deletes and renames: per change a local delete and
// a remote rename, and one whole folder renamed on each side.
func perturbBothSides(in Input, dirs, changes int) {
	step := max(dirs/changes, 3)
	for i := 0; i < changes && i*step < dirs; i++ {
		dp := fmt.Sprintf("dir%05d", i*step)
		delete(in.Local, dp+"/file004.dat")
		from, to := dp+"/file005.dat", dp+"/renamed-remote.dat"
		r := in.Remote[from]
		delete(in.Remote, from)
		r.Name = "renamed-remote.dat"
		in.Remote[to] = r
	}
	// Folders between the ones touched above.
	renameSubtree(in.Local, fmt.Sprintf("dir%05d", step/2), "renamed-local-dir", func(l Local, name string) Local {
		l.Name = name
		return l
	})
	renameSubtree(in.Remote, fmt.Sprintf("dir%05d", step/2+1), "renamed-remote-dir", func(r Remote, name string) Remote {
		r.Name = name
		return r
	})
}

// renameSubtree moves the entry at from and everything below it to the top
// level name to, as a folder rename does on one side.
func renameSubtree[V any](m map[string]V, from, to string, rename func(V, string) V) {
	for p, v := range m {
		switch {
		case p == from:
			delete(m, p)
			m[to] = rename(v, to)
		case strings.HasPrefix(p, from+"/"):
			delete(m, p)
			m[to+p[len(from):]] = v
		}
	}
}

func TestLargeTreeMixedChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("large tree")
	}
	in := bigTree(1000, 99)
	perturb(in, 1000, 99, 10)
	perturbBothSides(in, 1000, 10)
	pl := Reconcile(in)
	counts := map[OpKind]int{}
	for _, op := range pl.Ops {
		counts[op.Kind]++
	}
	// Per change: Replace, Download (new version), MoveRemote, DeleteLocal,
	// Upload, Download (new remote file), DeleteRemote, MoveLocal; plus one
	// MoveRemote and one MoveLocal for the two folders.
	want := map[OpKind]int{Replace: 10, Download: 20, MoveRemote: 11, DeleteLocal: 10, Upload: 10,
		DeleteRemote: 10, MoveLocal: 11}
	if !maps.Equal(counts, want) {
		t.Errorf("ops %v, want %v", counts, want)
	}
	if len(pl.Conflicts)+len(pl.Problems) != 0 || pl.Halt != "" {
		t.Errorf("%d conflicts, %d problems, halt %q", len(pl.Conflicts), len(pl.Problems), pl.Halt)
	}
}

// TestParallelJoinPlansAsSerial: joining base with the trees on several
// goroutines plans exactly what one goroutine does, ignore rules included.
func TestParallelJoinPlansAsSerial(t *testing.T) {
	if testing.Short() {
		t.Skip("large tree")
	}
	in := bigTree(400, 99) // 40,000 entries: above parallelThreshold
	perturb(in, 400, 99, 40)
	perturbBothSides(in, 400, 40)
	in.Ignored = func(p string, k Kind) bool {
		return strings.HasPrefix(p, "dir00007") || strings.HasSuffix(p, "/file050.dat")
	}
	in.workers = 1
	serial := Reconcile(in)
	if len(serial.Ops) < 400 {
		t.Fatalf("only %d ops: the test proves little", len(serial.Ops))
	}
	forgets := 0
	for _, op := range serial.Ops {
		if op.Kind == Forget {
			forgets++
		}
	}
	if forgets == 0 {
		t.Fatal("no newly ignored entry forgotten: the test proves little")
	}
	for _, w := range []int{2, 3, 4} {
		in.workers = w
		if got := Reconcile(in); !reflect.DeepEqual(got, serial) {
			t.Fatalf("%d workers planned otherwise than one: %d ops vs %d", w, len(got.Ops), len(serial.Ops))
		}
	}
}

func TestLargeUnchangedTreePlansNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("large tree")
	}
	in := bigTree(1000, 99) // 100,000 entries
	if pl := Reconcile(in); len(pl.Ops)+len(pl.Conflicts)+len(pl.Problems) != 0 || pl.Halt != "" {
		t.Fatalf("unchanged tree planned %d ops, %d conflicts, %d problems, halt %q",
			len(pl.Ops), len(pl.Conflicts), len(pl.Problems), pl.Halt)
	}
	perturb(in, 1000, 99, 10)
	pl := Reconcile(in)
	counts := map[OpKind]int{}
	for _, op := range pl.Ops {
		counts[op.Kind]++
	}
	want := map[OpKind]int{Replace: 10, Download: 20, MoveRemote: 10, DeleteLocal: 10, Upload: 10}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%v: %d ops, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	if len(pl.Ops) != 60 {
		t.Errorf("%d ops, want 60: %v", len(pl.Ops), counts)
	}
}

// benchReconcile plans in once per iteration, checking the number of ops,
// and reports the CPU time per plan besides the wall time.
func benchReconcile(b *testing.B, in Input, wantOps int) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		if pl := Reconcile(in); len(pl.Ops) != wantOps {
			b.Fatalf("planned %d ops, want %d", len(pl.Ops), wantOps)
		}
	}
	reportCPU(b, start)
}

func BenchmarkReconcileUnchanged100k(b *testing.B) {
	benchReconcile(b, bigTree(1000, 99), 0)
}

func BenchmarkReconcileUnchanged1M(b *testing.B) {
	benchReconcile(b, bigTree(10000, 99), 0) // 1,000,000 entries
}

// BenchmarkReconcileMixed1M: 1,000,000 entries, each side creating,
// modifying, deleting and renaming files, and renaming one folder.
func BenchmarkReconcileMixed1M(b *testing.B) {
	in := bigTree(10000, 99)
	perturb(in, 10000, 99, 1000)
	perturbBothSides(in, 10000, 1000)
	benchReconcile(b, in, 8002)
}

func BenchmarkReconcile1M(b *testing.B) {
	in := bigTree(10000, 99) // 1,000,000 entries
	perturb(in, 10000, 99, 1000)
	benchReconcile(b, in, 6000)
}
