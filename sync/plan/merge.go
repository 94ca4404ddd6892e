package plan

import (
	"cmp"
	"slices"
	"strings"
)

// findProblems reports what cannot be synced and freezes those paths: no op
// is planned at or below a frozen path, on either side.
func (r *reconciler) findProblems() {
	in := r.in
	for p := range in.KnownProblems {
		r.problem(p, 0, "problem reported by an earlier pass is unresolved")
	}
	if r.oneWay && r.sender == sideR {
		return // local entries never go up
	}
	var sends []*node
	for _, n := range r.nodes {
		v := &n.v[sideL]
		if v.present && !v.phantom {
			sends = append(sends, n)
		}
	}
	slices.SortFunc(sends, func(a, b *node) int { return strings.Compare(a.v[sideL].path, b.v[sideL].path) })
	for _, n := range sends {
		v := &n.v[sideL]
		if underSet(v.path, r.frozen) {
			continue // children of a problem folder are skipped
		}
		name := v.loc.Name
		if name == "" {
			name = v.name
		}
		switch {
		case n.kind == File && v.loc.Size == 0:
			r.problem(v.path, LocalSide, "empty files cannot be uploaded")
		case n.kind == File && in.MaxUploadSize > 0 && v.loc.Size > in.MaxUploadSize && v.mod:
			r.problem(v.path, LocalSide, "file is larger than the upload limit")
		case n.base == nil || v.name != n.baseName():
			if msg := RemoteNameProblem(name); msg != "" {
				r.problem(v.path, LocalSide, "the remote cannot hold this name: "+msg)
			}
		}
	}
}

func (r *reconciler) problem(p string, s Side, msg string) {
	r.problems = append(r.problems, Problem{Path: p, Side: s, Message: msg})
	r.frozen[p] = true
}

// pick3 merges one attribute three-way; conflict is set when both sides
// changed it differently (the winner's value is returned).
func pick3[T comparable](base, l, rm T, winner int) (v T, conflict bool) {
	switch {
	case l == rm:
		return l, false
	case l == base:
		return rm, false
	case rm == base:
		return l, false
	case winner == sideL:
		return l, true
	}
	return rm, true
}

func (r *reconciler) merge() {
	for _, n := range r.nodes {
		if n.parent == nil && n.name == "" {
			r.mergeOne(n)
		}
	}
}

// mergeOne chooses the node's place: each attribute (parent, name) from the
// side that changed it; when both changed it differently the winner's.
func (r *reconciler) mergeOne(n *node) {
	l, rm := &n.v[sideL], &n.v[sideR]
	if n.base == nil {
		switch {
		case l.present && rm.present && l.parent != rm.parent:
			// Same path, but in folders that are different entries (one
			// of them moved there): two new entries, each staying in its
			// own folder. Taken for one, the loser would have to leave a
			// folder that may itself be leaving that path, and the two
			// moves would wait on each other.
			r.split(n)
		case l.present && rm.present:
			n.parent, n.name = l.parent, l.name
			if r.winner == sideR {
				n.parent, n.name = rm.parent, rm.name
			}
		case l.present:
			n.parent, n.name = l.parent, l.name
		default:
			n.parent, n.name = rm.parent, rm.name
		}
		return
	}
	bp, bn := n.bparent, n.baseName()
	lp, ln, rp, rn := bp, bn, bp, bn
	if l.present {
		lp, ln = l.parent, l.name
	}
	if rm.present {
		rp, rn = rm.parent, rm.name
	}
	var c1, c2 bool
	n.parent, c1 = pick3(bp, lp, rp, r.winner)
	n.name, c2 = pick3(bn, ln, rn, r.winner)
	if (c1 || c2) && l.present && rm.present {
		r.conflicts = append(r.conflicts, Conflict{Path: n.bpath, Reason: "renamed or moved differently on both sides: the " + sideName(r.winner) + " place wins"})
	}
}

// split gives the remote view of a new node its own node: the local entry
// and the remote one at the same path are different entries.
func (r *reconciler) split(n *node) {
	m := &node{kind: n.kind, v: [2]view{sideR: n.v[sideR]}}
	n.v[sideR] = view{}
	r.at[sideR][m.v[sideR].path] = m
	for _, c := range r.nodes {
		if c.v[sideR].parent == n {
			c.v[sideR].parent = m
		}
	}
	r.nodes = append(r.nodes, m)
	n.parent, n.name = n.v[sideL].parent, n.v[sideL].name
	m.parent, m.name = m.v[sideR].parent, m.v[sideR].name
}

func sideName(s int) string {
	if s == sideL {
		return "local"
	}
	return "remote"
}

