package state

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func file(path, id string) Entry {
	name := path[strings.LastIndexByte(path, '/')+1:]
	return Entry{Path: path, Kind: KindFile, LocalName: name, RemoteName: name, Size: 3,
		MtimeNs: 1_700_000_000_000_000_001, Dev: 7, Ino: 42, MD5: "900150983cd24fb0d6963f7d28e17f72",
		RemoteID: id, RemoteParentID: "p"}
}

func dir(path, id string) Entry {
	e := file(path, id)
	e.Kind, e.Size, e.MD5 = KindDir, 0, ""
	return e
}

func commit(t *testing.T, s *Store, pair string, fn func(b *Batch)) {
	t.Helper()
	var b Batch
	fn(&b)
	if err := s.Commit(pair, b); err != nil {
		t.Fatal(err)
	}
}

func base(t *testing.T, s *Store, pair string) map[string]Entry {
	t.Helper()
	m, err := s.Base(pair)
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s, pair, m)
	return m
}

// fataler is what checkIndex needs of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Errorf(format string, args ...any)
}

// checkIndex proves the rid index is exactly the base's ids.
func checkIndex(t fataler, s *Store, pair string, m map[string]Entry) {
	t.Helper()
	want := map[string]string{}
	for p, e := range m {
		if e.RemoteID != "" {
			want[ridKey(e.Kind, e.RemoteID)] = p // the stored form: folders apart from files
		}
	}
	got := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := subBucket(tx, pair, bucketRID)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rid index differs from base (-want +got):\n%s", d)
	}
}

func keys(m map[string]Entry) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPutLookupRoundTrip(t *testing.T) {
	s, _ := openTest(t)
	odd := file("d/caf\u00e9.txt", "f2")
	odd.LocalName = "cafe\u0301.txt" // NFD on disk, NFC key
	odd.RemoteName = "caf\u00e9 (2).txt"
	odd.MtimeNs, odd.Size, odd.Dev, odd.Ino = -5, 1<<40, ^uint64(0), 1<<63
	entries := []Entry{dir("d", "d1"), odd, file("top", "f1"), {Path: "noid", Kind: KindFile, LocalName: "noid"}}
	commit(t, s, "p", func(b *Batch) {
		for _, e := range entries {
			b.Put(e)
		}
	})
	got := base(t, s, "p")
	for _, e := range entries {
		if d := cmp.Diff(e, got[e.Path]); d != "" {
			t.Errorf("Base()[%s] (-want +got):\n%s", e.Path, d)
		}
		l, ok, err := s.Lookup("p", e.Path)
		if err != nil || !ok {
			t.Fatalf("Lookup(%s): ok=%v err=%v", e.Path, ok, err)
		}
		if d := cmp.Diff(e, l); d != "" {
			t.Errorf("Lookup(%s) (-want +got):\n%s", e.Path, d)
		}
	}
	if p, ok, _ := s.PathOfRemoteID("p", KindFile, "f2"); !ok || p != "d/caf\u00e9.txt" {
		t.Errorf("PathOfRemoteID(f2) = %q, %v", p, ok)
	}
	if _, ok, _ := s.Lookup("p", "missing"); ok {
		t.Error("Lookup of a missing path found something")
	}
	if _, ok, _ := s.Lookup("other", "top"); ok {
		t.Error("pairs are not separate")
	}
}

// The service numbers files and folders separately: file 3 and folder 3
// are two objects, and both may be in one pair's base. The stored form
// keeps them apart (folder ids behind folderIDPrefix, in the entry and as
// the index key), and callers see plain ids.
func TestFilesAndFoldersAreSeparateIDSpaces(t *testing.T) {
	s, _ := openTest(t)
	commit(t, s, "p", func(b *Batch) { b.Put(dir("d", "3")); b.Put(file("d/f", "3")) })
	got := base(t, s, "p")
	if got["d"].RemoteID != "3" || got["d/f"].RemoteID != "3" {
		t.Fatalf("ids read back %q and %q, want the plain 3 for both", got["d"].RemoteID, got["d/f"].RemoteID)
	}
	if p, ok, _ := s.PathOfRemoteID("p", KindDir, "3"); !ok || p != "d" {
		t.Errorf("folder 3 at %q, %v; want d", p, ok)
	}
	if p, ok, _ := s.PathOfRemoteID("p", KindFile, "3"); !ok || p != "d/f" {
		t.Errorf("file 3 at %q, %v; want d/f", p, ok)
	}
	if enc := string(appendEntry(nil, &Entry{Path: "d", Kind: KindDir, LocalName: "d", RemoteName: "d", RemoteID: "3"})); !strings.Contains(enc, folderIDPrefix+"3") {
		t.Errorf("a folder's stored id is %q, want it behind %q (databases written before this change)", enc, folderIDPrefix)
	}
	commit(t, s, "p", func(b *Batch) { b.Delete("d/f") })
	if p, ok, _ := s.PathOfRemoteID("p", KindDir, "3"); !ok || p != "d" {
		t.Errorf("deleting file 3 unindexed folder 3: %q, %v", p, ok)
	}
}

