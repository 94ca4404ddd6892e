package plan

import "time"

// Kind is what a tree entry is.
type Kind uint8

const (
	File Kind = iota + 1
	Dir
)

func (k Kind) String() string {
	switch k {
	case File:
		return "file"
	case Dir:
		return "dir"
	}
	return "unknown"
}

// Paths. Every tree is a map keyed by the entry's path relative to the pair
// root: slash-separated, no leading or trailing slash, each element
// NFC-normalised (so "é" typed as e+U+0301 on disk and "é" on the remote
// are the same key). The root itself is never an entry. The raw name of the
// last element on each side is kept in the entry (Name, LocalName,
// RemoteName) and is what the executor uses.

// Local is one entry of the local tree, as the scanner saw it.
type Local struct {
	Kind    Kind
	Name    string // on-disk name of the last element, original bytes
	Size    int64  // files only
	MtimeNs int64  // modification time, Unix nanoseconds
	Dev     uint64 // device and inode: the local identity, for rename detection
	Ino     uint64
	MD5     string // lower-case hex MD5 of the content; files only. The scanner
	// always sets it: hashed when size, mtime or inode changed since base,
	// carried over from base otherwise.
}

// Remote is one entry of the remote tree, as the snapshotter listed it
// (active entries only; trash is never part of the tree).
type Remote struct {
	Kind     Kind
	Name     string // stored name on the remote, exactly
	ID       string // file or folder id
	ParentID string // id of the containing folder
	Size     int64  // files only
	MD5      string // "" when unknown: listings carry no hash. The engine fills
	// it from what it learnt at upload or download time (remote file content
	// never changes under an id: the API cannot replace content in place).
}

// Base is one entry of the synced tree: the last state both sides agreed on.
type Base struct {
	Kind           Kind
	LocalName      string
	RemoteName     string
	Size           int64
	MtimeNs        int64
	Dev            uint64
	Ino            uint64
	MD5            string
	RemoteID       string
	RemoteParentID string
}

// Direction says which way a pair propagates changes.
type Direction uint8

const (
	Both         Direction = iota // default
	UploadOnly                    // local changes go up; remote changes never come down
	DownloadOnly                  // remote changes come down; local changes never go up
)

// DeleteLimit is the mass-delete guard: a plan that deletes more than
// Percent of a side's files (and at least Min files) halts unless Force.
type DeleteLimit struct {
	Percent float64 // 0 disables the guard
	Min     int     // deletions at or below this never trip the guard (default 10)
}

// Input is everything the planner decides from. It is data only: the planner
// performs no I/O, reads no clock and logs nothing.
type Input struct {
	Base   map[string]Base
	Local  map[string]Local
	Remote map[string]Remote

	// LocalUnknown and RemoteUnknown are paths (files or whole subtrees)
	// whose state this pass could not observe: an unreadable directory, a
	// file still being written, a folder whose listing failed. Nothing at or
	// below them is created, replaced, moved or deleted on either side, and
	// their absence from Local/Remote is never read as a deletion.
	LocalUnknown  []string
	RemoteUnknown []string

	// Ignored reports whether a path is excluded by the ignore rules. Ignored
	// paths are never synced; a base entry that became ignored is forgotten
	// (Forget), never deleted. nil ignores nothing. On a large tree the
	// planner asks from several goroutines at once: it must be safe for
	// concurrent use.
	Ignored func(path string, kind Kind) bool

	Direction Direction
	Mirror    bool // one-way pairs: make the receiving side an exact replica

	DeleteLimit DeleteLimit
	Force       bool // override the mass-delete guard

	MaxUploadSize int64 // 0 = unlimited; larger local files become problems

	// KnownProblems are paths reported as problems by an earlier pass whose
	// cause has not changed (the engine decides that): they are reported
	// again but planned for no op.
	KnownProblems map[string]bool

	// Now and Host name conflict copies: "name (conflict 2026-11-28 host).ext".
	Now  time.Time
	Host string

	workers int // tests: goroutines joining base with the trees (0: by size)
}

// OpKind is what an operation does.
type OpKind uint8

