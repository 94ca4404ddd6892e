package local

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/syncd/syncd/sync/plan"
)

// ScanOptions configures Scan and ScanSubtree.
type ScanOptions struct {
	// Root is the pair root. When nil, RootPath is opened for the scan.
	Root     *os.Root
	RootPath string

	// Matcher excludes paths; ignored directories are not descended into.
	// nil ignores only MetaDir.
	Matcher *Matcher

	// Base returns the synced entry at a key, if any. A file whose size,
	// mtime, device and inode equal its base entry's is not read: it carries
	// the base MD5. nil hashes every file.
	Base func(path string) (plan.Base, bool)

	// Now and Settle: a file whose mtime is within Settle of Now (either
	// way: a clock step must not make a fresh file look settled) is still
	// being written and goes to Unknown. Settle 0 disables the check.
	Now    time.Time
	Settle time.Duration

	// Hashers limits concurrent file hashing; 0 means 4.
	Hashers int

	// SizeHint is the expected number of entries (say, the size of the
	// base), to size the tree once instead of growing it.
	SizeHint int

	// Descend, when set, is asked before descending into each directory
	// below the scanned one (by key); false records the directory's own
	// entry but not what is inside it. Rescan uses it to list a directory's
	// direct entries without walking subdirectories it already knows.
	Descend func(key string) bool
}

// ScanStats counts what a scan did.
type ScanStats struct {
	Files, Dirs int   // entries put in the tree
	Hashed      int   // files read and hashed
	HashedBytes int64 // bytes read to hash them
	Skipped     int   // ignored entries (an ignored directory counts once)
	Unsettled   int   // files left out as still being written
}

// ScanResult is one observation of a local tree.
type ScanResult struct {
	// Tree holds every synced-kind entry seen, keyed by NFC path.
	Tree map[string]plan.Local
	// Unknown lists, sorted, the keys whose state the scan could not
	// observe: unreadable directories (with their whole subtree), files
	// still being written, entries that changed under the scanner, names
	// colliding after NFC normalisation, names that are not valid UTF-8,
	// and every path reported in Problems. Their absence from Tree is never a deletion.
	Unknown []string
	// Problems lists, sorted by path, what the user should be told about.
	Problems []plan.Problem
	Stats    ScanStats
}

// Scan walks the whole tree under the root. It fails only when the root
// itself cannot be read or ctx is done; everything else is per-path data in
// the result.
func Scan(ctx context.Context, opts ScanOptions) (ScanResult, error) {
	return ScanSubtree(ctx, opts, "")
}

// ScanSubtree scans only dir (an on-disk slash path relative to the root;
// "" is the whole tree) and what is below it, for the watcher's hints. The
// result describes dir itself and its subtree: an empty Tree means dir no
// longer exists, or is ignored. Merge it into the previous full scan with
// ScanResult.Merge. When a parent of dir is no longer a directory the error
// wraps ErrNotFound: rescan higher up.
func ScanSubtree(ctx context.Context, opts ScanOptions, dir string) (ScanResult, error) {
	return scan(ctx, opts, dir, false)
}

// scan is ScanSubtree; statOnly records files without reading them (no
// MD5, no settle check), to verify what a Trash moved.
func scan(ctx context.Context, opts ScanOptions, dir string, statOnly bool) (ScanResult, error) {
	root := opts.Root
	if root == nil {
		r, err := os.OpenRoot(opts.RootPath)
		if err != nil {
			return ScanResult{}, fmt.Errorf("scan %s: %w", opts.RootPath, err)
		}
		defer r.Close()
		root = r
	}
	w := &walker{ctx: ctx, root: root, opts: opts, statOnly: statOnly, tree: make(map[string]plan.Local, opts.SizeHint), one: make([]string, 1), target: Key(dir)}
	if w.opts.Hashers <= 0 {
		w.opts.Hashers = 4
	}
	w.hashers.SetLimit(w.opts.Hashers)
	w.bufs = make(chan []byte, w.opts.Hashers)

	var err error
	if dir == "" {
		err = w.scanRoot()
	} else {
		err = w.scanAt(dir)
	}
	if herr := w.hashers.Wait(); err == nil {
		err = herr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return ScanResult{}, fmt.Errorf("scan %s: %w", path.Join(root.Name(), dir), err)
	}
	for _, h := range w.hashed {
		w.tree[h.key] = h.local
	}
	slices.Sort(w.unknown)
	w.unknown = slices.Compact(w.unknown)
	slices.SortStableFunc(w.problems, func(a, b plan.Problem) int { return strings.Compare(a.Path, b.Path) })
	w.stats.Files, w.stats.Dirs = countKinds(w.tree)
	return ScanResult{Tree: w.tree, Unknown: w.unknown, Problems: w.problems, Stats: w.stats}, nil
}

