package sim

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
)

// nobody is the unprivileged user the permission test runs the engine as:
// root ignores file modes, so chmod alone proves nothing when tests run as
// root.
const nobody = 65534

// TestHelperEnginePass is not a test: the permission test re-executes the
// test binary to run one `once` of a pair in a process of its own (as
// another user). It does nothing unless SIM_HELPER is set.
func TestHelperEnginePass(t *testing.T) {
	if os.Getenv("SIM_HELPER") != "1" {
		t.Skip("helper process only")
	}
	dir, stPath, url := os.Getenv("SIM_DIR"), os.Getenv("SIM_STATE"), os.Getenv("SIM_URL")
	c, err := remote.New(testenv.ClientConfig(&testenv.Endpoint{URL: url}, emulator.DefaultAccount(), testenv.Quick))
	if err != nil {
		t.Fatal(err)
	}
	h := testenv.OpenHost(t, dir, stPath)
	m, _ := local.NewMatcher(nil, nil)
	cfg := engine.PairConfig{Key: "pair", LocalRoot: dir, RemotePath: remotePath, Ignored: m.Match, Host: "helper"}
	p := h.Bind(c, m).Pair(cfg, engine.Options{Workers: 1, ValidLocalName: testenv.ValidLocalName})
	res, err := p.Once(context.Background(), engine.PassOptions{})
	fmt.Printf("RESULT err=%v done=%d skipped=%d failed=%d\n", err, res.Done, res.Skipped, res.Failed)
	for _, e := range res.Errors {
		fmt.Printf("ERROR %s %s: %s\n", e.Op, e.Path, e.Err)
	}
	for _, pr := range res.Plan.Problems {
		fmt.Printf("PROBLEM %s %s: %s\n", pr.Side, pr.Path, pr.Message)
	}
}

// TestFaultPermissionDenied makes a synced file (with a new local version)
// and a synced directory unreadable to the engine, and gives it a remote
// file to download into that directory: the engine, running as an
// unprivileged user, reports them and goes on; it never reads the
// unreadable as deleted (nothing is trashed remotely), and once access is
// restored everything converges with nothing lost.
func TestFaultPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the engine as another user (a non-root run would need its own in-process variant)")
	}
	base, err := os.MkdirTemp("", "simperm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	w, err := newWorld(t, base, 1, "hostA")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.shutdown(true) })
	w.put(t, "open.txt", "open")
	secret1 := w.put(t, "secret.txt", "secret one")
	inside := w.put(t, "locked/inside.txt", "inside")
	w.settle(t)

	secret2 := w.put(t, "secret.txt", "secret two, unreadable")
	newer := w.put(t, "new.txt", "new local")
	w.remoteUpload(t, "", "down.txt", "downloaded")
	w.remoteUpload(t, "locked", "remote-new.txt", "into a locked folder")
	w.closeAll()

	// Hand everything to nobody, then lock the two paths.
	bin := filepath.Join(base, "sim.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, w.dir, filepath.Dir(w.machine.StatePath), w.recycle} {
		os.Chmod(p, 0o755)
	}
	filepath.Walk(base, func(p string, _ os.FileInfo, err error) error {
		if err == nil && !strings.HasPrefix(p, w.emuOpts.DataDir) {
			os.Lchown(p, nobody, nobody)
		}
		return nil
	})
	os.Chmod(filepath.Join(w.dir, "secret.txt"), 0)
	os.Chmod(filepath.Join(w.dir, "locked"), 0)
	cmd := exec.Command(bin, "-test.run=^TestHelperEnginePass$", "-test.v")
	cmd.Env = append(os.Environ(), "SIM_HELPER=1", "SIM_DIR="+w.dir, "SIM_STATE="+w.machine.StatePath, "SIM_URL="+w.ep.URL, "HOME="+base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	t.Logf("engine as uid %d: %v\n%s", nobody, err, out)
	if !strings.Contains(string(out), "RESULT") {
		t.Fatalf("the helper did not run")
	}
	if !strings.Contains(string(out), "RESULT err=<nil>") {
		t.Errorf("unreadable paths failed the whole pass")
	}
	r, _ := w.remoteTree()
	if r["secret.txt"] != secret1 || r["locked/inside.txt"] != inside {
		t.Errorf("unreadable local paths were propagated as deletions or changes:\n%s", r)
	}
	if r["new.txt"] != newer {
		t.Errorf("readable changes did not go up past the unreadable ones:\n%s", r)
	}
	l, _ := walk(w.dir, true)
	if l["down.txt"] != sum([]byte("downloaded")) {
		t.Errorf("readable remote changes did not come down:\n%s", l)
	}

	// Access restored: everything converges.
	os.Chmod(filepath.Join(w.dir, "locked"), 0o755)
	os.Chmod(filepath.Join(w.dir, "secret.txt"), 0o644)
	if err := w.open(); err != nil {
		t.Fatal(err)
	}
	w.settle(t)
	w.assertLive(t, secret2, inside, newer, sum([]byte("into a locked folder")))
	w.assertKept(t, secret1)
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
