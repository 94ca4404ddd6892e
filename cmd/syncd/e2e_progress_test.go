package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
)

// logLines parses the JSON log lines of a syncd run (other lines skipped).
func logLines(out string) []map[string]any {
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] != nil {
			lines = append(lines, m)
		}
	}
	return lines
}

// withMsg returns the log lines whose message is msg.
func withMsg(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// slow restarts the fixture's emulator with latency added to every request
// and a package of one transfer at a time: the client follows the
// package's concurrent_uploads, so without a limit a small first sync is
// over in a few round trips.
func (f *fixture) slow(d time.Duration) {
	f.srv.stop()
	f.srv.mod = func(o *emulator.Options) {
		o.Latency = d
		a := emulator.DefaultAccount()
		a.ConcurrentUploads, a.ConcurrentDownloads = 1, 1
		o.Accounts = []emulator.Account{a}
	}
	f.srv.start()
}

// A long first sync shows its progress in status -json, the human status
// and the metrics (queue depth included) while it runs, logs progress lines
// under a service manager (no terminal), and ends with "initial sync done".
func TestProgressDuringInitialSync(t *testing.T) {
	f := newFixture(t)
	f.slow(100 * time.Millisecond)
	addr := freePort(t)
	f.writeConfig("metrics_listen: " + addr + "\n")
	const n = 40
	var total int64
	for i := range n {
		b := bytes.Repeat([]byte{byte('a' + i%26)}, 2000+i)
		total += int64(len(b))
		os.WriteFile(filepath.Join(f.local, fmt.Sprintf("f%02d.bin", i)), b, 0o644)
	}
	d := f.startDaemonArgs("-progress", "300ms")
	// Status (both forms) and the metrics, taken together while the pass
	// is under way.
	var seen *progressStatus
	var raw, human, metrics string
	eventually(t, "progress in status -json, the human status and the metrics", 30*time.Second, func() bool {
		doc, code := f.statusQuiet()
		if code < 0 || len(doc.Pairs) != 1 || doc.Pairs[0].Progress == nil {
			return false
		}
		p := doc.Pairs[0].Progress
		if p.FilesDone == 0 || p.FilesDone >= p.FilesTotal-3 {
			return false
		}
		if doc.Pairs[0].PendingOps == 0 {
			t.Errorf("pending_ops is 0 during a pass with %d of %d done", p.FilesDone, p.FilesTotal)
		}
		seen = p
		raw, _ = f.syncd("status", "-config", f.cfg, "-json")
		human, _ = f.syncd("status", "-config", f.cfg)
		metrics = scrape(t, addr)
		return strings.Contains(raw, `"progress"`) && strings.Contains(human, "progress: ") &&
			strings.Contains(metrics, "syncd_progress_files_total")
	})
	if seen.FilesTotal != n || seen.BytesTotal != total || seen.BytesDone <= 0 || seen.BytesDone > total || !seen.Initial {
		t.Fatalf("progress %+v; want %d files of %d bytes in all, some done, initial", seen, n, total)
	}
	for _, k := range []string{`"files_done"`, `"files_total"`, `"bytes_done"`, `"bytes_total"`, `"eta_seconds"`} {
		if !strings.Contains(raw, k) {
			t.Errorf("status -json progress lacks %s:\n%s", k, raw)
		}
	}
	if !strings.Contains(human, fmt.Sprintf("/%d files", n)) {
		t.Errorf("human status shows no file count:\n%s", human)
	}
	t.Logf("status during the initial sync:\n%s", human)
	for _, want := range []string{`syncd_progress_files_total{pair="` + f.local + `"} ` + fmt.Sprint(n),
		`syncd_progress_bytes_total{pair="` + f.local + `"} ` + fmt.Sprint(total), `syncd_queue_depth{pair="` + f.local + `"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics during the pass lack %s", want)
		}
	}
	if strings.Contains(metrics, `syncd_queue_depth{pair="`+f.local+`"} 0`+"\n") {
		t.Errorf("queue depth 0 during the pass")
	}
	eventually(t, "the first sync to finish", 60*time.Second, func() bool { return len(f.srv.remoteFiles()) == n })
	eventually(t, "initial sync done in the log", 10*time.Second, func() bool {
		return len(withMsg(logLines(d.out.String()), "initial sync done")) == 1
	})
	d.stop(t)
	lines := logLines(d.out.String())
	done := withMsg(lines, "initial sync done")[0]
	if done["operations"] != float64(n) || done["bytes"] != float64(total) || done["duration"] == nil {
		t.Fatalf("initial sync done: %v; want %d operations, %d bytes, a duration", done, n, total)
	}
	prog := withMsg(lines, "progress")
	if len(prog) == 0 || prog[0]["files_total"] != float64(n) {
		t.Fatalf("no periodic progress log line (stderr is no terminal): %v", prog)
	}
	if len(withMsg(lines, "uploaded")) != n {
		t.Fatalf("%d 'uploaded' lines, want %d", len(withMsg(lines, "uploaded")), n)
	}
	// Between passes no progress is reported.
	doc, _ := f.status()
	if doc.Pairs[0].Progress != nil {
		t.Fatalf("saved status carries progress: %+v", doc.Pairs[0].Progress)
	}
}

func scrape(t *testing.T, addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Logf("metrics: %v", err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// remoteID is the id of the live remote entry at rel below /pair ("": the
// pair's folder).
func (f *fixture) remoteID(rel string) remote.ID {
	f.t.Helper()
	want := strings.TrimSuffix("/pair/"+rel, "/")
	for _, e := range f.srv.emu.Dump(emulator.DefaultAccount().ID) {
		if e.Status == "active" && e.Path == want {
			return remote.ID(strconv.FormatInt(e.ID, 10))
		}
	}
	f.t.Fatalf("no remote entry %s", want)
	return ""
}

// uploadRemote puts a file into the folder dir below /pair as another client would.
func (f *fixture) uploadRemote(c *remote.Client, dir, name, content string) remote.File {
	f.t.Helper()
	rf, err := c.Upload(context.Background(), remote.UploadRequest{Folder: f.remoteID(dir), Name: name, Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil }})
	if err != nil {
		f.t.Fatal(err)
	}
	return rf
}

// replaceRemoteFile gives a remote file new content the only way the API
// allows: upload the new version, trash the old, rename the new.
func (f *fixture) replaceRemoteFile(c *remote.Client, rel, content string) {
	f.t.Helper()
	old := f.remoteID(rel)
	dir, name := path.Split(rel)
	nf := f.uploadRemote(c, strings.TrimSuffix(dir, "/"), "new-"+name, content)
	if err := c.DeleteFile(context.Background(), old); err != nil {
		f.t.Fatal(err)
	}
	if _, err := c.RenameFile(context.Background(), nf.ID, name); err != nil {
		f.t.Fatal(err)
	}
}

// Every kind of change is one info line with path, size and direction, and
// `once` reports what all its passes did.
func TestChangeRecordAndOnceTotals(t *testing.T) {
	f := newFixture(t)
	os.MkdirAll(filepath.Join(f.local, "dir"), 0o755)
	for _, name := range []string{"a.txt", "b.txt", "c.txt", "dir/d.txt"} {
		os.WriteFile(filepath.Join(f.local, name), []byte("content of "+name), 0o644)
	}
	out, code := f.syncd("once", "-config", f.cfg, "-json")
	if code != 0 {
		t.Fatalf("once: %d\n%s", code, out)
	}
	lines := logLines(out)
	ups := withMsg(lines, "uploaded")
	if len(ups) != 4 || len(withMsg(lines, "created remote folder")) != 1 {
		t.Fatalf("%d uploaded lines, want 4 and one folder:\n%s", len(ups), out)
	}
	for _, l := range ups {
		if l["path"] == "a.txt" && (l["size"] != float64(len("content of a.txt")) || l["direction"] != "up" || l["level"] != "info") {
			t.Fatalf("upload line: %v", l)
		}
	}
	var rep onceReport
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{\n"):]), &rep); err != nil {
		t.Fatalf("once -json: %v\n%s", err, out)
	}
	if p := rep.Pairs[0]; p.Done != 5 || p.Passes != 1 || p.Changes.ByOp["upload"] != 4 || p.Changes.BytesUp == 0 {
		t.Fatalf("once report: %+v; want 5 done in one complete pass", p)
	}
	text, _ := f.syncd("once", "-config", f.cfg, "-log-level", "warn")
	if !strings.Contains(text, "in sync (0 operations done)") {
		t.Fatalf("a second once: %s", text)
	}

	// Now one of each other kind.
	c := f.client()
	os.Rename(filepath.Join(f.local, "a.txt"), filepath.Join(f.local, "a-renamed.txt")) // move remote
	os.Remove(filepath.Join(f.local, "b.txt"))                                          // delete remote
	os.WriteFile(filepath.Join(f.local, "c.txt"), []byte("changed locally"), 0o644)     // replace remote
	f.uploadRemote(c, "", "new-remote.txt", "from another client")                      // download
	out, code = f.syncd("once", "-config", f.cfg)
	if code != 0 {
		t.Fatalf("once: %d\n%s", code, out)
	}
	lines = logLines(out)
	for msg, path := range map[string]string{
		"moved remote": "a-renamed.txt",
		"deleted remote (to the account's trash)": "b.txt",
		"replaced remote":                         "c.txt",
		"downloaded":                              "new-remote.txt",
	} {
		got := withMsg(lines, msg)
		if len(got) != 1 || got[0]["path"] != path {
			t.Errorf("%q lines: %v; want one for %s\n%s", msg, got, path, out)
		}
	}
	if !strings.Contains(out, "in sync (4 operations done") {
		t.Errorf("once summary: %s", out)
	}

	// Remote-side changes come down as local moves, deletes and replaces.
	if _, err := c.RenameFile(context.Background(), f.remoteID("a-renamed.txt"), "a-back.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteFile(context.Background(), f.remoteID("c.txt")); err != nil {
		t.Fatal(err)
	}
	f.replaceRemoteFile(c, "dir/d.txt", "remote edit")
	out, _ = f.syncd("once", "-config", f.cfg)
	lines = logLines(out)
	for msg, path := range map[string]string{
		"moved local":                     "a-back.txt",
		"deleted local (to .syncd/trash)": "c.txt",
		"replaced local":                  "dir/d.txt",
	} {
		got := withMsg(lines, msg)
		if len(got) != 1 || got[0]["path"] != path {
			t.Errorf("%q lines: %v; want one for %s\n%s", msg, got, path, out)
		}
	}

	// A conflict: both sides change the same file.
	os.WriteFile(filepath.Join(f.local, "a-back.txt"), []byte("local version"), 0o644)
	f.replaceRemoteFile(c, "a-back.txt", "remote version, longer")
	out, _ = f.syncd("once", "-config", f.cfg)
	lines = logLines(out)
	var conflicts []map[string]any
	for _, l := range lines {
		if s, _ := l["msg"].(string); strings.HasPrefix(s, "conflict: ") {
			conflicts = append(conflicts, l)
		}
	}
	if len(conflicts) != 1 || conflicts[0]["path"] != "a-back.txt" || !strings.Contains(fmt.Sprint(conflicts[0]["copy"]), "conflict") {
		t.Fatalf("conflict lines: %v\n%s", conflicts, out)
	}
}

// once -dry-run writes nothing: no .syncd/ in the root, no state database
// when there was none, and an existing one unchanged.
func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	os.WriteFile(filepath.Join(f.local, "x.txt"), []byte("x"), 0o644)
	out, code := f.syncd("once", "-config", f.cfg, "-dry-run")
	if code != 0 || !strings.Contains(out, "upload") || !strings.Contains(out, "x.txt") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(f.local, ".syncd")); !os.IsNotExist(err) {
		t.Fatalf("dry run created .syncd/ in the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.state, stateFile)); !os.IsNotExist(err) {
		t.Fatalf("dry run created the state database: %v", err)
	}
	if out, code := f.syncd("once", "-config", f.cfg); code != 0 {
		t.Fatalf("once: %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(f.local, "y.txt"), []byte("y"), 0o644)
	os.Remove(filepath.Join(f.local, "x.txt"))
	db := filepath.Join(f.state, stateFile)
	before, _ := os.Stat(db)
	sum := fileSum(t, db)
	marker := fileSum(t, filepath.Join(f.local, ".syncd"))
	out, code = f.syncd("once", "-config", f.cfg, "-dry-run", "-json")
	if code != 0 || !strings.Contains(out, `"delete-remote"`) || !strings.Contains(out, `"y.txt"`) {
		t.Fatalf("dry run over a synced pair: %d\n%s", code, out)
	}
	after, _ := os.Stat(db)
	if fileSum(t, db) != sum || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("dry run changed the state database")
	}
	if fileSum(t, filepath.Join(f.local, ".syncd")) != marker {
		t.Fatal("dry run changed .syncd/")
	}
	if r := f.srv.remoteFiles(); len(r) != 1 || r["x.txt"] == "" {
		t.Fatalf("dry run changed the remote: %v", r)
	}
}

// fileSum hashes a file, or a directory tree's names and contents.
func fileSum(t *testing.T, p string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(p, func(q string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintln(h, q)
		if !d.IsDir() {
			b, err := os.ReadFile(q)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// -log-level and -v set the level for one run over the configuration's.
func TestLogLevelFlag(t *testing.T) {
	f := newFixture(t)
	os.WriteFile(filepath.Join(f.local, "a.txt"), []byte("a"), 0o644)
	out, code := f.syncd("once", "-config", f.cfg, "-log-level", "warn")
	if code != 0 || len(withMsg(logLines(out), "uploaded")) != 0 || len(logLines(out)) != 0 {
		t.Fatalf("-log-level warn still logs info: %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(f.local, "b.txt"), []byte("b"), 0o644)
	out, _ = f.syncd("once", "-config", f.cfg, "-v")
	debug := 0
	for _, l := range logLines(out) {
		if l["level"] == "debug" {
			debug++
		}
	}
	if debug == 0 || len(withMsg(logLines(out), "uploaded")) != 1 {
		t.Fatalf("-v: %d debug lines\n%s", debug, out)
	}
	if out, code := f.syncd("once", "-config", f.cfg, "-log-level", "loud"); code != 2 || !strings.Contains(out, "loud") {
		t.Fatalf("a bad -log-level: %d\n%s", code, out)
	}
	if out, code := f.syncd("run", "-config", f.cfg, "-log-level", "loud"); code != 2 {
		t.Fatalf("run with a bad -log-level: %d\n%s", code, out)
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	out, code := (&fixture{t: t}).syncd("-h")
	if code != 0 {
		t.Fatalf("-h: %d", code)
	}
	for _, want := range []string{"syncd run", "syncd once", "syncd status", "syncd service install", "syncd service unit", "-dropin", "syncd emulator", "syncd demo", "syncd version", "-log-level", "-dry-run"} {
		if !strings.Contains(out, want) {
			t.Errorf("-h lacks %q:\n%s", want, out)
		}
	}
}

// The demo prints a status command that works as printed, and reports the
// paths it cannot sync (an empty file, a symbolic link) instead of skipping
// them silently.
func TestDemoStatusCommandAndProblems(t *testing.T) {
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
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(sub string) string {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("demo ended before printing %q", sub)
				}
				if strings.Contains(l, sub) {
					return l
				}
			case <-deadline:
				t.Fatalf("demo never printed %q", sub)
			}
		}
	}
	status := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(waitLine("status:")), "status:"))
	waitLine("downloaded welcome.txt")
	argv := strings.Fields(status)
	if argv[0] != binPath {
		t.Fatalf("demo's status command %q does not run this binary %s", status, binPath)
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "SYNCD OK - ") {
		t.Fatalf("the demo's status command %q: %v\n%s", status, err, out)
	}
	os.WriteFile(filepath.Join(dir, "empty.txt"), nil, 0o644)
	os.Symlink("/etc/hostname", filepath.Join(dir, "link"))
	waitLine("not synced: empty.txt: empty files cannot be uploaded")
	waitLine("not synced: link:")
}

func TestDemoStatusCommandForGoRun(t *testing.T) {
	for _, c := range []struct{ exe, onPath, want string }{
		{"/tmp/go-build1234/b001/exe/syncd", "", "go run ./cmd/syncd status -config /c.yaml"},
		{"/usr/bin/syncd", "/usr/bin/syncd", "syncd status -config /c.yaml"},
		{"/home/u/bin/syncd", "/usr/bin/syncd", "/home/u/bin/syncd status -config /c.yaml"},
	} {
		if got := statusCommandFor(c.exe, true, c.onPath, "/c.yaml"); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s (PATH: %q): %q, want %q", c.exe, c.onPath, got, c.want)
		}
	}
}
