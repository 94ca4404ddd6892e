package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/sync/engine"
)

// copyOf returns the one path of files holding a conflict copy of name.
func copyOf(t *testing.T, files map[string]string, name string) string {
	t.Helper()
	var found []string
	for p := range files {
		if strings.HasPrefix(p, name+" (conflict ") && !strings.Contains(p[len(name):], "/") {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("conflict copies of %s: %v in %v", name, found, sorted(files))
	}
	return found[0]
}

// failed lists the ops of a pass that did not succeed.
func failed(res engine.PassResult) []string {
	var out []string
	for _, ie := range res.Errors {
		out = append(out, ie.Op+" "+ie.Path+": "+ie.Err)
	}
	if res.Skipped+res.Failed > len(out) {
		out = append(out, fmt.Sprintf("%d skipped, %d failed", res.Skipped, res.Failed))
	}
	return out
}

// cleanPass runs one pass and fails the test if any of its ops failed or
// was skipped: ops of one pass must not break each other's premises.
func (e *env) cleanPass() engine.PassResult {
	e.t.Helper()
	res := e.pass()
	if f := failed(res); len(f) > 0 {
		e.t.Fatalf("ops of one pass failed: %v (plan %v)", f, res.Plan.Ops)
	}
	return res
}

// A local rename over a file the remote side edited: the remote version is
// moved aside to a conflict copy (its name goes to the renamed file) and
// downloaded there. The download took the copy's name from its premise, the
// remote file as listed under its old name, and so committed it over the
// renamed local file ("commit e: e: already exists": TestSim seeds 37, 30,
// 206733).
func TestDownloadOfRenamedConflictCopy(t *testing.T) {
	e := newEnv(t)
	e.write("e", "old e")
	e.write("f.txt", "f")
	e.sync()
	if err := os.Rename(filepath.Join(e.dir, "f.txt"), filepath.Join(e.dir, "e")); err != nil {
		t.Fatal(err)
	}
	e.replaceRemote(e.other(), "e", "remote edit of e")
	e.cleanPass()
	e.sync()
	files := e.localFiles()
	if files["e"] != sum("f") || files[copyOf(t, files, "e")] != sum("remote edit of e") {
		t.Fatalf("local side: %v", files)
	}
}

// The same with folders: a local folder renamed over one the user deleted
// locally, into which the remote side put a new file. The remote folder is
// kept as a conflict copy and made locally, under the copy's name, not its
// old one (TestSim seed 101581: "mkdir x: already exists").
func TestMkdirOfRenamedConflictCopyFolder(t *testing.T) {
	e := newEnv(t)
	e.write("x/a.txt", "a")
	e.write("z/b.txt", "b")
	e.sync()
	if err := os.RemoveAll(filepath.Join(e.dir, "x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.dir, "z"), filepath.Join(e.dir, "x")); err != nil {
		t.Fatal(err)
	}
	e.upload(e.other(), "x", "new.txt", "remote new")
	e.cleanPass()
	e.sync()
	files := e.localFiles()
	cp := copyOf(t, files, "x")
	if files["x/b.txt"] != sum("b") || files[cp+"/new.txt"] != sum("remote new") {
		t.Fatalf("local side: %v", sorted(files))
	}
}

// A remote folder rename and a local edit inside it: the pass moves the
// local folder, then replaces the file at its new path. A crash after the
// replace's upload and before the commit left base naming the file at its
// old path; recovery found no base entry at the record's path that named
// the replaced id, left the replace unrecorded, and the next pass took
// syncd's own upload for another client's file: a false conflict copy of
// the folder (TestSim seeds 101173, 206733). Recovery records what the
// pass would have committed.
func TestCrashedReplaceAfterItsPassMovedTheFile(t *testing.T) {
	for _, point := range []string{"replace.uploaded", "replace.old-trashed", "replace.renamed", "commit.before"} {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t)
			e.write("y/d.bin", "first")
			e.sync()
			en, _ := e.remoteEntry("y")
			if _, err := e.other().RenameFolder(context.Background(), remote.ID(itoa(en.ID)), "z"); err != nil {
				t.Fatal(err)
			}
			e.write("y/d.bin", "edited locally")
			hit := false
			p := e.pair(func(o *engine.Options) {
				o.MaxPasses = 1
				o.Failpoint = crashOnce(point, &hit)
			})
			if _, err := p.Once(context.Background(), engine.PassOptions{}); !hit || !errors.Is(err, engine.ErrCrash) {
				t.Fatalf("crash at %s: hit %v, err %v", point, hit, err)
			}
			e.restart()
			e.sync()
			files := e.localFiles()
			want := map[string]string{"z": "/", "z/d.bin": sum("edited locally")}
			if !equalMaps(files, want) {
				t.Fatalf("local side: %v, want %v", sorted(files), sorted(want))
			}
		})
	}
}

