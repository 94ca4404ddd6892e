package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/syncd/syncd/sync/plan"
)

// PairConfig is one configured pair.
type PairConfig struct {
	Key         string // identifies the pair in the store
	LocalRoot   string // for messages
	RemotePath  string // folder path in the account, e.g. "/backups/data"
	Direction   plan.Direction
	Mirror      bool
	Ignored     func(path string, kind plan.Kind) bool
	DeleteLimit plan.DeleteLimit
	Host        string // names conflict copies
}

// Options tune a Pair.
type Options struct {
	Logger *zap.Logger
	Now    func() time.Time
	// ValidLocalName reports why a remote name cannot be a local name (nil:
	// it can). Entries it refuses become problems.
	ValidLocalName func(name string) error
	// Workers bounds all operations in flight (default, and most: the
	// account's concurrent_uploads plus concurrent_downloads plus the
	// executor's fan-out for other calls). 1 runs ops one by one.
	Workers int
	// CommitEvery bounds how many results are folded before the base is
	// committed (default 256).
	CommitEvery int
	// MaxPasses bounds the passes of Once (default 5).
	MaxPasses int
	// SettleWait is how long Once waits before looking again at files
	// that were still being written (default 1s).
	SettleWait time.Duration
	// LateUploadWait is how long journal recovery waits, once, before it
	// looks again for the uploads an interrupted pass had begun and that
	// are not on the remote yet: a server finishes storing an upload whose
	// sender died after sending it, possibly after the restarted process
	// first listed the folder (default 2s; negative: no second look, for
	// a caller that knows no request outlives a crash).
	LateUploadWait time.Duration
	// SweepInterval is how often an incremental pass lists every remote
	// folder; in between, polls list the root, the folders active in the
	// last hour (at most Options.HotFolders) and those the pass's own operations
	// touched (default 10 minutes).
	SweepInterval time.Duration
	// HotFolders bounds the recently active folders a poll lists (default
	// HotFolders). A tree of no more folders than this is swept at every
	// poll.
	HotFolders int
	// Observer, when set, is told of every operation as it ends.
	Observer func(OpEvent)
	// Failpoint, when set, is called at every step of every multi-step
	// operation and around the base commit, with the step's name (see
	// Failpoints). A non-nil error wrapping ErrCrash makes the engine stop
	// on the spot as if the process died there: nothing more is executed
	// or committed. Tests use it to prove that every step resumes.
	Failpoint func(point string) error
	// Dispatch, when set, starts the executor's operations instead of
	// plain goroutines, and is told each time the executor waits for one to
	// end: a test's scheduler can then run the operations in flight one at
	// a time, in an order of its choosing, so that a parallel execution is
	// a pure function of a seed.
	Dispatch Dispatcher
}

// Dispatcher runs the operations of an execution (see Options.Dispatch).
type Dispatcher interface {
	// Go runs op on a goroutine of its own, then done, which hands op's
	// result to the executor (and makes the executor go on).
	Go(op, done func())
	// Wait is called when the executor is about to wait for the next
	// operation to end, with at least one started and not done.
	Wait()
}

// ErrCrash is wrapped by a Failpoint error that simulates a crash.
var ErrCrash = errors.New("simulated crash")

// Failpoints lists every point Options.Failpoint is called at.
var Failpoints = []string{
	"upload.begun", "upload.uploaded", "upload.renamed",
	"replace.begun", "replace.uploaded", "replace.old-trashed", "replace.renamed",
	"download.fetched", "download.journaled", "download.committed",
	"move-remote.moved", "move-remote.aside", "move-local.moved",
	"commit.before", "commit.after",
}

// OpEvent reports one finished operation.
type OpEvent struct {
	Pair   string
	Op     plan.Op
	Status OpStatus
	Err    error
	Bytes  int64
}

// OpStatus is how an operation ended.
type OpStatus uint8

const (
	OpDone    OpStatus = iota + 1
	OpSkipped          // premise no longer held, or a dependency did not succeed
	OpFailed
)

func (s OpStatus) String() string {
	switch s {
	case OpDone:
		return "done"
	case OpSkipped:
		return "skipped"
	case OpFailed:
		return "failed"
	}
	return "unknown"
}

