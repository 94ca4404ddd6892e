package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one emulator behind httptest with a raw HTTP client.
type env struct {
	t     *testing.T
	srv   *emulator.Server
	ts    *httptest.Server
	clock *clock
	hc    *http.Client // with a cookie jar, no redirects followed
	opts  emulator.Options
}

func newEnv(t *testing.T, mutate ...func(*emulator.Options)) *env {
	t.Helper()
	c := newClock()
	opts := emulator.Options{DataDir: t.TempDir(), Now: c.Now, Seed: 1, NoSync: true}
	for _, m := range mutate {
		m(&opts)
	}
	return startEnv(t, opts, c)
}

func startEnv(t *testing.T, opts emulator.Options, c *clock) *env {
	return startEnvAt(t, opts, c, "")
}

// startEnvAt serves on addr ("" picks a free loopback port).
func startEnvAt(t *testing.T, opts emulator.Options, c *clock, addr string) *env {
	t.Helper()
	srv, err := emulator.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewUnstartedServer(srv)
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen again on %s: %v", addr, err)
		}
		ts.Listener.Close()
		ts.Listener = l
	}
	ts.Start()
	jar, _ := cookiejar.New(nil)
	e := &env{t: t, srv: srv, ts: ts, clock: c, opts: opts, hc: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return e
}

// restart closes the server and opens a new one on the same DataDir and
// address, as a restarted service would be.
func (e *env) restart() {
	e.t.Helper()
	addr := e.ts.Listener.Addr().String()
	e.ts.Close()
	if err := e.srv.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	n := startEnvAt(e.t, e.opts, e.clock, addr)
	n.hc.Jar = e.hc.Jar
	*e = *n
}

func (e *env) url(endpoint string) string { return e.ts.URL + "/api/v2/" + endpoint }

// raw posts an urlencoded form and returns the status and body.
func (e *env) raw(endpoint string, form url.Values) (int, string) {
	e.t.Helper()
	resp, err := e.hc.PostForm(e.url(endpoint), form)
	if err != nil {
		e.t.Fatalf("POST %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read %s: %v", endpoint, err)
	}
	return resp.StatusCode, string(b)
}

// call posts a form and decodes the JSON reply; non-200 fails the test.
func (e *env) call(endpoint string, form url.Values) map[string]any {
	e.t.Helper()
	code, body := e.raw(endpoint, form)
	if code != http.StatusOK {
		e.t.Fatalf("%s: HTTP %d: %s", endpoint, code, body)
	}
	return decode(e.t, body)
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("decode %q: %v", body, err)
	}
	return m
}

// mustOK calls and fails unless the reply is a success.
func (e *env) mustOK(endpoint string, form url.Values) map[string]any {
	e.t.Helper()
	m := e.call(endpoint, form)
	if m["_status"] != "success" {
		e.t.Fatalf("%s %v: %v", endpoint, form, m)
	}
	return m
}

// wantErr calls and checks the error message.
func (e *env) wantErr(endpoint string, form url.Values, msg string) {
	e.t.Helper()
	m := e.call(endpoint, form)
	if m["_status"] != "error" || m["response"] != msg {
		e.t.Fatalf("%s %v: got %v, want error %q", endpoint, form, m, msg)
	}
}

type session struct {
	token, account string
}

func (s session) form(kv ...string) url.Values {
	v := url.Values{"access_token": {s.token}, "account_id": {s.account}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func (e *env) login() session {
	e.t.Helper()
	return e.loginWith(emulator.DemoKey1, emulator.DemoKey2)
}

func (e *env) loginWith(k1, k2 string) session {
	e.t.Helper()
	m := e.mustOK("authorize", url.Values{"key1": {k1}, "key2": {k2}})
	d := m["data"].(map[string]any)
	return session{token: d["access_token"].(string), account: str(d["account_id"])}
}

// str renders a string or JSON number field as a string.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return "?"
}

// fataler is what multipartBody needs of a *testing.T, *testing.B or *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// multipartBody builds an upload request body.
func multipartBody(t fataler, fields map[string]string, filename string, content []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if content != nil {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="upload_file"; filename="` + escapeQuotes(filename) + `"`}
		h["Content-Type"] = []string{"application/octet-stream"}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func escapeQuotes(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }

// upload posts a multipart upload and returns the decoded reply.
func (e *env) upload(s session, folderID, name string, content []byte) map[string]any {
	e.t.Helper()
	fields := map[string]string{"access_token": s.token, "account_id": s.account}
	if folderID != "" {
		fields["folder_id"] = folderID
	}
	ct, body := multipartBody(e.t, fields, name, content)
	resp, err := e.hc.Post(e.url("file/upload"), ct, body)
	if err != nil {
		e.t.Fatalf("upload %s: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("upload %s: HTTP %d %s", name, resp.StatusCode, b)
	}
	return decode(e.t, string(b))
}

// uploadOK uploads and returns data[0].
func (e *env) uploadOK(s session, folderID, name string, content []byte) map[string]any {
	e.t.Helper()
	m := e.upload(s, folderID, name, content)
	if m["_status"] != "success" {
		e.t.Fatalf("upload %s: %v", name, m)
	}
	return m["data"].([]any)[0].(map[string]any)
}

func (e *env) mkdir(s session, name, parent string) string {
	e.t.Helper()
	m := e.mustOK("folder/create", s.form("folder_name", name, "parent_id", parent))
	return str(m["data"].(map[string]any)["id"])
}

// listing returns the folders and files of a folder listing.
func (e *env) listing(s session, parent string) (folders, files []map[string]any) {
	e.t.Helper()
	m := e.mustOK("folder/listing", s.form("parent_folder_id", parent))
	d := m["data"].(map[string]any)
	for _, f := range d["folders"].([]any) {
		folders = append(folders, f.(map[string]any))
	}
	for _, f := range d["files"].([]any) {
		files = append(files, f.(map[string]any))
	}
	return folders, files
}

// get fetches a URL with the raw client (no redirects followed).
func (e *env) get(u string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("GET %s: %v", u, err)
	}
	return resp, b
}

func (e *env) downloadURL(s session, fileID string) string {
	e.t.Helper()
	m := e.mustOK("file/download", s.form("file_id", fileID))
	return m["data"].(map[string]any)["download_url"].(string)
}

func readAll(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeQuiet(b []byte) map[string]any {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}