// breakCycles undoes merged moves that would put a folder inside itself
// (A moved into B locally, B into A remotely): the nodes of a cycle take
// the winner side's place (or the base place), and a conflict is reported.
func (r *reconciler) breakCycles() {
	for round := 0; round < 4; round++ {
		found := false
		r.epoch++
		inProgress, done := 2*r.epoch, 2*r.epoch+1
		var stack []*node
		for _, n := range r.nodes {
			stack = stack[:0]
			var cyc []*node
			for c := n; c != nil; c = c.parent {
				if c.mark == done {
					break
				}
				if c.mark == inProgress {
					i := slices.Index(stack, c)
					cyc = append(cyc, stack[i:]...)
					break
				}
				c.mark = inProgress
				stack = append(stack, c)
			}
			for _, c := range stack {
				c.mark = done
			}
			if len(cyc) == 0 {
				continue
			}
			found = true
			for _, c := range cyc {
				w := &c.v[r.winner]
				switch {
				case round < 3 && w.present && !w.phantom:
					c.parent, c.name = w.parent, w.name
				case c.base != nil:
					c.parent, c.name = c.bparent, c.baseName()
				default:
					c.parent = nil // last resort: the root
				}
				p := c.bpath
				if p == "" {
					p = c.v[r.winner].path
				}
				r.conflicts = append(r.conflicts, Conflict{Path: p, Reason: "crossed moves would make a cycle: the " + sideName(r.winner) + " place wins"})
			}
		}
		if !found {
			return
		}
	}
}

// decideLiveness sets each node live, dead or kept; a live node keeps all
// its merged ancestors live (re-created where a side deleted them), a kept
// node keeps its receiver-side folders.
func (r *reconciler) decideLiveness() {
	for _, n := range r.nodes {
		if n.state != undecided {
			continue
		}
		l, rm := n.v[sideL].present, n.v[sideR].present
		switch {
		case l && rm:
			n.state = live
		case !l && !rm:
			n.state = dead
		default:
			s := sideL
			if rm {
				s = sideR
			}
			changed := n.changedOn(s)
			switch {
			case !r.oneWay:
				n.state = dead
				if changed {
					n.state = live
				}
			case s == r.sender:
				n.state = live // also undoes a receiver-side delete
			case r.in.Mirror || !changed:
				n.state = dead
			default:
				n.state = kept
			}
		}
	}
	for _, n := range r.nodes {
		if n.state != live {
			continue
		}
		for p := n.parent; p != nil && p.state != live; p = p.parent {
			p.state = live
		}
	}
	// In a mirror the receiver's extra entries go, so only non-mirror
	// one-way pairs keep anything; a kept entry pins its folders.
	for _, n := range r.nodes {
		if n.state != kept {
			continue
		}
		for p := n.v[r.receiver].parent; p != nil && p.state == dead; p = p.v[r.receiver].parent {
			p.state = kept
		}
	}
}

func (r *reconciler) finalOf(n *node) string {
	if n == nil {
		return ""
	}
	if n.fepoch == r.epoch {
		return n.final
	}
	n.final = joinPath(r.finalOf(n.parent), n.name)
	n.fepoch = r.epoch
	return n.final
}

func (r *reconciler) taken(p string) bool {
	if _, ok := r.in.Base[p]; ok {
		return true
	}
	if _, ok := r.in.Local[p]; ok {
		return true
	}
	if _, ok := r.in.Remote[p]; ok {
		return true
	}
	return r.finals[p] != nil || r.copies[p]
}

func (r *reconciler) conflictName(p string) string {
	c := ConflictName(p, r.in.Now, r.in.Host, r.taken)
	r.copies[c] = true
	return c
}

// collisionRank orders nodes that want the same final path: the lowest
// keeps it. An entry that cannot move without carrying another's base
// entry; then a folder over a file; then the entry already there on both
// sides; then the winner side's; then a stable order.
func (r *reconciler) collisionRank(n *node, f string) [4]int {
	var k [4]int
	// A move relocates the base entries at its source path, so an entry
	// standing where another entry's base is must not be the one moved.
	if _, ok := r.in.Base[f]; !ok || n.bpath == f || !(n.v[sideL].path == f || n.v[sideR].path == f) {
		k[0] = 1
	}
	if n.kind != Dir {
		k[1] = 1
	}
	if !(n.v[sideL].present && n.v[sideL].path == f && n.v[sideR].present && n.v[sideR].path == f) {
		k[2] = 1
	}
	if !n.v[r.winner].present {
		k[3] = 1
	}
	return k
}

// nodeKey names a node by identity: base nodes by base path, then new
// local-only nodes, then new remote ones, each by path on their side.
func nodeKey(n *node) (byte, string) {
	switch {
	case n.base != nil:
		return 'b', n.bpath
	case n.v[sideR].present:
		return 'r', n.v[sideR].path
	}
	return 'l', n.v[sideL].path
}

// compareNodes orders nodes by nodeKey without building a string per
// comparison (a sort makes millions of them on a large plan).
func compareNodes(a, b *node) int {
	ka, pa := nodeKey(a)
	kb, pb := nodeKey(b)
	if c := cmp.Compare(ka, kb); c != 0 {
		return c
	}
	return strings.Compare(pa, pb)
}