func TestPutReplacesAndReindexes(t *testing.T) {
	s, _ := openTest(t)
	commit(t, s, "p", func(b *Batch) { b.Put(file("a", "old")) })
	commit(t, s, "p", func(b *Batch) { b.Put(file("a", "new")) }) // Replace: new remote id
	if _, ok, _ := s.PathOfRemoteID("p", KindFile, "old"); ok {
		t.Error("old id still indexed after replace")
	}
	if p, ok, _ := s.PathOfRemoteID("p", KindFile, "new"); !ok || p != "a" {
		t.Errorf("PathOfRemoteID(new) = %q, %v", p, ok)
	}
	base(t, s, "p")
}

func TestDuplicateRemoteIDRefusedAtomically(t *testing.T) {
	s, _ := openTest(t)
	commit(t, s, "p", func(b *Batch) { b.Put(file("a", "f1")) })
	var b Batch
	b.Put(file("c", "f3"))
	b.Put(file("b", "f1"))
	if err := s.Commit("p", b); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("Commit with a duplicate id: %v, want ErrDuplicateID", err)
	}
	got := base(t, s, "p")
	if d := cmp.Diff([]string{"a"}, keys(got)); d != "" {
		t.Errorf("failed batch left changes (-want +got):\n%s", d)
	}
	// Deleting first, in the same batch, makes the move legal.
	commit(t, s, "p", func(b *Batch) { b.Delete("a"); b.Put(file("b", "f1")) })
	if p, _, _ := s.PathOfRemoteID("p", KindFile, "f1"); p != "b" {
		t.Errorf("f1 at %q, want b", p)
	}
}

func TestDeleteTreeKeepsSiblings(t *testing.T) {
	s, _ := openTest(t)
	paths := []string{"a", "a/x", "a/y", "a/y/z", "a-b", "a.b", "ab", "b/a"}
	commit(t, s, "p", func(b *Batch) {
		for i, p := range paths {
			b.Put(file(p, fmt.Sprint("id", i)))
		}
	})
	commit(t, s, "p", func(b *Batch) { b.DeleteTree("a"); b.Delete("ab"); b.Delete("never-there") })
	if d := cmp.Diff([]string{"a-b", "a.b", "b/a"}, keys(base(t, s, "p"))); d != "" {
		t.Errorf("after DeleteTree(a) (-want +got):\n%s", d)
	}
	sum, err := s.Summary("p")
	if err != nil || sum.Entries != 3 {
		t.Errorf("Summary entries = %d, %v; want 3", sum.Entries, err)
	}
}

func TestMoveSubtree(t *testing.T) {
	s, _ := openTest(t)
	commit(t, s, "p", func(b *Batch) {
		b.Put(dir("old", "d1"))
		b.Put(file("old/f", "f1"))
		b.Put(dir("old/sub", "d2"))
		b.Put(file("old/sub/g", "f2"))
		b.Put(file("old-sibling", "f3"))
	})
	commit(t, s, "p", func(b *Batch) {
		b.Move("old", "new/place")
		renamed := dir("new/place", "d1")
		b.Put(renamed) // the engine records the new names after the move
	})
	got := base(t, s, "p")
	want := []string{"new/place", "new/place/f", "new/place/sub", "new/place/sub/g", "old-sibling"}
	if d := cmp.Diff(want, keys(got)); d != "" {
		t.Fatalf("after Move (-want +got):\n%s", d)
	}
	if g := got["new/place/sub/g"]; g.LocalName != "g" || g.RemoteID != "f2" || g.Size != 3 {
		t.Errorf("moved entry changed: %+v", g)
	}
	if got["new/place"].LocalName != "place" {
		t.Errorf("Put after Move did not rename: %+v", got["new/place"])
	}
	if p, _, _ := s.PathOfRemoteID("p", KindFile, "f2"); p != "new/place/sub/g" {
		t.Errorf("f2 indexed at %q", p)
	}
}

