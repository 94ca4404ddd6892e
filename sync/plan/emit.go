package plan

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// pop is an op under construction: dependencies are pointers until the
// final order gives them indexes.
type pop struct {
	op    Op
	n     *node
	side  int  // side the op acts on (both for Record/Forget)
	from  bool // From is the node's current place on side, computed late
	occ   bool // creates op.Path on side: wait for whatever is there to leave
	ready [2]bool
	// pre: a move into a folder that itself moves onto this entry's place,
	// so it goes first, into the folder's current place; carrier is that
	// folder's move, which brings it to its final place.
	pre     bool
	carrier *pop
	// split: this move goes from a temporary name (set by an earlier
	// move of the same node) to its final place.
	split   bool
	aside   *pop // the first step of a split move
	asideOf *pop // on a first step: the move it was split from
	leave   int  // on a first step: how it leaves moving folders (see curFrom)
	static  []*pop
	fnode   *node // Forget: the node whose base entries it drops
	deps    []*pop
	phase   int
	drop    bool
	idx     int
	users   []*pop
	indeg   int
}

const (
	phaseForget = iota
	phaseConflict
	phaseMove
	phaseMkdir
	phaseTransfer
	phaseDelete
	phaseRecord
)

// The per-side op kinds, by side index (sideL, sideR).
func moveKind(s int) OpKind     { return [2]OpKind{MoveLocal, MoveRemote}[s] }
func mkdirKind(s int) OpKind    { return [2]OpKind{MkdirLocal, MkdirRemote}[s] }
func deleteKind(s int) OpKind   { return [2]OpKind{DeleteLocal, DeleteRemote}[s] }
func conflictKind(s int) OpKind { return [2]OpKind{ConflictLocal, ConflictRemote}[s] }

func (r *reconciler) add(p *pop) *pop {
	r.pops = append(r.pops, p)
	if p.n != nil {
		p.n.ops = append(p.n.ops, p)
	}
	return p
}

// premises fills an op's Local and Remote from the node's views.
func premises(op *Op, n *node) {
	if v := &n.v[sideL]; v.present {
		op.Local = v.loc
	}
	if v := &n.v[sideR]; v.present {
		op.Remote = v.rem
	}
}

func (r *reconciler) canOp(s int) bool { return !r.oneWay || s == r.receiver }

// emit turns the decided nodes into ops.
func (r *reconciler) emit() {
	var liveNodes, deadNodes []*node
	for _, n := range r.nodes {
		switch n.state {
		case live:
			liveNodes = append(liveNodes, n)
		case dead, kept:
			deadNodes = append(deadNodes, n)
		}
	}
	slices.SortFunc(liveNodes, func(a, b *node) int { return strings.Compare(a.final, b.final) })
	for _, n := range liveNodes {
		r.emitLive(n)
	}
	for _, p := range r.forgetIgn {
		r.add(&pop{op: Op{Kind: Forget, Path: p, Entry: r.in.Base[p].Kind, Reason: "now ignored"}, phase: phaseForget, side: -1})
	}
	r.emitGone(deadNodes)
	// A forget drops the base entries below it too, and a new entry at a
	// base path overwrites that base entry: both wait for every op on the
	// old entry and those below it, so a failed delete keeps the base that
	// explains it (else the next pass would see a new entry and bring it
	// back).
	r.subtreeOps = make(map[*node][]*pop)
	r.deadOps = make(map[*node][]*pop)
	for _, m := range r.nodes {
		if m.base == nil {
			continue
		}
		deps := append(nonNil(m.gone[0], m.gone[1]), m.ops...)
		if len(deps) == 0 {
			continue
		}
		r.subtreeOps[m] = append(r.subtreeOps[m], deps...)
		for a := m.bparent; a != nil; a = a.bparent {
			r.subtreeOps[a] = append(r.subtreeOps[a], deps...)
			if m.state != live {
				r.deadOps[a] = append(r.deadOps[a], deps...)
			}
		}
	}
	for _, m := range r.nodes {
		if m.forget != nil {
			m.forget.deps = append(m.forget.deps, r.subtreeOps[m]...)
		}
	}
	for _, p := range r.pops {
		p.static = slices.Clone(p.deps)
	}
	// Dependencies follow from places; where they still form a cycle, one
	// move of it steps aside to a temporary name at the root first, which
	// needs nothing, and the links are made again.
	for range 16 {
		r.linkDeps()
		m := stuckMove(r.pops)
		if m == nil {
			break
		}
		r.stepAside(m, "", true)
	}
}

