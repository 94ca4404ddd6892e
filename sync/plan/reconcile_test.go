package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Reasons are prose for people; the tables compare everything else.
func planOpts() cmp.Options {
	return cmp.Options{
		cmpopts.IgnoreFields(Op{}, "Reason"),
		cmpopts.IgnoreFields(Conflict{}, "Reason"),
		cmpopts.EquateEmpty(),
	}
}

type planCase struct {
	name  string
	setup func(f *fx)
	want  func(f *fx) Plan
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFx()
			tc.setup(f)
			in := f.input()
			got := Reconcile(in)
			want := tc.want(f)
			if d := cmp.Diff(want, got, planOpts()); d != "" {
				t.Errorf("plan differs (-want +got):\n%s\ngot:\n%s", d, dumpPlan(got))
			}
			// Deterministic, and never touches its input.
			if again := Reconcile(f.input()); !cmp.Equal(got, again) {
				t.Errorf("planning twice differs")
			}
			for i, op := range got.Ops {
				for _, d := range op.Deps {
					if d >= i {
						t.Errorf("op %d depends on later op %d", i, d)
					}
				}
			}
		})
	}
}

const copyDay = " (conflict 2026-11-28 box)"

// Rule 1: one-sided changes propagate; renames cost no transfer.
func TestOneSidedChanges(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:  "unchanged trees plan nothing",
			setup: func(f *fx) { f.synced("d/").synced("d/a.txt").synced("b.txt") },
			want:  func(f *fx) Plan { return Plan{} },
		},
		{
			name:  "new local file is uploaded",
			setup: func(f *fx) { f.synced("d/").local("d/new.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Upload, Path: "d/new.txt", Entry: File, Local: f.L("d/new.txt")}}}
			},
		},
		{
			name:  "new remote file is downloaded",
			setup: func(f *fx) { f.synced("d/").remote("d/new.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Download, Path: "d/new.txt", Entry: File, Remote: f.R("d/new.txt")}}}
			},
		},
		{
			name:  "local modification replaces the remote file",
			setup: func(f *fx) { f.synced("a.txt").local("a.txt", "edited") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Replace, Path: "a.txt", Entry: File, Local: f.L("a.txt"), Remote: f.R("a.txt")}}}
			},
		},
		{
			name:  "remote modification is downloaded over the local file",
			setup: func(f *fx) { f.synced("a.txt").remote("a.txt", "edited") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Download, Path: "a.txt", Entry: File, Local: f.L("a.txt"), Remote: f.R("a.txt")}}}
			},
		},
		{
			name:  "local delete trashes the remote file",
			setup: func(f *fx) { f.synced("a.txt").synced("b.txt").rmLocal("a.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: DeleteRemote, Path: "a.txt", Entry: File, Remote: f.R("a.txt")}}, DeletesRemote: 1}
			},
		},
		{
			name:  "remote delete trashes the local file",
			setup: func(f *fx) { f.synced("a.txt").synced("b.txt").rmRemote("a.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: DeleteLocal, Path: "a.txt", Entry: File, Local: f.L("a.txt")}}, DeletesLocal: 1}
			},
		},
		{
			name:  "new local folder is made before its file is uploaded",
			setup: func(f *fx) { f.local("n/").local("n/x.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: MkdirRemote, Path: "n", Entry: Dir, Local: f.L("n")},
					{Kind: Upload, Path: "n/x.txt", Entry: File, Local: f.L("n/x.txt"), Deps: []int{0}},
				}}
			},
		},
		{
			name:  "new remote folder is made before its file is downloaded",
			setup: func(f *fx) { f.remote("n/").remote("n/x.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: MkdirLocal, Path: "n", Entry: Dir, Remote: f.R("n")},
					{Kind: Download, Path: "n/x.txt", Entry: File, Remote: f.R("n/x.txt"), Deps: []int{0}},
				}}
			},
		},
		{
			name: "local folder delete is one remote op",
			setup: func(f *fx) {
				f.synced("keep.txt").synced("d/").synced("d/a").synced("d/e/").synced("d/e/b").rmLocal("d")
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: DeleteRemote, Path: "d", Entry: Dir, Remote: f.R("d")}}, DeletesRemote: 2}
			},
		},
		{
			name: "remote folder delete with a touched file inside: the file goes first with its own premise",
			setup: func(f *fx) {
				f.synced("keep").synced("z/").synced("z/f.txt").rmRemote("z")
				l := f.in.Local["z/f.txt"]
				l.MtimeNs = 99
				f.in.Local["z/f.txt"] = l
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: DeleteLocal, Path: "z/f.txt", Entry: File, Local: f.L("z/f.txt")},
						{Kind: DeleteLocal, Path: "z", Entry: Dir, Local: f.L("z"), Deps: []int{0}},
					},
					DeletesLocal: 1,
				}
			},
		},
		{
			name:  "remote folder delete is one local op",
			setup: func(f *fx) { f.synced("keep.txt").synced("d/").synced("d/a").rmRemote("d") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: DeleteLocal, Path: "d", Entry: Dir, Local: f.L("d")}}, DeletesLocal: 1}
			},
		},
		{
			name:  "local rename by inode is one remote move",
			setup: func(f *fx) { f.synced("a.txt").moveLocal("a.txt", "b.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: MoveRemote, Path: "b.txt", From: "a.txt", Entry: File, Local: f.L("b.txt"), Remote: f.R("a.txt")}}}
			},
		},
		{
			name: "local rename by unique content hash when inodes are unknown",
			setup: func(f *fx) {
				f.synced("a.txt")
				b := f.in.Base["a.txt"]
				b.Ino, b.Dev = 0, 0
				f.in.Base["a.txt"] = b
				f.rmLocal("a.txt").local("b.txt", "content of a.txt")
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: MoveRemote, Path: "b.txt", From: "a.txt", Entry: File, Local: f.L("b.txt"), Remote: f.R("a.txt")},
					{Kind: Record, Path: "b.txt", Entry: File, Local: f.L("b.txt"), Remote: renamedR(f.R("a.txt"), "b.txt", "root"), Deps: []int{0}},
				}}
			},
		},
		{
			name:  "remote rename by id is one local move",
			setup: func(f *fx) { f.synced("d/").synced("a.txt").moveRemote("a.txt", "d/b.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: MoveLocal, Path: "d/b.txt", From: "a.txt", Entry: File, Local: f.L("a.txt"), Remote: f.R("d/b.txt")}}}
			},
		},
		{
			name:  "local folder rename is one move, children carried",
			setup: func(f *fx) { f.synced("d/").synced("d/a").synced("d/e/").synced("d/e/b").moveLocal("d", "x") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: MoveRemote, Path: "x", From: "d", Entry: Dir, Local: f.L("x"), Remote: f.R("d")}}}
			},
		},
		{
			name:  "remote folder rename is one move, children carried",
			setup: func(f *fx) { f.synced("d/").synced("d/a").moveRemote("d", "x") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: MoveLocal, Path: "x", From: "d", Entry: Dir, Local: f.L("d"), Remote: f.R("x")}}}
			},
		},
		{
			name: "folder rename with a changed child: move, then the child relative to the new path",
			setup: func(f *fx) {
				f.synced("d/").synced("d/a").synced("d/b").moveLocal("d", "x")
				l := f.in.Local["x/a"]
				l.MD5, l.Size = sum("edited"), 6
				f.in.Local["x/a"] = l
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: MoveRemote, Path: "x", From: "d", Entry: Dir, Local: f.L("x"), Remote: f.R("d")},
					{Kind: Replace, Path: "x/a", Entry: File, Local: f.L("x/a"), Remote: f.R("d/a"), Deps: []int{0}},
				}}
			},
		},
		{
			name: "renamed and modified file: move, then replace",
			setup: func(f *fx) {
				f.synced("a.txt").moveLocal("a.txt", "b.txt")
				l := f.in.Local["b.txt"]
				l.MD5, l.Size = sum("edited"), 6
				f.in.Local["b.txt"] = l
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: MoveRemote, Path: "b.txt", From: "a.txt", Entry: File, Local: f.L("b.txt"), Remote: f.R("a.txt")},
					// The replace re-checks the remote file as the move
					// leaves it (issue 13).
					{Kind: Replace, Path: "b.txt", Entry: File, Local: f.L("b.txt"), Remote: renamedR(f.R("a.txt"), "b.txt", "root"), Deps: []int{0}},
				}}
			},
		},
		{
			// What a `git checkout` makes: a file deleted in one folder, a
			// new one with other content in another folder that took its
			// inode. A remote move, then a replace whose premise is the
			// file where the move puts it (issue 13, bug 2).
			name: "new file on a deleted file's inode in another folder: move, then replace of the moved file",
			setup: func(f *fx) {
				f.synced("cmd/").synced("cmd/main_test.go").synced("x.md").moveLocal("cmd/main_test.go", ".gitattributes")
				l := f.in.Local[".gitattributes"]
				l.MD5, l.Size = sum("* text=auto"), 11
				f.in.Local[".gitattributes"] = l
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: MoveRemote, Path: ".gitattributes", From: "cmd/main_test.go", Entry: File, Local: f.L(".gitattributes"), Remote: f.R("cmd/main_test.go")},
					{Kind: Replace, Path: ".gitattributes", Entry: File, Local: f.L(".gitattributes"), Remote: renamedR(f.R("cmd/main_test.go"), ".gitattributes", "root"), Deps: []int{0}},
				}}
			},
		},
		{
			// Into a folder new this pass: the plan knows no remote id for
			// it, so the premise names none and the executor checks the
			// parent the mkdir made.
			name: "renamed and modified file into a new folder: mkdir, move, replace",
			setup: func(f *fx) {
				f.synced("a.txt").synced("x.md").local("n/").moveLocal("a.txt", "n/b.txt")
				l := f.in.Local["n/b.txt"]
				l.MD5, l.Size = sum("edited"), 6
				f.in.Local["n/b.txt"] = l
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: MkdirRemote, Path: "n", Entry: Dir, Local: f.L("n")},
					{Kind: MoveRemote, Path: "n/b.txt", From: "a.txt", Entry: File, Local: f.L("n/b.txt"), Remote: f.R("a.txt"), Deps: []int{0}},
					{Kind: Replace, Path: "n/b.txt", Entry: File, Local: f.L("n/b.txt"), Remote: renamedR(f.R("a.txt"), "b.txt", ""), Deps: []int{0, 1}},
				}}
			},
		},
		{
			name: "touch without content change only refreshes the base",
			setup: func(f *fx) {
				f.synced("a.txt")
				l := f.in.Local["a.txt"]
				l.MtimeNs = 99
				f.in.Local["a.txt"] = l
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Record, Path: "a.txt", Entry: File, Local: f.L("a.txt"), Remote: f.R("a.txt")}}}
			},
		},
		{
			name: "editor save with the same content (new inode) only refreshes the base",
			setup: func(f *fx) {
				f.synced("a.txt").local("a.txt", "content of a.txt")
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Record, Path: "a.txt", Entry: File, Local: f.L("a.txt"), Remote: f.R("a.txt")}}}
			},
		},
	})
}

