package plan

import (
	"slices"
	"testing"
)

// A cycle of two moves with a third move waiting behind it: the move to
// split is one on the cycle, even when the waiting one sorts first (a split
// of the waiting move would leave the cycle as it was and cost the user a
// temporary name).
func TestStuckMovesSplitOnlyMovesOnACycle(t *testing.T) {
	a := &pop{op: Op{Kind: MoveRemote, Path: "m/a"}}
	b := &pop{op: Op{Kind: MoveRemote, Path: "m/b"}}
	c := &pop{op: Op{Kind: MoveRemote, Path: "0"}}
	a.deps, b.deps, c.deps = []*pop{b}, []*pop{a}, []*pop{a}
	// A second, independent cycle is split in the same round.
	d := &pop{op: Op{Kind: MoveLocal, Path: "x/d"}, side: sideL}
	e := &pop{op: Op{Kind: MoveLocal, Path: "x/e"}, side: sideL}
	d.deps, e.deps = []*pop{e}, []*pop{d}
	got := stuckMoves([]*pop{c, b, a, e, d})
	if want := []*pop{a, d}; !slices.Equal(got, want) {
		t.Fatalf("stuckMoves chose %v, want m/a and x/d", paths(got))
	}
	a.split, d.split = true, true
	if got := stuckMoves([]*pop{c, b, a, e, d}); !slices.Equal(got, []*pop{b, e}) {
		t.Fatalf("after splitting the first moves: %v, want m/b and x/e", paths(got))
	}
}

// order keeps topoSort's order, drops what waits on a dropped op, and
// leaves out (without dropping) what waits on a cycle.
func TestOrderDropsDependentsAndLeavesCyclesOut(t *testing.T) {
	mk := func(path string, phase int) *pop { return &pop{op: Op{Kind: Upload, Path: path}, phase: phase} }
	x, y, z := mk("x", phaseTransfer), mk("y", phaseMkdir), mk("z", phaseTransfer)
	dropped, after := mk("d", phaseTransfer), mk("e", phaseTransfer)
	dropped.drop = true
	after.deps = []*pop{dropped}
	c1, c2 := mk("c1", phaseTransfer), mk("c2", phaseTransfer)
	c1.deps, c2.deps = []*pop{c2}, []*pop{c1}
	x.deps = []*pop{y, y} // duplicates count once
	got := order([]*pop{z, x, after, c1, dropped, y, c2})
	if want := []*pop{y, x, z}; !slices.Equal(got, want) {
		t.Fatalf("order = %v, want y x z", paths(got))
	}
	if !after.drop || c1.drop || c2.drop || c1.indeg == 0 {
		t.Fatalf("after.drop=%v c1.drop=%v c2.drop=%v c1.indeg=%d", after.drop, c1.drop, c2.drop, c1.indeg)
	}
}

func paths(ps []*pop) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.op.Path)
	}
	return out
}
