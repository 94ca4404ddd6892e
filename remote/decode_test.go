package remote

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustEnvelope(t *testing.T, body string) envelope {
	t.Helper()
	env, err := decodeEnvelope([]byte(body))
	if err != nil {
		t.Fatalf("decodeEnvelope(%s): %v", body, err)
	}
	return env
}

func TestDecodeListingStringAndNumberTypes(t *testing.T) {
	want := Listing{
		Folders: []Folder{{ID: "123", ParentID: Root, Name: "My Folder 1", Status: "active", FileCount: 2, ChildFolderCount: 1}},
		Files: []File{
			{ID: "1161", Name: "button_back.gif", Size: 1116, FolderID: "123", Status: "active", ShortURL: "2U1"},
			{ID: "1162", Name: "gone.gif", Size: 5, FolderID: Root, Status: "trash", ShortURL: "2U2"},
		},
	}
	bodies := map[string]string{
		"strings (older PHP)": `{"data":{"folders":[{"id":"123","parentId":null,"folderName":"My Folder 1","totalSize":"868689","isPublic":"1","status":"active","total_downloads":5864,"child_folder_count":1,"file_count":2}],
			"files":[{"id":"1161","filename":"button_back.gif","shortUrl":"2U1","fileSize":"1116","status":"active","downloads":"5865","folderId":"123"},
			{"id":"1162","filename":"gone.gif","shortUrl":"2U2","fileSize":"5","status":"trash","folderId":null}]},"_status":"success","_datetime":"2024-11-08 21:57:50"}`,
		"numbers (PHP 8.1+)": `{"data":{"folders":[{"id":123,"parentId":0,"folderName":"My Folder 1","totalSize":868689,"isPublic":1,"status":"active","child_folder_count":"1","file_count":2.0}],
			"files":[{"id":1161,"filename":"button_back.gif","shortUrl":"2U1","fileSize":1116,"status":"active","folderId":123},
			{"id":1162,"filename":"gone.gif","shortUrl":"2U2","fileSize":5,"status":"trash","folderId":""}]},"status":"success"}`,
		"lists as objects": `{"data":{"folders":{"0":{"id":"123","folderName":"My Folder 1","status":"active","child_folder_count":1,"file_count":2}},
			"files":{"1":{"id":"1162","filename":"gone.gif","shortUrl":"2U2","fileSize":"5","status":"trash"},"0":{"id":"1161","filename":"button_back.gif","shortUrl":"2U1","fileSize":"1116","status":"active","folderId":"123"}}},"_status":"success"}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			got, err := decodeListing(mustEnvelope(t, body))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("listing (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeEmptyData(t *testing.T) {
	for _, body := range []string{
		`{"data":false,"_status":"success"}`,
		`{"data":null,"_status":"success"}`,
		`{"data":{"folders":false,"files":null},"_status":"success"}`,
		`{"data":{"folders":[],"files":[]},"_status":"success"}`,
		`{"_status":"success"}`,
	} {
		l, err := decodeListing(mustEnvelope(t, body))
		if err != nil || len(l.Files) != 0 || len(l.Folders) != 0 {
			t.Errorf("%s: %+v, %v", body, l, err)
		}
	}
}

func TestDecodeFileShapes(t *testing.T) {
	cases := map[string]struct {
		body string
		want File
	}{
		"upload reply data array": {
			`{"response":"File uploaded","data":[{"name":"sample4_l.jpg","size":"149084","type":"application/octet-stream","error":null,"hash":"2F4105BC2C626232544275C2D890168B","short_url":"2Vv","file_id":"1253","url_html":"<a href=\"x\">y</a>"}],"_status":"success"}`,
			File{ID: "1253", Name: "sample4_l.jpg", Size: 149084, ShortURL: "2Vv", MD5: "2f4105bc2c626232544275c2d890168b"},
		},
		"upload reply data object, numbers": {
			`{"data":{"name":"a.txt","size":5,"hash":"abc","file_id":77},"_status":"success"}`,
			File{ID: "77", Name: "a.txt", Size: 5, MD5: "abc"},
		},
		"file/info with file_status": {
			`{"data":{"id":"1253","filename":"sample4_l.jpg","shortUrl":"2Vv","fileSize":"10","folderId":"9","file_status":"trash","isPublic":"1","uploadedDate":"2017-02-18 12:26:06"},"_status":"success"}`,
			File{ID: "1253", Name: "sample4_l.jpg", Size: 10, FolderID: "9", Status: "trash", ShortURL: "2Vv"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := decodeFile(mustEnvelope(t, tc.body).data())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeCopyAndPackage(t *testing.T) {
	env := mustEnvelope(t, `{"response":"File successfully copyied.","original_file":{"data":{"id":"1162","filename":"b.gif"}},"new_file":{"data":{"id":"1254","filename":"b.gif","shortUrl":"2Vw","fileSize":"3"}},"_status":"success"}`)
	f, err := decodeCopy(env)
	if err != nil || f.ID != "1254" || f.Size != 3 {
		t.Fatalf("decodeCopy = %+v, %v", f, err)
	}
	env = mustEnvelope(t, `{"data":{"id":"20","label":"Premium Account","max_upload_size":"1073741824","can_upload":"1","wait_between_downloads":"30","download_speed":"0","max_storage_bytes":"0","concurrent_uploads":"100","concurrent_downloads":"0","downloads_per_24_hours":"0","max_download_filesize_allowed":"0","max_remote_download_urls":"50","level_type":"paid user"},"_status":"success"}`)
	lim, err := decodeLimits(env)
	want := Limits{Label: "Premium Account", MaxUploadSize: 1 << 30, CanUpload: true, ConcurrentUploads: 100, WaitBetweenDownloads: 30 * time.Second}
	if err != nil || lim != want {
		t.Fatalf("decodeLimits = %+v, %v", lim, err)
	}
}

func TestInterpretEnvelopes(t *testing.T) {
	c, err := New(Config{URL: "https://h/api/v2/", Key1: testKey1, Key2: testKey2})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		status int
		ctype  string
		body   string
		want   error // nil: success
	}{
		{"success", 200, "application/json", `{"data":{"id":1},"_status":"success"}`, nil},
		{"legacy status key", 200, "application/json", `{"response":"Could not find file based on file_id.","status":"error"}`, ErrNotFound},
		{"no status with data", 200, "application/json", `{"data":{"id":1}}`, nil},
		{"no status no data", 200, "application/json", `{"response":"hm"}`, ErrTransient},
		{"html 200", 200, "text/html", `<html><title>Down for maintenance</title></html>`, ErrTransient},
		{"json 429", 429, "application/json", `{"response":"slow down","_status":"error"}`, ErrRateLimited},
		{"empty 503", 503, "", ``, ErrTransient},
		{"truncated json", 200, "application/json", `{"data":{"id":`, ErrTransient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {tc.ctype}}}
			_, err := c.interpret("file/info", resp, []byte(tc.body))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Kind != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(ae.Message, "<") {
				t.Fatalf("message keeps markup: %q", ae.Message)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	cases := map[string]string{
		`<html><head><title> 429 Too   Many Requests </title></head><body>x</body></html>`: "429 Too Many Requests",
		`<html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>`:     "502 Bad Gateway nginx",
		``:                   "empty body",
		"plain &amp; simple": "plain & simple",
	}
	for in, want := range cases {
		if got := summarize([]byte(in)); got != want {
			t.Errorf("summarize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := summarize([]byte(strings.Repeat("é", 500))); len(got) > 170 {
		t.Errorf("summary not shortened: %d bytes", len(got))
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"junk":                          0,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
		"999999999":                     24 * time.Hour,
	}
	for in, want := range cases {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	cases := []struct {
		in               string
		start, end, size int64
		ok               bool
	}{
		{"bytes 100-199/200", 100, 199, 200, true},
		{"bytes 5-9/*", 5, 9, -1, true},
		{"bytes 0-1/200", 0, 1, 200, true},
		{"bytes 100-99/200", 0, 0, 0, false},
		{"bytes 100-200/200", 0, 0, 0, false},
		{"items 1-2/3", 0, 0, 0, false},
		{"bytes */200", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tc := range cases {
		s, e, z, ok := parseContentRange(tc.in)
		if ok != tc.ok || (ok && (s != tc.start || e != tc.end || z != tc.size)) {
			t.Errorf("parseContentRange(%q) = %d %d %d %v", tc.in, s, e, z, ok)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := redactor{secrets: []string{testKey1, "tok12345678"}}
	in := "failed " + testKey1 + " with tok12345678 at https://h/x?download_token=abcdef&y=1 and access_token=zzz"
	got := r.clean(in)
	for _, bad := range []string{testKey1, "tok12345678", "abcdef", "zzz"} {
		if strings.Contains(got, bad) {
			t.Fatalf("clean left %q in %q", bad, got)
		}
	}
}
