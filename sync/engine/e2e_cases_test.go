package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

func TestFirstPassUploadsAwkwardNames(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "alpha")
	e.write("dir/sub/b.txt", "beta")
	e.write(".hidden", "dot")
	e.write(`it's "quoted".txt`, "quotes")
	e.write("Cafe\u0301.txt", "nfd")
	e.write("unicode/日本語.txt", "kanji")
	e.sync()
	if _, ok := e.remoteEntry(".hidden"); !ok {
		t.Errorf("leading dot not restored on the remote: %v", sorted(e.remoteFiles()))
	}
	res := e.once()
	if len(res.Plan.Ops) != 0 || res.Done != 0 {
		t.Fatalf("second pass planned %v", res.Plan.Ops)
	}
}

func TestNoChangePassMakesOnlyListings(t *testing.T) {
	e := newEnv(t)
	e.write("a/x.txt", "x")
	e.write("b/y.txt", "y")
	e.sync()
	res := e.once()
	if len(res.Plan.Ops) != 0 || res.Hashed != 0 {
		t.Fatalf("no-change pass did work: ops %v hashed %d", res.Plan.Ops, res.Hashed)
	}
	if res.Requests != 3 { // the pair folder, a, b
		t.Fatalf("no-change pass made %d listing requests, want 3", res.Requests)
	}
}

func TestFirstPassDownloadsAndMatchesIdentical(t *testing.T) {
	e := newEnv(t)
	e.write("same.txt", "identical")
	e.write("differs.txt", "local version")
	e.once() // creates the remote folder and uploads
	// A fresh state (as on a second host): the same remote, no base.
	e.cfg.Key = "pair-fresh"
	o := e.other()
	e.upload(o, "", "remote-only.txt", "from elsewhere")
	before := len(e.emu.Dump(e.account.ID))
	e.sync()
	if n := len(e.emu.Dump(e.account.ID)); n != before {
		t.Fatalf("identical files re-uploaded: %d remote objects, was %d", n, before)
	}
	if got, _ := e.read("remote-only.txt"); got != "from elsewhere" {
		t.Fatalf("remote-only file not downloaded: %q", got)
	}
}

func TestLocalModifyReplacesRemoteKeepingOneLiveFile(t *testing.T) {
	e := newEnv(t)
	e.write("doc.txt", "v1")
	e.sync()
	old, _ := e.remoteEntry("doc.txt")
	if _, ok, _ := e.host.Store.RemoteMD5(itoa(old.ID)); !ok {
		t.Fatal("the uploaded file's MD5 was not cached")
	}
	e.write("doc.txt", "version 2, longer")
	e.sync()
	if _, ok, _ := e.host.Store.RemoteMD5(itoa(old.ID)); ok {
		t.Fatal("the replaced id's MD5 is still cached")
	}
	live := 0
	for _, en := range e.emu.Dump(e.account.ID) {
		if en.Status == "active" && strings.HasSuffix(en.Path, "/doc.txt") || strings.Contains(en.Path, "doc (") && en.Status == "active" {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d live remote copies of doc.txt", live)
	}
	if tr := e.trashedRemote(); len(tr) != 1 || tr[0].MD5 != sum("v1") {
		t.Fatalf("old version not in remote trash: %+v", tr)
	}
}

func TestRemoteChangesComeDown(t *testing.T) {
	e := newEnv(t)
	e.write("keep.txt", "old")
	e.write("gone.txt", "bye")
	e.write("move/me.txt", "moving")
	e.sync()
	o := e.other() // also invalidates the engine's token
	ctx := context.Background()
	e.replaceRemote(o, "keep.txt", "new content")
	g, _ := e.remoteEntry("gone.txt")
	if err := o.DeleteFile(ctx, idOf(g)); err != nil {
		t.Fatal(err)
	}
	m, _ := e.remoteEntry("move/me.txt")
	if _, err := o.RenameFile(ctx, idOf(m), "moved.txt"); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if got, _ := e.read("keep.txt"); got != "new content" {
		t.Fatalf("keep.txt = %q", got)
	}
	if _, ok := e.read("gone.txt"); ok {
		t.Fatal("gone.txt still present locally")
	}
	if got, _ := e.read("move/moved.txt"); got != "moving" {
		t.Fatalf("rename not applied locally: %v", sorted(e.localFiles()))
	}
	// What syncd deleted or overwrote locally is in .syncd/trash.
	var trashed []string
	filepath.Walk(filepath.Join(e.dir, ".syncd", "trash"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			trashed = append(trashed, string(b))
		}
		return nil
	})
	if !contains(trashed, "old") || !contains(trashed, "bye") {
		t.Fatalf("local trash holds %q, want old and bye", trashed)
	}
}

