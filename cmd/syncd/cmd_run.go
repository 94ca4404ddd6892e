package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/syncd/syncd/cmd/syncd/internal/config"
	"github.com/syncd/syncd/state"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
	"github.com/syncd/syncd/sync/watch"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default $SYNCD_CONFIG, then /etc/syncd/config.yaml)")
	var ro runOptions
	ro.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, log, term, err := configureRun(*cfgPath, stderr, ro)
	if err != nil {
		fmt.Fprintf(stderr, "syncd: %v\n", err)
		return exitUsage
	}
	defer log.Sync()
	// In a terminal or under systemd this runs the daemon directly; under
	// the Windows service manager it performs the manager's handshake first.
	err = runManaged(ctx, cfg.Path, func(ctx context.Context, _ string) error {
		return runDaemonWith(ctx, cfg, log, nil, term, ro.progress, ro.retryAuth)
	})
	if err != nil {
		log.Error("daemon stopped", zap.Error(err))
		return exitCode(err)
	}
	return exitOK
}

// daemonFromPath loads a configuration and runs the daemon on it: what an
// installed service runs.
func daemonFromPath(ctx context.Context, path string) error {
	cfg, log, err := configure(path, os.Stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	return runDaemon(ctx, cfg, log, nil, false)
}

// daemon is a running `syncd run`.
type daemon struct {
	cfg     *config.Config
	log     *zap.Logger
	app     *app
	started time.Time
	metrics *metrics

	mu       sync.Mutex // serialises status file writes
	appMu    sync.Mutex // guards app and startErr, set once the account answers
	startErr error
	refused  func(error) // stops the daemon on a refused key pair
}

func (d *daemon) setApp(a *app) {
	d.appMu.Lock()
	d.app, d.startErr = a, nil
	d.appMu.Unlock()
}

func (d *daemon) setStartErr(err error) {
	d.appMu.Lock()
	d.startErr = err
	d.appMu.Unlock()
}

// errNoPair stops a daemon none of whose pairs could start (e.g. the only
// local root is on a disk not mounted yet): it exits 1 and the service
// manager starts it again later, with no request sent to the server.
var errNoPair = errors.New("no pair could start")

// runDaemon runs every pair until ctx ends. observer, when set, sees every
// finished operation (the demo prints them). It returns an error for which
// isAuthError holds when the server refused the key pair, at start or
// later: the daemon then stops instead of retrying (exit 2).
func runDaemon(ctx context.Context, cfg *config.Config, log *zap.Logger, observer func(engine.OpEvent), retryAuth bool) error {
	return runDaemonWith(ctx, cfg, log, observer, nil, 30*time.Second, retryAuth)
}

// runDaemonWith is runDaemon showing progress on term (nil: not a
// terminal) or, without one, as a log line every progressEvery.
func runDaemonWith(ctx context.Context, cfg *config.Config, log *zap.Logger, observer func(engine.OpEvent), term *termLine, progressEvery time.Duration, retryAuth bool) error {
	d := &daemon{cfg: cfg, log: log, started: time.Now()}
	d.metrics = newMetrics()
	obs := func(ev engine.OpEvent) {
		recordOp(log, ev)
		d.metrics.observeOp(ev)
		if observer != nil {
			observer(ev)
		}
	}
	// Status answers from the start, also while the account cannot be
	// reached yet.
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state_dir %s: %w", cfg.StateDir, err)
	}
	stopSock, err := d.serveControl()
	if err != nil {
		return err
	}
	defer stopSock()
	// The server may be down when the daemon starts: keep trying, the
	// watchers are not needed before the first pass can run.
	var a *app
	for attempt := 1; ; attempt++ {
		var err error
		a, err = openApp(ctx, cfg, log, obs, d.metrics.transport, openOptions{retryAuth: retryAuth})
		if err == nil {
			break
		}
		if isPermanent(err) {
			d.setStartErr(err)
			d.saveStatus()
			return err
		}
		if errors.Is(err, state.ErrLocked) {
			return err
		}
		delay := min(time.Duration(attempt)*2*time.Second, time.Minute)
		log.Warn("cannot reach the account yet; retrying", zap.Error(err), zap.Duration("in", delay))
		d.setStartErr(err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	d.setApp(a)
	defer a.close()
	d.metrics.watchPairs(a.pairs)
	// The reporter stops with the daemon, whichever way it returns.
	pctx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	defer func() { stopProgress(); <-progressDone }()
	go func() {
		defer close(progressDone)
		reportProgress(pctx, log, term, progressEvery, func() []*pairRun { return a.pairs })
	}()
	if cfg.MetricsListen != "" {
		stop, err := d.metrics.serve(cfg.MetricsListen, log)
		if err != nil {
			return fmt.Errorf("metrics_listen %s: %w", cfg.MetricsListen, err)
		}
		defer stop()
	}

	if a.wired() == 0 {
		d.saveStatus()
		for _, pr := range a.pairs {
			log.Error("pair not started", zap.String("pair", pr.cfg.Local), zap.Error(pr.err))
		}
		return errNoPair
	}
	// A refusal of the key pair while running (keys revoked) stops the
	// daemon: the client will not authorize again, so nothing can sync.
	ctx, stopAll := context.WithCancelCause(ctx)
	defer stopAll(nil)
	d.refused = func(err error) { stopAll(err) }
	var wg sync.WaitGroup
	for _, pr := range a.pairs {
		if pr.err != nil {
			log.Error("pair not started", zap.String("pair", pr.cfg.Local), zap.Error(pr.err))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.runPair(ctx, pr)
		}()
	}
	log.Info("syncd running", zap.Int("pairs", len(a.pairs)), zap.Duration("poll_interval", cfg.PollInterval))
	wg.Wait()
	d.saveStatus()
	if err := context.Cause(ctx); isAuthError(err) {
		return err
	}
	log.Info("syncd stopped")
	return nil
}

// runPair wires one pair's loop: it starts the root's watcher (when it
// can) and hands it, the scan and trash settings and the status hook to
// engine.Pair.Run, which owns every pass, timer and rescan.
func (d *daemon) runPair(ctx context.Context, pr *pairRun) {
	quiet := true // the last pass found nothing changed (none yet: nothing to release)
	lo := engine.LoopOptions{
		PollInterval:   d.cfg.PollInterval,
		ScanInterval:   d.cfg.ScanInterval,
		Trash:          pr.fs,
		TrashRetention: d.cfg.TrashRetention,
		Settle:         settle(d.cfg),
		OnPass: func(res engine.PassResult, err error) {
			d.metrics.observePass(pr.cfg.Local, res, err)
			d.saveStatus()
			if refused := d.app.client.Refused(); refused != nil && d.refused != nil {
				d.refused(refused)
			}
			// The first pass that finds nothing changed after one that did
			// lets the pair's cached base and remote snapshot go (most of
			// an idle daemon's heap). Their memory goes back to the system
			// now, not after the runtime's periodic GC (up to 2 minutes)
			// at its scavenger's pace: one GC per quiet spell, none per
			// poll. So does a quiet sweep's (many listings decoded, at
			// 100,000 files 20 MiB more RSS until the scavenger caught up):
			// one GC per sweep_interval, beside a thousand listings.
			if err == nil && res.Unchanged && (!quiet || res.Requests > sweepRequests) {
				debug.FreeOSMemory()
			}
			quiet = err == nil && res.Unchanged
		},
	}
	matcher := pr.matcher
	w, err := watch.New(watch.Options{
		Root: pr.cfg.Local, Debounce: d.cfg.Debounce, Logger: d.log,
		OnHint: pr.pair.LocalStirring,
		Ignore: func(rel string, dir bool) bool {
			k := plan.File
			if dir {
				k = plan.Dir
			}
			return matcher.Match(rel, k)
		},
	})
	if err != nil {
		d.log.Warn("local watcher unavailable; relying on periodic scans", zap.String("pair", pr.cfg.Local), zap.Error(err))
	} else {
		src := bind.NewWatcher(w)
		lo.Changes = src
		pr.watcher.Store(w)
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() {
			defer close(done)
			if err := src.Run(wctx); err != nil && wctx.Err() == nil {
				d.log.Warn("local watcher stopped; relying on periodic scans", zap.String("pair", pr.cfg.Local), zap.Error(err))
				pr.watcher.Store(nil)
			}
		}()
	}
	pr.pair.Run(ctx, lo)
}

// sweepRequests is the number of listings from which a quiet pass is
// taken for a sweep: more than a poll's root and hot folders.
const sweepRequests = 2 * (engine.HotFolders + 1)

func isPermanent(err error) bool {
	return errors.Is(err, engine.ErrAuth) || isAuthError(err)
}

// status builds the status document from the live pairs.
func (d *daemon) status() statusDoc {
	now := time.Now()
	doc := statusDoc{Version: version, State: "idle", PID: os.Getpid(), Started: d.started, Updated: now,
		Source: "daemon", Poll: d.cfg.PollInterval.String()}
	d.appMu.Lock()
	a, startErr := d.app, d.startErr
	d.appMu.Unlock()
	if isAuthError(startErr) {
		doc.AuthError = startErr.Error()
	} else if a != nil {
		if err := a.client.Refused(); err != nil {
			doc.AuthError = err.Error()
		}
	}
	if a == nil { // still connecting
		doc.State = "syncing"
		for _, pc := range d.cfg.Pairs {
			ps := pairStatus{Local: pc.Local, Remote: pc.Remote, State: "syncing", Problems: []statusItem{}, Errors: []statusItem{}, Transfers: []transferStatus{}}
			if startErr != nil {
				ps.State, ps.LastError = "error", startErr.Error()
				doc.State = "error"
			}
			doc.Pairs = append(doc.Pairs, ps)
		}
		return doc
	}
	for _, pr := range a.pairs {
		ps := pairStatus{Local: pr.cfg.Local, Remote: pr.cfg.Remote, Problems: []statusItem{}, Errors: []statusItem{}, Transfers: []transferStatus{}}
		if pr.pair == nil {
			ps.State, ps.LastError, ps.CannotStart = "error", pr.err.Error(), pr.err.Error()
			if a.store != nil { // the last sync before the root went missing
				if sum, err := a.store.Summary(pr.key); err == nil {
					ps.LastSync, ps.LastAttempt = sum.Meta.LastSync, sum.Meta.LastAttempt
				}
			}
			ps.Errors = append(ps.Errors, statusItem{Path: pr.cfg.Local, Message: pr.err.Error()})
			doc.Pairs = append(doc.Pairs, ps)
			doc.State = "error"
			continue
		}
		s := pr.pair.Status()
		ps.State = string(s.State)
		ps.Watcher = "ok"
		if w := pr.watcher.Load(); w == nil {
			ps.Watcher = "off: periodic scans only"
		} else if bad, why := w.Degraded(); bad {
			ps.Watcher = "degraded: " + why
		}
		ps.LastSync, ps.LastAttempt, ps.LastPoll, ps.NextRetry = s.LastSync, s.LastAttempt, s.LastPoll, s.NextRetry
		ps.PendingOps, ps.Conflicts, ps.LastError = s.Pending, s.Conflicts, s.LastError
		if p, ok := pr.pair.Progress(); ok {
			ps.Progress = progressOf(p, now)
			ps.PendingOps = max(ps.PendingOps, p.FilesTotal-p.FilesDone)
		}
		for _, p := range s.Problems {
			ps.Problems = append(ps.Problems, statusItem{Path: p.Path, Message: p.Err})
		}
		for _, e := range s.Errors {
			ps.Errors = append(ps.Errors, statusItem{Path: e.Path, Message: e.Op + ": " + e.Err})
		}
		for _, t := range s.Transfers {
			ts := transferStatus{Path: t.Path, Direction: t.Direction, Size: t.Size, Done: t.Done}
			if el := now.Sub(t.Started).Seconds(); el > 0 {
				ts.RateBps = float64(t.Done) / el
				if ts.RateBps > 0 {
					ts.ETASecs = float64(t.Size-t.Done) / ts.RateBps
				}
			}
			ps.Transfers = append(ps.Transfers, ts)
		}
		switch s.State {
		case engine.StateSyncing:
			if doc.State == "idle" {
				doc.State = "syncing"
			}
		case engine.StateError, engine.StateHalted:
			doc.State = "error"
		}
		doc.Pairs = append(doc.Pairs, ps)
	}
	return doc
}

func (d *daemon) saveStatus() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := state.WriteStatusFile(d.cfg.StateDir, d.status()); err != nil {
		d.log.Warn("could not save status", zap.Error(err))
	}
}

// serveControl answers status requests on a unix socket (mode 0660: the
// daemon's user and group; who reaches it is state_dir's mode, 0750 for the
// packaged service, so a monitoring user in group syncd can). The socket
// only serves the status, which holds no secret.
func (d *daemon) serveControl() (func(), error) {
	sock := filepath.Join(d.cfg.StateDir, controlSocket)
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another syncd answers on %s", sock)
	}
	os.Remove(sock) // stale, from a crash
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket %s: %w", sock, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(d.status())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		os.Remove(sock)
	}, nil
}
