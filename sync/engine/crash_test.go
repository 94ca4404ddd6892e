package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

// TestCrashAtEveryFailpointResumes kills the pass at each step of every
// multi-step operation, drops every in-memory structure, reopens the state
// file and proves the next run converges with nothing lost and no remote
// duplicate.
func TestCrashAtEveryFailpointResumes(t *testing.T) {
	for _, point := range engine.Failpoints {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t)
			e.write("mod.txt", "version one")
			e.write("d/inner.txt", "inner")
			e.write("stay.txt", "stay")
			// A file moved where both orders of move and rename pass
			// through a taken name: the remote move goes through a
			// temporary name (three calls).
			e.write("p/one.txt", "p one")
			e.write("p/two.txt", "p two")
			e.write("q/one.txt", "q one")
			e.write("ren.txt", "renamed remotely")
			e.sync()

			// One change of each kind: an upload, a replace, a download, a
			// folder move with rename.
			e.write("new.txt", "brand new")
			e.write("mod.txt", "version two!")
			e.upload(e.other(), "", "down.txt", "from the remote")
			if err := os.MkdirAll(filepath.Join(e.dir, "e"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(e.dir, "d"), filepath.Join(e.dir, "e", "d2")); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(e.dir, "p", "one.txt"), filepath.Join(e.dir, "q", "two.txt")); err != nil {
				t.Fatal(err)
			}
			// A remote rename: a local move.
			ren, _ := e.remoteEntry("ren.txt")
			if _, err := e.other().RenameFile(context.Background(), idOf(ren), "ren2.txt"); err != nil {
				t.Fatal(err)
			}
			want := e.localFilesAfter(map[string]string{"down.txt": sum("from the remote"), "ren2.txt": sum("renamed remotely")})
			delete(want, "ren.txt")

			hit := false
			p := e.pair(func(o *engine.Options) {
				o.Workers = 1
				o.MaxPasses = 1
				o.Failpoint = crashOnce(point, &hit)
			})
			_, err := p.Once(context.Background(), engine.PassOptions{})
			if !hit {
				t.Fatalf("failpoint %s never reached (err %v)", point, err)
			}
			if !errors.Is(err, engine.ErrCrash) {
				t.Fatalf("crash not reported: %v", err)
			}
			e.restart()
			e.sync()
			if got := e.localFiles(); !equalMaps(got, want) {
				t.Fatalf("after resume:\n got  %v\n want %v", sorted(got), sorted(want))
			}
			if res := e.once(); len(res.Plan.Ops) != 0 {
				t.Fatalf("not quiescent after resume: %v", res.Plan.Ops)
			}
			// Exactly one live remote file per path, under its own name.
			live := 0
			for _, en := range e.emu.Dump(e.account.ID) {
				if en.Status == "active" && !en.Folder {
					live++
				}
				if strings.Contains(en.Path, ".syncd-move-") {
					t.Errorf("remote entry left under a temporary name: %s", en.Path)
				}
			}
			files := 0
			for _, v := range want {
				if v != "/" {
					files++
				}
			}
			if live != files {
				t.Fatalf("%d live remote files, want %d: %+v", live, files, e.emu.Dump(e.account.ID))
			}
		})
	}
}

// localFilesAfter is the local tree now plus the given extra entries.
func (e *env) localFilesAfter(extra map[string]string) map[string]string {
	m := e.localFiles()
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// A move through a temporary name that dies there, while another client
// takes the name it was going to: recovery takes the entry back to where it
// came from, never leaving it under the temporary name, and both versions
// stay live.
func TestCrashedThreeStepMoveGoesBackWhenItsNameIsTaken(t *testing.T) {
	e := newEnv(t)
	e.write("p/one.txt", "p one")
	e.write("p/two.txt", "p two")
	e.write("q/one.txt", "q one")
	e.sync()
	if err := os.Rename(filepath.Join(e.dir, "p", "one.txt"), filepath.Join(e.dir, "q", "two.txt")); err != nil {
		t.Fatal(err)
	}
	hit := false
	p := e.pair(func(o *engine.Options) {
		o.MaxPasses = 1
		o.Failpoint = crashOnce("move-remote.aside", &hit)
	})
	if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) || !hit {
		t.Fatalf("no crash at move-remote.aside: %v", err)
	}
	e.upload(e.other(), "q", "two.txt", "taken meanwhile")
	e.restart()
	e.sync()
	contents := map[string]bool{}
	for p, m := range e.localFiles() {
		contents[m] = true
		if strings.Contains(p, ".syncd-move-") {
			t.Errorf("local entry under a temporary name: %s", p)
		}
	}
	for _, c := range []string{"p one", "p two", "q one", "taken meanwhile"} {
		if !contents[sum(c)] {
			t.Errorf("version %q not live: %v", c, sorted(e.localFiles()))
		}
	}
}

