package emulator_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/syncd/syncd/remote/emulator"
)

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestUploadReplyShape(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	content := []byte("hello, world\n")
	m := e.upload(s, "", "hello.txt", content)
	if m["response"] != "File uploaded" {
		t.Fatalf("response %v", m["response"])
	}
	d := m["data"].([]any)[0].(map[string]any)
	if d["name"] != "hello.txt" || d["size"] != "13" || d["hash"] != md5hex(content) || d["error"] != nil {
		t.Fatalf("data %v", d)
	}
	for _, k := range []string{"file_id", "short_url", "url", "delete_url", "info_url", "delete_hash", "stats_url", "unique_hash", "url_html", "url_bbcode", "type", "delete_type"} {
		if _, ok := d[k]; !ok {
			t.Errorf("data has no %q", k)
		}
	}
	if d["url"] != e.ts.URL+"/"+d["short_url"].(string) {
		t.Errorf("url %v", d["url"])
	}
}

func TestUploadReplyEscapesLikePHP(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	ct, body := multipartBody(t, map[string]string{"access_token": s.token, "account_id": s.account}, "é/ü.txt", []byte("x"))
	resp, err := e.hc.Post(e.url("file/upload"), ct, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw := readAll(t, resp)
	// The directory part is dropped, non-ASCII is \u-escaped and "/" is "\/".
	if !strings.Contains(raw, `"name":"\u00fc.txt"`) || !strings.Contains(raw, `"url":"http:\/\/`) {
		t.Fatalf("raw reply %s", raw)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
}

func TestUploadNumberIDs(t *testing.T) {
	e := newEnv(t, func(o *emulator.Options) { o.NumberIDs = true })
	s := e.login()
	d := e.uploadOK(s, "", "a.bin", []byte("abc"))
	if d["size"] != float64(3) || d["file_id"] != float64(1) {
		t.Fatalf("numbers: %v", d)
	}
	_, files := e.listing(s, "")
	if files[0]["id"] != float64(1) || files[0]["fileSize"] != float64(3) || files[0]["folderId"] != nil {
		t.Fatalf("listing numbers: %v", files[0])
	}
}

func TestUploadErrorsInOrder(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	post := func(fields map[string]string, name string, content []byte) map[string]any {
		ct, body := multipartBody(t, fields, name, content)
		resp, err := e.hc.Post(e.url("file/upload"), ct, body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return decode(t, readAll(t, resp))
	}
	auth := map[string]string{"access_token": s.token, "account_id": s.account}
	cases := []struct {
		name    string
		fields  map[string]string
		file    string
		content []byte
		want    string
	}{
		{"token beats missing file", map[string]string{"account_id": s.account}, "", nil, msgNoToken},
		{"token beats zero size", map[string]string{"access_token": "bad", "account_id": s.account}, "a", []byte{}, msgBadTokenPair},
		{"no file part", auth, "", nil, "Did not receive uploaded file."},
		{"file part without a name", auth, "", []byte("x"), "Did not receive uploaded file."},
		{"zero bytes", auth, "empty.txt", []byte{}, "Filesize received was zero."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := post(c.fields, c.file, c.content)
			if m["_status"] != "error" || m["response"] != c.want {
				t.Fatalf("got %v, want %q", m, c.want)
			}
		})
	}
	if n := len(e.srv.Dump(emulator.DemoAccountID)); n != 0 {
		t.Fatalf("refused uploads left %d entries", n)
	}
}

func TestUploadRenaming(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	cases := []struct{ sent, want string }{
		{".hidden", "hidden"},
		{"..two.txt", "two.txt"},
		{`a"b'c.txt`, "abc.txt"},
		{"x.txt", "x.txt"},
		{"x.txt", "x (2).txt"},
		{"x.txt", "x (3).txt"},
		{".x.txt", "x (4).txt"},
		{"noext", "noext"},
		{"noext", "noext (2)"},
		{"arch.tar.gz", "arch.tar.gz"},
		{"arch.tar.gz", "arch.tar (2).gz"},
		{"X.txt", "X.txt"}, // same name differing in case is another name
	}
	for _, c := range cases {
		d := e.uploadOK(s, "", c.sent, []byte("data"))
		if d["name"] != c.want {
			t.Errorf("upload %q stored as %q, want %q", c.sent, d["name"], c.want)
		}
	}
	// Only active files clash: once x.txt is trashed its name is free again.
	_, files := e.listing(s, "")
	for _, f := range files {
		if f["filename"] == "x.txt" {
			e.mustOK("file/delete", s.form("file_id", str(f["id"])))
		}
	}
	if d := e.uploadOK(s, "", "x.txt", []byte("again")); d["name"] != "x.txt" {
		t.Errorf("after trash: stored as %q", d["name"])
	}
	// Clashes are per folder.
	dir := e.mkdir(s, "d", "")
	if d := e.uploadOK(s, dir, "x.txt", []byte("in d")); d["name"] != "x.txt" {
		t.Errorf("in another folder: stored as %q", d["name"])
	}
}

func TestUploadFolderIDUnknownOrForeignMeansRoot(t *testing.T) {
	other := emulator.DefaultAccount()
	other.ID, other.Key1, other.Key2 = 99, strings.Repeat("o", 64), strings.Repeat("p", 64)
	e := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{emulator.DefaultAccount(), other} })
	s := e.login()
	o := e.loginWith(other.Key1, other.Key2)
	foreign := e.mkdir(o, "theirs", "")
	mine := e.mkdir(s, "mine", "")
	for _, fid := range []string{"424242", foreign, "abc", "0"} {
		e.uploadOK(s, fid, "f"+fid, []byte("1"))
	}
	e.uploadOK(s, mine, "in-mine", []byte("1"))
	_, root := e.listing(s, "")
	if len(root) != 4 {
		t.Fatalf("root has %d files, want 4: %v", len(root), root)
	}
	_, in := e.listing(s, mine)
	if len(in) != 1 || in[0]["filename"] != "in-mine" || in[0]["folderId"] != mine {
		t.Fatalf("mine: %v", in)
	}
}

