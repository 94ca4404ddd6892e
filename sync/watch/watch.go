package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Defaults for Options.
const (
	DefaultDebounce = time.Second
	DefaultMaxDelay = 10 * time.Second
)

// retryInterval is how often the whole root is walked again while some
// directories cannot be watched (out of inotify watches, root missing), so
// that coverage comes back by itself once the cause is fixed.
const retryInterval = time.Minute

// stateDir is syncd's own directory in every root: never watched, never hinted.
const stateDir = ".syncd"

// Options configure a Watcher.
type Options struct {
	// Root is the absolute path of the sync root.
	Root string
	// Ignore reports whether a path (slash-separated, relative to Root) is
	// excluded from sync. Ignored directories are not watched; events for
	// ignored paths are dropped. .syncd/ is always ignored. nil ignores
	// nothing else. Called only from Run's goroutine.
	Ignore func(rel string, dir bool) bool
	// Debounce is the quiet period after the last hint before a batch is
	// ready (default DefaultDebounce).
	Debounce time.Duration
	// MaxDelay bounds how long a batch waits under a constant stream of
	// events, counted from its first hint (default DefaultMaxDelay, or
	// Debounce if that is longer). It may not be shorter than Debounce.
	MaxDelay time.Duration
	// Logger receives warnings about lost coverage; nil logs nothing.
	Logger *zap.Logger
	// OnHint, when set, is called (from Run's goroutine, so it must not
	// block) at the first hint of each batch, a debounce before the batch
	// is ready: the caller may get ready for the pass it will ask for.
	OnHint func()
}

// Stats are counters for status and metrics.
type Stats struct {
	Watches   int    // directories watched now
	Overflows uint64 // event-queue overflows seen
	Batches   uint64 // batches taken by the engine
}

// Watcher turns filesystem events under one root into batches of rescan
// hints. See the package documentation for the contract.
type Watcher struct {
	root     string
	ignore   func(rel string, dir bool) bool
	debounce time.Duration
	maxDelay time.Duration
	onHint   func()
	log      *zap.Logger
	open     func() (source, error)
	batches  chan Batch
	started  atomic.Bool

	watches   atomic.Int64
	overflows atomic.Uint64
	sent      atomic.Uint64

	mu       sync.Mutex
	degraded string // why coverage is incomplete; "" when it is not
}

// New checks opts and returns a Watcher for them. Nothing is watched until
// Run is called.
func New(opts Options) (*Watcher, error) { return newWatcher(opts, openFsnotify) }

func newWatcher(opts Options, open func() (source, error)) (*Watcher, error) {
	if !filepath.IsAbs(opts.Root) {
		return nil, fmt.Errorf("watch root %q: not an absolute path", opts.Root)
	}
	if opts.Debounce < 0 || opts.MaxDelay < 0 {
		return nil, fmt.Errorf("watch %s: negative debounce %v or max delay %v", opts.Root, opts.Debounce, opts.MaxDelay)
	}
	w := &Watcher{
		root:     filepath.Clean(opts.Root),
		ignore:   opts.Ignore,
		debounce: opts.Debounce,
		maxDelay: opts.MaxDelay,
		onHint:   opts.OnHint,
		log:      opts.Logger,
		open:     open,
		batches:  make(chan Batch),
	}
	if w.debounce == 0 {
		w.debounce = DefaultDebounce
	}
	if w.maxDelay == 0 {
		w.maxDelay = max(DefaultMaxDelay, w.debounce) // a long debounce alone is valid
	}
	if w.maxDelay < w.debounce {
		return nil, fmt.Errorf("watch %s: max delay %v shorter than debounce %v", opts.Root, w.maxDelay, w.debounce)
	}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	w.log = w.log.With(zap.String("root", w.root))
	return w, nil
}

// Batches delivers the rescan hints. It is closed when Run returns.
func (w *Watcher) Batches() <-chan Batch { return w.batches }

// Degraded reports whether watch coverage is incomplete, and why: out of
// inotify watches, an event-queue overflow or watcher error not yet
// recovered by a re-walk, or a missing root. The engine should then rely
// on frequent full rescans.
func (w *Watcher) Degraded() (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.degraded != "", w.degraded
}

// Stats returns current counters.
func (w *Watcher) Stats() Stats {
	return Stats{Watches: int(w.watches.Load()), Overflows: w.overflows.Load(), Batches: w.sent.Load()}
}

func (w *Watcher) setDegraded(reason string) (changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed = w.degraded != reason
	w.degraded = reason
	return changed
}