// Rule 2: both sides changed.
func TestBothSidesChanged(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:  "identical content on both sides is recorded, never a conflict",
			setup: func(f *fx) { f.synced("a.txt").local("a.txt", "same").remote("a.txt", "same") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Record, Path: "a.txt", Entry: File, Local: f.L("a.txt"), Remote: f.R("a.txt")}}}
			},
		},
		{
			name:  "both modified differently keeps both",
			setup: func(f *fx) { f.synced("d/").synced("d/a.txt").local("d/a.txt", "mine").remote("d/a.txt", "theirs") },
			want: func(f *fx) Plan {
				cp := "d/a" + copyDay + ".txt"
				return Plan{
					Ops: []Op{
						{Kind: ConflictLocal, Path: cp, From: "d/a.txt", Entry: File, Local: f.L("d/a.txt"), Remote: f.R("d/a.txt")},
						{Kind: Upload, Path: cp, Entry: File, Local: f.L("d/a.txt"), Deps: []int{0}},
						{Kind: Download, Path: "d/a.txt", Entry: File, Remote: f.R("d/a.txt"), Deps: []int{0}},
					},
					Conflicts: []Conflict{{Path: "d/a.txt", Copy: cp}},
				}
			},
		},
	})
}

func TestBothModifiedUnknownRemoteMD5(t *testing.T) {
	f := newFx()
	f.synced("a.txt").local("a.txt", "mine").remote("a.txt", "theirs")
	r := f.in.Remote["a.txt"]
	r.MD5 = ""
	f.in.Remote["a.txt"] = r
	got := Reconcile(f.input())
	want := Plan{Problems: []Problem{{Path: "a.txt", Side: RemoteSide, Message: "remote content not compared yet"}}}
	if d := cmp.Diff(want, got, planOpts()); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
}

