package engine

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
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

	baseByID map[idKey]string // base's paths by remote id, built when first needed
	Temps    []tempEntry      // files left out under temporary names
}

// hideTemp leaves out of the tree an entry e under one of syncd's
// temporary names (see tempname.go) in the folder dir: one host's
// unfinished replace, upload or move, which no host may bring down as a
// file of its own, nor take for a deletion of what it stands for. The
// paths the operation concerns are frozen (no op at or below them) while
// it lasts: the entry's base path when base knows it (a move stopped
// half-way), else the name it stands for, unless the listing still shows
// the version a replace is replacing there (nothing has changed yet).
// oldLive reports whether the folder lists the live file of an id.
func (s *remoteSnapshot) hideTemp(dir, name string, e plan.Remote, base map[string]plan.Base, oldLive func(id string) bool) {
	parts, _ := parseTempHost(name)
	real, tag, id, _ := parseTemp(name)
	if s.baseByID == nil {
		s.baseByID = make(map[idKey]string, len(base))
		for k, b := range base {
			if b.RemoteID != "" {
				s.baseByID[idKey{b.Kind, b.RemoteID}] = k
			}
		}
	}
	if k, ok := s.baseByID[idKey{e.Kind, e.ID}]; ok {
		s.Unknown = append(s.Unknown, k)
		return
	}
	live := tag == tagReplace && oldLive(id)
	if e.Kind == plan.File {
		t := tempEntry{dir: dir, folder: e.ParentID, id: e.ID, name: name, parts: parts, oldLive: live}
		if tag == tagReplace {
			t.oldName = tempOldName(base, s.baseByID, dir, id)
		}
		s.Temps = append(s.Temps, t)
	}
	if live {
		return
	}
	// The name the entry stands for, and, the server having maybe dropped
	// a leading dot (api.md 12), the same with it.
	s.Unknown = append(s.Unknown, joinKey(dir, norm.NFC.String(real)), joinKey(dir, norm.NFC.String("."+real)))
}

// listParallel bounds how many folder listings run at once.
const listParallel = 4

// listingCache holds the last listing of every folder of a pair's remote
// tree, by folder id. A snapshot lists again only the folders a pass asks
// for and reads the rest from here, so that the daemon's polls cost a few
// requests instead of one per folder; a folder moved elsewhere keeps its id,
// so its listing stays valid. Only the goroutine running passes touches it.
type listingCache struct {
	byID map[string]*listing
	// failed holds the folders whose last listing attempt failed: their
	// subtrees are unknown until a listing succeeds.
	failed    map[string]error
	lastSweep time.Time
	// twice holds the ids the last refresh still found in two folders.
	twice map[idKey]bool
	// swept: the last refresh listed every folder (otherwise some
	// listings are cached, and a folder seen live may be in the trash).
	swept bool
}

// listing is one folder's entries as the service last listed them.
type listing struct {
	folders []RemoteFolder
	files   []listedFile
	// active is when this listing last changed between two looks, or
	// the pass's own operations touched the folder (zero: never seen to).
	active time.Time
}

// listedFile is a file of a cached listing. Only the active files directly
// in the listed folder are kept, the only ones that reach the tree or
// show a move (addListing, twoPlaced), so neither the folder id nor the
// status is; nor the MD5, which listings do not carry. An idle daemon holds
// one per remote file: 40 bytes instead of RemoteFile's 88 (5 MB of its
// heap at 100,000 files). A change of a trashed or foreign entry alone
// no longer counts as a change of the listing: it changed nothing the
// tree is built from.
type listedFile struct {
	ID, Name string
	Size     int64
}

// listedFiles is what the cache keeps of the files a listing of dirID
// showed.
func listedFiles(dirID string, files []RemoteFile) []listedFile {
	out := make([]listedFile, 0, len(files))
	for _, f := range files {
		if f.Active && (f.FolderID == "" || f.FolderID == dirID) {
			out = append(out, listedFile{ID: f.ID, Name: f.Name, Size: f.Size})
		}
	}
	return out
}

func newListingCache() *listingCache {
	return &listingCache{byID: make(map[string]*listing), failed: make(map[string]error)}
}