// Pair syncs one local root with one remote folder.
type Pair struct {
	cfg    PairConfig
	remote Remote
	local  LocalFS
	store  Store
	opt    Options
	log    *zap.Logger
	live   liveStatus
	prog   progress // the execution in progress, the initial sync (progress.go)

	// What incremental passes keep between passes (see incremental.go):
	// marks from any goroutine, inc only on the one running passes.
	marks localMarks
	inc   incCache
	// stirs counts LocalStirring calls (any goroutine): a pass withdraws
	// the write intent only if none came since it took its marks.
	stirs atomic.Uint64
	// tempsSeen is when each of another host's stopped replaces was first
	// seen (see settleTemps); only the goroutine running passes touches it.
	tempsSeen map[string]time.Time

	workersClamped bool // Options.Workers above the package's limits was logged
	tempsCleaned   bool // the temp files a crash left are gone (cleanTemps)
}

// NewPair wires a pair. It performs no I/O.
func NewPair(cfg PairConfig, r Remote, l LocalFS, s Store, opt Options) *Pair {
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ValidLocalName == nil {
		opt.ValidLocalName = func(string) error { return nil }
	}
	if opt.CommitEvery <= 0 {
		opt.CommitEvery = 256
	}
	if opt.MaxPasses <= 0 {
		opt.MaxPasses = 5
	}
	if opt.SettleWait <= 0 {
		opt.SettleWait = time.Second
	}
	if opt.LateUploadWait == 0 {
		opt.LateUploadWait = 2 * time.Second
	}
	if opt.HotFolders <= 0 {
		opt.HotFolders = HotFolders
	}
	if opt.SweepInterval <= 0 {
		opt.SweepInterval = 10 * time.Minute
	}
	return &Pair{cfg: cfg, remote: r, local: l, store: s, opt: opt,
		log: opt.Logger.With(zap.String("pair", cfg.LocalRoot))}
}

// PassOptions tune one pass.
type PassOptions struct {
	DryRun bool
	Force  bool // override the mass-delete guard
	// Incremental lets the pass build on what this Pair's earlier
	// incremental passes observed (see incremental.go): the daemon's
	// passes are incremental, `once` passes are not.
	Incremental bool
	// LocalOnly marks an incremental pass triggered by a local change: of
	// the remote it lists again only the folders the last execution
	// touched, and reads every other folder from the cached listings.
	// Stale remote knowledge is safe: every destructive step re-reads its
	// remote premise by id, and an upload onto a name taken meanwhile is
	// undone.
	LocalOnly bool
	// Sweep makes an incremental pass list every remote folder.
	Sweep bool
}

// PassResult is what one pass observed, decided and did.
type PassResult struct {
	Plan      plan.Plan
	Done      int
	Skipped   int
	Failed    int
	Errors    []ItemError
	Requests  int // listing requests of the snapshot
	Hashed    int // remote files downloaded only to learn their MD5
	Started   time.Time
	Finished  time.Time
	Converged bool // the plan was empty: both sides agree
	// Complete: every op of a non-empty plan succeeded and nothing was
	// left for later (no file still being written, no temporary entry
	// settled): both sides agree by the pass's own results, which base
	// records. Once stops there, as the daemon loop does: another pass
	// would only list and scan everything again to find nothing.
	Complete bool
	// SettledTemps: the pass finished or trashed entries another pass left
	// under temporary names (settleTemps). It planned without their paths,
	// so it is not converged, and the next pass, which sees the result,
	// must run: it counts as progress.
	SettledTemps bool
	Unsettled    int // local files left for later: still being written
	// ConflictsLogged is how many conflicts this pass wrote to the conflict
	// log: the copies it made, and those resolved without a copy. A copy
	// skipped and planned again is counted once, when it is made.
	ConflictsLogged int
	// Passes is how many passes Once ran (0 from Pass).
	Passes int
	// Unchanged: an incremental pass that stopped before planning because
	// the last pass found both sides agreeing and neither changed since.
	Unchanged bool

	// Where the pass spent its time (by Options.Now).
	ScanTime, ListTime, PlanTime, ExecTime time.Duration
}

// ItemError is a per-path failure, reported, not fatal to the pass.
type ItemError struct {
	Path string
	Op   string
	Err  string
}

// ErrHalted is returned (wrapped) when a safety guard stopped the pass.
var ErrHalted = errors.New("halted by a safety guard")

// Once runs passes until the plan is empty or fully carried out
// (Complete), a pass makes no progress, or MaxPasses is reached. It returns the last pass's result, with Done,
// ConflictsLogged and Hashed summed over all its passes and Passes set:
// `syncd once` reports what all of them did.
func (p *Pair) Once(ctx context.Context, po PassOptions) (PassResult, error) {
	var res PassResult
	var err error
	var done, logged, hashed int
	for i := 0; i < p.opt.MaxPasses; i++ {
		res, err = p.Pass(ctx, po)
		progressed := res.Done > 0 || res.SettledTemps
		done, logged, hashed = done+res.Done, logged+res.ConflictsLogged, hashed+res.Hashed
		res.Done, res.ConflictsLogged, res.Hashed, res.Passes = done, logged, hashed, i+1
		if err != nil {
			return res, err
		}
		if res.Unsettled > 0 && i+1 < p.opt.MaxPasses {
			// Files still being written: give them time, then look again.
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(p.opt.SettleWait):
			}
			continue
		}
		if po.DryRun || res.Converged || res.Complete || !progressed {
			return res, nil
		}
	}
	return res, nil
}