// A download over a synced file that dies after the rename into place,
// before the commit: the next pass must not take the downloaded version for
// a local edit. Here the remote goes back to the synced content meanwhile;
// taking the download for an edit would send it back over the remote's
// newest version (found by simulation seed 451778).
func TestCrashAfterDownloadInPlaceIsNoLocalEdit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.write("doc.txt", "version one")
	e.sync()
	o := e.other()
	e.replaceRemote(o, "doc.txt", "version two, from the remote")
	hit := false
	p := e.pair(func(opt *engine.Options) {
		opt.Failpoint = crashOnce("download.committed", &hit)
	})
	if _, err := p.Once(ctx, engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) || !hit {
		t.Fatalf("no crash at download.committed: %v", err)
	}
	if got, _ := e.read("doc.txt"); got != "version two, from the remote" {
		t.Fatalf("the download was not in place before the crash: %q", got)
	}
	e.replaceRemote(o, "doc.txt", "version one") // the remote user goes back
	e.restart()
	e.sync()
	if got, _ := e.read("doc.txt"); got != "version one" {
		t.Fatalf("local doc.txt is %q, want the remote's newest version", got)
	}
	if f := e.remoteFiles()["doc.txt"]; f != sum("version one") {
		t.Fatalf("the remote's newest version was replaced (remote holds %s)", f)
	}
}

// A first upload that arrived on the server when the process died, before
// the commit, then a local edit of the file: the next pass must know the
// remote file for syncd's own upload (the journal says what was sent) and
// replace it with the edit, never take it for someone else's file and make
// a conflict copy (issue 13, bug 1). Crashes at both steps between the
// upload's arrival and the commit, with uploads in flight beside it. The
// server takes a while to store each upload whatever the client does, so
// the uploads in flight at the crash arrive after the restarted pass first
// lists their folder: recovery must look again before it decides they
// never came (it once closed their records, and the local edits became
// conflict copies, 1 run in 5 to 20 when the timing fell that way).
func TestCrashAfterFirstUploadThenLocalEditIsAReplace(t *testing.T) {
	for _, point := range []string{"upload.uploaded", "upload.renamed", "commit.before"} {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t)
			e.write("old.txt", "synced before")
			e.sync()
			for i := range 20 {
				e.write(fmt.Sprintf("d/f%02d.txt", i), fmt.Sprintf("first version %d", i))
			}
			e.emu.InjectFault(emulator.Fault{Endpoint: "file/upload", Count: 1000, StoreDelay: 300 * time.Millisecond})
			var arrived atomic.Int32 // failpoints are called from every op in flight
			p := e.pair(func(o *engine.Options) {
				o.MaxPasses = 1
				o.Failpoint = func(name string) error {
					if name == "upload.uploaded" {
						arrived.Add(1)
					}
					if name == point && arrived.Load() >= 5 {
						return fmt.Errorf("%s: %w", name, engine.ErrCrash)
					}
					return nil
				}
			})
			if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) {
				t.Fatalf("no crash at %s: %v", point, err)
			}
			e.restart()
			e.emu.ClearFaults()
			// Every file is edited now, whether its upload arrived or not.
			want := map[string]string{"old.txt": sum("synced before")}
			for i := range 20 {
				c := fmt.Sprintf("second version %d, longer", i)
				e.write(fmt.Sprintf("d/f%02d.txt", i), c)
				want[fmt.Sprintf("d/f%02d.txt", i)] = sum(c)
			}
			// The product's wait for late uploads, not the shorter one of
			// the other tests.
			res, err := e.pair(func(o *engine.Options) { o.LateUploadWait = 0 }).Once(context.Background(), engine.PassOptions{})
			if err != nil {
				t.Fatalf("once after the crash: %v", err)
			}
			if len(res.Plan.Conflicts) != 0 || res.ConflictsLogged != 0 {
				t.Fatalf("syncd's own upload taken for another's file: conflicts %+v", res.Plan.Conflicts)
			}
			e.assertSame()
			got := e.localFiles()
			delete(got, "d")
			if !equalMaps(got, want) {
				t.Fatalf("after the pass:\n got  %v\n want %v", sorted(got), sorted(want))
			}
			live := 0
			for _, en := range e.emu.Dump(e.account.ID) {
				if en.Status == "active" && !en.Folder {
					live++
				}
			}
			if live != len(want) {
				t.Fatalf("%d live remote files, want %d", live, len(want))
			}
		})
	}
}

