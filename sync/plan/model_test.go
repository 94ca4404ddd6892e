package plan

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// world is the test-only model of a sync pair: a local tree, a remote tree,
// the base, and a trash per side. apply executes a plan with exactly the
// engine semantics the planner is written against (premises re-checked
// before each op, dependants of a failed op skipped, base folded from
// successes only).
type world struct {
	local  map[string]Local
	remote map[string]Remote
	base   map[string]Base
	trashL []string // contents (MD5) moved to the local trash
	trashR []string
	ino    uint64
	id     int
	clock  int64
}

func newWorld() *world {
	return &world{local: map[string]Local{}, remote: map[string]Remote{}, base: map[string]Base{}, ino: 1000, id: 1000}
}

func (w *world) newIno() uint64 { w.ino++; return w.ino }
func (w *world) newID() string  { w.id++; return strconv.Itoa(w.id) }
func (w *world) tick() int64    { w.clock++; return w.clock }

func (w *world) clone() *world {
	c := *w
	c.local, c.remote, c.base = maps.Clone(w.local), maps.Clone(w.remote), maps.Clone(w.base)
	c.trashL, c.trashR = slices.Clone(w.trashL), slices.Clone(w.trashR)
	return &c
}

func (w *world) input() Input {
	return Input{Base: maps.Clone(w.base), Local: maps.Clone(w.local), Remote: maps.Clone(w.remote), Now: fxNow(), Host: "box"}
}

func (w *world) remoteParentID(p string) (string, bool) {
	d := dirOf(p)
	if d == "" {
		return "", true
	}
	r, ok := w.remote[d]
	return r.ID, ok && r.Kind == Dir
}

func (w *world) localDirOK(p string) bool {
	d := dirOf(p)
	if d == "" {
		return true
	}
	l, ok := w.local[d]
	return ok && l.Kind == Dir
}

func baseOf(l Local, r Remote) Base {
	return Base{Kind: l.Kind, LocalName: l.Name, RemoteName: r.Name, Size: l.Size, MtimeNs: l.MtimeNs,
		Dev: l.Dev, Ino: l.Ino, MD5: l.MD5, RemoteID: r.ID, RemoteParentID: r.ParentID}
}

func (w *world) recordBase(p string) error {
	l, lok := w.local[p]
	r, rok := w.remote[p]
	if !lok || !rok || l.Kind != r.Kind || (l.Kind == File && l.MD5 != r.MD5) {
		return fmt.Errorf("record %s: sides differ", p)
	}
	w.base[p] = baseOf(l, r)
	return nil
}

func moveKeys[V any](m map[string]V, from, to string) {
	for _, q := range subtree(m, from) {
		v := m[q]
		delete(m, q)
		m[to+q[len(from):]] = v
	}
}

func dropKeys[V any](m map[string]V, p string) {
	for _, q := range subtree(m, p) {
		delete(m, q)
	}
}

func (w *world) relocateBase(from, to string) {
	moveKeys(w.base, from, to)
	if b, ok := w.base[to]; ok {
		_, name := splitPath(to)
		b.LocalName, b.RemoteName = name, name
		if pid, ok := w.remoteParentID(to); ok {
			b.RemoteParentID = pid
		}
		w.base[to] = b
	}
}

func localMatches(l Local, ok bool, want *Local) bool {
	return ok && want != nil && l.Kind == want.Kind && l.Ino == want.Ino && l.MD5 == want.MD5
}

func remoteMatches(r Remote, ok bool, want *Remote) bool {
	return ok && want != nil && r.Kind == want.Kind && r.ID == want.ID
}

