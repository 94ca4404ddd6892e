package plan

// The one topological sort of the planner (topoSort) and what is built on
// it: the final order of the plan, the drop of ops whose dependencies were
// dropped, and the cycles left for breakCycles or reported as problems.

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