// stuckMove returns the first move (in op order) caught in a dependency
// cycle that can still be split, or nil.
func stuckMove(pops []*pop) *pop {
	indeg := make(map[*pop]int, len(pops))
	users := make(map[*pop][]*pop)
	for _, p := range pops {
		for _, d := range p.deps {
			if d == p {
				continue
			}
			indeg[p]++
			users[d] = append(users[d], p)
		}
	}
	var queue []*pop
	for _, p := range pops {
		if indeg[p] == 0 {
			queue = append(queue, p)
		}
	}
	done := 0
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		done++
		for _, u := range users[p] {
			if indeg[u]--; indeg[u] == 0 {
				queue = append(queue, u)
			}
		}
	}
	if done == len(pops) {
		return nil
	}
	var best *pop
	for _, p := range pops {
		k := p.op.Kind
		if indeg[p] == 0 || p.split || p.asideOf != nil || (k != MoveLocal && k != MoveRemote) {
			continue
		}
		if best == nil || p.op.Path < best.op.Path || p.op.Path == best.op.Path && p.side < best.side {
			best = p
		}
	}
	return best
}

func (r *reconciler) emitLive(n *node) {
	f := n.final
	l, rm := &n.v[sideL], &n.v[sideR]
	// Content: which way the file's bytes must travel.
	from := -1 // side whose content goes to the other
	loser := -1
	record := false
	if n.kind == File {
		switch {
		case l.present && rm.present:
			lm, rmod := l.mod, rm.mod
			switch {
			case !lm && !rmod:
			case lm && !rmod:
				from = sideL
			case !lm && rmod:
				from = sideR
			case rm.md5 == "":
				// Reported where the remote file is, so the engine knows
				// which one to hash; nothing is planned at either place.
				r.problem(rm.path, RemoteSide, RemoteNotHashed)
				r.frozen[f], r.frozen[l.path] = true, true
				return
			case rm.md5 == l.md5:
				record = true
			default:
				if r.oneWay && r.in.Mirror {
					from = r.sender
				} else {
					loser = 1 - r.winner
					from = r.winner
				}
			}
			if r.oneWay && from == r.receiver {
				from = -1
				if r.in.Mirror {
					from = r.sender
				}
			}
		case l.present:
			from = sideL
		case rm.present:
			from = sideR
		}
		if r.oneWay && from == r.receiver {
			from = -1
		}
	}

	// Structure on each side: move it into place, or create the folder.
	for s := range 2 {
		v := &n.v[s]
		if !r.canOp(s) || s == loser {
			continue
		}
		switch {
		case v.present && (v.parent != n.parent || v.name != n.name):
			op := Op{Kind: moveKind(s), Path: f, Entry: n.kind, Reason: "moved on the " + sideName(1-s) + " side"}
			premises(&op, n)
			p := r.add(&pop{op: op, n: n, side: s, from: true, occ: true, phase: phaseMove})
			p.ready[s] = true
			n.sop[s], n.gone[s], n.moveOp[s] = p, p, p
			r.moveDest[s][f] = n
		case !v.present && n.kind == Dir:
			op := Op{Kind: mkdirKind(s), Path: f, Entry: Dir, Reason: "new folder"}
			if n.base != nil {
				op.Reason = "folder needed by entries kept inside it"
			}
			premises(&op, n)
			p := r.add(&pop{op: op, n: n, side: s, occ: true, phase: phaseMkdir})
			// Its base entry is written from both sides: the other side's
			// folder must be in place too.
			p.ready = [2]bool{true, true}
			n.sop[s] = p
		}
	}

	for s := range 2 {
		if p := n.sop[s]; p != nil && p.op.Kind == mkdirKind(s) {
			p.deps = append(p.deps, nonNil(n.moveOp[1-s])...)
		}
	}

	if loser >= 0 {
		cp := r.conflictName(f)
		r.conflicts = append(r.conflicts, Conflict{Path: f, Copy: cp, Reason: "changed on both sides: both versions kept"})
		op := Op{Kind: conflictKind(loser), Path: cp, Entry: File, Reason: "changed on both sides"}
		premises(&op, n)
		c := r.add(&pop{op: op, n: n, side: loser, from: true, phase: phaseConflict})
		c.ready[loser] = true
		n.gone[loser] = c
		if !r.oneWay {
			// The copy goes to the winner side too.
			t := r.transfer(n, loser, cp, false, "conflict copy")
			t.deps = append(t.deps, c)
		}
		t := r.transfer(n, r.winner, f, false, "changed on both sides")
		t.deps = append(t.deps, c)
		n.sop[loser] = t
		return
	}
	moved := n.base != nil && (n.parent != n.bparent || n.name != n.baseName())
	consistent := false
	if moved {
		for s := range 2 {
			v := &n.v[s]
			if n.moveOp[s] != nil && v.present && v.parent == n.bparent && v.name == n.baseName() {
				consistent = true
			}
		}
	}
	// The engine keys base by path and relocates it only with a move op
	// from the base path: an entry whose base no such move carries gets a
	// Record at its new path (and the old entry is forgotten above it).
	n.rekey = moved && !consistent || !moved && n.base != nil && n.parent != nil && n.parent.rekey
	if from >= 0 {
		to := 1 - from
		over := n.v[to].present
		reason := "changed on the " + sideName(from) + " side"
		switch {
		case !over && n.base == nil:
			reason = "new on the " + sideName(from) + " side"
		case !over:
			reason = "deleted on the " + sideName(to) + " side but changed or needed"
			if !n.changedOn(from) {
				reason = "deleted on the " + sideName(to) + " side: restored"
			}
		}
		t := r.transfer(n, from, f, over, reason)
		if !over {
			n.sop[to] = t
		}
		if moved && !consistent {
			r.forgetOld(n, t)
		}
		return
	}
	if !l.present || !rm.present {
		if moved && !consistent {
			r.forgetOld(n, n.sop[0], n.sop[1])
		}
		return
	}
	// A one-way pair leaves a receiver-side change alone: the base keeps
	// the last agreed content, so that change is never overwritten unseen.
	same := n.kind == Dir || record || !l.mod && !rm.mod
	if record || same && (r.needsRecord(n, moved) || n.rekey) {
		reason := "same on both sides"
		if n.base != nil && !record {
			reason = "refresh the synced state"
		}
		op := Op{Kind: Record, Path: f, Entry: n.kind, Reason: reason}
		premises(&op, n)
		r.afterMoves(&op, n)
		p := r.add(&pop{op: op, n: n, side: -1, phase: phaseRecord})
		p.ready = [2]bool{true, true}
		p.deps = append(p.deps, nonNil(n.sop[0], n.sop[1])...)
		if moved && !consistent {
			r.forgetOld(n, p)
		}
	}
}