func TestFileInfoEditDelete(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	dir := e.mkdir(s, "dir", "")
	d := e.uploadOK(s, dir, "a.txt", []byte("aaa"))
	id := str(d["file_id"])

	e.wantErr("file/info", s.form(), "Please provide the file_id param.")
	e.wantErr("file/info", s.form("file_id", "999"), "Could not find file based on file_id.")
	info := e.mustOK("file/info", s.form("file_id", id))["data"].(map[string]any)
	if info["file_status"] != "active" || info["filename"] != "a.txt" || info["folderId"] != dir || info["uploadedDate"] != "2026-03-04 05:06:07" {
		t.Fatalf("file/info %v", info)
	}
	if _, ok := info["status"]; ok {
		t.Fatalf("file/info reports status as file_status only: %v", info)
	}

	// Edit: no sanitising, no de-duplication, blanks keep values.
	e.uploadOK(s, dir, "taken.txt", []byte("t"))
	m := e.mustOK("file/edit", s.form("file_id", id, "filename", ".taken\".txt", "fileType", ""))
	if m["response"] != "File successfully updated." {
		t.Fatalf("edit reply %v", m)
	}
	ed := m["data"].(map[string]any)
	if ed["filename"] != `.taken".txt` || ed["fileType"] != "application/octet-stream" || ed["folderId"] != dir {
		t.Fatalf("edit data %v", ed)
	}
	e.mustOK("file/edit", s.form("file_id", id, "filename", "taken.txt"))
	_, files := e.listing(s, dir)
	if len(files) != 2 || files[0]["filename"] != "taken.txt" || files[1]["filename"] != "taken.txt" {
		t.Fatalf("duplicate names after edit: %v", files)
	}
	// folder_id: unknown ignored, "null" is the root.
	ed = e.mustOK("file/edit", s.form("file_id", id, "folder_id", "31337"))["data"].(map[string]any)
	if ed["folderId"] != dir {
		t.Fatalf("unknown folder_id moved the file: %v", ed)
	}
	ed = e.mustOK("file/edit", s.form("file_id", id, "folder_id", "null"))["data"].(map[string]any)
	if ed["folderId"] != nil {
		t.Fatalf("folder_id null: %v", ed)
	}

	// Delete: trash, folderId null, listed in the root with status trash.
	e.mustOK("file/move", s.form("file_id", id, "new_parent_folder_id", dir))
	m = e.mustOK("file/delete", s.form("file_id", id))
	if m["response"] != "File successfully set as deleted." || m["data"].(map[string]any)["status"] != "trash" {
		t.Fatalf("delete reply %v", m)
	}
	_, root := e.listing(s, "")
	if len(root) != 1 || str(root[0]["id"]) != id || root[0]["status"] != "trash" || root[0]["folderId"] != nil {
		t.Fatalf("root after delete: %v", root)
	}
	e.wantErr("file/delete", s.form("file_id", id), "Could not find file based on file_id.")
	if info := e.mustOK("file/info", s.form("file_id", id))["data"].(map[string]any); info["file_status"] != "trash" {
		t.Fatalf("info of trashed %v", info)
	}
}