// Found by the engine's simulation: a local rename with an edit against a
// remote replace by the same content. The unknown remote hash must be
// reported at the remote file's path (the engine hashes what it names);
// once known, the rename is applied and the base recorded.
func TestRenameWithEditAgainstRemoteReplace(t *testing.T) {
	f := newFx()
	f.synced("c.md").synced("a.txt")
	f.local("a.txt", "same new content").moveLocal("a.txt", "b.txt").remote("a.txt", "same new content")
	l := f.in.Local["b.txt"]
	l.Ino = f.in.Base["a.txt"].Ino // edited in place, then renamed
	f.in.Local["b.txt"] = l
	unknown := f.input()
	r := unknown.Remote["a.txt"]
	r.MD5 = ""
	unknown.Remote["a.txt"] = r
	want := Plan{Problems: []Problem{{Path: "a.txt", Side: RemoteSide, Message: "remote content not compared yet"}}}
	if d := cmp.Diff(want, Reconcile(unknown), planOpts()); d != "" {
		t.Fatalf("unknown remote hash (-want +got):\n%s", d)
	}
	want = Plan{Ops: []Op{
		{Kind: MoveRemote, Path: "b.txt", From: "a.txt", Entry: File, Local: f.L("b.txt"), Remote: f.R("a.txt")},
		{Kind: Record, Path: "b.txt", Entry: File, Local: f.L("b.txt"), Remote: renamedR(f.R("a.txt"), "b.txt", "root"), Deps: []int{0}},
	}}
	if d := cmp.Diff(want, Reconcile(f.input()), planOpts()); d != "" {
		t.Fatalf("known remote hash (-want +got):\n%s", d)
	}
}

// A tree rewritten by `git checkout`: every changed file is written anew,
// and the kernel hands it the inode of a file just removed, here b.go's
// inode to a.go and a.go's to c.go, while b.go gets a fresh one. Files
// under another path's inode, with other content, while that path holds a
// file of its own, are new versions in place, not renames: the plan is
// three content changes, no move (issue 13: the checkout's moves cost five
// requests or more per file beyond an upload, in chains through one
// another's names). A rename edited before the pass, with its old path
// left empty, is still a rename.
func TestCheckoutReusingInodesIsNoRename(t *testing.T) {
	f := newFx()
	f.synced("a.go", "a1").synced("b.go", "b1").synced("c.go", "c1")
	ia, ib := f.in.Base["a.go"].Ino, f.in.Base["b.go"].Ino
	f.local("a.go", "a2").local("b.go", "b2").local("c.go", "c2")
	for p, ino := range map[string]uint64{"a.go": ib, "c.go": ia} {
		l := f.in.Local[p]
		l.Ino = ino
		f.in.Local[p] = l
	}
	pl := Reconcile(f.input())
	got := map[string]OpKind{}
	for _, op := range pl.Ops {
		got[op.Path] = op.Kind
	}
	want := map[string]OpKind{"a.go": Replace, "b.go": Replace, "c.go": Replace}
	if d := cmp.Diff(want, got); d != "" || len(pl.Conflicts) > 0 {
		t.Fatalf("ops (-want +got):\n%s\nconflicts %v", d, pl.Conflicts)
	}

	// Renamed, then edited: the old path is empty, so it is a rename.
	f = newFx()
	f.synced("a.go", "a1").synced("z.go", "z1")
	f.local("a.go", "a2").moveLocal("a.go", "b.go")
	l := f.in.Local["b.go"]
	l.Ino = f.in.Base["a.go"].Ino
	f.in.Local["b.go"] = l
	pl = Reconcile(f.input())
	if len(pl.Ops) == 0 || pl.Ops[0].Kind != MoveRemote || pl.Ops[0].From != "a.go" {
		t.Fatalf("a rename edited before the pass: ops %v, want a move from a.go first", pl.Ops)
	}
}

