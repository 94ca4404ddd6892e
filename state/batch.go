package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/text/unicode/norm"
)

type opKind uint8

const (
	opPut opKind = iota + 1
	opDelete
	opDeleteTree
	opMove
	opMeta
	opEditMeta
	opRemoteMD5
	opDeleteRemoteMD5
	opPutProblem
	opClearProblem
	opClearProblems
	opAddConflict
	opClearConflicts
	opJournalDone
)

type batchOp struct {
	kind     opKind
	entry    Entry
	path, to string // path; Move destination; MD5 id and hash
	meta     Meta
	editMeta func(*Meta) // opEditMeta
	problem  Problem
	conflict Conflict
	seq      uint64 // journal record, for opJournalDone
}

// JournalDone closes journal record seq in the same transaction as the rest
// of the batch: the base change an operation made and the end of its record
// become durable together (and one fsync serves many operations).
func (b *Batch) JournalDone(seq uint64) {
	b.ops = append(b.ops, batchOp{kind: opJournalDone, seq: seq})
}

// Batch is a list of changes to one pair, committed atomically by
// Store.Commit and applied in the order they were added: a later op sees
// the effect of earlier ones (Move a folder, then Put its entry with the new
// names). The zero value is an empty batch; a Batch holds copies, so the
// caller may reuse its values.
type Batch struct {
	ops []batchOp
}

// Len is the number of changes in the batch.
func (b *Batch) Len() int { return len(b.ops) }

// Put stores e at e.Path, replacing what was there, and indexes its RemoteID.
// An id may pass from one path to another within a batch (two files
// swapping places), but when the batch ends each id must belong to one
// path at most, or Commit fails with ErrDuplicateID.
func (b *Batch) Put(e Entry) { b.ops = append(b.ops, batchOp{kind: opPut, entry: e}) }

// Delete removes the entry at path (only that path); a missing path is not
// an error.
func (b *Batch) Delete(path string) { b.ops = append(b.ops, batchOp{kind: opDelete, path: path}) }

// DeleteTree removes the entry at path and every entry below it.
func (b *Batch) DeleteTree(path string) {
	b.ops = append(b.ops, batchOp{kind: opDeleteTree, path: path})
}

// Move re-keys the entry at from, and every entry below it, to to: a rename
// or move of a file or a whole folder. Only paths change; Put the moved
// entry afterwards to record its new names or parent id. The source must
// exist and nothing may exist at or below the destination.
func (b *Batch) Move(from, to string) {
	b.ops = append(b.ops, batchOp{kind: opMove, path: from, to: to})
}

// SetMeta replaces the pair's meta.
func (b *Batch) SetMeta(m Meta) { b.ops = append(b.ops, batchOp{kind: opMeta, meta: m}) }

// EditMeta changes the pair's meta inside the commit's transaction: edit
// gets the stored meta (the zero Meta when there is none) and changes what
// it owns, so that fields written by others (LocalRoot, RemotePath) are
// neither lost nor read outside the transaction. edit must do no I/O.
func (b *Batch) EditMeta(edit func(*Meta)) {
	b.ops = append(b.ops, batchOp{kind: opEditMeta, editMeta: edit})
}

// PutRemoteMD5 records the MD5 of the remote file id in the store-wide hash
// cache.
func (b *Batch) PutRemoteMD5(id, md5 string) {
	b.ops = append(b.ops, batchOp{kind: opRemoteMD5, path: id, to: md5})
}

// DeleteRemoteMD5 forgets the cached MD5 of a remote file id that is gone
// (trashed or replaced), so the cache does not grow forever.
func (b *Batch) DeleteRemoteMD5(id string) {
	b.ops = append(b.ops, batchOp{kind: opDeleteRemoteMD5, path: id})
}

// PutProblem records a problem at path. When a problem with the same
// Signature is already recorded, its Since is kept.
func (b *Batch) PutProblem(path string, p Problem) {
	b.ops = append(b.ops, batchOp{kind: opPutProblem, path: path, problem: p})
}

// ClearProblem forgets the problem at path, if any.
func (b *Batch) ClearProblem(path string) {
	b.ops = append(b.ops, batchOp{kind: opClearProblem, path: path})
}

// ClearProblems forgets every problem of the pair (before a pass re-reports
// those that remain).
func (b *Batch) ClearProblems() { b.ops = append(b.ops, batchOp{kind: opClearProblems}) }

// AddConflict appends c to the pair's conflicts log, dropping the oldest
// beyond MaxConflicts.
func (b *Batch) AddConflict(c Conflict) {
	b.ops = append(b.ops, batchOp{kind: opAddConflict, conflict: c})
}

