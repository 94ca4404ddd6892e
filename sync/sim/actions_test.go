package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/plan"
)

// side is where a user acts.
type side uint8

const (
	onLocal side = iota
	onRemote
)

func (s side) String() string {
	if s == onLocal {
		return "local"
	}
	return "remote"
}

func (s side) other() side { return 1 - s }

// Small name pools make collisions (the same path touched on both sides,
// a rename onto a name the other side just created) frequent.
var (
	fileNames = []string{"a.txt", "b.txt", "c.md", "d.bin", "e", ".hidden", "it's.txt", "cafe\u0301.txt"}
	dirNames  = []string{"x", "y", "z"}
)

const maxDepth = 2

// event is one user action as the invariant checks need it.
type event struct {
	side  side
	kind  string // "write", "delete", "rename", "mkdir"
	paths []string
	md5s  []string // contents written, or removed by a delete
	// ignored: one of paths was excluded by the pair's rules then, so
	// syncd was right not to propagate it.
	ignored bool
	// same: a write of the content the path already held (no change).
	same bool
}

// related reports whether one path is the other or an ancestor of it.
func related(a, b string) bool {
	a, b = norm.NFC.String(a), norm.NFC.String(b)
	return a == b || strings.HasPrefix(b, a+"/") || strings.HasPrefix(a, b+"/")
}

// user performs the simulated user's actions on both sides and records
// what they wrote and touched.
type user struct {
	w       *world
	seed    uint64
	counter int
	// written maps every content the user ever wrote to a description.
	written map[string]string
	// contents keeps the bytes of versions, for "write the same content
	// again".
	contents []string
	events   []event
	log      func(format string, args ...any)
}

func (u *user) content(a uint64) []byte {
	u.counter++
	r := rand.New(rand.NewPCG(a, uint64(u.counter)))
	n := 1 + r.IntN(3000)
	if r.IntN(20) == 0 {
		n = 20000 + r.IntN(60000)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "seed %d version %d\n", u.seed, u.counter)
	for b.Len() < n {
		b.WriteByte(byte('a' + r.IntN(26)))
	}
	return b.Bytes()
}

func (u *user) record(s side, kind string, paths []string, md5s ...string) {
	ev := event{side: s, kind: kind, paths: paths, md5s: md5s}
	if u.w.ignoring {
		for _, p := range paths {
			ev.ignored = ev.ignored || u.w.ignoredPath(p, plan.File) || u.w.ignoredPath(p, plan.Dir)
		}
	}
	u.events = append(u.events, ev)
}

// act performs one action of the given side; a, b, c choose what and where
// against the current state, so that a shortened schedule still makes sense.
func (u *user) act(ctx context.Context, s side, a, b, c uint64) {
	if s == onLocal {
		u.actLocal(a, b, c)
	} else {
		u.actRemote(ctx, a, b, c)
	}
}