// Pass runs one observe-plan-execute-commit cycle.
func (p *Pair) Pass(ctx context.Context, po PassOptions) (res PassResult, err error) {
	res.Started = p.opt.Now()
	if !po.DryRun {
		p.live.update(func(s *Status) { s.State = StateSyncing })
		defer func() { p.recordPass(res, err) }()
	}
	res, err = p.pass(ctx, po, res)
	if !po.DryRun {
		p.progressPassEnd(res, err)
	}
	return res, err
}

// recordPass folds a pass's outcome into the live status.
func (p *Pair) recordPass(res PassResult, err error) {
	now := p.opt.Now()
	p.live.update(func(s *Status) {
		s.LastAttempt = now
		s.Pending = res.Skipped + res.Failed
		s.Conflicts += res.ConflictsLogged
		s.Errors = res.Errors
		s.Problems = s.Problems[:0]
		for _, pr := range res.Plan.Problems {
			s.Problems = append(s.Problems, ItemError{Path: pr.Path, Op: pr.Side.String(), Err: pr.Message})
		}
		switch {
		case errors.Is(err, ErrHalted):
			s.State, s.LastError = StateHalted, err.Error()
		case err != nil:
			s.State, s.LastError = StateError, err.Error()
		case res.Failed > 0:
			s.State, s.LastError = StateError, fmt.Sprintf("%d operations failed", res.Failed)
		default:
			s.State, s.LastError, s.LastSync = StateIdle, "", now
		}
	})
}

// passState is what one pass carries from phase to phase: what it
// observed, what it decided and what it did. Pair.pass runs the phases in
// order: prepare, observe, decide, then (not in a dry run) execute and
// commit.
type passState struct {
	po  PassOptions
	res PassResult
	// incremental: the pass builds on and updates p.inc (an incremental
	// pass that is not a dry run).
	incremental bool

	// prepare
	meta   Meta
	rootID string
	base   map[string]plan.Base // nil until loadBase
	// held: the paths of journal records recovery could not settle (the
	// token lost again, say): nothing is planned there from the
	// unfinished state; the next pass's recovery finishes them.
	held []string

	// observe
	scan          Scan
	listings      *listingCache
	localChanged  bool
	remoteChanged bool
	listed        time.Time // when the remote was observed

	// decide
	snap    remoteSnapshot
	refused map[string]Refusal
	in      plan.Input
	pl      plan.Plan
	planned time.Time // when planning ended

	// execute
	x *execution
}

func (p *Pair) pass(ctx context.Context, po PassOptions, res PassResult) (_ PassResult, err error) {
	ps := &passState{po: po, res: res, incremental: po.Incremental && !po.DryRun}
	if ps.incremental {
		// Whatever goes wrong, the next pass observes both sides whole.
		defer func() {
			if err != nil || ctx.Err() != nil {
				p.dropCaches()
			}
		}()
	} else if !po.DryRun {
		p.dropCaches()
	}
	if err := p.prepare(ctx, ps); err != nil {
		return ps.res, err
	}
	stirs := p.stirs.Load()
	unchanged, err := p.observe(ctx, ps)
	if err != nil || unchanged {
		if unchanged {
			p.withdrawWrites(stirs)
			p.inc.quiet()
		}
		return ps.res, err
	}
	if err := p.decide(ctx, ps); err != nil {
		return ps.res, err
	}
	// From here the ops' own calls say whether the client writes.
	p.withdrawWrites(stirs)
	if po.DryRun {
		ps.res.Finished = p.opt.Now()
		return ps.res, nil
	}
	p.execute(ctx, ps)
	err = p.commit(ctx, ps)
	r := &ps.res
	r.Complete = err == nil && len(r.Plan.Ops) > 0 && r.Done == len(r.Plan.Ops) && r.Skipped == 0 && r.Failed == 0 &&
		r.Plan.Halt == "" && r.Unsettled == 0 && !r.SettledTemps
	return ps.res, err
}