func TestConflictName(t *testing.T) {
	now := fxNow()
	cases := []struct{ in, want string }{
		{"a.txt", "a (conflict 2026-11-28 box).txt"},
		{"d/report.final.pdf", "d/report.final (conflict 2026-11-28 box).pdf"},
		{".bashrc", ".bashrc (conflict 2026-11-28 box)"},
		{"d/.config.yaml", "d/.config (conflict 2026-11-28 box).yaml"},
		{"Makefile", "Makefile (conflict 2026-11-28 box)"},
		{"a.tar.gz", "a.tar (conflict 2026-11-28 box).gz"},
	}
	for _, c := range cases {
		if got := ConflictName(c.in, now, "box", nil); got != c.want {
			t.Errorf("ConflictName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	taken := map[string]bool{"a (conflict 2026-11-28 box).txt": true, "a (conflict 2026-11-28 box 2).txt": true}
	if got := ConflictName("a.txt", now, "box", func(p string) bool { return taken[p] }); got != "a (conflict 2026-11-28 box 3).txt" {
		t.Errorf("unique name = %q", got)
	}
}

// Rule 3: modify beats delete; deleted folders keep changed children.
func TestModifyVersusDelete(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:  "local modify beats remote delete: re-upload",
			setup: func(f *fx) { f.synced("a.txt").synced("b").local("a.txt", "edited").rmRemote("a.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Upload, Path: "a.txt", Entry: File, Local: f.L("a.txt")}}}
			},
		},
		{
			name:  "remote modify beats local delete: re-download",
			setup: func(f *fx) { f.synced("a.txt").synced("b").remote("a.txt", "edited").rmLocal("a.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: Download, Path: "a.txt", Entry: File, Remote: f.R("a.txt")}}}
			},
		},
		{
			name:  "delete versus rename: the file survives at the renamed path",
			setup: func(f *fx) { f.synced("a.txt").synced("b").moveRemote("a.txt", "c.txt").rmLocal("a.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: Download, Path: "c.txt", Entry: File, Remote: f.R("c.txt")},
					{Kind: Forget, Path: "a.txt", Entry: File, Deps: []int{0}},
				}}
			},
		},
		{
			name: "folder deleted locally, new remote file inside: unchanged children go, the new one survives",
			setup: func(f *fx) {
				f.synced("keep").synced("d/").synced("d/old").rmLocal("d").remote("d/new")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: MkdirLocal, Path: "d", Entry: Dir, Remote: f.R("d")},
						{Kind: Download, Path: "d/new", Entry: File, Remote: f.R("d/new"), Deps: []int{0}},
						{Kind: DeleteRemote, Path: "d/old", Entry: File, Remote: f.R("d/old")},
					},
					DeletesRemote: 1,
				}
			},
		},
		{
			name: "folder deleted remotely, local child modified: the child is re-uploaded into a re-made folder",
			setup: func(f *fx) {
				f.synced("keep").synced("d/").synced("d/a").synced("d/b").rmRemote("d").local("d/a", "edited")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: MkdirRemote, Path: "d", Entry: Dir, Local: f.L("d")},
						{Kind: Upload, Path: "d/a", Entry: File, Local: f.L("d/a"), Deps: []int{0}},
						{Kind: DeleteLocal, Path: "d/b", Entry: File, Local: f.L("d/b")},
					},
					DeletesLocal: 1,
				}
			},
		},
	})
}

