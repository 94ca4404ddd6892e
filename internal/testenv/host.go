package testenv

import (
	"fmt"
	"testing"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/state"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
)

// Host is one machine's side of a pair: its local root and state file,
// and while open the state store and the root as a running syncd holds
// them. A closed host has a nil Store and FS.
type Host struct {
	Dir       string // the local root
	StatePath string // the bbolt state file
	// StoreOptions open the state file; the zero value is the product's
	// (state.DefaultTimeout, no logger).
	StoreOptions state.Options

	Store *state.Store
	FS    *local.FS
}

// OpenHost opens a host with root dir and state file statePath (see
// Host.Open) and closes it when tb's test ends, whatever it holds then.
func OpenHost(tb testing.TB, dir, statePath string) *Host {
	tb.Helper()
	h := &Host{Dir: dir, StatePath: statePath}
	if err := h.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return h
}

// Open opens the state store and the local root, as a starting process
// does; on an error it holds neither.
func (h *Host) Open() error {
	st, err := state.Open(h.StatePath, h.StoreOptions)
	if err != nil {
		return fmt.Errorf("open state %s: %w", h.StatePath, err)
	}
	lfs, err := local.Open(h.Dir)
	if err != nil {
		st.Close()
		return fmt.Errorf("open local root %s: %w", h.Dir, err)
	}
	h.Store, h.FS = st, lfs
	return nil
}

// Close drops the store and the root, as an exit or a crash does: nothing
// held in memory survives. A closed host stays closed.
func (h *Host) Close() {
	if h.Store != nil {
		h.Store.Close()
		h.Store = nil
	}
	if h.FS != nil {
		h.FS.Close()
		h.FS = nil
	}
}

// Restart closes the host and opens it again, as a restarted process does.
func (h *Host) Restart() error {
	h.Close()
	return h.Open()
}

// Bindings are the engine's three interfaces over real parts. A harness
// may replace one (a counting or faulty remote, a scheduled local side)
// before building the pair.
type Bindings struct {
	Remote engine.Remote
	Local  engine.LocalFS
	Store  engine.Store
}

// Bind binds c, the host's open root with the ignore rules m, and its open
// store, as cmd/syncd wires them.
func (h *Host) Bind(c *remote.Client, m *local.Matcher) Bindings {
	return Bindings{Remote: bind.Remote{C: c}, Local: &bind.Local{FS: h.FS, Matcher: m}, Store: bind.Store{S: h.Store}}
}

// Pair is the engine's pair of cfg over b, with opt as given.
func (b Bindings) Pair(cfg engine.PairConfig, opt engine.Options) *engine.Pair {
	return engine.NewPair(cfg, b.Remote, b.Local, b.Store, opt)
}

// ValidLocalName is the product's check of a remote name before it becomes
// a local one (engine.Options.ValidLocalName), as cmd/syncd passes it.
func ValidLocalName(name string) error {
	_, err := local.LocalName(name)
	return err
}