// loadBase returns the pass's base, reading it only when first needed (an
// incremental pass that finds nothing changed never does): the base is the
// largest read of a pass.
func (p *Pair) loadBase(ps *passState) (map[string]plan.Base, error) {
	if ps.base != nil {
		return ps.base, nil
	}
	if ps.incremental && p.inc.base != nil {
		ps.base = p.inc.base
		return ps.base, nil
	}
	b, err := p.store.Base(p.cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("read base of pair %s: %w", p.cfg.LocalRoot, err)
	}
	ps.base = b
	return ps.base, nil
}

// prepare reads the pair's meta, checks the local root's marker, resolves
// the remote root and resumes what the journal left unfinished.
func (p *Pair) prepare(ctx context.Context, ps *passState) error {
	meta, err := p.store.Meta(p.cfg.Key)
	if err != nil {
		return fmt.Errorf("read state of pair %s: %w", p.cfg.LocalRoot, err)
	}
	ps.meta = meta
	if !ps.po.DryRun {
		p.progressSawMeta(meta, ps.res.Started)
	}
	marked, err := p.local.HasMarker()
	if err != nil {
		return fmt.Errorf("check local root %s: %w", p.cfg.LocalRoot, err)
	}
	if !marked {
		b, err := p.loadBase(ps)
		if err != nil {
			return err
		}
		if ps.meta.Initialised || len(b) > 0 {
			return fmt.Errorf("local root %s has synced before but its .syncd marker is missing (unmounted disk?): %w; restore it, or remove the pair's state to start over", p.cfg.LocalRoot, ErrHalted)
		}
		if !ps.po.DryRun {
			if err := p.local.CreateMarker(); err != nil {
				return fmt.Errorf("mark local root %s: %w", p.cfg.LocalRoot, err)
			}
		}
	}
	if ps.rootID, err = p.remoteRoot(ctx, &ps.meta, ps.po.DryRun); err != nil {
		return err
	}
	if ps.po.DryRun {
		return nil
	}
	pending, err := p.store.JournalPending(p.cfg.Key)
	if err != nil {
		return fmt.Errorf("read journal of %s: %w", p.cfg.LocalRoot, err)
	}
	if len(pending) > 0 {
		b, err := p.loadBase(ps)
		if err != nil {
			return err
		}
		if _, err := p.recoverJournal(ctx, b, pending); err != nil {
			return err
		}
		left, err := p.store.JournalPending(p.cfg.Key)
		if err != nil {
			return fmt.Errorf("read journal of %s: %w", p.cfg.LocalRoot, err)
		}
		ps.held = heldPaths(left)
		// Recovery changed the base and possibly both sides.
		ps.base = nil
		p.dropCaches()
		pending = left
	}
	p.cleanTemps(pending)
	return nil
}

// cleanTemps removes, once per Pair, the temp files of downloads a crash
// interrupted, after the journal's recovery: recovery reads a download's
// temp file gone for "put in place" (see recoverDownload), so they stay
// while a download's record is open.
func (p *Pair) cleanTemps(pending []Journal) {
	if p.tempsCleaned {
		return
	}
	for _, j := range pending {
		if j.Op == opDownload {
			return
		}
	}
	p.tempsCleaned = true
	if n, err := p.local.CleanTemp(); err != nil {
		p.log.Warn("could not clean temporary downloads", zap.Error(err))
	} else if n > 0 {
		p.log.Debug("removed temporary downloads an interrupted pass left", zap.Int("files", n))
	}
}

// observe scans the local tree and lists the remote (both incrementally
// when the pass is), and reports whether the pass may end here: an
// incremental pass after a clean one that sees no change on either side.
func (p *Pair) observe(ctx context.Context, ps *passState) (unchanged bool, err error) {
	t0 := p.opt.Now()
	ps.scan, ps.localChanged, err = p.observeLocal(ctx, ps.po, func() (map[string]plan.Base, error) { return p.loadBase(ps) }, t0)
	ps.listed = p.opt.Now()
	ps.res.ScanTime = ps.listed.Sub(t0)
	if err != nil {
		return false, fmt.Errorf("scan %s: %w", p.cfg.LocalRoot, err)
	}
	ps.remoteChanged = true
	if ps.rootID != noRemoteRoot {
		n := 0
		ps.listings, n, ps.remoteChanged, err = p.observeRemote(ctx, ps.po, ps.rootID, ps.listed)
		ps.res.Requests = n
		if err != nil {
			return false, fmt.Errorf("snapshot remote %s: %w", p.cfg.RemotePath, err)
		}
		if n > 0 && !ps.po.DryRun {
			t1 := ps.listed
			p.live.update(func(s *Status) { s.LastPoll = t1 })
		}
	}
	if !p.unchanged(ps.po, ps.localChanged, ps.remoteChanged) {
		return false, nil
	}
	ps.res.ListTime = p.opt.Now().Sub(ps.listed)
	ps.res.Unchanged, ps.res.Converged = true, true
	ps.res.Plan = plan.Plan{Problems: p.inc.lastProblems}
	ps.res.Finished = p.opt.Now()
	return true, nil
}

