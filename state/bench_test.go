package state

import (
	"fmt"
	"path/filepath"
	"testing"
)

// benchEntries is a tree of n files in folders of 100, with realistic
// names, ids and hashes.
func benchEntries(n int) []Entry {
	out := make([]Entry, 0, n)
	for i := range n {
		p := fmt.Sprintf("projects/p%03d/src/module_%05d.go", i/100, i)
		e := file(p, fmt.Sprintf("%d", 1_000_000_000+i))
		e.RemoteParentID = fmt.Sprintf("%d", 2_000_000+i/100)
		out = append(out, e)
	}
	return out
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "state.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkCommit10000Puts is one pass recording 10,000 new entries in one
// transaction (fsync included).
func BenchmarkCommit10000Puts(b *testing.B) {
	commitBench(b, func(i int, e Entry) (string, Entry) {
		return fmt.Sprint("pair", i), e // a fresh pair: every Put is an insert
	})
}

// BenchmarkCommit10000Replace rewrites 10,000 existing entries with new
// remote ids (index maintenance on every Put).
func BenchmarkCommit10000Replace(b *testing.B) {
	commitBench(b, func(i int, e Entry) (string, Entry) {
		e.RemoteID = fmt.Sprint(i, "-", e.RemoteID)
		return "p", e
	})
}

// commitBench commits 10,000 entries per iteration, as vary makes them.
func commitBench(b *testing.B, vary func(i int, e Entry) (string, Entry)) {
	entries := benchEntries(10_000)
	s := benchStore(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var batch Batch
		var pair string
		for _, e := range entries {
			var v Entry
			pair, v = vary(i, e)
			batch.Put(v)
		}
		if err := s.Commit(pair, batch); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func storeWith(b *testing.B, n int) (*Store, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var batch Batch
	for _, e := range benchEntries(n) {
		batch.Put(e)
	}
	if err := s.Commit("p", batch); err != nil {
		b.Fatal(err)
	}
	return s, path
}

// BenchmarkBase100000 loads a 100,000-entry base into a map.
func BenchmarkBase100000(b *testing.B) {
	s, _ := storeWith(b, 100_000)
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		m, err := s.Base("p")
		if err != nil || len(m) != 100_000 {
			b.Fatalf("Base: %d entries, %v", len(m), err)
		}
	}
}

// BenchmarkOpen100000 is the cost of Open's full verification (every page
// walked, every value decoded, bbolt's check) on a 100,000-entry store.
func BenchmarkOpen100000(b *testing.B) {
	s, path := storeWith(b, 100_000)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := s.Rebuilt(); ok {
			b.Fatal("rebuilt")
		}
		_ = s.Close()
	}
}

// BenchmarkJournalStep is one journal write (Advance): the fsync cost the
// engine pays before and after each API call.
func BenchmarkJournalStep(b *testing.B) {
	s := benchStore(b)
	seq, err := s.Begin("p", "upload", "start", []byte(`{"path":"a/b/c.txt"}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Advance(seq, "uploaded", []byte(`{"path":"a/b/c.txt","id":"123"}`)); err != nil {
			b.Fatal(err)
		}
	}
}
