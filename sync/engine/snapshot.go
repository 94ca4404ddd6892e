package engine

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
	"golang.org/x/text/unicode/norm"

	"github.com/syncd/syncd/sync/plan"
)

// remoteSnapshot is one observation of a pair's remote folder.
type remoteSnapshot struct {
	Tree     map[string]plan.Remote
	Unknown  []string // subtrees whose listing failed or whose names clash
	Problems []plan.Problem
	Requests int // listing requests made
}

// listParallel bounds how many folder listings run at once.
const listParallel = 4

// snapshotRemote lists the pair's remote folder recursively, one request per
// folder. A failed listing makes that folder's subtree unknown (never read as
// deletions); only a failure of the root listing fails the snapshot. Trashed
// entries are ignored. Entries whose names clash (same NFC key in one folder)
// are resolved by the base where it names one of them, and reported as
// problems otherwise.
func snapshotRemote(ctx context.Context, r Remote, rootID string, base map[string]plan.Base, validName func(string) error) (remoteSnapshot, error) {
	// Sized once: the tree is mostly what base recorded, and growing it
	// entry by entry leaves its old tables as garbage at the pass's peak.
	snap := remoteSnapshot{Tree: make(map[string]plan.Remote, len(base))}
	var mu sync.Mutex
	type job struct{ path, id string }
	level := []job{{"", rootID}}
	for len(level) > 0 {
		var next []job
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(listParallel)
		for _, j := range level {
			g.Go(func() error {
				folders, files, err := r.List(gctx, j.id)
				mu.Lock()
				defer mu.Unlock()
				snap.Requests++
				if err != nil {
					if j.path == "" {
						return fmt.Errorf("list remote root folder %s: %w", j.id, err)
					}
					if ctx.Err() != nil {
						return ctx.Err()
					}
					snap.Unknown = append(snap.Unknown, j.path)
					snap.Problems = append(snap.Problems, plan.Problem{Path: j.path, Side: plan.RemoteSide, Message: "listing failed: " + err.Error()})
					return nil
				}
				for _, sub := range addListing(&snap, j.path, j.id, folders, files, base, validName) {
					next = append(next, job{sub.path, sub.id})
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return remoteSnapshot{}, err
		}
		sort.Slice(next, func(a, b int) bool { return next[a].path < next[b].path })
		level = next
	}
	sort.Strings(snap.Unknown)
	sort.Slice(snap.Problems, func(a, b int) bool { return snap.Problems[a].Path < snap.Problems[b].Path })
	return snap, nil
}

type subfolder struct{ path, id string }

// addListing adds one folder's active entries to the snapshot and returns
// the subfolders to list next.
func addListing(snap *remoteSnapshot, dir, dirID string, folders []RemoteFolder, files []RemoteFile, base map[string]plan.Base, validName func(string) error) []subfolder {
	groups := make(map[string][]plan.Remote)
	var keys []string
	add := func(name string, e plan.Remote) {
		err := unsafeName(name)
		if err == nil {
			err = validName(name)
		}
		if err != nil {
			// Keyed by the quoted name: the raw one may be "." or ".."
			// and must never become a path element, even in a report.
			snap.Problems = append(snap.Problems, plan.Problem{
				Path: joinKey(dir, norm.NFC.String(strconv.Quote(name))), Side: plan.RemoteSide,
				Message: fmt.Sprintf("remote name %q cannot be a local name: %v", name, err),
			})
			return
		}
		key := joinKey(dir, norm.NFC.String(name))
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], e)
	}
	for _, f := range folders {
		if !f.Active {
			continue
		}
		// The account root listing also shows trashed entries; some builds
		// list children of other parents there. Keep only direct children.
		if f.ParentID != "" && f.ParentID != dirID {
			continue
		}
		add(f.Name, plan.Remote{Kind: plan.Dir, Name: f.Name, ID: f.ID, ParentID: dirID})
	}
	for _, f := range files {
		if !f.Active {
			continue
		}
		if f.FolderID != "" && f.FolderID != dirID {
			continue
		}
		add(f.Name, plan.Remote{Kind: plan.File, Name: f.Name, ID: f.ID, ParentID: dirID, Size: f.Size})
	}
	sort.Strings(keys)
	var subs []subfolder
	for _, key := range keys {
		g := groups[key]
		chosen, ok := g[0], len(g) == 1
		if !ok {
			if b, inBase := base[key]; inBase {
				for _, e := range g {
					if e.ID == b.RemoteID {
						chosen, ok = e, true
					}
				}
			}
			ids := make([]string, 0, len(g))
			for _, e := range g {
				if !ok || e.ID != chosen.ID {
					ids = append(ids, e.ID)
				}
			}
			snap.Problems = append(snap.Problems, plan.Problem{
				Path: key, Side: plan.RemoteSide,
				Message: fmt.Sprintf("%d remote entries share this name (ids %s); left alone", len(g), strings.Join(ids, ", ")),
			})
			if !ok {
				snap.Unknown = append(snap.Unknown, key)
				continue
			}
		}
		snap.Tree[key] = chosen
		if chosen.Kind == plan.Dir {
			subs = append(subs, subfolder{key, chosen.ID})
		}
	}
	return subs
}

// unsafeName refuses, whatever the local filesystem, the remote names that
// can never be a path element: they would address another entry or escape
// the root.
func unsafeName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("%q is not a file name", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("contains a slash or NUL")
	case !utf8.ValidString(name):
		return fmt.Errorf("not valid UTF-8")
	}
	return nil
}

// joinKey joins a tree key and a name.
func joinKey(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// parentKey is the key of a path's parent ("" for top-level entries).
func parentKey(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

// baseName is the last element of a key.
func baseName(p string) string { return path.Base(p) }

// under reports whether p is at or below dir.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
