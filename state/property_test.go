package state

import (
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// model is the base as a plain map, with Commit's documented semantics.
type model map[string]Entry

type modelOp struct {
	kind     opKind
	entry    Entry
	from, to string
}

func (m model) apply(ops []modelOp) (model, error) {
	for _, op := range ops {
		if op.kind == opMove && (op.to == op.from || strings.HasPrefix(op.to, op.from+"/")) {
			return m, ErrInvalidPath // validation runs before anything applies
		}
	}
	next := maps.Clone(m)
	under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	for _, op := range ops {
		switch op.kind {
		case opPut:
			next[op.entry.Path] = op.entry
		case opDelete:
			delete(next, op.from)
		case opDeleteTree:
			for p := range next {
				if under(p, op.from) {
					delete(next, p)
				}
			}
		case opMove:
			if _, ok := next[op.from]; !ok {
				return m, ErrNotFound
			}
			for p := range next {
				if under(p, op.to) {
					return m, ErrExists
				}
			}
			moved := model{}
			for p, e := range next {
				if under(p, op.from) {
					delete(next, p)
					e.Path = op.to + p[len(op.from):]
					moved[e.Path] = e
				}
			}
			maps.Copy(next, moved)
		}
	}
	holder := map[string]string{}
	for p, e := range next {
		if e.RemoteID == "" {
			continue
		}
		id := ridKey(e.Kind, e.RemoteID) // file and folder ids are separate spaces
		if _, dup := holder[id]; dup {
			return m, ErrDuplicateID // ids are checked when the batch ends
		}
		holder[id] = p
	}
	return next, nil
}

func genPath(t *rapid.T, label string) string {
	els := rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "c\u00e9"}), 1, 3).Draw(t, label)
	return strings.Join(els, "/")
}

func genOp(t *rapid.T) modelOp {
	switch rapid.IntRange(0, 9).Draw(t, "op") {
	case 0, 1, 2, 3, 4:
		p := genPath(t, "path")
		e := file(p, rapid.SampledFrom([]string{"", "i1", "i2", "i3", "i4", "i5", "i6"}).Draw(t, "id"))
		e.Kind = rapid.SampledFrom([]uint8{KindFile, KindDir}).Draw(t, "kind")
		e.Size = rapid.Int64Range(0, 1<<40).Draw(t, "size")
		e.RemoteName = rapid.SampledFrom([]string{e.LocalName, "x", ""}).Draw(t, "rname")
		e.LocalName = rapid.SampledFrom([]string{e.LocalName, "L"}).Draw(t, "lname")
		return modelOp{kind: opPut, entry: e}
	case 5:
		return modelOp{kind: opDelete, from: genPath(t, "path")}
	case 6:
		return modelOp{kind: opDeleteTree, from: genPath(t, "path")}
	default:
		return modelOp{kind: opMove, from: genPath(t, "from"), to: genPath(t, "to")}
	}
}

// Random batches against the model: Commit applies all or nothing, in
// order, and the rid index always matches the base, also after a reopen.
func TestCommitMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		s, err := Open(path, Options{})
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		m := model{}
		for range rapid.IntRange(1, 12).Draw(rt, "batches") {
			ops := rapid.SliceOfN(rapid.Custom(genOp), 1, 8).Draw(rt, "ops")
			var b Batch
			for _, op := range ops {
				switch op.kind {
				case opPut:
					b.Put(op.entry)
				case opDelete:
					b.Delete(op.from)
				case opDeleteTree:
					b.DeleteTree(op.from)
				case opMove:
					b.Move(op.from, op.to)
				}
			}
			next, wantErr := m.apply(ops)
			err := s.Commit("p", b)
			if !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
				rt.Fatalf("Commit: %v, model says %v", err, wantErr)
			}
			m = next
			got, err := s.Base("p")
			if err != nil {
				rt.Fatal(err)
			}
			if d := cmp.Diff(map[string]Entry(m), got); d != "" {
				rt.Fatalf("base differs from model (-model +store):\n%s", d)
			}
			checkIndex(rt, s, "p", got)
			sum, err := s.Summary("p")
			if err != nil {
				rt.Fatal(err)
			}
			if sum.Entries != len(m) {
				rt.Fatalf("Summary.Entries = %d, model has %d", sum.Entries, len(m))
			}
		}
		if err := s.Close(); err != nil {
			rt.Fatal(err)
		}
		s, err = Open(path, Options{})
		if err != nil {
			rt.Fatal(err)
		}
		got, err := s.Base("p")
		if err != nil {
			rt.Fatal(err)
		}
		if d := cmp.Diff(map[string]Entry(m), got); d != "" {
			rt.Fatalf("after reopen (-model +store):\n%s", d)
		}
	})
}