// afterMoves gives a Record's premises the names (and remote parent) the
// entry has once this plan's moves of it are done: the base is written from
// the entry as both sides then hold it.
func (r *reconciler) afterMoves(op *Op, n *node) {
	if op.Local != nil && n.moveOp[sideL] != nil {
		l := *op.Local
		l.Name = n.name
		op.Local = &l
	}
	if op.Remote != nil && n.moveOp[sideR] != nil {
		rm := *op.Remote
		rm.Name = n.name
		rm.ParentID = ""
		if p := n.parent; p == nil {
			rm.ParentID = r.rootID()
		} else if p.v[sideR].present && p.v[sideR].rem != nil {
			rm.ParentID = p.v[sideR].rem.ID
		}
		op.Remote = &rm
	}
}

// rootID is the remote id of the pair's root folder as the listing shows it
// (the parent id of a top-level entry), or "" when nothing tells.
func (r *reconciler) rootID() string {
	for _, n := range r.nodes {
		if v := &n.v[sideR]; v.present && v.rem != nil && !strings.Contains(v.path, "/") {
			return v.rem.ParentID
		}
	}
	return ""
}

func nonNil(ps ...*pop) []*pop {
	var out []*pop
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// forgetOld drops the base entry left at the node's old path when no move
// op will carry it to the new one; after the node's ops, and never when a
// final path lies at or below it (that entry may be written this pass).
func (r *reconciler) forgetOld(n *node, after ...*pop) {
	p := r.add(&pop{op: Op{Kind: Forget, Path: n.bpath, Entry: n.kind, Reason: "synced state moved to " + n.final}, side: -1, phase: phaseRecord, fnode: n})
	p.deps = append(p.deps, nonNil(after...)...)
	n.forget = p
	r.rekeyForgets = append(r.rekeyForgets, p)
}

// writesBase reports whether op writes a base entry at its Path.
func writesBase(k OpKind) bool {
	switch k {
	case MkdirLocal, MkdirRemote, Upload, Download, Replace, Record, MoveLocal, MoveRemote:
		return true
	}
	return false
}

// orderRekeyForgets makes every op that writes a base entry at or below
// the old path of a re-recorded entry (a new folder where a moved one was)
// wait for the forget of that old path, which would otherwise drop it.
// When the forget itself must wait for such an op (it is one the moved
// entry's ops need), the forget is left out: a later pass forgets what is
// still stale.
func (r *reconciler) orderRekeyForgets() {
	for _, f := range r.rekeyForgets {
		var later []*pop
		for _, q := range r.pops {
			if q == f || q.n == f.fnode || !writesBase(q.op.Kind) || !isUnder(q.op.Path, f.op.Path) {
				continue
			}
			if reaches(f, q) {
				f.drop = true
				break
			}
			later = append(later, q)
		}
		if f.drop {
			continue
		}
		for _, q := range later {
			q.deps = append(q.deps, f)
		}
	}
}

// reaches reports whether op a depends on op b, directly or not.
func reaches(a, b *pop) bool {
	seen := map[*pop]bool{}
	stack := []*pop{a}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range p.deps {
			if d == b {
				return true
			}
			if !seen[d] {
				seen[d] = true
				stack = append(stack, d)
			}
		}
	}
	return false
}