// resolveCollisions gives every live node a distinct final path: where two
// would meet (a file and a folder, two renames to one name, a rename onto a
// new entry), the loser is renamed to a conflict copy name. On one-way
// pairs, a kept receiver entry in the way is renamed the same way.
func (r *reconciler) resolveCollisions() {
	var liveNodes []*node
	for _, n := range r.nodes {
		if n.state == live {
			liveNodes = append(liveNodes, n)
		}
	}
	// An unchanged entry has no node yet but holds its path: make nodes for
	// those a moved or new node could land on.
	for _, n := range liveNodes {
		if n.parent != nil && n.parent.base == nil {
			continue
		}
		pb := ""
		if n.parent != nil {
			pb = n.parent.bpath
		}
		q := joinPath(pb, n.name)
		if n.base != nil && q == n.bpath {
			continue
		}
		if _, ok := r.in.Base[q]; ok && r.byBase[q] == nil && !r.ignored(q, r.in.Base[q].Kind) {
			liveNodes = append(liveNodes, r.baseNode(q))
		}
	}
	slices.SortFunc(liveNodes, compareNodes)
	for round := 0; ; round++ {
		r.epoch++
		r.finals = make(map[string]*node, len(liveNodes))
		type clash struct{ a, b *node }
		var clashes []clash
		for _, n := range liveNodes {
			f := r.finalOf(n)
			if o := r.finals[f]; o != nil {
				clashes = append(clashes, clash{o, n})
				continue
			}
			r.finals[f] = n
		}
		if len(clashes) == 0 || round > 8 {
			break
		}
		// Resolve the shallowest clash first: renaming a folder moves its
		// subtree, which may resolve deeper ones.
		slices.SortFunc(clashes, func(x, y clash) int {
			return cmp.Or(cmp.Compare(strings.Count(x.a.final, "/"), strings.Count(y.a.final, "/")),
				strings.Compare(x.a.final, y.a.final))
		})
		c := clashes[0]
		f := c.a.final
		win, lose := c.a, c.b
		rw, rl := r.collisionRank(win, f), r.collisionRank(lose, f)
		if slices.Compare(rl[:], rw[:]) < 0 {
			win, lose = lose, win
		}
		if r.unmerge(lose) || r.unmerge(win) {
			continue
		}
		cp := r.conflictName(f)
		_, lose.name = splitPath(cp)
		r.conflicts = append(r.conflicts, Conflict{Path: f, Copy: cp, Reason: "two entries would take this path: one is kept as a conflict copy"})
	}
	if !r.oneWay {
		return
	}
	for _, n := range r.nodes {
		if n.state != kept {
			continue
		}
		v := &n.v[r.receiver]
		if v.parent != nil && v.parent.state == kept {
			continue // where its folder stays or goes, nothing live is below
		}
		p := v.path
		if v.parent == nil || v.parent.state == live {
			p = joinPath(r.finalOf(v.parent), v.name) // carried by a moved folder
		}
		if r.finals[p] != nil && r.finals[p] != n {
			n.copyName = r.conflictName(p)
			r.conflicts = append(r.conflicts, Conflict{Path: p, Copy: n.copyName, Reason: "a " + sideName(r.receiver) + " entry left alone is in the way: renamed"})
		}
	}
}

// unmerge takes a node that both sides moved or renamed, whose merged place
// (the parent one side chose, the name the other chose) neither side has
// and another entry wants, to one side's own place instead (the winner's
// first) when that is free: the entry then lands where one user put it.
// Left at the merged place, one of the two would become a conflict copy of a
// path at most one side touched (TestSimLoop seeds 917, 1189: y/z renamed
// to y/x locally, moved to z remotely, both merged to x, where an
// unchanged folder is). It reports whether it moved the node; the caller
// recomputes the final paths.
func (r *reconciler) unmerge(n *node) bool {
	l, rm := &n.v[sideL], &n.v[sideR]
	if n.base == nil || !l.present || !rm.present || l.phantom || rm.phantom {
		return false
	}
	if n.parent == l.parent && n.name == l.name || n.parent == rm.parent && n.name == rm.name {
		return false
	}
	for _, s := range []int{r.winner, 1 - r.winner} {
		v := &n.v[s]
		if r.placeFree(n, v.parent, v.name) {
			n.parent, n.name = v.parent, v.name
			r.conflicts = append(r.conflicts, Conflict{Path: n.bpath, Reason: "renamed or moved differently on both sides, the merged place is taken: the " + sideName(s) + " place wins"})
			return true
		}
	}
	return false
}

// placeFree reports whether node n may take the place (parent, name): not
// inside itself, and nothing at its final path but n itself (no other
// node's final path, no entry of any tree but n's own, no conflict copy
// name, nothing the rules exclude).
func (r *reconciler) placeFree(n, parent *node, name string) bool {
	for a := parent; a != nil; a = a.parent {
		if a == n {
			return false
		}
	}
	q := joinPath(r.finalOf(parent), name)
	if o := r.finals[q]; o != nil && o != n || r.copies[q] || r.ignored(q, n.kind) {
		return false
	}
	if _, ok := r.in.Base[q]; ok && r.byBase[q] != n {
		return false
	}
	if _, ok := r.in.Local[q]; ok && r.at[sideL][q] != n {
		return false
	}
	if _, ok := r.in.Remote[q]; ok && r.at[sideR][q] != n {
		return false
	}
	return true
}