func TestFileMoveAndCopy(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	dir := e.mkdir(s, "dir", "")
	gone := e.mkdir(s, "gone", "")
	e.mustOK("folder/delete", s.form("folder_id", gone))
	id := str(e.uploadOK(s, "", "m.txt", []byte("move me"))["file_id"])

	e.wantErr("file/move", s.form("new_parent_folder_id", dir), "Please provide the file_id param.")
	e.wantErr("file/move", s.form("file_id", "777", "new_parent_folder_id", dir), "Could not find file based on file_id.")
	e.wantErr("file/move", s.form("file_id", id), "Please provide the new_parent_folder_id param.")
	for _, bad := range []string{"0", "424242", gone, "x"} {
		e.wantErr("file/move", s.form("file_id", id, "new_parent_folder_id", bad), "Could not find the destination folder id defined by new_parent_folder_id.")
	}
	m := e.mustOK("file/move", s.form("file_id", id, "new_parent_folder_id", dir))
	if m["response"] != "File successfully moved." || m["data"].(map[string]any)["folderId"] != dir {
		t.Fatalf("move %v", m)
	}
	m = e.mustOK("file/move", s.form("file_id", id, "new_parent_folder_id", "null"))
	if m["data"].(map[string]any)["folderId"] != nil {
		t.Fatalf("move to null %v", m)
	}

	e.wantErr("file/copy", s.form("file_id", id), "Please provide the copy_to_folder_id param.")
	e.wantErr("file/copy", s.form("file_id", id, "copy_to_folder_id", "0"), "Could not find the destination folder id defined by copy_to_folder_id.")
	// Without the session cookie /authorize set, the copy has no owner.
	jar := e.hc.Jar
	e.hc.Jar = nil
	e.wantErr("file/copy", s.form("file_id", id, "copy_to_folder_id", dir), "Could not find file based on file_id.")
	e.hc.Jar = jar
	m = e.mustOK("file/copy", s.form("file_id", id, "copy_to_folder_id", dir))
	if m["response"] != "File successfully copyied." {
		t.Fatalf("copy %v", m)
	}
	orig := m["original_file"].(map[string]any)["data"].(map[string]any)
	nf := m["new_file"].(map[string]any)["data"].(map[string]any)
	if str(orig["id"]) != id || nf["folderId"] != dir || nf["filename"] != "m.txt" || str(nf["id"]) == id {
		t.Fatalf("copy data orig=%v new=%v", orig, nf)
	}
	// The copy has its own download and the same bytes.
	resp, body := e.get(e.downloadURL(s, str(nf["id"])))
	if resp.StatusCode != 200 || string(body) != "move me" {
		t.Fatalf("copy content %d %q", resp.StatusCode, body)
	}
	// Trashed files cannot be moved or copied.
	e.mustOK("file/delete", s.form("file_id", id))
	e.wantErr("file/move", s.form("file_id", id, "new_parent_folder_id", dir), "Could not find file based on file_id.")
	e.wantErr("file/copy", s.form("file_id", id, "copy_to_folder_id", dir), "Could not find file based on file_id.")
}

