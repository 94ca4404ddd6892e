package blackbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
)

// Test flags: package-level because the testing package parses them first.
var (
	flagKills   = flag.Int("kills", 6, "SIGKILL points of TestKillAnywhere (200 for the full run)")
	flagSeed    = flag.Uint64("seed", 0, "seed of TestKillAnywhere (0: from the clock; the log prints it)")
	flagFiles   = flag.Int("files", 150, "files on each side at the start")
	flagLog     = flag.String("log", "warn", "log level of the syncd runs (debug to see every operation)")
	flagKeep    = flag.String("keep", "", "directory to copy a failed run's local root, state, emulator data and syncd logs to")
	flagKeepAll = flag.Bool("keep-all", false, "with -keep: keep passing runs too")
)

const remoteDir = "/bb/data"

// rig is one host (a local root, a state dir, a config) against one
// emulator, which runs as `syncd emulator` when the binary has it, or in
// this process otherwise.
type rig struct {
	t       *testing.T
	bin     string
	base    string
	dir     string // local root
	recycle string // where the simulated user's removals go
	config  string
	emuData string
	url     string
	emuCmd  *exec.Cmd
	emuIn   *emulator.Server
	srv     *httptest.Server
	client  *remote.Client
	rng     *rand.Rand
	counter int
	written map[string]string // every content written -> who wrote it
	lastSum string            // MD5 of the last content writeLocal wrote
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func build(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "syncd")
	cmd := exec.Command(goTool(), "build", "-o", bin, "github.com/syncd/syncd/cmd/syncd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func newRig(t *testing.T, seed uint64) *rig {
	r := &rig{t: t, bin: build(t), base: t.TempDir(), rng: rand.New(rand.NewPCG(seed, 7)), written: map[string]string{}}
	r.dir = filepath.Join(r.base, "local")
	r.recycle = filepath.Join(r.base, "recycle")
	r.emuData = filepath.Join(r.base, "emu")
	for _, d := range []string{r.dir, r.recycle, r.emuData, filepath.Join(r.base, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.startEmulator()
	t.Cleanup(r.stopEmulator)
	t.Cleanup(r.keep)
	acct := emulator.DefaultAccount()
	cfg := fmt.Sprintf(`api:
  url: %s
  key1: %q
  key2: %q
state_dir: %s
poll_interval: 1s
debounce: 10ms
max_delete: 100%%
log:
  level: %s
pairs:
  - local: %s
    remote: %s
`, r.url, acct.Key1, acct.Key2, filepath.Join(r.base, "state"), *flagLog, r.dir, remoteDir)
	r.config = filepath.Join(r.base, "config.yaml")
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := remote.New(remote.Config{URL: r.url, Key1: acct.Key1, Key2: acct.Key2, RequestsPerSecond: 1000, RetryBaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.client = c
	return r
}

// startEmulator serves the emulator on loopback: `syncd emulator` when the
// binary has the command, else in process (noted in the log).
func (r *rig) startEmulator() {
	cmd := exec.Command(r.bin, "emulator", "-listen", "127.0.0.1:0", "-data", r.emuData)
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on "); err == nil && ok {
		r.emuCmd, r.url = cmd, url
		go io.Copy(io.Discard, out)
		return
	}
	cmd.Wait()
	r.t.Logf("`syncd emulator` is not available (%q %s): serving the emulator in process", line, strings.TrimSpace(stderr.String()))
	emu, err := emulator.New(emulator.Options{DataDir: r.emuData, NoSync: true})
	if err != nil {
		r.t.Fatal(err)
	}
	r.emuIn, r.srv = emu, httptest.NewServer(emu)
	r.url = r.srv.URL + "/api/v2/"
}

// keep copies a failed run's (with -keep-all any run's) whole rig (local root, state dir, emulator
// data, the logs of every syncd run) to -keep, for a post-mortem.
func (r *rig) keep() {
	if *flagKeep == "" || !r.t.Failed() && !*flagKeepAll {
		return
	}
	r.stopEmulator()
	os.MkdirAll(*flagKeep, 0o755)
	dst := filepath.Join(*flagKeep, fmt.Sprintf("%s-%d", r.t.Name(), time.Now().UnixNano()))
	if out, err := exec.Command("cp", "-a", r.base, dst).CombinedOutput(); err != nil {
		r.t.Logf("keep %s: %v %s", dst, err, out)
		return
	}
	r.t.Logf("kept the failed run in %s", dst)
}

// saveLog keeps the output of one syncd run under the rig's logs/.
func (r *rig) saveLog(name string, out []byte) {
	dir := filepath.Join(r.base, "logs")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, name), out, 0o644)
}

func (r *rig) stopEmulator() {
	if r.emuCmd != nil {
		r.emuCmd.Process.Kill()
		r.emuCmd.Wait()
		r.emuCmd = nil
	}
	if r.srv != nil {
		r.srv.Close()
		r.emuIn.Close()
		r.srv, r.emuIn = nil, nil
	}
}

// dump reads the emulator's whole state. The emulator is stopped first (its
// data dir is locked while it runs) and opened in this process.
func (r *rig) dump() []emulator.Entry {
	r.stopEmulator()
	emu, err := emulator.New(emulator.Options{DataDir: r.emuData, NoSync: true})
	if err != nil {
		r.t.Fatal(err)
	}
	defer emu.Close()
	return emu.Dump(emulator.DemoAccountID)
}

func sum(b []byte) string {
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

func (r *rig) content() []byte {
	r.counter++
	n := 1 + r.rng.IntN(4000)
	if r.rng.IntN(10) == 0 {
		n = 100000 + r.rng.IntN(900000)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "version %d\n", r.counter)
	for b.Len() < n {
		b.WriteByte(byte('a' + r.rng.IntN(26)))
	}
	return b.Bytes()
}

// writeLocal writes a new version at rel, keeping what it overwrites in
// the recycle bin. The mtime is set in the past (distinct per write) so
// that the settle delay never defers it.
func (r *rig) writeLocal(rel string) {
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if old, err := os.ReadFile(p); err == nil {
		r.counter++
		os.WriteFile(filepath.Join(r.recycle, strconv.Itoa(r.counter)), old, 0o644)
	}
	data := r.content()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Logf("write %s: %v", rel, err)
		return
	}
	r.written[sum(data)] = "local " + rel
	r.lastSum = sum(data)
	mt := time.Now().Add(-time.Hour).Add(time.Duration(r.counter) * time.Millisecond)
	os.Chtimes(p, mt, mt)
}

func (r *rig) localFiles() []string {
	var out []string
	filepath.WalkDir(r.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(r.dir, p)
		rel = filepath.ToSlash(rel)
		if rel == ".syncd" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

var names = []string{"a", "b", "c", "d", "e", "f", "g", "h"}

// localChange makes one random local change.
func (r *rig) localChange() {
	files := r.localFiles()
	switch k := r.rng.IntN(5); {
	case k <= 1 || len(files) == 0:
		r.writeLocal(fmt.Sprintf("%s/%s%d.txt", names[r.rng.IntN(len(names))], names[r.rng.IntN(len(names))], r.rng.IntN(40)))
	case k == 2:
		r.writeLocal(files[r.rng.IntN(len(files))])
	case k == 3:
		f := files[r.rng.IntN(len(files))]
		r.counter++
		os.Rename(filepath.Join(r.dir, f), filepath.Join(r.recycle, strconv.Itoa(r.counter)))
	default:
		f := files[r.rng.IntN(len(files))]
		to := fmt.Sprintf("%s/moved%d.txt", names[r.rng.IntN(len(names))], r.counter)
		r.counter++
		os.MkdirAll(filepath.Join(r.dir, filepath.Dir(to)), 0o755)
		if _, err := os.Stat(filepath.Join(r.dir, to)); err != nil {
			os.Rename(filepath.Join(r.dir, f), filepath.Join(r.dir, to))
		}
	}
}

// remoteChange makes one random remote change through another client (its
// authorization kills the daemon's token, as the live service does).
func (r *rig) remoteChange(ctx context.Context) {
	l, err := r.client.List(ctx, remote.Root)
	if err != nil {
		return
	}
	var root remote.ID
	for _, f := range l.Folders {
		if f.Active() && f.Name == "bb" {
			sub, err := r.client.List(ctx, f.ID)
			if err != nil {
				return
			}
			for _, g := range sub.Folders {
				if g.Active() && g.Name == "data" {
					root = g.ID
				}
			}
		}
	}
	if root == "" {
		return
	}
	top, err := r.client.List(ctx, root)
	if err != nil {
		return
	}
	var files []remote.File
	for _, f := range top.Files {
		if f.Active() {
			files = append(files, f)
		}
	}
	switch k := r.rng.IntN(4); {
	case k <= 1 || len(files) == 0:
		data := r.content()
		name := fmt.Sprintf("r%d.txt", r.counter)
		if _, err := r.client.Upload(ctx, remote.UploadRequest{Folder: root, Name: name, Size: int64(len(data)),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}); err == nil {
			r.written[sum(data)] = "remote " + name
		}
	case k == 2:
		f := files[r.rng.IntN(len(files))]
		r.client.DeleteFile(ctx, f.ID)
	default:
		f := files[r.rng.IntN(len(files))]
		r.client.RenameFile(ctx, f.ID, fmt.Sprintf("renamed%d-%s", r.counter, f.Name))
		r.counter++
	}
}

// syncd runs the binary and returns its exit code and output.
func (r *rig) syncd(ctx context.Context, args ...string) (int, string) {
	cmd := exec.CommandContext(ctx, r.bin, append(args, "-config", r.config)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, string(out)
}

// TestKillAnywhere SIGKILLs `syncd once` and `syncd run` at random moments
// of a large sync while both sides change, then lets `syncd once` finish
// and checks: both sides equal, no duplicate live remote file, every
// version ever written still somewhere (live, local trash, remote trash,
// or the user's own recycle bin).
func TestKillAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("black-box kill test: builds the binary and runs it for tens of seconds; skipped with -short")
	}
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test ./test/blackbox -run TestKillAnywhere -seed %d -kills %d -v)", seed, seed, *flagKills)
	r := newRig(t, seed)
	ctx := context.Background()
	for range *flagFiles {
		r.writeLocal(fmt.Sprintf("%s/%s%d.txt", names[r.rng.IntN(len(names))], names[r.rng.IntN(len(names))], r.rng.IntN(1000)))
	}
	// A first run creates the remote folder; it is killed too.
	killed := 0
	for i := range *flagKills {
		mode := "once"
		if r.rng.IntN(2) == 0 {
			mode = "run"
		}
		cmd := exec.Command(r.bin, mode, "-config", r.config)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Duration(20+r.rng.IntN(1500)) * time.Millisecond)
		changes := 0
		for time.Now().Before(deadline) {
			if r.rng.IntN(2) == 0 {
				r.localChange()
			} else {
				r.remoteChange(ctx)
			}
			changes++
			time.Sleep(time.Duration(r.rng.IntN(60)) * time.Millisecond)
		}
		cmd.Process.Kill()
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok && !ee.Exited() {
			killed++
		}
		if i < 5 || testing.Verbose() {
			t.Logf("kill %d: %s after %d changes: %v", i, mode, changes, err)
		}
		if strings.Contains(out.String(), "panic:") {
			t.Fatalf("syncd %s panicked:\n%s", mode, out.String())
		}
	}
	t.Logf("%d of %d runs SIGKILLed mid-flight; the others had exited on their own", killed, *flagKills)
	// Let syncd finish.
	var code int
	var out string
	for range 6 {
		if code, out = r.syncd(ctx, "once"); code == 0 {
			break
		}
		t.Logf("once exited %d: %s", code, lastLines(out, 8))
	}
	if code != 0 {
		t.Fatalf("syncd once never succeeded after the kills: %s", lastLines(out, 30))
	}
	if code, out = r.syncd(ctx, "once"); code != 0 {
		t.Fatalf("second once: %d %s", code, lastLines(out, 20))
	}
	r.check()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// check compares both sides and looks for every version written.
func (r *rig) check() {
	t := r.t
	local := map[string]string{}
	everywhere := map[string]bool{}
	for _, d := range []string{r.dir, r.recycle} {
		filepath.WalkDir(d, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("read %s: %v", p, err)
				return nil
			}
			m := sum(b)
			everywhere[m] = true
			rel, _ := filepath.Rel(r.dir, p)
			rel = filepath.ToSlash(rel)
			if d == r.dir && !strings.HasPrefix(rel, ".syncd/") {
				local[rel] = m
			}
			return nil
		})
	}
	remoteFiles := map[string]string{}
	for _, en := range r.dump() {
		if en.Folder {
			continue
		}
		everywhere[en.MD5] = true
		rel, ok := strings.CutPrefix(en.Path, remoteDir+"/")
		if en.Status != "active" || !ok {
			continue
		}
		if _, dup := remoteFiles[rel]; dup {
			t.Errorf("two live remote files at %s", rel)
		}
		remoteFiles[rel] = en.MD5
	}
	for p, m := range local {
		if remoteFiles[p] != m {
			t.Errorf("local %s (%s) is not on the remote as such (%q)", p, m[:8], remoteFiles[p])
		}
	}
	for p := range remoteFiles {
		if _, ok := local[p]; !ok {
			t.Errorf("remote %s is missing locally", p)
		}
	}
	lost := 0
	for m, who := range r.written {
		if !everywhere[m] {
			lost++
			if lost <= 10 {
				t.Errorf("lost version %s written by %s", m[:8], who)
			}
		}
	}
	t.Logf("checked %d local files, %d remote files, %d versions written, %d lost", len(local), len(remoteFiles), len(r.written), lost)
}
