package plan

// The emitter: turning the reconciled nodes into ops (emitLive for entries
// that stay, emitGone for entries that go), each with the premises it saw.
// deps.go links the ops' dependencies, order.go orders them, guard.go
// filters them and builds the plan.

import (
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
func moveKind(s int) OpKind { return [2]OpKind{MoveLocal, MoveRemote}[s] }

func mkdirKind(s int) OpKind { return [2]OpKind{MkdirLocal, MkdirRemote}[s] }

func deleteKind(s int) OpKind { return [2]OpKind{DeleteLocal, DeleteRemote}[s] }

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
	r.splitCycles()
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
