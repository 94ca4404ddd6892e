package local

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/syncd/syncd/sync/plan"
)

// Rescan brings prev, an earlier scan of the whole root, up to date with
// what changed under some directories, without walking the rest of the
// tree: the daemon's answer to a watcher's hints and to its own writes.
//
// dirs are keys of directories whose direct entries changed: each is listed
// again, and a subdirectory found there is walked only when prev did not know
// it as a directory (new, or a file before); what prev holds below a
// directory that is still one is kept. trees are keys of directories to read
// again with everything below them. "" in trees is a full scan.
//
// A key whose parent no longer resolves (moved or removed meanwhile) is
// rescanned from its parent instead, up to the root: a directory that
// vanished reads as removed only once the directory that held it has been
// listed again. prev is modified in place. The returned stats count what
// this rescan hashed and left unsettled; prev.Stats' Files and Dirs are
// recounted.
func Rescan(ctx context.Context, opts ScanOptions, prev *ScanResult, dirs, trees []string) (ScanStats, error) {
	if prev.Tree == nil {
		prev.Tree = make(map[string]plan.Local)
	}
	for {
		trees, dirs = minimalScopes(trees, dirs)
		if slices.Contains(trees, "") {
			full, err := Scan(ctx, opts)
			if err != nil {
				return ScanStats{}, err
			}
			*prev = full
			return full.Stats, nil
		}
		subs, retry, err := rescanScopes(ctx, opts, prev, dirs, trees)
		if err != nil {
			return ScanStats{}, err
		}
		if len(retry) > 0 {
			// A parent did not resolve: widen to it and start again (rare:
			// a directory moved between the event and the scan). Should
			// widening add nothing new, scan everything: this must end.
			before := len(trees)
			trees, _ = minimalScopes(append(trees, retry...), nil)
			if len(trees) == before && !slices.ContainsFunc(retry, func(r string) bool { return !slices.Contains(trees, r) }) {
				trees = []string{""}
			}
			continue
		}
		return applyScopes(prev, subs), nil
	}
}

// scope is one rescanned directory and its result.
type scope struct {
	key     string
	shallow bool            // a dirs entry: kept children are not replaced
	kept    map[string]bool // shallow: direct subdirectories whose content prev keeps
	res     ScanResult
}

// minimalScopes drops trees inside other trees and dirs at or inside a tree,
// and sorts both.
func minimalScopes(trees, dirs []string) ([]string, []string) {
	trees = slices.Clone(trees)
	slices.Sort(trees)
	trees = slices.Compact(trees)
	// A tree's descendants need not follow it in sorted order ("z",
	// "z (copy)", "z/x": a space sorts before a slash), so each tree is
	// checked against every kept one above it.
	kept := make(map[string]bool, len(trees))
	var t2 []string
	for _, t := range trees {
		inside := kept[""]
		for p := t; !inside && p != ""; {
			p = parentDir(p)
			inside = kept[p] && (p != "" || t != "")
		}
		if inside {
			continue
		}
		kept[t] = true
		t2 = append(t2, t)
	}
	var d2 []string
	for _, d := range dirs {
		inside := false
		for _, t := range t2 {
			if t == "" || under(d, t) {
				inside = true
				break
			}
		}
		if !inside {
			d2 = append(d2, d)
		}
	}
	slices.Sort(d2)
	return t2, slices.Compact(d2)
}

