package state

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The journal records multi-step operations while they run, so that a
// restart finds what a crash interrupted. Each call is its own fsync'd write
// transaction (never bbolt's Batch, whose function may run twice): when the
// call returns, the record is on disk.

func journalKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Begin records the start of an operation of pair and returns its sequence
// number, increasing across the store's life.
func (s *Store) Begin(pair, op, step string, data []byte) (uint64, error) {
	seqs, err := s.BeginAll(pair, []NewRecord{{Op: op, Step: step, Data: data}})
	if err != nil {
		return 0, err
	}
	return seqs[0], nil
}

// NewRecord is an operation BeginAll records.
type NewRecord struct {
	Op, Step string
	Data     []byte
}

// BeginAll records the start of several operations of pair in one
// transaction (one fsync for all: the engine journals a batch of uploads
// before it starts them) and returns their sequence numbers in order.
func (s *Store) BeginAll(pair string, recs []NewRecord) ([]uint64, error) {
	seqs := make([]uint64, len(recs))
	now := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketJournal))
		for i, r := range recs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			v, err := encodeEnvelope(JournalRecord{
				Seq: seq, Pair: pair, Op: r.Op, Step: r.Step, Data: r.Data, Started: now,
			})
			if err != nil {
				return err
			}
			if err := b.Put(journalKey(seq), v); err != nil {
				return err
			}
			seqs[i] = seq
		}
		return nil
	})
	if err != nil {
		what := "records"
		if len(recs) == 1 {
			what = recs[0].Op + " " + recs[0].Step
		}
		return nil, fmt.Errorf("journal begin %d %s of pair %s: %w", len(recs), what, pair, err)
	}
	return seqs, nil
}

// Advance records that operation seq reached step, with new data.
func (s *Store) Advance(seq uint64, step string, data []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketJournal))
		old := b.Get(journalKey(seq))
		if old == nil {
			return ErrNotFound
		}
		var r JournalRecord
		if err := decodeEnvelope(old, &r, "journal record"); err != nil {
			return err
		}
		r.Step, r.Data = step, data
		v, err := encodeEnvelope(r)
		if err != nil {
			return err
		}
		return b.Put(journalKey(seq), v)
	})
	if err != nil {
		return fmt.Errorf("journal advance %d to %s: %w", seq, step, err)
	}
	return nil
}

// Done removes operation seq: it completed, or the engine resolved it. A
// missing record is not an error, so Done may be repeated.
func (s *Store) Done(seq uint64) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketJournal)).Delete(journalKey(seq))
	})
	if err != nil {
		return fmt.Errorf("journal done %d: %w", seq, err)
	}
	return nil
}

// Pending returns pair's unfinished operations in Seq order.
func (s *Store) Pending(pair string) ([]JournalRecord, error) {
	var out []JournalRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = pendingIn(tx, pair)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("journal of pair %s: %w", pair, err)
	}
	return out, nil
}

// pendingIn scans the whole journal: it holds only in-flight operations, a
// handful at any time.
func pendingIn(tx *bolt.Tx, pair string) ([]JournalRecord, error) {
	b := tx.Bucket([]byte(bucketJournal))
	if b == nil {
		return nil, nil
	}
	var out []JournalRecord
	err := b.ForEach(func(k, v []byte) error {
		var r JournalRecord
		if err := decodeEnvelope(v, &r, "journal record"); err != nil {
			return fmt.Errorf("journal key %x: %w", k, err)
		}
		if r.Pair == pair {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
