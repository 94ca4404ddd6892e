package emulator_test

import (
	"strings"
	"testing"

	"github.com/syncd/syncd/remote/emulator"
)

func TestFolderCreate(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	e.wantErr("folder/create", s.form(), "Please provide the folder_name param.")
	m := e.mustOK("folder/create", s.form("folder_name", "My New Folder", "is_public", "2", "access_password", strings.Repeat("d", 32)))
	if m["response"] != "Folder successfully created." {
		t.Fatalf("reply %v", m)
	}
	d := m["data"].(map[string]any)
	if d["folderName"] != "My New Folder" || d["parentId"] != nil || d["isPublic"] != "2" || d["accessPassword"] != strings.Repeat("d", 32) ||
		d["totalSize"] != "0" || d["child_folder_count"] != float64(0) || d["file_count"] != float64(0) || d["date_added"] != "2026-03-04 05:06:07" {
		t.Fatalf("data %v", d)
	}
	for _, c := range []struct{ isPublic, pw, wantPublic string }{
		{"7", "short", "0"}, {"1", "", "1"}, {"yes", strings.Repeat("x", 33), "0"},
	} {
		d := e.mustOK("folder/create", s.form("folder_name", "p", "is_public", c.isPublic, "access_password", c.pw))["data"].(map[string]any)
		if d["isPublic"] != c.wantPublic || d["accessPassword"] != nil {
			t.Errorf("is_public %q pw %q: %v", c.isPublic, c.pw, d)
		}
	}
	// parent_id is not validated: an unknown parent hides the folder.
	orphan := e.mustOK("folder/create", s.form("folder_name", "orphan", "parent_id", "5555"))["data"].(map[string]any)
	if orphan["parentId"] != "5555" {
		t.Fatalf("orphan %v", orphan)
	}
	// Blank and 0 are the root; duplicate names are allowed.
	e.mkdir(s, "dup", "0")
	e.mkdir(s, "dup", "")
	folders, _ := e.listing(s, "")
	var names []string
	for _, f := range folders {
		names = append(names, f["folderName"].(string))
	}
	if got := strings.Join(names, ","); got != "dup,dup,My New Folder,p,p,p" {
		t.Fatalf("root folders sorted by name: %s", got)
	}
}

func TestFolderListingShape(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	a := e.mkdir(s, "a", "")
	e.mkdir(s, "sub", a)
	e.uploadOK(s, a, "b.txt", []byte("bb"))
	e.uploadOK(s, a, "A.txt", []byte("a"))
	e.wantErr("folder/listing", s.form("parent_folder_id", "9999"), "Could not find folder based on folder_id.")
	for _, root := range []string{"", "0", "null"} {
		folders, files := e.listing(s, root)
		if len(folders) != 1 || len(files) != 0 {
			t.Fatalf("root %q: %v %v", root, folders, files)
		}
		f := folders[0]
		if f["child_folder_count"] != float64(1) || f["file_count"] != float64(2) || f["totalSize"] != "3" || f["status"] != "active" {
			t.Fatalf("folder entry %v", f)
		}
		if _, ok := f["accessPassword"]; ok {
			t.Fatalf("listing entries have no accessPassword: %v", f)
		}
		wantKeys := []string{"id", "parentId", "folderName", "totalSize", "isPublic", "date_added", "date_updated", "status", "urlHash", "url_folder", "total_downloads", "child_folder_count", "file_count"}
		if len(f) != len(wantKeys) {
			t.Fatalf("folder keys %v", f)
		}
		for _, k := range wantKeys {
			if _, ok := f[k]; !ok {
				t.Fatalf("folder entry lacks %q: %v", k, f)
			}
		}
	}
	_, files := e.listing(s, a)
	if files[0]["filename"] != "A.txt" || files[1]["filename"] != "b.txt" {
		t.Fatalf("files sorted by name: %v", files)
	}
	wantKeys := []string{"id", "filename", "shortUrl", "fileType", "extension", "fileSize", "status", "downloads", "folderId", "keywords", "url_file"}
	if len(files[0]) != len(wantKeys) {
		t.Fatalf("file keys %v", files[0])
	}
	for _, k := range wantKeys {
		if _, ok := files[0][k]; !ok {
			t.Fatalf("file entry lacks %q: %v", k, files[0])
		}
	}
	if files[0]["extension"] != "txt" || files[0]["fileSize"] != "1" {
		t.Fatalf("file entry %v", files[0])
	}
}

func TestFolderInfoReadsFolderID(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	a := e.mkdir(s, "a", "")
	e.wantErr("folder/info", s.form("parent_folder_id", a), "Could not find folder based on folder_id.")
	d := e.mustOK("folder/info", s.form("folder_id", a))["data"].(map[string]any)
	if d["folderName"] != "a" || d["accessPassword"] != nil {
		t.Fatalf("folder/info %v", d)
	}
}