// rescanScopes scans every scope. retry lists the parents of scopes whose
// own parent did not resolve.
func rescanScopes(ctx context.Context, opts ScanOptions, prev *ScanResult, dirs, trees []string) (subs []scope, retry []string, err error) {
	isDir := func(k string) bool { l, ok := prev.Tree[k]; return ok && l.Kind == plan.Dir }
	isTree := make(map[string]bool, len(trees))
	for _, t := range trees {
		isTree[t] = true
	}
	scanOne := func(key string, shallow bool) error {
		o := opts
		if shallow {
			// New subdirectories are walked, except those a tree scope
			// reads anyway.
			o.Descend = func(k string) bool { return !isDir(k) && !isTree[k] }
		}
		res, err := ScanSubtree(ctx, o, RawPath(prev.Tree, key))
		if errors.Is(err, ErrNotFound) && ctx.Err() == nil {
			retry = append(retry, parentDir(key))
			return nil
		}
		if err != nil {
			return err
		}
		sc := scope{key: key, shallow: shallow, res: res}
		if shallow {
			sc.kept = make(map[string]bool)
			for k, l := range res.Tree {
				if l.Kind == plan.Dir && isDir(k) && parentDir(k) == key && k != key {
					sc.kept[k] = true
				}
			}
		}
		subs = append(subs, sc)
		return nil
	}
	for _, t := range trees {
		if err := scanOne(t, false); err != nil {
			return nil, nil, err
		}
	}
	for _, d := range dirs {
		if err := scanOne(d, true); err != nil {
			return nil, nil, err
		}
	}
	return subs, retry, nil
}

// applyScopes replaces in prev what the scopes cover with what they found.
func applyScopes(prev *ScanResult, subs []scope) ScanStats {
	byKey := make(map[string]*scope, len(subs))
	for i := range subs {
		byKey[subs[i].key] = &subs[i]
	}
	// covered reports whether a prev path is replaced by some scope's
	// result: it is at or inside a tree scope, or a shallow scope's
	// directory, a direct entry of it, or inside a direct subdirectory
	// the scope did not keep.
	covered := func(p string) bool {
		for i := 0; ; {
			prefix := p[:i]
			if i == 0 {
				prefix = ""
			}
			if sc, ok := byKey[prefix]; ok {
				if !sc.shallow || prefix == p {
					return true
				}
				rest := p
				if prefix != "" {
					rest = p[len(prefix)+1:]
				}
				child, _, deeper := strings.Cut(rest, "/")
				if prefix != "" {
					child = prefix + "/" + child
				}
				if !deeper || !sc.kept[child] {
					return true
				}
			}
			if i == len(p) {
				return false
			}
			j := strings.IndexByte(p[i+1:], '/')
			if j < 0 {
				i = len(p)
			} else {
				i = i + 1 + j
			}
		}
	}
	for k := range prev.Tree {
		if covered(k) {
			delete(prev.Tree, k)
		}
	}
	prev.Unknown = slices.DeleteFunc(prev.Unknown, covered)
	prev.Problems = slices.DeleteFunc(prev.Problems, func(pr plan.Problem) bool { return covered(pr.Path) })
	var st ScanStats
	for _, sc := range subs {
		for k, l := range sc.res.Tree {
			prev.Tree[k] = l
		}
		prev.Unknown = append(prev.Unknown, sc.res.Unknown...)
		prev.Problems = append(prev.Problems, sc.res.Problems...)
		st.Hashed += sc.res.Stats.Hashed
		st.HashedBytes += sc.res.Stats.HashedBytes
		st.Unsettled += sc.res.Stats.Unsettled
		st.Skipped += sc.res.Stats.Skipped
	}
	slices.Sort(prev.Unknown)
	prev.Unknown = slices.Compact(prev.Unknown)
	slices.SortStableFunc(prev.Problems, func(a, b plan.Problem) int { return strings.Compare(a.Path, b.Path) })
	prev.Problems = slices.CompactFunc(prev.Problems, func(a, b plan.Problem) bool { return a == b })
	if len(prev.Unknown) == 0 {
		prev.Unknown = nil
	}
	if len(prev.Problems) == 0 {
		prev.Problems = nil
	}
	prev.Stats.Files, prev.Stats.Dirs = countKinds(prev.Tree)
	st.Files, st.Dirs = prev.Stats.Files, prev.Stats.Dirs
	prev.Stats.Hashed += st.Hashed
	prev.Stats.HashedBytes += st.HashedBytes
	prev.Stats.Unsettled = st.Unsettled
	return st
}
