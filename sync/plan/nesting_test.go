package plan

import (
	"fmt"
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

// A folder one side deleted and the other moved to y, and a new folder y on
// the first side (a pass made it for the move and died before its commit):
// the new folder is the one the move needs, not a second entry for y made
// a conflict copy (TestSim seed 800103). Both directions.
func TestNewFolderWhereTheOtherSideMovedTheDeletedOne(t *testing.T) {
	for _, local := range []bool{true, false} {
		f := newFx().synced("x/")
		if local {
			f.rmLocal("x").moveRemote("x", "y").local("y/")
		} else {
			f.rmRemote("x").moveLocal("x", "y").remote("y/")
		}
		p := Reconcile(f.input())
		onlyRecords(t, fmt.Sprintf("local=%v", local), p)
	}
}

// Remote file ids and folder ids are separate series (docs/api.md): a file
// and a folder may share a number. A new folder whose id equals a renamed
// file's hid the rename, which became a download and a local delete
// (TestSimIncremental seed 810212).
func TestRemoteRenameBesideAFolderOfTheSameID(t *testing.T) {
	for _, name := range []string{"y", "z"} { // both orders of the listing's keys
		f := newFx().synced("a.txt", "aa")
		f.moveRemote("a.txt", "b.txt")
		f.remote(name + "/")
		r := f.in.Remote[name+""]
		r.ID = f.in.Remote["b.txt"].ID
		f.in.Remote[name] = r
		p := Reconcile(f.input())
		kinds := map[OpKind]int{}
		for _, op := range p.Ops {
			kinds[op.Kind]++
		}
		if kinds[MoveLocal] != 1 || kinds[Download] != 0 || kinds[DeleteLocal] != 0 {
			t.Errorf("folder %s: ops %v, want the file's rename as one move-local", name, p.Ops)
		}
	}
}

// A one-way pair whose receiver already holds the sender's renamed entry at
// its new name, with the base entry's identity (syncd's own move there, its
// commit lost to a crash): the receiver followed, nothing is in the way, no
// conflict copy (TestSimOneWay seed 810057). Both directions.
func TestOneWayReceiverThatFollowedTheSendersMove(t *testing.T) {
	for _, dir := range []Direction{DownloadOnly, UploadOnly} {
		f := newFx().synced("a.txt", "aa")
		f.in.Direction = dir
		f.moveLocal("a.txt", "d.bin").moveRemote("a.txt", "d.bin")
		p := Reconcile(f.input())
		onlyRecords(t, fmt.Sprint(dir), p)
	}
}

// onlyRecords fails the test unless plan p makes no conflict and only
// records or forgets (what a case where both sides already agree plans).
func onlyRecords(t *testing.T, label string, p Plan) {
	t.Helper()
	if len(p.Conflicts) != 0 {
		t.Errorf("%s: conflicts %v, ops %v", label, p.Conflicts, p.Ops)
	}
	for _, op := range p.Ops {
		if op.Kind != Record && op.Kind != Forget {
			t.Errorf("%s: op %v %s, want only records", label, op.Kind, op.Path)
		}
	}
}

// A folder made anew on one side (another inode, another id) where the
// other side deleted the base folder is a new folder on either side: kept
// and made on the other side, whichever side made it. The local side took
// a new inode for the base folder unchanged, so a remote delete trashed
// the user's new folder while the mirrored case kept it
// (TestPropertySwapSidesMirrorsPlan at 3,000 checks).
func TestFolderMadeAnewWhereTheOtherSideDeletedIt(t *testing.T) {
	for _, local := range []bool{true, false} {
		f := newFx().synced("a/")
		if local {
			f.rmLocal("a").local("a/").rmRemote("a")
		} else {
			f.rmRemote("a").remote("a/").rmLocal("a")
		}
		p := Reconcile(f.input())
		want := MkdirRemote
		if !local {
			want = MkdirLocal
		}
		if len(p.Ops) != 1 || p.Ops[0].Kind != want || p.Ops[0].Path != "a" {
			t.Errorf("made anew locally=%v: ops %v, want %v a", local, p.Ops, want)
		}
	}
}
