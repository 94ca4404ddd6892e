package plan

// Dependencies between ops: where each op starts from and what it waits
// for, derived from places (parents first, sources after their moved
// folders, new entries after what was in their way, folder deletes after
// moves out of them), and the splitting of moves caught in cycles.

import (
	"slices"
	"strings"
)

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
			// A folder that moves first into its parent as it is (pre) is
			// there, not at its observed place, when a moves.
			at := x.v[s].path
			if m := x.moveOp[s]; m != nil && m.pre {
				at = m.op.Path
			}
			return x.v[s].present && isUnder(at, n.v[s].path)
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
	r.orderForgets()
}

// orderForgets makes every op that writes a base entry at or below the
// path of a forget wait for it, as the forget would otherwise drop that
// entry: a new folder where a moved one was (the old path of a re-recorded
// entry), or a folder moved onto the path of one deleted on both sides
// (rm -r y; mv x y, on each side: TestForgetOfAFolderDeletedOnBothSidesRunsFirst).
// When the forget itself must wait for such an op (it is one the moved
// entry's ops need), the forget is left out: a later pass forgets what is
// still stale.
func (r *reconciler) orderForgets() {
	// The ops writing base, by path: a forget finds those at and below its
	// path by two binary searches, not by a scan of every op (a plan of a
	// million ops may hold thousands of forgets).
	var writers []*pop
	if !slices.ContainsFunc(r.pops, func(f *pop) bool { return f.op.Kind == Forget }) {
		return
	}
	for _, q := range r.pops {
		if writesBase(q.op.Kind) {
			writers = append(writers, q)
		}
	}
	slices.SortFunc(writers, func(a, b *pop) int { return strings.Compare(a.op.Path, b.op.Path) })
	span := func(lo, hi string) []*pop { // paths in [lo, hi)
		i, _ := slices.BinarySearchFunc(writers, lo, func(q *pop, t string) int { return strings.Compare(q.op.Path, t) })
		j, _ := slices.BinarySearchFunc(writers, hi, func(q *pop, t string) int { return strings.Compare(q.op.Path, t) })
		return writers[i:j]
	}
	for _, f := range r.pops {
		if f.op.Kind != Forget {
			continue
		}
		p := f.op.Path
		// p itself, then p/...: '0' follows '/'.
		cands := append(slices.Clip(span(p, p+"\x00")), span(p+"/", p+"0")...)
		var later []*pop
		for _, q := range cands {
			if q == f || q.n == f.fnode {
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

// splitCycles links the dependencies that follow from places and, where
// moves still wait on each other in a cycle, sends one move of each cycle
// to a temporary name at the root first (a step that needs nothing), then
// links again. It ends: every round splits at least one move that was not
// split before, a split is never undone, and a split move or its first
// step is never chosen again, so there are at most as many rounds as
// moves; usually one. Cycles no move can split are left to reportCycles.
func (r *reconciler) splitCycles() {
	for {
		r.linkDeps()
		stuck := stuckMoves(r.pops)
		if len(stuck) == 0 {
			return
		}
		for _, m := range stuck {
			r.stepAside(m, "", true)
		}
	}
}