func TestMoveKeepsStoredNames(t *testing.T) {
	s, _ := openTest(t)
	commit(t, s, "p", func(b *Batch) { b.Put(file("a", "f1")) })
	commit(t, s, "p", func(b *Batch) { b.Move("a", "b") })
	e, _, _ := s.Lookup("p", "b")
	if e.LocalName != "a" || e.RemoteName != "a" {
		t.Errorf("Move changed names: %+v", e)
	}
}

func TestMoveErrorsAbortTheBatch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		want     error
	}{
		{"missing source", "nope", "x", ErrNotFound},
		{"destination exists", "a", "b", ErrExists},
		{"destination has children", "a", "c", ErrExists},
		{"into itself", "a", "a/in", ErrInvalidPath},
		{"onto itself", "a", "a", ErrInvalidPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTest(t)
			commit(t, s, "p", func(b *Batch) {
				b.Put(dir("a", "d1"))
				b.Put(file("a/f", "f1"))
				b.Put(file("b", "f2"))
				b.Put(file("c/x", "f3"))
			})
			var b Batch
			b.Delete("b/none")
			b.Put(file("new", "f9"))
			b.Move(tc.from, tc.to)
			if err := s.Commit("p", b); !errors.Is(err, tc.want) {
				t.Fatalf("Commit: %v, want %v", err, tc.want)
			}
			if _, ok, _ := s.Lookup("p", "new"); ok {
				t.Error("earlier op of a failed batch was committed")
			}
			base(t, s, "p")
		})
	}
}

func TestInvalidPathsRefused(t *testing.T) {
	s, _ := openTest(t)
	for _, p := range []string{"", "/abs", "trail/", "a//b", ".", "a/./b", "../x", "a/..",
		"cafe\u0301", "bad\xff", "nul\x00"} {
		var b Batch
		b.Put(file(p+"", "id"))
		if err := s.Commit("p", b); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Put(%q): %v, want ErrInvalidPath", p, err)
		}
	}
}