func TestLocalRenameKeepsRemoteID(t *testing.T) {
	e := newEnv(t)
	e.write("dir/a.txt", "a")
	e.write("dir/b.txt", "b")
	e.write("f.txt", "file")
	e.sync()
	dirBefore, _ := e.remoteEntry("dir")
	fBefore, _ := e.remoteEntry("f.txt")
	if err := os.Rename(filepath.Join(e.dir, "dir"), filepath.Join(e.dir, "renamed")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(e.dir, "f.txt"), filepath.Join(e.dir, "renamed", "g.txt")); err != nil {
		t.Fatal(err)
	}
	res := e.pass()
	e.sync()
	dirAfter, ok := e.remoteEntry("renamed")
	if !ok || dirAfter.ID != dirBefore.ID {
		t.Fatalf("folder rename re-created the folder: %+v -> %+v", dirBefore, dirAfter)
	}
	fAfter, ok := e.remoteEntry("renamed/g.txt")
	if !ok || fAfter.ID != fBefore.ID {
		t.Fatalf("file move re-uploaded: %+v -> %+v", fBefore, fAfter)
	}
	for _, op := range res.Plan.Ops {
		if op.Kind.String() == "upload" || op.Kind.String() == "download" {
			t.Fatalf("rename cost a transfer: %v", res.Plan.Ops)
		}
	}
}

func TestDeletesPropagateToTrash(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "a")
	e.write("d/b.txt", "b")
	e.write("keep1.txt", "1")
	e.write("keep2.txt", "2")
	e.sync()
	os.Remove(filepath.Join(e.dir, "a.txt"))
	os.RemoveAll(filepath.Join(e.dir, "d"))
	res := e.pass()
	e.sync()
	files := 0
	for _, en := range e.trashedRemote() {
		if !en.Folder {
			files++
		}
	}
	if files != 2 {
		t.Fatalf("remote trash: %+v", e.trashedRemote())
	}
	// The folder goes in one call, with its content.
	deletes := 0
	for _, op := range res.Plan.Ops {
		if op.Kind.String() == "delete-remote" {
			deletes++
		}
	}
	if deletes > 2 {
		t.Fatalf("folder delete not done in one call: %v", res.Plan.Ops)
	}
}

func TestBothModifiedKeepsBoth(t *testing.T) {
	e := newEnv(t)
	e.write("c.txt", "base")
	e.sync()
	e.write("c.txt", "local edit")
	e.replaceRemote(e.other(), "c.txt", "remote edit!")
	res := e.sync()
	if len(res.Plan.Conflicts) == 0 && countConflicts(e.localFiles()) == 0 {
		t.Fatalf("no conflict reported")
	}
	l := e.localFiles()
	var haveLocal, haveRemote bool
	for _, v := range l {
		haveLocal = haveLocal || v == sum("local edit")
		haveRemote = haveRemote || v == sum("remote edit!")
	}
	if !haveLocal || !haveRemote {
		t.Fatalf("a version was lost: %v", sorted(l))
	}
}

