package state

import (
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// pairBucket is the pair's bucket, or nil when the pair was never committed.
func pairBucket(tx *bolt.Tx, pair string) *bolt.Bucket {
	pairs := tx.Bucket([]byte(bucketPairs))
	if pairs == nil {
		return nil
	}
	return pairs.Bucket([]byte(pair))
}

func subBucket(tx *bolt.Tx, pair, name string) *bolt.Bucket {
	pb := pairBucket(tx, pair)
	if pb == nil {
		return nil
	}
	return pb.Bucket([]byte(name))
}

// Base returns the pair's synced tree keyed by path; empty for a pair never
// committed. The values are copies owned by the caller.
func (s *Store) Base(pair string) (map[string]Entry, error) {
	var out map[string]Entry
	err := s.EachBase(pair, func(n int) { out = make(map[string]Entry, n) }, func(e Entry) { out[e.Path] = e })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EachBase calls size with the number of entries, then each with every base
// entry of pair, in path order, without building a map of its own (a caller
// converting the entries to its own type then holds them only once). The
// entries' strings share one allocation.
func (s *Store) EachBase(pair string, size func(n int), each func(Entry)) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		b := subBucket(tx, pair, bucketBase)
		if b == nil {
			size(0)
			return nil
		}
		// Copy every key and value into arenas of chunkSize bytes, each
		// of which becomes one string (strings.Builder hands its bytes
		// over without a copy): the entries' strings are substrings of
		// them, one allocation per chunk instead of six per entry, and no
		// arena grown by copying.
		//
		// The pages read are released as the copy goes (releaseMap): a
		// later pass reads the base while the heap of the previous ones is
		// still resident, and the whole file mapped on top of it was that
		// pass's peak. (Hence no b.Stats() to size one arena: it reads
		// every page at once.)
		hint := int(min(b.Sequence(), 1<<24))
		type span struct{ chunk, start, keyLen, end int }
		spans := make([]span, 0, hint)
		var chunks []string
		var arena strings.Builder
		copied, released := 0, 0
		if err := b.ForEach(func(k, v []byte) error {
			if n := len(k) + len(v); arena.Len()+n > arena.Cap() {
				if arena.Len() > 0 {
					chunks = append(chunks, arena.String())
				}
				arena = strings.Builder{}
				arena.Grow(max(chunkSize, n))
			}
			start := arena.Len()
			arena.Write(k)
			arena.Write(v)
			spans = append(spans, span{len(chunks), start, len(k), arena.Len()})
			if copied += len(k) + len(v); copied-released >= releaseEvery {
				releaseMap(s.db, tx)
				released = copied
			}
			return nil
		}); err != nil {
			return err
		}
		chunks = append(chunks, arena.String())
		size(len(spans))
		for _, sp := range spans {
			all := chunks[sp.chunk]
			e, err := decodeEntryJoined(all[sp.start:sp.end], sp.keyLen)
			if err != nil {
				return fmt.Errorf("entry %s: %w", all[sp.start:sp.start+sp.keyLen], err)
			}
			each(e)
		}
		releaseMap(s.db, tx) // the entries are copies: the pages are not needed now
		return nil
	})
	if err != nil {
		return fmt.Errorf("load base of pair %s: %w", pair, err)
	}
	return nil
}

// chunkSize is the size of EachBase's arenas, and releaseEvery how many
// bytes of base it copies between releases of the map (with pages half
// full and their neighbours mapped with them, a few times that stays
// resident at most).
const (
	chunkSize    = 1 << 20
	releaseEvery = 1 << 20
)

// Lookup returns the base entry at path.
func (s *Store) Lookup(pair, path string) (Entry, bool, error) {
	var e Entry
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := subBucket(tx, pair, bucketBase)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(path))
		if v == nil {
			return nil
		}
		var err error
		e, err = decodeEntry(path, v)
		ok = err == nil
		return err
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("lookup %s in pair %s: %w", path, pair, err)
	}
	return e, ok, nil
}

