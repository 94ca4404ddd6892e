package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
)

// DefaultTimeout is how long Open waits for the file lock.
const DefaultTimeout = time.Second

// Options configure Open.
type Options struct {
	// Timeout bounds the wait for the file lock; 0 means DefaultTimeout.
	// bbolt polls the lock, so the wait is never shorter than ~50ms.
	Timeout time.Duration
	// Logger receives the few events worth an operator's attention
	// (migrations, a rebuilt database); nil logs nothing.
	Logger *zap.Logger
	// NoSync skips every fsync of the database file (bbolt's NoSync and
	// NoGrowSync): a commit is in the file, as another open sees it, once
	// it returns, but an OS crash or power cut may lose it or tear the
	// file. Only for tests whose crashes are the process's (a closed
	// store, a killed process); never the product's.
	NoSync bool
}

// Store is syncd's state database. Its methods are safe for concurrent use;
// bbolt serialises writers.
type Store struct {
	db       *bolt.DB
	log      *zap.Logger
	readOnly bool
	backup   string // where a corrupt database was moved; "" if none
}

// Open opens (creating if needed) the state database at path and migrates
// it to the current schema. A database locked by another process fails with
// ErrLocked after opts.Timeout. An unreadable database is moved aside and
// replaced by an empty one: check Rebuilt.
func Open(path string, opts Options) (*Store, error) {
	return openWith(path, opts, migrations())
}

func openWith(path string, opts Options, migs []migration) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	db, err := openVerified(path, opts.Timeout, false, opts.NoSync)
	var backup string
	var corrupt *corruptError
	if errors.As(err, &corrupt) {
		backup, err = moveAside(path)
		if err != nil {
			return nil, fmt.Errorf("state database %s is unreadable (%v) and could not be moved aside: %w",
				path, corrupt.cause, err)
		}
		log.Warn("state database unreadable, moved aside and rebuilt; every pair will resync conservatively",
			zap.String("db", path), zap.String("backup", backup), zap.Error(corrupt.cause))
		db, err = openVerified(path, opts.Timeout, false, opts.NoSync)
	}
	if err != nil {
		return nil, err
	}
	if err := migrate(db, migs, log); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db, log: log, backup: backup}, nil
}

// OpenReadOnly opens the database under a shared lock for reading, for the
// status command when no daemon runs. It fails after timeout with ErrLocked
// when a daemon holds the database, and never repairs, migrates or moves
// anything: a corrupt database is an error wrapping ErrCorrupt, an outdated
// one ErrSchemaOld.
func OpenReadOnly(path string, timeout time.Duration) (*Store, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	db, err := openVerified(path, timeout, true, false)
	var corrupt *corruptError
	if errors.As(err, &corrupt) {
		return nil, fmt.Errorf("state database %s: %w (%v)", path, ErrCorrupt, corrupt.cause)
	}
	if err != nil {
		return nil, err
	}
	var have uint64
	err = db.View(func(tx *bolt.Tx) error {
		have, err = schemaVersion(tx)
		return err
	})
	if err == nil {
		switch want := SchemaVersion(); {
		case have > want:
			err = fmt.Errorf("%s has schema version %d, this syncd knows up to %d (upgrade syncd): %w",
				path, have, want, ErrSchemaTooNew)
		case have < want:
			err = fmt.Errorf("%s has schema version %d, this syncd needs %d (run syncd once to migrate it): %w",
				path, have, want, ErrSchemaOld)
		}
	}
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db, log: zap.NewNop(), readOnly: true}, nil
}

// Close releases the database and its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state %s: %w", s.db.Path(), err)
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.db.Path() }

// Rebuilt reports whether Open found the database unreadable and started a
// fresh one, and where the unreadable file was moved. After a rebuild every
// pair is unknown: the engine must treat each as never synced.
func (s *Store) Rebuilt() (backup string, ok bool) { return s.backup, s.backup != "" }

// corruptError marks an open failure that moving the file aside can cure.
type corruptError struct{ cause error }

func (e *corruptError) Error() string { return "corrupt: " + e.cause.Error() }