// The download of a new remote file lands in place when the process dies,
// before the commit; then the other client writes a new version. The next
// pass must know the local file for syncd's own download and bring the new
// version down, never take the two for a conflict (issue 13, found by
// TestKillWithEditsBetweenKills).
func TestCrashAfterFirstDownloadThenRemoteEditIsADownload(t *testing.T) {
	e := newEnv(t)
	e.write("old.txt", "synced before")
	e.sync()
	c := e.otherWithRoot()
	for i := range 8 {
		e.upload(c, "", fmt.Sprintf("r%d.txt", i), fmt.Sprintf("remote version one %d", i))
	}
	var landed atomic.Int32
	p := e.pair(func(o *engine.Options) {
		o.MaxPasses = 1
		o.Failpoint = func(name string) error {
			if name == "download.committed" && landed.Add(1) >= 3 {
				return fmt.Errorf("%s: %w", name, engine.ErrCrash)
			}
			return nil
		}
	})
	if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) {
		t.Fatalf("no crash at download.committed: %v", err)
	}
	want := map[string]string{"old.txt": sum("synced before")}
	for i := range 8 {
		v := fmt.Sprintf("remote version two %d, longer", i)
		e.replaceRemote(e.other(), fmt.Sprintf("r%d.txt", i), v)
		want[fmt.Sprintf("r%d.txt", i)] = sum(v)
	}
	e.restart()
	res := e.once()
	if len(res.Plan.Conflicts) != 0 || res.ConflictsLogged != 0 {
		t.Fatalf("syncd's own download taken for the user's file: conflicts %+v", res.Plan.Conflicts)
	}
	e.assertSame()
	if got := e.localFiles(); !equalMaps(got, want) {
		t.Fatalf("after the pass:\n got  %v\n want %v", sorted(got), sorted(want))
	}
}

// crashOnce is a failpoint that crashes the pass at point, the first time
// only, and notes it in hit.
func crashOnce(point string, hit *bool) func(string) error {
	return func(name string) error {
		if name == point && !*hit {
			*hit = true
			return fmt.Errorf("%s: %w", name, engine.ErrCrash)
		}
		return nil
	}
}

// A true conflict (the file edited on both sides) resolved by renaming the
// local version aside, then the process dies before the commit. The next
// pass must see the local file at the copy's name for the conflict copy it
// is, not for the contested file moved there by the user: that reading
// moved the remote version onto the copy's name and made a second copy,
// "f (conflict …) (conflict …).txt" (TestSim seed 700048).
func TestCrashAfterLocalConflictCopyMakesNoSecondCopy(t *testing.T) {
	for _, point := range []string{"upload.begun", "download.committed", "commit.before"} {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t)
			e.write("f.txt", "version one")
			e.sync()
			e.write("f.txt", "local version two") // in place: the inode stays
			e.replaceRemote(e.other(), "f.txt", "remote version two, longer")
			hit := false
			p := e.pair(func(o *engine.Options) {
				o.Workers = 1
				o.MaxPasses = 1
				o.Failpoint = crashOnce(point, &hit)
			})
			if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) || !hit {
				t.Fatalf("no crash at %s: %v", point, err)
			}
			e.restart()
			e.sync()
			e.assertSame()
			files := e.localFiles()
			if len(files) != 2 {
				t.Fatalf("want f.txt and one conflict copy, have %v", sorted(files))
			}
			if files["f.txt"] != sum("remote version two, longer") {
				t.Fatalf("f.txt holds %s, want the remote version", files["f.txt"])
			}
			if cp := copyOf(t, files, "f"); files[cp] != sum("local version two") {
				t.Fatalf("copy %s holds %s, want the local version", cp, files[cp])
			}
		})
	}
}

// The other client writes a new version of a file (a new remote id at the
// same path) while the local user renames it; the pass moves the new
// version to the local name and dies before its commit. Only the move tied
// that id to the file's base entry: the next pass took it for another
// client's file at the new name and made a conflict copy (TestSim seed
// 800135). The journal now ties them; the next pass downloads the version.
func TestCrashAfterMovingANewRemoteVersion(t *testing.T) {
	e := newEnv(t)
	e.write("e.txt", "version one")
	e.sync()
	e.replaceRemote(e.other(), "e.txt", "remote version two, longer")
	if err := os.Rename(filepath.Join(e.dir, "e.txt"), filepath.Join(e.dir, "f.txt")); err != nil {
		t.Fatal(err)
	}
	hit := false
	p := e.pair(func(o *engine.Options) {
		o.Workers = 1
		o.MaxPasses = 1
		o.Failpoint = crashOnce("move-remote.moved", &hit)
	})
	if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) || !hit {
		t.Fatalf("no crash at move-remote.moved: %v", err)
	}
	e.restart()
	res := e.sync()
	if len(res.Plan.Conflicts) != 0 {
		t.Fatalf("conflicts %v", res.Plan.Conflicts)
	}
	e.assertSame()
	want := map[string]string{"f.txt": sum("remote version two, longer")}
	if got := e.localFiles(); !equalMaps(got, want) {
		t.Fatalf("local files %v, want %v", sorted(got), sorted(want))
	}
}