// PathOfRemoteID returns the base path whose entry of the kind (KindFile or
// KindDir: files and folders are numbered separately) has the remote id;
// the pair's RemoteRootID, a folder, maps to "" (the root).
func (s *Store) PathOfRemoteID(pair string, kind uint8, id string) (string, bool, error) {
	var path string
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		pb := pairBucket(tx, pair)
		if pb == nil {
			return nil
		}
		if v := pb.Get([]byte(keyPairMeta)); v != nil {
			var m Meta
			if err := decodeEnvelope(v, &m, "meta"); err != nil {
				return err
			}
			if kind == KindDir && m.RemoteRootID == id {
				ok = true
				return nil
			}
		}
		if id == "" {
			return nil
		}
		if p := pb.Bucket([]byte(bucketRID)).Get([]byte(ridKey(kind, id))); p != nil {
			path, ok = string(p), true
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("path of remote id %s in pair %s: %w", id, pair, err)
	}
	return path, ok, nil
}

// Meta returns the pair's meta; ok is false when none was ever committed.
func (s *Store) Meta(pair string) (Meta, bool, error) {
	var m Meta
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		m, ok, err = readMeta(tx, pair)
		return err
	})
	if err != nil {
		return Meta{}, false, fmt.Errorf("meta of pair %s: %w", pair, err)
	}
	return m, ok, nil
}

func readMeta(tx *bolt.Tx, pair string) (Meta, bool, error) {
	var m Meta
	pb := pairBucket(tx, pair)
	if pb == nil {
		return m, false, nil
	}
	v := pb.Get([]byte(keyPairMeta))
	if v == nil {
		return m, false, nil
	}
	if err := decodeEnvelope(v, &m, "meta"); err != nil {
		return Meta{}, false, err
	}
	return m, true, nil
}

// Pairs lists the keys of every pair ever committed, sorted.
func (s *Store) Pairs() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		pairs := tx.Bucket([]byte(bucketPairs))
		if pairs == nil {
			return nil
		}
		return pairs.ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list pairs: %w", err)
	}
	return out, nil // bbolt keys are sorted bytewise
}

// DeletePair forgets everything about a pair except its journal records
// (a pair removed from the configuration).
func (s *Store) DeletePair(pair string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		pairs := tx.Bucket([]byte(bucketPairs))
		if pairs == nil || pairs.Bucket([]byte(pair)) == nil {
			return nil
		}
		return pairs.DeleteBucket([]byte(pair))
	})
	if err != nil {
		return fmt.Errorf("delete pair %s: %w", pair, err)
	}
	return nil
}

// RemoteMD5 returns the cached MD5 of a remote file id.
func (s *Store) RemoteMD5(id string) (string, bool, error) {
	var md5 string
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketMD5))
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(id)); v != nil {
			md5, ok = string(v), true
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("remote md5 of %s: %w", id, err)
	}
	return md5, ok, nil
}

// Problems returns the pair's known problems keyed by path.
func (s *Store) Problems(pair string) (map[string]Problem, error) {
	out := map[string]Problem{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := subBucket(tx, pair, bucketProblems)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			p, err := decodeProblem(v, string(k))
			if err != nil {
				return err
			}
			out[string(k)] = p
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("problems of pair %s: %w", pair, err)
	}
	return out, nil
}

// Conflicts returns the pair's conflicts log, oldest first.
func (s *Store) Conflicts(pair string) ([]Conflict, error) {
	var out []Conflict
	err := s.db.View(func(tx *bolt.Tx) error {
		b := subBucket(tx, pair, bucketConflicts)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var c Conflict
			if err := decodeEnvelope(v, &c, "conflict"); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("conflicts of pair %s: %w", pair, err)
	}
	return out, nil
}

// Summary returns the pair's meta and counts, read in one transaction.
func (s *Store) Summary(pair string) (Summary, error) {
	sum := Summary{Pair: pair}
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if sum.Meta, sum.HasMeta, err = readMeta(tx, pair); err != nil {
			return err
		}
		if pb := pairBucket(tx, pair); pb != nil {
			sum.Entries = pb.Bucket([]byte(bucketBase)).Stats().KeyN
			sum.Problems = pb.Bucket([]byte(bucketProblems)).Stats().KeyN
			sum.Conflicts = pb.Bucket([]byte(bucketConflicts)).Stats().KeyN
		}
		recs, err := pendingIn(tx, pair)
		sum.InFlight = len(recs)
		return err
	})
	if err != nil {
		return Summary{}, fmt.Errorf("summary of pair %s: %w", pair, err)
	}
	return sum, nil
}
