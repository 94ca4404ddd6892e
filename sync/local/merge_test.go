package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// TestMergeEqualsFullScan: after any changes confined to one directory, a
// subtree scan of it merged into the previous full scan equals a new full
// scan (what the watcher's hints rely on).
func TestMergeEqualsFullScan(t *testing.T) {
	dirs := []string{"a", "a/b", "a/b/c", "d"}
	names := []string{"f1", "f2", "cafe\u0301", "x.swp"}
	m, err := NewMatcher(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "merge-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				rt.Fatal(err)
			}
			for _, n := range rapid.SliceOfNDistinct(rapid.SampledFrom(names), 0, 3, rapid.ID[string]).Draw(rt, "files "+d) {
				write(t, dir, d+"/"+n, d+n)
			}
		}
		opts := ScanOptions{RootPath: dir, Matcher: m}
		prev, err := Scan(context.Background(), opts)
		if err != nil {
			rt.Fatal(err)
		}
		hint := rapid.SampledFrom(dirs).Draw(rt, "hint")
		// Changes below hint only: edits, creations, deletions, a new dir,
		// or the hinted dir removed altogether.
		for i, n := 0, rapid.IntRange(1, 4).Draw(rt, "changes"); i < n; i++ {
			target := filepath.Join(dir, hint, rapid.SampledFrom(names).Draw(rt, "name"))
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0:
				os.WriteFile(target, []byte("changed content"), 0o644)
			case 1:
				os.Remove(target)
			case 2:
				os.MkdirAll(filepath.Join(dir, hint, "new", "deep"), 0o755)
				os.WriteFile(filepath.Join(dir, hint, "new", "deep", "n"), []byte("n"), 0o644)
			case 3:
				os.RemoveAll(filepath.Join(dir, hint))
			}
		}
		sub, err := ScanSubtree(context.Background(), opts, hint)
		if err != nil {
			rt.Fatal(err)
		}
		prev.Merge(hint, sub)
		full, err := Scan(context.Background(), opts)
		if err != nil {
			rt.Fatal(err)
		}
		// Creating or removing hint itself changes its parent's mtime, which
		// a subtree scan does not observe (documented on Merge).
		if parent := parentDir(hint); parent != "" {
			if l, ok := prev.Tree[parent]; ok {
				l.MtimeNs = full.Tree[parent].MtimeNs
				prev.Tree[parent] = l
			}
		}
		prev.Stats.Hashed, prev.Stats.HashedBytes, full.Stats.Hashed, full.Stats.HashedBytes = 0, 0, 0, 0
		prev.Stats.Skipped, full.Stats.Skipped = 0, 0
		if diff := cmp.Diff(full, prev); diff != "" {
			rt.Fatalf("merged scan differs from a full scan (-full +merged):\n%s", diff)
		}
	})
}
