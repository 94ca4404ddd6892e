package local

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/syncd/syncd/sync/plan"
)

// Errors of FS operations, wrapped with the operation and path; test them
// with errors.Is.
var (
	// ErrPremise: what is on disk is no longer what the plan saw there. The
	// operation did nothing destructive; the next pass decides again.
	ErrPremise = errors.New("changed since planning")
	// ErrExists: the target of a create, commit or rename exists; nothing
	// was overwritten.
	ErrExists = errors.New("already exists")
	// ErrNotFound: the path (or a parent directory it needs) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnsafePath: the path is not a clean relative slash path (absolute,
	// ".", "..", empty elements, NUL) or points into MetaDir.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrNotRegular: the path is a symlink, socket, device or FIFO.
	ErrNotRegular = errors.New("not a regular file or directory")
)

// Layout of MetaDir, all on the root's file system so moves are atomic.
const (
	metaTmp    = MetaDir + "/tmp"
	metaTrash  = MetaDir + "/trash"
	metaMarker = MetaDir + "/root"
	// trashStamp names a trash directory: its creation time, sortable and
	// valid on every OS, then a random suffix.
	trashStamp = "20060102T150405.000000000Z"
)

// DefaultTrashRetention is how long trashed files are kept unless
// configured otherwise.
const DefaultTrashRetention = 30 * 24 * time.Hour

// FS performs the executor's operations on one sync root. Every path is a
// relative slash path of on-disk names (see RawPath), resolved inside the
// root through os.Root. Destructive operations check a premise first and
// never unlink user data: what they replace or delete goes to the trash.
// An FS is safe for concurrent use on distinct paths.
type FS struct {
	root *os.Root
}

// Open opens the sync root dir and creates MetaDir with its tmp and trash
// directories when missing. It does not create the root marker: whether a
// root without one may be synced is the engine's decision (see HasMarker).
func Open(dir string) (*FS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open sync root %s: %w", dir, err)
	}
	f := &FS{root: root}
	if err := f.prepare(); err != nil {
		root.Close()
		return nil, fmt.Errorf("open sync root %s: %w", dir, err)
	}
	return f, nil
}

// OpenView opens the sync root dir without creating anything in it: for a
// dry run, which must leave the root as it found it. Scans work on it;
// operations that need MetaDir (downloads, the trash) fail when it is
// missing.
func OpenView(dir string) (*FS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open sync root %s: %w", dir, err)
	}
	return &FS{root: root}, nil
}

func (f *FS) prepare() error {
	for _, d := range []string{MetaDir, metaTmp, metaTrash} {
		if err := f.root.Mkdir(osPath(d), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, err := f.root.Lstat(osPath(d))
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is a %s, not a directory", d, statOf(fi).what())
		}
	}
	return nil
}

// Close releases the root.
func (f *FS) Close() error { return f.root.Close() }

// Root is the os.Root the FS works in, for ScanOptions.Root.
func (f *FS) Root() *os.Root { return f.root }

// HasMarker reports whether the root carries syncd's marker and its id. A
// root that synced before and has no marker (an unmounted disk, a wiped
// directory) must not be synced: everything would look deleted.
func (f *FS) HasMarker() (id string, ok bool, err error) {
	b, err := f.root.ReadFile(osPath(metaMarker))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read marker %s: %w", metaMarker, err)
	}
	id = strings.TrimSpace(string(b))
	if id == "" {
		return "", false, fmt.Errorf("read marker %s: empty", metaMarker)
	}
	return id, true, nil
}

// CreateMarker writes the marker with a new random id and returns it. It
// never replaces an existing marker (ErrExists).
func (f *FS) CreateMarker() (string, error) {
	id := randomHex(16)
	tmp := metaTmp + "/marker-" + id
	if err := writeSync(f.root, tmp, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("create marker: %w", err)
	}
	defer f.root.Remove(osPath(tmp))
	if err := f.root.Link(osPath(tmp), osPath(metaMarker)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create marker %s: %w", metaMarker, ErrExists)
		}
		return "", fmt.Errorf("create marker %s: %w", metaMarker, err)
	}
	return id, syncDir(f.root, MetaDir)
}