// decide assembles the remote tree, learns the remote hashes a decision
// needs, and plans (plan.Reconcile).
func (p *Pair) decide(ctx context.Context, ps *passState) error {
	base, err := p.loadBase(ps)
	if err != nil {
		return err
	}
	ps.snap = remoteSnapshot{Tree: map[string]plan.Remote{}}
	switch {
	case ps.listings == nil:
	case ps.incremental && !ps.remoteChanged && p.inc.snap != nil:
		// Same listings, same base: the same tree (with the MD5s learnt
		// since, which never change under an id).
		ps.snap = *p.inc.snap
	default:
		ps.snap = ps.listings.assemble(ps.rootID, base, p.opt.ValidLocalName, len(base))
	}
	// Also with the same tree as the last pass: another host's stopped
	// replace is timed across passes.
	if ps.listings != nil && !ps.po.DryRun && len(ps.snap.Temps) > 0 && p.settleTemps(ctx, ps.snap.Temps, ps.held) {
		// This pass plans without them (their paths frozen); the next
		// lists everything again and sees the result. Reported
		// converged, this one ended `once` and the sim with a local
		// version never sent (TestSimOneWay seed 840008).
		p.dropCaches()
		ps.res.SettledTemps = true
	}
	if ps.incremental {
		snap := ps.snap
		p.inc.base, p.inc.snap = base, &snap
	}
	t2 := p.opt.Now()
	ps.res.ListTime = t2.Sub(ps.listed)
	ps.res.Unsettled = ps.scan.Unsettled
	if err := p.fillRemoteMD5(ps.snap.Tree, base); err != nil {
		return err
	}
	if !ps.po.DryRun {
		n, err := p.prehash(ctx, base, ps.scan.Tree, ps.snap.Tree)
		ps.res.Hashed = n
		if err != nil {
			return err
		}
	}

	refused, knownProblems := p.refusals(ps.scan.Tree, ps.listed)
	ps.refused = refused
	ps.in = plan.Input{
		Base:          base,
		Local:         ps.scan.Tree,
		Remote:        ps.snap.Tree,
		LocalUnknown:  ps.scan.Unknown,
		RemoteUnknown: append(slices.Clip(ps.snap.Unknown), ps.held...),
		Ignored:       p.cfg.Ignored,
		Direction:     p.cfg.Direction,
		Mirror:        p.cfg.Mirror,
		DeleteLimit:   p.cfg.DeleteLimit,
		Force:         ps.po.Force,
		MaxUploadSize: p.remote.Limits().MaxUploadSize,
		KnownProblems: knownProblems,
		Now:           p.opt.Now(),
		Host:          p.cfg.Host,
	}
	t3 := p.opt.Now()
	pl := plan.Reconcile(ps.in)
	if !ps.po.DryRun {
		// The planner names remote files whose content a decision needs
		// but that prehash could not foresee (a rename on one side against
		// a replace on the other): learn them and decide again.
		var more []string
		for _, pr := range pl.Problems {
			if r, ok := ps.snap.Tree[pr.Path]; ok && pr.Side == plan.RemoteSide && pr.Message == plan.RemoteNotHashed && r.Kind == plan.File && r.MD5 == "" {
				more = append(more, pr.Path)
			}
		}
		if len(more) > 0 {
			sort.Strings(more)
			n, err := p.hashRemote(ctx, more, ps.snap.Tree)
			ps.res.Hashed += n
			if err != nil {
				return err
			}
			if n > 0 {
				pl = plan.Reconcile(ps.in)
			}
		}
	}
	ps.planned = p.opt.Now()
	ps.res.PlanTime = ps.planned.Sub(t3)
	p.logPlan(ps.in, pl)
	pl.Problems = mergeProblems(pl.Problems, ps.scan.Problems, ps.snap.Problems, refusedProblems(refused))
	ps.pl = pl
	ps.res.Plan = pl
	ps.res.Converged = len(pl.Ops) == 0 && pl.Halt == "" && ps.scan.Unsettled == 0 && !ps.res.SettledTemps
	return nil
}