// needsRecord reports whether a node present alike on both sides has a
// stale base entry: never synced, stat or identity changed without a
// content change, or names changed in place.
func (r *reconciler) needsRecord(n *node, moved bool) bool {
	b := n.base
	if b == nil {
		return true
	}
	l, rm := n.v[sideL].loc, n.v[sideR].rem
	if n.v[sideL].phantom || n.v[sideR].phantom {
		return false
	}
	if rm.ID != b.RemoteID {
		return true
	}
	if l.Dev != b.Dev || l.Ino != b.Ino {
		return true
	}
	if n.kind == File && (l.Size != b.Size || l.MtimeNs != b.MtimeNs) {
		return true
	}
	if moved {
		return false // the moves write names and parents
	}
	return l.Name != b.LocalName || rm.Name != b.RemoteName || rm.ParentID != b.RemoteParentID
}

// transfer plans the copy of n's content from side src to path on the other
// side; over says a version there is replaced.
func (r *reconciler) transfer(n *node, src int, path string, over bool, reason string) *pop {
	dst := 1 - src
	var op Op
	switch {
	case dst == sideR && over:
		op = Op{Kind: Replace}
	case dst == sideR:
		op = Op{Kind: Upload}
	default:
		op = Op{Kind: Download}
	}
	op.Path, op.Entry, op.Reason = path, File, reason
	premises(&op, n)
	if !over {
		if dst == sideR {
			op.Remote = nil
		} else {
			op.Local = nil
		}
	}
	if op.Kind == Replace {
		// The replace runs after this plan's moves of the entry (it depends
		// on them) and re-reads the remote file before trashing it: its
		// premise is the file as those moves leave it, not as listed. A
		// local rename recognised by inode (a file edited and renamed, or
		// a new file that took a deleted one's inode, as a `git checkout`
		// makes by the hundred) is a remote move then a replace: with the
		// listed name the replace took its own pass's move for another
		// client's rename and was skipped (issue 13).
		r.afterMoves(&op, n)
	}
	p := r.add(&pop{op: op, n: n, side: dst, occ: !over, phase: phaseTransfer})
	p.ready = [2]bool{true, true}
	p.deps = append(p.deps, nonNil(n.moveOp[0], n.moveOp[1])...)
	return p
}

// emitGone plans deletes (one per topmost dead entry on a side) and forgets.
func (r *reconciler) emitGone(nodes []*node) {
	for s := range 2 {
		slices.SortFunc(nodes, func(a, b *node) int { return strings.Compare(a.v[s].path, b.v[s].path) })
		for _, n := range nodes {
			v := &n.v[s]
			if !v.present || !r.canOp(s) {
				continue
			}
			if n.state == kept {
				if n.copyName != "" && s == r.receiver {
					op := Op{Kind: conflictKind(s), Path: n.copyName, Entry: n.kind, Reason: "left alone, but in the way"}
					premises(&op, n)
					p := r.add(&pop{op: op, n: n, side: s, from: true, phase: phaseConflict})
					n.gone[s], n.moveOp[s] = p, p
					n.final = n.copyName // entries below are now there
				}
				continue
			}
			if p := v.parent; p != nil && p.state == dead && p.v[s].present {
				n.gone[s] = p.gone[s]
				if !statChanged(n, s) {
					continue
				}
				// Touched but not changed: the executor checks a folder's
				// subtree against base stats, so this file goes first on
				// its own, with its current stat as premise.
				op := Op{Kind: deleteKind(s), Path: v.path, Entry: n.kind, Reason: "deleted on the " + sideName(1-s) + " side (touched here)"}
				premises(&op, n)
				own := r.add(&pop{op: op, n: n, side: s, from: true, phase: phaseDelete})
				if g := p.gone[s]; g != nil {
					g.static = append(g.static, own)
					g.deps = append(g.deps, own)
				}
				n.gone[s] = own
				continue
			}
			reason := "deleted on the " + sideName(1-s) + " side"
			if n.base == nil {
				reason = "not on the " + sideName(1-s) + " side (mirror)"
			}
			op := Op{Kind: deleteKind(s), Path: v.path, Entry: n.kind, Reason: reason}
			premises(&op, n)
			p := r.add(&pop{op: op, n: n, side: s, from: true, phase: phaseDelete})
			n.gone[s] = p
		}
	}
	slices.SortFunc(nodes, func(a, b *node) int { return strings.Compare(a.bpath, b.bpath) })
	for _, n := range nodes {
		if n.base == nil || n.v[sideL].present && n.state == dead || n.v[sideR].present && n.state == dead {
			continue
		}
		if n.state == dead {
			if bp := n.bparent; bp != nil && bp.state == dead {
				continue
			}
			n.forget = r.add(&pop{op: Op{Kind: Forget, Path: n.bpath, Entry: n.kind, Reason: "deleted on both sides"}, side: -1, phase: phaseForget, fnode: n})
			continue
		}
		// kept: untracked from now on
		if bp := n.bparent; bp != nil && bp.state == kept {
			continue
		}
		p := r.add(&pop{op: Op{Kind: Forget, Path: n.bpath, Entry: n.kind, Reason: "changed on the " + sideName(r.receiver) + " side only: left alone"}, side: -1, phase: phaseRecord, fnode: n})
		p.deps = nonNil(n.gone[r.receiver])
		n.forget = p
	}
}

