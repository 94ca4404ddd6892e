package state

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func readSchema(t *testing.T, s *Store) uint64 {
	t.Helper()
	var v uint64
	if err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = schemaVersion(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// rawDB creates a bbolt file the way an older or newer syncd would have
// left it.
func rawDB(t *testing.T, fn func(tx *bolt.Tx) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Migration 1 on a version-0 database (a bbolt file no syncd wrote to):
// the top-level buckets appear and the version becomes 1.
func TestMigration1CreatesBuckets(t *testing.T) {
	path := rawDB(t, func(tx *bolt.Tx) error { return nil })
	s, err := openWith(path, Options{}, migrations()[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := readSchema(t, s); got != 1 {
		t.Errorf("schema = %d, want 1", got)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{bucketMeta, bucketPairs, bucketMD5, bucketJournal} {
			if tx.Bucket([]byte(name)) == nil {
				t.Errorf("bucket %s missing after migration 1", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A database at an older version gets exactly the migrations it lacks, and
// keeps its data. Version 2 here is a test migration: it shows how the next
// real one slots in.
func TestOlderSchemaIsMigratedInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := openWith(path, Options{}, migrations()[:1])
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.Put(Entry{Path: "kept", Kind: KindFile, LocalName: "kept", RemoteName: "kept", RemoteID: "f1"})
	if err := s.Commit("p", b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var ran []string
	v2 := migration{name: "test v2", fn: func(tx *bolt.Tx) error {
		ran = append(ran, "v2")
		_, err := tx.CreateBucket([]byte("v2-bucket"))
		return err
	}}
	migs := append(migrations()[:1:1], v2)
	s, err = openWith(path, Options{}, migs)
	if err != nil {
		t.Fatal(err)
	}
	if got := readSchema(t, s); got != 2 {
		t.Errorf("schema = %d, want 2", got)
	}
	if len(ran) != 1 {
		t.Errorf("migration 2 ran %d times, want 1", len(ran))
	}
	if _, ok, err := s.Lookup("p", "kept"); !ok || err != nil {
		t.Errorf("entry lost in migration: ok=%v err=%v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening at the current version runs nothing.
	s, err = openWith(path, Options{}, migs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(ran) != 1 {
		t.Errorf("migration 2 ran again on reopen")
	}
}

// A failing migration leaves the database at the version before it, with
// none of its changes.
func TestFailedMigrationKeepsVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := openWith(path, Options{}, migrations()[:1])
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	boom := errors.New("boom")
	bad := migration{name: "bad", fn: func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half-done")); err != nil {
			return err
		}
		return boom
	}}
	if _, err := openWith(path, Options{}, append(migrations()[:1:1], bad)); !errors.Is(err, boom) {
		t.Fatalf("open with failing migration: %v, want boom", err)
	}
	s, err = openWith(path, Options{}, migrations()[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := readSchema(t, s); got != 1 {
		t.Errorf("schema = %d after failed migration, want 1", got)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("half-done")) != nil {
			t.Error("failed migration's change was committed")
		}
		return nil
	})
}

// A schema newer than the binary is refused, clearly, and the file is left
// alone: it is not corrupt, just from the future.
func TestNewerSchemaIsRefusedNotRebuilt(t *testing.T) {
	future := SchemaVersion() + 1
	path := rawDB(t, func(tx *bolt.Tx) error {
		if err := migrateCreateBuckets(tx); err != nil {
			return err
		}
		return putSchemaVersion(tx, future)
	})
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	t.Logf("message: %v", err)
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("Open modified a database with a newer schema")
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 {
		t.Errorf("newer schema was moved aside: %v", m)
	}
	if _, err := OpenReadOnly(path, time.Second); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("OpenReadOnly of a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestReadOnlyRefusesUnmigrated(t *testing.T) {
	path := rawDB(t, func(tx *bolt.Tx) error { return nil })
	if _, err := OpenReadOnly(path, time.Second); !errors.Is(err, ErrSchemaOld) {
		t.Errorf("OpenReadOnly of a version-0 database: %v, want ErrSchemaOld", err)
	}
}