// openVerified opens the bbolt file and proves it readable: every page of
// every bucket reached, every value decoded, bbolt's own consistency check
// passed. Panics and memory faults (a truncated file read through the mmap)
// become a *corruptError.
func openVerified(path string, timeout time.Duration, readOnly, noSync bool) (db *bolt.DB, err error) {
	var file *os.File
	opened := false
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// bbolt does not clean up after a panic: release the lock and
			// descriptor ourselves so the file can be replaced.
			if db != nil {
				_ = db.Close()
			} else if file != nil {
				_ = file.Close()
			}
			db, err = nil, &corruptError{cause: fmt.Errorf("bbolt panicked reading %s: %v", path, r)}
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:    timeout,
		ReadOnly:   readOnly,
		NoSync:     noSync,
		NoGrowSync: noSync,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			if err == nil {
				file, opened = f, true
			}
			return f, err
		},
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open state %s: %w (waited %s)", path, ErrLocked, timeout)
	case err != nil && (!opened || isSystemError(err)):
		// Missing directory, permissions, mmap or lock failures: the
		// file may be fine, so it is never moved aside for these.
		return nil, fmt.Errorf("open state %s: %w", path, err)
	case err != nil:
		return nil, &corruptError{cause: err}
	}
	if err := verify(db); err != nil {
		_ = db.Close()
		if isSystemError(err) {
			return nil, fmt.Errorf("verify state %s: %w", path, err)
		}
		return nil, &corruptError{cause: err}
	}
	return db, nil
}

// isSystemError reports an error from the operating system rather than
// from the file's content.
func isSystemError(err error) bool {
	var errno syscall.Errno
	var pathErr *fs.PathError
	return errors.As(err, &errno) || errors.As(err, &pathErr)
}

// verify reads the whole database. It runs in the caller's goroutine so that
// openVerified's recover and SetPanicOnFault cover it.
func verify(db *bolt.DB) error {
	info, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	return db.View(func(tx *bolt.Tx) error {
		// Pages past the end of the file would fault when touched.
		if tx.Size() > info.Size() {
			return fmt.Errorf("file is %d bytes, its meta page says %d: truncated", info.Size(), tx.Size())
		}
		if err := walk(tx); err != nil {
			return err
		}
		var first error
		for err := range tx.Check() { // drain: Check's goroutine blocks until read
			if first == nil {
				first = fmt.Errorf("bbolt check: %w", err)
			}
		}
		return first
	})
}

// walk touches every key of every bucket and decodes every value whose
// encoding the store knows.
func walk(tx *bolt.Tx) error {
	if _, err := schemaVersion(tx); err != nil {
		return err
	}
	if pairs := tx.Bucket([]byte(bucketPairs)); pairs != nil {
		err := pairs.ForEachBucket(func(k []byte) error {
			if err := walkPair(pairs.Bucket(k)); err != nil {
				return fmt.Errorf("pair %q: %w", k, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if b := tx.Bucket([]byte(bucketJournal)); b != nil {
		if err := b.ForEach(func(k, v []byte) error {
			var r JournalRecord
			return decodeEnvelope(v, &r, "journal record")
		}); err != nil {
			return err
		}
	}
	if b := tx.Bucket([]byte(bucketMD5)); b != nil {
		if err := b.ForEach(func(k, v []byte) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

func walkPair(pb *bolt.Bucket) error {
	if v := pb.Get([]byte(keyPairMeta)); v != nil {
		var m Meta
		if err := decodeEnvelope(v, &m, "meta"); err != nil {
			return err
		}
	}
	if b := pb.Bucket([]byte(bucketBase)); b != nil {
		if err := b.ForEach(func(k, v []byte) error {
			_, err := decodeEntry(string(k), v)
			return err
		}); err != nil {
			return err
		}
	}
	for _, name := range []string{bucketRID, bucketProblems, bucketConflicts} {
		if b := pb.Bucket([]byte(name)); b != nil {
			if err := b.ForEach(func(k, v []byte) error { return nil }); err != nil {
				return err
			}
		}
	}
	return nil
}

// moveAside renames an unreadable database to <path>.corrupt-<unix time>,
// never over an existing file.
func moveAside(path string) (string, error) {
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	for i := 0; ; i++ {
		dst := path + ".corrupt-" + stamp
		if i > 0 {
			dst += "-" + strconv.Itoa(i)
		}
		if _, err := os.Lstat(dst); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if err := os.Rename(path, dst); err != nil {
			return "", err
		}
		return dst, syncDir(filepath.Dir(path))
	}
}