// Stat returns the entry at p, without MD5.
func (f *FS) Stat(p string) (plan.Local, error) {
	if err := checkPath(p); err != nil {
		return plan.Local{}, fmt.Errorf("stat %s: %w", p, err)
	}
	st, err := f.lstat(p)
	if err != nil {
		return plan.Local{}, fmt.Errorf("stat %s: %w", p, err)
	}
	return st.local(path.Base(p)), nil
}

// lstat stats p, mapping a missing path to ErrNotFound and anything that is
// neither file nor directory to ErrNotRegular.
func (f *FS) lstat(p string) (fileStat, error) {
	fi, err := f.root.Lstat(osPath(p))
	if errors.Is(err, fs.ErrNotExist) {
		return fileStat{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return fileStat{}, err
	}
	st := statOf(fi)
	if st.kind() == 0 {
		return st, fmt.Errorf("%s: %w", st.what(), ErrNotRegular)
	}
	return st, nil
}

// Hash returns the entry of the file p with its MD5. ErrChanged: the file
// changed while it was read.
func (f *FS) Hash(ctx context.Context, p string) (plan.Local, error) {
	if err := checkPath(p); err != nil {
		return plan.Local{}, fmt.Errorf("hash %s: %w", p, err)
	}
	st, err := f.lstat(p)
	if err == nil && st.kind() != plan.File {
		err = fmt.Errorf("a directory: %w", ErrNotRegular)
	}
	if err != nil {
		return plan.Local{}, fmt.Errorf("hash %s: %w", p, err)
	}
	sum, _, err := hashFile(ctx, f.root, p, st, make([]byte, hashBufSize), false)
	if err != nil {
		return plan.Local{}, fmt.Errorf("hash %s: %w", p, err)
	}
	l := st.local(path.Base(p))
	l.MD5 = sum
	return l, nil
}

// Mkdir creates the directory p; its parent must exist (ErrNotFound) and p
// must not (ErrExists).
func (f *FS) Mkdir(p string) (plan.Local, error) {
	if err := checkPath(p); err != nil {
		return plan.Local{}, fmt.Errorf("mkdir %s: %w", p, err)
	}
	if err := f.spellingFree(p, ""); err != nil {
		return plan.Local{}, fmt.Errorf("mkdir %s: %w", p, err)
	}
	if err := f.root.Mkdir(osPath(p), 0o777); err != nil {
		return plan.Local{}, fmt.Errorf("mkdir %s: %w", p, classify(err))
	}
	return f.Stat(p)
}

// Reader reads a local file for upload. Call Unchanged after the last
// byte: the upload is only good if the file did not change while read.
type Reader struct {
	*os.File
	fs   *FS
	path string
	pre  fileStat
}

// OpenRead opens the regular file p for reading and returns its size.
func (f *FS) OpenRead(p string) (*Reader, int64, error) {
	if err := checkPath(p); err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", p, err)
	}
	pre, err := f.lstat(p)
	if err == nil && pre.kind() != plan.File {
		err = fmt.Errorf("a directory: %w", ErrNotRegular)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", p, err)
	}
	file, err := f.root.OpenFile(osPath(p), os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", p, classify(err))
	}
	fi, err := file.Stat()
	if err == nil && !statOf(fi).sameContent(pre) {
		err = ErrChanged
	}
	if err != nil {
		file.Close()
		return nil, 0, fmt.Errorf("open %s: %w", p, err)
	}
	return &Reader{File: file, fs: f, path: p, pre: pre}, pre.size, nil
}

// Local is the file as it was when opened (without MD5).
func (r *Reader) Local() plan.Local { return r.pre.local(path.Base(r.path)) }

// Unchanged returns an error wrapping ErrChanged when the open file's size
// or mtime changed since OpenRead, or another object now sits at its path.
func (r *Reader) Unchanged() error {
	fi, err := r.File.Stat()
	if err != nil {
		return fmt.Errorf("recheck %s: %w", r.path, err)
	}
	if !statOf(fi).sameContent(r.pre) {
		return fmt.Errorf("recheck %s: %w", r.path, ErrChanged)
	}
	now, err := r.fs.lstat(r.path)
	if err != nil || !now.sameContent(r.pre) {
		return fmt.Errorf("recheck %s: %w", r.path, ErrChanged)
	}
	return nil
}

