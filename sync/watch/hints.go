package watch

import (
	"path"
	"slices"
)

// Batch tells the engine what to rescan. Paths are slash-separated and
// relative to the root; "." is the root itself.
type Batch struct {
	// Dirs are directories whose direct entries changed: list them and
	// compare each entry (a new subdirectory found there is new as a whole).
	// Sorted, unique, and never equal to or inside an entry of Trees.
	Dirs []string
	// Trees are directories to rescan with everything below them: new
	// directories, created or moved in. Sorted, unique, and none is inside
	// another.
	Trees []string
	// Full asks for a rescan of the whole root; Dirs and Trees are then empty.
	Full bool
}

// IsZero reports whether the batch asks for nothing.
func (b Batch) IsZero() bool { return !b.Full && len(b.Dirs) == 0 && len(b.Trees) == 0 }

// hints accumulates what a batch will ask for. Coalescing is per directory:
// a thousand events in one directory are one entry.
type hints struct {
	dirs  map[string]struct{}
	trees map[string]struct{}
	full  bool
}

func newHints() *hints {
	return &hints{dirs: make(map[string]struct{}), trees: make(map[string]struct{})}
}

func (h *hints) empty() bool { return !h.full && len(h.dirs) == 0 && len(h.trees) == 0 }

func (h *hints) addDir(rel string)  { h.dirs[rel] = struct{}{} }
func (h *hints) addTree(rel string) { h.trees[rel] = struct{}{} }

// merge adds everything o asks for to h.
func (h *hints) merge(o *hints) {
	h.full = h.full || o.full
	for d := range o.dirs {
		h.dirs[d] = struct{}{}
	}
	for t := range o.trees {
		h.trees[t] = struct{}{}
	}
}

// batch returns the smallest equivalent Batch: Full drops everything else,
// a tree subsumes trees and dirs below it (and the dir equal to it).
func (h *hints) batch() Batch {
	if h.full {
		return Batch{Full: true}
	}
	var b Batch
	for t := range h.trees {
		if t == "." || !underAny(parent(t), h.trees) {
			b.Trees = append(b.Trees, t)
		}
	}
	for d := range h.dirs {
		if !underAny(d, h.trees) {
			b.Dirs = append(b.Dirs, d)
		}
	}
	slices.Sort(b.Trees)
	slices.Sort(b.Dirs)
	return b
}

// underAny reports whether rel or one of its ancestors is in set. A plain
// prefix test over sorted paths is wrong ("a-b" sorts between "a" and
// "a/b"), so it walks up the parents instead: O(depth).
func underAny(rel string, set map[string]struct{}) bool {
	if len(set) == 0 {
		return false
	}
	for {
		if _, ok := set[rel]; ok {
			return true
		}
		if rel == "." {
			return false
		}
		rel = parent(rel)
	}
}

// parent returns the directory containing rel; the parent of "." is ".".
func parent(rel string) string { return path.Dir(rel) }