// Rule 4: renames on both sides, crossed moves, file versus folder.
func TestRenameConflicts(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:  "renamed differently on both sides: the remote name wins, reported",
			setup: func(f *fx) { f.synced("a.txt").moveLocal("a.txt", "l.txt").moveRemote("a.txt", "r.txt") },
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: MoveLocal, Path: "r.txt", From: "l.txt", Entry: File, Local: f.L("l.txt"), Remote: f.R("r.txt")},
						{Kind: Record, Path: "r.txt", Entry: File, Local: renamedL(f.L("l.txt"), "r.txt"), Remote: f.R("r.txt"), Deps: []int{0}},
						{Kind: Forget, Path: "a.txt", Entry: File, Deps: []int{0, 1}},
					},
					Conflicts: []Conflict{{Path: "a.txt"}},
				}
			},
		},
		{
			name:  "renamed identically on both sides: only the base follows",
			setup: func(f *fx) { f.synced("a.txt").moveLocal("a.txt", "b.txt").moveRemote("a.txt", "b.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: Record, Path: "b.txt", Entry: File, Local: f.L("b.txt"), Remote: f.R("b.txt")},
					{Kind: Forget, Path: "a.txt", Entry: File, Deps: []int{0}},
				}}
			},
		},
		{
			name:  "folder moved identically on both sides: its subtree is recorded at the new path, no transfer",
			setup: func(f *fx) { f.synced("d/").synced("d/a").synced("d/s/").moveLocal("d", "e").moveRemote("d", "e") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: Record, Path: "e", Entry: Dir, Local: f.L("e"), Remote: f.R("e")},
					{Kind: Record, Path: "e/a", Entry: File, Local: f.L("e/a"), Remote: f.R("e/a")},
					{Kind: Record, Path: "e/s", Entry: Dir, Local: f.L("e/s"), Remote: f.R("e/s")},
					{Kind: Forget, Path: "d", Entry: Dir, Deps: []int{0, 1, 2}},
				}}
			},
		},
		{
			name: "folder renamed differently on both sides, a new folder at the old name: the old base goes first",
			setup: func(f *fx) {
				f.synced("y/").synced("y/f.txt").moveRemote("y", "x").remote("y/").moveLocal("y", "z")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: MoveLocal, Path: "x", From: "z", Entry: Dir, Local: f.L("z"), Remote: f.R("x")},
						{Kind: Record, Path: "x", Entry: Dir, Local: renamedL(f.L("z"), "x"), Remote: f.R("x"), Deps: []int{0}},
						{Kind: Record, Path: "x/f.txt", Entry: File, Local: f.L("z/f.txt"), Remote: f.R("x/f.txt"), Deps: []int{0}},
						{Kind: Forget, Path: "y", Entry: Dir, Deps: []int{0, 1, 2}},
						{Kind: MkdirLocal, Path: "y", Entry: Dir, Remote: f.R("y"), Deps: []int{3}},
					},
					Conflicts: []Conflict{{Path: "y"}},
				}
			},
		},
		{
			name:  "rename into a folder deleted on the other side: the folder is re-made, the file survives",
			setup: func(f *fx) { f.synced("d/").synced("d/old").synced("x").moveLocal("x", "d/x").rmRemote("d") },
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: MkdirRemote, Path: "d", Entry: Dir, Local: f.L("d")},
						{Kind: MoveRemote, Path: "d/x", From: "x", Entry: File, Local: f.L("d/x"), Remote: f.R("x"), Deps: []int{0}},
						{Kind: DeleteLocal, Path: "d/old", Entry: File, Local: f.L("d/old")},
					},
					DeletesLocal: 1,
				}
			},
		},
		{
			name: "crossed moves: no cycle, the remote side's move is applied",
			setup: func(f *fx) {
				f.synced("a/").synced("b/").synced("a/f").moveLocal("a", "b/a").moveRemote("b", "a/b")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: MoveLocal, Path: "a", From: "b/a", Entry: Dir, Local: f.L("b/a"), Remote: f.R("a")},
						{Kind: MoveLocal, Path: "a/b", From: "b", Entry: Dir, Local: f.L("b"), Remote: f.R("a/b"), Deps: []int{0}},
					},
					Conflicts: []Conflict{{Path: "a"}, {Path: "b"}},
				}
			},
		},
		{
			name:  "case-only rename is an ordinary rename",
			setup: func(f *fx) { f.synced("a.txt").moveLocal("a.txt", "A.txt") },
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: MoveRemote, Path: "A.txt", From: "a.txt", Entry: File, Local: f.L("A.txt"), Remote: f.R("a.txt")}}}
			},
		},
		{
			name:  "file versus folder at one path: both kept, the file renamed",
			setup: func(f *fx) { f.local("x", "a file").remote("x/").remote("x/in") },
			want: func(f *fx) Plan {
				cp := "x" + copyDay
				return Plan{
					Ops: []Op{
						{Kind: MoveLocal, Path: cp, From: "x", Entry: File, Local: f.L("x")},
						{Kind: MkdirLocal, Path: "x", Entry: Dir, Remote: f.R("x"), Deps: []int{0}},
						{Kind: Upload, Path: cp, Entry: File, Local: f.L("x"), Deps: []int{0}},
						{Kind: Download, Path: "x/in", Entry: File, Remote: f.R("x/in"), Deps: []int{1}},
					},
					Conflicts: []Conflict{{Path: "x", Copy: cp}},
				}
			},
		},
	})
}

// Rule 5: the first pass (no base) is a union without deletes.
func TestFirstPass(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "union of both sides, equal files recorded, different kept both, unknown reported",
			setup: func(f *fx) {
				f.local("both/").remote("both/")
				f.local("both/same", "x").remote("both/same", "x")
				f.local("both/diff", "mine").remote("both/diff", "theirs")
				f.local("unknown", "mine").remote("unknown", "theirs")
				r := f.in.Remote["unknown"]
				r.MD5 = ""
				f.in.Remote["unknown"] = r
				f.local("only-local").remote("only-remote")
			},
			want: func(f *fx) Plan {
				cp := "both/diff" + copyDay
				return Plan{
					Ops: []Op{
						{Kind: ConflictLocal, Path: cp, From: "both/diff", Entry: File, Local: f.L("both/diff"), Remote: f.R("both/diff")},
						{Kind: Download, Path: "both/diff", Entry: File, Remote: f.R("both/diff"), Deps: []int{0}},
						{Kind: Upload, Path: cp, Entry: File, Local: f.L("both/diff"), Deps: []int{0}},
						{Kind: Upload, Path: "only-local", Entry: File, Local: f.L("only-local")},
						{Kind: Download, Path: "only-remote", Entry: File, Remote: f.R("only-remote")},
						{Kind: Record, Path: "both", Entry: Dir, Local: f.L("both"), Remote: f.R("both")},
						{Kind: Record, Path: "both/same", Entry: File, Local: f.L("both/same"), Remote: f.R("both/same")},
					},
					Conflicts: []Conflict{{Path: "both/diff", Copy: cp}},
					Problems:  []Problem{{Path: "unknown", Side: RemoteSide, Message: "remote content not compared yet"}},
				}
			},
		},
	})
}

