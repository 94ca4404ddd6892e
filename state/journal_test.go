package state

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestJournalLifecycleSurvivesReopen(t *testing.T) {
	s, path := openTest(t)
	before := time.Now()
	s1, err := s.Begin("p", "replace", "uploading", []byte(`{"path":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := s.Begin("q", "upload", "start", nil)
	if err != nil {
		t.Fatal(err)
	}
	s3, err := s.Begin("p", "move", "start", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if !(s1 < s2 && s2 < s3) {
		t.Fatalf("sequence not increasing: %d %d %d", s1, s2, s3)
	}
	if err := s.Advance(s1, "uploaded", []byte(`{"path":"a","new":"f9"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(s3); err != nil {
		t.Fatal(err)
	}
	// A crash now: the records must be on disk.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Pending("p")
	if err != nil {
		t.Fatal(err)
	}
	want := []JournalRecord{{Seq: s1, Pair: "p", Op: "replace", Step: "uploaded", Data: []byte(`{"path":"a","new":"f9"}`)}}
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(JournalRecord{}, "Started")); d != "" {
		t.Errorf("Pending(p) (-want +got):\n%s", d)
	}
	if len(got) == 1 && got[0].Started.Before(before.Add(-time.Second)) {
		t.Errorf("Started = %v, before the test began", got[0].Started)
	}
	sum, _ := s.Summary("q")
	if sum.InFlight != 1 {
		t.Errorf("Summary(q).InFlight = %d, want 1", sum.InFlight)
	}
	// Sequence numbers are never reused after a reopen.
	s4, err := s.Begin("p", "x", "y", nil)
	if err != nil || s4 <= s3 {
		t.Errorf("Begin after reopen = %d, %v; want > %d", s4, err, s3)
	}
	if err := s.Done(s1); err != nil {
		t.Fatal(err)
	}
	if err := s.Done(s1); err != nil {
		t.Errorf("repeated Done: %v", err)
	}
	if err := s.Advance(s1, "late", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Advance of a finished op: %v, want ErrNotFound", err)
	}
	got, _ = s.Pending("p")
	if len(got) != 1 || got[0].Seq != s4 {
		t.Errorf("Pending(p) = %+v, want only %d", got, s4)
	}
}

func TestJournalInOrder(t *testing.T) {
	s, _ := openTest(t)
	var want []uint64
	for range 300 { // past 255: order must be numeric, not by the first byte
		seq, err := s.Begin("p", "op", "s", nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, seq)
	}
	got, err := s.Pending("p")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, r := range got {
		seqs = append(seqs, r.Seq)
	}
	if d := cmp.Diff(want, seqs); d != "" {
		t.Errorf("Pending order (-want +got):\n%s", d)
	}
}