// Run watches the root until ctx is done, then releases every watch and
// returns nil. It returns an error if the watcher cannot start or the root
// cannot be watched at start. It may be called once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return fmt.Errorf("watch %s: Run called twice", w.root)
	}
	defer close(w.batches)
	src, err := w.open()
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.root, err)
	}
	defer func() {
		if err := src.Close(); err != nil {
			w.log.Warn("close watcher", zap.Error(err))
		}
	}()
	timer, retry := time.NewTimer(time.Hour), time.NewTimer(time.Hour)
	timer.Stop()
	retry.Stop()
	defer timer.Stop()
	defer retry.Stop()
	l := &loop{w: w, src: src, dirs: newDirSet(), pending: newHints(), timer: timer, retry: retry}
	if err := l.resync(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err // without the root there is nothing to watch
	}
	// The first batch is Full: it is sent only now that every directory is
	// watched, so a startup scan taken on it misses nothing.
	l.ready = &hints{full: true}
	l.readyBatch = Batch{Full: true}
	return l.run(ctx)
}

// loop is the state owned by Run's goroutine.
type loop struct {
	w       *Watcher
	src     source
	dirs    *dirSet
	pending *hints // collecting; the timer runs while it is not empty
	first   time.Time
	timer   *time.Timer
	timerOn bool

	ready      *hints // debounced, waiting for the engine; nil when none
	readyBatch Batch

	needResync   bool // a Full is pending because events or watches were lost
	resyncing    bool
	outOfWatches bool // ENOSPC seen since the last clean walk
	walkTrouble  bool // the current resync hit a problem
	broken       bool // some directories are not watched; retry walks
	retry        *time.Timer
	retryOn      bool
}

func (l *loop) run(ctx context.Context) error {
	for {
		var out chan<- Batch
		if l.ready != nil {
			out = l.w.batches
		}
		var tick, retry <-chan time.Time
		if l.timerOn {
			tick = l.timer.C
		}
		if l.retryOn {
			retry = l.retry.C
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-l.src.Events():
			if !ok {
				return fmt.Errorf("watch %s: event stream closed", l.w.root)
			}
			l.handle(ctx, ev)
		case err, ok := <-l.src.Errors():
			if !ok {
				return fmt.Errorf("watch %s: error stream closed", l.w.root)
			}
			l.lost(err)
		case <-tick:
			l.timerOn = false
			l.flush(ctx)
		case <-retry:
			l.retryOn = false
			l.retryWalk(ctx)
		case out <- l.readyBatch:
			l.ready = nil
			l.readyBatch = Batch{}
			l.w.sent.Add(1)
		}
	}
}

// touched restarts the settle delay, never beyond MaxDelay after the first
// hint of the pending batch.
func (l *loop) touched() {
	now := time.Now()
	if l.first.IsZero() {
		l.first = now
		if l.w.onHint != nil {
			l.w.onHint()
		}
	}
	d := min(l.w.debounce, l.first.Add(l.w.maxDelay).Sub(now))
	l.timer.Reset(max(d, 0))
	l.timerOn = true
}

// flush moves the pending hints into the batch waiting for the engine.
func (l *loop) flush(ctx context.Context) {
	l.first = time.Time{}
	if l.pending.empty() {
		return
	}
	if l.ready == nil {
		l.ready = l.pending
	} else {
		l.ready.merge(l.pending)
	}
	l.pending = newHints()
	if l.ready.full && l.needResync {
		// Events were lost: directories may have appeared unwatched or
		// vanished. Re-walk before the engine's full scan starts.
		if err := l.resync(ctx); err != nil {
			l.w.log.Warn("re-walk root", zap.Error(err))
		}
	}
	l.readyBatch = l.ready.batch()
}

func (l *loop) handle(ctx context.Context, ev fsnotify.Event) {
	rel, ok := l.rel(ev.Name)
	if !ok {
		l.w.log.Debug("event outside root", zap.String("path", ev.Name))
		return
	}
	if rel == "." {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			l.degrade("sync root removed or moved")
			l.needResync = true
			l.pending.full = true
			l.touched()
		}
		return
	}
	dir := l.dirs.has(rel)
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil {
			dir = fi.IsDir()
		}
	}
	if l.w.ignored(rel, dir) {
		return
	}
	if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && l.dirs.has(rel) && !l.stillThere(rel) {
		// Removed or moved away (maybe out of the root): drop the watches of
		// the whole tree. inotify keeps watching a moved directory under its
		// old name, which would misreport its events and leak watches.
		l.dropTree(rel)
	}
	l.pending.addDir(parent(rel))
	if ev.Has(fsnotify.Create) && dir {
		// Watch first, then hint the whole subtree: what was created in it
		// before its watch existed is found by the subtree scan.
		l.pending.addTree(rel)
		if err := l.watchTree(ctx, rel, nil); err != nil && !errors.Is(err, context.Canceled) {
			l.w.log.Debug("watch new directory", zap.String("path", rel), zap.Error(err))
		}
	}
	l.w.watches.Store(int64(l.dirs.len()))
	l.touched()
}