// Rule 6: one-way pairs.
func TestDirections(t *testing.T) {
	up := func(f *fx) { f.in.Direction = UploadOnly }
	down := func(f *fx) { f.in.Direction = DownloadOnly }
	runPlanCases(t, []planCase{
		{
			name: "upload-only: local changes go up, remote-only changes are left alone",
			setup: func(f *fx) {
				up(f)
				f.synced("keep").synced("mod-local").synced("mod-remote").synced("gone-remote")
				f.local("mod-local", "new").remote("mod-remote", "new").rmRemote("gone-remote")
				f.local("new-local").remote("new-remote")
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: Upload, Path: "gone-remote", Entry: File, Local: f.L("gone-remote")},
					{Kind: Replace, Path: "mod-local", Entry: File, Local: f.L("mod-local"), Remote: f.R("mod-local")},
					{Kind: Upload, Path: "new-local", Entry: File, Local: f.L("new-local")},
				}}
			},
		},
		{
			name:  "upload-only: an independent remote change is kept as a conflict copy first",
			setup: func(f *fx) { up(f); f.synced("a.txt").local("a.txt", "mine").remote("a.txt", "theirs") },
			want: func(f *fx) Plan {
				cp := "a" + copyDay + ".txt"
				return Plan{
					Ops: []Op{
						{Kind: ConflictRemote, Path: cp, From: "a.txt", Entry: File, Local: f.L("a.txt"), Remote: f.R("a.txt")},
						{Kind: Upload, Path: "a.txt", Entry: File, Local: f.L("a.txt"), Deps: []int{0}},
					},
					Conflicts: []Conflict{{Path: "a.txt", Copy: cp}},
				}
			},
		},
		{
			name: "upload-only: a local delete propagates, a remote change under it is left alone",
			setup: func(f *fx) {
				up(f)
				f.synced("a").synced("b").synced("c").rmLocal("a").rmLocal("b").remote("b", "theirs")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: DeleteRemote, Path: "a", Entry: File, Remote: f.R("a")},
						{Kind: Forget, Path: "b", Entry: File},
					},
					DeletesRemote: 1,
				}
			},
		},
		{
			name: "download-only: the mirror image",
			setup: func(f *fx) {
				down(f)
				f.synced("keep").synced("m").remote("m", "new").local("keep", "mine").remote("r-new").local("l-new")
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: Download, Path: "m", Entry: File, Local: f.L("m"), Remote: f.R("m")},
					{Kind: Download, Path: "r-new", Entry: File, Remote: f.R("r-new")},
				}}
			},
		},
		{
			name: "upload-only mirror: the remote becomes a replica",
			setup: func(f *fx) {
				up(f)
				f.in.Mirror = true
				f.synced("keep").synced("m").remote("m", "theirs").remote("extra").remote("xd/").remote("xd/y")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: Replace, Path: "m", Entry: File, Local: f.L("m"), Remote: f.R("m")},
						{Kind: DeleteRemote, Path: "extra", Entry: File, Remote: f.R("extra")},
						{Kind: DeleteRemote, Path: "xd", Entry: Dir, Remote: f.R("xd")},
					},
					DeletesRemote: 2,
				}
			},
		},
	})
}

// Rule 7: safety.
func TestSafety(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "an unreadable local folder: absence is no delete, nothing planned below it",
			setup: func(f *fx) {
				f.synced("d/").synced("d/a").synced("b").rmLocal("d").remote("d/new")
				f.in.LocalUnknown = []string{"d"}
			},
			want: func(f *fx) Plan { return Plan{} },
		},
		{
			name: "a failed remote listing: absence is no delete",
			setup: func(f *fx) {
				f.synced("d/").synced("d/a").synced("b").rmRemote("d").local("d/new")
				f.in.RemoteUnknown = []string{"d"}
			},
			want: func(f *fx) Plan { return Plan{} },
		},
		{
			name: "newly ignored base entries are forgotten, never deleted; ignored new entries untouched",
			setup: func(f *fx) {
				f.synced("keep").synced("cache/").synced("cache/x").synced("a.tmp").local("b.tmp").remote("c.tmp")
				f.in.Ignored = func(p string, _ Kind) bool { return strings.HasSuffix(p, ".tmp") || p == "cache" }
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: Forget, Path: "a.tmp", Entry: File},
					{Kind: Forget, Path: "cache", Entry: Dir},
				}}
			},
		},
		{
			name: "known problems are reported again and planned for nothing",
			setup: func(f *fx) {
				f.local("bad")
				f.in.KnownProblems = map[string]bool{"bad": true}
			},
			want: func(f *fx) Plan {
				return Plan{Problems: []Problem{{Path: "bad", Message: "problem reported by an earlier pass is unresolved"}}}
			},
		},
		{
			name: "an emptied local file is a problem and never deletes the remote",
			setup: func(f *fx) {
				f.synced("a").local("a", "").local("new-empty", "")
			},
			want: func(f *fx) Plan {
				return Plan{Problems: []Problem{
					{Path: "a", Side: LocalSide, Message: "empty files cannot be uploaded"},
					{Path: "new-empty", Side: LocalSide, Message: "empty files cannot be uploaded"},
				}}
			},
		},
		{
			name: "files above the upload limit are problems",
			setup: func(f *fx) {
				f.in.MaxUploadSize = 4
				f.local("big", "12345").local("ok", "1234")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops:      []Op{{Kind: Upload, Path: "ok", Entry: File, Local: f.L("ok")}},
					Problems: []Problem{{Path: "big", Side: LocalSide, Message: "file is larger than the upload limit"}},
				}
			},
		},
		{
			name: "names the remote cannot hold are problems; a problem folder's children are skipped",
			setup: func(f *fx) {
				f.local(" lead").local("<b>/").local("<b>/child").local(".dotfile").local(`say "hi"`)
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: Upload, Path: ".dotfile", Entry: File, Local: f.L(".dotfile")},
						{Kind: Upload, Path: `say "hi"`, Entry: File, Local: f.L(`say "hi"`)},
					},
					Problems: []Problem{
						{Path: " lead", Side: LocalSide, Message: "the remote cannot hold this name: leading or trailing whitespace is trimmed by the remote"},
						{Path: "<b>", Side: LocalSide, Message: "the remote cannot hold this name: text that looks like an HTML tag is stripped by the remote"},
					},
				}
			},
		},
	})
}

