package plan

import (
	"hash/maphash"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// The reconciler works on identities, not paths. A node is one thing the
// user can see: a base entry (wherever each side has moved it since), or a
// new entry on one side, or a new entry found at the same path on both.
// Each node has a view per side (where it is there and what it holds), and
// a merged place (parent node and name) chosen three-way: a side that kept
// the base place yields to the side that changed it. Final paths follow
// from merged places, so a folder rename moves its subtree for free and a
// child renamed on the other side lands in the renamed folder.
//
// Only entries that differ between the three trees get a node up front; an
// entry that is the same everywhere gets one lazily when a changed entry
// needs it as a parent. A pass over a million unchanged entries therefore
// costs three map walks.

const (
	sideL = 0 // local
	sideR = 1 // remote
)

type nodeState uint8

const (
	undecided nodeState = iota
	live                // in the final tree
	dead                // deleted: its base entry goes, each side that holds it deletes it
	kept                // one-way pairs: a receiver-side change left alone, untracked
)

type view struct {
	present bool
	phantom bool // under an unknown subtree: assumed as in base
	path    string
	parent  *node
	name    string
	loc     *Local
	rem     *Remote
	md5     string // content hash on this side, "" if unknown
	mod     bool   // content differs from base (always true without base)
}

type node struct {
	kind    Kind
	base    *Base
	bpath   string
	bparent *node
	v       [2]view

	parent *node // merged place
	name   string
	state  nodeState
	final  string
	fepoch int
	mark   int

	copyName string // one-way: kept receiver entry renamed out of the way
	rekey    bool   // its base entry must be recorded anew at its final path

	sop    [2]*pop // op that puts the node at its final place on a side
	gone   [2]*pop // op that takes it away from its current place on a side
	moveOp [2]*pop
	ops    []*pop
	forget *pop
}

func (n *node) baseName() string {
	_, name := splitPath(n.bpath)
	return name
}

// changedOn reports whether side s changed the node since base: its content
// or its own place (a move carried by a moved parent does not count).
func (n *node) changedOn(s int) bool {
	v := &n.v[s]
	if n.base == nil {
		return true
	}
	return v.mod || !sameDir(v.parent, n.bparent, s) || v.name != n.baseName()
}

// sameDir reports whether two folder nodes are one folder on side s: the
// same node, or base entries with the same identity there (a folder whose
// base was re-recorded at its new path while the old entry lingers).
func sameDir(a, b *node, s int) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil || a.base == nil || b.base == nil {
		return false
	}
	if s == sideL {
		return a.base.Ino != 0 && a.base.Ino == b.base.Ino && a.base.Dev == b.base.Dev
	}
	return a.base.RemoteID != "" && a.base.RemoteID == b.base.RemoteID
}

type reconciler struct {
	in       *Input
	oneWay   bool
	sender   int
	receiver int
	winner   int // side whose place or content wins a true conflict

	nodes  []*node
	byBase map[string]*node
	at     [2]map[string]*node
	viewed bool // views are assigned: lazily created nodes get theirs at once

	unknown   [2]map[string]bool
	frozen    map[string]bool // unknown subtrees and problem paths: no op at or below
	ign       *ignoreMemo
	forgetIgn []string

	problems  []Problem
	conflicts []Conflict
	baseFiles int

	finals   map[string]*node
	copies   map[string]bool
	epoch    int
	moveDest [2]map[string]*node
	pops     []*pop
	// subtreeOps: the ops on a base node and the base nodes below it.
	subtreeOps map[*node][]*pop
	deadOps    map[*node][]*pop // the same, of the deleted nodes below only
	// rekeyForgets drop the old base path of entries re-recorded elsewhere.
	rekeyForgets []*pop
}

