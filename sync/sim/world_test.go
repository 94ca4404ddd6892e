package sim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"go.uber.org/zap"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/state"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
	"github.com/syncd/syncd/sync/plan"
)

// epoch is where every fake clock starts: runs must not depend on the
// wall clock.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the fake clock shared by the engine, the client and the
// emulator. It only moves when the simulation moves it (it may jump back),
// and, once following, as the time package's clock does too (inside a
// testing/synctest bubble, the bubble's).
type clock struct {
	mu     sync.Mutex
	t      time.Time
	follow bool
	mono   time.Time // time.Now when following began
}

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.follow {
		return c.t.Add(time.Since(c.mono))
	}
	return c.t
}

// followTime makes the clock move with the time package's from now on.
func (c *clock) followTime() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.follow, c.mono = true, time.Now()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// front is a stable HTTP front for the emulator: it counts requests per
// endpoint and lets the emulator behind it be restarted (Close + New on the
// same data dir) without changing the URL the clients use.
type front struct {
	emu atomic.Pointer[emulator.Server]
	// hook, when set, is called with the endpoint before each request is
	// served (tests act "while a transfer is in flight" from it).
	hook   atomic.Pointer[func(ep string)]
	mu     sync.Mutex
	counts map[string]int
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := "other"
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/v2/"):
		ep = strings.TrimPrefix(r.URL.Path, "/api/v2/")
	case strings.HasPrefix(r.URL.Path, "/dl/"):
		ep = "dl"
	}
	f.mu.Lock()
	f.counts[ep]++
	f.mu.Unlock()
	if h := f.hook.Load(); h != nil {
		(*h)(ep)
	}
	f.emu.Load().ServeHTTP(w, r)
}

// take returns the counts since the last take and resets them.
func (f *front) take() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.counts
	f.counts = map[string]int{}
	return c
}

// mutating lists the endpoints that change the account or move content.
var mutating = []string{"file/upload", "file/edit", "file/delete", "file/move", "file/copy",
	"folder/create", "folder/edit", "folder/delete", "folder/move", "file/download", "dl"}

func countOf(c map[string]int, eps ...string) int {
	n := 0
	for _, e := range eps {
		n += c[e]
	}
	return n
}

// world is one simulated host and account: a local root synced with the
// remote folder remotePath of the emulator's demo account.
type world struct {
	t       testing.TB
	base    string // everything of this run lives below it
	clk     *clock
	emuOpts emulator.Options
	front   *front
	ep      *testenv.Endpoint // where the clients reach the front (in process with worldOpts.inProcess)
	jitter  func(time.Duration) time.Duration
	acct    emulator.Account

	engineClient *remote.Client
	userClient   *remote.Client

	dir     string        // the local root (machine.Dir)
	recycle string        // where the simulated user's local deletes and overwrites go
	machine *testenv.Host // the state file and local root; closed after a crash until open
	matcher *local.Matcher
	cfg     engine.PairConfig
	host    string

	recycled int // files put in the recycle bin by the fault tests

	inc *incState // incremental runs only (see variant.incremental)

	watch *simWatcher // loop runs only: the change source the user's local actions reach

	ignoring bool // the pair has ignore rules (see variant.ignore)

	// sched, when set, runs the executor with many workers under the
	// seeded scheduler (see sched); nil: one worker.
	sched *sched

	noLateUploadWait bool   // see worldOpts.noLateUploadWait
	mem              string // see worldOpts.mem
}

// setIgnore gives the pair these ignore patterns, as an operator editing
// the configuration and restarting syncd would.
func (w *world) setIgnore(patterns []string) error {
	m, err := local.NewMatcher(nil, patterns)
	if err != nil {
		return err
	}
	w.matcher, w.cfg.Ignored, w.ignoring = m, m.Match, len(patterns) > 0
	return nil
}

// ignoredPath reports whether the pair's rules exclude p or a folder
// above it.
func (w *world) ignoredPath(p string, kind plan.Kind) bool {
	p = norm.NFC.String(p)
	for d := path.Dir(p); d != "."; d = path.Dir(d) {
		if w.matcher.Match(d, plan.Dir) {
			return true
		}
	}
	return w.matcher.Match(p, kind)
}

// visible is t without what the pair's rules exclude.
func (w *world) visible(t tree) tree {
	if !w.ignoring {
		return t
	}
	out := make(tree, len(t))
	for p, m := range t {
		k := plan.File
		if m == "/" {
			k = plan.Dir
		}
		if !w.ignoredPath(p, k) {
			out[p] = m
		}
	}
	return out
}

