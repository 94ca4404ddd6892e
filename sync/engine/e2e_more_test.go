package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/state"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

func opKinds(res engine.PassResult) map[string]int {
	m := map[string]int{}
	for _, op := range res.Plan.Ops {
		m[op.Kind.String()]++
	}
	return m
}

func TestIgnoreRulesNeverSyncAndNeverDelete(t *testing.T) {
	e := newEnv(t)
	e.write("keep.txt", "k")
	e.write("build/out.o", "object")
	e.sync()
	// Newly ignoring build/ untracks it: nothing is deleted on either side.
	e.ignore("build/", "*.tmp")
	e.write("scratch.tmp", "temp")
	res := e.pass()
	if n := opKinds(res); n["delete-remote"]+n["delete-local"]+n["upload"] != 0 {
		t.Fatalf("ignore change deleted or uploaded: %v", res.Plan.Ops)
	}
	if _, ok := e.remoteEntry("build/out.o"); !ok {
		t.Fatal("newly ignored remote file deleted")
	}
	if _, ok := e.read("build/out.o"); !ok {
		t.Fatal("newly ignored local file deleted")
	}
	if _, ok := e.remoteEntry("scratch.tmp"); ok {
		t.Fatal("ignored file uploaded")
	}
	// Later changes under the ignored folder stay local.
	e.write("build/new.o", "x")
	if res := e.pass(); len(res.Plan.Ops) != 0 {
		t.Fatalf("ignored change planned: %v", res.Plan.Ops)
	}
}

func TestRemoteRenameCostsNoDownload(t *testing.T) {
	e := newEnv(t)
	e.write("a/one.txt", "one")
	e.sync()
	o := e.other()
	en, _ := e.remoteEntry("a")
	if _, err := o.RenameFolder(context.Background(), remote.ID(itoa(en.ID)), "b"); err != nil {
		t.Fatal(err)
	}
	res := e.pass()
	if n := opKinds(res); n["download"] != 0 || n["move-local"] != 1 {
		t.Fatalf("remote folder rename planned %v", res.Plan.Ops)
	}
	e.sync()
	if got, _ := e.read("b/one.txt"); got != "one" {
		t.Fatalf("local side: %v", sorted(e.localFiles()))
	}
}

func TestCaseOnlyRename(t *testing.T) {
	e := newEnv(t)
	e.write("readme.txt", "r")
	e.sync()
	before, _ := e.remoteEntry("readme.txt")
	if err := os.Rename(filepath.Join(e.dir, "readme.txt"), filepath.Join(e.dir, "README.txt")); err != nil {
		t.Fatal(err)
	}
	e.sync()
	after, ok := e.remoteEntry("README.txt")
	if !ok || after.ID != before.ID {
		t.Fatalf("case-only rename: %+v -> %+v", before, after)
	}
}

func TestRenameIntoFolderDeletedOnTheOtherSide(t *testing.T) {
	e := newEnv(t)
	e.write("f.txt", "precious")
	e.write("dir/x.txt", "x")
	e.sync()
	// Locally f.txt moves into dir; remotely dir is deleted.
	if err := os.Rename(filepath.Join(e.dir, "f.txt"), filepath.Join(e.dir, "dir", "f.txt")); err != nil {
		t.Fatal(err)
	}
	d, _ := e.remoteEntry("dir")
	if err := e.other().DeleteFolder(context.Background(), remote.ID(itoa(d.ID))); err != nil {
		t.Fatal(err)
	}
	e.sync()
	found := false
	for _, v := range e.localFiles() {
		found = found || v == sum("precious")
	}
	if !found {
		t.Fatalf("the moved file was lost: %v", sorted(e.localFiles()))
	}
}

func TestCrossedMovesTerminateWithoutLoss(t *testing.T) {
	e := newEnv(t)
	e.write("A/a.txt", "in A")
	e.write("B/b.txt", "in B")
	e.sync()
	// Locally A moves into B; remotely B moves into A.
	if err := os.Rename(filepath.Join(e.dir, "A"), filepath.Join(e.dir, "B", "A")); err != nil {
		t.Fatal(err)
	}
	a, _ := e.remoteEntry("A")
	b, _ := e.remoteEntry("B")
	if _, err := e.other().MoveFolder(context.Background(), remote.ID(itoa(b.ID)), remote.ID(itoa(a.ID))); err != nil {
		t.Fatal(err)
	}
	e.sync()
	var haveA, haveB bool
	for _, v := range e.localFiles() {
		haveA = haveA || v == sum("in A")
		haveB = haveB || v == sum("in B")
	}
	if !haveA || !haveB {
		t.Fatalf("crossed moves lost content: %v", sorted(e.localFiles()))
	}
}

