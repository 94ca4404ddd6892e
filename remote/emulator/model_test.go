package emulator_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/syncd/syncd/remote/emulator"
)

// rclient is a bare raw-HTTP client for property tests (rapid.T has no
// TempDir or Cleanup, so the helpers of env do not fit).
type rclient struct {
	t     *rapid.T
	ts    *httptest.Server
	token string
}

func (c *rclient) call(endpoint string, kv ...string) map[string]any {
	form := url.Values{"access_token": {c.token}, "account_id": {strconv.Itoa(emulator.DemoAccountID)}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	resp, err := c.ts.Client().PostForm(c.ts.URL+"/api/v2/"+endpoint, form)
	if err != nil {
		c.t.Fatalf("%s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		c.t.Fatalf("%s: %v", endpoint, err)
	}
	return m
}

func (c *rclient) upload(folder, name string, content []byte) map[string]any {
	ct, body := multipartBody(c.t, map[string]string{"access_token": c.token, "account_id": strconv.Itoa(emulator.DemoAccountID), "folder_id": folder}, name, content)
	resp, err := c.ts.Client().Post(c.ts.URL+"/api/v2/file/upload", ct, body)
	if err != nil {
		c.t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := decodeQuiet(b)
	if m == nil {
		c.t.Fatalf("upload reply %s", b)
	}
	return m
}

type listed struct {
	id     string
	folder bool
	name   string
	status string
}

// listing returns a folder's entries as the API shows them, sorted by id.
func (c *rclient) listing(parent string) []listed {
	m := c.call("folder/listing", "parent_folder_id", parent)
	if m["_status"] != "success" {
		c.t.Fatalf("listing %q: %v", parent, m)
	}
	var out []listed
	d := m["data"].(map[string]any)
	for _, f := range d["folders"].([]any) {
		f := f.(map[string]any)
		out = append(out, listed{str(f["id"]), true, f["folderName"].(string), f["status"].(string)})
	}
	for _, f := range d["files"].([]any) {
		f := f.(map[string]any)
		out = append(out, listed{str(f["id"]), false, f["filename"].(string), f["status"].(string)})
	}
	sortListed(out)
	return out
}

func sortListed(l []listed) {
	sort.Slice(l, func(i, j int) bool {
		if l[i].folder != l[j].folder {
			return l[i].folder
		}
		a, _ := strconv.Atoi(l[i].id)
		b, _ := strconv.Atoi(l[j].id)
		return a < b
	})
}

// TestListingsAgreeWithDump drives random operation sequences over raw HTTP
// and checks after each step that every listing equals what Dump says lives
// in that folder, that uploads keep their bytes (MD5), and that a restart
// on the same DataDir changes nothing.
func TestListingsAgreeWithDump(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "emu-model-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		opts := emulator.Options{DataDir: dir, NoSync: true, Seed: 7}
		srv, err := emulator.New(opts)
		if err != nil {
			rt.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		c := &rclient{t: rt, ts: ts}
		auth := c.call("authorize", "key1", emulator.DemoKey1, "key2", emulator.DemoKey2)
		c.token = auth["data"].(map[string]any)["access_token"].(string)

		var folders, files []string
		pick := func(label string, ids []string) string {
			all := append([]string{"null"}, ids...)
			return rapid.SampledFrom(all).Draw(rt, label)
		}
		names := []string{"a.txt", ".a.txt", "b", "a (2).txt", `q"uote`}
		steps := rapid.IntRange(1, 15).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 6).Draw(rt, "op") {
			case 0:
				content := rapid.SliceOfN(rapid.Byte(), 1, 64).Draw(rt, "content")
				parent := pick("into", folders)
				m := c.upload(parent, rapid.SampledFrom(names).Draw(rt, "name"), content)
				d := m["data"].([]any)[0].(map[string]any)
				if d["hash"] != md5hex(content) {
					rt.Fatalf("upload hash %v", d["hash"])
				}
				files = append(files, str(d["file_id"]))
			case 1:
				m := c.call("folder/create", "folder_name", rapid.SampledFrom(names).Draw(rt, "fname"), "parent_id", pick("parent", folders))
				folders = append(folders, str(m["data"].(map[string]any)["id"]))
			case 2:
				if len(files) > 0 {
					c.call("file/delete", "file_id", rapid.SampledFrom(files).Draw(rt, "del"))
				}
			case 3:
				if len(folders) > 0 {
					c.call("folder/delete", "folder_id", rapid.SampledFrom(folders).Draw(rt, "rmdir"))
				}
			case 4:
				if len(files) > 0 {
					c.call("file/move", "file_id", rapid.SampledFrom(files).Draw(rt, "mv"), "new_parent_folder_id", pick("mvto", folders))
				}
			case 5:
				if len(folders) > 0 {
					c.call("folder/move", "folder_id", rapid.SampledFrom(folders).Draw(rt, "mvdir"), "new_parent_folder_id", pick("mvdirto", folders))
				}
			case 6:
				if len(files) > 0 {
					c.call("file/edit", "file_id", rapid.SampledFrom(files).Draw(rt, "ed"), "filename", rapid.SampledFrom(names).Draw(rt, "newname"))
				}
			}
			dump := srv.Dump(emulator.DemoAccountID)
			byParent := map[int64][]listed{}
			for _, en := range dump {
				byParent[en.ParentID] = append(byParent[en.ParentID], listed{strconv.FormatInt(en.ID, 10), en.Folder, en.Name, en.Status})
			}
			for _, p := range append([]string{"null"}, folders...) {
				pid := int64(0)
				if p != "null" {
					pid, _ = strconv.ParseInt(p, 10, 64)
				}
				want := byParent[pid]
				sortListed(want)
				if diff := cmp.Diff(want, c.listing(p), cmp.AllowUnexported(listed{})); diff != "" {
					rt.Fatalf("step %d: listing %s differs from Dump (-dump +listing):\n%s", i, p, diff)
				}
			}
		}
		before := srv.Dump(emulator.DemoAccountID)
		ts.Close()
		if err := srv.Close(); err != nil {
			rt.Fatal(err)
		}
		srv2, err := emulator.New(opts)
		if err != nil {
			rt.Fatal(err)
		}
		defer srv2.Close()
		if diff := cmp.Diff(before, srv2.Dump(emulator.DemoAccountID)); diff != "" {
			rt.Fatalf("restart changed the state:\n%s", diff)
		}
		// Contents survive too.
		for _, en := range before {
			if en.Folder {
				continue
			}
			b, err := os.ReadFile(dir + "/files/" + strconv.FormatInt(en.ID, 10))
			if err != nil || md5hex(b) != en.MD5 || int64(len(b)) != en.Size {
				rt.Fatalf("content of %d: %v", en.ID, err)
			}
		}
	})
}
