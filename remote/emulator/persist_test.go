package emulator_test

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/syncd/syncd/remote/emulator"
)

func TestPersistsAcrossRestart(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	dir := e.mkdir(s, "dir", "")
	sub := e.mkdir(s, "sub", dir)
	f1 := str(e.uploadOK(s, dir, "one.txt", []byte("one"))["file_id"])
	e.uploadOK(s, sub, "two.txt", []byte("two"))
	gone := str(e.uploadOK(s, "", "gone.txt", []byte("gone"))["file_id"])
	e.mustOK("file/delete", s.form("file_id", gone))
	u := e.downloadURL(s, f1)
	before := e.srv.Dump(emulator.DemoAccountID)
	rootBefore, rootFilesBefore := e.listing(s, "")

	e.restart()

	if diff := cmp.Diff(before, e.srv.Dump(emulator.DemoAccountID)); diff != "" {
		t.Fatalf("dump changed across restart (-before +after):\n%s", diff)
	}
	// The token and the session cookie survive, as in the live service's DB.
	rootAfter, rootFilesAfter := e.listing(s, "")
	if diff := cmp.Diff([][]map[string]any{rootBefore, rootFilesBefore}, [][]map[string]any{rootAfter, rootFilesAfter}); diff != "" {
		t.Fatalf("root listing changed:\n%s", diff)
	}
	if resp, b := e.get(u); resp.StatusCode != 200 || string(b) != "one" {
		t.Fatalf("download url after restart: %d %q", resp.StatusCode, b)
	}
	e.mustOK("file/copy", s.form("file_id", f1, "copy_to_folder_id", sub))
	// Ids keep increasing; renaming still sees the old files.
	d := e.uploadOK(s, dir, "one.txt", []byte("uno"))
	last, _ := strconv.Atoi(str(d["file_id"]))
	if last != 5 || d["name"] != "one (2).txt" {
		t.Fatalf("after restart: id %d name %v", last, d["name"])
	}
	if id := e.mkdir(s, "new", ""); id != "3" {
		t.Fatalf("folder id %s, want 3", id)
	}
	// Leftover temp files of a crashed upload are removed at start.
	tmp := filepath.Join(e.opts.DataDir, "tmp", "up-crashed")
	if err := os.WriteFile(tmp, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file: %v", err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	a, err := emulator.New(emulator.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if b, err := emulator.New(emulator.Options{DataDir: dir}); err == nil {
		b.Close()
		t.Fatal("a second server opened the same DataDir")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	if _, err := emulator.New(emulator.Options{}); err == nil {
		t.Error("no DataDir accepted")
	}
	bad := emulator.DefaultAccount()
	bad.Key1 = "short"
	if _, err := emulator.New(emulator.Options{DataDir: t.TempDir(), Accounts: []emulator.Account{bad}}); err == nil {
		t.Error("short key accepted")
	}
	a, b := emulator.DefaultAccount(), emulator.DefaultAccount()
	if _, err := emulator.New(emulator.Options{DataDir: t.TempDir(), Accounts: []emulator.Account{a, b}}); err == nil {
		t.Error("duplicate account accepted")
	}
}

// Uploads up to 256 KiB are held in memory until stored, larger ones are
// spooled to a file: both sides of the boundary store exactly what was
// sent, with its MD5, across a restart, and leave nothing in tmp.
func TestUploadSpoolBoundary(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	var ids []string
	var contents [][]byte
	for i, n := range []int{1, 256<<10 - 1, 256 << 10, 256<<10 + 1, 600 << 10} {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(j*7 + i)
		}
		d := e.uploadOK(s, "", "f"+strconv.Itoa(n), b)
		if want := fmt.Sprintf("%x", md5.Sum(b)); d["hash"] != want {
			t.Fatalf("%d bytes: hash %v, want %s", n, d["hash"], want)
		}
		ids, contents = append(ids, str(d["file_id"])), append(contents, b)
	}
	e.restart()
	for i, id := range ids {
		if resp, b := e.get(e.downloadURL(s, id)); resp.StatusCode != 200 || !bytes.Equal(b, contents[i]) {
			t.Fatalf("file %s (%d bytes): status %d, %d bytes back", id, len(contents[i]), resp.StatusCode, len(b))
		}
	}
	if ents, err := os.ReadDir(filepath.Join(e.opts.DataDir, "tmp")); err != nil || len(ents) != 0 {
		t.Fatalf("tmp after uploads: %v %v", ents, err)
	}
}