func TestFolderEditAndMove(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	a := e.mkdir(s, "a", "")
	b := e.mkdir(s, "b", a)
	c := e.mkdir(s, "c", "")

	e.wantErr("folder/edit", s.form("folder_id", "999"), "Could not find folder based on folder_id.")
	d := e.mustOK("folder/edit", s.form("folder_id", c, "folder_name", "c2", "is_public", "1"))["data"].(map[string]any)
	if d["folderName"] != "c2" || d["isPublic"] != "1" || d["date_updated"] == nil {
		t.Fatalf("edit %v", d)
	}
	d = e.mustOK("folder/edit", s.form("folder_id", c, "folder_name", ""))["data"].(map[string]any)
	if d["folderName"] != "c2" {
		t.Fatalf("blank name kept? %v", d)
	}
	d = e.mustOK("folder/edit", s.form("folder_id", c, "parent_id", a))["data"].(map[string]any)
	if d["parentId"] != a {
		t.Fatalf("edit parent %v", d)
	}
	d = e.mustOK("folder/edit", s.form("folder_id", c, "parent_id", "null"))["data"].(map[string]any)
	if d["parentId"] != nil {
		t.Fatalf("edit parent null %v", d)
	}
	e.wantErr("folder/edit", s.form("folder_id", c, "parent_id", c), "Failed moving the folder.")

	e.wantErr("folder/move", s.form("new_parent_folder_id", a), "Please provide the folder_id param.")
	e.wantErr("folder/move", s.form("folder_id", "999", "new_parent_folder_id", a), "Could not find folder based on folder_id.")
	e.wantErr("folder/move", s.form("folder_id", c, "new_parent_folder_id", c), "Failed moving the folder.")
	e.wantErr("folder/move", s.form("folder_id", c, "new_parent_folder_id", "31337"), "Failed moving the folder.")
	m := e.mustOK("folder/move", s.form("folder_id", c, "new_parent_folder_id", b))
	if m["response"] != "Folder successfully moved." || m["data"].(map[string]any)["parentId"] != b {
		t.Fatalf("move %v", m)
	}
	// No cycle check, as on the live service: a moved under its own child b.
	e.mustOK("folder/move", s.form("folder_id", a, "new_parent_folder_id", b))
	folders, _ := e.listing(s, "")
	if len(folders) != 0 {
		t.Fatalf("a and b form a cycle, the root shows nothing: %v", folders)
	}
	var paths []string
	for _, en := range e.srv.Dump(emulator.DemoAccountID) {
		paths = append(paths, en.Path)
	}
	if !strings.Contains(strings.Join(paths, " "), "?") {
		t.Fatalf("dump paths of a cycle %v", paths)
	}
	// Back to the root.
	e.mustOK("folder/move", s.form("folder_id", a, "new_parent_folder_id", "null"))
}

func TestFolderDeleteTrashesSubtree(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	a := e.mkdir(s, "a", "")
	b := e.mkdir(s, "b", a)
	c := e.mkdir(s, "c", b)
	keep := e.mkdir(s, "keep", "")
	fa := str(e.uploadOK(s, a, "fa.txt", []byte("1"))["file_id"])
	fc := str(e.uploadOK(s, c, "fc.txt", []byte("2"))["file_id"])
	e.uploadOK(s, keep, "fk.txt", []byte("3"))

	e.wantErr("folder/delete", s.form("folder_id", "999"), "Failed deleting the folder.")
	e.wantErr("folder/delete", s.form(), "Failed deleting the folder.")
	m := e.mustOK("folder/delete", s.form("folder_id", b))
	if m["response"] != "Folder successfully set as deleted." {
		t.Fatalf("reply %v", m)
	}
	if _, ok := m["data"]; ok {
		t.Fatalf("folder/delete reply has data: %v", m)
	}
	// b is trashed and moved to the root; c keeps its parent b; fc stays in c.
	root, _ := e.listing(s, "")
	byName := map[string]map[string]any{}
	for _, f := range root {
		byName[f["folderName"].(string)] = f
	}
	if byName["b"] == nil || byName["b"]["status"] != "trash" || byName["b"]["parentId"] != nil {
		t.Fatalf("root after delete: %v", root)
	}
	if byName["a"]["status"] != "active" || byName["a"]["child_folder_count"] != float64(0) {
		t.Fatalf("a after delete: %v", byName["a"])
	}
	inB, _ := e.listing(s, b)
	if len(inB) != 1 || inB[0]["status"] != "trash" || inB[0]["parentId"] != b {
		t.Fatalf("c after delete: %v", inB)
	}
	_, inC := e.listing(s, c)
	if len(inC) != 1 || str(inC[0]["id"]) != fc || inC[0]["status"] != "trash" || inC[0]["folderId"] != c {
		t.Fatalf("fc after delete: %v", inC)
	}
	if info := e.mustOK("file/info", s.form("file_id", fa))["data"].(map[string]any); info["file_status"] != "active" {
		t.Fatalf("fa outside the subtree: %v", info)
	}
	// A trashed folder cannot be deleted again nor receive files.
	e.wantErr("folder/delete", s.form("folder_id", b), "Failed deleting the folder.")
	e.wantErr("file/move", s.form("file_id", fa, "new_parent_folder_id", c), "Could not find the destination folder id defined by new_parent_folder_id.")
	statuses := map[string]string{}
	for _, en := range e.srv.Dump(emulator.DemoAccountID) {
		statuses[en.Path] = en.Status
	}
	want := map[string]string{"/a": "active", "/a/fa.txt": "active", "/b": "trash", "/b/c": "trash", "/b/c/fc.txt": "trash", "/keep": "active", "/keep/fk.txt": "active"}
	for p, st := range want {
		if statuses[p] != st {
			t.Errorf("dump %s = %q, want %q (all: %v)", p, statuses[p], st, statuses)
		}
	}
}