// Merge replaces, in r, everything at and below dir with sub, the result of
// ScanSubtree(…, dir): tree entries, unknown paths and problems at or below
// Key(dir) are dropped, then sub's are added. r is modified in place (a
// full tree is large; copying it per hint would dominate). Stats keep the
// full scan's Files and Dirs recounted and add sub's hashing counts.
// Entries above dir are not touched: when dir itself was created or
// removed, its parent's mtime changed too; hint the parent to see that (a
// directory's mtime is informational: premises never compare it).
func (r *ScanResult) Merge(dir string, sub ScanResult) {
	key := Key(dir)
	if key == "" {
		*r = sub
		return
	}
	if r.Tree == nil {
		r.Tree = make(map[string]plan.Local, len(sub.Tree))
	}
	unsettled := r.Stats.Unsettled
	applyScopes(r, []scope{{key: key, res: sub}})
	r.Stats.Unsettled = unsettled
}

func countKinds(tree map[string]plan.Local) (files, dirs int) {
	for _, l := range tree {
		if l.Kind == plan.Dir {
			dirs++
		} else {
			files++
		}
	}
	return files, dirs
}

// under reports whether key is prefix or below it.
func under(key, prefix string) bool {
	return key == prefix || (strings.HasPrefix(key, prefix) && key[len(prefix)] == '/')
}

type walker struct {
	ctx  context.Context
	root *os.Root
	opts ScanOptions
	// statOnly: see scan.
	statOnly bool
	// target is the key of the directory scanned (see ScanOptions.Descend).
	target string

	tree     map[string]plan.Local
	unknown  []string
	problems []plan.Problem
	stats    ScanStats
	// elems and floors: key elements of the directory being walked and,
	// for each, the highest ignore pattern matching it (see Matcher.decide).
	elems  []string
	floors []int
	one    []string // Matcher scratch

	hashers errgroup.Group
	bufs    chan []byte // read buffers, one per hasher, reused
	mu      sync.Mutex  // guards hashed, unknown, problems, stats while hashers run
	hashed  []hashedFile
}

type hashedFile struct {
	key   string
	local plan.Local
}

// child is a directory found by a listing, descended into after the listing's
// descriptor is closed so that open descriptors stay bounded by depth 1.
type child struct {
	raw, key string
	st       fileStat
	floor    int
}

// floor is the deciding ignore pattern of the directory being walked.
func (w *walker) floor() int {
	if len(w.floors) == 0 {
		return -1
	}
	return w.floors[len(w.floors)-1]
}

func (w *walker) problem(key, format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.problems = append(w.problems, plan.Problem{Path: key, Side: plan.LocalSide, Message: fmt.Sprintf(format, args...)})
	w.unknown = append(w.unknown, key)
}

func (w *walker) markUnknown(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unknown = append(w.unknown, key)
}

func (w *walker) scanRoot() error {
	fi, err := w.root.Lstat(".")
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("root is a %s, not a directory", statOf(fi).what())
	}
	dirs, err := w.list("", "", statOf(fi))
	if err != nil {
		return err
	}
	return w.descend(dirs)
}