// statChanged reports whether a local file differs from its base entry in
// size, mtime or identity (its content being the same: a touch).
func statChanged(n *node, s int) bool {
	if s != sideL || n.kind != File || n.base == nil || n.v[sideL].loc == nil {
		return false
	}
	l, b := n.v[sideL].loc, n.base
	return l.Size != b.Size || l.MtimeNs != b.MtimeNs || l.Ino != b.Ino || l.Dev != b.Dev
}

// cur returns where n is on side s when its op runs. A folder above it
// that moves first carries it: n's place is then below that folder's
// final place. An entry that leaves the moving folder's subtree and that
// the folder's move needs first (see mustLeave) goes first instead, from
// where it is: that folder's move is returned among waiters, which must
// wait for n's op.
func (r *reconciler) cur(n *node, s int) (path string, dep *pop, waiters []*pop) {
	return r.curFrom(n, s, leaveNeeded)
}

// How an op leaves the moving folders above its entry (curFrom).
const (
	leaveNeeded   = iota // only where the folder's move needs it first
	leaveUnneeded        // every folder it does not end up in
	leaveAll             // every folder: it runs before any of them moves
)

// curFrom is cur with a choice of which moving folders n leaves first.
func (r *reconciler) curFrom(n *node, s int, mode int) (path string, dep *pop, waiters []*pop) {
	v := &n.v[s]
	for a := v.parent; a != nil; a = a.v[s].parent {
		m := a.moveOp[s]
		if m == nil {
			continue
		}
		if mode == leaveAll || n.state == live && !isUnder(n.final, a.final) && (mode == leaveUnneeded || mustLeave(n, a, s)) {
			waiters = append(waiters, m)
			continue
		}
		av := a.v[s].path
		if !isUnder(v.path, av) {
			break
		}
		return a.final + v.path[len(av):], m, waiters
	}
	return v.path, nil, waiters
}

// mustLeave reports whether n has to leave the moving folder a before a
// moves: a's destination folder is n, or is inside n (a/b/a -> c, a/b ->
// d, a -> c/a: c and a/b go first).
func mustLeave(n, a *node, s int) bool {
	for x := a.parent; x != nil; x = x.parent {
		if x.sop[s] != nil {
			return x.v[s].present && isUnder(x.v[s].path, n.v[s].path)
		}
	}
	return false
}

func waitFor(waiters []*pop, p *pop) {
	for _, w := range waiters {
		w.deps = append(w.deps, p)
		if w.aside != nil && w.aside != p {
			w.aside.deps = append(w.aside.deps, p) // the folder leaves with its first step
		}
	}
}

// settleBase makes p, which writes, moves or drops the base entries at
// path, wait until another entry's base there has been dealt with: the
// engine keys base by path, so they would be overwritten or carried along.
func (r *reconciler) settleBase(p *pop, path string) {
	x := r.byBase[path]
	if x == nil || x == p.n {
		return
	}
	// A live entry that loses its base is seen anew and kept; only deleted
	// entries need their base until the delete is done.
	ops := r.deadOps[x]
	if x.state != live {
		ops = append(append(nonNil(x.gone[0], x.gone[1]), x.ops...), ops...)
	}
	for _, d := range ops {
		if d != p && !slices.Contains(p.n.ops, d) && !inside(d, p.n, p.side) {
			p.deps = append(p.deps, d)
		}
	}
}

// inside reports whether op d acts on side s below node a (a move of a
// carries it: it runs after that move, not before).
func inside(d *pop, a *node, s int) bool {
	if d.side != s || d.n == nil {
		return false
	}
	for c := d.n.v[s].parent; c != nil; c = c.v[s].parent {
		if c == a {
			return true
		}
	}
	return false
}

