package main

import (
	"sync"

	"go.uber.org/zap"

	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

// recordOp logs one completed change at info, one line each (CONTRACT.md
// "Record"): what was done, the path, its size and which way it went.
// Skips and failures are the engine's to log (at info and warn); records
// and forgets change neither side and stay at debug.
func recordOp(log *zap.Logger, ev engine.OpEvent) {
	if ev.Status != engine.OpDone {
		return
	}
	msg, dir := changeWords(ev.Op)
	if msg == "" {
		return
	}
	fields := []zap.Field{zap.String("pair", ev.Pair), zap.String("path", ev.Op.Path)}
	switch ev.Op.Kind {
	case plan.MoveLocal, plan.MoveRemote:
		fields = append(fields, zap.String("from", ev.Op.From))
	case plan.ConflictLocal, plan.ConflictRemote:
		// Path is the copy the losing version now lives at.
		fields = []zap.Field{zap.String("pair", ev.Pair), zap.String("path", ev.Op.From), zap.String("copy", ev.Op.Path)}
	}
	if ev.Op.Entry == plan.File {
		fields = append(fields, zap.Int64("size", opSize(ev)))
	}
	fields = append(fields, zap.String("direction", dir))
	log.Info(msg, fields...)
}

// changeWords names a completed op for the record: the message and the
// direction ("up": local to remote, "down": remote to local, "local" and
// "remote": a change made on that side alone). "" for ops that change
// neither side.
func changeWords(op plan.Op) (msg, dir string) {
	switch op.Kind {
	case plan.Upload:
		return "uploaded", "up"
	case plan.Replace:
		return "replaced remote", "up"
	case plan.Download:
		if op.Local != nil {
			return "replaced local", "down"
		}
		return "downloaded", "down"
	case plan.MkdirRemote:
		return "created remote folder", "up"
	case plan.MkdirLocal:
		return "created local folder", "down"
	case plan.MoveRemote:
		return "moved remote", "up"
	case plan.MoveLocal:
		return "moved local", "down"
	case plan.DeleteRemote:
		return "deleted remote (to the account's trash)", "up"
	case plan.DeleteLocal:
		return "deleted local (to .syncd/trash)", "down"
	case plan.ConflictLocal:
		return "conflict: local version kept as a copy", "local"
	case plan.ConflictRemote:
		return "conflict: remote version kept as a copy", "remote"
	}
	return "", ""
}

// opSize is the size of the file an op handled.
func opSize(ev engine.OpEvent) int64 {
	switch {
	case ev.Bytes > 0:
		return ev.Bytes
	case ev.Op.Local != nil:
		return ev.Op.Local.Size
	case ev.Op.Remote != nil:
		return ev.Op.Remote.Size
	}
	return 0
}

// changeTally counts the changes `once` made, per pair, over all its passes.
type changeTally struct {
	mu    sync.Mutex
	pairs map[string]*changeCounts
}

// changeCounts are one pair's completed changes by kind, and the bytes
// each way.
type changeCounts struct {
	ByOp      map[string]int `json:"by_op,omitempty"`
	BytesUp   int64          `json:"bytes_up"`
	BytesDown int64          `json:"bytes_down"`
}

func (t *changeTally) observe(ev engine.OpEvent) {
	if ev.Status != engine.OpDone {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pairs == nil {
		t.pairs = map[string]*changeCounts{}
	}
	c := t.pairs[ev.Pair]
	if c == nil {
		c = &changeCounts{ByOp: map[string]int{}}
		t.pairs[ev.Pair] = c
	}
	c.ByOp[ev.Op.Kind.String()]++
	switch ev.Op.Kind {
	case plan.Upload, plan.Replace:
		c.BytesUp += ev.Bytes
	case plan.Download:
		c.BytesDown += ev.Bytes
	}
}

func (t *changeTally) of(pair string) changeCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.pairs[pair]; c != nil {
		return *c
	}
	return changeCounts{}
}