// refresh brings the cache up to date from rootID down: a folder is listed
// when relist says so or when the cache has no listing of it (new, or
// failed last time); every other folder is read from the cache. Folders no
// longer reachable are dropped. It reports the requests made and whether
// anything differs from what the cache held. Only a failure to list the
// root fails it; any other failed listing makes that subtree unknown to
// assemble (never read as deletions).
//
// An entry moved between two folders can show in both listings, one id at
// two paths: a poll that lists the destination and reads the source from
// the cache, or two listings of one refresh that the move fell between.
// The next pass took the moved file for a new one and downloaded it beside
// its old copy, which a later pass uploaded back (a deleted file
// resurrected, issue 14). Ids are unique (api.md 25), so every folder whose
// listing shows an id that another's shows is listed again, up to
// relistRounds times while the refresh changed anything; ids still at two
// paths after that are kept in twice, and assemble leaves their paths
// alone for this pass.
func (c *listingCache) refresh(ctx context.Context, r Remote, rootID string, relist func(id string) bool, now time.Time) (requests int, changed bool, err error) {
	fresh := len(c.byID) == 0 // a first refresh reports no change
	requests, changed, err = c.refreshLevels(ctx, r, rootID, relist, now)
	if err != nil {
		c.twice = nil
		return requests, changed, err
	}
	if !changed && !fresh {
		// The same listings as the last refresh: the same ids at two
		// paths, still to be left alone. (Forgotten here, the pass after
		// an execution, which assembles its tree anew from these
		// listings, downloaded the second path of one as a new file.)
		return requests, changed, nil
	}
	c.twice = nil
	for round := 0; ; round++ {
		again, ids := c.twoPlaced()
		if len(again) == 0 {
			return requests, changed, nil
		}
		if round == relistRounds {
			c.twice = ids
			return requests, changed, nil
		}
		n, ch, e := c.refreshLevels(ctx, r, rootID, func(id string) bool { return again[id] }, now)
		requests, changed = requests+n, changed || ch
		if e != nil {
			return requests, changed, e
		}
	}
}

// relistRounds bounds the extra listings of one refresh: a move falls
// between two listings only while another client is moving entries.
const relistRounds = 3

// twoPlaced returns the folders whose listing shows an entry that another
// folder's listing shows too, and those entries' ids.
func (c *listingCache) twoPlaced() (folders map[string]bool, ids map[idKey]bool) {
	at := make(map[idKey]string)
	note := func(k idKey, dir string) {
		first, seen := at[k]
		if !seen {
			at[k] = dir
			return
		}
		if folders == nil {
			folders, ids = make(map[string]bool), make(map[idKey]bool)
		}
		folders[first], folders[dir], ids[k] = true, true, true
	}
	for dir, l := range c.byID {
		for _, f := range l.folders {
			if f.Active && (f.ParentID == "" || f.ParentID == dir) {
				note(idKey{plan.Dir, f.ID}, dir)
			}
		}
		for _, f := range l.files {
			note(idKey{plan.File, f.ID}, dir)
		}
	}
	return folders, ids
}