// A remote rename brought down by a local move, the process dead before the
// commit, then the other client writes a new version of the renamed file (a
// new id). Only the uncommitted move tied the local file to its base entry:
// the next pass took the local file for the user's own new file in the way of
// the remote one and made a conflict copy (TestSimOneWay seed 800173). The
// move is journaled now; the next pass downloads the version. Both a two-way
// and a download-only pair.
func TestCrashAfterLocalMoveThenRemoteEdit(t *testing.T) {
	for _, down := range []bool{false, true} {
		t.Run(fmt.Sprintf("download-only=%v", down), func(t *testing.T) {
			e := newEnv(t)
			e.write("a.txt", "version one")
			e.sync()
			en, _ := e.remoteEntry("a.txt")
			if _, err := e.other().RenameFile(context.Background(), idOf(en), "b.txt"); err != nil {
				t.Fatal(err)
			}
			if down {
				e.cfg.Direction = plan.DownloadOnly
			}
			hit := false
			p := e.pair(func(o *engine.Options) {
				o.MaxPasses = 1
				o.Failpoint = crashOnce("commit.before", &hit)
			})
			if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) || !hit {
				t.Fatalf("no crash at commit.before: %v", err)
			}
			e.replaceRemote(e.other(), "b.txt", "remote version two, longer")
			e.restart()
			e.sync()
			want := map[string]string{"b.txt": sum("remote version two, longer")}
			if got := e.localFiles(); !equalMaps(got, want) {
				t.Fatalf("local files %v, want %v", sorted(got), sorted(want))
			}
			e.assertSame()
		})
	}
}

// The download of a new remote file lands in place when the process dies,
// before the commit; then the user edits that file before the next pass,
// in place or by saving a new file over it (a new inode). The next pass
// must know the file for syncd's own download (by its inode, or by its
// temp file gone: both journaled before the rename into place), edited
// since, and upload the edit over the remote version: nobody else wrote
// that file, so a conflict copy would be false (issue 13).
func TestCrashAfterFirstDownloadThenLocalEditIsAnUpload(t *testing.T) {
	for _, how := range []string{"in place", "new inode"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			e.write("old.txt", "synced before")
			e.sync()
			c := e.otherWithRoot()
			for i := range 8 {
				e.upload(c, "", fmt.Sprintf("r%d.txt", i), fmt.Sprintf("remote version one %d", i))
			}
			var landed atomic.Int32
			p := e.pair(func(o *engine.Options) {
				o.MaxPasses = 1
				o.Failpoint = func(name string) error {
					if name == "download.committed" && landed.Add(1) >= 3 {
						return fmt.Errorf("%s: %w", name, engine.ErrCrash)
					}
					return nil
				}
			})
			if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) {
				t.Fatalf("no crash at download.committed: %v", err)
			}
			e.restart()
			// Every file in place is edited now; the others come down.
			want := map[string]string{"old.txt": sum("synced before")}
			edited := 0
			for i := range 8 {
				rel := fmt.Sprintf("r%d.txt", i)
				want[rel] = sum(fmt.Sprintf("remote version one %d", i))
				if _, ok := e.read(rel); !ok {
					continue
				}
				v := fmt.Sprintf("local edit %d, longer than the download", i)
				if how == "new inode" {
					// As editors save: a new file renamed over the old one.
					tmp := filepath.Join(e.dir, rel+".swp")
					if err := os.WriteFile(tmp, []byte(v), 0o644); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(tmp, filepath.Join(e.dir, rel)); err != nil {
						t.Fatal(err)
					}
				}
				e.write(rel, v)
				want[rel] = sum(v)
				edited++
			}
			if edited == 0 {
				t.Fatal("no download had landed before the crash")
			}
			res := e.once()
			if len(res.Plan.Conflicts) != 0 || res.ConflictsLogged != 0 {
				t.Fatalf("syncd's own download taken for the user's file: conflicts %+v", res.Plan.Conflicts)
			}
			e.assertSame()
			if got := e.localFiles(); !equalMaps(got, want) {
				t.Fatalf("after the pass:\n got  %v\n want %v", sorted(got), sorted(want))
			}
		})
	}
}