// Reconcile plans one sync pass from the three trees in in. It is pure and
// deterministic; see the package documentation and types.go for the model.
func Reconcile(in Input) Plan {
	r := &reconciler{
		in:     &in,
		byBase: make(map[string]*node),
		frozen: make(map[string]bool),
		ign:    newIgnoreMemo(in.Ignored),
		copies: make(map[string]bool),
		winner: sideR,
	}
	switch in.Direction {
	case UploadOnly:
		r.oneWay, r.sender, r.receiver, r.winner = true, sideL, sideR, sideL
	case DownloadOnly:
		r.oneWay, r.sender, r.receiver, r.winner = true, sideR, sideL, sideR
	}
	for s := range 2 {
		r.at[s] = make(map[string]*node)
		r.moveDest[s] = make(map[string]*node)
		r.unknown[s] = make(map[string]bool)
	}
	for _, p := range in.LocalUnknown {
		r.unknown[sideL][p] = true
		r.frozen[p] = true
	}
	for _, p := range in.RemoteUnknown {
		r.unknown[sideR][p] = true
		r.frozen[p] = true
	}

	candL, candR := r.classify()
	r.detectRenames(candL, candR)
	r.assignViews(candL, candR)
	r.findProblems()
	r.merge()
	r.breakCycles()
	r.decideLiveness()
	r.resolveCollisions()
	r.emit()
	return r.finish()
}

// ignored reports whether p (or a folder above it) is excluded.
func (r *reconciler) ignored(p string, k Kind) bool { return r.ign.ignored(p, k) }

func (r *reconciler) dirIgnored(d string) bool { return r.ign.dirIgnored(d) }

// ignoreMemo answers Input.Ignored, remembering the verdict on each folder:
// one per goroutine that asks.
type ignoreMemo struct {
	f    func(path string, kind Kind) bool
	dirs map[string]bool
}

func newIgnoreMemo(f func(string, Kind) bool) *ignoreMemo {
	return &ignoreMemo{f: f, dirs: make(map[string]bool)}
}

func (m *ignoreMemo) ignored(p string, k Kind) bool {
	if m.f == nil {
		return false
	}
	if d := dirOf(p); d != "" && m.dirIgnored(d) {
		return true
	}
	return m.f(p, k)
}

func (m *ignoreMemo) dirIgnored(d string) bool {
	if v, ok := m.dirs[d]; ok {
		return v
	}
	v := false
	if p := dirOf(d); p != "" && m.dirIgnored(p) {
		v = true
	} else {
		v = m.f(d, Dir)
	}
	m.dirs[d] = v
	return v
}

// underSet reports whether p or one of its folders is in set.
func underSet(p string, set map[string]bool) bool {
	if len(set) == 0 {
		return false
	}
	for {
		if set[p] {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

// sameIno reports whether a local entry has the identity recorded in base;
// a zero device and inode on either side means "not known" and matches.
func sameIno(l *Local, b *Base) bool {
	if l.Ino == 0 || b.Ino == 0 {
		return true
	}
	return l.Ino == b.Ino && l.Dev == b.Dev
}

// unchanged reports whether an entry is identical on all three trees, so
// that it needs neither a node nor an op.
func unchanged(b *Base, l *Local, rm *Remote) bool {
	if l.Kind != b.Kind || rm.Kind != b.Kind || rm.ID != b.RemoteID || !sameIno(l, b) {
		return false
	}
	if l.Name != b.LocalName || rm.Name != b.RemoteName || rm.ParentID != b.RemoteParentID {
		return false
	}
	if b.Kind == Dir {
		return l.Ino == b.Ino && l.Dev == b.Dev
	}
	return l.MD5 == b.MD5 && l.Size == b.Size && l.MtimeNs == b.MtimeNs && l.Ino == b.Ino && l.Dev == b.Dev
}

// ownsL and ownsR report whether an entry at a base path is simply that base
// entry on its side (same kind and identity), not a new entry or a rename
// target.
func ownsL(l *Local, b *Base) bool   { return l.Kind == b.Kind && sameIno(l, b) }
func ownsR(rm *Remote, b *Base) bool { return rm.Kind == b.Kind && rm.ID == b.RemoteID }

// classify walks the three trees once, makes nodes for base entries that
// differ anywhere, and returns the local and remote paths that are not
// simply their base entry (rename targets or new entries).
//
// Over a million entries the cost is map lookups, each a cache miss or
// more, so only the walk over Base looks paths up in the other trees. The
// candidates are found by counting instead: every Local (Remote) key adds
// one to its hash bucket, every base entry its own side owns takes one off.
// Owned keys are keys of that side's tree, so a bucket left at zero holds no
// candidate, and only the few keys in other buckets are looked up in Base.
func (r *reconciler) classify() (candL, candR []string) {
	in := r.in
	left := newBuckets(max(len(in.Local), len(in.Remote)))
	workers := classifyWorkers(len(in.Base))
	if in.workers > 0 {
		workers = in.workers
	}
	var sum joinResult
	if workers == 1 {
		var batch [joinBatch]joined
		n := 0
		for p, b := range in.Base {
			batch[n].path, batch[n].b = p, b
			if n++; n == len(batch) {
				joinBase(in, batch[:], left, r.ign, &sum)
				n = 0
			}
		}
		joinBase(in, batch[:n], left, r.ign, &sum)
	} else {
		sum = r.joinParallel(left, workers)
	}
	r.baseFiles = sum.files
	r.forgetIgn = sum.forgets
	slices.Sort(r.forgetIgn)
	for _, p := range sum.changed {
		r.baseNode(p)
	}
	// Entries of Local and Remote that are simply their base entry were
	// counted; when all are, the walks for candidates are skipped.
	needL, needR := sum.own[sideL] < len(in.Local), sum.own[sideR] < len(in.Remote)
	walkL := func(ign *ignoreMemo) {
		candL = candidates(in, in.Local, left, sideL, ign, ownsL, func(l *Local) Kind { return l.Kind })
	}
	walkR := func(ign *ignoreMemo) {
		candR = candidates(in, in.Remote, left, sideR, ign, ownsR, func(rm *Remote) Kind { return rm.Kind })
	}
	if needL && needR && workers > 1 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			walkR(newIgnoreMemo(in.Ignored))
		}()
		walkL(r.ign)
		<-done
		return candL, candR
	}
	if needL {
		walkL(r.ign)
	}
	if needR {
		walkR(r.ign)
	}
	return candL, candR
}

// classifyWorkers is how many goroutines join base with the two trees: one
// below parallelThreshold entries, where starting them costs more than it
// saves; else up to the processors there are, at most 4.
func classifyWorkers(entries int) int {
	if entries < parallelThreshold {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), 4)
}

