package plan

// The last filters before a plan leaves the planner: frozen paths, the
// mass-delete guard and the emptied-side check.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

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