func TestRemoteNameProblem(t *testing.T) {
	ok := []string{"a.txt", ".bashrc", `it's "quoted"`, "a < b", "x<1", "é", strings.Repeat("a", 255)}
	bad := []string{"", " a", "a ", "a\t", "<b>", "x</y", "<!--", "<?php", "\xff", strings.Repeat("a", 256), "<é"}
	for _, n := range ok {
		if msg := RemoteNameProblem(n); msg != "" {
			t.Errorf("RemoteNameProblem(%q) = %q, want fine", n, msg)
		}
	}
	for _, n := range bad {
		if RemoteNameProblem(n) == "" {
			t.Errorf("RemoteNameProblem(%q) = fine, want a problem", n)
		}
	}
}

func massDelete(n int) func(f *fx) {
	return func(f *fx) {
		for i := range n {
			f.synced(strings.Repeat("f", 1) + string(rune('a'+i)))
		}
		f.synced("keep/").synced("keep/x").synced("new-remote-only")
		for i := range n {
			f.rmLocal("f" + string(rune('a'+i)))
		}
		f.local("up")
		f.in.DeleteLimit = DeleteLimit{Percent: 50, Min: 3}
	}
}

func TestMassDeleteGuard(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:  "above the limit: halt, no destructive op, the rest goes on",
			setup: massDelete(6),
			want: func(f *fx) Plan {
				return Plan{
					Ops:           []Op{{Kind: Upload, Path: "up", Entry: File, Local: f.L("up")}},
					Halt:          "mass-delete guard: the plan would delete 6 of 8 synced files remotely (limit 50%, min 3); force to override",
					DeletesRemote: 6,
				}
			},
		},
		{
			name:  "at or below Min never trips",
			setup: massDelete(3),
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: Upload, Path: "up", Entry: File, Local: f.L("up")},
						{Kind: DeleteRemote, Path: "fa", Entry: File, Remote: f.R("fa")},
						{Kind: DeleteRemote, Path: "fb", Entry: File, Remote: f.R("fb")},
						{Kind: DeleteRemote, Path: "fc", Entry: File, Remote: f.R("fc")},
					},
					DeletesRemote: 3,
				}
			},
		},
		{
			name: "force overrides",
			setup: func(f *fx) {
				massDelete(4)(f)
				f.in.Force = true
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: Upload, Path: "up", Entry: File, Local: f.L("up")},
						{Kind: DeleteRemote, Path: "fa", Entry: File, Remote: f.R("fa")},
						{Kind: DeleteRemote, Path: "fb", Entry: File, Remote: f.R("fb")},
						{Kind: DeleteRemote, Path: "fc", Entry: File, Remote: f.R("fc")},
						{Kind: DeleteRemote, Path: "fd", Entry: File, Remote: f.R("fd")},
					},
					DeletesRemote: 4,
				}
			},
		},
		{
			name: "a big folder rename is not a mass delete",
			setup: func(f *fx) {
				f.synced("d/")
				for i := range 8 {
					f.synced("d/" + string(rune('a'+i)))
				}
				f.moveLocal("d", "e")
				f.in.DeleteLimit = DeleteLimit{Percent: 10, Min: 1}
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{{Kind: MoveRemote, Path: "e", From: "d", Entry: Dir, Local: f.L("e"), Remote: f.R("d")}}}
			},
		},
		{
			name: "an emptied local side halts",
			setup: func(f *fx) {
				f.synced("a").synced("b").rmLocal("a").rmLocal("b")
			},
			want: func(f *fx) Plan {
				return Plan{
					Halt:          "the local side is empty but 2 files were synced: refusing to mirror that (force to override)",
					DeletesRemote: 2,
				}
			},
		},
	})
}

