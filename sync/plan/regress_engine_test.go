package plan

import (
	"fmt"
	"reflect"
	"strings"
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

// Found by simulation seed 414230: a crash lost the commit of a pass that
// re-created folders z (now id 5) and z/z (now id 6) on the remote. The next
// pass re-recorded z under its new id, but the base entry of z/z still named
// its old id and the old parent id. The remote z/z must be taken as the base
// folder z/z (its folder is the base folder z), not as a new folder beside a
// deleted one: that made delete, mkdir and a conflict copy wait on each
// other, and the plan dropped them all, leaving a new file differing on the
// two sides with nothing planned.
func TestRegressFolderRecreatedUnderRerecordedParent(t *testing.T) {
	in := Input{
		Base: map[string]Base{
			"b.txt": {Kind: File, LocalName: "b.txt", RemoteName: "b.txt", Size: 5, MtimeNs: 1, Dev: 1, Ino: 32, MD5: "mb", RemoteID: "6", RemoteParentID: "2"},
			"z":     {Kind: Dir, LocalName: "z", RemoteName: "z", Dev: 1, Ino: 98, RemoteID: "5", RemoteParentID: "2"},
			"z/z":   {Kind: Dir, LocalName: "z", RemoteName: "z", Dev: 1, Ino: 31, RemoteID: "3", RemoteParentID: "4"},
		},
		Local: map[string]Local{
			"b.txt":     {Kind: File, Name: "b.txt", Size: 5, MtimeNs: 1, Dev: 1, Ino: 32, MD5: "mb"},
			"z":         {Kind: Dir, Name: "z", Dev: 1, Ino: 98},
			"z/z":       {Kind: Dir, Name: "z", Dev: 1, Ino: 31},
			"z/z/a.txt": {Kind: File, Name: "a.txt", Size: 7, MtimeNs: 2, Dev: 1, Ino: 33, MD5: "mlocal"},
		},
		Remote: map[string]Remote{
			"b.txt":     {Kind: File, Name: "b.txt", ID: "6", ParentID: "2", Size: 5, MD5: "mb"},
			"z":         {Kind: Dir, Name: "z", ID: "5", ParentID: "2"},
			"z/z":       {Kind: Dir, Name: "z", ID: "6", ParentID: "5"},
			"z/z/a.txt": {Kind: File, Name: "a.txt", ID: "5", ParentID: "6", Size: 9, MD5: "mremote"},
		},
		Host: "h",
	}
	pl := Reconcile(in)
	if len(pl.Problems) != 0 {
		t.Fatalf("problems: %+v\n%s", pl.Problems, dumpPlanT(pl))
	}
	kinds := map[OpKind]string{}
	for _, op := range pl.Ops {
		kinds[op.Kind] = op.Path
		if op.Kind == DeleteLocal || op.Kind == DeleteRemote || op.Kind == MkdirLocal || op.Kind == MkdirRemote {
			t.Errorf("the folder z/z is one folder on both sides, yet: %s %s", op.Kind, op.Path)
		}
	}
	want := "z/z/a (conflict 0001-01-01 h).txt"
	if kinds[ConflictLocal] != want || kinds[Upload] != want || kinds[Download] != "z/z/a.txt" {
		t.Fatalf("want the local version kept as %q and the remote one downloaded:\n%s", want, dumpPlanT(pl))
	}
	checkCopiesPlanned(t, pl)
}

func dumpPlanT(pl Plan) string {
	var b strings.Builder
	for _, op := range pl.Ops {
		fmt.Fprintf(&b, "%s %s <- %s (%s)\n", op.Kind, op.Path, op.From, op.Reason)
	}
	for _, c := range pl.Conflicts {
		fmt.Fprintf(&b, "conflict %q copy %q: %s\n", c.Path, c.Copy, c.Reason)
	}
	return b.String()
}

// checkCopiesPlanned fails when a conflict names a copy no op makes.
func checkCopiesPlanned(t interface{ Fatalf(string, ...any) }, pl Plan) {
	if pl.Halt != "" {
		return
	}
	made := map[string]bool{}
	for _, op := range pl.Ops {
		made[op.Path] = true
	}
	for _, c := range pl.Conflicts {
		if c.Copy != "" && !made[c.Copy] {
			t.Fatalf("conflict %q names copy %q, but no op makes it:\n%s", c.Path, c.Copy, dumpPlanT(pl))
		}
	}
}

// Found by simulation seed 410036: the local side deleted folder z, while
// the remote trashed z/z and made a new z/z. The new folder is a change on
// the remote side (modify beats delete), not base z/z unchanged: planning
// to trash z made the executor's premise check (which knows folders by id)
// refuse at every pass, so the pair never came to rest.
func TestRegressRemoteFolderMadeAnewSurvivesLocalDelete(t *testing.T) {
	in := Input{
		Base: map[string]Base{
			"z":         {Kind: Dir, LocalName: "z", RemoteName: "z", Dev: 1, Ino: 10, RemoteID: "F1", RemoteParentID: "ROOT"},
			"z/z":       {Kind: Dir, LocalName: "z", RemoteName: "z", Dev: 1, Ino: 11, RemoteID: "F2", RemoteParentID: "F1"},
			"z/z/a.txt": {Kind: File, LocalName: "a.txt", RemoteName: "a.txt", Size: 3, MtimeNs: 1, Dev: 1, Ino: 12, MD5: "m1", RemoteID: "7", RemoteParentID: "F2"},
		},
		Local: map[string]Local{},
		Remote: map[string]Remote{
			"z":   {Kind: Dir, Name: "z", ID: "F1", ParentID: "ROOT"},
			"z/z": {Kind: Dir, Name: "z", ID: "F3", ParentID: "F1"},
		},
		Force: true,
		Host:  "h",
	}
	pl := Reconcile(in)
	got := map[string]OpKind{}
	for _, op := range pl.Ops {
		got[op.Path] = op.Kind
		if op.Kind == DeleteRemote {
			t.Errorf("the remote folder made anew is trashed: %s %s", op.Kind, op.Path)
		}
	}
	if got["z"] != MkdirLocal || got["z/z"] != MkdirLocal {
		t.Fatalf("want z and z/z made again locally:\n%s", dumpPlanT(pl))
	}
}

// Found by simulation seed 464729: the remote renamed folder z to x and
// trashed x, while a new local file x/c.md appeared in the local x and a
// new remote one in the renamed z. Taken for one entry placed in z's folder,
// the local c.md had to leave the local x before x could go, while z could
// take x's path only once x was gone: every op waited on another, none was
// planned, and each pass stepped z aside once more. Two new entries at one
// path in different folders are now two entries, each in its own folder.
func TestRegressNewEntriesInFoldersCrossingOnOnePath(t *testing.T) {
	in := Input{
		Base: map[string]Base{
			"x": {Kind: Dir, LocalName: "x", RemoteName: "x", Dev: 1, Ino: 147, RemoteID: "5", RemoteParentID: "2"},
			"z": {Kind: Dir, LocalName: "z", RemoteName: "z", Dev: 1, Ino: 146, RemoteID: "4", RemoteParentID: "2"},
		},
		Local: map[string]Local{
			"x":      {Kind: Dir, Name: "x", Dev: 1, Ino: 147},
			"x/c.md": {Kind: File, Name: "c.md", Size: 7, MtimeNs: 2, Dev: 1, Ino: 173, MD5: "local"},
			"z":      {Kind: Dir, Name: "z", Dev: 1, Ino: 146},
		},
		Remote: map[string]Remote{
			"x":      {Kind: Dir, Name: "x", ID: "4", ParentID: "2"},
			"x/c.md": {Kind: File, Name: "c.md", ID: "6", ParentID: "4", Size: 9, MD5: "remote"},
		},
		Host: "h",
	}
	pl := Reconcile(in)
	if len(pl.Problems) != 0 {
		t.Fatalf("problems: %+v\n%s", pl.Problems, dumpPlanT(pl))
	}
	var up, down string
	for _, op := range pl.Ops {
		switch op.Kind {
		case Upload:
			up = op.Path
		case Download:
			down = op.Path
		}
	}
	if up == "" || down == "" || up == down {
		t.Fatalf("want the local c.md uploaded and the remote one downloaded, in different folders:\n%s", dumpPlanT(pl))
	}
	checkCopiesPlanned(t, pl)
}

// Found by TestSimLoop seed 917: folder y/z renamed locally to y/x and
// moved remotely to the root as z. The merged place takes the parent from
// one side and the name from the other, x at the root, where an unchanged
// folder x is: the moved folder became "x (conflict)", a copy of a path
// neither user touched. Where the merged place is taken, the entry goes to
// one side's own place (the winner's, the remote z, free here).
func TestRegressMergedMoveOntoATakenName(t *testing.T) {
	in := Input{
		Base: map[string]Base{
			"x":       {Kind: Dir, LocalName: "x", RemoteName: "x", Dev: 1, Ino: 10, RemoteID: "F1", RemoteParentID: "ROOT"},
			"x/a.txt": {Kind: File, LocalName: "a.txt", RemoteName: "a.txt", Size: 3, MtimeNs: 1, Dev: 1, Ino: 11, MD5: "m1", RemoteID: "7", RemoteParentID: "F1"},
			"y":       {Kind: Dir, LocalName: "y", RemoteName: "y", Dev: 1, Ino: 12, RemoteID: "F2", RemoteParentID: "ROOT"},
			"y/z":     {Kind: Dir, LocalName: "z", RemoteName: "z", Dev: 1, Ino: 13, RemoteID: "F3", RemoteParentID: "F2"},
		},
		Local: map[string]Local{
			"x":       {Kind: Dir, Name: "x", Dev: 1, Ino: 10},
			"x/a.txt": {Kind: File, Name: "a.txt", Size: 3, MtimeNs: 1, Dev: 1, Ino: 11, MD5: "m1"},
			"y":       {Kind: Dir, Name: "y", Dev: 1, Ino: 12},
			"y/x":     {Kind: Dir, Name: "x", Dev: 1, Ino: 13},
		},
		Remote: map[string]Remote{
			"x":       {Kind: Dir, Name: "x", ID: "F1", ParentID: "ROOT"},
			"x/a.txt": {Kind: File, Name: "a.txt", ID: "7", ParentID: "F1", Size: 3, MD5: "m1"},
			"y":       {Kind: Dir, Name: "y", ID: "F2", ParentID: "ROOT"},
			"z":       {Kind: Dir, Name: "z", ID: "F3", ParentID: "ROOT"},
		},
		Host: "h",
	}
	pl := Reconcile(in)
	for _, c := range pl.Conflicts {
		if c.Copy != "" {
			t.Fatalf("a conflict copy of a path nobody touched:\n%s", dumpPlanT(pl))
		}
	}
	var moves []string
	for _, op := range pl.Ops {
		switch op.Kind {
		case MoveLocal, MoveRemote:
			moves = append(moves, fmt.Sprintf("%s %s <- %s", op.Kind, op.Path, op.From))
		case Record, Forget:
		default:
			t.Errorf("unexpected %s %s", op.Kind, op.Path)
		}
	}
	if want := []string{"move-local z <- y/x"}; !reflect.DeepEqual(moves, want) {
		t.Fatalf("moves %v, want %v:\n%s", moves, want, dumpPlanT(pl))
	}
}
