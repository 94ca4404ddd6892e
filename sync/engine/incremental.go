package engine

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/syncd/syncd/sync/plan"
)

// What an incremental pass (PassOptions.Incremental, the daemon's passes)
// keeps between passes, so that a quiet tree costs almost nothing to watch:
//
//   - the last local scan, brought up to date by rescanning only the
//     directories the watcher named (LocalChanged) and those the pass's own
//     operations wrote to;
//   - the last listing of every remote folder (listingCache), listed again
//     only when it may have changed: folders the pass's own operations
//     touched, recently active folders at every poll, everything at a sweep;
//   - the base as the last pass committed it, and the remote tree assembled
//     from the listings, while neither changed and until a pass finds
//     nothing changed (quiet): a pass right after another neither reads the
//     base from disk nor rebuilds the remote tree, and an idle pair does
//     not hold either;
//   - whether the last pass found both sides in agreement. When it did and
//     neither side shows a change, the pass ends there, before reading the
//     base or planning.
//
// Any failed pass drops all of it: the next one observes both sides whole.

// HotFolders is the default of Options.HotFolders: how many recently active
// remote folders an incremental poll lists besides the root and the
// folders its own operations touched.
const HotFolders = 32

// hotWindow is how long a remote folder stays hot after it was last seen
// to change.
const hotWindow = time.Hour

// incCache is what incremental passes keep between passes. Only the
// goroutine running passes touches it.
type incCache struct {
	scan     *Scan           // the last local scan, rescanned in place
	listings *listingCache   // every remote folder's last listing
	rdirty   map[string]bool // remote folder ids the last execution touched
	// base is the base as the last incremental pass left it (what it
	// committed); snap the remote snapshot assembled from listings and
	// base, kept while neither changed. Both go at a quiet pass.
	base  map[string]plan.Base
	snap  *remoteSnapshot
	clean bool // the last incremental pass found both sides agreeing
	// lastProblems are the problems the last planning pass reported: an
	// unchanged pass reports them again.
	lastProblems []plan.Problem
}

// drop forgets what was observed: the next pass observes both sides whole.
// lastProblems stay: they are replaced by the next planning pass.
func (c *incCache) drop() {
	c.scan, c.listings, c.clean = nil, nil, false
	c.rdirty, c.base, c.snap = nil, nil, nil
}

// quiet is called when a pass found nothing changed since the last one,
// which was clean. The base and the remote snapshot go: they are the
// largest things kept (at 100,000 files the base alone is over half of an
// idle daemon's heap), and a pass that saw nothing needed neither, as the
// scan and the listings tell it by themselves that nothing changed. The
// next pass with a change reads the base from the store again, which
// holds exactly what the cached one held (the last commit; a failed pass
// drops every cache), and assembles the snapshot again from the listings.
// A burst of changes, each pass right after the last, keeps them.
func (c *incCache) quiet() { c.base, c.snap = nil, nil }

// localMarks accumulates what changed locally between passes. Any goroutine
// may add to it; the pass takes it.
type localMarks struct {
	mu    sync.Mutex
	dirs  map[string]bool
	trees map[string]bool
	full  bool
}

func (m *localMarks) add(dirs, trees []string, full bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs == nil {
		m.dirs, m.trees = make(map[string]bool), make(map[string]bool)
	}
	for _, d := range dirs {
		m.dirs[d] = true
	}
	for _, t := range trees {
		m.trees[t] = true
	}
	m.full = m.full || full
}

func (m *localMarks) take() (dirs, trees []string, full bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := range m.dirs {
		dirs = append(dirs, d)
	}
	for t := range m.trees {
		trees = append(trees, t)
	}
	full = m.full
	m.dirs, m.trees, m.full = nil, nil, false
	slices.Sort(dirs)
	slices.Sort(trees)
	return dirs, trees, full
}

// LocalChanged tells the pair what changed in its local tree since its last
// pass: dirs are keys (NFC, slash-separated, "" for the root) of directories
// whose direct entries changed, trees are keys of directories to read again
// with everything below them, and full asks for a scan of the whole tree
// (events were lost, or a periodic safety scan). Incremental passes rescan
// only that. Safe to call from any goroutine.
func (p *Pair) LocalChanged(dirs, trees []string, full bool) {
	p.marks.add(dirs, trees, full)
}

// LocalStirring tells the pair that local changes are on their way: the
// watcher saw the first event of a batch it delivers after its debounce.
// The pair's remote client then counts as writing for the shared token
// (WriteIntent) until the pass that batch asks for has planned, or for
// stirWindow: a host whose user has just rewritten its tree does not yield
// the token to another host's idle poll, nor wait out a reader's hold-off,
// before its burst. Safe to call from any goroutine, and it never blocks.
func (p *Pair) LocalStirring() {
	p.stirs.Add(1)
	if w, ok := p.remote.(WriteIntent); ok {
		w.ExpectWrites(stirWindow)
	}
}

// stirWindow bounds a write intent no pass withdrew: longer than a
// debounce plus a pass's scan and listings, short enough that a host whose
// changes turned out to be nothing to send does not hold the token as a
// writer for long.
const stirWindow = 10 * time.Second

// withdrawWrites ends the write intent of LocalStirring once a pass has
// planned, unless another change stirred since the pass began (stirs: the
// count then): that one's pass is still to come.
func (p *Pair) withdrawWrites(stirs uint64) {
	if p.stirs.Load() != stirs {
		return
	}
	if w, ok := p.remote.(WriteIntent); ok {
		w.ExpectWrites(0)
	}
}

// dropCaches forgets everything incremental passes kept: the next pass
// observes both sides whole.
func (p *Pair) dropCaches() { p.inc.drop() }

