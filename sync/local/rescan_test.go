package local

import (
	"context"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/unicode/norm"

	"github.com/syncd/syncd/sync/plan"
)

// sameAsFull checks that the rescanned result equals a fresh full scan.
func sameAsFull(t *testing.T, dir string, got ScanResult) {
	t.Helper()
	want := scanDir(t, dir, ScanOptions{})
	// A directory's mtime is informational (no premise compares it): a
	// change inside a directory does not rescan the one above it.
	files := func(tr map[string]plan.Local) map[string]plan.Local {
		out := make(map[string]plan.Local, len(tr))
		for k, l := range tr {
			if l.Kind == plan.Dir {
				l.MtimeNs = 0
			}
			out[k] = l
		}
		return out
	}
	if d := cmp.Diff(files(want.Tree), files(got.Tree)); d != "" {
		t.Fatalf("tree after rescan differs from a full scan (-full +rescan):\n%s", d)
	}
	if d := cmp.Diff(want.Unknown, got.Unknown); d != "" {
		t.Fatalf("unknown differs (-full +rescan):\n%s", d)
	}
	if d := cmp.Diff(want.Problems, got.Problems); d != "" {
		t.Fatalf("problems differ (-full +rescan):\n%s", d)
	}
}

func rescan(t *testing.T, dir string, prev *ScanResult, dirs, trees []string) ScanStats {
	t.Helper()
	st, err := Rescan(context.Background(), ScanOptions{RootPath: dir}, prev, dirs, trees)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRescanWhatTheWatcherReports(t *testing.T) {
	dir := t.TempDir()
	nfd := norm.NFD.String("café")
	write(t, dir, "top.txt", "top")
	write(t, dir, "a/one.txt", "1")
	write(t, dir, "b/c/gone.txt", "x")
	write(t, dir, "b/c/stay.txt", "s")
	write(t, dir, "x/deep/f.txt", "f")
	write(t, dir, nfd+"/menu.txt", "m")
	prev := scanDir(t, dir, ScanOptions{})

	write(t, dir, "a/two.txt", "2")                             // new file: its directory
	os.Remove(filepath.Join(dir, "b/c/gone.txt"))               // deleted file: its directory
	write(t, dir, "d/e/f/new.txt", "n")                         // mkdir -p then write: the new top directory as a tree
	os.Rename(filepath.Join(dir, "x"), filepath.Join(dir, "y")) // tree moved: both parents, the new one as a tree
	write(t, dir, nfd+"/soup.txt", "s")                         // inside a directory whose name is not NFC

	st := rescan(t, dir, &prev, []string{"a", "b/c", "", "café"}, []string{"d", "y"})
	sameAsFull(t, dir, prev)
	// Without a base every file in a rescanned scope is read, and no other:
	// top, one, two, stay, menu, soup, new and the moved f.
	if st.Hashed != 8 {
		t.Fatalf("hashed %d files, want the 8 in the rescanned scopes", st.Hashed)
	}
}

func TestRescanDirIsShallow(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a/sub/f.txt", "f")
	prev := scanDir(t, dir, ScanOptions{})
	write(t, dir, "a/new.txt", "n")
	write(t, dir, "a/sub/unreported.txt", "u")
	rescan(t, dir, &prev, []string{"a"}, nil)
	if _, ok := prev.Tree["a/new.txt"]; !ok {
		t.Fatal("a direct entry of a rescanned directory is missing")
	}
	if _, ok := prev.Tree["a/sub/f.txt"]; !ok {
		t.Fatal("what prev knew below a kept subdirectory was dropped")
	}
	if _, ok := prev.Tree["a/sub/unreported.txt"]; ok {
		t.Fatal("a known subdirectory was walked: a dirs entry must list one level")
	}
}

func TestRescanDirFindsNewSubtree(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a/f.txt", "f")
	write(t, dir, "a/was-file", "x")
	prev := scanDir(t, dir, ScanOptions{})
	write(t, dir, "a/new/deeper/g.txt", "g")
	os.Remove(filepath.Join(dir, "a/was-file"))
	write(t, dir, "a/was-file/inside.txt", "i")
	rescan(t, dir, &prev, []string{"a"}, nil)
	sameAsFull(t, dir, prev)
}

func TestRescanWidensWhenAParentVanished(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "gone/sub/f.txt", "f")
	write(t, dir, "keep.txt", "k")
	prev := scanDir(t, dir, ScanOptions{})
	os.RemoveAll(filepath.Join(dir, "gone"))
	write(t, dir, "gone", "now a file")
	rescan(t, dir, &prev, []string{"gone/sub"}, []string{"gone/sub/x"})
	sameAsFull(t, dir, prev)
}

func TestRescanRemovedDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "p/q/r.txt", "r")
	write(t, dir, "p/s.txt", "s")
	prev := scanDir(t, dir, ScanOptions{})
	os.RemoveAll(filepath.Join(dir, "p/q"))
	rescan(t, dir, &prev, []string{"p/q"}, nil) // the vanished directory itself
	sameAsFull(t, dir, prev)
}

func TestRescanEmptyTreeIsFullScan(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a/b.txt", "b")
	prev := ScanResult{}
	rescan(t, dir, &prev, []string{"a"}, []string{""})
	sameAsFull(t, dir, prev)
}

// TestRescanRandom mutates a tree at random and rescans what a watcher
// would report (the parent of every touched path as a dir, every created
// or moved-in directory as a tree): the result must equal a full scan.
func TestRescanRandom(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		dir := t.TempDir()
		names := []string{"a", "b", "c", norm.NFD.String("é")}
		pick := func() string {
			p := ""
			for d := r.IntN(3) + 1; d > 0; d-- {
				p = path.Join(p, names[r.IntN(len(names))])
			}
			return p
		}
		for range 30 {
			p := pick()
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err == nil {
				os.WriteFile(filepath.Join(dir, p), []byte(p), 0o644)
			}
		}
		prev := scanDir(t, dir, ScanOptions{})
		var dirs, trees []string
		for range 10 {
			p := pick()
			full := filepath.Join(dir, p)
			switch r.IntN(4) {
			case 0: // write a file, creating parents: the first new one is a tree
				first := ""
				for d := path.Dir(p); d != "."; d = path.Dir(d) {
					if _, err := os.Lstat(filepath.Join(dir, d)); err != nil {
						first = d
					}
				}
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err == nil {
					if os.WriteFile(full, []byte("v"+p), 0o644) == nil {
						if first != "" {
							trees = append(trees, Key(first))
							dirs = append(dirs, Key(parentDir(first)))
						} else {
							dirs = append(dirs, Key(parentDir(p)))
						}
					}
				}
			case 1: // remove a file or tree
				if os.RemoveAll(full) == nil {
					dirs = append(dirs, Key(parentDir(p)))
				}
			case 2: // move something elsewhere
				q := pick()
				if os.Rename(full, filepath.Join(dir, q)) == nil {
					dirs = append(dirs, Key(parentDir(p)), Key(parentDir(q)))
					trees = append(trees, Key(q))
				}
			case 3: // mkdir
				if os.Mkdir(full, 0o755) == nil {
					dirs = append(dirs, Key(parentDir(p)))
					trees = append(trees, Key(p))
				}
			}
		}
		rescan(t, dir, &prev, dirs, trees)
		sameAsFull(t, dir, prev)
	}
}

// A tree's descendant need not follow it in sorted order: "z (copy)" sorts
// between "z" and "z/x". minimalScopes kept "z/x" beside "z", and a rescan
// whose "z/x" had gone widened to "z" again and again, forever (found by
// the incremental simulation, seed 472594).
func TestMinimalScopesDropsDescendantsAfterSiblings(t *testing.T) {
	trees, dirs := minimalScopes([]string{"z/x", "z (copy)", "z", "y"}, []string{"z/x/a", "z (copy)/b", "w"})
	if want := []string{"y", "z", "z (copy)"}; !slices.Equal(trees, want) {
		t.Fatalf("trees %q, want %q", trees, want)
	}
	if want := []string{"w"}; !slices.Equal(dirs, want) {
		t.Fatalf("dirs %q, want %q", dirs, want)
	}
}