// logPlan writes, at debug level, what the pass decided and from which
// unknowns: with it a wrong outcome in a real run can be traced to the
// input that led to it.
func (p *Pair) logPlan(in plan.Input, pl plan.Plan) {
	if len(pl.Ops) == 0 && len(pl.Conflicts) == 0 {
		return
	}
	ce := p.log.Check(zap.DebugLevel, "planned")
	if ce == nil {
		return
	}
	ce.Write(zap.Int("ops", len(pl.Ops)), zap.Int("conflicts", len(pl.Conflicts)), zap.String("halt", pl.Halt),
		zap.Strings("remote_unknown", in.RemoteUnknown), zap.Strings("local_unknown", in.LocalUnknown))
	for _, c := range pl.Conflicts {
		p.log.Debug("planned conflict", zap.String("path", c.Path), zap.String("copy", c.Copy), zap.String("reason", c.Reason))
	}
	for _, op := range pl.Ops {
		f := []zap.Field{zap.Stringer("op", op.Kind), zap.String("path", op.Path), zap.String("from", op.From), zap.String("reason", op.Reason)}
		if b, ok := in.Base[op.Path]; ok {
			f = append(f, zap.String("base_id", b.RemoteID), zap.String("base_md5", b.MD5))
		}
		if op.Remote != nil {
			f = append(f, zap.String("remote_id", op.Remote.ID), zap.String("remote_md5", op.Remote.MD5))
		}
		if op.Local != nil {
			f = append(f, zap.String("local_md5", op.Local.MD5))
		}
		p.log.Debug("planned op", f...)
	}
}

// execute runs the plan's operations. An empty plan needs no execution. An
// execution folds its results into the base itself (committing as it
// goes): the pass's base and plan input are not read after this.
func (p *Pair) execute(ctx context.Context, ps *passState) {
	ps.x = &execution{p: p}
	if len(ps.pl.Ops) > 0 {
		ps.x = newExecution(p, ps.in, ps.pl.Ops, ps.rootID)
		ps.x.copies = copyOps(ps.pl)
		ps.x.staleRemote = ps.po.Incremental && ps.listings != nil && !ps.listings.swept
		ps.x.run(ctx)
		if ps.po.Incremental {
			p.markTouched(ps.pl.Ops, ps.x, ps.snap.Tree, ps.rootID)
			// What the executor committed is the base now; the snapshot
			// no longer matches the remote.
			p.inc.base, p.inc.snap = ps.x.work, nil
		}
	}
	ps.res.ExecTime = p.opt.Now().Sub(ps.planned)
	ps.res.Done, ps.res.Skipped, ps.res.Failed, ps.res.Errors = ps.x.done, ps.x.skipped, ps.x.failed, ps.x.errors
}

// commit records the pass's outcome in the store: the meta, the problems
// and refusals, and the conflicts no operation logged.
func (p *Pair) commit(ctx context.Context, ps *passState) error {
	x, pl, meta := ps.x, ps.pl, &ps.meta
	if x.crashed != nil {
		return x.crashed
	}
	if x.commitErr != nil {
		return x.commitErr
	}
	now := p.opt.Now()
	meta.LastAttempt = now
	meta.Initialised = true
	meta.LastError, meta.Halted = "", pl.Halt
	meta.Pending = ps.res.Skipped + ps.res.Failed
	switch {
	case pl.Halt != "":
		meta.LastError = pl.Halt
	case ps.res.Failed > 0:
		meta.LastError = fmt.Sprintf("%d operations failed; first: %s", ps.res.Failed, ps.res.Errors[0].Err)
	default:
		meta.LastSync = now
	}
	problems := pl.Problems
	if problems == nil {
		problems = []plan.Problem{}
	}
	for path, msg := range x.refused {
		if l, ok := ps.scan.Tree[path]; ok {
			ps.refused[path] = Refusal{Signature: statSignature(l), Message: msg, Since: now}
			problems = append(problems, plan.Problem{Path: path, Side: plan.RemoteSide, Message: msg})
		}
	}
	// Conflicts resolved by a copy were logged with the copy's rename; the
	// others (no copy made, or its op did not run) are logged here.
	var unlogged []plan.Conflict
	copies := copyOps(pl)
	for _, c := range pl.Conflicts {
		if _, byOp := copies[c.Copy]; !byOp {
			unlogged = append(unlogged, c)
		}
	}
	if err := p.store.Commit(p.cfg.Key, Commit{Meta: meta, Problems: problems, Refused: ps.refused, Conflicts: unlogged}); err != nil {
		return fmt.Errorf("commit state of pair %s: %w", p.cfg.LocalRoot, err)
	}
	ps.res.ConflictsLogged = x.logged + len(unlogged)
	if ps.po.Incremental {
		p.inc.clean = ps.res.Converged && ps.res.Failed == 0 && pl.Halt == "" && ctx.Err() == nil
		p.inc.lastProblems = problems
	}
	ps.res.Finished = p.opt.Now()
	if pl.Halt != "" {
		return fmt.Errorf("%s: %w: %s", p.cfg.LocalRoot, ErrHalted, pl.Halt)
	}
	return ctx.Err()
}