const (
	// MkdirRemote creates the folder Path on the remote, in the folder of
	// its parent path.
	MkdirRemote OpKind = iota + 1
	// MkdirLocal creates the directory Path locally.
	MkdirLocal
	// Upload creates the remote file Path from the local file Path. Premise:
	// the local file still matches Local; no live remote file is at Path.
	Upload
	// Replace gives the remote file Path (Remote.ID) the content of the local
	// file Path: upload new, verify size and MD5, trash the old id, rename
	// the new to the exact name. Premise: Local unchanged, Remote.ID still
	// live at Path.
	Replace
	// Download writes the remote file Path (Remote.ID) to the local path
	// Path: into .syncd/tmp, verified, fsynced, renamed into place. When
	// Local is set, a local file matching it is expected at Path and goes to
	// the local trash first; when Local is nil, nothing may be at Path.
	Download
	// MoveRemote moves or renames the remote file or folder Remote.ID from
	// From to Path (one file/edit, file/move, folder/edit or folder/move per
	// changed attribute). A folder carries its whole subtree.
	MoveRemote
	// MoveLocal moves or renames the local file or directory From to Path.
	// Premise: From still matches Local; nothing at Path.
	MoveLocal
	// DeleteRemote trashes the remote file or folder Remote.ID at Path (a
	// folder with everything below it). Premise: still at Path.
	DeleteRemote
	// DeleteLocal moves the local file or directory Path (with its subtree)
	// to the local trash. Premise: Local still matches (for a directory, the
	// planner has checked that every entry below it is unchanged since base).
	DeleteLocal
	// ConflictLocal renames the local version at From to the conflict copy
	// name Path and forgets the base entry at From; later ops of the plan
	// upload Path and bring the remote version to From.
	ConflictLocal
	// ConflictRemote renames the remote version (Remote.ID) at From to the
	// conflict copy name Path and forgets the base entry at From; later ops
	// download Path and upload the local version to From.
	ConflictRemote
	// Record writes the base entry for Path from Local and Remote without any
	// transfer: both sides already hold the same thing (identical content
	// found on both sides, both made the same change, both created the same
	// directory).
	Record
	// Forget removes the base entries at and below Path without touching
	// either side: both sides deleted it, or it became ignored.
	Forget
)

var opKindNames = [...]string{
	MkdirRemote: "mkdir-remote", MkdirLocal: "mkdir-local", Upload: "upload",
	Replace: "replace", Download: "download", MoveRemote: "move-remote",
	MoveLocal: "move-local", DeleteRemote: "delete-remote", DeleteLocal: "delete-local",
	ConflictLocal: "conflict-local", ConflictRemote: "conflict-remote",
	Record: "record", Forget: "forget",
}

func (k OpKind) String() string {
	if int(k) < len(opKindNames) && opKindNames[k] != "" {
		return opKindNames[k]
	}
	return "unknown"
}

// Op is one step of a plan. Local and Remote are the premises: the state the
// planner saw at the op's source path on each side (nil = absent). The
// executor re-checks the relevant premise immediately before any destructive
// step and skips the op when it no longer holds; the next pass decides again.
type Op struct {
	Kind   OpKind
	Path   string // subject; destination for moves and conflict renames
	From   string // source path for MoveLocal, MoveRemote, ConflictLocal, ConflictRemote
	Entry  Kind   // kind of the subject
	Local  *Local
	Remote *Remote
	Deps   []int  // indexes into Plan.Ops that must succeed before this op starts
	Reason string // short human reason, e.g. "new local file", "both modified"
}

// Side names a side of a pair.
type Side uint8

const (
	LocalSide Side = iota + 1
	RemoteSide
)

func (s Side) String() string {
	switch s {
	case LocalSide:
		return "local"
	case RemoteSide:
		return "remote"
	}
	return "both"
}

// Conflict is a true conflict the plan resolves by keeping both versions.
type Conflict struct {
	Path   string // the contested path
	Copy   string // where the losing version goes ("" if no copy is made)
	Reason string
}

// Problem is a path the plan cannot sync, reported, never retried in a loop,
// and never blocking the rest of the plan.
type Problem struct {
	Path    string
	Side    Side
	Message string
}

// Plan is the planner's output: deterministic for the same Input. Ops are
// in a valid execution order (every dependency precedes its dependant);
// Conflicts and Problems are sorted by path.
type Plan struct {
	Ops       []Op
	Conflicts []Conflict
	Problems  []Problem

	// Halt, when non-empty, says why a safety guard stopped the pass (e.g.
	// the mass-delete guard). A halted plan carries no destructive op
	// (DeleteLocal, DeleteRemote, Replace, Download over an existing file).
	Halt string

	// DeletesLocal and DeletesRemote count the files the plan would delete on
	// each side, after rename detection (what the mass-delete guard counts).
	DeletesLocal, DeletesRemote int
}
