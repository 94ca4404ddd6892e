package plan

import (
	"slices"
	"testing"
)

// Nesting inverted three levels deep on one side (mv c a/b/a; mv a/b c;
// mv a c/a/a): c first goes into a/b as it is, so a/b, which then holds a's
// new parent, must leave a before a moves there. Before the fix a moved
// first, into c/a, which did not exist yet: "no parent", at every pass
// (found by TestPropertyConverges, -rapid.checks=5000 -rapid.seed=22).
func TestInvertedNestingMovesTheChildOutFirst(t *testing.T) {
	f := newFx()
	f.synced("a/").synced("c/").synced("a/a/").synced("a/b/").synced("b")
	f.moveLocal("c", "a/b/a").moveLocal("a/b", "c").moveLocal("a", "c/a/a")
	pl := Reconcile(f.input())
	var got []string
	for _, o := range pl.Ops {
		got = append(got, o.Kind.String()+" "+o.From+" -> "+o.Path)
	}
	want := []string{"move-remote c -> a/b/a", "move-remote a/b -> c", "move-remote a -> c/a/a"}
	if !slices.Equal(got, want) {
		t.Fatalf("plan:\n%q\nwant:\n%q", got, want)
	}
}