// lost handles an error from the event stream: events may have been lost,
// so everything is rescanned after a re-walk.
func (l *loop) lost(err error) {
	reason := "watcher error: " + err.Error()
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		l.w.overflows.Add(1)
		reason = "event queue overflowed (raise fs.inotify.max_queued_events if frequent)"
	}
	l.degrade(reason)
	l.needResync = true
	l.pending.full = true
	l.touched()
}

func (l *loop) degrade(reason string) {
	if l.w.setDegraded(reason) {
		l.w.log.Warn("watch coverage lost, full rescan scheduled", zap.String("reason", reason))
	}
}

// resync walks the whole root, watching every directory and dropping
// watches of directories that are gone. Degraded is cleared when the walk
// found no problem.
func (l *loop) resync(ctx context.Context) error {
	l.resyncing, l.walkTrouble = true, false
	defer func() { l.resyncing = false }()
	seen := make(map[string]struct{})
	err := l.watchTree(ctx, ".", seen)
	var gone []string
	for rel := range l.dirs.watched {
		if _, ok := seen[rel]; !ok {
			gone = append(gone, rel)
		}
	}
	for _, rel := range gone {
		l.dirs.removeTree(rel, l.unwatch)
	}
	l.w.watches.Store(int64(l.dirs.len()))
	l.needResync = false
	l.broken = err != nil || l.walkTrouble
	if l.broken && ctx.Err() == nil {
		l.armRetry()
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		l.degrade("sync root cannot be watched: " + err.Error())
		return err
	case !l.walkTrouble:
		l.outOfWatches = false
		if l.w.setDegraded("") {
			l.w.log.Info("watch coverage restored", zap.Int("watches", l.dirs.len()))
		}
	}
	return nil
}

// retryWalk walks the root again while directories are unwatched. Once
// every directory is watched again, a Full batch covers what changed
// unseen meanwhile.
func (l *loop) retryWalk(ctx context.Context) {
	if !l.broken {
		return // repaired meanwhile by the re-walk of a Full batch
	}
	if err := l.resync(ctx); err != nil || l.broken {
		return // still broken: resync armed the next retry
	}
	l.pending.full = true
	l.touched()
}

func (l *loop) armRetry() {
	if !l.retryOn {
		l.retry.Reset(retryInterval)
		l.retryOn = true
	}
}

// watchTree watches top and every directory below it that is not ignored,
// parents first, recording each in l.dirs and, when seen is not nil, in
// seen. Each directory is listed only after its own watch exists, so an
// entry created meanwhile is either listed here or reported by that watch.
//
// The walk reads the disk as it is now, which can be ahead of the events
// still queued: it may find a directory under its new name before the
// event of its move away from its old name is handled. The old name's
// watch is then dropped first, or the kernel would hand back that watch,
// still labelled with the old name.
//
// It returns the error of watching top itself, if any.
func (l *loop) watchTree(ctx context.Context, top string, seen map[string]struct{}) error {
	stack := []string{top}
	for n := 0; len(stack) > 0; n++ {
		if n%256 == 255 && ctx.Err() != nil {
			return ctx.Err()
		}
		rel := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		abs := l.abs(rel)
		fi, err := os.Lstat(abs)
		if err == nil && !fi.IsDir() {
			err = fmt.Errorf("%s: %w", abs, syscall.ENOTDIR)
		}
		if err == nil {
			err = l.watchDir(rel, abs, fi)
		}
		if err != nil {
			switch {
			case errors.Is(err, errOutOfWatches):
				return nil // every further Add fails the same way
			case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, errLoop):
				// Gone already, or replaced by a file: its parent reports it.
			default:
				l.w.log.Warn("cannot watch directory; its changes are seen only by full rescans",
					zap.String("path", rel), zap.Error(err))
			}
			if rel == top && !errors.Is(err, errLoop) {
				return fmt.Errorf("watch %s: %w", abs, err)
			}
			continue
		}
		if seen != nil {
			seen[rel] = struct{}{}
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				l.w.log.Warn("list watched directory", zap.String("path", rel), zap.Error(err))
			}
			continue
		}
		for _, e := range entries {
			if !e.IsDir() { // symbolic links are not followed
				continue
			}
			c := path.Join(rel, e.Name())
			if !l.w.ignored(c, true) {
				stack = append(stack, c)
			}
		}
	}
	return nil
}

