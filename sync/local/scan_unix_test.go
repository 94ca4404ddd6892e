//go:build unix

package local

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/syncd/syncd/sync/plan"
)

func TestScanSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "real.txt", "r")
	outside := t.TempDir()
	write(t, outside, "secret", "s")
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")))
	must(t, os.Symlink(outside, filepath.Join(dir, "dirlink")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	write(t, dir, "latin1-\xe9t\xe9.txt", "not UTF-8")
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res := scanDir(t, dir, ScanOptions{})
	special := []string{"dirlink", "fifo", "latin1-\xe9t\xe9.txt", "link", "sock"}
	if got := problemPaths(res.Problems); !slices.Equal(got, special) {
		t.Fatalf("problems = %v", res.Problems)
	}
	if !slices.Equal(res.Unknown, special) {
		t.Fatalf("unknown = %v: special files must never read as deletions", res.Unknown)
	}
	if len(res.Tree) != 1 {
		t.Fatalf("tree = %v, want only real.txt (symlinks never followed)", res.Tree)
	}
	if !strings.Contains(res.Problems[0].Message, "symbolic link") || res.Problems[0].Side != plan.LocalSide {
		t.Fatalf("problem = %+v", res.Problems[0])
	}
}

func TestScanUnreadable(t *testing.T) {
	if asUnprivileged(t, t.Name()) {
		return
	}
	dir := t.TempDir()
	write(t, dir, "locked/inner.txt", "x")
	write(t, dir, "secret.txt", "x")
	write(t, dir, "ok.txt", "x")
	must(t, os.Chmod(filepath.Join(dir, "locked"), 0))
	must(t, os.Chmod(filepath.Join(dir, "secret.txt"), 0))
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "locked"), 0o755) })
	res := scanDir(t, dir, ScanOptions{})
	if !slices.Equal(res.Unknown, []string{"locked", "secret.txt"}) {
		t.Fatalf("unknown = %v", res.Unknown)
	}
	if got := problemPaths(res.Problems); !slices.Equal(got, []string{"locked", "secret.txt"}) {
		t.Fatalf("problems = %v", res.Problems)
	}
	if _, ok := res.Tree["secret.txt"]; ok {
		t.Fatal("an unreadable file must not be an entry")
	}
}