// localState lists the local directories ("" is the root) and files.
func (u *user) localState() (dirs, files []string, t tree) {
	t, err := u.w.localTree()
	if err != nil {
		u.log("local walk: %v", err)
		return []string{""}, nil, tree{}
	}
	dirs = []string{""}
	for p, m := range t {
		if m == "/" {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
	}
	sort.Strings(dirs)
	sort.Strings(files)
	return dirs, files, t
}

func depth(p string) int {
	if p == "" {
		return 0
	}
	return strings.Count(p, "/") + 1
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// freeName picks a pool name not taken in dir, comparing NFC forms: the
// simulated users never make names that clash after normalisation (that
// case is TestFaultHostileRemoteNames/nfc-clash).
func freeName(t tree, dir string, pool []string, c uint64) (string, bool) {
	taken := make(map[string]bool, len(t))
	for p := range t {
		taken[norm.NFC.String(p)] = true
	}
	for i := range pool {
		n := pool[(int(c%uint64(len(pool)))+i)%len(pool)]
		if !taken[norm.NFC.String(join(dir, n))] {
			return n, true
		}
	}
	return "", false
}

func under(t tree, p string) (files []string, md5s []string) {
	for q, m := range t {
		if q == p || strings.HasPrefix(q, p+"/") {
			files = append(files, q)
			if m != "/" {
				md5s = append(md5s, m)
			}
		}
	}
	sort.Strings(files)
	return files, md5s
}

func (u *user) abs(p string) string { return filepath.Join(u.w.dir, filepath.FromSlash(p)) }

// toRecycle moves a local path out of the root into the user's recycle
// bin: what the user deletes or overwrites is kept there so that the
// no-lost-version check can tell the user's removals from syncd's.
func (u *user) toRecycle(p string) error {
	u.counter++
	return os.Rename(u.abs(p), filepath.Join(u.w.recycle, fmt.Sprintf("%05d-%s", u.counter, path.Base(p))))
}

func (u *user) writeLocal(p string, content []byte) error {
	u.w.clk.Advance(time.Second)
	if err := os.WriteFile(u.abs(p), content, 0o644); err != nil {
		return err
	}
	now := u.w.clk.Now()
	return os.Chtimes(u.abs(p), now, now)
}

func (u *user) remember(content []byte, who string) string {
	m := sum(content)
	if _, ok := u.written[m]; !ok {
		u.written[m] = who
		u.contents = append(u.contents, string(content))
	}
	return m
}

func (u *user) pickContent(a, b uint64) []byte {
	if len(u.contents) > 0 && a%5 == 0 {
		return []byte(u.contents[int(b%uint64(len(u.contents)))])
	}
	return u.content(a)
}

func (u *user) actLocal(a, b, c uint64) {
	dirs, files, t := u.localState()
	kind := a % 11
	pick := func(l []string, n uint64) string { return l[int(n%uint64(len(l)))] }
	var err error
	switch {
	case kind <= 1 || kind == 10 || (len(files) == 0 && kind <= 5): // create a file
		dir := pick(dirs, b)
		name, ok := freeName(t, dir, fileNames, c)
		if !ok {
			return
		}
		p := join(dir, name)
		data := u.pickContent(a>>8, c)
		m := u.remember(data, "local create "+p)
		u.log("local: create %s (%s)", p, short(m))
		u.record(onLocal, "write", []string{p}, m)
		err = u.writeLocal(p, data)
	case kind == 2: // modify in place, keeping a copy of the old version
		p := pick(files, b)
		old, rerr := os.ReadFile(u.abs(p))
		if rerr != nil {
			err = rerr
			break
		}
		u.counter++
		if err = os.WriteFile(filepath.Join(u.w.recycle, fmt.Sprintf("%05d-%s", u.counter, path.Base(p))), old, 0o644); err != nil {
			break
		}
		data := u.pickContent(a>>8, c)
		m := u.remember(data, "local modify "+p)
		u.log("local: modify %s in place (%s)", p, short(m))
		u.record(onLocal, "write", []string{p}, m)
		u.events[len(u.events)-1].same = m == sum(old)
		err = u.writeLocal(p, data)
	case kind == 3: // modify by replacing the file (as editors save)
		p := pick(files, b)
		data := u.pickContent(a>>8, c)
		m := u.remember(data, "local replace "+p)
		u.log("local: replace %s (%s)", p, short(m))
		u.record(onLocal, "write", []string{p}, m)
		u.events[len(u.events)-1].same = m == t[p]
		tmp := filepath.Join(u.w.recycle, "incoming")
		if err = os.WriteFile(tmp, data, 0o644); err != nil {
			break
		}
		now := u.w.clk.Now().Add(time.Second)
		u.w.clk.Advance(time.Second)
		os.Chtimes(tmp, now, now)
		if err = u.toRecycle(p); err != nil {
			break
		}
		err = os.Rename(tmp, u.abs(p))
	case kind == 4: // delete a file
		p := pick(files, b)
		u.log("local: delete %s", p)
		u.record(onLocal, "delete", []string{p}, t[p])
		err = u.toRecycle(p)
	case kind == 5: // rename or move a file
		p := pick(files, b)
		dir := path.Dir(p)
		if dir == "." {
			dir = ""
		}
		if c%2 == 0 {
			dir = pick(dirs, c>>1)
		}
		name, ok := freeName(t, dir, fileNames, c>>3)
		if !ok {
			return
		}
		to := join(dir, name)
		u.log("local: move %s -> %s", p, to)
		u.record(onLocal, "rename", []string{p, to})
		err = os.Rename(u.abs(p), u.abs(to))
	case kind == 6: // mkdir
		dir := pick(dirs, b)
		if depth(dir) >= maxDepth {
			return
		}
		name, ok := freeName(t, dir, dirNames, c)
		if !ok {
			return
		}
		p := join(dir, name)
		u.log("local: mkdir %s", p)
		u.record(onLocal, "mkdir", []string{p})
		err = os.Mkdir(u.abs(p), 0o755)
	case kind == 7 || kind == 8: // rename or move a folder
		if len(dirs) < 2 {
			return
		}
		p := pick(dirs[1:], b)
		dst := path.Dir(p)
		if dst == "." {
			dst = ""
		}
		if kind == 8 {
			dst = pick(dirs, c>>1)
		}
		if dst == p || strings.HasPrefix(dst, p+"/") {
			return // not into its own subtree
		}
		sub := 0
		for _, q := range dirs {
			if strings.HasPrefix(q, p+"/") {
				sub = max(sub, depth(q)-depth(p))
			}
		}
		if depth(dst)+1+sub > maxDepth {
			return
		}
		name, ok := freeName(t, dst, dirNames, c)
		if !ok {
			return
		}
		to := join(dst, name)
		if related(to, p) {
			return
		}
		moved, _ := under(t, p)
		paths := append(moved, to)
		u.log("local: move folder %s -> %s", p, to)
		u.record(onLocal, "rename", paths)
		err = os.Rename(u.abs(p), u.abs(to))
	case kind == 9: // delete a folder
		if len(dirs) < 2 {
			return
		}
		p := pick(dirs[1:], b)
		gone, md5s := under(t, p)
		u.log("local: delete folder %s", p)
		u.record(onLocal, "delete", gone, md5s...)
		err = u.toRecycle(p)
	}
	if err != nil {
		u.log("local action failed: %v", err)
	}
}

// remoteState lists the active entries below the pair folder.
type rstate struct {
	rootID  int64
	dirs    []string // "" is the pair folder
	files   []string
	ids     map[string]int64
	t       tree
	entries map[string]emulator.Entry
}

func (u *user) remoteState() (rstate, bool) {
	st := rstate{ids: map[string]int64{}, t: tree{}, entries: map[string]emulator.Entry{}}
	found := false
	prefix := remotePath + "/"
	for _, en := range u.w.emu().Dump(u.w.acct.ID) {
		if en.Status != "active" {
			continue
		}
		if en.Folder && en.Path == remotePath {
			st.rootID, found = en.ID, true
			continue
		}
		if !strings.HasPrefix(en.Path, prefix) {
			continue
		}
		rel := strings.TrimPrefix(en.Path, prefix)
		st.ids[rel] = en.ID
		st.entries[rel] = en
		if syncdTemp.MatchString(rel) {
			// syncd's own working name (ARCHITECTURE.md, temporary
			// names): users leave those alone as they leave .syncd/
			// alone. Still in the tree: one left at quiescence fails
			// the run.
			st.t[rel] = en.MD5
			continue
		}
		if en.Folder {
			st.dirs = append(st.dirs, rel)
			st.t[rel] = "/"
		} else {
			st.files = append(st.files, rel)
			st.t[rel] = en.MD5
		}
	}
	st.dirs = append(st.dirs, "")
	sort.Strings(st.dirs)
	sort.Strings(st.files)
	st.ids[""] = st.rootID
	return st, found
}

// syncdTemp matches syncd's temporary remote names (sync/engine/tempname.go).
var syncdTemp = regexp.MustCompile(`\.syncd-(replace|upload|move)-[0-9A-Za-z]+(-[0-9a-f]{8})?(/|$)`)

func rid(n int64) remote.ID { return remote.ID(strconv.FormatInt(n, 10)) }

func (u *user) upload(ctx context.Context, folder int64, name string, data []byte, keepServer bool) (remote.File, error) {
	return u.w.userClient.Upload(ctx, remote.UploadRequest{Folder: rid(folder), Name: name, Size: int64(len(data)),
		KeepServerName: keepServer,
		Open:           func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }})
}

func (u *user) actRemote(ctx context.Context, a, b, c uint64) {
	st, ok := u.remoteState()
	if !ok {
		return
	}
	u.w.clk.Advance(time.Second)
	cl := u.w.userClient
	kind := a % 10
	pick := func(l []string, n uint64) string { return l[int(n%uint64(len(l)))] }
	var err error
	switch {
	case kind <= 1 || kind == 9 || (len(st.files) == 0 && kind <= 4): // upload a new file
		dir := pick(st.dirs, b)
		name, ok := freeName(st.t, dir, fileNames, c)
		if !ok {
			return
		}
		p := join(dir, name)
		data := u.pickContent(a>>8, c)
		m := sum(data)
		u.log("remote: create %s (%s)", p, short(m))
		u.record(onRemote, "write", []string{p}, m)
		if _, err = u.upload(ctx, st.ids[dir], name, data, false); err == nil {
			u.remember(data, "remote create "+p)
		}
	case kind == 2: // modify: upload new, trash old, rename new (another syncd would)
		p := pick(st.files, b)
		dir := path.Dir(p)
		if dir == "." {
			dir = ""
		}
		data := u.pickContent(a>>8, c)
		m := sum(data)
		u.log("remote: modify %s (%s)", p, short(m))
		u.record(onRemote, "write", []string{p}, m)
		u.events[len(u.events)-1].same = m == st.t[p]
		var nf remote.File
		if nf, err = u.upload(ctx, st.ids[dir], path.Base(p)+".new", data, true); err != nil {
			break
		}
		u.remember(data, "remote modify "+p)
		if err = cl.DeleteFile(ctx, rid(st.ids[p])); err != nil {
			break
		}
		_, err = cl.RenameFile(ctx, nf.ID, path.Base(p))
	case kind == 3: // delete a file
		p := pick(st.files, b)
		u.log("remote: delete %s", p)
		u.record(onRemote, "delete", []string{p}, st.t[p])
		err = cl.DeleteFile(ctx, rid(st.ids[p]))
	case kind == 4: // rename or move a file
		p := pick(st.files, b)
		dir := path.Dir(p)
		if dir == "." {
			dir = ""
		}
		if c%2 == 0 {
			dir = pick(st.dirs, c>>1)
		}
		name, ok := freeName(st.t, dir, fileNames, c>>3)
		if !ok {
			return
		}
		to := join(dir, name)
		u.log("remote: move %s -> %s", p, to)
		u.record(onRemote, "rename", []string{p, to})
		if path.Dir(to) != path.Dir(p) {
			if _, err = cl.MoveFile(ctx, rid(st.ids[p]), rid(st.ids[dir])); err != nil {
				break
			}
		}
		if name != path.Base(p) {
			_, err = cl.RenameFile(ctx, rid(st.ids[p]), name)
		}
	case kind == 5: // create a folder
		dir := pick(st.dirs, b)
		if depth(dir) >= maxDepth {
			return
		}
		name, ok := freeName(st.t, dir, dirNames, c)
		if !ok {
			return
		}
		p := join(dir, name)
		u.log("remote: mkdir %s", p)
		u.record(onRemote, "mkdir", []string{p})
		_, err = cl.CreateFolder(ctx, rid(st.ids[dir]), name)
	case kind == 6 || kind == 7: // rename or move a folder
		if len(st.dirs) < 2 {
			return
		}
		p := pick(st.dirs[1:], b)
		parent := path.Dir(p)
		if parent == "." {
			parent = ""
		}
		dst := parent
		if kind == 7 {
			dst = pick(st.dirs, c>>1)
		}
		if dst == p || strings.HasPrefix(dst, p+"/") {
			return // not into its own subtree
		}
		sub := 0
		for _, q := range st.dirs {
			if strings.HasPrefix(q, p+"/") {
				sub = max(sub, depth(q)-depth(p))
			}
		}
		if depth(dst)+1+sub > maxDepth {
			return
		}
		name, ok := freeName(st.t, dst, dirNames, c)
		if !ok {
			return
		}
		to := join(dst, name)
		moved, _ := under(st.t, p)
		u.log("remote: move folder %s -> %s", p, to)
		u.record(onRemote, "rename", append(moved, to))
		if dst != parent {
			if _, err = cl.MoveFolder(ctx, rid(st.ids[p]), rid(st.ids[dst])); err != nil {
				break
			}
		}
		if name != path.Base(p) {
			_, err = cl.RenameFolder(ctx, rid(st.ids[p]), name)
		}
	case kind == 8: // delete a folder
		if len(st.dirs) < 2 {
			return
		}
		p := pick(st.dirs[1:], b)
		gone, md5s := under(st.t, p)
		u.log("remote: delete folder %s", p)
		u.record(onRemote, "delete", gone, md5s...)
		err = cl.DeleteFolder(ctx, rid(st.ids[p]))
	}
	if err != nil {
		u.log("remote action failed: %v", err)
	}
}