// observeLocal returns the local tree for this pass. An incremental pass
// with a cached scan rescans only what was marked (and the directories of
// files it left unsettled last time); changed reports whether it had
// anything to look at.
func (p *Pair) observeLocal(ctx context.Context, po PassOptions, loadBase func() (map[string]plan.Base, error), now time.Time) (scan Scan, changed bool, err error) {
	incremental := po.Incremental && !po.DryRun
	var dirs, trees []string
	full := true
	if incremental {
		dirs, trees, full = p.marks.take()
	}
	if incremental && p.inc.scan != nil && !full {
		if p.inc.scan.Unsettled > 0 {
			for _, u := range p.inc.scan.Unknown {
				dirs = append(dirs, parentKey(u))
			}
		}
		if len(dirs)+len(trees) == 0 {
			return *p.inc.scan, false, nil
		}
		if err := p.local.Rescan(ctx, p.inc.scan, dirs, trees, now); err != nil {
			p.inc.scan = nil
			return Scan{}, true, err
		}
		return *p.inc.scan, true, nil
	}
	base, err := loadBase()
	if err != nil {
		return Scan{}, true, err
	}
	scan, err = p.local.Scan(ctx, base, now)
	if err != nil {
		return Scan{}, true, err
	}
	if incremental {
		cached := scan
		p.inc.scan = &cached
	} else {
		p.inc.scan = nil
	}
	return scan, true, nil
}

// observeRemote refreshes the remote listings for this pass. A pass that is
// not incremental lists every folder; an incremental one lists every folder
// at a sweep (SweepInterval, or always when the tree has no more folders
// than an ordinary poll would list), otherwise the folders its own
// operations touched, plus the root and the hot folders unless LocalOnly.
func (p *Pair) observeRemote(ctx context.Context, po PassOptions, rootID string, now time.Time) (c *listingCache, requests int, changed bool, err error) {
	incremental := po.Incremental && !po.DryRun
	if !incremental || p.inc.listings == nil {
		c = newListingCache()
		if incremental {
			p.inc.listings = c
		}
		n, _, err := c.refresh(ctx, p.remote, rootID, func(string) bool { return true }, now)
		if err != nil {
			return nil, n, true, err
		}
		c.lastSweep, c.swept = now, true
		p.inc.rdirty = nil
		return c, n, true, nil
	}
	c = p.inc.listings
	dirty := p.inc.rdirty
	p.inc.rdirty = nil
	c.touch(dirty, now)
	// A clock set back since the last sweep says nothing of how long ago
	// it was: sweep, or the next one waits for the clock to catch up.
	sinceSweep := now.Sub(c.lastSweep)
	sweep := !po.LocalOnly && (po.Sweep || sinceSweep >= p.opt.SweepInterval || sinceSweep < 0 || len(c.byID) <= p.opt.HotFolders+1)
	var relist func(id string) bool
	switch {
	case sweep:
		relist = func(string) bool { return true }
	case po.LocalOnly:
		relist = func(id string) bool { return dirty[id] }
	default:
		hot := c.hot(now.Add(-hotWindow), p.opt.HotFolders)
		relist = func(id string) bool { return id == rootID || dirty[id] || hot[id] }
	}
	n, changed, err := c.refresh(ctx, p.remote, rootID, relist, now)
	if err != nil {
		return nil, n, true, err
	}
	if sweep {
		c.lastSweep = now
	}
	c.swept = sweep
	return c, n, changed, nil
}

// markTouched records, after an execution, where the pass's own operations
// changed either side: their local directories are rescanned and their
// remote folders listed again by the next incremental pass, which then sees
// exactly what the operations left (never its own uploads as remote
// deletions, nor its downloads as local creations).
func (p *Pair) markTouched(ops []plan.Op, x *execution, snap map[string]plan.Remote, rootID string) {
	var dirs, trees []string
	if p.inc.rdirty == nil {
		p.inc.rdirty = make(map[string]bool)
	}
	folderOf := func(key string) {
		if key == "" {
			p.inc.rdirty[rootID] = true
			return
		}
		if r, ok := snap[key]; ok && r.Kind == plan.Dir {
			p.inc.rdirty[r.ID] = true
		}
		if b, ok := x.in.Base[key]; ok && b.Kind == plan.Dir && b.RemoteID != "" {
			p.inc.rdirty[b.RemoteID] = true
		}
		if b, ok := x.work[key]; ok && b.Kind == plan.Dir && b.RemoteID != "" {
			p.inc.rdirty[b.RemoteID] = true
		}
	}
	for _, op := range ops {
		paths := []string{op.Path}
		if op.From != "" {
			paths = append(paths, op.From)
		}
		switch op.Kind {
		case plan.MkdirLocal, plan.Download, plan.MoveLocal, plan.DeleteLocal, plan.ConflictLocal:
			for _, k := range paths {
				dirs = append(dirs, parentKey(k))
				if op.Entry == plan.Dir {
					trees = append(trees, k)
				}
			}
		case plan.MkdirRemote, plan.Upload, plan.Replace, plan.MoveRemote, plan.DeleteRemote, plan.ConflictRemote:
			if op.Remote != nil && op.Remote.ParentID != "" {
				p.inc.rdirty[op.Remote.ParentID] = true
			}
			for _, k := range paths {
				folderOf(parentKey(k))
			}
		}
	}
	p.marks.add(dirs, trees, false)
}

// unchanged reports whether an incremental pass may stop before planning:
// the previous pass found both sides in agreement and this one saw no
// change on either.
func (p *Pair) unchanged(po PassOptions, localChanged, remoteChanged bool) bool {
	// Another host's stopped replace being timed (settleTemps) needs
	// passes that reach it.
	return po.Incremental && !po.DryRun && p.inc.clean && !localChanged && !remoteChanged && len(p.tempsSeen) == 0
}
