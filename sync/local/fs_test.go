package local

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncd/syncd/sync/plan"
)

func openFS(t *testing.T) (*FS, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, dir
}

func read(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(dir, rel string) bool {
	_, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel)))
	return err == nil
}

// trashed lists the files in the trash as "<original path>=<content>".
func trashed(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	base := filepath.Join(dir, ".syncd", "trash")
	filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		_, orig, _ := strings.Cut(filepath.ToSlash(rel), "/")
		b, _ := os.ReadFile(p)
		out = append(out, orig+"="+string(b))
		return nil
	})
	return out
}

func TestOpenAndMarker(t *testing.T) {
	f, dir := openFS(t)
	for _, d := range []string{".syncd", ".syncd/tmp", ".syncd/trash"} {
		if fi, err := os.Lstat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Fatalf("%s not created: %v", d, err)
		}
	}
	if _, ok, err := f.HasMarker(); ok || err != nil {
		t.Fatalf("fresh root has a marker: %v %v", ok, err)
	}
	id, err := f.CreateMarker()
	if err != nil || len(id) != 32 {
		t.Fatalf("CreateMarker = %q, %v", id, err)
	}
	if got, ok, err := f.HasMarker(); !ok || err != nil || got != id {
		t.Fatalf("HasMarker = %q %v %v, want %q", got, ok, err, id)
	}
	if _, err := f.CreateMarker(); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateMarker: %v, want ErrExists", err)
	}
	// Reopening keeps the marker.
	f2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if got, ok, _ := f2.HasMarker(); !ok || got != id {
		t.Fatal("marker lost on reopen")
	}
	// .syncd replaced by a symlink is refused.
	dir2 := t.TempDir()
	must(t, os.Symlink(t.TempDir(), filepath.Join(dir2, ".syncd")))
	if _, err := Open(dir2); err == nil {
		t.Fatal("Open accepted a .syncd symlink")
	}
}

