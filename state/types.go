package state

import (
	"errors"
	"time"
)

// Sentinels for the decisions callers make; every returned error wraps one
// of them (or an I/O error) together with the file, pair, path or id.
var (
	// ErrLocked: another process (or another Open in this process) holds
	// the database.
	ErrLocked = errors.New("state database is locked by another syncd process")
	// ErrSchemaTooNew: the database was written by a newer syncd.
	ErrSchemaTooNew = errors.New("state database schema is newer than this syncd")
	// ErrSchemaOld: a read-only open found a database not yet migrated to
	// this binary's schema (a read-only open cannot migrate it).
	ErrSchemaOld = errors.New("state database schema is older than this syncd")
	// ErrCorrupt: bytes in the database do not decode.
	ErrCorrupt = errors.New("corrupt state record")
	// ErrNotFound: a journal record or a Move source that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a Move onto a path that is already in the base.
	ErrExists = errors.New("already exists")
	// ErrDuplicateID: a Put would give a remote id a second path.
	ErrDuplicateID = errors.New("remote id already belongs to another path")
	// ErrInvalidPath: a path that is not slash-separated, relative, clean
	// and NFC.
	ErrInvalidPath = errors.New("invalid path")
)

// Entry kinds, numerically the same as the planner's.
const (
	KindFile uint8 = 1
	KindDir  uint8 = 2
)

// Entry is one path of a pair's synced tree.
type Entry struct {
	Path           string // slash-separated, relative to the pair root, NFC
	Kind           uint8  // KindFile or KindDir
	LocalName      string // on-disk name of the last element
	RemoteName     string // stored remote name of the last element
	Size           int64
	MtimeNs        int64
	Dev, Ino       uint64
	MD5            string // lower-case hex
	RemoteID       string // file id, or folder id for a directory
	RemoteParentID string
}

// Meta is what the store keeps about a pair besides its tree. The engine
// owns its meaning; the store only persists it (Commit with SetMeta).
type Meta struct {
	LocalRoot    string
	RemotePath   string
	RemoteRootID string // folder id of the pair's remote root; PathOfRemoteID maps it to ""
	// Initialised is set once a first pass has agreed on a base. A pair
	// that is not initialised has no trustworthy base.
	Initialised bool
	LastSync    time.Time // end of the last pass that completed
	LastAttempt time.Time // end of the last pass, successful or not
	LastError   string    // "" when the last pass succeeded
	Halted      string    // why a safety guard stopped the pair; "" when it did not
	Pending     int       // operations planned but not yet applied
}

// Problem is a path that could not be synced and why.
type Problem struct {
	Side    string // which side the cause is on, e.g. "local" or "remote"
	Message string
	// Signature identifies the cause (e.g. size+mtime of the offending
	// file); the engine compares it to decide whether to retry.
	Signature string
	// Since is when the problem was first seen with this Signature.
	// PutProblem keeps the stored Since when the Signature is unchanged.
	Since time.Time
	// Refused marks a remembered refusal: the service refused this file
	// and the engine does not try again until Signature changes.
	Refused bool
}

// Conflict is one conflict the engine resolved by keeping both versions.
type Conflict struct {
	Path   string // the path both sides changed
	Copy   string // where the losing version now lives
	Reason string
	Time   time.Time
}

// MaxConflicts caps each pair's conflicts log; the oldest go first.
const MaxConflicts = 1000

// JournalRecord is one in-flight multi-step operation.
type JournalRecord struct {
	Seq     uint64
	Pair    string
	Op      string
	Step    string
	Data    []byte // engine-defined JSON
	Started time.Time
}

// Summary is what a status report needs of a pair, read in one transaction.
type Summary struct {
	Pair      string
	Meta      Meta
	HasMeta   bool
	Entries   int // base entries
	Problems  int
	Conflicts int // entries in the conflicts log
	InFlight  int // journal records of this pair
}