func TestUploadOnlyKeepsRemoteChangesAsConflictCopies(t *testing.T) {
	e := newEnv(t)
	e.cfg.Direction = plan.UploadOnly
	e.write("doc.txt", "v1")
	e.sync()
	// Remote-only new file: left alone, not downloaded.
	e.upload(e.other(), "", "remote-only.txt", "theirs")
	// Both sides change doc.txt.
	e.write("doc.txt", "local v2!")
	e.replaceRemote(e.other(), "doc.txt", "remote v2")
	if _, err := e.pair().Once(context.Background(), engine.PassOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.read("remote-only.txt"); ok {
		t.Fatal("upload-only pair downloaded a remote file")
	}
	r := e.remoteFiles()
	if r["doc.txt"] != sum("local v2!") {
		t.Fatalf("local version not uploaded: %v", sorted(r))
	}
	kept := false
	for _, v := range r {
		kept = kept || v == sum("remote v2")
	}
	if !kept {
		t.Fatalf("independent remote change destroyed: %v", sorted(r))
	}
}

func TestDownloadOnlyMirrorReplicatesRemote(t *testing.T) {
	e := newEnv(t)
	e.upload(e.otherWithRoot(), "", "r.txt", "remote file")
	e.cfg.Direction, e.cfg.Mirror = plan.DownloadOnly, true
	e.write("extra.txt", "local extra")
	if _, err := e.pair().Once(context.Background(), engine.PassOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("r.txt"); got != "remote file" {
		t.Fatalf("not downloaded: %v", sorted(e.localFiles()))
	}
	if _, ok := e.remoteEntry("extra.txt"); ok {
		t.Fatal("download-only pair uploaded")
	}
}

func TestDryRunEqualsTheNextPass(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "a")
	e.write("d/b.txt", "b")
	e.sync()
	e.write("c.txt", "new")
	os.Remove(filepath.Join(e.dir, "a.txt"))
	dry, err := e.pair().Pass(context.Background(), engine.PassOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	real := e.pass()
	if len(dry.Plan.Ops) != len(real.Plan.Ops) {
		t.Fatalf("dry run %v, real %v", dry.Plan.Ops, real.Plan.Ops)
	}
	for i := range dry.Plan.Ops {
		if dry.Plan.Ops[i].Kind != real.Plan.Ops[i].Kind || dry.Plan.Ops[i].Path != real.Plan.Ops[i].Path {
			t.Fatalf("dry run %v, real %v", dry.Plan.Ops, real.Plan.Ops)
		}
	}
}

func TestRemoteDuplicatesAreReportedNotMerged(t *testing.T) {
	e := newEnv(t)
	e.write("x.txt", "mine")
	e.sync()
	// Another client makes a second "x.txt" (file/edit does not de-duplicate).
	o := e.other()
	nf := e.upload(o, "", "y.txt", "theirs")
	if _, err := o.RenameFile(context.Background(), nf.ID, "x.txt"); err != nil {
		t.Fatal(err)
	}
	res := e.pass()
	if n := opKinds(res); n["delete-remote"]+n["delete-local"]+n["download"] != 0 {
		t.Fatalf("duplicates merged or deleted: %v", res.Plan.Ops)
	}
	reported := false
	for _, p := range res.Plan.Problems {
		reported = reported || p.Path == "x.txt"
	}
	if !reported {
		t.Fatalf("duplicate not reported: %+v", res.Plan.Problems)
	}
	if got, _ := e.read("x.txt"); got != "mine" {
		t.Fatal("local file changed")
	}
}

// A folder deleted locally while its remote twin holds two files of one
// name: deleting it would trash the duplicate syncd never synced, and the
// executor refuses that. The pair must come to rest with the folder left
// alone and the duplicates reported, not plan the delete at every pass
// (found by the incremental simulation, seed 19).
func TestFolderWithRemoteDuplicatesIsNotDeleted(t *testing.T) {
	e := newEnv(t)
	e.write("y/x.txt", "mine")
	e.write("stay.txt", "stay")
	e.sync()
	o := e.other()
	nf := e.upload(o, "y", "z.txt", "theirs")
	if _, err := o.RenameFile(context.Background(), nf.ID, "x.txt"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "y")); err != nil {
		t.Fatal(err)
	}
	res := e.once()
	if !res.Converged || len(res.Plan.Ops) != 0 {
		t.Fatalf("not at rest: %+v", res.Plan.Ops)
	}
	if n := len(e.trashedRemote()); n != 0 {
		t.Fatalf("%d remote entries trashed: %+v", n, e.trashedRemote())
	}
	reported := false
	for _, p := range res.Plan.Problems {
		reported = reported || p.Path == "y/x.txt"
	}
	if !reported {
		t.Fatalf("duplicates not reported: %+v", res.Plan.Problems)
	}
}

// File and folder ids are separate spaces on the remote: learning a file's
// MD5 by id must not give it to a folder that has the same id (found by
// simulation seed 414230, where base held a folder with a file's MD5).
func TestHashedFileIDNotGivenToFolder(t *testing.T) {
	e := newEnv(t)
	c := e.otherWithRoot()
	ctx := context.Background()
	var folders []remote.ID
	for i := range 6 {
		f, err := c.CreateFolder(ctx, e.folderID(""), fmt.Sprintf("d%d", i))
		if err != nil {
			t.Fatal(err)
		}
		folders = append(folders, f.ID)
		if err := os.Mkdir(filepath.Join(e.dir, fmt.Sprintf("d%d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var files []remote.ID
	for i := range 6 {
		content := fmt.Sprintf("content %d", i)
		files = append(files, e.upload(c, "", fmt.Sprintf("f%d.txt", i), content).ID)
		e.write(fmt.Sprintf("f%d.txt", i), content) // present on both sides: hashed on the first pass
	}
	shared := false
	for _, f := range files {
		shared = shared || slices.Contains(folders, f)
	}
	if !shared {
		t.Fatalf("the emulator gave files %v and folders %v no common id: the test proves nothing", files, folders)
	}
	res := e.pass()
	e.sync()
	if res.Hashed == 0 {
		t.Fatalf("no remote file was hashed: %+v", res)
	}
	base, err := e.host.Store.Base(e.cfg.Key)
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range base {
		if b.Kind == state.KindDir && b.MD5 != "" {
			t.Errorf("folder %s (id %s) got MD5 %s", p, b.RemoteID, b.MD5)
		}
	}
}

// Once stops after a pass that carried out its whole plan: a second pass
// would list and scan everything again to find nothing (as the daemon loop
// does not run one either). A pass that left work (an op skipped because
// the file changed under it) is followed by another, which finishes it.
func TestOnceStopsAfterACompletePass(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "one")
	e.write("d/b.txt", "two")
	res := e.once()
	if res.Passes != 1 || !res.Complete || res.Done != 3 {
		t.Fatalf("once over a new tree: %d passes, complete %v, %d done; want 1, true, 3", res.Passes, res.Complete, res.Done)
	}
	e.assertSame()

	// A file changes while its upload is on its way: the op is skipped,
	// the pass (which sent the other file) is not complete, and a second
	// pass sends the new content.
	e.write("a.txt", "one, edited")
	e.write("d/b.txt", "two, edited")
	var edited atomic.Bool // the failpoint runs on the ops' goroutines
	p := e.pair(func(o *engine.Options) {
		o.Failpoint = func(point string) error {
			if point == "replace.begun" && edited.CompareAndSwap(false, true) {
				e.write("a.txt", "one, edited again")
			}
			return nil
		}
	})
	res, err := p.Once(context.Background(), engine.PassOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !edited.Load() || res.Passes < 2 {
		t.Fatalf("edited mid-pass %v: %d passes (%+v); want a second pass", edited.Load(), res.Passes, res)
	}
	e.assertSame()
	if got, _ := e.read("a.txt"); got != "one, edited again" {
		t.Fatalf("a.txt holds %q", got)
	}
}