// refreshLevels is one walk of refresh from rootID down.
func (c *listingCache) refreshLevels(ctx context.Context, r Remote, rootID string, relist func(id string) bool, now time.Time) (requests int, changed bool, err error) {
	first := len(c.byID) == 0
	seen := make(map[string]bool, len(c.byID))
	var mu sync.Mutex
	level := []string{rootID}
	for len(level) > 0 {
		var next []string
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(listParallel)
		for _, id := range level {
			if seen[id] {
				continue // a folder cannot be its own ancestor; a confused listing can claim so
			}
			seen[id] = true
			// Listings of this level are being stored meanwhile.
			mu.Lock()
			old, cached := c.byID[id]
			if cached && !relist(id) {
				next = appendSubfolders(next, id, old.folders)
				mu.Unlock()
				continue
			}
			mu.Unlock()
			g.Go(func() error {
				folders, all, err := r.List(gctx, id)
				mu.Lock()
				defer mu.Unlock()
				requests++
				if err != nil {
					if id == rootID {
						return fmt.Errorf("list remote root folder %s: %w", id, err)
					}
					if ctx.Err() != nil {
						return ctx.Err()
					}
					delete(c.byID, id)
					c.failed[id] = err
					changed = true
					return nil
				}
				delete(c.failed, id)
				files := listedFiles(id, all)
				switch {
				case !cached:
					l := &listing{folders: folders, files: files}
					if !first {
						l.active, changed = now, true
					}
					c.byID[id] = l
				case !slices.Equal(old.folders, folders) || !slices.Equal(old.files, files):
					old.folders, old.files, old.active = folders, files, now
					changed = true
				}
				next = appendSubfolders(next, id, folders)
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return requests, true, err
		}
		slices.Sort(next)
		level = slices.Compact(next)
	}
	for id := range c.byID {
		if !seen[id] {
			delete(c.byID, id)
			changed = true
		}
	}
	for id := range c.failed {
		if !seen[id] {
			delete(c.failed, id)
		}
	}
	return requests, changed, nil
}

// appendSubfolders appends the ids of a listing's live direct subfolders.
func appendSubfolders(ids []string, parent string, folders []RemoteFolder) []string {
	for _, f := range folders {
		if f.Active && (f.ParentID == "" || f.ParentID == parent) {
			ids = append(ids, f.ID)
		}
	}
	return ids
}

// assemble builds the snapshot tree from the cached listings. Entries whose
// names clash (same NFC key in one folder) are resolved by the base where it
// names one of them, and reported as problems otherwise; trashed entries are
// left out.
func (c *listingCache) assemble(rootID string, base map[string]plan.Base, validName func(string) error, sizeHint int) remoteSnapshot {
	snap := remoteSnapshot{Tree: make(map[string]plan.Remote, sizeHint)}
	level := []subfolder{{"", rootID}}
	for len(level) > 0 {
		var next []subfolder
		for _, j := range level {
			l, ok := c.byID[j.id]
			if !ok {
				msg := "not listed"
				if err := c.failed[j.id]; err != nil {
					msg = err.Error()
				}
				snap.Unknown = append(snap.Unknown, j.path)
				snap.Problems = append(snap.Problems, plan.Problem{Path: j.path, Side: plan.RemoteSide, Message: "listing failed: " + msg})
				continue
			}
			next = append(next, addListing(&snap, j.path, j.id, l.folders, l.files, base, validName)...)
		}
		level = next
	}
	if len(c.twice) > 0 {
		for key, e := range snap.Tree {
			if c.twice[idKey{e.Kind, e.ID}] {
				snap.Unknown = append(snap.Unknown, key)
			}
		}
	}
	sort.Strings(snap.Unknown)
	sort.Slice(snap.Problems, func(a, b int) bool { return snap.Problems[a].Path < snap.Problems[b].Path })
	return snap
}

// touch marks folders as just active: the next snapshots list them again.
func (c *listingCache) touch(ids map[string]bool, now time.Time) {
	for id := range ids {
		if l, ok := c.byID[id]; ok {
			l.active = now
		}
	}
}

// hot returns up to max folder ids active since the given time, the most
// recently active first.
func (c *listingCache) hot(since time.Time, max int) map[string]bool {
	type act struct {
		id string
		at time.Time
	}
	var all []act
	for id, l := range c.byID {
		if !l.active.IsZero() && !l.active.Before(since) {
			all = append(all, act{id, l.active})
		}
	}
	sort.Slice(all, func(a, b int) bool {
		if !all[a].at.Equal(all[b].at) {
			return all[a].at.After(all[b].at)
		}
		return all[a].id < all[b].id
	})
	out := make(map[string]bool, min(len(all), max))
	for _, a := range all[:min(len(all), max)] {
		out[a.id] = true
	}
	return out
}

// snapshotRemote lists the pair's remote folder recursively, one request per
// folder (see listingCache.refresh and assemble).
func snapshotRemote(ctx context.Context, r Remote, rootID string, base map[string]plan.Base, validName func(string) error) (remoteSnapshot, error) {
	c := newListingCache()
	n, _, err := c.refresh(ctx, r, rootID, func(string) bool { return true }, time.Time{})
	if err != nil {
		return remoteSnapshot{}, err
	}
	snap := c.assemble(rootID, base, validName, len(base))
	snap.Requests = n
	return snap, nil
}

type subfolder struct{ path, id string }

// addListing adds one folder's active entries to the snapshot and returns
// the subfolders to list next.
func addListing(snap *remoteSnapshot, dir, dirID string, folders []RemoteFolder, files []listedFile, base map[string]plan.Base, validName func(string) error) []subfolder {
	// One slice sorted by key groups entries whose names clash; a map of
	// groups per folder cost more than the tree itself.
	type keyed struct {
		key string
		e   plan.Remote
	}
	items := make([]keyed, 0, len(folders)+len(files))
	oldLive := func(id string) bool {
		for _, f := range files {
			if f.ID == id {
				return true
			}
		}
		return false
	}
	add := func(name string, e plan.Remote) {
		if isTemp(name) {
			snap.hideTemp(dir, name, e, base, oldLive)
			return
		}
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
		items = append(items, keyed{joinKey(dir, norm.NFC.String(name)), e})
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
	for _, f := range files { // active and direct ones only (listedFiles)
		add(f.Name, plan.Remote{Kind: plan.File, Name: f.Name, ID: f.ID, ParentID: dirID, Size: f.Size})
	}
	slices.SortStableFunc(items, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	var subs []subfolder
	for i, j := 0, 0; i < len(items); i = j {
		key := items[i].key
		for j = i + 1; j < len(items) && items[j].key == key; j++ {
		}
		g := items[i:j]
		chosen, ok := g[0].e, len(g) == 1
		if !ok {
			if b, inBase := base[key]; inBase {
				for _, it := range g {
					if it.e.ID == b.RemoteID {
						chosen, ok = it.e, true
					}
				}
			}
			ids := make([]string, 0, len(g))
			for _, it := range g {
				if !ok || it.e.ID != chosen.ID {
					ids = append(ids, it.e.ID)
				}
			}
			snap.Problems = append(snap.Problems, plan.Problem{
				Path: key, Side: plan.RemoteSide,
				Message: fmt.Sprintf("%d remote entries share this name (ids %s); left alone", len(g), strings.Join(ids, ", ")),
			})
			// No op at or above the name while the duplicates last: a
			// delete or move of a folder above would take the ones base
			// does not know along, and the executor refuses that at
			// every pass.
			snap.Unknown = append(snap.Unknown, key)
			if !ok {
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