// copyOps maps each conflict copy a plan makes by a rename (a conflict op,
// or a move aside of one of two entries bound for one path) to its conflict.
func copyOps(pl plan.Plan) map[string]plan.Conflict {
	byCopy := make(map[string]plan.Conflict)
	for _, c := range pl.Conflicts {
		if c.Copy != "" {
			byCopy[c.Copy] = c
		}
	}
	out := make(map[string]plan.Conflict)
	for _, op := range pl.Ops {
		switch op.Kind {
		case plan.ConflictLocal, plan.ConflictRemote, plan.MoveLocal, plan.MoveRemote:
			if c, ok := byCopy[op.Path]; ok {
				out[op.Path] = c
			}
		}
	}
	return out
}

// refusalTTL is how long a refused upload is left alone while the file does
// not change (a full account may have room again later).
const refusalTTL = time.Hour

// refusals returns the remembered refusals still in force (the file is
// unchanged and the refusal recent), and those paths as known problems.
func (p *Pair) refusals(local map[string]plan.Local, now time.Time) (map[string]Refusal, map[string]bool) {
	stored, err := p.store.Refused(p.cfg.Key)
	if err != nil {
		p.log.Warn("could not read remembered refusals; retrying them", zap.Error(err))
		return map[string]Refusal{}, nil
	}
	keep := make(map[string]Refusal)
	known := make(map[string]bool)
	for path, r := range stored {
		l, ok := local[path]
		if ok && statSignature(l) == r.Signature && now.Sub(r.Since) < refusalTTL {
			keep[path] = r
			known[path] = true
		}
	}
	return keep, known
}

func refusedProblems(rs map[string]Refusal) []plan.Problem {
	var out []plan.Problem
	for path, r := range rs {
		out = append(out, plan.Problem{Path: path, Side: plan.RemoteSide, Message: r.Message})
	}
	return out
}

// statSignature identifies a local file's version by its stat.
func statSignature(l plan.Local) string {
	return fmt.Sprintf("%d:%d:%d:%d", l.Size, l.MtimeNs, l.Dev, l.Ino)
}

func sortProblems(ps []plan.Problem) {
	sort.Slice(ps, func(a, b int) bool {
		if ps[a].Path != ps[b].Path {
			return ps[a].Path < ps[b].Path
		}
		if ps[a].Side != ps[b].Side {
			return ps[a].Side < ps[b].Side
		}
		return ps[a].Message < ps[b].Message
	})
}

func mergeProblems(lists ...[]plan.Problem) []plan.Problem {
	var out []plan.Problem
	seen := make(map[plan.Problem]bool)
	for _, l := range lists {
		for _, pr := range l {
			if !seen[pr] {
				seen[pr] = true
				out = append(out, pr)
			}
		}
	}
	sortProblems(out)
	return out
}

// noRemoteRoot stands for a pair folder that does not exist yet (dry run).
const noRemoteRoot = "\x00none"

// settleTwin handles two hosts creating the same folder at once (the API
// allows duplicate folder names): after creating, look again; if the folder
// has a twin, every host keeps the one with the lowest id and the creator of
// any other trashes its own, still empty, copy. A folder of that name that
// was there before (known: ids the caller observed before creating; nil:
// none), moved or renamed there by another client, is no twin but another
// entry: our copy is trashed and the clash left to the next pass.
func (p *Pair) settleTwin(ctx context.Context, parent, name, mine string, known map[string]bool) (string, error) {
	folders, _, err := p.remote.List(ctx, parent)
	if err != nil {
		return "", fmt.Errorf("resolve remote folder %s: %w", p.cfg.RemotePath, err)
	}
	keep := mine
	for _, f := range folders {
		if !f.Active || f.Name != name || (f.ParentID != parent && f.ParentID != "") || f.ID == mine {
			continue
		}
		if known[f.ID] {
			if err := p.remote.DeleteFolder(ctx, mine); err != nil && !errors.Is(err, ErrNotFound) {
				return "", fmt.Errorf("trash new remote folder %q, whose name another folder took meanwhile: %w", name, err)
			}
			return "", fmt.Errorf("remote folder %q: another folder took the name meanwhile: %w", name, errSkip)
		}
		if idLess(f.ID, keep) {
			keep = f.ID
		}
	}
	if keep != mine {
		p.log.Info("another client created the same remote folder at the same time; using its copy", zap.String("folder", name))
		if err := p.remote.DeleteFolder(ctx, mine); err != nil && !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("trash duplicate remote folder %q: %w", name, err)
		}
	}
	return keep, nil
}