const parallelThreshold = 1 << 15

// joinBatch base entries are looked up in Local, then in Remote, one after
// the other: lookups that do not wait for each other let the CPU overlap
// their cache misses, which one entry at a time it hardly can.
const joinBatch = 32

// joined is a base entry with what Local and Remote hold at its path.
type joined struct {
	path     string
	b        Base
	l        Local
	rm       Remote
	lok, rok bool
}

// joinResult is what joining (part of) base with the two trees found.
type joinResult struct {
	own     [2]int   // entries of Local / Remote that are simply their base entry
	files   int      // base files
	changed []string // base paths that differ somewhere: they get nodes
	forgets []string // base paths newly ignored: forgotten
}

func (a *joinResult) add(b joinResult) {
	a.own[sideL] += b.own[sideL]
	a.own[sideR] += b.own[sideR]
	a.files += b.files
	a.changed = append(a.changed, b.changed...)
	a.forgets = append(a.forgets, b.forgets...)
}

// joinChunk is how many base entries a worker of joinParallel takes at once.
const joinChunk = 256

// joinParallel joins base with the two trees on workers goroutines (maps
// are safe to read concurrently): this goroutine walks base and hands out
// chunks of entries, the workers look them up. What they find is summed;
// the order it comes in does not matter (nodes are sorted later).
func (r *reconciler) joinParallel(left *buckets, workers int) joinResult {
	in := r.in
	type chunk struct {
		e [joinChunk]joined
		n int
	}
	free := make(chan *chunk, 2*workers)
	for range 2 * workers {
		free <- new(chunk)
	}
	jobs := make(chan *chunk, 2*workers)
	parts := make([]joinResult, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(res *joinResult) {
			defer wg.Done()
			ign := newIgnoreMemo(in.Ignored)
			for c := range jobs {
				for i := 0; i < c.n; i += joinBatch {
					joinBase(in, c.e[i:min(i+joinBatch, c.n)], left, ign, res)
				}
				free <- c
			}
		}(&parts[w])
	}
	c := <-free
	c.n = 0
	for p, b := range in.Base {
		c.e[c.n].path, c.e[c.n].b = p, b
		if c.n++; c.n == joinChunk {
			jobs <- c
			c = <-free
			c.n = 0
		}
	}
	if c.n > 0 {
		jobs <- c
	}
	close(jobs)
	wg.Wait()
	var sum joinResult
	for _, pt := range parts {
		sum.add(pt)
	}
	return sum
}