// ClearConflicts removes the log entries whose Path or Copy is path (the
// user resolved them).
func (b *Batch) ClearConflicts(path string) {
	b.ops = append(b.ops, batchOp{kind: opClearConflicts, path: path})
}

// Commit applies b to pair in one durable transaction: every change or, on
// error, none. A pair's buckets are created by its first Commit.
func (s *Store) Commit(pair string, b Batch) error {
	if pair == "" {
		return fmt.Errorf("commit: empty pair key")
	}
	// Validate and encode outside the transaction: the writer lock is held
	// only for the bucket updates.
	for i := range b.ops {
		if err := b.ops[i].validate(); err != nil {
			return fmt.Errorf("commit pair %s: %w", pair, err)
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		pb, err := createPair(tx, pair)
		if err != nil {
			return err
		}
		a := applier{tx: tx, pair: pb, conflictsN: -1}
		for i := range b.ops {
			if err := a.apply(&b.ops[i]); err != nil {
				return err
			}
		}
		return a.finish()
	})
	if err != nil {
		return fmt.Errorf("commit pair %s: %w", pair, err)
	}
	return nil
}

func (op *batchOp) validate() error {
	switch op.kind {
	case opPut:
		e := &op.entry
		if err := validPath(e.Path); err != nil {
			return err
		}
		if e.Kind != KindFile && e.Kind != KindDir {
			return fmt.Errorf("put %s: kind %d: %w", e.Path, e.Kind, ErrInvalidPath)
		}
		if e.Size < 0 {
			return fmt.Errorf("put %s: negative size %d", e.Path, e.Size)
		}
	case opDelete, opDeleteTree, opPutProblem, opClearProblem, opClearConflicts:
		return validPath(op.path)
	case opMove:
		if err := validPath(op.path); err != nil {
			return err
		}
		if err := validPath(op.to); err != nil {
			return err
		}
		if op.to == op.path || strings.HasPrefix(op.to, op.path+"/") {
			return fmt.Errorf("move %s to %s: into itself: %w", op.path, op.to, ErrInvalidPath)
		}
	case opRemoteMD5, opDeleteRemoteMD5:
		if op.path == "" {
			return fmt.Errorf("remote md5: empty id")
		}
	case opEditMeta:
		if op.editMeta == nil {
			return fmt.Errorf("edit meta: no edit")
		}
	}
	return nil
}

// validPath accepts what the planner uses as a tree key: relative,
// slash-separated, no empty, "." or ".." element, valid UTF-8 in NFC.
func validPath(p string) error {
	if p == "" || !utf8.ValidString(p) || strings.IndexByte(p, 0) >= 0 || !norm.NFC.IsNormalString(p) {
		return fmt.Errorf("path %q: %w", p, ErrInvalidPath)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("path %q: %w", p, ErrInvalidPath)
		}
	}
	return nil
}

