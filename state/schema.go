package state

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// Bucket and key names: the only place they are spelled. doc.go draws them.
const (
	bucketMeta      = "meta"
	bucketPairs     = "pairs"
	bucketMD5       = "md5"
	bucketJournal   = "journal"
	bucketBase      = "base"
	bucketRID       = "rid"
	bucketProblems  = "problems"
	bucketConflicts = "conflicts"

	keySchema   = "schema"
	keyPairMeta = "meta"
)

// migration moves the schema from version i to i+1, where i is its index in
// the slice. It runs inside the same write transaction that records the new
// version, so a failure leaves the database at version i.
type migration struct {
	name string
	fn   func(tx *bolt.Tx) error
}

// migrations returns the ordered schema migrations this binary knows; the
// current schema version is their count. Append only: never edit or reorder
// a migration that has shipped.
func migrations() []migration {
	return []migration{
		{name: "create initial buckets", fn: migrateCreateBuckets},
	}
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() uint64 { return uint64(len(migrations())) }

// migrateCreateBuckets is migration 1: the top-level buckets. Pair buckets
// are created on a pair's first Commit.
func migrateCreateBuckets(tx *bolt.Tx) error {
	for _, name := range []string{bucketMeta, bucketPairs, bucketMD5, bucketJournal} {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// schemaVersion reads the recorded version; 0 means a database no migration
// has touched (a new file).
func schemaVersion(tx *bolt.Tx) (uint64, error) {
	b := tx.Bucket([]byte(bucketMeta))
	if b == nil {
		return 0, nil
	}
	v := b.Get([]byte(keySchema))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("schema version is %d bytes: %w", len(v), ErrCorrupt)
	}
	return binary.BigEndian.Uint64(v), nil
}

func putSchemaVersion(tx *bolt.Tx, v uint64) error {
	b, err := tx.CreateBucketIfNotExists([]byte(bucketMeta))
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketMeta, err)
	}
	return b.Put([]byte(keySchema), binary.BigEndian.AppendUint64(nil, v))
}

// migrate applies every migration the database lacks, each with its version
// bump in one transaction. A database newer than migs is refused.
func migrate(db *bolt.DB, migs []migration, log *zap.Logger) error {
	var have uint64
	if err := db.View(func(tx *bolt.Tx) error {
		var err error
		have, err = schemaVersion(tx)
		return err
	}); err != nil {
		return err
	}
	want := uint64(len(migs))
	if have > want {
		return fmt.Errorf("%s has schema version %d, this syncd knows up to %d (upgrade syncd): %w",
			db.Path(), have, want, ErrSchemaTooNew)
	}
	for v := have; v < want; v++ {
		m := migs[v]
		err := db.Update(func(tx *bolt.Tx) error {
			// Re-read inside the transaction: the version and the change it
			// guards must agree.
			cur, err := schemaVersion(tx)
			if err != nil {
				return err
			}
			if cur != v {
				return fmt.Errorf("schema version changed to %d during migration", cur)
			}
			if err := m.fn(tx); err != nil {
				return err
			}
			return putSchemaVersion(tx, v+1)
		})
		if err != nil {
			return fmt.Errorf("migrate %s to schema %d (%s): %w", db.Path(), v+1, m.name, err)
		}
		log.Info("state schema migrated", zap.String("db", db.Path()),
			zap.Uint64("version", v+1), zap.String("migration", m.name))
	}
	return nil
}