func TestEmptyFileIsAProblemNotABlocker(t *testing.T) {
	e := newEnv(t)
	e.write("empty.txt", "")
	e.write("full.txt", "data")
	res, err := e.pair().Once(context.Background(), engine.PassOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.remoteEntry("full.txt"); !ok {
		t.Fatal("full.txt not uploaded")
	}
	found := false
	for _, p := range res.Plan.Problems {
		found = found || p.Path == "empty.txt"
	}
	if !found {
		t.Fatalf("empty file not reported: %+v", res.Plan.Problems)
	}
}

func TestMissingMarkerIsRefused(t *testing.T) {
	e := newEnv(t)
	e.write("a.txt", "a")
	e.sync()
	os.RemoveAll(filepath.Join(e.dir, ".syncd"))
	os.Remove(filepath.Join(e.dir, "a.txt"))
	_, err := e.pair().Once(context.Background(), engine.PassOptions{})
	if !errors.Is(err, engine.ErrHalted) {
		t.Fatalf("want a halt, got %v", err)
	}
	if _, ok := e.remoteEntry("a.txt"); !ok {
		t.Fatal("remote file deleted although the root lost its marker")
	}
}

func TestMassDeleteHaltsUntilForced(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 30; i++ {
		e.write("f/"+itoa(int64(i))+".txt", "content "+itoa(int64(i)))
	}
	e.write("keep.txt", "k")
	e.sync()
	for i := 0; i < 30; i++ {
		os.Remove(filepath.Join(e.dir, "f", itoa(int64(i))+".txt"))
	}
	_, err := e.pair().Once(context.Background(), engine.PassOptions{})
	if !errors.Is(err, engine.ErrHalted) {
		t.Fatalf("want a halt, got %v", err)
	}
	if len(e.trashedRemote()) != 0 {
		t.Fatal("halted pass deleted remote files")
	}
	if _, err := e.pair().Once(context.Background(), engine.PassOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	e.assertSame()
}

func TestTransientFaultsAndTokenLossDuringPass(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 8; i++ {
		e.write("d"+itoa(int64(i%3))+"/f"+itoa(int64(i))+".txt", strings.Repeat("x", i+1))
	}
	e.emu.InjectFault(emulator.Fault{Endpoint: "folder/listing", Status: 429, Count: 2})
	e.emu.InjectFault(emulator.Fault{Endpoint: "file/upload", Status: 503, Count: 2})
	e.emu.InvalidateTokens(e.account.ID)
	e.sync()
}

func TestCrashBetweenReplaceStepsResumes(t *testing.T) {
	e := newEnv(t)
	e.write("r.txt", "one")
	e.sync()
	e.write("r.txt", "two two")
	// The new content is uploaded, then trashing the old fails for good:
	// the process "dies" with the journal at step uploaded.
	e.emu.InjectFault(emulator.Fault{Endpoint: "file/info", Status: 500, Count: 1000})
	p := e.pair(func(o *engine.Options) { o.MaxPasses = 1 })
	p.Once(context.Background(), engine.PassOptions{})
	e.emu.ClearFaults()
	e.restart()
	e.sync()
	live := 0
	for _, en := range e.emu.Dump(e.account.ID) {
		if en.Status == "active" && !en.Folder {
			live++
			if en.MD5 != sum("two two") {
				t.Fatalf("live remote file has the old content")
			}
		}
	}
	if live != 1 {
		t.Fatalf("%d live remote files after resume, want 1: %+v", live, e.emu.Dump(e.account.ID))
	}
}

func idOf(en emulator.Entry) remote.ID { return remote.ID(itoa(en.ID)) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func countConflicts(m map[string]string) int {
	n := 0
	for k := range m {
		if strings.Contains(k, "(conflict") {
			n++
		}
	}
	return n
}

// The daemon's passes are incremental: a quiet pair costs one root listing
// per poll and no planning; a local change costs a rescan of the directory
// the watcher named and no listing; the pass after its own uploads lists only
// the folder it wrote to and never reads them as remote deletions; a remote
// change in a cold folder waits for the sweep, after which the folder is hot
// and polled every time.
func TestIncrementalPasses(t *testing.T) {
	e := newEnv(t)
	const folders = engine.HotFolders + 8 // more than a poll lists
	for i := 0; i < folders; i++ {
		e.write("d"+itoa(int64(i))+"/f.txt", "file "+itoa(int64(i)))
	}
	e.sync()
	cr := newCounting(bind.Remote{C: e.client})
	p := e.pairOver(cr, engine.Options{ValidLocalName: testenv.ValidLocalName})
	ctx := context.Background()
	pass := func(what string, po engine.PassOptions) engine.PassResult {
		t.Helper()
		po.Incremental = true
		cr.calls = map[string]int{}
		res, err := p.Pass(ctx, po)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: %d listings, %d ops, unchanged %v, calls %v", what, res.Requests, len(res.Plan.Ops), res.Unchanged, cr.calls)
		return res
	}

	res := pass("first", engine.PassOptions{})
	if res.Requests != folders+1 || !res.Converged {
		t.Fatalf("first incremental pass: %d listings, converged %v; want a whole listing of %d folders", res.Requests, res.Converged, folders+1)
	}
	res = pass("quiet poll", engine.PassOptions{})
	if !res.Unchanged || res.Requests != 1 || cr.calls["list"] != 1 || len(cr.calls) != 1 {
		t.Fatalf("quiet poll: unchanged %v, %d listings, calls %v; want one root listing and nothing else", res.Unchanged, res.Requests, cr.calls)
	}

	e.write("d3/new.txt", "new local file")
	p.LocalChanged([]string{"d3"}, nil, false)
	res = pass("local change", engine.PassOptions{LocalOnly: true})
	if res.Requests != 0 || res.Done != 1 || cr.calls["upload"] != 1 {
		t.Fatalf("local change: %d listings, %d done, calls %v; want one upload and no listing", res.Requests, res.Done, cr.calls)
	}
	res = pass("after own upload", engine.PassOptions{LocalOnly: true})
	if res.Requests != 1 || len(res.Plan.Ops) != 0 || !res.Converged {
		t.Fatalf("after own upload: %d listings, ops %v; want d3 listed again and nothing to do", res.Requests, res.Plan.Ops)
	}

	// Another client writes into a folder nobody touched for an hour.
	other := e.otherWithRoot()
	e.upload(other, "d7", "theirs.txt", "remote change")
	res = pass("poll", engine.PassOptions{})
	if _, ok := e.read("d7/theirs.txt"); ok || res.Requests > 1+1 {
		t.Fatalf("a poll listed cold folders: %d listings", res.Requests)
	}
	res = pass("sweep", engine.PassOptions{Sweep: true})
	if got, ok := e.read("d7/theirs.txt"); !ok || got != "remote change" || res.Requests != folders+1 {
		t.Fatalf("sweep: %d listings, theirs.txt %q %v", res.Requests, got, ok)
	}
	e.upload(other, "d7", "again.txt", "second remote change")
	res = pass("poll of a hot folder", engine.PassOptions{})
	if got, ok := e.read("d7/again.txt"); !ok || got != "second remote change" || res.Requests > 4 {
		t.Fatalf("hot folder not polled: %d listings, again.txt %q %v", res.Requests, got, ok)
	}

	// A change the watcher did not report is found by the full rescan.
	e.write("d9/unreported.txt", "x")
	pass("unmarked", engine.PassOptions{})
	if _, ok := e.remoteEntry("d9/unreported.txt"); ok {
		t.Fatal("an unmarked change was seen without a rescan: the pass walked the tree")
	}
	p.LocalChanged(nil, nil, true)
	pass("full", engine.PassOptions{LocalOnly: true})
	if _, ok := e.remoteEntry("d9/unreported.txt"); !ok {
		t.Fatal("a full rescan missed a local file")
	}
	e.sync()
}

// An upload the service refuses (here: the account is full) is reported,
// remembered, and not retried on every pass while the file is unchanged.
func TestRefusedUploadIsNotRetriedEveryPass(t *testing.T) {
	acct := emulator.DefaultAccount()
	acct.StorageLimit = 100
	e := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{acct} })
	e.write("small.txt", "fits")
	e.write("big.txt", strings.Repeat("x", 200))
	cr := newCounting(bind.Remote{C: e.client})
	p := e.pairOver(cr, engine.Options{ValidLocalName: testenv.ValidLocalName})
	ctx := context.Background()
	res, _ := p.Pass(ctx, engine.PassOptions{})
	if res.Failed != 1 {
		t.Fatalf("first pass: %d failed, want the big file: %+v", res.Failed, res.Errors)
	}
	if _, ok := e.remoteEntry("small.txt"); !ok {
		t.Fatal("a refused file blocked the rest")
	}
	uploads := cr.calls["upload"]
	res, err := p.Pass(ctx, engine.PassOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cr.calls["upload"] != uploads || res.Failed != 0 {
		t.Fatalf("refused upload retried: %d uploads, was %d", cr.calls["upload"], uploads)
	}
	reported := false
	for _, pr := range res.Plan.Problems {
		reported = reported || pr.Path == "big.txt"
	}
	if !reported {
		t.Fatalf("refusal not reported: %+v", res.Plan.Problems)
	}
	// A new version is tried again.
	e.write("big.txt", strings.Repeat("y", 150))
	p.Pass(ctx, engine.PassOptions{})
	if cr.calls["upload"] == uploads {
		t.Fatal("a changed file was not tried again")
	}
}

// The live status counts each conflict once, when it is logged: a conflict
// whose copy is skipped (its file changed after planning) and planned again
// by the next pass is not counted twice, nor by a quiet pass after.
func TestStatusCountsEachConflictOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := e.other()
	for _, n := range []string{"a.txt", "c.txt"} {
		e.write(n, "base "+n)
	}
	e.sync()
	for _, n := range []string{"a.txt", "c.txt"} {
		e.write(n, "local edit of "+n)
		e.replaceRemote(o, n, "remote edit of "+n)
	}
	touched := false
	p := e.pair(func(opt *engine.Options) {
		opt.Workers = 1
		opt.Observer = func(ev engine.OpEvent) {
			if !touched && ev.Op.Kind == plan.ConflictLocal {
				touched = true // c.txt changes again before its copy is made
				e.write("c.txt", "second local edit of c.txt, longer")
			}
		}
	})
	res, err := p.Pass(ctx, engine.PassOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped == 0 {
		t.Fatalf("no op skipped: %+v", res)
	}
	t.Logf("pass 1: logged %d, conflicts %+v", res.ConflictsLogged, res.Plan.Conflicts)
	for range 2 {
		r, err := p.Pass(ctx, engine.PassOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("pass: logged %d, conflicts %+v", r.ConflictsLogged, r.Plan.Conflicts)
	}
	if n := countConflicts(e.localFiles()); n != 2 {
		t.Fatalf("%d conflict copies, want 2: %v", n, sorted(e.localFiles()))
	}
	if got := p.Status().Conflicts; got != 2 {
		t.Fatalf("status counts %d conflicts, want 2", got)
	}
	log, err := e.host.Store.Conflicts(e.cfg.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 {
		t.Fatalf("conflict log holds %d entries, want 2: %+v", len(log), log)
	}
}
