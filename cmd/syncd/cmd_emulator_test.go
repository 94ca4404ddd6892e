package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
)

// lockedBuffer is a bytes.Buffer safe for the command's goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startEmulatorCmd runs `syncd emulator args...` and returns its API URL.
func startEmulatorCmd(t *testing.T, args ...string) (apiURL string, stderr *lockedBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &lockedBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- runEmulator(ctx, args, pw, stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("first line: %v (stderr: %s)", err, stderr)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`^listening on (http://127\.0\.0\.1:[0-9]+/api/v2/)\n$`).FindStringSubmatch(line)
	if m == nil {
		cancel()
		t.Fatalf("first line %q", line)
	}
	var once sync.Once
	var rc int
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case rc = <-code:
			case <-time.After(10 * time.Second):
				t.Fatal("emulator did not stop on cancel")
			}
		})
		return rc
	}
	t.Cleanup(func() { stop() })
	return m[1], stderr, stop
}

func postForm(t *testing.T, u string, v url.Values) map[string]any {
	t.Helper()
	resp, err := http.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEmulatorCommandServesAndStops(t *testing.T) {
	data := t.TempDir()
	api, stderr, stop := startEmulatorCmd(t, "-listen", "127.0.0.1:0", "-data", data, "-number-ids", "-lockout", "0")
	if !strings.Contains(stderr.String(), emulator.DemoKey1) {
		t.Fatalf("demo keys not printed on stderr: %s", stderr)
	}
	m := postForm(t, api+"authorize", url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}})
	d, ok := m["data"].(map[string]any)
	if !ok || d["account_id"] != float64(emulator.DemoAccountID) {
		t.Fatalf("authorize with -number-ids: %v", m)
	}
	m = postForm(t, api+"folder/create", url.Values{"access_token": {d["access_token"].(string)}, "account_id": {"158642"}, "folder_name": {"kept"}})
	if m["_status"] != "success" {
		t.Fatalf("folder/create: %v", m)
	}
	// -lockout 0 is off: many bad keys, then the good ones still work.
	bad := url.Values{"key1": {strings.Repeat("a", 64)}, "key2": {strings.Repeat("b", 64)}}
	for i := 0; i < 7; i++ {
		postForm(t, api+"authorize", bad)
	}
	if m := postForm(t, api+"authorize", url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}}); m["_status"] != "success" {
		t.Fatalf("-lockout 0: %v", m)
	}
	if rc := stop(); rc != 0 {
		t.Fatalf("exit %d, stderr %s", rc, stderr)
	}
	// The data survives: a new emulator on the same -data sees the folder.
	srv, err := emulator.New(emulator.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if d := srv.Dump(emulator.DemoAccountID); len(d) != 1 || d[0].Name != "kept" {
		t.Fatalf("after restart: %+v", d)
	}
}

func TestEmulatorCommandAccountsAndKeys(t *testing.T) {
	k1, k2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	file := filepath.Join(t.TempDir(), "accounts.yaml")
	os.WriteFile(file, []byte(`
- id: 7
  username: seven
  key1: "`+strings.Repeat("7", 64)+`"
  key2: "`+strings.Repeat("8", 64)+`"
  max_upload_size: 1000
- id: 9
  key1: "`+strings.Repeat("9", 64)+`"
  key2: "`+strings.Repeat("0", 64)+`"
  level_api: false
`), 0o600)
	api, _, _ := startEmulatorCmd(t, "-listen", "127.0.0.1:0", "-data", t.TempDir(), "-key1", k1, "-key2", k2,
		"-accounts", file, "-storage-limit", "5000", "-legacy-status-key")
	m := postForm(t, api+"authorize", url.Values{"key1": {k1}, "key2": {k2}})
	if m["_status"] != "success" || m["data"].(map[string]any)["account_id"] != "158642" {
		t.Fatalf("flag account: %v", m)
	}
	m = postForm(t, api+"authorize", url.Values{"key1": {strings.Repeat("7", 64)}, "key2": {strings.Repeat("8", 64)}})
	tok := m["data"].(map[string]any)["access_token"].(string)
	pkg := postForm(t, api+"account/package", url.Values{"access_token": {tok}})["data"].(map[string]any)
	if pkg["max_upload_size"] != "1000" || pkg["max_storage_bytes"] != "5000" {
		t.Fatalf("file account package: %v", pkg)
	}
	m = postForm(t, api+"authorize", url.Values{"key1": {strings.Repeat("9", 64)}, "key2": {strings.Repeat("0", 64)}})
	if m["status"] != "error" || !strings.Contains(m["response"].(string), "does not have access") {
		t.Fatalf("level_api false with -legacy-status-key: %v", m)
	}
}

func TestEmulatorCommandUsageErrors(t *testing.T) {
	badYAML := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badYAML, []byte("- id: 1\n  nope: 2\n"), 0o600)
	cases := []struct {
		args []string
		flag string
	}{
		{[]string{"-listen", "127.0.0.1:0"}, "-data"},
		{[]string{"-data", t.TempDir(), "-key1", "short", "-key2", strings.Repeat("k", 64)}, "-key1"},
		{[]string{"-data", t.TempDir(), "-key1", strings.Repeat("k", 64), "-key2", "short"}, "-key2"},
		{[]string{"-data", t.TempDir(), "-key1", strings.Repeat("k", 64)}, "-key2"},
		{[]string{"-data", t.TempDir(), "-range", "sideways"}, "-range"},
		{[]string{"-data", t.TempDir(), "-fail-rate", "2"}, "-fail-rate"},
		{[]string{"-data", t.TempDir(), "-accounts", badYAML}, "-accounts"},
		{[]string{"-data", t.TempDir(), "-no-such-flag"}, "-no-such-flag"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		if rc := runEmulator(context.Background(), c.args, &out, &errb); rc != 2 {
			t.Errorf("%v: exit %d, want 2", c.args, rc)
		}
		if !strings.Contains(errb.String(), c.flag) {
			t.Errorf("%v: stderr %q does not name %s", c.args, errb.String(), c.flag)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q", c.args, out.String())
		}
	}
}
