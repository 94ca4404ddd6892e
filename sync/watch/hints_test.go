package watch

import (
	"path"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func TestBatchSubsumption(t *testing.T) {
	for _, tc := range []struct {
		name        string
		dirs, trees []string
		full        bool
		want        Batch
	}{
		{name: "empty", want: Batch{}},
		{name: "dirs sorted and unique", dirs: []string{"b", "a", "b", "."}, want: Batch{Dirs: []string{".", "a", "b"}}},
		{name: "tree subsumes dirs at and below it, not its parent",
			dirs: []string{"a", "a/b", "a/b/c", ".", "ab", "a-b"}, trees: []string{"a"},
			want: Batch{Dirs: []string{".", "a-b", "ab"}, Trees: []string{"a"}}},
		{name: "tree subsumes trees below it, not siblings sorting between",
			trees: []string{"a/b/c", "a", "a-b", "a b/c", "a.b"},
			want:  Batch{Trees: []string{"a", "a b/c", "a-b", "a.b"}}},
		{name: "root tree subsumes everything", dirs: []string{".", "x"}, trees: []string{".", "y/z"},
			want: Batch{Trees: []string{"."}}},
		{name: "full drops the rest", dirs: []string{"a"}, trees: []string{"b"}, full: true, want: Batch{Full: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHints()
			for _, d := range tc.dirs {
				h.addDir(d)
			}
			for _, tr := range tc.trees {
				h.addTree(tr)
			}
			h.full = tc.full
			if diff := cmp.Diff(tc.want, h.batch()); diff != "" {
				t.Fatalf("batch (-want +got):\n%s", diff)
			}
		})
	}
}

// covered reports whether a scan of b covers a scan of the directory rel
// (tree: with its whole subtree).
func covered(b Batch, rel string, tree bool) bool {
	if b.Full {
		return true
	}
	trees := make(map[string]struct{})
	for _, t := range b.Trees {
		trees[t] = struct{}{}
	}
	if underAny(rel, trees) {
		return true
	}
	return !tree && slices.Contains(b.Dirs, rel)
}

func TestBatchProperties(t *testing.T) {
	seg := rapid.SampledFrom([]string{"a", "b", "a-b", "a b", "ab", "é"})
	relGen := rapid.Custom(func(t *rapid.T) string {
		n := rapid.IntRange(0, 3).Draw(t, "depth")
		if n == 0 {
			return "."
		}
		parts := make([]string, n)
		for i := range parts {
			parts[i] = seg.Draw(t, "seg")
		}
		return path.Join(parts...)
	})
	rapid.Check(t, func(t *rapid.T) {
		dirs := rapid.SliceOf(relGen).Draw(t, "dirs")
		trees := rapid.SliceOf(relGen).Draw(t, "trees")
		// Merging two halves equals adding everything to one set.
		h, h2 := newHints(), newHints()
		for i, d := range dirs {
			if i%2 == 0 {
				h.addDir(d)
			} else {
				h2.addDir(d)
			}
		}
		for i, tr := range trees {
			if i%2 == 0 {
				h.addTree(tr)
			} else {
				h2.addTree(tr)
			}
		}
		h.merge(h2)
		b := h.batch()

		if !slices.IsSorted(b.Dirs) || !slices.IsSorted(b.Trees) {
			t.Fatalf("not sorted: %+v", b)
		}
		if len(slices.Compact(slices.Clone(b.Dirs))) != len(b.Dirs) || len(slices.Compact(slices.Clone(b.Trees))) != len(b.Trees) {
			t.Fatalf("duplicates: %+v", b)
		}
		// Nothing asked for is lost.
		for _, d := range dirs {
			if !covered(b, d, false) {
				t.Fatalf("dir %q not covered by %+v", d, b)
			}
		}
		for _, tr := range trees {
			if !covered(b, tr, true) {
				t.Fatalf("tree %q not covered by %+v", tr, b)
			}
		}
		// Nothing invented, nothing redundant.
		for _, d := range b.Dirs {
			if !slices.Contains(dirs, d) {
				t.Fatalf("dir %q invented", d)
			}
			if covered(Batch{Trees: b.Trees}, d, false) {
				t.Fatalf("dir %q redundant with trees %v", d, b.Trees)
			}
		}
		for i, tr := range b.Trees {
			if !slices.Contains(trees, tr) {
				t.Fatalf("tree %q invented", tr)
			}
			others := slices.Delete(slices.Clone(b.Trees), i, i+1)
			if covered(Batch{Trees: others}, tr, true) {
				t.Fatalf("tree %q redundant with %v", tr, others)
			}
		}
	})
}

func TestDirSetRemoveTree(t *testing.T) {
	s := newDirSet()
	for i, d := range []string{".", "a", "a/b", "a/b/c", "a/d", "a-b", "ab", "a b"} {
		s.add(d, fileID{dev: 1, ino: uint64(i + 1)})
	}
	var dropped []string
	s.removeTree("a", func(rel string) { dropped = append(dropped, rel) })
	slices.Sort(dropped)
	if diff := cmp.Diff([]string{"a", "a/b", "a/b/c", "a/d"}, dropped); diff != "" {
		t.Fatalf("dropped (-want +got):\n%s", diff)
	}
	var left []string
	for d := range s.watched {
		left = append(left, d)
	}
	slices.Sort(left)
	if diff := cmp.Diff([]string{".", "a b", "a-b", "ab"}, left); diff != "" {
		t.Fatalf("left (-want +got):\n%s", diff)
	}
	// Deepest first, as rm -rf reports them, each removal is local.
	s.add("x/y", fileID{})
	s.add("x", fileID{})
	s.removeTree("x/y", func(string) {})
	s.removeTree("x", func(rel string) { dropped = append(dropped, rel) })
	if got := dropped[len(dropped)-1]; got != "x" || s.has("x/y") || s.has("x") {
		t.Fatalf("removal of x: dropped %v", dropped)
	}
	var parents []string
	for k := range s.children {
		parents = append(parents, k)
	}
	if diff := cmp.Diff([]string{"."}, parents); diff != "" {
		t.Fatalf("child index keeps removed parents (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(3, len(s.children["."])); diff != "" {
		t.Fatalf("root children (-want +got):\n%s", diff)
	}
	for _, gone := range []uint64{2, 3, 4, 5} {
		if p, ok := s.pathOf(fileID{dev: 1, ino: gone}); ok {
			t.Fatalf("identity %d still maps to %q", gone, p)
		}
	}
}

func TestDirSetIdentity(t *testing.T) {
	s := newDirSet()
	moved := fileID{dev: 1, ino: 7}
	s.add("old", moved)
	s.add("new", moved) // found under its new name before its move event
	if p, _ := s.pathOf(moved); p != "new" {
		t.Fatalf("pathOf = %q, want the newest name", p)
	}
	s.removeTree("old", func(string) {})
	if p, ok := s.pathOf(moved); !ok || p != "new" {
		t.Fatalf("dropping the old name lost the new one: %q %v", p, ok)
	}
	// Same name, new directory (deleted and recreated).
	s.add("new", fileID{dev: 1, ino: 8})
	if _, ok := s.pathOf(moved); ok {
		t.Fatal("the replaced identity still maps")
	}
	if id, _ := s.id("new"); id.ino != 8 {
		t.Fatalf("id(new) = %v", id)
	}
}

func TestRelativePaths(t *testing.T) {
	for _, tc := range []struct {
		root, name, want string
		ok               bool
	}{
		{"/srv/data", "/srv/data", ".", true},
		{"/srv/data", "/srv/data/a/b", "a/b", true},
		{"/srv/data", "/srv/data//a", "a", true},
		{"/srv/data", "/srv/database/a", "", false}, // a sibling sharing the prefix
		{"/srv/data", "/srv", "", false},
		{"/", "//a", "a", true}, // fsnotify joins "/" and "a" with a slash
		{"/", "/a/b", "a/b", true},
	} {
		l := &loop{w: &Watcher{root: tc.root}}
		got, ok := l.rel(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("rel(%q) under %q = %q, %v; want %q, %v", tc.name, tc.root, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		rel, dir string
		want     bool
	}{
		{"a/b", "a", true}, {"a", "a", false}, {"a-b", "a", false}, {"a", ".", true}, {".", ".", false},
	} {
		if got := within(tc.rel, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v", tc.rel, tc.dir, got)
		}
	}
}
