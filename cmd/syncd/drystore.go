package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/syncd/syncd/state"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

// openDryStore opens the state for a dry run, which writes nothing: the
// database read-only when it exists (st is then to be closed), else an empty
// state, against which the plan is the one a first sync would make.
func openDryStore(stateDir string) (*state.Store, engine.Store, error) {
	path := filepath.Join(stateDir, stateFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, emptyStore{}, nil
	}
	st, err := state.OpenReadOnly(path, time.Second)
	if err != nil {
		if errors.Is(err, state.ErrLocked) {
			return nil, nil, fmt.Errorf("state database %s is held by a running syncd; a dry run reads it and must wait for it to stop: %w", path, err)
		}
		return nil, nil, fmt.Errorf("open state database %s read-only: %w", path, err)
	}
	return st, bind.Store{S: st}, nil
}

// errDryRun is what emptyStore answers to a write: a dry run never writes,
// so reaching it is a bug, reported rather than ignored.
var errDryRun = errors.New("a dry run writes no state")

// emptyStore is the state of pairs that never synced, for a dry run
// without a state database.
type emptyStore struct{}

func (emptyStore) Base(string) (map[string]plan.Base, error)         { return map[string]plan.Base{}, nil }
func (emptyStore) Meta(string) (engine.Meta, error)                  { return engine.Meta{}, nil }
func (emptyStore) Commit(string, engine.Commit) error                { return errDryRun }
func (emptyStore) Refused(string) (map[string]engine.Refusal, error) { return nil, nil }
func (emptyStore) RemoteMD5(string) (string, bool, error)            { return "", false, nil }
func (emptyStore) JournalBegin(string, engine.Journal) (uint64, error) {
	return 0, errDryRun
}
func (emptyStore) JournalBeginAll(string, []engine.Journal) ([]uint64, error) {
	return nil, errDryRun
}
func (emptyStore) JournalAdvance(uint64, string, []byte) error     { return errDryRun }
func (emptyStore) JournalDone(uint64) error                        { return errDryRun }
func (emptyStore) JournalPending(string) ([]engine.Journal, error) { return nil, nil }
