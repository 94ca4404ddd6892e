package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
)

// The end-to-end tests run the built binary against the emulator.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "syncd")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build syncd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is the emulator on a loopback address that survives restarts.
type server struct {
	t    *testing.T
	data string
	addr string
	emu  *emulator.Server
	srv  *httptest.Server
	mod  func(*emulator.Options) // knobs (latency...), set before start
}

func startServer(t *testing.T) *server {
	s := &server{t: t, data: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.t.Helper()
	opts := emulator.Options{DataDir: s.data, NoSync: true}
	if s.mod != nil {
		s.mod(&opts)
	}
	emu, err := emulator.New(opts)
	if err != nil {
		s.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(emu)
	if s.addr != "" {
		l, err := listenRetry(s.addr)
		if err != nil {
			s.t.Fatal(err)
		}
		srv.Listener = l
	}
	srv.Start()
	s.emu, s.srv, s.addr = emu, srv, srv.Listener.Addr().String()
}

func listenRetry(addr string) (net.Listener, error) {
	var err error
	for i := 0; i < 50; i++ {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, err
}

func (s *server) stop() {
	if s.srv != nil {
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.emu.Close()
		s.srv = nil
	}
}

func (s *server) url() string { return "http://" + s.addr + "/api/v2/" }

// remoteFiles maps active files below /pair to their MD5.
func (s *server) remoteFiles() map[string]string {
	out := map[string]string{}
	for _, e := range s.emu.Dump(emulator.DefaultAccount().ID) {
		if e.Status == "active" && !e.Folder && strings.HasPrefix(e.Path, "/pair/") {
			out[strings.TrimPrefix(e.Path, "/pair/")] = e.MD5
		}
	}
	return out
}

type fixture struct {
	t     *testing.T
	srv   *server
	local string
	state string
	cfg   string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, srv: startServer(t), local: t.TempDir(), state: t.TempDir()}
	f.writeConfig("")
	return f
}

func (f *fixture) writeConfig(extra string) {
	acct := emulator.DefaultAccount()
	f.cfg = filepath.Join(f.state, "config.yaml")
	body := fmt.Sprintf("api:\n  url: %s\n  key1: %q\n  key2: %q\nstate_dir: %s\npoll_interval: 1s\ndebounce: 300ms\nlog:\n  level: info\n  format: json\n%spairs:\n  - local: %s\n    remote: /pair\n",
		f.srv.url(), acct.Key1, acct.Key2, f.state, extra, f.local)
	if err := os.WriteFile(f.cfg, []byte(body), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) syncd(args ...string) (string, int) {
	f.t.Helper()
	cmd := exec.Command(binPath, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	return out.String(), code
}

// daemonProc is a running `syncd run` process.
type daemonProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (f *fixture) startDaemon() *daemonProc {
	f.t.Helper()
	return f.startDaemonArgs()
}

// startDaemonArgs starts `syncd run -config CFG args...`.
func (f *fixture) startDaemonArgs(args ...string) *daemonProc {
	f.t.Helper()
	d := &daemonProc{cmd: exec.Command(binPath, append([]string{"run", "-config", f.cfg}, args...)...), out: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	f.t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
		if f.t.Failed() {
			f.t.Logf("daemon output:\n%s", d.out.String())
		}
	})
	return d
}

// stop sends SIGTERM and returns how long the daemon took to exit.
func (d *daemonProc) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Fatalf("daemon exited with %v\n%s", err, d.out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("daemon did not stop within 10s of SIGTERM\n%s", d.out.String())
	}
	return time.Since(start)
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
	return 0
}

func md5hex(s string) string {
	return fmt.Sprintf("%x", md5sum([]byte(s)))
}

func (f *fixture) client() *remote.Client {
	acct := emulator.DefaultAccount()
	c, err := remote.New(remote.Config{URL: f.srv.url(), Key1: acct.Key1, Key2: acct.Key2})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := c.Authorize(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// synced reports whether the daemon answers and its pair has synced.
func (f *fixture) synced() bool {
	out, code := f.syncd("status", "-config", f.cfg, "-json")
	var doc statusDoc
	if json.Unmarshal([]byte(out), &doc) != nil {
		return false
	}
	return code == 0 && doc.Source == "daemon" && len(doc.Pairs) == 1 && !doc.Pairs[0].LastSync.IsZero()
}

func (f *fixture) status() (statusDoc, int) {
	f.t.Helper()
	out, code := f.syncd("status", "-config", f.cfg, "-json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		f.t.Fatalf("status -json: %v\n%s", err, out)
	}
	return doc, code
}

func TestDaemonSyncsBothWaysAndStopsCleanly(t *testing.T) {
	f := newFixture(t)
	d := f.startDaemon()
	eventually(t, "first pass", 10*time.Second, f.synced)

	// Local write -> remote.
	if err := os.WriteFile(filepath.Join(f.local, "up.txt"), []byte("going up"), 0o644); err != nil {
		t.Fatal(err)
	}
	lat := eventually(t, "up.txt on the remote", 10*time.Second, func() bool {
		return f.srv.remoteFiles()["up.txt"] == md5hex("going up")
	})
	t.Logf("local write visible on the remote after %s (debounce 300ms)", lat)

	// Remote write (another client, which also kills the daemon's token) -> local.
	c := f.client()
	var root remote.ID
	l, err := c.List(context.Background(), remote.Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, fo := range l.Folders {
		if fo.Name == "pair" && fo.Active() {
			root = fo.ID
		}
	}
	content := "coming down"
	if _, err := c.Upload(context.Background(), remote.UploadRequest{Folder: root, Name: "down.txt", Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil }}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "down.txt locally", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(f.local, "down.txt"))
		return err == nil && string(b) == content
	})

	// Polls run every second; between them the pair is idle.
	eventually(t, "an idle status", 10*time.Second, func() bool {
		doc, code := f.status()
		return code == 0 && doc.Source == "daemon" && doc.Pairs[0].State == "idle"
	})
	if took := d.stop(t); took > 5*time.Second {
		t.Fatalf("SIGTERM took %s", took)
	}
	// No temporary file under a real name, nothing left in tmp.
	if ents, _ := os.ReadDir(filepath.Join(f.local, ".syncd", "tmp")); len(ents) != 0 {
		t.Fatalf("temporary downloads left behind: %v", ents)
	}
	// Stopped: status reads the saved state and says so.
	doc, code := f.status()
	if doc.Source != "saved" || doc.State != "stopped" || code != 0 {
		t.Fatalf("status after stop: code %d %+v", code, doc)
	}
	out, _ := f.syncd("status", "-config", f.cfg)
	if first := strings.SplitN(out, "\n", 2)[0]; !strings.HasPrefix(first, "SYNCD OK - ") || !strings.Contains(first, "| pending=0") {
		t.Fatalf("status first line not plugin-shaped: %q", first)
	}
}

func TestDaemonRidesOutAnOutage(t *testing.T) {
	f := newFixture(t)
	f.startDaemon()
	eventually(t, "first pass", 10*time.Second, f.synced)
	f.srv.stop()
	if err := os.WriteFile(filepath.Join(f.local, "during-outage.txt"), []byte("queued"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // at least one failed pass
	f.srv.start()
	eventually(t, "the queued change after the server returned", 30*time.Second, func() bool {
		return f.srv.remoteFiles()["during-outage.txt"] == md5hex("queued")
	})
}

func TestStatusUnknownWithoutState(t *testing.T) {
	f := newFixture(t)
	out, code := f.syncd("status", "-config", f.cfg)
	if code != statusUnknown || !strings.HasPrefix(out, "SYNCD UNKNOWN - ") {
		t.Fatalf("status with nothing saved: code %d %q", code, out)
	}
	out, code = f.syncd("-status", "-config", filepath.Join(f.state, "missing.yaml"))
	if code != statusUnknown {
		t.Fatalf("status with a missing config: code %d %q", code, out)
	}
}

func TestOnceExitCodes(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 20; i++ {
		os.WriteFile(filepath.Join(f.local, fmt.Sprintf("f%02d.txt", i)), []byte(fmt.Sprint("content ", i)), 0o644)
	}
	os.WriteFile(filepath.Join(f.local, "empty.txt"), nil, 0o644)
	out, code := f.syncd("once", "-config", f.cfg, "-dry-run", "-json")
	if code != 0 || !strings.Contains(out, `"upload"`) {
		t.Fatalf("dry run: code %d\n%s", code, out)
	}
	if len(f.srv.remoteFiles()) != 0 {
		t.Fatal("dry run uploaded files")
	}
	out, code = f.syncd("once", "-config", f.cfg)
	if code != 0 {
		t.Fatalf("once: code %d\n%s", code, out)
	}
	if !strings.Contains(out, "empty.txt") {
		t.Fatalf("the empty file is not reported:\n%s", out)
	}
	if n := len(f.srv.remoteFiles()); n != 20 {
		t.Fatalf("%d files on the remote, want 20", n)
	}
	// Deleting everything trips the guard: exit 1, nothing deleted.
	for i := 0; i < 20; i++ {
		os.Remove(filepath.Join(f.local, fmt.Sprintf("f%02d.txt", i)))
	}
	out, code = f.syncd("once", "-config", f.cfg)
	if code != 1 || !strings.Contains(out, "HALTED") {
		t.Fatalf("mass delete: code %d\n%s", code, out)
	}
	if n := len(f.srv.remoteFiles()); n != 20 {
		t.Fatalf("halted pass deleted remote files: %d left", n)
	}
	out, code = f.syncd("once", "-config", f.cfg, "-force")
	if code != 0 || len(f.srv.remoteFiles()) != 0 {
		t.Fatalf("forced pass: code %d, %d remote files\n%s", code, len(f.srv.remoteFiles()), out)
	}
	// A configuration error is exit 2 and names the key and line.
	os.WriteFile(f.cfg, []byte("poll_interval: 30 s\n"), 0o600)
	out, code = f.syncd("once", "-config", f.cfg)
	if code != 2 || !strings.Contains(out, "poll_interval") {
		t.Fatalf("bad config: code %d\n%s", code, out)
	}
}

func TestDemoSmoke(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command(binPath, "demo", "-dir", dir, "-poll", "1s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(sub string) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("demo ended before printing %q", sub)
				}
				if strings.Contains(l, sub) {
					return
				}
			case <-deadline:
				t.Fatalf("demo never printed %q", sub)
			}
		}
	}
	waitLine("downloaded welcome.txt")
	if err := os.WriteFile(filepath.Join(dir, "dropped.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLine("uploaded dropped.txt")
	cmd.Process.Signal(os.Interrupt)
	waitLine("stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo exit: %v", err)
	}
}

func md5sum(b []byte) [16]byte { return md5.Sum(b) }

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestDaemonServesMetrics(t *testing.T) {
	f := newFixture(t)
	addr := freePort(t)
	f.writeConfig("metrics_listen: " + addr + "\n")
	os.WriteFile(filepath.Join(f.local, "m.txt"), []byte("metrics"), 0o644)
	f.startDaemon()
	eventually(t, "m.txt on the remote", 10*time.Second, func() bool { return f.srv.remoteFiles()["m.txt"] != "" })
	var body string
	eventually(t, "metrics", 10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return strings.Contains(body, `syncd_operations_total{op="upload"`)
	})
	for _, want := range []string{
		`syncd_operations_total{op="upload",pair="` + f.local + `",result="done"} 1`,
		`syncd_api_request_duration_seconds_count{endpoint="file/upload"}`,
		`syncd_api_responses_total{code="200",endpoint="folder/listing"}`,
		`syncd_seconds_since_last_success`,
		`syncd_queue_depth{pair="` + f.local + `"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, emulator.DefaultAccount().Key1) {
		t.Fatal("a key leaked into the metrics")
	}
}

// SIGTERM in the middle of a large upload stops the daemon within seconds;
// the restarted daemon finishes the job with exactly one remote copy.
func TestSigtermDuringLargeUploadThenRestart(t *testing.T) {
	f := newFixture(t)
	f.writeConfig("bwlimit_up: 1MiB\n") // a 16 MiB upload takes ~16 s
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	if err := os.WriteFile(filepath.Join(f.local, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	d := f.startDaemon()
	eventually(t, "the upload in flight", 15*time.Second, func() bool {
		doc, code := f.statusQuiet()
		return code >= 0 && len(doc.Pairs) == 1 && len(doc.Pairs[0].Transfers) == 1 && doc.Pairs[0].Transfers[0].Done > 0
	})
	if took := d.stop(t); took > 5*time.Second {
		t.Fatalf("SIGTERM during an upload took %s", took)
	}
	f.writeConfig("")
	f.startDaemon()
	want := fmt.Sprintf("%x", md5.Sum(big))
	eventually(t, "big.bin on the remote", 60*time.Second, func() bool { return f.srv.remoteFiles()["big.bin"] == want })
	live := 0
	for _, e := range f.srv.emu.Dump(emulator.DefaultAccount().ID) {
		if e.Status == "active" && !e.Folder {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d live remote files after the restart, want 1", live)
	}
}

// statusQuiet is status -json that tolerates a daemon not answering yet.
func (f *fixture) statusQuiet() (statusDoc, int) {
	out, code := f.syncd("status", "-config", f.cfg, "-json")
	var doc statusDoc
	if json.Unmarshal([]byte(out), &doc) != nil {
		return doc, -1
	}
	return doc, code
}

// localFiles maps the fixture's local files (outside .syncd) to their MD5.
func (f *fixture) localFiles() map[string]string {
	out := map[string]string{}
	filepath.WalkDir(f.local, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(f.local, p)
		rel = filepath.ToSlash(rel)
		if rel == ".syncd" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				out[rel] = md5hex(string(b))
			}
		}
		return nil
	})
	return out
}

// The running daemon rescans only what the watcher names: mkdir -p then
// write, a burst of files in a new directory, a whole tree renamed, an
// editor's save-by-rename and a tree deleted must all reach the remote,
// with no full rescan to fall back on (scan_interval is an hour).
func TestDaemonFollowsTreeShapedChanges(t *testing.T) {
	f := newFixture(t)
	os.MkdirAll(filepath.Join(f.local, "keep"), 0o755)
	os.WriteFile(filepath.Join(f.local, "keep", "doc.txt"), []byte("v1"), 0o644)
	os.MkdirAll(filepath.Join(f.local, "old", "inner"), 0o755)
	os.WriteFile(filepath.Join(f.local, "old", "inner", "gone.txt"), []byte("to be deleted"), 0o644)
	d := f.startDaemon()
	defer d.stop(t)
	eventually(t, "first pass", 10*time.Second, f.synced)
	time.Sleep(500 * time.Millisecond) // the watches are in place

	deep := filepath.Join(f.local, "a", "b", "c")
	os.MkdirAll(deep, 0o755)
	os.WriteFile(filepath.Join(deep, "deep.txt"), []byte("deep"), 0o644)
	burst := filepath.Join(f.local, "burst")
	os.Mkdir(burst, 0o755)
	for i := range 100 {
		os.WriteFile(filepath.Join(burst, fmt.Sprintf("f%03d.txt", i)), []byte(fmt.Sprint("burst ", i)), 0o644)
	}
	os.Rename(filepath.Join(f.local, "a"), filepath.Join(f.local, "renamed"))
	tmp := filepath.Join(f.local, "keep", ".doc.txt.swp")
	os.WriteFile(tmp, []byte("v2, saved by rename"), 0o644)
	os.Rename(tmp, filepath.Join(f.local, "keep", "doc.txt"))
	os.RemoveAll(filepath.Join(f.local, "old"))

	eventually(t, "both sides equal", 90*time.Second, func() bool {
		l, r := f.localFiles(), f.srv.remoteFiles()
		if len(l) != len(r) {
			return false
		}
		for k, v := range l {
			if r[k] != v {
				return false
			}
		}
		return true
	})
	r := f.srv.remoteFiles()
	if r["renamed/b/c/deep.txt"] != md5hex("deep") || r["keep/doc.txt"] != md5hex("v2, saved by rename") || len(r) != 102 {
		t.Fatalf("remote after the changes: %d files, %v", len(r), r["keep/doc.txt"])
	}
}
