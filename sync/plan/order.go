package plan

// The one topological sort of the planner (topoSort) and what is built on
// it: the final order of the plan, the drop of ops whose dependencies were
// dropped, and the cycles left for splitCycles or reported as problems.

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// opHeap orders ready ops: by phase, then path, then source.
type opHeap []*pop

func (h opHeap) Len() int { return len(h) }

func (h opHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	return cmp.Or(cmp.Compare(a.phase, b.phase), strings.Compare(a.op.Path, b.op.Path),
		strings.Compare(a.op.From, b.op.From), cmp.Compare(a.op.Kind, b.op.Kind)) < 0
}

func (h opHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *opHeap) Push(x any) { *h = append(*h, x.(*pop)) }

func (h *opHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// topoSort is the planner's one topological sort: it returns the ops
// that do not wait on a cycle, each after its dependencies, ready ops
// taken in opHeap's order (phase, path, source, kind), so the order is a
// function of the ops alone. It leaves in each op's indeg the number of
// its dependencies it still waits for: nonzero exactly on the ops caught
// in a cycle or waiting behind one, which it leaves out.
func topoSort(pops []*pop) []*pop {
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
	out := make([]*pop, 0, len(pops))
	for h.Len() > 0 {
		p := heap.Pop(&h).(*pop)
		out = append(out, p)
		for _, u := range p.users {
			if u.indeg--; u.indeg == 0 {
				heap.Push(&h, u)
			}
		}
	}
	return out
}

// order drops ops whose dependencies were dropped and returns the rest in
// topoSort's order (ops caught in a cycle are left out, for reportCycles
// and a later pass).
func order(pops []*pop) []*pop {
	sorted := topoSort(pops)
	out := make([]*pop, 0, len(sorted))
	for _, p := range sorted {
		for _, d := range p.deps {
			if d.drop {
				p.drop = true
				break
			}
		}
		if !p.drop {
			out = append(out, p)
		}
	}
	// An op caught in a cycle behind a dropped op is dropped with it, not
	// reported as a cycle.
	for _, p := range pops {
		if p.indeg == 0 {
			continue
		}
		for _, d := range p.deps {
			if d.indeg == 0 && d.drop {
				p.drop = true
				break
			}
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

// stuckMoves returns, for every cycle of dependencies that a move can
// split, its first such move (by path, then side): the moves splitCycles
// sends to a temporary name first. Only ops on a cycle count, not those
// merely waiting behind one, so no split is wasted on a move that would
// wait anyway. Nil when nothing waits on a cycle that a move could split.
func stuckMoves(pops []*pop) []*pop {
	if len(topoSort(pops)) == len(pops) {
		return nil
	}
	var out []*pop
	for _, scc := range cycles(pops) {
		var best *pop
		for _, p := range scc {
			k := p.op.Kind
			if p.split || p.asideOf != nil || (k != MoveLocal && k != MoveRemote) {
				continue
			}
			if best == nil || p.op.Path < best.op.Path || p.op.Path == best.op.Path && p.side < best.side {
				best = p
			}
		}
		if best != nil {
			out = append(out, best)
		}
	}
	return out
}

// cycles returns the strongly connected components of more than one op
// among the ops topoSort left waiting (Tarjan's algorithm over their
// dependencies), in a deterministic order: by the position of their first
// op in pops.
func cycles(pops []*pop) [][]*pop {
	index := make(map[*pop]int)
	low := make(map[*pop]int)
	on := make(map[*pop]bool)
	var stack []*pop
	var out [][]*pop
	var visit func(p *pop)
	visit = func(p *pop) {
		index[p] = len(index)
		low[p] = index[p]
		stack = append(stack, p)
		on[p] = true
		for _, d := range p.deps {
			if d.indeg == 0 {
				continue // ordered: on no cycle
			}
			if _, seen := index[d]; !seen {
				visit(d)
				low[p] = min(low[p], low[d])
			} else if on[d] {
				low[p] = min(low[p], index[d])
			}
		}
		if low[p] != index[p] {
			return
		}
		var scc []*pop
		for {
			q := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			on[q] = false
			scc = append(scc, q)
			if q == p {
				break
			}
		}
		if len(scc) > 1 {
			out = append(out, scc)
		}
	}
	for _, p := range pops {
		if _, seen := index[p]; !seen && p.indeg > 0 {
			visit(p)
		}
	}
	return out
}
