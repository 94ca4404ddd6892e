package state

import (
	"path/filepath"
	"testing"
)

func TestBatchClosesJournalWithTheBase(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.Begin("p", "upload", "begun", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Begin("p", "upload", "begun", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var batch Batch
	batch.Put(Entry{Path: "x", Kind: KindFile, RemoteID: "1"})
	batch.JournalDone(a)
	if err := s.Commit("p", batch); err != nil {
		t.Fatal(err)
	}
	pending, err := s.Pending("p")
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Seq != b {
		t.Fatalf("pending after closing %d in a batch: %+v", a, pending)
	}
	if _, ok, _ := s.Lookup("p", "x"); !ok {
		t.Fatal("base entry of the same batch missing")
	}
}