func TestMetaAndRootID(t *testing.T) {
	s, _ := openTest(t)
	now := time.Date(2026, 11, 28, 3, 0, 0, 123, time.UTC)
	m := Meta{LocalRoot: "/srv/data", RemotePath: "/backups/data", RemoteRootID: "root7",
		Initialised: true, LastSync: now, LastAttempt: now, LastError: "x", Halted: "h", Pending: 3}
	commit(t, s, "p", func(b *Batch) { b.SetMeta(m) })
	got, ok, err := s.Meta("p")
	if err != nil || !ok {
		t.Fatalf("Meta: ok=%v err=%v", ok, err)
	}
	if !got.LastSync.Equal(now) {
		t.Errorf("LastSync = %v, want %v", got.LastSync, now)
	}
	got.LastSync, got.LastAttempt = now, now
	if d := cmp.Diff(m, got); d != "" {
		t.Errorf("Meta (-want +got):\n%s", d)
	}
	if p, ok, _ := s.PathOfRemoteID("p", KindDir, "root7"); !ok || p != "" {
		t.Errorf("root id maps to %q, %v; want \"\", true", p, ok)
	}
	if _, ok, _ := s.PathOfRemoteID("p", KindDir, ""); ok {
		t.Error("empty id maps to something although the root id is set")
	}
	pairs, _ := s.Pairs()
	if d := cmp.Diff([]string{"p"}, pairs); d != "" {
		t.Errorf("Pairs (-want +got):\n%s", d)
	}
	if err := s.DeletePair("p"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Meta("p"); ok {
		t.Error("meta survives DeletePair")
	}
}

func TestRemoteMD5Cache(t *testing.T) {
	s, _ := openTest(t)
	commit(t, s, "p1", func(b *Batch) { b.PutRemoteMD5("f1", "abc") })
	if got, ok, err := s.RemoteMD5("f1"); !ok || err != nil || got != "abc" {
		t.Errorf("RemoteMD5(f1) = %q, %v, %v", got, ok, err)
	}
	if _, ok, _ := s.RemoteMD5("f2"); ok {
		t.Error("RemoteMD5 of an unknown id found something")
	}
	commit(t, s, "p2", func(b *Batch) { b.DeleteRemoteMD5("f1"); b.DeleteRemoteMD5("f2") })
	if _, ok, _ := s.RemoteMD5("f1"); ok {
		t.Error("RemoteMD5 after DeleteRemoteMD5 found something")
	}
	var empty Batch
	empty.PutRemoteMD5("", "abc")
	if err := s.Commit("p", empty); err == nil {
		t.Error("PutRemoteMD5 with an empty id succeeded")
	}
}

func TestProblemsKeepSinceWhileCauseUnchanged(t *testing.T) {
	s, _ := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	commit(t, s, "p", func(b *Batch) {
		b.PutProblem("a", Problem{Side: "local", Message: "too big", Signature: "s1", Since: t0})
		b.PutProblem("b", Problem{Side: "remote", Message: "bad name", Signature: "n", Since: t0})
	})
	commit(t, s, "p", func(b *Batch) {
		b.PutProblem("a", Problem{Side: "local", Message: "too big!", Signature: "s1", Since: t1})
		b.PutProblem("b", Problem{Side: "remote", Message: "bad name", Signature: "n2", Since: t1})
	})
	ps, err := s.Problems("p")
	if err != nil {
		t.Fatal(err)
	}
	if !ps["a"].Since.Equal(t0) || ps["a"].Message != "too big!" {
		t.Errorf("same signature: %+v, want Since %v and the new message", ps["a"], t0)
	}
	if !ps["b"].Since.Equal(t1) {
		t.Errorf("changed signature: Since %v, want %v", ps["b"].Since, t1)
	}
	commit(t, s, "p", func(b *Batch) { b.ClearProblem("a") })
	if ps, _ := s.Problems("p"); len(ps) != 1 {
		t.Errorf("after ClearProblem: %v", ps)
	}
	commit(t, s, "p", func(b *Batch) { b.ClearProblems(); b.PutProblem("c", Problem{Message: "m"}) })
	if ps, _ := s.Problems("p"); len(ps) != 1 || ps["c"].Message != "m" {
		t.Errorf("after ClearProblems then PutProblem: %v", ps)
	}
}

func TestConflictsLogCappedOldestFirst(t *testing.T) {
	s, _ := openTest(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	total := MaxConflicts + 5
	commit(t, s, "p", func(b *Batch) {
		for i := range total {
			b.AddConflict(Conflict{Path: fmt.Sprint("f", i), Copy: fmt.Sprint("f", i, " (conflict)"),
				Reason: "both modified", Time: t0.Add(time.Duration(i) * time.Second)})
		}
	})
	cs, err := s.Conflicts("p")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != MaxConflicts || cs[0].Path != "f5" || cs[len(cs)-1].Path != fmt.Sprint("f", total-1) {
		t.Fatalf("log has %d, first %q, last %q", len(cs), cs[0].Path, cs[len(cs)-1].Path)
	}
	commit(t, s, "p", func(b *Batch) { b.ClearConflicts("f5"); b.ClearConflicts("f6 (conflict)") })
	cs, _ = s.Conflicts("p")
	if len(cs) != MaxConflicts-2 || cs[0].Path != "f7" {
		t.Errorf("after ClearConflicts: %d, first %q", len(cs), cs[0].Path)
	}
	sum, _ := s.Summary("p")
	if sum.Conflicts != MaxConflicts-2 {
		t.Errorf("Summary conflicts = %d", sum.Conflicts)
	}
}

func TestBaseSurvivesReopen(t *testing.T) {
	s, path := openTest(t)
	commit(t, s, "p", func(b *Batch) { b.Put(file("a", "f1")); b.Put(dir("d", "d1")) })
	want := base(t, s, "p")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, ok := s2.Rebuilt(); ok {
		t.Fatal("a healthy store was rebuilt")
	}
	if d := cmp.Diff(want, base(t, s2, "p")); d != "" {
		t.Errorf("after reopen (-want +got):\n%s", d)
	}
}

// Readers run beside a writer and always see whole batches.
func TestConcurrentReadersSeeWholeBatches(t *testing.T) {
	s, _ := openTest(t)
	const batches, perBatch = 20, 50
	done := make(chan error, 1)
	go func() {
		for i := range batches {
			var b Batch
			for j := range perBatch {
				b.Put(file(fmt.Sprintf("b%02d/f%02d", i, j), fmt.Sprint(i, "-", j)))
			}
			if err := s.Commit("p", b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for {
		m, err := s.Base("p")
		if err != nil {
			t.Fatal(err)
		}
		if len(m)%perBatch != 0 {
			t.Fatalf("a reader saw %d entries: part of a batch", len(m))
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if m, _ := s.Base("p"); len(m) != batches*perBatch {
				t.Fatalf("final base has %d entries", len(m))
			}
			return
		default:
		}
	}
}

// Two files swapping places swap remote ids: legal in one batch, in any
// order of Puts, as long as each id ends with one path.
func TestRemoteIDsMayChangeHandsWithinABatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  func(b *Batch)
		want map[string]string // id -> path
	}{
		{"swap", func(b *Batch) { b.Put(file("a", "i2")); b.Put(file("b", "i1")) },
			map[string]string{"i1": "b", "i2": "a"}},
		{"swap other order", func(b *Batch) { b.Put(file("b", "i1")); b.Put(file("a", "i2")) },
			map[string]string{"i1": "b", "i2": "a"}},
		{"taken then taker deleted", func(b *Batch) { b.Put(file("c", "i1")); b.Delete("c") },
			map[string]string{"i1": "a", "i2": "b"}},
		{"taken then holder re-put", func(b *Batch) { b.Put(file("c", "i1")); b.Put(file("a", "i9")) },
			map[string]string{"i1": "c", "i2": "b", "i9": "a"}},
		{"taken, holder moved then dropped", func(b *Batch) {
			b.Put(file("c", "i1"))
			b.Move("a", "z")
			b.Delete("z")
		}, map[string]string{"i1": "c", "i2": "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTest(t)
			commit(t, s, "p", func(b *Batch) { b.Put(file("a", "i1")); b.Put(file("b", "i2")) })
			commit(t, s, "p", tc.ops)
			for id, want := range tc.want {
				if got, ok, _ := s.PathOfRemoteID("p", KindFile, id); !ok || got != want {
					t.Errorf("PathOfRemoteID(%s) = %q, %v; want %q", id, got, ok, want)
				}
			}
			base(t, s, "p")
		})
	}
	s, _ := openTest(t)
	commit(t, s, "p", func(b *Batch) { b.Put(file("a", "i1")) })
	var b Batch
	b.Put(file("c", "i1"))
	b.Move("a", "z") // the old holder keeps the id under its new path
	if err := s.Commit("p", b); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("id held by two paths after the batch: %v, want ErrDuplicateID", err)
	}
}

// EditMeta changes the stored meta in the commit's transaction and keeps
// the fields it does not touch.
func TestEditMetaKeepsWhatItDoesNotTouch(t *testing.T) {
	s, _ := openTest(t)
	commit(t, s, "p", func(b *Batch) { b.EditMeta(func(m *Meta) { m.Pending = 3 }) })
	commit(t, s, "p", func(b *Batch) { b.SetMeta(Meta{LocalRoot: "/srv", RemotePath: "/r", Pending: 3}) })
	commit(t, s, "p", func(b *Batch) { b.EditMeta(func(m *Meta) { m.Pending, m.Initialised = 0, true }) })
	got, ok, err := s.Meta("p")
	if err != nil || !ok {
		t.Fatalf("Meta: ok=%v err=%v", ok, err)
	}
	if got.LocalRoot != "/srv" || got.RemotePath != "/r" || got.Pending != 0 || !got.Initialised {
		t.Fatalf("meta after EditMeta: %+v", got)
	}
}

// A refusal written before Problem.Refused existed (a "refused:" marker
// in front of the signature) reads back as a refusal with its signature.
func TestLegacyRefusalReadsAsRefused(t *testing.T) {
	s, _ := openTest(t)
	commit(t, s, "p", func(b *Batch) {
		b.PutProblem("big.iso", Problem{Side: "remote", Message: "too large", Signature: legacyRefusedPrefix + "10:20"})
		b.PutProblem("odd", Problem{Side: "local", Message: "symlink", Signature: "symlink"})
	})
	ps, err := s.Problems("p")
	if err != nil {
		t.Fatal(err)
	}
	if p := ps["big.iso"]; !p.Refused || p.Signature != "10:20" {
		t.Errorf("legacy refusal read as %+v", p)
	}
	if p := ps["odd"]; p.Refused || p.Signature != "symlink" {
		t.Errorf("plain problem read as %+v", p)
	}
}