// TempFile is a download in progress, in MetaDir/tmp: never visible under
// a real name until Commit. It counts and hashes what is written.
type TempFile struct {
	f    *os.File
	name string // slash path relative to the root
	h    hash.Hash
	n    int64
	// sealed: synced, checked and closed by a Commit; no more writes.
	sealed bool
}

// CreateTemp creates an empty temporary file for a download.
func (f *FS) CreateTemp() (*TempFile, error) {
	name := metaTmp + "/dl-" + randomHex(12)
	file, err := f.root.OpenFile(osPath(name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, fmt.Errorf("create temp %s: %w", name, err)
	}
	return &TempFile{f: file, name: name, h: md5.New()}, nil
}

// Write appends p to the file and to its running MD5.
func (t *TempFile) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	t.h.Write(p[:n])
	t.n += int64(n)
	return n, err
}

// Size is the number of bytes written so far.
func (t *TempFile) Size() int64 { return t.n }

// MD5 is the lower-case hex MD5 of what was written so far.
func (t *TempFile) MD5() string { return hex.EncodeToString(t.h.Sum(nil)) }

// Name is the temp file's path relative to the root, for logs.
func (t *TempFile) Name() string { return t.name }

// Stat is the temp file's stat as it stands (size, mtime, device, inode),
// which a Commit keeps: the file is linked into place, never copied.
func (t *TempFile) Stat() (plan.Local, error) {
	if t.sealed {
		return plan.Local{}, fmt.Errorf("stat temp %s: already committed", t.name)
	}
	fi, err := t.f.Stat()
	if err != nil {
		return plan.Local{}, fmt.Errorf("stat temp %s: %w", t.name, err)
	}
	return statOf(fi).local(path.Base(t.name)), nil
}