// breakOccupancy handles the two ways a creation at p.op.Path could wait
// for itself: the entry there must move below the new path (a file "a"
// becoming "a/a" under a new folder "a"), or the entry to move there sits
// inside the folder that must leave that path (a/b -> a, folder a deleted).
// The moving entry first steps aside to a unique temporary name.
func (r *reconciler) breakOccupancy(p *pop) {
	s, f := p.side, p.op.Path
	if o := r.at[s][f]; o != nil && o != p.n {
		if m := o.moveOp[s]; m != nil && !m.split && !m.pre && o.state == live && o.final != f && isUnder(o.final, f) {
			r.stepAside(m, f, false)
		}
	}
	if (p.op.Kind == MoveLocal || p.op.Kind == MoveRemote) && !p.split {
		for a := p.n.v[s].parent; a != nil; a = a.v[s].parent {
			if a.v[s].path == f && a.gone[s] != nil && a.gone[s].op.Kind == deleteKind(s) {
				r.stepAside(p, f, false)
				break
			}
		}
	}
}

// stepAside turns move m into two: to a temporary name outside blocked
// (in the nearest folder above the entry that is not at or below it; at
// the root when anywhere), then from there to the final place.
func (r *reconciler) stepAside(m *pop, blocked string, anywhere bool) {
	s, n := m.side, m.n
	mode := leaveUnneeded
	if anywhere {
		mode = leaveAll
	}
	from, _, _ := r.curFrom(n, s, mode)
	d := dirOf(from)
	for d != "" && (anywhere || isUnder(d, blocked)) {
		d = dirOf(d)
	}
	tmp := r.conflictName(joinPath(d, n.name))
	op := m.op
	op.From, op.Path, op.Reason = from, tmp, "step aside: "+m.op.Reason
	first := r.add(&pop{op: op, n: n, side: s, phase: phaseMove, from: true, asideOf: m, leave: mode})
	m.split, m.aside = true, first
	m.pre, m.carrier = false, nil // from the temporary name, straight to its place
	m.op.Path = n.final
	m.op.From = tmp // also set by linkDeps; here for a split made mid-way
	m.deps = append(m.deps, first)
	n.gone[s] = first
}

// carried lists a move and the moves of the folders that carry it on to
// its final place.
func carried(m *pop) []*pop {
	var out []*pop
	for ; m != nil; m = m.carrier {
		out = append(out, m)
	}
	return out
}

// vacate returns the op that takes away whatever is on side s at path p
// when a new entry for n is put there.
func (r *reconciler) vacate(s int, p string, n *node) []*pop {
	var out []*pop
	leave := func(o *node) {
		if o == nil || o == n {
			return
		}
		for c := o; c != nil; c = c.v[s].parent {
			if c.gone[s] != nil {
				out = append(out, c.gone[s])
				return
			}
		}
	}
	if o := r.at[s][p]; o != nil {
		leave(o)
	} else if r.exists(s, p) {
		// Something unchanged there, or nothing: it leaves with a moved
		// folder above it, if any.
		for d := dirOf(p); d != ""; d = dirOf(d) {
			if a := r.at[s][d]; a != nil {
				if a.moveOp[s] != nil && a != n {
					out = append(out, a.moveOp[s])
				}
				break
			}
		}
	}
	// What a folder moved to an ancestor of p brings along.
	for d := dirOf(p); d != ""; d = dirOf(d) {
		if a := r.moveDest[s][d]; a != nil && a != n {
			leave(r.at[s][a.v[s].path+p[len(d):]])
		}
	}
	return out
}

func (r *reconciler) exists(s int, p string) bool {
	if s == sideL {
		_, ok := r.in.Local[p]
		return ok
	}
	_, ok := r.in.Remote[p]
	return ok
}