// exec performs one op; an error means its premise did not hold.
func (w *world) exec(op Op) error {
	p := op.Path
	_, name := splitPath(p)
	switch op.Kind {
	case MkdirRemote:
		pid, ok := w.remoteParentID(p)
		if _, busy := w.remote[p]; busy || !ok {
			return fmt.Errorf("mkdir-remote %s: busy or no parent", p)
		}
		w.remote[p] = Remote{Kind: Dir, Name: name, ID: w.newID(), ParentID: pid}
		if _, ok := w.local[p]; ok {
			return w.recordBase(p)
		}
	case MkdirLocal:
		if _, busy := w.local[p]; busy || !w.localDirOK(p) {
			return fmt.Errorf("mkdir-local %s: busy or no parent", p)
		}
		w.local[p] = Local{Kind: Dir, Name: name, Dev: 1, Ino: w.newIno(), MtimeNs: w.tick()}
		if _, ok := w.remote[p]; ok {
			return w.recordBase(p)
		}
	case Upload, Replace:
		l, ok := w.local[p]
		if !localMatches(l, ok, op.Local) || l.Kind != File {
			return fmt.Errorf("%v %s: local premise", op.Kind, p)
		}
		r, rok := w.remote[p]
		if op.Kind == Upload && rok {
			return fmt.Errorf("upload %s: remote busy", p)
		}
		if op.Kind == Replace {
			if !remoteMatches(r, rok, op.Remote) {
				return fmt.Errorf("replace %s: remote premise", p)
			}
			w.trashR = append(w.trashR, r.MD5)
		}
		pid, ok := w.remoteParentID(p)
		if !ok {
			return fmt.Errorf("upload %s: no remote parent", p)
		}
		w.remote[p] = Remote{Kind: File, Name: name, ID: w.newID(), ParentID: pid, Size: l.Size, MD5: l.MD5}
		return w.recordBase(p)
	case Download:
		r, rok := w.remote[p]
		if !remoteMatches(r, rok, op.Remote) {
			return fmt.Errorf("download %s: remote premise", p)
		}
		l, lok := w.local[p]
		if op.Local == nil && lok {
			return fmt.Errorf("download %s: local busy", p)
		}
		if op.Local != nil {
			if !localMatches(l, lok, op.Local) {
				return fmt.Errorf("download %s: local premise", p)
			}
			w.trashL = append(w.trashL, l.MD5)
		}
		if !w.localDirOK(p) {
			return fmt.Errorf("download %s: no local parent", p)
		}
		w.local[p] = Local{Kind: File, Name: name, Size: r.Size, MD5: r.MD5, Dev: 1, Ino: w.newIno(), MtimeNs: w.tick()}
		return w.recordBase(p)
	case MoveRemote, ConflictRemote:
		r, ok := w.remote[op.From]
		if !remoteMatches(r, ok, op.Remote) {
			return fmt.Errorf("%v %s: remote premise", op.Kind, op.From)
		}
		if _, busy := w.remote[p]; busy || isUnder(p, op.From) {
			return fmt.Errorf("%v %s: destination busy", op.Kind, p)
		}
		pid, ok := w.remoteParentID(p)
		if !ok {
			return fmt.Errorf("%v %s: no parent", op.Kind, p)
		}
		moveKeys(w.remote, op.From, p)
		r.Name, r.ParentID = name, pid
		w.remote[p] = r
		if op.Kind == MoveRemote {
			w.relocateBase(op.From, p)
		} else {
			dropKeys(w.base, op.From)
		}
	case MoveLocal, ConflictLocal:
		l, ok := w.local[op.From]
		if !localMatches(l, ok, op.Local) {
			return fmt.Errorf("%v %s: local premise", op.Kind, op.From)
		}
		if _, busy := w.local[p]; busy || isUnder(p, op.From) || !w.localDirOK(p) {
			return fmt.Errorf("%v %s: destination busy", op.Kind, p)
		}
		moveKeys(w.local, op.From, p)
		l.Name = name
		w.local[p] = l
		if op.Kind == MoveLocal {
			w.relocateBase(op.From, p)
		} else {
			dropKeys(w.base, op.From)
		}
	case DeleteRemote:
		r, ok := w.remote[p]
		if !remoteMatches(r, ok, op.Remote) {
			return fmt.Errorf("delete-remote %s: premise", p)
		}
		for _, q := range subtree(w.remote, p) {
			if e := w.remote[q]; e.Kind == File {
				w.trashR = append(w.trashR, e.MD5)
			}
		}
		dropKeys(w.remote, p)
		dropKeys(w.base, p)
	case DeleteLocal:
		l, ok := w.local[p]
		if !localMatches(l, ok, op.Local) {
			return fmt.Errorf("delete-local %s: premise", p)
		}
		for _, q := range subtree(w.local, p) {
			if e := w.local[q]; e.Kind == File {
				w.trashL = append(w.trashL, e.MD5)
			}
		}
		dropKeys(w.local, p)
		dropKeys(w.base, p)
	case Record:
		l, lok := w.local[p]
		r, rok := w.remote[p]
		if !lok || !rok || (op.Local != nil && l.Ino != op.Local.Ino) || (op.Remote != nil && r.ID != op.Remote.ID) {
			return fmt.Errorf("record %s: premise", p)
		}
		return w.recordBase(p)
	case Forget:
		dropKeys(w.base, p)
	default:
		return fmt.Errorf("unknown op %v", op.Kind)
	}
	return nil
}

// apply runs a plan in order; fail says which ops fail on purpose (their
// dependants are skipped). It returns the errors of ops whose premise did
// not hold.
func (w *world) apply(pl Plan, fail func(i int) bool) []error {
	ok := make([]bool, len(pl.Ops))
	var errs []error
	for i, op := range pl.Ops {
		skip := false
		for _, d := range op.Deps {
			if d >= i {
				errs = append(errs, fmt.Errorf("op %d depends on later op %d", i, d))
			}
			if d < i && !ok[d] {
				skip = true
			}
		}
		if skip || (fail != nil && fail(i)) {
			continue
		}
		if err := w.exec(op); err != nil {
			errs = append(errs, fmt.Errorf("op %d: %w", i, err))
			continue
		}
		ok[i] = true
	}
	return errs
}

// contents lists every file content live on a side.
func liveContents(w *world) map[string]bool {
	out := map[string]bool{}
	for _, l := range w.local {
		if l.Kind == File {
			out[l.MD5] = true
		}
	}
	for _, r := range w.remote {
		if r.Kind == File {
			out[r.MD5] = true
		}
	}
	return out
}

// inSync reports how the three trees differ ("" when local = remote = base).
func (w *world) inSync() string {
	var diffs []string
	keys := map[string]bool{}
	for p := range w.local {
		keys[p] = true
	}
	for p := range w.remote {
		keys[p] = true
	}
	for p := range w.base {
		keys[p] = true
	}
	for _, p := range slices.Sorted(maps.Keys(keys)) {
		l, lok := w.local[p]
		r, rok := w.remote[p]
		b, bok := w.base[p]
		switch {
		case !lok || !rok || !bok:
			diffs = append(diffs, fmt.Sprintf("%s: local %v remote %v base %v", p, lok, rok, bok))
		case l.Kind != r.Kind || l.Kind != b.Kind:
			diffs = append(diffs, p+": kinds differ")
		case l.Kind == File && (l.MD5 != r.MD5 || l.MD5 != b.MD5):
			diffs = append(diffs, p+": contents differ")
		case l.Ino != b.Ino || r.ID != b.RemoteID:
			diffs = append(diffs, p+": base identity stale")
		}
	}
	return strings.Join(diffs, "\n")
}