// adoptTwin resolves a folder of the pair's path that has twins when the
// pair is not set up yet: hosts that created it at once, one of which
// could not look again after its create (its reply lost, its next call
// failed; see settleTwin). Every host keeps the one with the lowest id, as
// settleTwin does, and trashes the others once it has checked they are
// empty (not in a dry run). A twin that holds anything is someone's data:
// the pass halts, as it always did for twins.
func (p *Pair) adoptTwin(ctx context.Context, found []RemoteFolder, name string, dryRun bool) (string, error) {
	keep := found[0].ID
	for _, f := range found[1:] {
		if idLess(f.ID, keep) {
			keep = f.ID
		}
	}
	var twins []string
	for _, f := range found {
		if f.ID == keep {
			continue
		}
		folders, files, err := p.remote.List(ctx, f.ID)
		if err != nil {
			return "", fmt.Errorf("resolve remote folder %s: list twin %s of %q: %w", p.cfg.RemotePath, f.ID, name, err)
		}
		live := 0
		for _, c := range folders {
			if c.Active {
				live++
			}
		}
		for _, c := range files {
			if c.Active {
				live++
			}
		}
		if live > 0 {
			return "", fmt.Errorf("resolve remote folder %s: %d folders are named %q and %s is not empty: %w", p.cfg.RemotePath, len(found), name, f.ID, ErrHalted)
		}
		twins = append(twins, f.ID)
	}
	if dryRun {
		return keep, nil
	}
	for _, id := range twins {
		p.log.Info("two clients created the same remote folder at once; trashing the empty twin", zap.String("folder", name), zap.String("kept", keep), zap.String("trashed", id))
		if err := p.remote.DeleteFolder(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("trash empty twin %s of remote folder %q: %w", id, name, err)
		}
	}
	return keep, nil
}

// idLess orders ids numerically when both are numbers, as the service
// assigns them, else as strings.
func idLess(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA == nil && errB == nil {
		return x < y
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// fail calls the failpoint hook.
func (p *Pair) fail(point string) error {
	if p.opt.Failpoint == nil {
		return nil
	}
	return p.opt.Failpoint(point)
}

// remoteRoot resolves the pair's remote folder id. The first pass creates
// missing folders of the path (not in a dry run); later passes verify the
// recorded id still names a live folder and refuse to go on otherwise (a
// trashed root must not read as "everything deleted").
func (p *Pair) remoteRoot(ctx context.Context, meta *Meta, dryRun bool) (string, error) {
	if meta.Initialised {
		if meta.RemoteRootID == "" {
			return "", nil
		}
		f, err := p.remote.FolderInfo(ctx, meta.RemoteRootID)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return "", fmt.Errorf("remote folder %s (id %s) is gone: %w: restore it or remove the pair's state to start over", p.cfg.RemotePath, meta.RemoteRootID, ErrHalted)
			}
			return "", fmt.Errorf("check remote folder %s: %w", p.cfg.RemotePath, err)
		}
		if !f.Active {
			return "", fmt.Errorf("remote folder %s (id %s) is in the trash: %w", p.cfg.RemotePath, meta.RemoteRootID, ErrHalted)
		}
		return meta.RemoteRootID, nil
	}
	id := ""
	for _, name := range strings.Split(strings.Trim(p.cfg.RemotePath, "/"), "/") {
		if name == "" {
			continue
		}
		folders, _, err := p.remote.List(ctx, id)
		if err != nil {
			return "", fmt.Errorf("resolve remote folder %s: %w", p.cfg.RemotePath, err)
		}
		var found []RemoteFolder
		for _, f := range folders {
			if f.Active && f.Name == name && (f.ParentID == id || f.ParentID == "") {
				found = append(found, f)
			}
		}
		switch {
		case len(found) == 1:
			id = found[0].ID
		case len(found) > 1:
			if id, err = p.adoptTwin(ctx, found, name, dryRun); err != nil {
				return "", err
			}
		case dryRun:
			return noRemoteRoot, nil
		default:
			f, err := p.remote.CreateFolder(ctx, id, name)
			if err != nil {
				return "", fmt.Errorf("create remote folder %q of %s: %w", name, p.cfg.RemotePath, err)
			}
			if id, err = p.settleTwin(ctx, id, name, f.ID, nil); err != nil {
				return "", err
			}
		}
	}
	meta.RemoteRootID = id
	if !dryRun {
		if err := p.store.Commit(p.cfg.Key, Commit{Meta: meta}); err != nil {
			return "", fmt.Errorf("record remote folder of %s: %w", p.cfg.LocalRoot, err)
		}
	}
	return id, nil
}