// scanAt scans the subtree at dir after checking that every parent is a
// plain directory that is not ignored.
func (w *walker) scanAt(dir string) error {
	if err := checkRel(dir); err != nil {
		return err
	}
	elems := strings.Split(dir, "/")
	parentRaw := ""
	for _, e := range elems[:len(elems)-1] {
		parentRaw = path.Join(parentRaw, e)
		fi, err := w.root.Lstat(osPath(parentRaw))
		if err != nil {
			return fmt.Errorf("%s: %w: %w", parentRaw, ErrNotFound, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is a %s: %w", parentRaw, statOf(fi).what(), ErrNotFound)
		}
		w.elems = append(w.elems, Key(e))
		excluded, top := w.opts.Matcher.decide(w.elems, true, w.floor(), w.one)
		if excluded {
			w.stats.Skipped++
			return nil
		}
		w.floors = append(w.floors, top)
	}
	f, err := w.root.Open(osPath(parentRaw))
	if err != nil {
		return fmt.Errorf("%s: %w", parentRaw, err)
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", parentRaw, err)
	}
	name := elems[len(elems)-1]
	// Keep the target and the siblings that collide with it after NFC
	// normalisation: a collision makes both unknown.
	key := Key(name)
	var same []string
	for _, n := range names {
		if n == name || Key(n) == key {
			same = append(same, n)
		}
	}
	parentKey := Key(parentRaw)
	dirs, err := w.entries(f, parentRaw, parentKey, same)
	f.Close()
	if err != nil {
		return err
	}
	return w.descend(dirs)
}

func (w *walker) descend(dirs []child) error {
	for _, d := range dirs {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if w.opts.Descend != nil && d.key != w.target && !w.opts.Descend(d.key) {
			continue
		}
		w.elems = append(w.elems, path.Base(d.key))
		w.floors = append(w.floors, d.floor)
		sub, err := w.list(d.raw, d.key, d.st)
		if err == nil {
			err = w.descend(sub)
		}
		w.elems = w.elems[:len(w.elems)-1]
		w.floors = w.floors[:len(w.floors)-1]
		if err != nil {
			return err
		}
	}
	return nil
}

// list reads one directory and records its entries; it returns the
// subdirectories to descend into. Only ctx errors and a failure to read the
// root are returned: anything else is a problem for that directory.
func (w *walker) list(raw, key string, want fileStat) ([]child, error) {
	f, err := w.root.Open(osPath(raw))
	if err != nil {
		if raw == "" {
			return nil, err
		}
		w.problem(key, "cannot open directory: %v", cause(err))
		return nil, nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err == nil && !statOf(fi).sameObject(want) {
		err = errors.New("replaced while scanning")
	}
	if err != nil {
		if raw == "" {
			return nil, err
		}
		w.problem(key, "directory changed under the scanner: %v", err)
		return nil, nil
	}
	names, err := f.Readdirnames(-1)
	if err != nil {
		if raw == "" {
			return nil, err
		}
		w.problem(key, "cannot list directory: %v", cause(err))
		return nil, nil
	}
	if raw == "" {
		names = slices.DeleteFunc(names, func(n string) bool { return n == MetaDir })
	}
	return w.entries(f, raw, key, names)
}

// entries stats names in the open directory dir and records each.
func (w *walker) entries(dir *os.File, dirRaw, dirKey string, names []string) ([]child, error) {
	keys := make([]string, len(names))
	var clash map[string]int // only built when some name is not NFC
	for i, n := range names {
		keys[i] = Key(n)
		if clash == nil && len(keys[i]) > 0 && (len(keys[i]) != len(n) || keys[i] != n) {
			clash = make(map[string]int, len(names))
		}
	}
	if clash != nil {
		for _, k := range keys {
			clash[k]++
		}
	}
	var dirs []child
	settleNs := int64(w.opts.Settle)
	now := w.opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	nowNs := now.UnixNano()
	err := statDir(w.root, dir, dirRaw, names, func(i int, st fileStat, err error) {
		name, k := names[i], keys[i]
		key := k
		if dirKey != "" {
			key = dirKey + "/" + k
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				w.markUnknown(key) // vanished between listing and stat
				return
			}
			w.problem(key, "cannot stat: %v", cause(err))
			return
		}
		kind := st.kind()
		w.elems = append(w.elems, k)
		ignored, floor := w.opts.Matcher.decide(w.elems, kind == plan.Dir, w.floor(), w.one)
		w.elems = w.elems[:len(w.elems)-1]
		if ignored {
			w.stats.Skipped++
			return
		}
		if kind == 0 {
			w.problem(key, "%s %q is not synced", st.what(), name)
			return
		}
		if !utf8.ValidString(name) {
			// The remote stores names as JSON text: such a name cannot be
			// represented there, and its key would not be one either.
			w.problem(key, "name %q is not valid UTF-8", name)
			return
		}
		if clash != nil && clash[k] > 1 {
			w.problem(key, "%q and another name in the same directory are the same after Unicode normalisation", name)
			return
		}
		// The on-disk path is needed only to descend or to hash; it is the
		// key itself unless some element is not NFC.
		rel := func() string {
			switch {
			case dirRaw == dirKey && name == k:
				return key
			case dirRaw == "":
				return name
			}
			return dirRaw + "/" + name
		}
		// Share the key's bytes for Name when they are equal: one string
		// per entry instead of two.
		nameStr := name
		if k == name {
			nameStr = key[len(key)-len(k):]
		}
		l := st.local(nameStr)
		if kind == plan.Dir {
			w.tree[key] = l
			dirs = append(dirs, child{raw: rel(), key: key, st: st, floor: floor})
			return
		}
		if w.statOnly {
			w.tree[key] = l
			return
		}
		recent := false
		if settleNs > 0 {
			d := nowNs - st.mtimeNs
			recent = d < settleNs && d > -settleNs
		}
		if w.opts.Base != nil && !recent {
			if b, ok := w.opts.Base(key); ok && b.Kind == plan.File && b.MD5 != "" &&
				b.Size == st.size && b.MtimeNs == st.mtimeNs && b.Dev == st.dev && b.Ino == st.ino {
				l.MD5 = b.MD5
				w.tree[key] = l
				return
			}
		}
		w.hash(rel(), key, l, st, recent)
	})
	return dirs, err
}

// hash reads a changed file on a hasher goroutine. A file that changes while
// it is read is still being written: unknown, not an entry; so is a recent
// one (see hashFile).
func (w *walker) hash(rel, key string, l plan.Local, pre fileStat, recent bool) {
	w.hashers.Go(func() error {
		buf := w.buffer()
		sum, n, err := hashFile(w.ctx, w.root, rel, pre, buf, recent)
		w.bufs <- buf
		switch {
		case w.ctx.Err() != nil:
			return w.ctx.Err()
		case errors.Is(err, ErrChanged):
			w.markUnknown(key)
			w.mu.Lock()
			w.stats.Unsettled++
			w.mu.Unlock()
			return nil
		case errors.Is(err, fs.ErrNotExist):
			w.markUnknown(key)
			return nil
		case err != nil:
			w.problem(key, "cannot read: %v", cause(err))
			return nil
		}
		l.MD5 = sum
		w.mu.Lock()
		defer w.mu.Unlock()
		w.hashed = append(w.hashed, hashedFile{key: key, local: l})
		w.stats.Hashed++
		w.stats.HashedBytes += n
		return nil
	})
}

// buffer returns a free read buffer; at most Hashers exist at once.
func (w *walker) buffer() []byte {
	select {
	case b := <-w.bufs:
		return b
	default:
		return make([]byte, hashBufSize)
	}
}

const hashBufSize = 256 << 10

// ErrChanged reports a file that changed while syncd read it: it is still
// being written, and is read again on a later pass.
var ErrChanged = errors.New("changed while being read")

// cause strips the operation and path from an os error for a message that
// already names the path.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// hashFile returns the MD5 of the regular file rel, which must be the
// object pre describes and must not change while it is read.
func hashFile(ctx context.Context, root *os.Root, rel string, pre fileStat, buf []byte, recent bool) (string, int64, error) {
	f, err := root.OpenFile(osPath(rel), os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	if recent {
		// Written moments ago (within Settle): still being written unless
		// the system says no process has it open for writing. Then it is
		// read at once (a change during the read is caught below), and a
		// one-file change goes up without waiting for its age.
		if open, known := openForWriting(f); open || !known {
			return "", 0, fmt.Errorf("%s: %w", rel, ErrChanged)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	if !statOf(fi).sameContent(pre) {
		return "", 0, fmt.Errorf("%s: %w", rel, ErrChanged)
	}
	h := md5.New()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", n, err
		}
		m, rerr := f.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", n, rerr
		}
	}
	fi, err = f.Stat()
	if err != nil {
		return "", n, err
	}
	if post := statOf(fi); !post.sameContent(pre) || n != pre.size {
		return "", n, fmt.Errorf("%s: %w", rel, ErrChanged)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// osPath turns a slash path relative to the root into the name os.Root
// methods take.
func osPath(rel string) string {
	if rel == "" {
		return "."
	}
	return filepath.FromSlash(rel)
}