// linkDeps computes source paths and the dependencies that follow from
// places: parents first, sources after their moved folders, new entries
// after what was in their way, folder deletes after moves out of them.
func (r *reconciler) linkDeps() {
	for _, p := range r.pops {
		p.deps = slices.Clone(p.static)
	}
	// A move into a folder that moves onto the entry's own place (b moved
	// into c, then c renamed to b) goes first, into the folder as it is.
	for _, p := range r.pops {
		if p.op.Kind != MoveLocal && p.op.Kind != MoveRemote || p.split || p.asideOf != nil {
			continue
		}
		s, par := p.side, p.n.parent
		if par == nil || par.moveOp[s] == nil || !par.v[s].present || !isUnder(par.final, p.n.v[s].path) {
			continue
		}
		p.pre, p.carrier = true, par.moveOp[s]
	}
	// It lands in the folder as observed: every move of that folder or of
	// a folder above it waits for it.
	for _, p := range r.pops {
		if !p.pre {
			continue
		}
		s, par := p.side, p.n.parent
		if isUnder(par.v[s].path, p.n.v[s].path) {
			// The folder is inside the entry (nesting swapped): it steps
			// out to a temporary name, the entry moves into it there, and
			// the folder then moves on to its final place.
			pm := par.moveOp[s]
			if !pm.split {
				r.stepAside(pm, p.n.v[s].path, false)
			}
			first := pm.aside
			p.op.Path = joinPath(first.op.Path, p.n.name)
			p.deps = append(p.deps, first)
			pm.deps = append(pm.deps, p)
			continue
		}
		p.op.Path = joinPath(par.v[s].path, p.n.name)
		for a := par; a != nil; a = a.v[s].parent {
			if m := a.moveOp[s]; m != nil {
				m.deps = append(m.deps, p)
				if m.aside != nil {
					m.aside.deps = append(m.aside.deps, p)
				}
			}
		}
	}
	for i := 0; i < len(r.pops); i++ { // splitting appends
		p := r.pops[i]
		if p.split {
			p.op.From = p.aside.op.Path
			p.deps = append(p.deps, p.aside)
		} else if p.from {
			mode := leaveNeeded
			if p.asideOf != nil {
				mode = p.leave
			}
			from, m, waiters := r.curFrom(p.n, p.side, mode)
			waitFor(waiters, p)
			if p.op.Kind == DeleteLocal || p.op.Kind == DeleteRemote {
				p.op.Path = from
			} else {
				p.op.From = from
			}
			p.deps = append(p.deps, carried(m)...)
		}
		for s := range 2 {
			if !p.ready[s] || (p.pre && s == p.side) {
				continue
			}
			for a := p.n.parent; a != nil; a = a.parent {
				if a.sop[s] != nil {
					p.deps = append(p.deps, a.sop[s])
					break
				}
			}
		}
		if p.occ {
			r.breakOccupancy(p)
			p.deps = append(p.deps, r.vacate(p.side, p.op.Path, p.n)...)
			r.settleBase(p, p.op.Path)
		}
		if p.from {
			src := p.op.From
			if src == "" {
				src = p.op.Path
			}
			r.settleBase(p, src)
		}
		if p.op.Kind == deleteKind(0) || p.op.Kind == deleteKind(1) {
			// It drops the base entries below it: deleted entries that
			// moved out of the folder settle theirs first (a live one that
			// loses its base is seen anew and kept).
			for _, d := range r.deadOps[p.n] {
				if d != p {
					p.deps = append(p.deps, d)
				}
			}
		}
	}
	// Moves out of a folder run before its delete.
	for _, p := range r.pops {
		k := p.op.Kind
		if p.split || k != MoveLocal && k != MoveRemote && k != ConflictLocal && k != ConflictRemote {
			continue
		}
		s := p.side
		for a := p.n.v[s].parent; a != nil; a = a.v[s].parent {
			if g := a.gone[s]; g != nil && (g.op.Kind == DeleteLocal || g.op.Kind == DeleteRemote) {
				g.deps = append(g.deps, p)
			}
		}
	}
	r.orderRekeyForgets()
}

// opHeap orders ready ops: by phase, then path, then source.
type opHeap []*pop