func download(t *testing.T, f *FS, content string) *TempFile {
	t.Helper()
	tmp, err := f.CreateTemp()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(tmp, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	return tmp
}

func TestCommitNew(t *testing.T) {
	f, dir := openFS(t)
	write(t, dir, "d/keep.txt", "k")
	tmp := download(t, f, "new content")
	if !strings.HasPrefix(tmp.Name(), ".syncd/tmp/") {
		t.Fatalf("temp file at %s", tmp.Name())
	}
	l, err := f.Commit(tmp, "d/new.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	if read(t, dir, "d/new.txt") != "new content" || l.MD5 != md5hex("new content") || l.Size != 11 || l.Kind != plan.File {
		t.Fatalf("committed %+v", l)
	}
	if n, _ := f.CleanTemp(); n != 0 {
		t.Fatalf("temp file left behind (%d)", n)
	}
	// Something exists now: a nil expect must never overwrite it.
	tmp = download(t, f, "intruder")
	if _, err := f.Commit(tmp, "d/new.txt", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
	if read(t, dir, "d/new.txt") != "new content" {
		t.Fatal("existing file overwritten")
	}
	must(t, f.Discard(tmp))
	// Missing parent directory.
	tmp = download(t, f, "x")
	if _, err := f.Commit(tmp, "nodir/x.txt", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	must(t, f.Discard(tmp))
}

func TestCommitReplace(t *testing.T) {
	f, dir := openFS(t)
	write(t, dir, "doc.txt", "old")
	expect, err := f.Stat("doc.txt")
	if err != nil {
		t.Fatal(err)
	}
	// The user edits after planning: the premise fails, nothing moves.
	time.Sleep(0) // mtime is set explicitly below, no real wait needed
	write(t, dir, "doc.txt", "user edit")
	later := time.Unix(0, expect.MtimeNs).Add(time.Second)
	must(t, os.Chtimes(filepath.Join(dir, "doc.txt"), later, later))
	tmp := download(t, f, "remote version")
	if _, err := f.Commit(tmp, "doc.txt", &expect); !errors.Is(err, ErrPremise) {
		t.Fatalf("err = %v, want ErrPremise", err)
	}
	if read(t, dir, "doc.txt") != "user edit" || len(trashed(t, dir)) != 0 {
		t.Fatal("premise failure touched the file")
	}
	// Expected something, found nothing.
	gone := expect
	if _, err := f.Commit(tmp, "absent.txt", &gone); !errors.Is(err, ErrPremise) {
		t.Fatalf("err = %v, want ErrPremise", err)
	}
	// Premise holds: the old version goes to the trash.
	expect, _ = f.Stat("doc.txt")
	if _, err := f.Commit(tmp, "doc.txt", &expect); err != nil {
		t.Fatal(err)
	}
	if read(t, dir, "doc.txt") != "remote version" {
		t.Fatal("not replaced")
	}
	if got := trashed(t, dir); len(got) != 1 || got[0] != "doc.txt=user edit" {
		t.Fatalf("trash = %v", got)
	}
}

// TestCommitRestoresOnFailure: when the new version cannot be put in place
// after the old one went to the trash, the old one comes back; an empty
// path would read as a local deletion.
func TestCommitRestoresOnFailure(t *testing.T) {
	f, dir := openFS(t)
	write(t, dir, "doc.txt", "old")
	expect, _ := f.Stat("doc.txt")
	tmp := download(t, f, "new")
	must(t, os.Remove(filepath.Join(dir, filepath.FromSlash(tmp.Name())))) // lost, e.g. by a CleanTemp
	if _, err := f.Commit(tmp, "doc.txt", &expect); err == nil {
		t.Fatal("commit of a vanished temp file succeeded")
	}
	if read(t, dir, "doc.txt") != "old" {
		t.Fatal("replaced file not restored")
	}
	if got := trashed(t, dir); len(got) != 0 {
		t.Fatalf("trash = %v, want empty after the restore", got)
	}
}

func TestRename(t *testing.T) {
	f, dir := openFS(t)
	write(t, dir, "a/file.txt", "f")
	write(t, dir, "b/taken.txt", "t")
	expect, _ := f.Stat("a/file.txt")

	if _, err := f.Rename("a/file.txt", "b/taken.txt", expect); !errors.Is(err, ErrExists) {
		t.Fatalf("onto existing: %v, want ErrExists", err)
	}
	if _, err := f.Rename("a/file.txt", "nodir/x.txt", expect); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing parent: %v, want ErrNotFound", err)
	}
	if exists(dir, "nodir") {
		t.Fatal("Rename created a parent")
	}
	stale := expect
	stale.Size++
	if _, err := f.Rename("a/file.txt", "a/other.txt", stale); !errors.Is(err, ErrPremise) {
		t.Fatalf("stale premise: %v, want ErrPremise", err)
	}
	if _, err := f.Rename("a/missing.txt", "a/other.txt", expect); !errors.Is(err, ErrPremise) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing source: %v, want ErrPremise and ErrNotFound", err)
	}
	for _, bad := range [][2]string{
		{"a/file.txt", "../escaped.txt"}, {"a/file.txt", "a/../../escaped.txt"}, {"a/file.txt", "/tmp/escaped.txt"},
		{"../x", "a/y"}, {"a/file.txt", ".syncd/trash/x"}, {"a/file.txt", "a//x"}, {"a/file.txt", ""},
		{"a/file.txt", "./x"}, {"a", "a/sub"},
	} {
		if _, err := f.Rename(bad[0], bad[1], expect); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("Rename(%q, %q) = %v, want ErrUnsafePath", bad[0], bad[1], err)
		}
	}
	if !exists(dir, "a/file.txt") {
		t.Fatal("a refused rename moved the file")
	}
	// Case-only rename: distinct names on this file system.
	got, err := f.Rename("a/file.txt", "a/FILE.txt", expect)
	if err != nil || got.Ino != expect.Ino || got.Name != "FILE.txt" {
		t.Fatalf("case-only rename: %+v %v", got, err)
	}
	// Directory rename carries the subtree.
	dirExpect, _ := f.Stat("a")
	if _, err := f.Rename("a", "b/a2", dirExpect); err != nil {
		t.Fatal(err)
	}
	if read(t, dir, "b/a2/FILE.txt") != "f" {
		t.Fatal("directory rename lost its content")
	}
	// Renaming a dir onto an existing empty dir must not replace it.
	must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755))
	dirExpect, _ = f.Stat("b/a2")
	if _, err := f.Rename("b/a2", "empty", dirExpect); !errors.Is(err, ErrExists) {
		t.Fatalf("dir onto empty dir: %v, want ErrExists", err)
	}
}