// joinBase looks a batch of base entries up in Local and Remote: it counts
// the entries each side holds as they are in base, takes them off their
// buckets, and notes the base entries that need a node (they differ
// somewhere) or are newly ignored. Safe to run on several goroutines at
// once, each with its own ign and res.
func joinBase(in *Input, batch []joined, left *buckets, ign *ignoreMemo, res *joinResult) {
	for i := range batch {
		j := &batch[i]
		j.l, j.lok = in.Local[j.path]
	}
	for i := range batch {
		j := &batch[i]
		j.rm, j.rok = in.Remote[j.path]
	}
	for i := range batch {
		j := &batch[i]
		b := &j.b
		if b.Kind == File {
			res.files++
		}
		lok, rok := j.lok && ownsL(&j.l, b), j.rok && ownsR(&j.rm, b)
		if lok || rok {
			c := left.of(j.path)
			if lok {
				res.own[sideL]++
				atomic.AddInt32(&c[sideL], -1)
			}
			if rok {
				res.own[sideR]++
				atomic.AddInt32(&c[sideR], -1)
			}
		}
		if ign.ignored(j.path, b.Kind) {
			if d := dirOf(j.path); d == "" || !ign.dirIgnored(d) {
				res.forgets = append(res.forgets, j.path)
			}
			continue
		}
		if lok && rok && unchanged(b, &j.l, &j.rm) {
			continue
		}
		res.changed = append(res.changed, j.path)
	}
}

// buckets counts, per hash bucket of paths and per side, the keys of that
// side's tree not (yet) matched by a base entry they are simply.
type buckets struct {
	seed maphash.Seed // only decides which keys are looked at again, never the result
	mask uint64
	n    [][2]int32
}

func newBuckets(keys int) *buckets {
	size := 64
	for size < keys/4 {
		size *= 2
	}
	return &buckets{seed: maphash.MakeSeed(), mask: uint64(size - 1), n: make([][2]int32, size)}
}

func (bk *buckets) index(p string) uint32 { return uint32(maphash.String(bk.seed, p) & bk.mask) }
func (bk *buckets) of(p string) *[2]int32 { return &bk.n[bk.index(p)] }