// A folder moved locally to a name the ignore rules exclude, and its
// parent renamed: the pass moves the parent remotely, then trashes the
// folder (gone from what syncd sees) at its new path. The delete checked
// the remote subtree against what the snapshot listed at that new path,
// where it had nothing, so the folder's own file read as new: skipped at
// every pass (TestSimIgnore seed 5).
func TestDeleteOfFolderInsideAFolderMovedByThePass(t *testing.T) {
	e := newEnv(t)
	e.write("z/z/f.txt", "f")
	e.write("z/g.txt", "g")
	e.sync()
	e.ignore("y/")
	if err := os.Rename(filepath.Join(e.dir, "z", "z"), filepath.Join(e.dir, "z", "y")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.dir, "z"), filepath.Join(e.dir, "x")); err != nil {
		t.Fatal(err)
	}
	e.cleanPass()
	if _, ok := e.remoteEntry("x/z"); ok {
		t.Fatalf("remote x/z not deleted: %v", e.remoteFiles())
	}
}

// The remote renames a file to a name spelt in NFD while the local user edits
// it in place: one pass moves the local file to the remote's spelling, then
// replaces the remote content. The replace took the path's spelling from its
// premise, planned before the move, in NFC: "open café.txt: not found", at
// every pass (TestSim seed 800112).
func TestReplaceAfterAMoveToAnNFDName(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "version one")
	e.sync()
	nfd := "cafe\u0301.txt"
	en, _ := e.remoteEntry("a.txt")
	if _, err := e.other().RenameFile(context.Background(), idOf(en), nfd); err != nil {
		t.Fatal(err)
	}
	e.write("a.txt", "version two, local") // in place: the same inode
	e.cleanPass()
	if got, _ := e.read(nfd); got != "version two, local" {
		t.Fatalf("local %s holds %q; local files %v", nfd, got, sorted(e.localFiles()))
	}
	e.assertSame()
}

// The local user renames a file to a name spelt in NFD and edits it in
// place: one pass moves the remote file to that spelling, then replaces its
// content. The replace's premise, planned before the move, named the file
// in NFC, and its check took the moved file for another client's change:
// skipped at every pass (TestSimTwoHosts seed 800029).
func TestReplaceAfterAMoveRemoteToAnNFDName(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "version one")
	e.sync()
	nfd := "cafe\u0301.txt"
	if err := os.Rename(filepath.Join(e.dir, "a.txt"), filepath.Join(e.dir, nfd)); err != nil {
		t.Fatal(err)
	}
	e.write(nfd, "version two, local") // in place: the same inode
	e.cleanPass()
	e.assertSame()
	if f := e.remoteFiles(); len(f) != 1 {
		t.Fatalf("remote files %v", f)
	}
}

// A folder renamed differently on both sides (z/z to y locally, to z/x
// remotely) and a file inside it renamed locally: the pass moves the local
// folder to x and the remote one to x (the local parent, the remote name),
// then the file inside. Neither move's result wrote x into the working base
// (base had the folder at z/z), so the file's move found no remote folder
// for x and failed, in a pass nobody else acted in (TestSimLoop seed 1269).
func TestMoveIntoAFolderBothSidesRenamedDifferently(t *testing.T) {
	e := newEnv(t)
	e.write("z/z/a.txt", "a")
	e.write("z/keep.txt", "k")
	e.sync()
	if err := os.Rename(filepath.Join(e.dir, "z", "z"), filepath.Join(e.dir, "y")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.dir, "y", "a.txt"), filepath.Join(e.dir, "y", ".hidden")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.other().RenameFolder(context.Background(), e.folderID("z/z"), "x"); err != nil {
		t.Fatal(err)
	}
	e.cleanPass()
	e.sync()
	files := e.localFiles()
	want := map[string]string{"x": "/", "x/.hidden": sum("a"), "z": "/", "z/keep.txt": sum("k")}
	if !equalMaps(files, want) {
		t.Fatalf("local side: %v, want %v", sorted(files), sorted(want))
	}
	e.assertSame()
}

// A folder renamed remotely (y to x) whose subfolder y/x another client
// trashed: the pass moves the local folder to x, then trashes x/x, the
// subfolder at its new place, with its file. The trash checked what it
// found inside against the scan's entries at x/x, where the scan had seen
// nothing (it saw them at y/x): x/x/c.md "is not as planned", the delete was
// skipped, in a pass nobody else acted in (TestSimTwoHosts seed 860175).
func TestDeleteOfAFolderInsideAFolderMovedByThePass(t *testing.T) {
	e := newEnv(t)
	e.write("y/x/c.md", "c")
	e.write("y/keep.txt", "k")
	e.sync()
	o := e.other()
	if err := o.DeleteFolder(context.Background(), e.folderID("y/x")); err != nil {
		t.Fatal(err)
	}
	if _, err := o.RenameFolder(context.Background(), e.folderID("y"), "x"); err != nil {
		t.Fatal(err)
	}
	res := e.cleanPass()
	e.sync()
	files := e.localFiles()
	want := map[string]string{"x": "/", "x/keep.txt": sum("k")}
	if !equalMaps(files, want) {
		t.Fatalf("local side: %v, want %v (plan %v)", sorted(files), sorted(want), res.Plan.Ops)
	}
}