// TestSymlinkEscape: a symlink planted inside the root cannot carry an
// operation outside it.
func TestSymlinkEscape(t *testing.T) {
	f, dir := openFS(t)
	outside := t.TempDir()
	write(t, outside, "victim.txt", "precious")
	must(t, os.Symlink(outside, filepath.Join(dir, "out")))
	write(t, dir, "in.txt", "i")
	expect, _ := f.Stat("in.txt")
	if _, err := f.Rename("in.txt", "out/in.txt", expect); err == nil {
		t.Fatal("rename through a symlink to outside succeeded")
	}
	tmp := download(t, f, "x")
	if _, err := f.Commit(tmp, "out/new.txt", nil); err == nil {
		t.Fatal("commit through a symlink to outside succeeded")
	}
	f.Discard(tmp)
	if _, err := f.Stat("out/victim.txt"); err == nil {
		t.Fatal("stat through a symlink to outside succeeded")
	}
	if _, _, err := f.OpenRead("out/victim.txt"); err == nil {
		t.Fatal("read through a symlink to outside succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Fatalf("outside dir changed: %v", entries)
	}
	// The link itself is not a file the FS deals in.
	if _, err := f.Stat("out"); !errors.Is(err, ErrNotRegular) {
		t.Fatalf("Stat(symlink) = %v, want ErrNotRegular", err)
	}
}

func TestTrashFile(t *testing.T) {
	f, dir := openFS(t)
	write(t, dir, "x/old.txt", "old")
	expect, _ := f.Stat("x/old.txt")
	stale := expect
	stale.MtimeNs--
	if err := f.Trash(context.Background(), "x/old.txt", stale, nil); !errors.Is(err, ErrPremise) {
		t.Fatalf("stale: %v, want ErrPremise", err)
	}
	if err := f.Trash(context.Background(), "x/old.txt", expect, nil); err != nil {
		t.Fatal(err)
	}
	if exists(dir, "x/old.txt") {
		t.Fatal("still there")
	}
	if got := trashed(t, dir); len(got) != 1 || got[0] != "x/old.txt=old" {
		t.Fatalf("trash = %v", got)
	}
	if err := f.Trash(context.Background(), "x/old.txt", expect, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second trash: %v, want ErrNotFound", err)
	}
	if err := f.Trash(context.Background(), ".syncd", plan.Local{Kind: plan.Dir}, nil); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("trash .syncd: %v", err)
	}
}

func TestTrashDir(t *testing.T) {
	f, dir := openFS(t)
	write(t, dir, "proj/a.txt", "a")
	write(t, dir, "proj/sub/b.txt", "b")
	m, _ := NewMatcher(nil, nil)
	res := scanDir(t, dir, ScanOptions{Matcher: m})
	verify := ExpectTree(res.Tree, m)

	// A file written into the directory after planning blocks the delete.
	write(t, dir, "proj/sub/new.txt", "new work")
	if err := f.Trash(context.Background(), "proj", res.Tree["proj"], verify); !errors.Is(err, ErrPremise) {
		t.Fatalf("new file inside: %v, want ErrPremise", err)
	}
	if read(t, dir, "proj/sub/new.txt") != "new work" || read(t, dir, "proj/a.txt") != "a" {
		t.Fatal("directory not restored after a failed premise")
	}
	must(t, os.Remove(filepath.Join(dir, "proj/sub/new.txt")))

	// A modified file blocks it too.
	write(t, dir, "proj/a.txt", "A!")
	if err := f.Trash(context.Background(), "proj", res.Tree["proj"], verify); !errors.Is(err, ErrPremise) {
		t.Fatalf("modified file inside: %v, want ErrPremise", err)
	}
	res = scanDir(t, dir, ScanOptions{Matcher: m})
	verify = ExpectTree(res.Tree, m)

	// Ignored junk does not block it and goes to the trash with it.
	write(t, dir, "proj/.DS_Store", "junk")
	if err := f.Trash(context.Background(), "proj", res.Tree["proj"], verify); err != nil {
		t.Fatal(err)
	}
	if exists(dir, "proj") {
		t.Fatal("dir still there")
	}
	got := trashed(t, dir)
	want := []string{"proj/.DS_Store=junk", "proj/a.txt=A!", "proj/sub/b.txt=b"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("trash = %v, want %v", got, want)
	}
}

func TestPurgeTrash(t *testing.T) {
	f, dir := openFS(t)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	mk := func(age time.Duration) string {
		name := now.Add(-age).Format(trashStamp) + "-abcd"
		write(t, dir, ".syncd/trash/"+name+"/f.txt", "x")
		return name
	}
	old := mk(31 * 24 * time.Hour)
	edge := mk(30 * 24 * time.Hour)
	young := mk(29 * 24 * time.Hour)
	write(t, dir, ".syncd/trash/not-a-stamp/f.txt", "kept")
	n, err := f.PurgeTrash(DefaultTrashRetention, now)
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v; want 2", n, err)
	}
	if exists(dir, ".syncd/trash/"+old) || exists(dir, ".syncd/trash/"+edge) || !exists(dir, ".syncd/trash/"+young) || !exists(dir, ".syncd/trash/not-a-stamp") {
		t.Fatal("wrong entries purged")
	}
	// Real Trash names parse too.
	write(t, dir, "t.txt", "t")
	l, _ := f.Stat("t.txt")
	must(t, f.Trash(context.Background(), "t.txt", l, nil))
	if n, _ := f.PurgeTrash(0, time.Now().Add(time.Minute)); n != 2 {
		t.Fatalf("purged %d, want the fresh one and %s", n, young)
	}
}

