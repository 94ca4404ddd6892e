package plan

import (
	"reflect"
	"testing"
)

// Found by the engine's crash tests: a folder moved identically on both
// sides (d -> e/d2 locally; the same folder id now at e/d2 remotely, inside
// a new folder e that exists on both sides without base) must not become a
// conflict, and the plan must not depend on map iteration order.
func TestRegressSameMoveBothSidesIsDeterministic(t *testing.T) {
	in := Input{
		Base: map[string]Base{
			"d":           {Kind: Dir, LocalName: "d", RemoteName: "d", Dev: 1, Ino: 10, RemoteID: "F1", RemoteParentID: "ROOT"},
			"d/inner.txt": {Kind: File, LocalName: "inner.txt", RemoteName: "inner.txt", Size: 5, MtimeNs: 1, Dev: 1, Ino: 11, MD5: "m1", RemoteID: "7", RemoteParentID: "F1"},
			"stay.txt":    {Kind: File, LocalName: "stay.txt", RemoteName: "stay.txt", Size: 4, MtimeNs: 1, Dev: 1, Ino: 12, MD5: "m2", RemoteID: "8", RemoteParentID: "ROOT"},
		},
		Local: map[string]Local{
			"e":              {Kind: Dir, Name: "e", Dev: 1, Ino: 20},
			"e/d2":           {Kind: Dir, Name: "d2", Dev: 1, Ino: 10},
			"e/d2/inner.txt": {Kind: File, Name: "inner.txt", Size: 5, MtimeNs: 1, Dev: 1, Ino: 11, MD5: "m1"},
			"stay.txt":       {Kind: File, Name: "stay.txt", Size: 4, MtimeNs: 1, Dev: 1, Ino: 12, MD5: "m2"},
		},
		Remote: map[string]Remote{
			"e":              {Kind: Dir, Name: "e", ID: "F2", ParentID: "ROOT"},
			"e/d2":           {Kind: Dir, Name: "d2", ID: "F1", ParentID: "F2"},
			"e/d2/inner.txt": {Kind: File, Name: "inner.txt", ID: "7", ParentID: "F1", Size: 5, MD5: "m1"},
			"stay.txt":       {Kind: File, Name: "stay.txt", ID: "8", ParentID: "ROOT", Size: 4, MD5: "m2"},
		},
		Host: "h",
	}
	first := Reconcile(in)
	if len(first.Conflicts) != 0 {
		t.Fatalf("identical moves on both sides made a conflict: %+v\nops %+v", first.Conflicts, first.Ops)
	}
	for _, op := range first.Ops {
		switch op.Kind {
		case Record, Forget:
		default:
			t.Fatalf("identical moves on both sides planned %s %s <- %s", op.Kind, op.Path, op.From)
		}
	}
	for i := 0; i < 200; i++ {
		if got := Reconcile(in); !reflect.DeepEqual(got, first) {
			t.Fatalf("run %d planned differently:\n%+v\nvs\n%+v", i, got.Ops, first.Ops)
		}
	}
}