// incState is the daemon of an incremental run: its long-lived pair (nil
// until the first pass, and after a restart) and the hooks of the pass in
// progress.
type incState struct {
	live      *engine.Pair
	rand      *rand.Rand // how each pass is triggered
	observer  func(engine.OpEvent)
	failpoint func(string) error
}

// passPair returns the pair and options of one scheduled pass: a fresh pair
// and a full pass, or in an incremental run the daemon's pair and a pass
// triggered by a local change, a poll or a sweep.
func (w *world) passPair(opt engine.Options) (*engine.Pair, engine.PassOptions) {
	if w.inc == nil {
		return w.pair(opt), engine.PassOptions{}
	}
	w.inc.observer, w.inc.failpoint = opt.Observer, opt.Failpoint
	switch w.inc.rand.IntN(4) {
	case 0, 1:
		return w.livePair(), engine.PassOptions{Incremental: true, LocalOnly: true}
	case 2:
		return w.livePair(), engine.PassOptions{Incremental: true}
	}
	return w.livePair(), engine.PassOptions{Incremental: true, Sweep: true}
}

// livePair is the daemon's pair, made at its first pass after a start.
func (w *world) livePair() *engine.Pair {
	if w.inc.live == nil {
		w.inc.live = w.pair(engine.Options{
			Observer: func(ev engine.OpEvent) {
				if f := w.inc.observer; f != nil {
					f(ev)
				}
			},
			Failpoint: func(point string) error {
				if f := w.inc.failpoint; f != nil {
					return f(point)
				}
				return nil
			},
		})
	}
	return w.inc.live
}

const remotePath = "/sim/root"

// newWorld builds a world below base (a fresh directory) with the emulator
// seeded by seed.
func newWorld(t testing.TB, base string, seed uint64, host string) (*world, error) {
	return newWorldWith(t, base, seed, host, worldOpts{})
}

// worldOpts are how a world's parts are connected.
type worldOpts struct {
	// inProcess reaches the emulator through emulator.Transport rather
	// than a socket: what a testing/synctest bubble needs.
	inProcess bool
	// jitter spreads the clients' retry delays (remote.Config.Jitter; nil:
	// random).
	jitter func(time.Duration) time.Duration
	// noLateUploadWait turns off journal recovery's wait for late uploads
	// (engine.Options.LateUploadWait -1) in every pass: see world.pair.
	noLateUploadWait bool
	// mem, when set, holds the emulator's data and the state files
	// instead of the run's directory: a directory of a memory file system
	// (memDir). Neither's inode numbers, timestamps or fsyncs mean
	// anything to a run (the state file is written without fsync, see
	// simHost); creating a file is what costs on a disk whose allocator
	// skips the inodes freed in the last seconds, and the emulator
	// creates one per upload. The local roots stay on the disk: their
	// inodes are the files' identities, and a disk hands a new file the
	// inode of one just removed.
	mem string
}