// seal syncs and closes the file once and checks that it holds what was
// written; a Commit retried after ErrExists or ErrPremise skips it.
func (t *TempFile) seal() error {
	if t.sealed {
		return nil
	}
	if err := t.f.Sync(); err != nil {
		return err
	}
	fi, err := t.f.Stat()
	if err == nil && fi.Size() != t.n {
		err = fmt.Errorf("temp file %s has %d bytes, %d were written", t.name, fi.Size(), t.n)
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	t.sealed = err == nil
	return err
}

// Discard closes and removes an uncommitted temp file.
func (f *FS) Discard(t *TempFile) error {
	t.f.Close()
	if err := f.root.Remove(osPath(t.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("discard %s: %w", t.name, err)
	}
	return nil
}

// Commit makes the downloaded t the file p and returns p's new entry (with
// the MD5 of what was written). It syncs t to disk and checks its size;
// then, if expect is nil, nothing may exist at p (ErrExists: never
// overwritten); if expect is set, the file at p must still match it
// (ErrPremise) and is moved to the trash first, never unlinked. The final
// step links t under p, which fails rather than replaces if anything
// appeared meanwhile, and syncs p's directory. t is closed in every case.
// When p is refused or t could not be synced it is also removed; after any
// other error (ErrExists, ErrPremise, ErrNotFound...) it is kept so that the
// caller can Commit it again, elsewhere, or Discard it.
func (f *FS) Commit(t *TempFile, p string, expect *plan.Local) (plan.Local, error) {
	fail := func(err error) (plan.Local, error) {
		return plan.Local{}, fmt.Errorf("commit %s: %w", p, err)
	}
	if err := checkPath(p); err != nil {
		f.Discard(t)
		return fail(err)
	}
	if err := t.seal(); err != nil {
		f.Discard(t)
		return fail(err)
	}
	var trashed string
	if expect != nil {
		var err error
		if trashed, err = f.moveToTrash(context.Background(), p, *expect, nil); err != nil {
			return fail(err)
		}
	}
	err := f.spellingFree(p, "")
	if err == nil {
		err = f.linkNoReplace(t.name, p)
	}
	if err != nil {
		// Put the replaced file back: an empty path would read as a local
		// deletion on the next pass. If something new took the path, the
		// old version stays in the trash.
		if trashed != "" {
			if rerr := f.renameNoReplace(trashed, p); rerr != nil {
				err = fmt.Errorf("%w; the replaced file stays in %s: %w", err, trashed, rerr)
			}
		}
		return fail(err)
	}
	if err := f.root.Remove(osPath(t.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	if err := syncDir(f.root, path.Dir(p)); err != nil {
		return fail(err)
	}
	l, err := f.Stat(p)
	if err != nil {
		return fail(err)
	}
	l.MD5 = t.MD5()
	return l, nil
}

// linkNoReplace gives the file at from the additional name to, failing
// with ErrExists if to exists. Where the file system has no hard links it
// falls back to check-then-rename (a window of microseconds).
func (f *FS) linkNoReplace(from, to string) error {
	err := f.root.Link(osPath(from), osPath(to))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%s: %w", to, ErrExists)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w: %w", to, ErrNotFound, err)
	}
	if _, lerr := f.root.Lstat(osPath(to)); lerr == nil {
		return fmt.Errorf("%s: %w", to, ErrExists)
	}
	return f.root.Rename(osPath(from), osPath(to))
}

// Rename moves the file or directory from to to (for example a case-only
// rename). from must still match expect (ErrPremise), to must not exist
// (ErrExists) and its parent must (ErrNotFound: parents are not created).
// It returns the entry at its new path.
func (f *FS) Rename(from, to string, expect plan.Local) (plan.Local, error) {
	fail := func(err error) (plan.Local, error) {
		return plan.Local{}, fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	if err := checkPath(from); err != nil {
		return fail(err)
	}
	if err := checkPath(to); err != nil {
		return fail(err)
	}
	if under(to, from) || under(from, to) {
		return fail(fmt.Errorf("%w: a path cannot move into itself or its parent", ErrUnsafePath))
	}
	if err := f.premise(from, expect); err != nil {
		return fail(err)
	}
	if dir := path.Dir(to); dir != "." {
		st, err := f.lstat(dir)
		if err == nil && st.kind() != plan.Dir {
			err = fmt.Errorf("%w: parent %s is a file", ErrNotFound, dir)
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := f.spellingFree(to, from); err != nil {
		return fail(err)
	}
	if err := f.renameNoReplace(from, to); err != nil {
		return fail(err)
	}
	got, err := f.Stat(to)
	if err != nil {
		return fail(err)
	}
	if !Matches(expect, got) {
		// It changed in the instant between check and move: it moved all
		// the same, so nothing is lost; the next pass sees it at to.
		_, err := fail(ErrPremise)
		return got, err
	}
	return got, syncDir(f.root, path.Dir(from), path.Dir(to))
}

// premise checks that p is still what expect describes.
func (f *FS) premise(p string, expect plan.Local) error {
	st, err := f.lstat(p)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrPremise, err)
	}
	if err != nil {
		return err
	}
	if got := st.local(path.Base(p)); !Matches(expect, got) {
		return fmt.Errorf("%w: %s is %s", ErrPremise, p, describe(got))
	}
	return nil
}

func describe(l plan.Local) string {
	if l.Kind == plan.File {
		return fmt.Sprintf("a file of %d bytes, mtime %s, inode %d", l.Size, time.Unix(0, l.MtimeNs).UTC().Format(time.RFC3339Nano), l.Ino)
	}
	return fmt.Sprintf("a %s, inode %d", l.Kind, l.Ino)
}

// spellingFree fails with ErrExists when p's directory holds another name
// that is p's after Unicode normalisation (an NFD "café" beside an NFC
// one): the trees key paths by NFC, so two such names are one path that
// the scanner can only report as a problem. Only names with non-ASCII
// bytes are checked (one directory read each). self, when set, is the
// path being renamed to p: itself under another spelling is no clash.
func (f *FS) spellingFree(p, self string) error {
	name := path.Base(p)
	if isASCII(name) {
		return nil
	}
	names, err := readNames(f.root, path.Dir(p))
	if err != nil {
		return classify(err)
	}
	key := Key(name)
	for _, n := range names {
		if self != "" && path.Dir(self) == path.Dir(p) && n == path.Base(self) {
			continue
		}
		if n != name && Key(n) == key {
			return fmt.Errorf("%s: %w (as %q)", p, ErrExists, n)
		}
	}
	return nil
}

// renameNoReplace renames from to to, failing with ErrExists when to exists
// unless it is from itself under another spelling (a case-only rename on a
// case-insensitive file system).
func (f *FS) renameNoReplace(from, to string) error {
	err := renameNoReplace(f.root, from, to)
	if errors.Is(err, ErrExists) {
		fromSt, ferr := f.root.Lstat(osPath(from))
		toSt, terr := f.root.Lstat(osPath(to))
		if ferr == nil && terr == nil && os.SameFile(fromSt, toSt) {
			return f.root.Rename(osPath(from), osPath(to))
		}
	}
	return err
}

// renameCheck is the portable renameNoReplace: a check, then a rename that
// would replace. The window between them is microseconds.
func renameCheck(root *os.Root, from, to string) error {
	if _, err := root.Lstat(osPath(to)); err == nil {
		return fmt.Errorf("%s: %w", to, ErrExists)
	}
	if err := root.Rename(osPath(from), osPath(to)); err != nil {
		return classify(err)
	}
	return nil
}

// Trash moves the file or directory p into MetaDir/trash/<time>/p. p must
// still match expect (ErrPremise). For a directory, verify is called for
// every entry found below p (keyed like the scanner's tree, files without
// MD5, Kind 0 for what is not synced) after the move; if it returns false
// for any, the directory is moved back and the error wraps ErrPremise. A
// nil verify accepts any content. See ExpectTree.
func (f *FS) Trash(ctx context.Context, p string, expect plan.Local, verify func(path string, got plan.Local) bool) error {
	if err := checkPath(p); err != nil {
		return fmt.Errorf("trash %s: %w", p, err)
	}
	if _, err := f.moveToTrash(ctx, p, expect, verify); err != nil {
		return fmt.Errorf("trash %s: %w", p, err)
	}
	return nil
}

// moveToTrash moves p into a new trash directory after checking its
// premise (and, for a directory, its content: see Trash) and returns where
// it went. On any failure p is where it was, or its error says where it is.
func (f *FS) moveToTrash(ctx context.Context, p string, expect plan.Local, verify func(string, plan.Local) bool) (string, error) {
	if err := f.premise(p, expect); err != nil {
		return "", err
	}
	stamp := time.Now().UTC().Format(trashStamp) + "-" + randomHex(4)
	bin := metaTrash + "/" + stamp
	dst := bin + "/" + p
	if err := f.root.MkdirAll(osPath(path.Dir(dst)), 0o700); err != nil {
		return "", err
	}
	if err := f.renameNoReplace(p, dst); err != nil {
		return "", err
	}
	restore := func(why error) error {
		if err := f.renameNoReplace(dst, p); err != nil {
			return fmt.Errorf("%w (%w); it stays in %s: %w", ErrPremise, why, dst, err)
		}
		return fmt.Errorf("%w: %w", ErrPremise, why)
	}
	st, err := f.lstat(dst)
	if err != nil {
		return "", restore(err)
	}
	if !Matches(expect, st.local(path.Base(p))) {
		return "", restore(fmt.Errorf("%s changed while it was moved", p))
	}
	if expect.Kind == plan.Dir && verify != nil {
		if err := f.verifyTrashed(ctx, bin, p, verify); err != nil {
			return "", restore(err)
		}
	}
	return dst, syncDir(f.root, path.Dir(p))
}

// verifyTrashed checks every entry below the directory moved to bin/p.
func (f *FS) verifyTrashed(ctx context.Context, bin, p string, verify func(string, plan.Local) bool) error {
	sub, err := f.root.OpenRoot(osPath(bin))
	if err != nil {
		return err
	}
	defer sub.Close()
	res, err := scan(ctx, ScanOptions{Root: sub}, p, true)
	if err != nil {
		return err
	}
	for k, l := range res.Tree {
		if k != Key(p) && !verify(k, l) {
			return fmt.Errorf("%s is not as planned", k)
		}
	}
	for _, k := range res.Unknown {
		if !verify(k, plan.Local{}) {
			return fmt.Errorf("%s could not be checked", k)
		}
	}
	return nil
}

// ExpectTree returns a Trash verify func accepting exactly what the scan
// tree (the one the plan was made from) holds below the trashed directory,
// unchanged (Matches), plus ignored paths (m), which are trashed with their
// directory: never synced, they are still kept in the trash.
func ExpectTree(tree map[string]plan.Local, m *Matcher) func(path string, got plan.Local) bool {
	return func(p string, got plan.Local) bool {
		if want, ok := tree[p]; ok && got.Kind != 0 {
			return Matches(want, got)
		}
		kind := got.Kind
		if kind == 0 {
			kind = plan.File
		}
		return m.Match(p, kind)
	}
}

// PurgeTrash removes trash older than olderThan at now (by the time each
// trash directory was created) and returns how many it removed. Names it
// does not recognise are left alone.
func (f *FS) PurgeTrash(olderThan time.Duration, now time.Time) (int, error) {
	names, err := readNames(f.root, metaTrash)
	if err != nil {
		return 0, fmt.Errorf("purge trash: %w", err)
	}
	n := 0
	for _, name := range names {
		stamp, _, _ := strings.Cut(name, "-")
		t, err := time.Parse(trashStamp, stamp)
		if err != nil || now.Sub(t) < olderThan {
			continue
		}
		if err := f.root.RemoveAll(osPath(metaTrash + "/" + name)); err != nil {
			return n, fmt.Errorf("purge trash %s: %w", name, err)
		}
		n++
	}
	return n, nil
}

// TempExists reports whether the temporary download name (a TempFile's
// Name) is still in MetaDir/tmp: a Commit removes it only once the file is
// linked into place.
func (f *FS) TempExists(name string) (bool, error) {
	if !strings.HasPrefix(name, metaTmp+"/dl-") || strings.Contains(name[len(metaTmp)+1:], "/") {
		return false, fmt.Errorf("temp %q: not a temporary download", name)
	}
	_, err := f.root.Lstat(osPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// CleanTemp removes every temporary download (left by a crash) and returns
// how many. Call it only while no download is in progress.
func (f *FS) CleanTemp() (int, error) {
	names, err := readNames(f.root, metaTmp)
	if err != nil {
		return 0, fmt.Errorf("clean temp: %w", err)
	}
	for i, name := range names {
		if err := f.root.RemoveAll(osPath(metaTmp + "/" + name)); err != nil {
			return i, fmt.Errorf("clean temp %s: %w", name, err)
		}
	}
	return len(names), nil
}

func readNames(root *os.Root, dir string) ([]string, error) {
	d, err := root.Open(osPath(dir))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// checkPath accepts a clean relative slash path outside MetaDir.
func checkPath(p string) error {
	if err := checkRel(p); err != nil {
		return err
	}
	if first, _, _ := strings.Cut(p, "/"); first == MetaDir {
		return fmt.Errorf("%w: %q is inside %s", ErrUnsafePath, p, MetaDir)
	}
	return nil
}

// checkRel accepts a clean, non-empty, relative slash path.
func checkRel(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrUnsafePath)
	}
	if strings.HasPrefix(p, "/") || (runtime.GOOS == "windows" && (strings.ContainsAny(p, `\:`))) {
		return fmt.Errorf("%w: %q is not relative", ErrUnsafePath, p)
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." || strings.ContainsRune(e, 0) {
			return fmt.Errorf("%w: %q is not a clean relative path", ErrUnsafePath, p)
		}
	}
	return nil
}

// classify maps os errors to the package's sentinels, keeping the cause.
func classify(err error) error {
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// syncDir fsyncs directories so that renames and links in them survive a
// crash. Where directories cannot be synced (Windows), it does nothing.
func syncDir(root *os.Root, dirs ...string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	for i, d := range dirs {
		if i > 0 && d == dirs[i-1] {
			continue
		}
		if d == "." {
			d = ""
		}
		df, err := root.Open(osPath(d))
		if err != nil {
			return err
		}
		err = df.Sync()
		df.Close()
		if err != nil {
			return fmt.Errorf("sync dir %s: %w", d, err)
		}
	}
	return nil
}

func writeSync(root *os.Root, name string, data []byte) error {
	file, err := root.OpenFile(osPath(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := file.Write(data); err != nil {
		file.Close()
		return err
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
