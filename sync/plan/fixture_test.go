package plan

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// fx builds planner inputs in the words of a scenario: entries synced on
// all three trees, then changed on one side. Inodes and remote ids are
// handed out in order, so fixtures are deterministic.
type fx struct {
	in      Input
	nextIno uint64
	nextID  int
}

func fxNow() time.Time { return time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC) }

func newFx() *fx {
	return &fx{in: Input{
		Base:   map[string]Base{},
		Local:  map[string]Local{},
		Remote: map[string]Remote{},
		Now:    fxNow(),
		Host:   "box",
	}}
}

func sum(content string) string {
	h := md5.Sum([]byte(content))
	return hex.EncodeToString(h[:])
}

func (f *fx) ino() uint64 { f.nextIno++; return f.nextIno }
func (f *fx) id() string  { f.nextID++; return fmt.Sprintf("id%d", f.nextID) }

func (f *fx) remoteParent(p string) string {
	d := dirOf(p)
	if d == "" {
		return "root"
	}
	return f.in.Remote[d].ID
}

// synced puts p on all three trees: "dir/" for a folder, else a file with
// the given content.
func (f *fx) synced(p string, content ...string) *fx {
	k, c, name := f.kindOf(p, content)
	p = strings.TrimSuffix(p, "/")
	_, name = splitPath(p)
	l := Local{Kind: k, Name: name, Dev: 1, Ino: f.ino(), MtimeNs: 1000}
	rm := Remote{Kind: k, Name: name, ID: f.id(), ParentID: f.remoteParent(p)}
	if k == File {
		l.Size, l.MD5 = int64(len(c)), sum(c)
		rm.Size, rm.MD5 = l.Size, l.MD5
	}
	f.in.Local[p], f.in.Remote[p] = l, rm
	f.in.Base[p] = Base{Kind: k, LocalName: name, RemoteName: name, Size: l.Size, MtimeNs: l.MtimeNs,
		Dev: l.Dev, Ino: l.Ino, MD5: l.MD5, RemoteID: rm.ID, RemoteParentID: rm.ParentID}
	return f
}

func (f *fx) kindOf(p string, content []string) (Kind, string, string) {
	if strings.HasSuffix(p, "/") {
		return Dir, "", ""
	}
	c := "content of " + p
	if len(content) > 0 {
		c = content[0]
	}
	return File, c, ""
}

// local writes a new local entry at p (a new inode): a create or, over an
// existing file, an editor-style save.
func (f *fx) local(p string, content ...string) *fx {
	k, c, _ := f.kindOf(p, content)
	p = strings.TrimSuffix(p, "/")
	_, name := splitPath(p)
	l := Local{Kind: k, Name: name, Dev: 1, Ino: f.ino(), MtimeNs: 2000}
	if k == File {
		l.Size, l.MD5 = int64(len(c)), sum(c)
	}
	f.in.Local[p] = l
	return f
}

// remote uploads a new remote entry at p (a new id).
func (f *fx) remote(p string, content ...string) *fx {
	k, c, _ := f.kindOf(p, content)
	p = strings.TrimSuffix(p, "/")
	_, name := splitPath(p)
	rm := Remote{Kind: k, Name: name, ID: f.id(), ParentID: f.remoteParent(p)}
	if k == File {
		rm.Size, rm.MD5 = int64(len(c)), sum(c)
	}
	f.in.Remote[p] = rm
	return f
}

func subtree[V any](m map[string]V, p string) []string {
	var out []string
	for q := range m {
		if isUnder(q, p) {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out
}

// moveLocal renames p (and its subtree) locally, keeping inodes.
func (f *fx) moveLocal(from, to string) *fx {
	for _, q := range subtree(f.in.Local, from) {
		e := f.in.Local[q]
		delete(f.in.Local, q)
		nq := to + q[len(from):]
		if q == from {
			_, e.Name = splitPath(to)
		}
		f.in.Local[nq] = e
	}
	return f
}

// moveRemote renames p (and its subtree) remotely, keeping ids.
func (f *fx) moveRemote(from, to string) *fx {
	for _, q := range subtree(f.in.Remote, from) {
		e := f.in.Remote[q]
		delete(f.in.Remote, q)
		nq := to + q[len(from):]
		if q == from {
			_, e.Name = splitPath(to)
			e.ParentID = f.remoteParent(to)
		}
		f.in.Remote[nq] = e
	}
	return f
}

func (f *fx) rmLocal(p string) *fx {
	for _, q := range subtree(f.in.Local, p) {
		delete(f.in.Local, q)
	}
	return f
}

func (f *fx) rmRemote(p string) *fx {
	for _, q := range subtree(f.in.Remote, p) {
		delete(f.in.Remote, q)
	}
	return f
}

// L and R return the premise the planner should copy for the entry at p.
func (f *fx) L(p string) *Local {
	l, ok := f.in.Local[p]
	if !ok {
		panic("no local " + p)
	}
	return &l
}

func (f *fx) R(p string) *Remote {
	r, ok := f.in.Remote[p]
	if !ok {
		panic("no remote " + p)
	}
	return &r
}

func (f *fx) input() Input {
	in := f.in
	in.Base = maps.Clone(f.in.Base)
	in.Local = maps.Clone(f.in.Local)
	in.Remote = maps.Clone(f.in.Remote)
	return in
}
