package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap/zaptest"
)

// populated writes a closed store with n entries in pair "p" and returns
// its path and page size.
func populated(t *testing.T, n int) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.SetMeta(Meta{LocalRoot: "/l", Initialised: true})
	for i := range n {
		b.Put(file(fmt.Sprintf("dir%02d/file%05d.txt", i%50, i), fmt.Sprint("id", i)))
	}
	if err := s.Commit("p", b); err != nil {
		t.Fatal(err)
	}
	pageSize := s.db.Info().PageSize
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, pageSize
}

// Page header: id uint64, flags uint16, count uint16, overflow uint32.
const (
	pageFlagsOff  = 8
	leafPageFlag  = 0x02
	metaPageFlag  = 0x04
	metaTxidOff   = 16 + 4 + 4 + 4 + 4 + 16 + 8 + 8 // header, magic..pgid
	metaChecksumN = 8
)

// highWater is the end of the pages the newer meta page says are in use.
func highWater(data []byte, pageSize int) int {
	const pgidOff = metaTxidOff - 8
	hw := 0
	var txid uint64
	for _, off := range []int{0, pageSize} {
		if tx := binary.LittleEndian.Uint64(data[off+metaTxidOff:]); tx >= txid {
			txid = tx
			hw = int(binary.LittleEndian.Uint64(data[off+pgidOff:])) * pageSize
		}
	}
	return hw
}

func leafPages(data []byte, pageSize int) []int {
	var out []int
	for off := 2 * pageSize; off+pageSize <= len(data); off += pageSize {
		id := binary.LittleEndian.Uint64(data[off:])
		flags := binary.LittleEndian.Uint16(data[off+pageFlagsOff:])
		if id == uint64(off/pageSize) && flags == leafPageFlag {
			out = append(out, off)
		}
	}
	return out
}

func TestCorruptDatabaseIsMovedAsideAndRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, data []byte, pageSize int) []byte
	}{
		{"random bytes", func(t *testing.T, data []byte, _ int) []byte {
			r := rand.New(rand.NewPCG(1, 2))
			out := make([]byte, 64<<10)
			for i := range out {
				out[i] = byte(r.Uint32())
			}
			return out
		}},
		{"shorter than two pages", func(t *testing.T, data []byte, pageSize int) []byte {
			return data[:pageSize+100]
		}},
		{"truncated to half", func(t *testing.T, data []byte, pageSize int) []byte {
			return data[:len(data)/2/pageSize*pageSize]
		}},
		{"last used page cut off", func(t *testing.T, data []byte, pageSize int) []byte {
			return data[:highWater(data, pageSize)-pageSize]
		}},
		{"both meta checksums broken", func(t *testing.T, data []byte, pageSize int) []byte {
			data[metaTxidOff] ^= 0xff
			data[pageSize+metaTxidOff] ^= 0xff
			return data
		}},
		{"leaf page type flipped", func(t *testing.T, data []byte, pageSize int) []byte {
			leaves := leafPages(data, pageSize)
			if len(leaves) < 3 {
				t.Fatalf("only %d leaf pages", len(leaves))
			}
			off := leaves[len(leaves)/2]
			data[off+pageFlagsOff] ^= 0xff
			return data
		}},
		{"leaf element count flipped", func(t *testing.T, data []byte, pageSize int) []byte {
			leaves := leafPages(data, pageSize)
			off := leaves[len(leaves)/2]
			data[off+pageFlagsOff+3] ^= 0x7f // high byte of count
			return data
		}},
		{"entry value garbage", nil}, // a sound bbolt file holding an undecodable entry
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, pageSize := populated(t, 3000)
			if tc.damage == nil {
				db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				err = db.Update(func(tx *bolt.Tx) error {
					return subBucket(tx, "p", bucketBase).Put([]byte("dir00/file00000.txt"), []byte{1, 1, 0, 0xff})
				})
				if err != nil {
					t.Fatal(err)
				}
				_ = db.Close()
			} else {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tc.damage(t, data, pageSize), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			damaged, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			s, err := Open(path, Options{Logger: zaptest.NewLogger(t)})
			if err != nil {
				t.Fatalf("Open of a damaged database: %v", err)
			}
			backup, ok := s.Rebuilt()
			if !ok {
				_ = s.Close()
				t.Fatal("damaged database not reported as rebuilt")
			}
			moved, err := os.ReadFile(backup)
			if err != nil || !bytes.Equal(moved, damaged) {
				t.Errorf("backup %s does not hold the damaged file (err %v)", backup, err)
			}
			if filepath.Dir(backup) != filepath.Dir(path) || len(backup) <= len(path+".corrupt-") {
				t.Errorf("backup path %s", backup)
			}
			pairs, err := s.Pairs()
			if err != nil || len(pairs) != 0 {
				t.Errorf("rebuilt store has pairs %v, %v", pairs, err)
			}
			commit(t, s, "p", func(b *Batch) { b.Put(file("x", "1")) })
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, ok := s.Rebuilt(); ok {
				t.Error("the rebuilt store was rebuilt again")
			}
			if _, ok, _ := s.Lookup("p", "x"); !ok {
				t.Error("rebuilt store lost its first commit")
			}
		})
	}
}

// One damaged meta page is bbolt's normal recovery path (it keeps two):
// the store opens without a rebuild.
func TestOneDamagedMetaPageIsNotARebuild(t *testing.T) {
	path, pageSize := populated(t, 100)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Damage the meta with the lower txid: the other holds the last commit.
	tx0 := binary.LittleEndian.Uint64(data[metaTxidOff:])
	tx1 := binary.LittleEndian.Uint64(data[pageSize+metaTxidOff:])
	off := 0
	if tx1 < tx0 {
		off = pageSize
	}
	data[off+metaTxidOff] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.Rebuilt(); ok {
		t.Fatal("rebuilt although one meta page was sound")
	}
	b, err := s.Base("p")
	if err != nil || len(b) != 100 {
		t.Errorf("Base: %d entries, %v; want 100", len(b), err)
	}
}

func TestReadOnlyOpenOfCorruptDatabaseDoesNotMoveIt(t *testing.T) {
	path, _ := populated(t, 10)
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xa5}, 32<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(path, time.Second); !errors.Is(err, ErrCorrupt) {
		t.Errorf("OpenReadOnly of garbage: %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("read-only open moved the file: %v", err)
	}
}

// A read-only open maps the file without growing it: pages cut off by a
// truncation would fault, which must become ErrCorrupt, not a crash.
func TestReadOnlyOpenOfTruncatedDatabase(t *testing.T) {
	path, pageSize := populated(t, 3000)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var used int // bytes below bbolt's high-water mark; the rest is preallocation
	_ = db.View(func(tx *bolt.Tx) error { used = int(tx.Size()); return nil })
	_ = db.Close()
	for _, size := range []int{used - pageSize, used / 2 / pageSize * pageSize, 3 * pageSize} {
		if err := os.WriteFile(path, data[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenReadOnly(path, time.Second)
		if err == nil {
			_ = s.Close()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("OpenReadOnly truncated to %d of %d bytes: %v, want ErrCorrupt", size, len(data), err)
		}
		t.Logf("%d bytes: %v", size, err)
	}
}