// candidates returns, sorted, the paths of tree (side s) that are not
// simply their base entry and not ignored. It touches only side s of the
// buckets: the two sides may be walked at once.
func candidates[E any](in *Input, tree map[string]E, left *buckets, s int, ign *ignoreMemo,
	owns func(*E, *Base) bool, kind func(*E) Kind) []string {
	// The keys in one walk's order and their buckets, so that the second
	// look needs neither a map walk nor hashing.
	keys, at := make([]string, 0, len(tree)), make([]uint32, 0, len(tree))
	for p := range tree {
		i := left.index(p)
		left.n[i][s]++
		keys, at = append(keys, p), append(at, i)
	}
	var out []string
	for j, p := range keys {
		if left.n[at[j]][s] == 0 {
			continue
		}
		e := tree[p]
		if b, ok := in.Base[p]; ok && owns(&e, &b) {
			continue
		}
		if ign.ignored(p, kind(&e)) {
			continue
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// baseNode returns the node of the base entry at p, creating it if needed.
func (r *reconciler) baseNode(p string) *node {
	if n := r.byBase[p]; n != nil {
		return n
	}
	b, ok := r.in.Base[p]
	if !ok {
		return nil
	}
	n := &node{kind: b.Kind, base: &b, bpath: p}
	r.byBase[p] = n
	r.nodes = append(r.nodes, n)
	if r.viewed {
		// Created late: an entry unchanged everywhere, needed as a parent.
		n.bparent = r.baseNode(dirOf(p))
		for s := range 2 {
			r.setView(n, s, p, false)
			r.linkParent(n, s)
		}
		r.mergeOne(n)
		n.state = live
	}
	return n
}

// renameTarget reports whether a new entry at q may be the new place of a
// renamed base entry without more ado: only where base has nothing (a base
// path stays its entry's unless that entry left, which avoids swap cycles).
func (r *reconciler) renameTarget(q string, _ Kind) bool {
	_, ok := r.in.Base[q]
	return !ok
}

type inoKey struct {
	dev, ino uint64
	kind     Kind
}

// renamedFrom reports whether the local file l, under the base file n's
// inode at another path, is that entry renamed. The inode alone does not
// say so: `git checkout` writes every changed file as a new one, and the
// kernel hands each the inode of a file it has just removed, so a
// rewritten tree is full of files under other paths' inodes, most of those
// paths rewritten too (measured: 978 of a 1,037-path checkout planned as
// moves, each followed by a replace, five requests or more per file beyond
// an upload, in chains of moves through one another's names). So l is the
// entry renamed when it holds the entry's content, or when nothing is left
// at the entry's path (a rename, maybe edited before the pass); a file
// under another's inode, while that path holds a file of its own, is a new
// file.
//
// A folder has no content to compare; what it holds says it: git makes a
// new folder under the inode of one it has just removed, elsewhere, and
// fills it with new files (measured: tens of folders a checkout, each then
// planned as a move with every old child deleted one by one, where one
// delete of the old folder does). So a folder under n's inode is n renamed
// when n held nothing, when it holds nothing, or when one of n's entries
// is in it: same inode, and the same name or (a file) the same content
// (see folderRenamed).
func renamedFrom(n *node, l Local, local map[string]Local) bool {
	if n.base.MD5 == "" || l.MD5 == "" || l.Size == n.base.Size && l.MD5 == n.base.MD5 {
		return true
	}
	_, taken := local[n.bpath]
	return !taken
}

// folderRenamed reports whether the local folder at q, under the base
// folder n's inode, holds what n held (see renamedFrom): n had no entries,
// q holds none (full is false: mv a b, then its entries moved out), or
// one of n's entries (kids) is in q under its own inode, with its name or
// its content. byIno finds an entry renamed on the way in.
func folderRenamed(n *node, q string, kids []*node, full bool, local map[string]Local, byIno map[inoKey]string) bool {
	if len(kids) == 0 || !full {
		return true
	}
	for _, c := range kids {
		if c.base.Ino == 0 {
			continue
		}
		if l, ok := local[joinPath(q, c.baseName())]; ok && l.Kind == c.kind && sameIno(&l, c.base) {
			return true
		}
		if p := byIno[inoKey{c.base.Dev, c.base.Ino, c.kind}]; p != "" && dirOf(p) == q {
			if l := local[p]; c.kind == Dir || l.Size == c.base.Size && l.MD5 == c.base.MD5 {
				return true
			}
		}
	}
	return false
}

type hashKey struct {
	md5  string
	size int64
}

// detectRenames matches base entries that left their path to new entries:
// locally by device and inode, then by a content hash unique on both ends;
// remotely by id. Matches are stored as the node's view path.
func (r *reconciler) detectRenames(candL, candR []string) {
	slices.SortFunc(r.nodes, func(a, b *node) int { return strings.Compare(a.bpath, b.bpath) })
	in := r.in
	matchedL := make(map[string]bool)
	matchedR := make(map[string]bool)
	detect := func(s int) bool { return !r.oneWay || s == r.sender }

	if detect(sideL) && len(candL) > 0 {
		key := func(l *Local) inoKey { return inoKey{l.Dev, l.Ino, l.Kind} }
		// A base path whose entry left (moved elsewhere, or its inode is
		// nowhere) may take a rename: a -> b then c -> a is two renames.
		// Swaps stay content changes: neither path is ever freed.
		freed := make(map[string]bool)
		candInos := make(map[inoKey]bool)
		for _, q := range candL {
			if l := in.Local[q]; l.Ino != 0 {
				candInos[key(&l)] = true
			}
		}
		inPlace := func(n *node) bool {
			l, ok := in.Local[n.bpath]
			return ok && l.Kind == n.kind && sameIno(&l, n.base)
		}
		for _, n := range r.nodes {
			if n.base.Ino != 0 && !inPlace(n) && !candInos[inoKey{n.base.Dev, n.base.Ino, n.kind}] {
				freed[n.bpath] = true
			}
		}
		allowed := func(q string, k Kind) bool { return r.renameTarget(q, k) || freed[q] }
		// The base entries of each folder, made on first need.
		// (by base path: bparent links come later, in assignViews).
		var children map[string][]*node
		kids := func(n *node) []*node {
			if children == nil {
				children = make(map[string][]*node)
				for _, c := range r.nodes {
					if c.base != nil {
						children[dirOf(c.bpath)] = append(children[dirOf(c.bpath)], c)
					}
				}
			}
			return children[n.bpath]
		}
		// The local folders that hold something, made on first need.
		var holding map[string]bool
		full := func(q string) bool {
			if holding == nil {
				holding = make(map[string]bool)
				for p := range in.Local {
					holding[dirOf(p)] = true
				}
			}
			return holding[q]
		}
		for progress := true; progress; {
			progress = false
			byIno := make(map[inoKey]string)
			for _, q := range candL {
				l := in.Local[q]
				if l.Ino == 0 || matchedL[q] || !allowed(q, l.Kind) {
					continue
				}
				if _, dup := byIno[key(&l)]; dup {
					byIno[key(&l)] = "" // hard links: ambiguous
					continue
				}
				byIno[key(&l)] = q
			}
			for _, n := range r.nodes {
				if n.v[sideL].present || n.base.Ino == 0 || inPlace(n) {
					continue
				}
				q := byIno[inoKey{n.base.Dev, n.base.Ino, n.kind}]
				if q == "" || matchedL[q] {
					continue
				}
				if n.kind == Dir && !folderRenamed(n, q, kids(n), full(q), in.Local, byIno) || n.kind != Dir && !renamedFrom(n, in.Local[q], in.Local) {
					continue
				}
				matchedL[q] = true
				n.v[sideL].path, n.v[sideL].present = q, true
				freed[n.bpath] = true
				progress = true
			}
		}
		var goneFiles []*node
		for _, n := range r.nodes {
			if _, ok := in.Local[n.bpath]; !ok && !n.v[sideL].present && n.kind == File && n.base.Size > 0 {
				goneFiles = append(goneFiles, n)
			}
		}
		if len(goneFiles) > 0 {
			type hit struct {
				n     int
				path  string
				count int
			}
			hits := make(map[hashKey]*hit)
			for _, n := range goneFiles {
				k := hashKey{n.base.MD5, n.base.Size}
				h := hits[k]
				if h == nil {
					h = &hit{}
					hits[k] = h
				}
				h.n++
			}
			for _, q := range candL {
				l := in.Local[q]
				if l.Kind != File || l.Size == 0 || matchedL[q] || !allowed(q, File) {
					continue
				}
				if h := hits[hashKey{l.MD5, l.Size}]; h != nil {
					h.count++
					h.path = q
				}
			}
			for _, n := range goneFiles {
				h := hits[hashKey{n.base.MD5, n.base.Size}]
				if h.n == 1 && h.count == 1 {
					matchedL[h.path] = true
					n.v[sideL].path, n.v[sideL].present = h.path, true
				}
			}
		}
	}
	if detect(sideR) && len(candR) > 0 {
		// Remote ids name an entry with its kind: files and folders are
		// numbered apart (api.md 25), so a folder may share a file's id.
		type kindID struct {
			kind Kind
			id   string
		}
		freed := make(map[string]bool)
		candIDs := make(map[kindID]bool)
		for _, q := range candR {
			candIDs[kindID{in.Remote[q].Kind, in.Remote[q].ID}] = true
		}
		inPlace := func(n *node) bool {
			rm, ok := in.Remote[n.bpath]
			return ok && rm.Kind == n.kind && rm.ID == n.base.RemoteID
		}
		for _, n := range r.nodes {
			if !inPlace(n) && !candIDs[kindID{n.kind, n.base.RemoteID}] {
				freed[n.bpath] = true
			}
		}
		allowed := func(q string, k Kind) bool { return r.renameTarget(q, k) || freed[q] }
		for progress := true; progress; {
			progress = false
			byID := make(map[kindID]string)
			for _, q := range candR {
				if rm := in.Remote[q]; rm.ID != "" && !matchedR[q] && allowed(q, rm.Kind) {
					byID[kindID{rm.Kind, rm.ID}] = q
				}
			}
			for _, n := range r.nodes {
				if n.v[sideR].present || inPlace(n) {
					continue
				}
				if q, ok := byID[kindID{n.kind, n.base.RemoteID}]; ok && !matchedR[q] {
					matchedR[q] = true
					n.v[sideR].path, n.v[sideR].present = q, true
					freed[n.bpath] = true
					progress = true
				}
			}
		}
	}
	if r.oneWay {
		r.receiverFollowed(candL, candR, matchedL, matchedR)
	}
}

// receiverFollowed binds, on a one-way pair, a receiver-side entry to the
// base entry it is when it sits exactly where the sender moved that entry,
// with the base entry's identity (inode, remote id): the receiver followed
// the sender's move (syncd's own move there, whose commit a crash lost, or
// its user's identical rename). Receiver-side renames are otherwise not
// detected, and the entry would read as the receiver's own new file in the
// way of the sender's: a conflict copy nobody made (TestSimOneWay seed
// 810057).
func (r *reconciler) receiverFollowed(candL, candR []string, matchedL, matchedR map[string]bool) {
	s := r.receiver
	cand, matched := candL, matchedL
	if s == sideR {
		cand, matched = candR, matchedR
	}
	at := make(map[string]bool, len(cand))
	for _, q := range cand {
		if !matched[q] {
			at[q] = true
		}
	}
	if len(at) == 0 {
		return
	}
	for _, n := range r.nodes {
		sv := n.v[r.sender]
		if n.v[s].present || !sv.present || sv.path == n.bpath || !at[sv.path] {
			continue
		}
		q := sv.path
		if s == sideL {
			l := r.in.Local[q]
			if l.Kind != n.kind || l.Ino == 0 || !sameIno(&l, n.base) {
				continue
			}
		} else {
			rm := r.in.Remote[q]
			if rm.Kind != n.kind || rm.ID != n.base.RemoteID {
				continue
			}
		}
		if _, ok := r.in.Local[n.bpath]; s == sideL && ok {
			continue // the base path still holds an entry there
		}
		if _, ok := r.in.Remote[n.bpath]; s == sideR && ok {
			continue
		}
		matched[q], at[q] = true, false
		n.v[s].path, n.v[s].present = q, true
	}
}

// setView fills the view of n on side s from the entry at path.
func (r *reconciler) setView(n *node, s int, path string, phantom bool) {
	v := &n.v[s]
	v.present, v.phantom, v.path = true, phantom, path
	_, v.name = splitPath(path)
	b := n.base
	if s == sideL {
		var l Local
		if phantom {
			l = Local{Kind: b.Kind, Name: b.LocalName, Size: b.Size, MtimeNs: b.MtimeNs, Dev: b.Dev, Ino: b.Ino, MD5: b.MD5}
		} else {
			l = r.in.Local[path]
		}
		v.loc = &l
		v.md5 = l.MD5
		// A folder under another inode is another folder, as a remote one
		// under another id is (below): one the user made anew where the
		// base one was. The two sides judge it alike, so a delete on the
		// other side does not take it (TestPropertySwapSidesMirrorsPlan).
		v.mod = b == nil || (n.kind == File && l.MD5 != b.MD5) ||
			(n.kind == Dir && !phantom && l.Ino != 0 && b.Ino != 0 && !sameIno(&l, b))
	} else {
		var rm Remote
		if phantom {
			rm = Remote{Kind: b.Kind, Name: b.RemoteName, ID: b.RemoteID, ParentID: b.RemoteParentID, Size: b.Size, MD5: b.MD5}
		} else {
			rm = r.in.Remote[path]
		}
		v.rem = &rm
		v.md5 = rm.MD5
		if v.md5 == "" && b != nil && rm.ID == b.RemoteID {
			v.md5 = b.MD5
		}
		// A folder under another id is another folder: one made anew (by
		// the remote user, or by an earlier pass whose commit was lost)
		// where the base one was trashed. It is a change, so a delete on
		// the other side does not take it.
		v.mod = b == nil || (n.kind == File && rm.ID != b.RemoteID && v.md5 != b.MD5) ||
			(n.kind == Dir && rm.ID != b.RemoteID)
	}
	r.at[s][path] = n
}

// assignViews places every base node on each side and makes nodes for the
// new entries, merging a new local and a new remote entry of the same kind
// at the same path into one node.
func (r *reconciler) assignViews(candL, candR []string) {
	in := r.in
	for _, n := range r.nodes {
		for s := range 2 {
			if n.v[s].present {
				r.setView(n, s, n.v[s].path, false)
			}
		}
	}
	for _, n := range r.nodes {
		for s := range 2 {
			if n.v[s].present {
				continue
			}
			// An entry of the same kind at the base path is a new version
			// of this one; remotely, unless its folder there is another
			// folder (the old one trashed or moved away and a new one put
			// in its place): its parent id says so.
			var ok bool
			if s == sideL {
				var l Local
				l, ok = in.Local[n.bpath]
				ok = ok && l.Kind == n.kind
			} else {
				var rm Remote
				rm, ok = in.Remote[n.bpath]
				ok = ok && rm.Kind == n.kind && (rm.ID == n.base.RemoteID ||
					rm.ParentID == "" || n.base.RemoteParentID == "" || rm.ParentID == n.base.RemoteParentID ||
					r.sameRemoteParent(n.bpath))
			}
			if ok && r.at[s][n.bpath] == nil {
				r.setView(n, s, n.bpath, false)
			}
		}
	}
	// A path a base node kept is its own; set after matches so a
	// match never steals it (targets are never same-kind base paths).
	for _, n := range r.nodes {
		for s := range 2 {
			if !n.v[s].present && underSet(n.bpath, r.unknown[s]) {
				r.setView(n, s, n.bpath, true)
			}
		}
	}
	newL := make(map[string]*node)
	for _, q := range candL {
		if r.at[sideL][q] != nil {
			continue
		}
		if in.Local[q].Kind == Dir && r.joinsGoneDir(q, sideL) {
			continue
		}
		n := &node{kind: in.Local[q].Kind}
		r.setView(n, sideL, q, false)
		newL[q] = n
		r.nodes = append(r.nodes, n)
	}
	for _, q := range candR {
		if r.at[sideR][q] != nil {
			continue
		}
		k := in.Remote[q].Kind
		if k == Dir && newL[q] == nil && r.joinsGoneDir(q, sideR) {
			continue
		}
		n := newL[q]
		if n == nil || n.kind != k {
			n = &node{kind: k}
			r.nodes = append(r.nodes, n)
		}
		r.setView(n, sideR, q, false)
	}
	r.viewed = true
	for i := 0; i < len(r.nodes); i++ { // grows as parents are made
		n := r.nodes[i]
		if n.base != nil && n.bparent == nil {
			n.bparent = r.baseNode(dirOf(n.bpath))
		}
		for s := range 2 {
			r.linkParent(n, s)
		}
	}
}

// joinsGoneDir gives a new folder at q on side s to the base folder the
// other side has at q, when side s no longer has that base folder anywhere:
// side s is to get a folder at q anyway (the other side moved its folder
// there, side s deleted or lost it), and a folder has no content to
// disagree on, so the one already there is it. The case of a pass that
// made the folder and died before its commit (the other side's move of a
// folder side s deleted: TestSim seed 800103); left as two entries for one
// path, the new folder became a conflict copy nobody made.
func (r *reconciler) joinsGoneDir(q string, s int) bool {
	n := r.at[1-s][q]
	if n == nil || n.base == nil || n.kind != Dir || n.v[s].present {
		return false
	}
	r.setView(n, s, q, false)
	return true
}

// sameRemoteParent reports whether the remote folder holding path is the
// base folder above it, though the base entry at path names another parent
// id: that base folder took a new id (re-created after a crash, say) and
// its children's entries still name the old one. It relies on parents
// getting their views before their children.
func (r *reconciler) sameRemoteParent(p string) bool {
	d := dirOf(p)
	if d == "" {
		return false
	}
	if pn := r.byBase[d]; pn != nil {
		return pn.v[sideR].present && !pn.v[sideR].phantom && pn.v[sideR].path == d
	}
	// The base folder is unchanged everywhere, so it is the remote folder
	// at d.
	_, ok := r.in.Base[d]
	return ok
}

// linkParent sets the parent node of n's view on side s.
func (r *reconciler) linkParent(n *node, s int) {
	v := &n.v[s]
	if !v.present {
		return
	}
	if v.phantom {
		v.parent = n.bparent
		return
	}
	d := dirOf(v.path)
	if d == "" {
		return
	}
	if p := r.at[s][d]; p != nil {
		v.parent = p
		return
	}
	v.parent = r.baseNode(d)
}