// Rule 8: op order and dependencies.
func TestOrdering(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "a move out of a folder runs before the folder's delete",
			setup: func(f *fx) {
				f.synced("keep").synced("d/").synced("d/x").synced("d/y").moveLocal("d/x", "x2").rmLocal("d")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: MoveRemote, Path: "x2", From: "d/x", Entry: File, Local: f.L("x2"), Remote: f.R("d/x")},
						{Kind: DeleteRemote, Path: "d", Entry: Dir, Remote: f.R("d"), Deps: []int{0}},
					},
					DeletesRemote: 1,
				}
			},
		},
		{
			name: "a file replaced by a folder: delete first, then the folder and its content",
			setup: func(f *fx) {
				f.synced("keep").synced("p").rmLocal("p").local("p/").local("p/in")
			},
			want: func(f *fx) Plan {
				return Plan{
					Ops: []Op{
						{Kind: DeleteRemote, Path: "p", Entry: File, Remote: f.R("p")},
						{Kind: MkdirRemote, Path: "p", Entry: Dir, Local: f.L("p"), Deps: []int{0}},
						{Kind: Upload, Path: "p/in", Entry: File, Local: f.L("p/in"), Deps: []int{1}},
					},
					DeletesRemote: 1,
				}
			},
		},
		{
			name: "moves into a renamed folder go after it; outer before inner",
			setup: func(f *fx) {
				f.synced("a/").synced("a/b/").synced("a/b/f").synced("g").moveLocal("a", "z").moveLocal("g", "z/b/g")
			},
			want: func(f *fx) Plan {
				return Plan{Ops: []Op{
					{Kind: MoveRemote, Path: "z", From: "a", Entry: Dir, Local: f.L("z"), Remote: f.R("a")},
					{Kind: MoveRemote, Path: "z/b/g", From: "g", Entry: File, Local: f.L("z/b/g"), Remote: f.R("g"), Deps: []int{0}},
				}}
			},
		},
	})
}

// renamedL and renamedR are premises as a Record carries them after this
// plan's moves of the entry: the new name (and remote parent).
func renamedL(l *Local, name string) *Local {
	c := *l
	c.Name = name
	return &c
}

func renamedR(r *Remote, name, parentID string) *Remote {
	c := *r
	c.Name, c.ParentID = name, parentID
	return &c
}

// A folder deleted on both sides, and another moved to its path on both
// sides (rm -r y; mv x y, on each side): the forget of
// the old folder's base drops the base entries below its path, so the
// records of the new folder and its files run after it, and an upload into
// the new folder too. Found by TestSimTwoHostsInterleaved (seed 920042),
// where a record ran first and its base entry was dropped.
func TestForgetOfAFolderDeletedOnBothSidesRunsFirst(t *testing.T) {
	f := newFx()
	f.synced("x/").synced("x/a.txt", "a").synced("y/").synced("y/old.txt", "old")
	f.rmLocal("y").rmRemote("y")
	f.moveLocal("x", "y").moveRemote("x", "y")
	f.local("y/e.txt", "new")
	pl := Reconcile(f.input())
	forget := -1
	for i, op := range pl.Ops {
		if op.Kind == Forget && op.Path == "y" {
			forget = i
		}
	}
	if forget < 0 {
		t.Fatalf("no forget of y:\n%s", dumpPlan(pl))
	}
	for i, op := range pl.Ops {
		if i == forget || op.Path != "y" && !strings.HasPrefix(op.Path, "y/") {
			continue
		}
		if !slices.Contains(op.Deps, forget) {
			t.Errorf("%s %s does not wait for the forget of y:\n%s", op.Kind, op.Path, dumpPlan(pl))
		}
	}
}

// git removes a folder and makes a new one elsewhere, which the kernel
// gives the removed folder's inode, and fills it with new files: that is
// no rename, which would move the folder and then delete each old file one
// by one. A folder renamed with its entries (mv a b), or one that held
// nothing, still is.
func TestCheckoutReusingAFolderInodeIsNoRename(t *testing.T) {
	kinds := func(pl Plan) map[string]OpKind {
		got := map[string]OpKind{}
		for _, op := range pl.Ops {
			got[op.Path] = op.Kind
		}
		return got
	}
	f := newFx()
	f.synced("a/").synced("a/f.go", "f1").synced("a/g.go", "g1").synced("z.go", "z")
	ia := f.in.Base["a"].Ino
	f.rmLocal("a")
	f.local("b/").local("b/h.go", "h1")
	f.in.Local["b"] = Local{Kind: Dir, Name: "b", Dev: 1, Ino: ia}
	pl := Reconcile(f.input())
	want := map[string]OpKind{"a": DeleteRemote, "b": MkdirRemote, "b/h.go": Upload}
	if d := cmp.Diff(want, kinds(pl)); d != "" {
		t.Fatalf("ops (-want +got):\n%s\n%s", d, dumpPlan(pl))
	}

	// mv a b: the folder holds its files under their inodes.
	f = newFx()
	f.synced("a/").synced("a/f.go", "f1").synced("z.go", "z")
	f.moveLocal("a", "b")
	pl = Reconcile(f.input())
	if d := cmp.Diff(map[string]OpKind{"b": MoveRemote}, kinds(pl)); d != "" {
		t.Fatalf("mv a b: ops (-want +got):\n%s\n%s", d, dumpPlan(pl))
	}

	// mv a b, then a file in it renamed and another added: still a rename.
	f = newFx()
	f.synced("a/").synced("a/f.go", "f1").synced("z.go", "z")
	f.moveLocal("a", "b").moveLocal("b/f.go", "b/f2.go").local("b/new.go", "n")
	pl = Reconcile(f.input())
	if got := kinds(pl); got["b"] != MoveRemote || got["b/f2.go"] != MoveRemote || got["b/new.go"] != Upload {
		t.Fatalf("mv a b; mv b/f.go b/f2.go: ops %v\n%s", got, dumpPlan(pl))
	}

	// An empty folder renamed: one move.
	f = newFx()
	f.synced("a/").synced("z.go", "z")
	f.moveLocal("a", "b")
	pl = Reconcile(f.input())
	if d := cmp.Diff(map[string]OpKind{"b": MoveRemote}, kinds(pl)); d != "" {
		t.Fatalf("empty folder: ops (-want +got):\n%s\n%s", d, dumpPlan(pl))
	}
}