func TestCleanTemp(t *testing.T) {
	f, dir := openFS(t)
	download(t, f, "partial")
	download(t, f, "partial2")
	if n, err := f.CleanTemp(); n != 2 || err != nil {
		t.Fatalf("CleanTemp = %d, %v", n, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, ".syncd/tmp")); len(entries) != 0 {
		t.Fatalf("left %v", entries)
	}
}

func TestOpenReadDetectsChange(t *testing.T) {
	f, dir := openFS(t)
	write(t, dir, "up.txt", "upload me")
	r, size, err := f.OpenRead("up.txt")
	if err != nil || size != 9 {
		t.Fatalf("OpenRead = %d, %v", size, err)
	}
	b, _ := io.ReadAll(r)
	if string(b) != "upload me" || r.Unchanged() != nil {
		t.Fatalf("read %q, unchanged %v", b, r.Unchanged())
	}
	fw, _ := os.OpenFile(filepath.Join(dir, "up.txt"), os.O_APPEND|os.O_WRONLY, 0)
	fw.WriteString("!")
	fw.Close()
	if err := r.Unchanged(); !errors.Is(err, ErrChanged) {
		t.Fatalf("Unchanged after append = %v, want ErrChanged", err)
	}
	r.Close()
	if _, _, err := f.OpenRead("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func TestMkdirStatHash(t *testing.T) {
	f, dir := openFS(t)
	l, err := f.Mkdir("d")
	if err != nil || l.Kind != plan.Dir {
		t.Fatalf("Mkdir = %+v, %v", l, err)
	}
	if _, err := f.Mkdir("d"); !errors.Is(err, ErrExists) {
		t.Fatalf("again: %v, want ErrExists", err)
	}
	if _, err := f.Mkdir("x/y"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no parent: %v, want ErrNotFound", err)
	}
	write(t, dir, "d/f.txt", "hash me")
	h, err := f.Hash(context.Background(), "d/f.txt")
	if err != nil || h.MD5 != md5hex("hash me") || h.Size != 7 {
		t.Fatalf("Hash = %+v, %v", h, err)
	}
	if _, err := f.Stat("d/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat missing = %v", err)
	}
}

// TestRenameCheckFallback exercises the portable rename used where
// renameat2 is missing (and on every OS but Linux).
func TestRenameCheckFallback(t *testing.T) {
	f, dir := openFS(t)
	write(t, dir, "a", "a")
	write(t, dir, "b", "b")
	if err := renameCheck(f.Root(), "a", "b"); !errors.Is(err, ErrExists) {
		t.Fatalf("onto existing: %v, want ErrExists", err)
	}
	if err := renameCheck(f.Root(), "missing", "c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing source: %v, want ErrNotFound", err)
	}
	must(t, renameCheck(f.Root(), "a", "c"))
	if read(t, dir, "c") != "a" || read(t, dir, "b") != "b" || exists(dir, "a") {
		t.Fatal("fallback rename did the wrong thing")
	}
}

// TestNoSecondSpelling: a name whose NFC form another entry of the
// directory already has (an NFD "café.txt" beside an NFC one) is one path
// to the trees: Commit, Rename and Mkdir refuse to make it, while renaming
// an entry to another spelling of its own name is allowed.
func TestNoSecondSpelling(t *testing.T) {
	const nfd, nfc = "cafe\u0301.txt", "caf\u00e9.txt"
	f, dir := openFS(t)
	write(t, dir, "d/"+nfd, "user's")
	write(t, dir, "d/other.txt", "other")
	tmp := download(t, f, "download")
	if _, err := f.Commit(tmp, "d/"+nfc, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("Commit of the other spelling: %v, want ErrExists", err)
	}
	must(t, f.Discard(tmp))
	other, _ := f.Stat("d/other.txt")
	if _, err := f.Rename("d/other.txt", "d/"+nfc, other); !errors.Is(err, ErrExists) {
		t.Fatalf("Rename onto the other spelling: %v, want ErrExists", err)
	}
	if _, err := f.Mkdir("d/" + nfc); !errors.Is(err, ErrExists) {
		t.Fatalf("Mkdir of the other spelling: %v, want ErrExists", err)
	}
	self, _ := f.Stat("d/" + nfd)
	if _, err := f.Rename("d/"+nfd, "d/"+nfc, self); err != nil {
		t.Fatalf("respelling a name in place: %v", err)
	}
	if read(t, dir, "d/"+nfc) != "user's" || exists(dir, "d/"+nfd) {
		t.Fatal("respelling did not move the file")
	}
}