func newWorldWith(t testing.TB, base string, seed uint64, host string, o worldOpts) (*world, error) {
	w := &world{t: t, base: base, clk: newClock(), host: host,
		front: &front{counts: map[string]int{}}, jitter: o.jitter,
		noLateUploadWait: o.noLateUploadWait || !o.inProcess, mem: o.mem}
	data := base // the emulator's data and the state file
	if o.mem != "" {
		data = o.mem
	}
	w.emuOpts = testenv.EmulatorOptions(filepath.Join(data, "emu"))
	w.emuOpts.Seed, w.emuOpts.Now = seed, w.clk.Now
	w.acct = testenv.FirstAccount(w.emuOpts)
	for _, d := range []string{w.emuOpts.DataDir, filepath.Join(base, "local"), filepath.Join(base, "recycle"), filepath.Join(data, "state")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	emu, err := emulator.New(w.emuOpts)
	if err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	w.front.emu.Store(emu)
	w.ep = testenv.Serve(w.front, o.inProcess)
	w.dir = filepath.Join(base, "local")
	w.recycle = filepath.Join(base, "recycle")
	w.machine = simHost(w.dir, filepath.Join(data, "state", "state.db"))
	if w.matcher, err = local.NewMatcher(nil, nil); err != nil {
		return nil, err
	}
	w.cfg = engine.PairConfig{Key: "pair", LocalRoot: w.dir, RemotePath: remotePath, Ignored: w.matcher.Match, Host: host}
	if w.userClient, err = w.newClient(); err != nil {
		return nil, err
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// joinWorld builds a second host syncing the same account and remote
// folder as w, with its own local root and state file.
func joinWorld(w *world, base, host string) (*world, error) {
	o := &world{t: w.t, base: base, clk: w.clk, emuOpts: w.emuOpts, front: w.front, ep: w.ep, jitter: w.jitter,
		noLateUploadWait: w.noLateUploadWait, mem: w.mem, acct: w.acct, matcher: w.matcher, host: host, userClient: w.userClient}
	o.dir = filepath.Join(base, "local")
	o.recycle = filepath.Join(base, "recycle")
	stateDir := filepath.Join(base, "state")
	if w.mem != "" {
		stateDir = filepath.Join(w.mem, host, "state")
	}
	o.machine = simHost(o.dir, filepath.Join(stateDir, "state.db"))
	for _, d := range []string{o.dir, o.recycle, filepath.Dir(o.machine.StatePath)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	o.cfg = engine.PairConfig{Key: "pair", LocalRoot: o.dir, RemotePath: remotePath, Ignored: o.matcher.Match, Host: host}
	if err := o.open(); err != nil {
		return nil, err
	}
	return o, nil
}

// simHost is a host of a world: its state file is written without fsync.
// A crash here is the process's (the store closed, nothing in memory kept,
// the file as the OS holds it), never the machine's, so no outcome depends
// on what reached the disk; the emulator's data is not synced either
// (testenv.EmulatorOptions).
func simHost(dir, statePath string) *testenv.Host {
	return &testenv.Host{Dir: dir, StatePath: statePath, StoreOptions: state.Options{NoSync: true}}
}

func (w *world) emu() *emulator.Server { return w.front.emu.Load() }

// newClient is a connected client of the account on the fake clock: no
// rate limit a run reaches, retries after a millisecond (spread by
// w.jitter).
func (w *world) newClient() (*remote.Client, error) {
	return testenv.Connect(context.Background(), testenv.ClientConfig(w.ep, w.acct, func(c *remote.Config) {
		c.RequestsPerSecond, c.RetryBaseDelay, c.Now, c.Jitter = 100000, time.Millisecond, w.clk.Now, w.jitter
	}))
}

// open opens the state file, the local root and the engine's client, as a
// starting process does.
func (w *world) open() error {
	if err := w.machine.Open(); err != nil {
		return err
	}
	c, err := w.newClient()
	if err != nil {
		w.machine.Close()
		return err
	}
	w.engineClient = c
	return nil
}

// closeAll drops every in-memory structure of the host, as a crash does.
func (w *world) closeAll() {
	w.machine.Close()
	w.engineClient = nil
	if w.inc != nil {
		w.inc.live = nil // the daemon restarts with nothing in memory
	}
}

func (w *world) restart() error {
	w.closeAll()
	return w.open()
}

// shutdown ends the world; the emulator and server go with the first host.
func (w *world) shutdown(ownsServer bool) {
	w.closeAll()
	if ownsServer {
		w.ep.Close()
		w.emu().Close()
	}
}

// restartEmulator closes the emulator and serves a new one on the same data
// dir behind the same URL.
func (w *world) restartEmulator() error {
	old := w.emu()
	if err := old.Close(); err != nil {
		return fmt.Errorf("close emulator: %w", err)
	}
	emu, err := emulator.New(w.emuOpts)
	if err != nil {
		return fmt.Errorf("restart emulator: %w", err)
	}
	w.front.emu.Store(emu)
	return nil
}

func (w *world) pair(opt engine.Options) *engine.Pair {
	opt.Now = w.clk.Now
	opt.Workers = 1
	if opt.HotFolders == 0 {
		// The product's 32 is more folders than a schedule makes, and a
		// tree that small is swept at every poll: with one, polls list
		// the root, the hottest folder and what the pass touched, and
		// read the rest from the cache.
		opt.HotFolders = 1
	}
	if w.noLateUploadWait && opt.LateUploadWait == 0 {
		// No late upload can come: ops run one at a time (the scheduler
		// parks the others before their requests), so no request
		// outlives a crash. Outside a synctest bubble the wait would be
		// real time; in one it costs nothing, and the loop runs keep it.
		// The other simulations, in a bubble too, run without it as
		// they did before, so that their runs stay what they were.
		opt.LateUploadWait = -1
	}
	opt.ValidLocalName = testenv.ValidLocalName
	if *flagEngineLog && opt.Logger == nil {
		opt.Logger = zap.NewExample()
	}
	b := w.machine.Bind(w.engineClient, w.matcher)
	b.Store = bind.Store{S: w.machine.Store, Now: w.clk.Now}
	if s := w.sched; s != nil {
		// The parallel executor: as many workers as the product runs
		// (the account's transfer slots plus the metadata calls), their
		// steps interleaved by the seeded scheduler.
		opt.Workers = 0
		opt.Dispatch = s
		b.Remote, b.Local = schedRemote{b.Remote, s}, schedLocal{b.Local, s}
		fp := opt.Failpoint
		opt.Failpoint = func(point string) error {
			s.step()
			if fp != nil {
				return fp(point)
			}
			return nil
		}
	}
	return b.Pair(w.cfg, opt)
}

func sum(b []byte) string {
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

// tree maps each path to its MD5, directories to "/".
type tree map[string]string

func (t tree) String() string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s=%s\n", k, short(t[k]))
	}
	return b.String()
}

func short(m string) string {
	if len(m) > 8 {
		return m[:8]
	}
	return m
}

// walk reads every entry below dir (skipping the root's .syncd when skipMeta).
func walk(dir string, skipMeta bool) (tree, error) {
	out := tree{}
	buf := make([]byte, 64<<10)
	err := eachEntry(dir, skipMeta, func(rel, p string, d fs.DirEntry) error {
		if d.IsDir() {
			out[rel] = "/"
			return nil
		}
		m, err := hashFile(p, buf)
		if err != nil {
			return err
		}
		out[rel] = m
		return nil
	})
	return out, err
}

// eachEntry calls fn with the slash path relative to dir, the full path and
// the entry of everything below dir (the root's .syncd skipped when
// skipMeta).
func eachEntry(dir string, skipMeta bool, fn func(rel, p string, d fs.DirEntry) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if skipMeta && rel == local.MetaDir {
			return filepath.SkipDir
		}
		return fn(rel, p, d)
	})
}

func (w *world) localTree() (tree, error) { return walk(w.dir, true) }

// remoteTree maps each active entry below the pair folder; dups lists the
// paths held by more than one active entry.
func (w *world) remoteTree() (t tree, dups []string) {
	t = tree{}
	prefix := remotePath + "/"
	seen := map[string]int{}
	for _, en := range w.emu().Dump(w.acct.ID) {
		if en.Status != "active" || !strings.HasPrefix(en.Path, prefix) {
			continue
		}
		rel := strings.TrimPrefix(en.Path, prefix)
		seen[rel]++
		if seen[rel] == 2 {
			dups = append(dups, rel)
		}
		if en.Folder {
			t[rel] = "/"
		} else {
			t[rel] = en.MD5
		}
	}
	return t, dups
}

// identities says which object holds each path on each side, keyed by NFC
// path: the local file or directory (compared with os.SameFile) and the
// remote id.
type identities struct {
	local  map[string]fs.FileInfo
	remote map[string]int64
}

func (w *world) identities() (identities, error) {
	ids := identities{local: map[string]fs.FileInfo{}, remote: map[string]int64{}}
	err := eachEntry(w.dir, true, func(rel, p string, _ fs.DirEntry) error {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		ids.local[norm.NFC.String(rel)] = fi
		return nil
	})
	prefix := remotePath + "/"
	for _, en := range w.emu().Dump(w.acct.ID) {
		if en.Status == "active" && strings.HasPrefix(en.Path, prefix) {
			ids.remote[norm.NFC.String(strings.TrimPrefix(en.Path, prefix))] = en.ID
		}
	}
	return ids, err
}

// same reports whether side s holds the same object at p in a and b.
func (a identities) same(b identities, s side, p string) bool {
	p = norm.NFC.String(p)
	if s == onLocal {
		x, okA := a.local[p]
		y, okB := b.local[p]
		return okA && okB && os.SameFile(x, y)
	}
	x, okA := a.remote[p]
	y, okB := b.remote[p]
	return okA && okB && x == y
}

// everywhere is every MD5 that still exists anywhere: local tree and
// trash, the user's recycle bin, every remote file active or trashed.
func (w *world) everywhere(extra ...string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, d := range append([]string{w.dir, w.recycle}, extra...) {
		t, err := walk(d, false)
		if err != nil {
			return nil, err
		}
		for _, m := range t {
			out[m] = true
		}
	}
	for _, en := range w.emu().Dump(w.acct.ID) {
		if !en.Folder {
			out[en.MD5] = true
		}
	}
	return out, nil
}

// dumpString renders the emulator's state for comparing two runs.
func (w *world) dumpString() string {
	var b strings.Builder
	for _, en := range w.emu().Dump(w.acct.ID) {
		fmt.Fprintf(&b, "%v %d %d %q %s %d %s %s\n", en.Folder, en.ID, en.ParentID, en.Name, en.Status, en.Size, en.MD5, en.Path)
	}
	return b.String()
}

// quiesce runs passes with no outside change until one plans nothing.
func (w *world) quiesce(max int) (engine.PassResult, error) {
	var res engine.PassResult
	var err error
	for i := 0; i < max; i++ {
		if res, err = w.settlePass(); err != nil {
			return res, fmt.Errorf("quiescence pass %d: %w", i+1, err)
		}
		if res.Converged {
			return res, nil
		}
		if os.Getenv("SIM_DEBUG") != "" {
			l, _ := w.localTree()
			r, _ := w.remoteTree()
			fmt.Printf("quiesce pass %d: done %d skipped %d failed %d ops %v\nlocal:\n%sremote:\n%s", i+1, res.Done, res.Skipped, res.Failed, res.Plan.Ops, l, r)
		}
	}
	return res, fmt.Errorf("no quiescence after %d passes; last plan: %v; its errors: %v; problems: %v", max, res.Plan.Ops, res.Errors, res.Plan.Problems)
}

// settlePass is one pass with no outside change. When the user emptied a
// side, the emptied-side guard is right to stop (after its non-destructive
// steps), and the user confirms, as `syncd once -force` would.
func (w *world) settlePass() (engine.PassResult, error) {
	w.clk.Advance(time.Second)
	empty := w.sideEmpty()
	var obs engine.Options
	// No other client acts during a quiescence pass, and no fault is
	// injected: an operation skipped or failed there had its premise
	// broken by an operation of the same pass (invariant 26), or the
	// engine's own bookkeeping is wrong.
	var broken []string
	obs.Observer = func(ev engine.OpEvent) {
		if ev.Status != engine.OpDone {
			broken = append(broken, fmt.Sprintf("%v %s: %s: %v", ev.Op.Kind, ev.Op.Path, ev.Status, ev.Err))
			if os.Getenv("SIM_DEBUG") != "" {
				fmt.Printf("  op %v %s: %s: %v\n", ev.Op.Kind, ev.Op.Path, ev.Status, ev.Err)
			}
		}
	}
	pair, po := w.pair(obs), engine.PassOptions{}
	if w.inc != nil {
		// The daemon's polls list every folder within sweep_interval: a
		// sweep stands for "long enough".
		w.inc.observer, w.inc.failpoint = obs.Observer, nil
		pair, po = w.livePair(), engine.PassOptions{Incremental: true, Sweep: true}
	}
	res, err := pair.Pass(context.Background(), po)
	if errors.Is(err, engine.ErrHalted) && empty {
		po.Force = true
		res, err = pair.Pass(context.Background(), po)
	}
	if err == nil && len(broken) > 0 {
		var ops []string
		for _, op := range res.Plan.Ops {
			ops = append(ops, fmt.Sprintf("%v %s<-%q %v", op.Kind, op.Path, op.From, op.Deps))
		}
		err = fmt.Errorf("operations of one pass broke each other (no other client acted): %v; the pass's ops: %v", broken, ops)
	}
	return res, err
}

// sideEmpty reports whether either side holds no file at all.
func (w *world) sideEmpty() bool {
	files := func(t tree) int {
		n := 0
		for _, m := range t {
			if m != "/" {
				n++
			}
		}
		return n
	}
	l, err := w.localTree()
	r, _ := w.remoteTree()
	return err == nil && (files(w.visible(l)) == 0 || files(w.visible(r)) == 0)
}

// checkConverged compares both sides and looks for duplicate live remote
// entries.
func (w *world) checkConverged() error {
	l, err := w.localTree()
	if err != nil {
		return err
	}
	r, dups := w.remoteTree()
	if len(dups) > 0 {
		return fmt.Errorf("duplicate live remote entries for %v", dups)
	}
	if nfc(w.visible(l)).String() != nfc(w.visible(r)).String() {
		return fmt.Errorf("sides differ at quiescence:\nlocal:\n%sremote:\n%s", l, r)
	}
	return nil
}

// nfc re-keys a tree by NFC-normalised paths: a local NFD name and the
// same name in NFC on the remote are one path (plan.Input's keys).
func nfc(t tree) tree {
	out := make(tree, len(t))
	for k, v := range t {
		out[norm.NFC.String(k)] = v
	}
	return out
}
