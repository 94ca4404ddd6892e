package engine_test

import (
	"os"
	"path/filepath"
	"testing"
)

// A file edited in place and renamed (or a new file that reuses a deleted
// file's inode, as a `git checkout` makes many of) is one entry moved and
// changed: the remote move and the replace that follows it are one pass's
// ops, and the replace must see the name the move gave the remote file,
// not take it for another client's rename (issue 13, bug 2).
func TestRenameWithEditIsOnePass(t *testing.T) {
	e := newEnv(t)
	e.write("d/main_test.go", "package main // old")
	e.write("d/other.go", "package main")
	e.sync()
	p := filepath.Join(e.dir, "d", "main_test.go")
	if err := os.WriteFile(p, []byte("package main // new content, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p, filepath.Join(e.dir, "d", "gotypesalias.go")); err != nil {
		t.Fatal(err)
	}
	// Edited and moved into a folder that is new this pass.
	q := filepath.Join(e.dir, "d", "other.go")
	if err := os.WriteFile(q, []byte("package main // moved into a new folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(e.dir, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(q, filepath.Join(e.dir, "new", "x.go")); err != nil {
		t.Fatal(err)
	}
	res := e.pass()
	if res.Failed != 0 || res.Skipped != 0 {
		t.Fatalf("one pass over a rename with an edit: %+v\nops: %v", res, res.Plan.Ops)
	}
	e.assertSame()
}