// A download journaled and interrupted before its rename into place, then
// a file of the user's own at that path: a real conflict (both sides made
// the file), which recovery must not take for syncd's download edited
// since (its temp file is still there).
func TestCrashBeforeDownloadInPlaceThenLocalFileIsAConflict(t *testing.T) {
	e := newEnv(t)
	e.write("old.txt", "synced before")
	e.sync()
	c := e.otherWithRoot()
	e.upload(c, "", "r.txt", "remote version")
	hit := false
	p := e.pair(func(o *engine.Options) {
		o.MaxPasses = 1
		o.Failpoint = crashOnce("download.journaled", &hit)
	})
	if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) {
		t.Fatalf("no crash at download.journaled: %v", err)
	}
	e.restart()
	if _, ok := e.read("r.txt"); ok {
		t.Fatal("r.txt in place before its rename")
	}
	e.write("r.txt", "the user's own file")
	res := e.once()
	if res.ConflictsLogged != 1 {
		t.Fatalf("%d conflicts logged, want the one of r.txt; local %v", res.ConflictsLogged, sorted(e.localFiles()))
	}
	e.assertSame()
	if got, _ := e.read("r.txt"); got != "remote version" {
		t.Fatalf("r.txt holds %q, want the remote version (the local one is the copy)", got)
	}
}

// crashAfterUpload is a Remote whose upload of a file named name arrives
// on the server, then the process dies before hearing of it.
type crashAfterUpload struct {
	engine.Remote
	name string
}

func (c crashAfterUpload) Upload(ctx context.Context, u engine.Upload) (engine.RemoteFile, error) {
	f, err := c.Remote.Upload(ctx, u)
	if err == nil && u.Name == c.name {
		return engine.RemoteFile{}, fmt.Errorf("after uploading %s: %w", u.Name, engine.ErrCrash)
	}
	return f, err
}

// An upload that becomes ready late (its folder is made by the same pass)
// while a full batch of journaled uploads waits for a slot comes first in
// plan order and is launched at once: it must be journaled too. Launched
// unjournaled, a crash after its file arrived left nothing to tie it to
// the local file, and the user's edit before the next pass became a
// conflict copy of syncd's own upload (TestKillWithEditsBetweenKills,
// issue 13).
func TestCrashAfterLateReadyUploadThenLocalEditIsAReplace(t *testing.T) {
	e := newEnv(t, func(o *emulator.Options) {
		a := emulator.DefaultAccount()
		a.ConcurrentUploads = 2
		o.Accounts = []emulator.Account{a}
	})
	e.write("b/keep.txt", "synced before")
	e.sync()
	e.write("a/x.txt", "first version of x")
	for i := range 30 {
		e.write(fmt.Sprintf("b/f%02d.txt", i), fmt.Sprintf("first version %d", i))
	}
	// Uploads take a while: the folder a exists before the batch of b's
	// uploads is through.
	e.emu.InjectFault(emulator.Fault{Endpoint: "file/upload", Count: 1000, StoreDelay: 30 * time.Millisecond})
	p := e.pairOver(crashAfterUpload{Remote: bind.Remote{C: e.client}, name: "x.txt"}, engine.Options{MaxPasses: 1, LateUploadWait: 100 * time.Millisecond})
	if _, err := p.Once(context.Background(), engine.PassOptions{}); !errors.Is(err, engine.ErrCrash) {
		t.Fatalf("no crash after the upload of a/x.txt: %v", err)
	}
	if _, ok := e.remoteEntry("a/x.txt"); !ok {
		t.Fatal("a/x.txt did not arrive before the crash")
	}
	e.restart()
	e.emu.ClearFaults()
	e.write("a/x.txt", "second version of x, edited after the crash")
	res := e.once()
	if len(res.Plan.Conflicts) != 0 || res.ConflictsLogged != 0 {
		t.Fatalf("syncd's own upload taken for another's file: conflicts %+v", res.Plan.Conflicts)
	}
	e.assertSame()
	if got, _ := e.read("a/x.txt"); got != "second version of x, edited after the crash" {
		t.Fatalf("a/x.txt holds %q", got)
	}
	if got := e.remoteFiles()["a/x.txt"]; got != sum("second version of x, edited after the crash") {
		t.Fatalf("remote a/x.txt holds %s", got)
	}
}
