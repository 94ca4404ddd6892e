package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/syncd/syncd/cmd/syncd/internal/authguard"
	"github.com/syncd/syncd/cmd/syncd/internal/config"
	"github.com/syncd/syncd/cmd/syncd/internal/logging"
	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/state"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
	"github.com/syncd/syncd/sync/plan"
	"github.com/syncd/syncd/sync/watch"
)

// Exit codes of CONTRACT.md.
const (
	exitOK     = 0
	exitFailed = 1 // the pass ran but items failed, or a safety guard stopped it
	exitUsage  = 2 // usage or configuration error
)

// stateFile is the state database's name inside state_dir.
const stateFile = "state.db"

// app is everything a command needs once the configuration is loaded.
type app struct {
	cfg    *config.Config
	log    *zap.Logger
	store  *state.Store
	client *remote.Client
	pairs  []*pairRun
}

// pairRun is one configured pair, wired.
type pairRun struct {
	cfg     config.Pair
	key     string
	fs      *local.FS
	matcher *local.Matcher
	pair    *engine.Pair
	watcher atomic.Pointer[watch.Watcher] // set by the daemon; nil when watching failed
	err     error                         // set when the pair could not be wired (e.g. a missing root)
}

// pairKey identifies a pair in the state store: stable for the same local
// root and remote folder, different when either changes.
func pairKey(p config.Pair) string {
	h := sha256.Sum256([]byte(p.Local + "\x00" + p.Remote))
	return hex.EncodeToString(h[:8])
}

// loadConfig loads the configuration and prints its warnings. A returned
// error means exit 2.
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	if path == "" {
		path = config.DefaultConfigPath(os.Getenv)
	}
	cfg, warnings, err := config.Load(path)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "syncd: warning: %s\n", w)
	}
	return cfg, err
}

// loadConfigWithoutKeys loads the configuration without reading or
// requiring the keys (for status), warnings discarded.
func loadConfigWithoutKeys(path string) (*config.Config, error) {
	if path == "" {
		path = config.DefaultConfigPath(os.Getenv)
	}
	cfg, _, err := config.LoadWith(path, config.Options{Getenv: os.Getenv, Euid: os.Geteuid(), NoKeys: true})
	return cfg, err
}

// openOptions are the command-line switches openApp honours.
type openOptions struct {
	dryRun    bool // -dry-run: write nothing
	retryAuth bool // -retry-auth: send a key pair the server refused before
}

// openApp opens the state store and the remote client and wires each pair.
// Per-pair failures are recorded on the pair, not returned; when no local
// root is there nothing is sent to the server. The key pair goes through the
// state_dir's auth guard (see package authguard); oo.retryAuth is
// -retry-auth. A refused key pair is an error for which isAuthError holds.
//
// oo.dryRun opens everything for reading only, so that a dry run writes
// nothing: the state database read-only when it exists (else an empty
// state: the plan is the first sync's), the local roots without creating
// their .syncd/, no temp clean-up or trash purge. (A refused key pair is
// still remembered by the auth guard: that protects the IP.)
func openApp(ctx context.Context, cfg *config.Config, log *zap.Logger, observer func(engine.OpEvent), rt func(http.RoundTripper) http.RoundTripper, oo openOptions) (*app, error) {
	dryRun := oo.dryRun
	var st *state.Store
	var store engine.Store
	if dryRun {
		var err error
		if st, store, err = openDryStore(cfg.StateDir); err != nil {
			return nil, err
		}
	} else {
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return nil, fmt.Errorf("create state_dir %s: %w", cfg.StateDir, err)
		}
		var err error
		st, err = state.Open(filepath.Join(cfg.StateDir, stateFile), state.Options{Logger: log})
		if err != nil {
			return nil, err
		}
		if backup, ok := st.Rebuilt(); ok {
			log.Warn("state database was unreadable and has been rebuilt; every pair is treated as never synced (differences become conflicts, never deletions)", zap.String("backup", backup))
		}
		store = bind.Store{S: st}
	}
	var hc *http.Client
	if rt != nil {
		hc = &http.Client{Transport: rt(http.DefaultTransport)}
	}
	client, err := remote.New(remote.Config{
		URL: cfg.API.URL, Key1: cfg.API.Key1, Key2: cfg.API.Key2,
		Logger: log, RequestsPerSecond: cfg.RequestsPerSecond, HTTPClient: hc,
		AuthGuard: &authguard.Guard{Dir: cfg.StateDir, Retry: oo.retryAuth},
	})
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, fmt.Errorf("api: %w", err)
	}
	a := &app{cfg: cfg, log: log, store: st, client: client}
	if anyRoot(cfg) {
		if err := client.Authorize(ctx); err != nil {
			a.close()
			return nil, fmt.Errorf("authorize with %s: %w", cfg.API.URL, err)
		}
		if _, err := client.Package(ctx); err != nil {
			a.close()
			return nil, fmt.Errorf("read account limits: %w", err)
		}
	}
	host, _ := os.Hostname()
	up, down := bind.NewLimiter(cfg.BWLimitUp), bind.NewLimiter(cfg.BWLimitDown)
	for _, pc := range cfg.Pairs {
		pr := &pairRun{cfg: pc, key: pairKey(pc)}
		a.pairs = append(a.pairs, pr)
		matcher, err := local.NewMatcher(cfg.Ignore, pc.Ignore)
		if err != nil {
			pr.err = fmt.Errorf("pair %s: %w", pc.Local, err)
			continue
		}
		if fi, err := os.Stat(pc.Local); err != nil || !fi.IsDir() {
			pr.err = fmt.Errorf("pair %s: local root is not a directory: %w", pc.Local, orMissing(err))
			continue
		}
		open := local.Open
		if dryRun {
			open = local.OpenView
		}
		fs, err := open(pc.Local)
		if err != nil {
			pr.err = fmt.Errorf("pair %s: %w", pc.Local, err)
			continue
		}
		if !dryRun {
			// Temporary downloads a crash left are cleaned by the engine,
			// after its journal recovery has looked at them.
			if _, err := fs.PurgeTrash(cfg.TrashRetention, time.Now()); err != nil {
				log.Warn("could not purge old trash", zap.String("pair", pc.Local), zap.Error(err))
			}
		}
		pr.fs, pr.matcher = fs, matcher
		pr.pair = engine.NewPair(engine.PairConfig{
			Key: pr.key, LocalRoot: pc.Local, RemotePath: pc.Remote,
			Direction: direction(pc.Direction), Mirror: pc.Mirror,
			Ignored:     matcher.Judge(),
			DeleteLimit: deleteLimit(cfg.MaxDelete),
			Host:        host,
		}, bind.Remote{C: client, Up: up, Down: down}, &bind.Local{FS: fs, Matcher: matcher, Settle: settle(cfg)}, store,
			engine.Options{Logger: log, ValidLocalName: validLocalName, Observer: observer, SweepInterval: cfg.SweepInterval})
	}
	return a, nil
}

