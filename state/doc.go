// Package state owns syncd's on-disk memory between runs: one bbolt file
// holding, per sync pair, the synced ("base") tree with its remote-id index,
// the pair's meta, known problems and the conflicts log; and, for the whole
// store, the remote hash cache and the journal of in-flight multi-step
// operations. It also owns the status sidecar file that `syncd status` reads
// when the daemon holds the database.
//
// It knows nothing of the planner or of the remote client: pairs are opaque
// string keys chosen by the engine, ids are plain strings (a file's or a
// folder's, told apart by the entry's kind), and sync/bind translates Entry
// to and from the engine's types without encoding anything of its own.
//
// # Layout
//
// Bucket names are declared once, in schema.go. Integers in keys are 8-byte
// big-endian so that bbolt's byte order is numeric order.
//
//	meta/                           store-wide facts
//	│   "schema"  → uint64 BE       schema version; see migrations in schema.go
//	pairs/
//	│   <pair key>/                 one bucket per pair (key opaque, from the engine)
//	│   │   "meta" → envelope(JSON Meta)
//	│   │   base/                   the synced tree; Sequence() = entry count hint
//	│   │   │   <path> → entry v1   path: slash-separated, relative, NFC
//	│   │   rid/                    remote-id index of base
//	│   │   │   <file id> → <path>
//	│   │   │   "folder:"<folder id> → <path>
//	│   │   problems/
//	│   │   │   <path> → envelope(JSON Problem)   Refused marks a remembered refusal
//	│   │   conflicts/              log, oldest first, capped at MaxConflicts
//	│   │   │   <seq uint64 BE> → envelope(JSON Conflict)
//	md5/                            remote hash cache, store-wide (see below)
//	│   <remote file id> → lower-case hex MD5
//	journal/                        in-flight multi-step operations, all pairs
//	    <seq uint64 BE> → envelope(JSON JournalRecord)
//
// Encodings. An entry (the hot value: 100,000 of them load on every pass) is
// binary: version byte 1, kind byte, flags byte, then uvarint-length-prefixed
// strings and varints:
//
//	[1][kind][flags] LocalName? RemoteName? Size MtimeNs Dev Ino MD5 RemoteID RemoteParentID
//
// LocalName is omitted when it equals the last element of the path (flag 1)
// and RemoteName when it equals LocalName (flag 2), which is the common case.
// A folder's RemoteID is stored behind "folder:" (the service numbers files
// and folders separately, and the rid index is one namespace); Entry and
// PathOfRemoteID take and give plain ids. A problem written before
// Problem.Refused existed marks a refusal with "refused:" in front of its
// Signature; it decodes as Refused.
// Every other value is an envelope: version byte 1 followed by JSON, chosen
// because those values are few and evolve. Decoding never panics on garbage:
// corrupt bytes return an error wrapping ErrCorrupt (fuzzed: FuzzDecodeEntry).
//
// The hash cache is store-wide, keyed by remote file id: content never changes
// under an id, and a configuration talks to one account, so an id means the
// same bytes for every pair. A store shared by several accounts would have to
// prefix ids with the account.
//
// # Invariants
//
//   - The rid index holds exactly one key per base entry with a non-empty
//     RemoteID, mapping to that entry's path; two entries never share an id.
//     Within a batch an id may change hands (files swapping places); a batch
//     that ends with an id on two paths is refused (ErrDuplicateID). File
//     ids and folder ids are separate spaces (stored apart, see above).
//   - A Commit is one bbolt transaction: all of a batch or none of it. Its
//     meta changes (EditMeta) read the stored meta inside that transaction.
//   - Journal calls (Begin, Advance, Done) are one fsync'd transaction each:
//     the engine records before and after every API call.
//   - No I/O happens inside a transaction, and every value read is copied
//     out before its transaction ends.
//
// # Opening
//
// Open takes bbolt's exclusive file lock with a timeout (default 1s): a second
// daemon fails fast with ErrLocked instead of hanging. A database that cannot
// be read (bad magic, truncated, checksum failure, a structure that makes
// bbolt panic, a value that does not decode) is moved aside to
// "<path>.corrupt-<unix time>" and replaced by an empty one; Rebuilt reports
// it so the engine treats every pair as never synced (differences become
// conflicts, never deletions). A schema newer than this binary knows is
// refused with ErrSchemaTooNew and left untouched.
//
// # Status without the lock
//
// While a daemon runs it holds the exclusive lock, so `syncd status` does not
// read bbolt: the daemon writes its status to the sidecar file status.json in
// the state directory (WriteStatusFile: temp file, fsync, rename, fsync of the
// directory) and the status command reads it with ReadStatusFile. When no
// daemon runs, OpenReadOnly opens the database under a shared lock and fails
// fast with ErrLocked if a daemon holds it.
package state
