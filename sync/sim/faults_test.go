package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/sync/engine"
)

// The fault matrix: one named fault per test, each proving the named
// behaviour and that nothing is lost.

func newTestWorld(t *testing.T) *world {
	t.Helper()
	w, err := newWorld(t, t.TempDir(), 1, "hostA")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.shutdown(true) })
	return w
}

func (w *world) put(t *testing.T, rel, content string) string {
	t.Helper()
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(time.Second)
	// What the user overwrites goes to the recycle bin, so that a version
	// missing later is syncd's loss, not the user's.
	if old, err := os.ReadFile(p); err == nil {
		w.recycled++
		if err := os.WriteFile(filepath.Join(w.recycle, fmt.Sprintf("put-%d", w.recycled)), old, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	now := w.clk.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		t.Fatal(err)
	}
	return sum([]byte(content))
}

// settle runs passes to quiescence and checks both sides agree.
func (w *world) settle(t *testing.T) {
	t.Helper()
	if _, err := w.quiesce(10); err != nil {
		t.Fatal(err)
	}
	if err := w.checkConverged(); err != nil {
		t.Fatal(err)
	}
}

func (w *world) pass(t *testing.T, opt engine.Options) (engine.PassResult, error) {
	t.Helper()
	w.clk.Advance(time.Second)
	return w.pair(opt).Pass(context.Background(), engine.PassOptions{})
}

func (w *world) folderID(t *testing.T, rel string) int64 {
	t.Helper()
	want := remotePath
	if rel != "" {
		want += "/" + rel
	}
	for _, en := range w.emu().Dump(w.acct.ID) {
		if en.Folder && en.Status == "active" && en.Path == want {
			return en.ID
		}
	}
	t.Fatalf("no remote folder %s", want)
	return 0
}

func (w *world) remoteUpload(t *testing.T, folderRel, name, content string) remote.File {
	t.Helper()
	data := []byte(content)
	f, err := w.userClient.Upload(context.Background(), remote.UploadRequest{Folder: rid(w.folderID(t, folderRel)), Name: name,
		Size: int64(len(data)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// assertKept fails unless every content exists somewhere (live, trash,
// conflict copy, the user's recycle bin); assertLive unless it is live.
func (w *world) assertKept(t *testing.T, md5s ...string) {
	t.Helper()
	all, err := w.everywhere()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range md5s {
		if !all[m] {
			t.Errorf("version %s lost", short(m))
		}
	}
}

func (w *world) assertLive(t *testing.T, md5s ...string) {
	t.Helper()
	l, err := w.localTree()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := w.remoteTree()
	have := map[string]int{}
	for _, m := range l {
		have[m] |= 1
	}
	for _, m := range r {
		have[m] |= 2
	}
	for _, m := range md5s {
		if have[m] != 3 {
			t.Errorf("version %s not live on both sides (mask %d):\nlocal:\n%sremote:\n%s", short(m), have[m], l, r)
		}
	}
}

// TestFaultDiskFullDuringDownload fills the local file system (a 1 MiB
// tmpfs mounted over the root) while a download is written: the download
// fails as an item error, no partial file appears under a real name,
// nothing is lost, and the pass after space is freed converges.
func TestFaultDiskFullDuringDownload(t *testing.T) {
	w := newTestWorld(t)
	w.closeAll()
	if err := syscall.Mount("tmpfs", w.dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a small tmpfs here (%v): disk-full is not tested on this machine", err)
	}
	t.Cleanup(func() { syscall.Unmount(w.dir, syscall.MNT_DETACH) })
	if err := w.open(); err != nil {
		t.Fatal(err)
	}
	small := w.put(t, "small.txt", "fits")
	w.settle(t)

	big := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	w.remoteUpload(t, "", "big.bin", big)
	w.remoteUpload(t, "", "after.txt", "still fits")
	res, err := w.pass(t, engine.Options{})
	if err != nil {
		t.Fatalf("a full disk failed the whole pass: %v", err)
	}
	if res.Failed == 0 {
		t.Fatalf("the download into a full disk did not fail: %+v", res)
	}
	l, err := w.localTree()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l["big.bin"]; ok {
		t.Fatalf("a partial big.bin is visible: %s", l)
	}
	if l["after.txt"] != sum([]byte("still fits")) || l["small.txt"] != small {
		t.Fatalf("other files not synced past the failure:\n%s", l)
	}
	// Free space: the next passes converge.
	w.closeAll()
	if err := syscall.Mount("tmpfs", w.dir, "tmpfs", syscall.MS_REMOUNT, "size=16m"); err != nil {
		t.Fatal(err)
	}
	if err := w.open(); err != nil {
		t.Fatal(err)
	}
	w.settle(t)
	w.assertLive(t, small, sum([]byte(big)), sum([]byte("still fits")))
}

// tornUpload rewrites a 16 MiB local file in place (same size, new bytes)
// while its upload is streaming, then runs to quiescence. It returns the
// two versions.
func tornUpload(t *testing.T) (w *world, v1, v2 []byte) {
	w = newTestWorld(t)
	w.settle(t)
	v1 = bytes.Repeat([]byte("A"), 16<<20)
	v2 = bytes.Repeat([]byte("B"), 16<<20)
	w.put(t, "big.bin", string(v1))
	var once sync.Once
	hook := func(ep string) {
		if ep != "file/upload" {
			return
		}
		once.Do(func() {
			// The client is streaming the body now: rewrite the file in place.
			p := filepath.Join(w.dir, "big.bin")
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := f.WriteAt(v2, 0); err != nil {
				t.Error(err)
			}
			f.Close()
			later := w.clk.Now().Add(time.Minute)
			os.Chtimes(p, later, later)
		})
	}
	w.front.hook.Store(&hook)
	_, err := w.pass(t, engine.Options{})
	w.front.hook.Store(nil)
	t.Logf("pass during the rewrite: %v", err)
	w.settle(t)
	return w, v1, v2
}

// TestFaultFileChangesDuringUpload: a file rewritten while it is uploaded
// never ends up live in a torn form; the new content is synced.
func TestFaultFileChangesDuringUpload(t *testing.T) {
	w, v1, v2 := tornUpload(t)
	r, _ := w.remoteTree()
	for p, m := range r {
		if m != "/" && m != sum(v1) && m != sum(v2) {
			t.Errorf("a torn version is live at %s", p)
		}
	}
	w.assertLive(t, sum(v2))
}

// TestFaultFileReplacedDuringDownload replaces the local file between the
// download's fetch and its commit (and, in a second file, creates one
// where the download was going): the user's file is never overwritten;
// both versions survive as a conflict.
func TestFaultFileReplacedDuringDownload(t *testing.T) {
	w := newTestWorld(t)
	w.put(t, "doc.txt", "version one")
	w.settle(t)
	// The remote modifies doc.txt and creates new.txt.
	nf := w.remoteUpload(t, "", "doc.txt.tmp", "remote version two")
	st, _ := (&user{w: w}).remoteState()
	if err := w.userClient.DeleteFile(context.Background(), rid(st.ids["doc.txt"])); err != nil {
		t.Fatal(err)
	}
	if _, err := w.userClient.RenameFile(context.Background(), nf.ID, "doc.txt"); err != nil {
		t.Fatal(err)
	}
	w.remoteUpload(t, "", "new.txt", "remote new file")

	var localV2, localNew string
	hook := func(point string) error {
		if point != "download.fetched" {
			return nil
		}
		if localV2 == "" {
			localV2 = w.put(t, "doc.txt", "local version two, written during the download")
		} else if localNew == "" {
			localNew = w.put(t, "new.txt", "local new file, written during the download")
		}
		return nil
	}
	if _, err := w.pass(t, engine.Options{Failpoint: hook}); err != nil {
		t.Logf("pass: %v", err)
	}
	if localV2 == "" || localNew == "" {
		t.Fatalf("the downloads never reached the failpoint (%q %q)", localV2, localNew)
	}
	l, _ := w.localTree()
	if l["doc.txt"] != localV2 || l["new.txt"] != localNew {
		t.Fatalf("a download overwrote a file written after planning:\n%s", l)
	}
	w.settle(t)
	w.assertLive(t, localV2, localNew, sum([]byte("remote version two")), sum([]byte("remote new file")))
}

// TestFaultClockJumps moves the fake clock back two days and forward three
// between passes (expiring the idle token), with changes on both sides.
func TestFaultClockJumps(t *testing.T) {
	w := newTestWorld(t)
	a := w.put(t, "a.txt", "a one")
	w.settle(t)
	var vs []string
	for i, d := range []time.Duration{-48 * time.Hour, 72 * time.Hour, -30 * time.Minute, 5 * time.Hour} {
		w.clk.Advance(d)
		vs = append(vs, w.put(t, "a.txt", fmt.Sprintf("a version %d", i+2)))
		vs = append(vs, w.put(t, fmt.Sprintf("n%d.txt", i), fmt.Sprintf("new %d", i)))
		w.remoteUpload(t, "", fmt.Sprintf("r%d.txt", i), fmt.Sprintf("remote %d", i))
		vs = append(vs, sum([]byte(fmt.Sprintf("remote %d", i))))
		w.settle(t)
	}
	w.assertLive(t, vs[len(vs)-3:]...)
	w.assertKept(t, append(vs, a)...)
}

// TestFaultStateDeletedBetweenRuns deletes the state file between two runs
// with changes on both sides: the rebuild is conservative (differences
// become conflicts, never deletions) and converges.
func TestFaultStateDeletedBetweenRuns(t *testing.T) {
	w := newTestWorld(t)
	w.put(t, "same.txt", "unchanged")
	w.put(t, "mod.txt", "mod one")
	w.put(t, "gone.txt", "deleted locally")
	w.settle(t)
	w.closeAll()
	if err := os.Remove(w.machine.StatePath); err != nil {
		t.Fatal(err)
	}
	mod := w.put(t, "mod.txt", "mod two, local")
	if err := os.Rename(filepath.Join(w.dir, "gone.txt"), filepath.Join(w.recycle, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	w.remoteUpload(t, "", "remote-new.txt", "remote new")
	if err := w.open(); err != nil {
		t.Fatal(err)
	}
	w.front.take()
	w.settle(t)
	w.assertLive(t, sum([]byte("unchanged")), mod, sum([]byte("mod one")), sum([]byte("remote new")))
	// Without a base a local delete cannot be told from a remote create:
	// the file comes back rather than being deleted.
	w.assertLive(t, sum([]byte("deleted locally")))
	w.front.take()
	if _, err := w.quiesce(2); err != nil {
		t.Fatal(err)
	}
	if c := w.front.take(); countOf(c, mutating...) > 0 {
		t.Fatalf("not idle after the rebuild: %v", c)
	}
}

// TestFaultTwoHostsFightOverToken runs two engines (two local roots, two
// state files, one account and remote folder) concurrently while users
// change both roots; each authorization kills the other's token.
func TestFaultTwoHostsFightOverToken(t *testing.T) {
	a := newTestWorld(t)
	b, err := joinWorld(a, t.TempDir(), "hostB")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.shutdown(false) })
	// Both hosts start at once on an empty account: they race to create the
	// pair folder too (TestRegressionRemoteRootCreateRaceSplitsHosts stages
	// that race deterministically).
	var written []string
	for i := range 3 {
		written = append(written, a.put(t, fmt.Sprintf("a%d.txt", i), fmt.Sprintf("from A %d", i)))
		written = append(written, b.put(t, fmt.Sprintf("b%d.txt", i), fmt.Sprintf("from B %d", i)))
	}
	written = append(written, a.put(t, "both.txt", "A's both"), b.put(t, "both.txt", "B's both"))
	for round := range 4 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, w := range []*world{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2 {
					_, errs[i] = w.pair(engine.Options{}).Pass(context.Background(), engine.PassOptions{})
				}
			}()
		}
		// Users keep editing while both engines run.
		written = append(written, a.put(t, "both.txt", fmt.Sprintf("A edits %d", round)))
		written = append(written, b.put(t, fmt.Sprintf("b-new%d.txt", round), fmt.Sprintf("B new %d", round)))
		wg.Wait()
		t.Logf("round %d: A %v, B %v", round, errs[0], errs[1])
	}
	t.Logf("remote after the fight:\n%s", a.dumpString())
	// Alternate until both agree with the remote.
	for range 4 {
		a.settle(t)
		b.settle(t)
		la, _ := a.localTree()
		lb, _ := b.localTree()
		if la.String() == lb.String() {
			break
		}
	}
	la, _ := a.localTree()
	lb, _ := b.localTree()
	if la.String() != lb.String() {
		t.Fatalf("hosts disagree:\nA:\n%sB:\n%s", la, lb)
	}
	all, err := a.everywhere(b.dir, b.recycle)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range written {
		if !all[m] {
			t.Errorf("version %s lost", short(m))
		}
	}
	if _, dups := a.remoteTree(); len(dups) > 0 {
		t.Fatalf("duplicate remote entries: %v", dups)
	}
}

// hostileNames are remote names no local file system should take as
// given: dot names, the marker's name, control characters, a backslash,
// an over-long name, Windows-reserved forms, names equal after NFC.
// ("." and ".." are in TestRegressionRemoteDotNameFailsEveryPass.)
var hostileNames = []string{".syncd", "tab\there.txt", "line\nbreak.txt",
	strings.Repeat("long", 70) + ".txt", "back\\slash.txt", "trail.txt.", "CON", "a:b.txt"}

// TestFaultHostileRemoteNames creates each hostile name on the remote (as
// a file, and as a folder holding a file): passes must not fail, nothing
// may be written outside the root, the entries stay on the remote, and the
// next pass is idle.
func TestFaultHostileRemoteNames(t *testing.T) {
	for _, name := range hostileNames {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			hostileCase(t, []string{name})
		})
	}
	nfc, nfd := norm.NFC.String("café.txt"), norm.NFD.String("café.txt")
	t.Run("nfc-clash", func(t *testing.T) { hostileCase(t, []string{nfc, nfd}) })
}

func hostileCase(t *testing.T, names []string) {
	w := newTestWorld(t)
	w.put(t, "normal.txt", "normal")
	w.settle(t)
	ctx := context.Background()
	root := rid(w.folderID(t, ""))
	var created []string
	for i, n := range names {
		data := []byte(fmt.Sprintf("hostile %d %q", i, n))
		f, err := w.userClient.Upload(ctx, remote.UploadRequest{Folder: root, Name: n, Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
		if err != nil {
			t.Logf("the API refused file %q: %v", n, err)
			continue
		}
		created = append(created, sum(data))
		if f.Name != n {
			t.Logf("file %q stored as %q", n, f.Name)
		}
		if len(names) > 1 {
			continue
		}
		dir, err := w.userClient.CreateFolder(ctx, root, n+"-dir")
		if err != nil {
			t.Logf("the API refused folder %q: %v", n, err)
			continue
		}
		if _, err := w.userClient.RenameFolder(ctx, dir.ID, n); err != nil {
			t.Logf("the API refused renaming a folder to %q: %v", n, err)
		}
		inner := []byte("inside " + n)
		if _, err := w.userClient.Upload(ctx, remote.UploadRequest{Folder: dir.ID, Name: "inner.txt", Size: int64(len(inner)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(inner)), nil }}); err == nil {
			created = append(created, sum(inner))
		}
	}
	parent := filepath.Dir(w.dir)
	before, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var res engine.PassResult
	for range 3 {
		if res, err = w.pass(t, engine.Options{}); err != nil {
			t.Fatalf("a remote name %q fails every pass: %v", names, err)
		}
	}
	if after, _ := os.ReadDir(parent); len(after) != len(before) {
		t.Fatalf("something was written next to the root: %v -> %v", before, after)
	}
	t.Logf("problems: %+v", res.Plan.Problems)
	for _, en := range w.emu().Dump(w.acct.ID) {
		if en.Status != "active" {
			t.Errorf("remote entry trashed: %+v", en)
		}
	}
	w.assertKept(t, created...)
	w.front.take()
	if res, err = w.pass(t, engine.Options{}); err != nil {
		t.Fatal(err)
	}
	if c := w.front.take(); countOf(c, mutating...) > 0 || len(res.Plan.Ops) > 0 {
		t.Fatalf("the hostile name makes every pass work: ops %v, requests %v", res.Plan.Ops, c)
	}
	// Whatever landed locally is content that exists remotely.
	l, _ := w.localTree()
	ok := map[string]bool{sum([]byte("normal")): true, "/": true}
	for _, m := range created {
		ok[m] = true
	}
	for p, m := range l {
		if !ok[m] {
			t.Errorf("local %q holds content that exists nowhere remotely", p)
		}
	}
}