var (
	errOutOfWatches = errors.New("out of inotify watches")
	errLoop         = errors.New("directory already watched above itself (bind mount loop)")
)

// watchDir adds the watch of one directory and records it.
func (l *loop) watchDir(rel, abs string, fi fs.FileInfo) error {
	id, known := fileIDOf(fi)
	if known {
		if old, ok := l.dirs.pathOf(id); ok && old != rel {
			if within(rel, old) || within(old, rel) {
				return errLoop
			}
			l.dropTree(old) // moved from old to rel; its event is still queued
		}
	}
	if err := l.src.Add(abs); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			l.noWatchesLeft(abs, err)
			return fmt.Errorf("%w: %w", errOutOfWatches, err)
		}
		return err
	}
	l.dirs.add(rel, id)
	return nil
}

// stillThere reports whether the watched directory rel is on disk under that
// name, with the identity it was watched with: an event about rel that is
// older than the walk that watched it (moved away and back) must not drop
// the watch.
func (l *loop) stillThere(rel string) bool {
	want, ok := l.dirs.id(rel)
	if !ok {
		return false
	}
	fi, err := os.Lstat(l.abs(rel))
	if err != nil || !fi.IsDir() {
		return false
	}
	id, ok := fileIDOf(fi)
	return ok && id == want
}

// dropTree forgets the watches of rel and everything below it, and hints
// its parent, where it disappeared (a re-walk needs no hint: it precedes a
// Full batch).
func (l *loop) dropTree(rel string) {
	l.dirs.removeTree(rel, l.unwatch)
	if !l.resyncing {
		l.pending.addDir(parent(rel))
	}
}

// unwatch removes the kernel watch of rel. fsnotify may have dropped it
// already (IN_DELETE_SELF, IN_MOVE_SELF); nothing else can fail here that
// would matter.
func (l *loop) unwatch(rel string) { _ = l.src.Remove(l.abs(rel)) }

// within reports whether rel is strictly below dir.
func within(rel, dir string) bool {
	return dir == "." && rel != "." || strings.HasPrefix(rel, dir+"/")
}

// noWatchesLeft records that the inotify watch limit is reached. Only the
// first occurrence schedules a Full batch: new directories found later are
// still hinted as trees, but their future changes are seen only by the
// engine's periodic full rescans, which Degraded tells it to run often.
func (l *loop) noWatchesLeft(abs string, err error) {
	l.walkTrouble, l.broken = true, true
	l.armRetry()
	if l.outOfWatches {
		return
	}
	l.outOfWatches = true
	reason := "out of inotify watches: raise fs.inotify.max_user_watches, e.g. sysctl fs.inotify.max_user_watches=524288"
	l.w.setDegraded(reason)
	l.w.log.Error("cannot watch directory, inotify watch limit reached; full rescan scheduled",
		zap.String("path", abs), zap.Error(err),
		zap.String("sysctl", "fs.inotify.max_user_watches"),
		zap.String("fix", "sysctl fs.inotify.max_user_watches=524288"))
	if !l.resyncing {
		l.pending.full = true
		l.touched()
	}
}

func (w *Watcher) ignored(rel string, dir bool) bool {
	if rel == stateDir || strings.HasPrefix(rel, stateDir+"/") {
		return true
	}
	return w.ignore != nil && w.ignore(rel, dir)
}

func (l *loop) abs(rel string) string {
	if rel == "." {
		return l.w.root
	}
	return filepath.Join(l.w.root, filepath.FromSlash(rel))
}

// rel maps an event's path to a slash path relative to the root.
func (l *loop) rel(name string) (string, bool) {
	r, ok := strings.CutPrefix(name, l.w.root)
	if !ok {
		return "", false
	}
	if r == "" {
		return ".", true
	}
	if !os.IsPathSeparator(r[0]) && !os.IsPathSeparator(l.w.root[len(l.w.root)-1]) {
		return "", false // a sibling such as /rootx
	}
	r = strings.TrimLeft(r, string(filepath.Separator))
	if r == "" {
		return ".", true
	}
	return filepath.ToSlash(r), true
}
