package blackbox

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverMade matches a name the server invents for an upload ("x (2).go",
// api.md 12) and syncd's temporary remote names.
var serverMade = regexp.MustCompile(` \([0-9]+\)(\.[^/]*)?$|\.syncd-(replace|upload|move)-`)

// TestTwoHostsConverge: two `syncd run` daemons on one account (they take
// the single live token from each other, api.md 7) mirror the same remote
// folder; a burst of changes on host A; host B must converge to A's tree:
// equal trees, no name the server made and no conflict copy on either disk
// or on the remote (issue 14).
//
// The burst is small by default. SYNCD_HOSTS_FROM and SYNCD_HOSTS_TO name
// two directories (two releases of a source tree, as bench/twohosts.sh
// takes from the module cache): host A starts with FROM and is rewritten
// to TO, hundreds of changes.
func TestTwoHostsConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("black-box two-host test: builds the binary and runs two daemons; skipped with -short")
	}
	r := newRig(t, 1)
	dirB := filepath.Join(r.base, "localB")
	stateB := filepath.Join(r.base, "stateB")
	for _, d := range []string{dirB, stateB} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgA, err := os.ReadFile(r.config)
	if err != nil {
		t.Fatal(err)
	}
	cfgB := strings.NewReplacer(
		"state_dir: "+filepath.Join(r.base, "state"), "state_dir: "+stateB,
		"local: "+r.dir, "local: "+dirB,
	).Replace(string(cfgA))
	configB := filepath.Join(r.base, "configB.yaml")
	if err := os.WriteFile(configB, []byte(cfgB), 0o600); err != nil {
		t.Fatal(err)
	}

	from, to := os.Getenv("SYNCD_HOSTS_FROM"), os.Getenv("SYNCD_HOSTS_TO")
	if from == "" || to == "" {
		from, to = filepath.Join(r.base, "from"), filepath.Join(r.base, "to")
		smallBurst(t, from, to)
	}
	copyTree(t, from, r.dir)

	a := startDaemon(t, r.bin, r.config)
	b := startDaemon(t, r.bin, configB)
	want := treeOf(t, r.dir)
	t0 := time.Now()
	waitSame(t, "initial sync", want, dirB, 10*time.Minute)
	t.Logf("initial sync of %d entries reached host B in %v", len(want), time.Since(t0).Round(time.Millisecond))

	n := rewrite(t, r.dir, to)
	t1 := time.Now()
	want = treeOf(t, to)
	waitSame(t, "after the burst", want, dirB, 10*time.Minute)
	t.Logf("burst of %d changes on host A: host B converged in %v", n, time.Since(t1).Round(time.Millisecond))
	waitSame(t, "host A after the burst", want, r.dir, time.Minute)

	a.stop(t)
	b.stop(t)
	for who, tree := range map[string]map[string]string{"host A": treeOf(t, r.dir), "host B": treeOf(t, dirB)} {
		for p := range tree {
			if serverMade.MatchString(p) || strings.Contains(p, "(conflict ") {
				t.Errorf("%s holds %s", who, p)
			}
		}
	}
	remoteTree := map[string]string{}
	for _, en := range r.dump() {
		if en.Status != "active" || !strings.HasPrefix(en.Path, remoteDir+"/") {
			continue
		}
		rel := strings.TrimPrefix(en.Path, remoteDir+"/")
		if serverMade.MatchString(rel) || strings.Contains(rel, "(conflict ") {
			t.Errorf("the remote holds %s", rel)
		}
		if !en.Folder {
			remoteTree[rel] = en.MD5
		}
	}
	if d := diffTrees(want, remoteTree); d != "" {
		t.Errorf("remote differs from host A's tree: %s", d)
	}
}

// daemon is one `syncd run`.
type daemon struct {
	cmd *exec.Cmd
	out *strings.Builder
}

func startDaemon(t *testing.T, bin, config string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(bin, "run", "-config", config), out: &strings.Builder{}}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	return d
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-done
		t.Errorf("syncd run did not stop on SIGTERM:\n%s", lastLines(d.out.String(), 20))
	}
	if strings.Contains(d.out.String(), "panic:") {
		t.Fatalf("syncd run panicked:\n%s", d.out.String())
	}
}

// treeOf maps every file below root (outside .syncd) to its MD5.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == ".syncd" {
			return filepath.SkipDir
		}
		if e.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = sum(b)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func diffTrees(want, got map[string]string) string {
	var d []string
	for p, s := range want {
		if g, ok := got[p]; !ok {
			d = append(d, "missing "+p)
		} else if g != s {
			d = append(d, "differs "+p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			d = append(d, "extra "+p)
		}
	}
	if len(d) > 10 {
		return fmt.Sprintf("%d differences: %s ...", len(d), strings.Join(d[:10], ", "))
	}
	return strings.Join(d, ", ")
}

func waitSame(t *testing.T, what string, want map[string]string, dir string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		d := diffTrees(want, treeOf(t, dir))
		if d == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not converged after %v: %s", what, dir, limit, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// copyTree copies the files of src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	for rel := range treeOf(t, src) {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// rewrite makes dir hold exactly the files of to, as a checkout would:
// deletes, rewrites and creates. It returns the number of files changed.
func rewrite(t *testing.T, dir, to string) int {
	t.Helper()
	have, want := treeOf(t, dir), treeOf(t, to)
	n := 0
	for rel := range have {
		if _, ok := want[rel]; !ok {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	for rel, s := range want {
		if have[rel] == s {
			continue
		}
		b, err := os.ReadFile(filepath.Join(to, rel))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// smallBurst writes two versions of a small tree: 150 files, of which the
// second version changes 60, deletes 20 and adds 40 (in new folders too).
func smallBurst(t *testing.T, from, to string) {
	t.Helper()
	write := func(root, rel, content string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 150 {
		rel := fmt.Sprintf("pkg%d/file%03d.go", i%6, i)
		write(from, rel, fmt.Sprintf("package pkg%d // v1 of %d\n", i%6, i))
		switch {
		case i < 60:
			write(to, rel, fmt.Sprintf("package pkg%d // v2 of %d, longer\n", i%6, i))
		case i < 80: // deleted
		default:
			write(to, rel, fmt.Sprintf("package pkg%d // v1 of %d\n", i%6, i))
		}
	}
	for i := range 40 {
		write(to, fmt.Sprintf("newpkg%d/new%03d.go", i%4, i), fmt.Sprintf("package new // %d\n", i))
	}
}
