package engine

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/syncd/syncd/sync/plan"
)

// ErrNotFound is what a Remote returns (wrapped) when an id no longer exists.
var ErrNotFound = errors.New("not found")

// ErrAuth is what a Remote returns (wrapped) when the account refused the
// credentials: permanent, the whole pass stops (never retried: the service
// locks the IP out after a few failures).
var ErrAuth = errors.New("authentication refused")

// RemoteFile is a file as the engine needs to know it.
type RemoteFile struct {
	ID       string
	Name     string
	FolderID string
	Size     int64
	MD5      string // "" unless the operation revealed it (upload)
	Active   bool
}

// RemoteFolder is a folder as the engine needs to know it.
type RemoteFolder struct {
	ID       string
	ParentID string
	Name     string
	Active   bool
}

// Upload describes one upload.
type Upload struct {
	Folder         string
	Name           string
	Size           int64
	Open           func() (io.ReadCloser, error)
	KnownIDs       func(id string) bool
	KeepServerName bool
	Progress       func(sent int64)
	// DeferLocationCheck: the caller checks after the upload that Folder
	// is still active, so the Remote need not check where the file
	// landed (see execution.checkFolders).
	DeferLocationCheck bool
}

// Remote is the account as the engine uses it. The account's root folder is
// "". Implementations retry what is retryable and report ErrNotFound and
// ErrAuth wrapped.
type Remote interface {
	List(ctx context.Context, folder string) ([]RemoteFolder, []RemoteFile, error)
	FolderInfo(ctx context.Context, id string) (RemoteFolder, error)
	CreateFolder(ctx context.Context, parent, name string) (RemoteFolder, error)
	RenameFolder(ctx context.Context, id, name string) error
	MoveFolder(ctx context.Context, id, parent string) error
	DeleteFolder(ctx context.Context, id string) error
	FileInfo(ctx context.Context, id string) (RemoteFile, error)
	RenameFile(ctx context.Context, id, name string) error
	MoveFile(ctx context.Context, id, folder string) error
	DeleteFile(ctx context.Context, id string) error
	Upload(ctx context.Context, u Upload) (RemoteFile, error)
	// Download streams the file's content to w and returns its MD5 (hex).
	Download(ctx context.Context, id string, size int64, w io.Writer, progress func(int64)) (md5 string, err error)
	// Limits are the account's package limits.
	Limits() Limits
}

// TokenLosses is implemented by a Remote that counts the requests refused
// because another client sharing the account's keys took the one live token
// (api.md 7): another host is active. The loop spaces idle polls by it.
type TokenLosses interface {
	TokenLosses() uint64
}

// WriteIntent is implemented by a Remote whose client shares the one live
// token with other hosts (api.md 7): told that this pair has local changes
// to send, it holds the token as a writer from the start of the pass rather
// than from its first upload (see remote.Client.ExpectWrites; d <= 0
// withdraws it).
type WriteIntent interface {
	ExpectWrites(d time.Duration)
}

// Limits are the account limits the executor schedules by (0 = unlimited).
type Limits struct {
	MaxUploadSize       int64
	ConcurrentUploads   int
	ConcurrentDownloads int
}

// Temp is a temporary local file a download is written into.
type Temp interface {
	io.Writer
	Name() string
	// Stat is the file's stat once written (size, mtime, device, inode),
	// which CommitTemp keeps: the stat of the file it puts in place.
	Stat() (plan.Local, error)
}