func (h opHeap) Len() int { return len(h) }
func (h opHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	return cmp.Or(cmp.Compare(a.phase, b.phase), strings.Compare(a.op.Path, b.op.Path),
		strings.Compare(a.op.From, b.op.From), cmp.Compare(a.op.Kind, b.op.Kind)) < 0
}
func (h opHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *opHeap) Push(x any)   { *h = append(*h, x.(*pop)) }
func (h *opHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// frozenOp reports whether an op touches a frozen path: at or below it, or
// (for folders) holding one below.
func (r *reconciler) frozenOp(op *Op) bool {
	if len(r.frozen) == 0 {
		return false
	}
	for _, p := range []string{op.Path, op.From} {
		if p == "" {
			continue
		}
		if underSet(p, r.frozen) {
			return true
		}
		if op.Entry == Dir && op.Kind != MkdirLocal && op.Kind != MkdirRemote && op.Kind != Record {
			for f := range r.frozen {
				if isUnder(f, p) {
					return true
				}
			}
		}
	}
	return false
}

func destructive(op *Op) bool {
	switch op.Kind {
	case DeleteLocal, DeleteRemote, Replace:
		return true
	case Download:
		return op.Local != nil
	}
	return false
}

// order drops ops whose dependencies were dropped and returns the rest in
// a deterministic topological order (ops caught in a cycle are dropped and
// left to a later pass).
func order(pops []*pop) []*pop {
	for _, p := range pops {
		p.users = p.users[:0]
		p.indeg = 0
	}
	for _, p := range pops {
		p.deps = uniq(p.deps, p)
		for _, d := range p.deps {
			d.users = append(d.users, p)
			p.indeg++
		}
	}
	var h opHeap
	for _, p := range pops {
		if p.indeg == 0 {
			h = append(h, p)
		}
	}
	heap.Init(&h)
	var out []*pop
	for h.Len() > 0 {
		p := heap.Pop(&h).(*pop)
		for _, u := range p.users {
			if p.drop {
				u.drop = true
			}
			u.indeg--
			if u.indeg == 0 {
				heap.Push(&h, u)
			}
		}
		if !p.drop {
			out = append(out, p)
		}
	}
	return out
}

// reportCycles names, as problems, the ops order left out because they wait
// on each other: a planner limitation that would otherwise leave the two
// sides different with nothing planned and nothing shown.
func (r *reconciler) reportCycles() {
	for _, p := range r.pops {
		if p.indeg > 0 && !p.drop {
			side := LocalSide
			if p.side == sideR {
				side = RemoteSide
			}
			r.problems = append(r.problems, Problem{Path: p.op.Path, Side: side,
				Message: fmt.Sprintf("%s not planned: its operations wait on each other (a planner limitation, please report it)", p.op.Kind)})
		}
	}
}

func uniq(deps []*pop, self *pop) []*pop {
	out := deps[:0]
	for _, d := range deps {
		if d != self && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// finish filters, guards and orders the ops and builds the plan.
func (r *reconciler) finish() Plan {
	var pl Plan
	for _, p := range r.pops {
		if r.frozenOp(&p.op) {
			p.drop = true
		}
	}
	ops := order(r.pops)
	r.reportCycles()
	kept := make(map[*pop]bool, len(ops))
	for _, p := range ops {
		kept[p] = true
	}
	// Count files each side would lose.
	count := func() (dl, dr int) {
		for _, n := range r.nodes {
			if n.state != dead || n.kind != File {
				continue
			}
			if g := n.gone[sideL]; g != nil && g.op.Kind == DeleteLocal && kept[g] {
				dl++
			}
			if g := n.gone[sideR]; g != nil && g.op.Kind == DeleteRemote && kept[g] {
				dr++
			}
		}
		return dl, dr
	}
	pl.DeletesLocal, pl.DeletesRemote = count()
	if !r.in.Force {
		pl.Halt = r.guard(pl.DeletesLocal, pl.DeletesRemote)
	}
	if pl.Halt != "" {
		for _, p := range r.pops {
			if destructive(&p.op) {
				p.drop = true
			}
		}
		ops = order(ops)
	}
	for i, p := range ops {
		p.idx = i
	}
	pl.Ops = make([]Op, 0, len(ops))
	for _, p := range ops {
		op := p.op
		op.Deps = nil
		for _, d := range p.deps {
			op.Deps = append(op.Deps, d.idx)
		}
		slices.Sort(op.Deps)
		pl.Ops = append(pl.Ops, op)
	}
	pl.Conflicts = r.conflicts
	slices.SortFunc(pl.Conflicts, func(a, b Conflict) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Copy, b.Copy), strings.Compare(a.Reason, b.Reason))
	})
	pl.Conflicts = slices.Compact(pl.Conflicts)
	pl.Problems = r.problems
	slices.SortFunc(pl.Problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), cmp.Compare(a.Side, b.Side), strings.Compare(a.Message, b.Message))
	})
	pl.Problems = slices.Compact(pl.Problems)
	return pl
}

// guard applies the mass-delete guard and the emptied-side check.
func (r *reconciler) guard(dl, dr int) string {
	in := r.in
	if r.baseFiles > 0 {
		if len(in.Local) == 0 && len(in.LocalUnknown) == 0 {
			return fmt.Sprintf("the local side is empty but %d files were synced: refusing to mirror that (force to override)", r.baseFiles)
		}
		if len(in.Remote) == 0 && len(in.RemoteUnknown) == 0 {
			return fmt.Sprintf("the remote side is empty but %d files were synced: refusing to mirror that (force to override)", r.baseFiles)
		}
	}
	lim := in.DeleteLimit
	if lim.Percent <= 0 {
		return ""
	}
	over := func(n int) bool {
		return n > lim.Min && float64(n) > lim.Percent/100*float64(r.baseFiles)
	}
	switch {
	case over(dl):
		return fmt.Sprintf("mass-delete guard: the plan would delete %d of %d synced files locally (limit %g%%, min %d); force to override", dl, r.baseFiles, lim.Percent, lim.Min)
	case over(dr):
		return fmt.Sprintf("mass-delete guard: the plan would delete %d of %d synced files remotely (limit %g%%, min %d); force to override", dr, r.baseFiles, lim.Percent, lim.Min)
	}
	return ""
}
