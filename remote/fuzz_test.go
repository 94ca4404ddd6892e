package remote

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The fuzz targets hold the decoding of whatever a server or proxy sends
// to one property: it never panics, and what it accepts is consistent.
// Seed corpora live in testdata/fuzz/<target>/.

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"data":{"folders":[{"id":"1","parentId":null,"folderName":"a"}],"files":[{"id":2,"filename":"b","fileSize":"3"}]},"_status":"success"}`))
	f.Add([]byte(`{"data":[{"name":"x","size":"1","file_id":"9","hash":"abc"}],"_status":"success"}`))
	f.Add([]byte(`{"data":false,"status":"success"}`))
	f.Add([]byte(`<html><title>502</title></html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := decodeEnvelope(body)
		if err != nil {
			return
		}
		l, err := decodeListing(env)
		if err == nil {
			for _, x := range l.Files {
				if x.ID == "" {
					t.Fatalf("listing accepted a file without id: %+v", x)
				}
			}
			for _, x := range l.Folders {
				if x.ID == "" {
					t.Fatalf("listing accepted a folder without id: %+v", x)
				}
			}
		}
		if fl, err := decodeFile(env.data()); err == nil && fl.ID == "" {
			t.Fatalf("decodeFile accepted a file without id")
		}
		if fo, err := decodeFolder(env.data()); err == nil && fo.ID == "" {
			t.Fatalf("decodeFolder accepted a folder without id")
		}
		if lim, err := decodeLimits(env); err == nil {
			if lim.MaxUploadSize < 0 || lim.ConcurrentUploads < 0 || lim.WaitBetweenDownloads < 0 || lim.DownloadsPer24Hours < 0 {
				t.Fatalf("negative limits: %+v", lim)
			}
		}
		_, _ = decodeAccount(env)
		if tok, acct, err := decodeAuth(env); err == nil && (tok == "" || acct == "") {
			t.Fatalf("decodeAuth accepted an empty token")
		}
		if u, err := decodeDownloadURL(env); err == nil && u == "" {
			t.Fatalf("decodeDownloadURL accepted an empty url")
		}
		_, _ = decodeCopy(env)
	})
}

// FuzzFlexString: the shortcuts flexString takes for plain strings and
// numbers decode exactly what encoding/json decodes.
func FuzzFlexString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"caf\u00e9"`, `"a\"b"`, "\"tab\there\"", "\"\xff\xfe\"", `"é ü 漢"`,
		`""`, `"`, `"a"b"`, `123`, `-0.5e3`, `1e`, `01`, ` "spaced" `, `"\/"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got flexString
		err := got.UnmarshalJSON(b)
		t2 := bytes.TrimSpace(b)
		if len(t2) == 0 || !json.Valid(t2) {
			return // the decoder calling UnmarshalJSON never passes invalid JSON
		}
		var want string
		switch t2[0] {
		case '"':
			if json.Unmarshal(t2, &want) != nil {
				t.Fatalf("json refused valid %q", t2)
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			var n json.Number
			if json.Unmarshal(t2, &n) != nil {
				t.Fatalf("json refused valid %q", t2)
			}
			want = n.String()
		default:
			return
		}
		if err != nil || string(got) != want {
			t.Fatalf("flexString(%q) = %q, %v; encoding/json says %q", b, got, err, want)
		}
	})
}

func FuzzInterpret(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"response":"Could not validate access_token","_status":"error"}`), "")
	f.Add(429, "text/html", []byte(`<html><title>Too Many</title></html>`), "5")
	f.Add(403, "text/html", []byte(``), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(200, "text/html; charset=utf-8", []byte("<!DOCTYPE html>\n<p>maintenance</p>"), "")
	c, err := New(Config{URL: "https://h/api/v2/", Key1: testKey1, Key2: testKey2})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte, ra string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ctype}, "Retry-After": {ra}}}
		env, err := c.interpret("file/info", resp, body)
		if err == nil {
			if status != 200 {
				t.Fatalf("HTTP %d accepted as success", status)
			}
			if env.status == "error" {
				t.Fatalf("error reply accepted as success")
			}
			return
		}
		ae, ok := err.(*APIError)
		if !ok || ae.Kind == nil {
			t.Fatalf("unclassified error %T %v", err, err)
		}
		if strings.Contains(ae.Message, testKey1) {
			t.Fatalf("message leaks a key")
		}
		if ae.RetryAfter < 0 {
			t.Fatalf("negative Retry-After")
		}
	})
}

func FuzzContentRange(f *testing.F) {
	f.Add("bytes 1-2/3")
	f.Add("bytes 0-0/*")
	f.Add("bytes -1--2/-3")
	f.Fuzz(func(t *testing.T, s string) {
		start, end, size, ok := parseContentRange(s)
		if ok && (start < 0 || end < start || (size >= 0 && end >= size)) {
			t.Fatalf("accepted an impossible range %q: %d-%d/%d", s, start, end, size)
		}
	})
}