// LocalFS is the pair's local root as the engine uses it. Paths are
// slash-separated and relative to the root; every destructive call checks
// its premise (expect) and fails with a wrapped ErrPremise when the path
// changed since it was observed.
type LocalFS interface {
	// HasMarker reports whether the root carries syncd's marker (.syncd/);
	// CreateMarker creates it. A root that synced before and lost its
	// marker (an unmounted disk) is refused, never read as "all deleted".
	HasMarker() (bool, error)
	CreateMarker() error
	// Scan observes the whole tree; base supplies the previous stat and MD5
	// so that only changed files are hashed.
	Scan(ctx context.Context, base map[string]plan.Base, now time.Time) (Scan, error)
	// Rescan brings prev, a Scan this LocalFS returned, up to date in
	// place: dirs are keys of directories whose direct entries changed,
	// trees keys of directories to read whole (see local.Rescan). Files
	// whose stat matches prev keep prev's MD5 unread.
	Rescan(ctx context.Context, prev *Scan, dirs, trees []string, now time.Time) error
	Stat(path string) (plan.Local, error)
	Mkdir(path string) (plan.Local, error)
	// OpenRead opens a file for upload, returning the stat it was opened at.
	OpenRead(path string) (io.ReadCloser, plan.Local, error)
	CreateTemp() (Temp, error)
	// CommitTemp moves a finished temp file into place at path. expect nil:
	// nothing may be at path. Otherwise the file there must still match
	// expect and goes to the local trash first. Returns the new file's stat.
	CommitTemp(t Temp, path string, expect *plan.Local) (plan.Local, error)
	DiscardTemp(t Temp) error
	// TempExists reports whether the temp file of that Name is still
	// there (CommitTemp removes it once the file is in place); CleanTemp
	// removes every temp file a crash left. The engine cleans them after
	// the journal's recovery, which reads a temp file's absence as "the
	// download was put in place".
	TempExists(name string) (bool, error)
	CleanTemp() (int, error)
	Rename(from, to string, expect plan.Local) error
	// Trash moves path (a file, or a directory with its subtree) to the
	// local trash after checking that it still matches expect, and for a
	// directory that every entry below it is one of planned (keyed like
	// the scan), unchanged.
	Trash(path string, expect plan.Local, planned map[string]plan.Base) error
}

// ErrRefused is what a Remote returns (wrapped) when the service refused an
// item for a reason retrying will not fix soon (a type or size it does not
// accept, a full account). The engine remembers the refusal and does not
// retry the item until it changes locally or an hour has passed.
var ErrRefused = errors.New("refused by the service")

// Refusal is a remembered ErrRefused for one local file.
type Refusal struct {
	Signature string // the local file's stat when it was refused
	Message   string
	Since     time.Time
}

// ErrPremise is wrapped by LocalFS when a path changed since it was observed.
var ErrPremise = errors.New("changed since planned")

// Scan is one observation of the local tree.
type Scan struct {
	Tree     map[string]plan.Local
	Unknown  []string
	Problems []plan.Problem
	// Unsettled counts files left out because they are still being
	// written; the loop looks again soon instead of at the next poll.
	Unsettled int
}

// Store is the persistent state as the engine uses it.
type Store interface {
	Base(pair string) (map[string]plan.Base, error)
	Meta(pair string) (Meta, error)
	Commit(pair string, c Commit) error
	// Refused returns the refusals remembered for the pair's paths.
	Refused(pair string) (map[string]Refusal, error)
	RemoteMD5(id string) (string, bool, error)
	JournalBegin(pair string, j Journal) (uint64, error)
	// JournalBeginAll records js in one transaction and returns their
	// sequence numbers in order.
	JournalBeginAll(pair string, js []Journal) ([]uint64, error)
	JournalAdvance(seq uint64, step string, data []byte) error
	JournalDone(seq uint64) error
	JournalPending(pair string) ([]Journal, error)
}

// Meta is what the engine keeps per pair besides the base.
type Meta struct {
	RemoteRootID string
	Initialised  bool
	LastSync     time.Time // end of the last pass that completed cleanly
	LastAttempt  time.Time // end of the last pass, clean or not
	LastError    string
	Halted       string // why a safety guard stopped the pair
	Pending      int    // operations planned but not applied
}

// Journal is one in-flight multi-step operation.
type Journal struct {
	Seq  uint64
	Op   string
	Step string
	Data []byte
}

// Commit is one atomic change of a pair's stored state: the base entries to
// write and to remove (exact paths), remote hashes learnt, and the meta.
type Commit struct {
	Put    map[string]plan.Base
	Delete []string
	MD5s   map[string]string // remote file id -> MD5
	// ForgetMD5s are file ids that left the base (replaced or deleted):
	// their cached MD5 will not be needed again.
	ForgetMD5s []string
	Meta       *Meta
	// Problems, when non-nil, replaces the pair's reported problems, and
	// Refused its remembered refusals.
	Problems []plan.Problem
	Refused  map[string]Refusal
	// Conflicts are appended to the pair's conflict log.
	Conflicts []plan.Conflict
	// JournalDone closes journal records in the same transaction: the base
	// change an operation made and the end of its record are one atomic step.
	JournalDone []uint64
}