func createPair(tx *bolt.Tx, pair string) (*bolt.Bucket, error) {
	pairs := tx.Bucket([]byte(bucketPairs))
	if pairs == nil {
		return nil, fmt.Errorf("bucket %s missing: %w", bucketPairs, ErrCorrupt)
	}
	pb, err := pairs.CreateBucketIfNotExists([]byte(pair))
	if err != nil {
		return nil, fmt.Errorf("create pair bucket: %w", err)
	}
	for _, name := range []string{bucketBase, bucketRID, bucketProblems, bucketConflicts} {
		if _, err := pb.CreateBucketIfNotExists([]byte(name)); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return pb, nil
}

// applier applies batch ops inside one write transaction.
type applier struct {
	tx    *bolt.Tx
	pair  *bolt.Bucket
	base  *bolt.Bucket
	rid   *bolt.Bucket
	count int64 // change to the base entry count
	// slab holds encoded values: bbolt keeps the slices passed to Put until
	// the transaction ends, so a value's bytes are never reused, only
	// appended after.
	slab       []byte
	conflictsN int // entries in the conflicts log; -1 until counted
	// contested are ids a Put took from another path during the batch;
	// finish proves each ends with one holder at most.
	contested map[string]bool
}

// encode returns e's encoding in bytes no later write touches.
func (a *applier) encode(e *Entry) []byte {
	if cap(a.slab)-len(a.slab) < 256 {
		a.slab = make([]byte, 0, 64<<10)
	}
	start := len(a.slab)
	a.slab = appendEntry(a.slab, e)
	return a.slab[start:len(a.slab):len(a.slab)]
}

func (a *applier) apply(op *batchOp) error {
	if a.base == nil {
		a.base = a.pair.Bucket([]byte(bucketBase))
		a.rid = a.pair.Bucket([]byte(bucketRID))
	}
	switch op.kind {
	case opPut:
		return a.put(&op.entry)
	case opDelete:
		return a.delete([]byte(op.path))
	case opDeleteTree:
		return a.deleteTree(op.path)
	case opMove:
		return a.move(op.path, op.to)
	case opMeta, opEditMeta:
		m := op.meta
		if op.kind == opEditMeta {
			m = Meta{}
			if old := a.pair.Get([]byte(keyPairMeta)); old != nil {
				if err := decodeEnvelope(old, &m, "meta"); err != nil {
					return err
				}
			}
			op.editMeta(&m)
		}
		v, err := encodeEnvelope(m)
		if err != nil {
			return fmt.Errorf("encode meta: %w", err)
		}
		return a.pair.Put([]byte(keyPairMeta), v)
	case opRemoteMD5:
		if err := a.tx.Bucket([]byte(bucketMD5)).Put([]byte(op.path), []byte(op.to)); err != nil {
			return fmt.Errorf("remote md5 %s: %w", op.path, err)
		}
	case opDeleteRemoteMD5:
		if err := a.tx.Bucket([]byte(bucketMD5)).Delete([]byte(op.path)); err != nil {
			return fmt.Errorf("remote md5 %s: %w", op.path, err)
		}
	case opPutProblem:
		return a.putProblem(op.path, op.problem)
	case opClearProblem:
		return a.pair.Bucket([]byte(bucketProblems)).Delete([]byte(op.path))
	case opClearProblems:
		if err := a.pair.DeleteBucket([]byte(bucketProblems)); err != nil {
			return fmt.Errorf("clear problems: %w", err)
		}
		_, err := a.pair.CreateBucket([]byte(bucketProblems))
		return err
	case opAddConflict:
		return a.addConflict(op.conflict)
	case opClearConflicts:
		return a.clearConflicts(op.path)
	case opJournalDone:
		return a.tx.Bucket([]byte(bucketJournal)).Delete(journalKey(op.seq))
	default:
		return fmt.Errorf("unknown batch op %d", op.kind)
	}
	return nil
}

func (a *applier) put(e *Entry) error {
	key := []byte(e.Path)
	rid := ridKey(e.Kind, e.RemoteID)
	if old := a.base.Get(key); old != nil {
		oldID, err := entryRIDKey(e.Path, old)
		if err != nil {
			return err
		}
		if oldID != "" && oldID != rid {
			if err := a.unindex(oldID, e.Path); err != nil {
				return err
			}
		}
	} else {
		a.count++
	}
	if rid != "" {
		if p := a.rid.Get([]byte(rid)); p != nil && string(p) != e.Path {
			// Another path holds the id, for now: a later op of the batch
			// may move it on (two files swapping places). finish decides.
			if a.contested == nil {
				a.contested = map[string]bool{}
			}
			a.contested[rid] = true
		}
		if err := a.rid.Put([]byte(rid), key); err != nil {
			return fmt.Errorf("index %s: %w", e.Path, err)
		}
	}
	if err := a.base.Put(key, a.encode(e)); err != nil {
		return fmt.Errorf("put %s: %w", e.Path, err)
	}
	return nil
}

// entryRIDKey decodes only what index maintenance needs: the entry's rid
// index key.
func entryRIDKey(path string, v []byte) (string, error) {
	e, err := decodeEntry(path, v)
	if err != nil {
		return "", fmt.Errorf("entry %s: %w", path, err)
	}
	return ridKey(e.Kind, e.RemoteID), nil
}

// unindex drops id from the index if it points at path.
func (a *applier) unindex(id, path string) error {
	if p := a.rid.Get([]byte(id)); p != nil && string(p) == path {
		return a.rid.Delete([]byte(id))
	}
	return nil
}

func (a *applier) delete(key []byte) error {
	old := a.base.Get(key)
	if old == nil {
		return nil
	}
	id, err := entryRIDKey(string(key), old)
	if err != nil {
		return err
	}
	if id != "" {
		if err := a.unindex(id, string(key)); err != nil {
			return err
		}
	}
	a.count--
	return a.base.Delete(key)
}

// subtree lists the keys at path and below it (copies: the caller mutates
// the bucket while using them).
func (a *applier) subtree(path string) [][]byte {
	var keys [][]byte
	if a.base.Get([]byte(path)) != nil {
		keys = append(keys, []byte(path))
	}
	prefix := []byte(path + "/")
	c := a.base.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

func (a *applier) deleteTree(path string) error {
	for _, k := range a.subtree(path) {
		if err := a.delete(k); err != nil {
			return fmt.Errorf("delete tree %s: %w", path, err)
		}
	}
	return nil
}

func (a *applier) move(from, to string) error {
	keys := a.subtree(from)
	if len(keys) == 0 || string(keys[0]) != from {
		return fmt.Errorf("move %s to %s: source: %w", from, to, ErrNotFound)
	}
	if a.base.Get([]byte(to)) != nil {
		return fmt.Errorf("move %s to %s: destination: %w", from, to, ErrExists)
	}
	if k, _ := a.base.Cursor().Seek([]byte(to + "/")); k != nil && bytes.HasPrefix(k, []byte(to+"/")) {
		return fmt.Errorf("move %s to %s: destination has %s: %w", from, to, k, ErrExists)
	}
	for _, k := range keys {
		v := bytes.Clone(a.base.Get(k))
		e, err := decodeEntry(string(k), v)
		if err != nil {
			return fmt.Errorf("move %s: entry %s: %w", from, k, err)
		}
		newPath := to + e.Path[len(from):]
		if err := a.base.Delete(k); err != nil {
			return err
		}
		e.Path = newPath
		if err := a.base.Put([]byte(newPath), a.encode(&e)); err != nil {
			return fmt.Errorf("move %s to %s: %w", from, to, err)
		}
		if rid := ridKey(e.Kind, e.RemoteID); rid != "" && string(a.rid.Get([]byte(rid))) == string(k) {
			if err := a.rid.Put([]byte(rid), []byte(newPath)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) putProblem(path string, p Problem) error {
	b := a.pair.Bucket([]byte(bucketProblems))
	if old := b.Get([]byte(path)); old != nil {
		prev, err := decodeProblem(old, path)
		if err != nil {
			return err
		}
		if prev.Signature == p.Signature && prev.Refused == p.Refused && !prev.Since.IsZero() {
			p.Since = prev.Since
		}
	}
	v, err := encodeEnvelope(p)
	if err != nil {
		return fmt.Errorf("encode problem %s: %w", path, err)
	}
	return b.Put([]byte(path), v)
}

func (a *applier) addConflict(c Conflict) error {
	b := a.pair.Bucket([]byte(bucketConflicts))
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := encodeEnvelope(c)
	if err != nil {
		return fmt.Errorf("encode conflict %s: %w", c.Path, err)
	}
	if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
		return err
	}
	if a.conflictsN < 0 {
		// Stats does not see this transaction's own writes: count by cursor.
		a.conflictsN = 0
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			a.conflictsN++
		}
	} else {
		a.conflictsN++
	}
	for a.conflictsN > MaxConflicts {
		k, _ := b.Cursor().First()
		if err := b.Delete(k); err != nil {
			return err
		}
		a.conflictsN--
	}
	return nil
}

func (a *applier) clearConflicts(path string) error {
	b := a.pair.Bucket([]byte(bucketConflicts))
	var drop [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var c Conflict
		if err := decodeEnvelope(v, &c, "conflict"); err != nil {
			return err
		}
		if c.Path == path || c.Copy == path {
			drop = append(drop, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	if a.conflictsN >= 0 {
		a.conflictsN -= len(drop)
	}
	return nil
}

// finish settles contested ids and records the entry count hint.
func (a *applier) finish() error {
	if len(a.contested) > 0 {
		if err := a.settle(); err != nil {
			return err
		}
	}
	if a.base == nil || a.count == 0 {
		return nil
	}
	n := int64(a.base.Sequence()) + a.count
	if n < 0 {
		n = 0
	}
	return a.base.SetSequence(uint64(n))
}

// settle scans the base for the holders of contested ids (a rare batch: an
// id changed hands within it). An id still held by two paths fails the
// batch; otherwise the index is set to the one holder, or dropped.
func (a *applier) settle() error {
	holders := map[string][]string{}
	err := a.base.ForEach(func(k, v []byte) error {
		id, err := entryRIDKey(string(k), v)
		if err != nil {
			return err
		}
		if a.contested[id] {
			holders[id] = append(holders[id], string(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id := range a.contested {
		switch h := holders[id]; len(h) {
		case 0:
			err = a.rid.Delete([]byte(id))
		case 1:
			err = a.rid.Put([]byte(id), []byte(h[0]))
		default:
			return fmt.Errorf("remote id %s held by %s and %s: %w", strings.TrimPrefix(id, folderIDPrefix), h[0], h[1], ErrDuplicateID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