// anyRoot reports whether some pair's local root is a directory: without
// one no pair can be wired, and nothing needs the server.
func anyRoot(cfg *config.Config) bool {
	for _, pc := range cfg.Pairs {
		if fi, err := os.Stat(pc.Local); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// wired is the number of pairs that could be wired.
func (a *app) wired() int {
	n := 0
	for _, p := range a.pairs {
		if p.pair != nil {
			n++
		}
	}
	return n
}

// exitCode maps an error of openApp to the exit code: a refused key pair
// is a configuration error (2), like a bad file; the rest is 1.
func exitCode(err error) int {
	if isAuthError(err) {
		return exitUsage
	}
	return exitFailed
}

// settle is how recently a file may have been modified and still be taken
// as finished. The watcher already waits for a directory's writes to go quiet
// for the debounce before it names it, so a file it names is at least that
// old: half the debounce lets it through on the first pass (the full debounce
// let a file written just before the batch through only by a hair, and a
// miss cost another second), and still holds back a file written during the
// pass. An upload also re-checks the file after reading it.
func settle(cfg *config.Config) time.Duration {
	if cfg.Debounce > 0 {
		return max(cfg.Debounce/2, 100*time.Millisecond)
	}
	return 500 * time.Millisecond
}

func orMissing(err error) error {
	if err == nil {
		return errors.New("not a directory")
	}
	return err
}

func validLocalName(name string) error {
	_, err := local.LocalName(name)
	return err
}

func direction(d config.Direction) plan.Direction {
	switch d {
	case config.UploadOnly:
		return plan.UploadOnly
	case config.DownloadOnly:
		return plan.DownloadOnly
	}
	return plan.Both
}

func deleteLimit(p config.Percent) plan.DeleteLimit {
	if p.Off() {
		return plan.DeleteLimit{}
	}
	return plan.DeleteLimit{Percent: float64(p) * 100, Min: 10}
}

func (a *app) close() {
	for _, p := range a.pairs {
		if p.fs != nil {
			p.fs.Close()
		}
	}
	if a.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		a.client.Close(ctx)
		cancel()
	}
	if a.store != nil {
		a.store.Close()
	}
}

// configure loads the configuration and builds the logger it asks for. An
// error means exit 2.
func configure(path string, stderr io.Writer) (*config.Config, *zap.Logger, error) {
	cfg, err := loadConfig(path, stderr)
	if err != nil {
		return nil, nil, err
	}
	log, err := logging.New(cfg.Log.Level, cfg.Log.Format, stderr)
	if err != nil {
		return nil, nil, err
	}
	return cfg, log, nil
}