func TestForeignFilesAreNotFound(t *testing.T) {
	other := emulator.DefaultAccount()
	other.ID, other.Key1, other.Key2 = 99, strings.Repeat("o", 64), strings.Repeat("p", 64)
	e := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{emulator.DefaultAccount(), other} })
	s := e.login()
	o := e.loginWith(other.Key1, other.Key2)
	theirs := str(e.uploadOK(o, "", "t.txt", []byte("t"))["file_id"])
	for _, ep := range []string{"file/info", "file/download", "file/edit", "file/delete", "file/move", "file/copy"} {
		e.wantErr(ep, s.form("file_id", theirs, "new_parent_folder_id", "null", "copy_to_folder_id", "null"), "Could not find file based on file_id.")
	}
	theirDir := e.mkdir(o, "td", "")
	e.wantErr("folder/listing", s.form("parent_folder_id", theirDir), "Could not find folder based on folder_id.")
	e.wantErr("folder/info", s.form("folder_id", theirDir), "Could not find folder based on folder_id.")
	e.wantErr("folder/delete", s.form("folder_id", theirDir), "Failed deleting the folder.")
}

func TestPostOverLimitArrivesEmpty(t *testing.T) {
	e := newEnv(t, func(o *emulator.Options) { o.PostMaxSize = 4096 })
	s := e.login()
	m := e.upload(s, "", "big.bin", bytes.Repeat([]byte("z"), 8192))
	if m["response"] != msgNoToken {
		t.Fatalf("oversized body: %v", m)
	}
	// Chunked (no Content-Length): the same.
	ct, body := multipartBody(t, map[string]string{"access_token": s.token, "account_id": s.account}, "big.bin", bytes.Repeat([]byte("z"), 8192))
	req, _ := http.NewRequest(http.MethodPost, e.url("file/upload"), io.MultiReader(body))
	req.Header.Set("Content-Type", ct)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if m := decode(t, readAll(t, resp)); m["response"] != msgNoToken {
		t.Fatalf("oversized chunked body: %v", m)
	}
	e.uploadOK(s, "", "small.bin", []byte("fits"))
}

func TestConcurrentUploads(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	const n = 40
	var wg sync.WaitGroup
	names := make([]string, n)
	ids := make([]string, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			content := []byte(fmt.Sprintf("content %d", i))
			ct, body := multipartBody(t, map[string]string{"access_token": s.token, "account_id": s.account}, "same.txt", content)
			resp, err := e.ts.Client().Post(e.url("file/upload"), ct, body)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var m map[string]any
			if m = decodeQuiet(b); m == nil || m["_status"] != "success" {
				errs <- fmt.Errorf("upload %d: %s", i, b)
				return
			}
			d := m["data"].([]any)[0].(map[string]any)
			if d["hash"] != md5hex(content) {
				errs <- fmt.Errorf("upload %d: hash %v", i, d["hash"])
			}
			names[i], ids[i] = d["name"].(string), str(d["file_id"])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seenName, seenID := map[string]bool{}, map[string]bool{}
	for i := range names {
		if seenName[names[i]] || seenID[ids[i]] {
			t.Fatalf("duplicate name %q or id %q", names[i], ids[i])
		}
		seenName[names[i]], seenID[ids[i]] = true, true
		if !regexp.MustCompile(`^same( \(\d+\))?\.txt$`).MatchString(names[i]) {
			t.Fatalf("name %q", names[i])
		}
	}
	if got := len(e.srv.Dump(emulator.DemoAccountID)); got != n {
		t.Fatalf("dump has %d entries, want %d", got, n)
	}
}
