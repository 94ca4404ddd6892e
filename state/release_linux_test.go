package state

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// mappedRSS is how much of the file at path this process's memory maps hold
// resident, in bytes (from /proc/self/smaps).
func mappedRSS(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) == 6 && fields[5] == path
			continue
		}
		if in && fields[0] == "Rss:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// Reading the base leaves none of the database's pages resident (they
// would count in the RSS of a pass that holds the base as its own copy),
// and the store reads on correctly afterwards.
func TestBaseLeavesTheMapReleased(t *testing.T) {
	s, path := openTest(t)
	entries := benchEntries(60_000)
	var batch Batch
	for _, e := range entries {
		batch.Put(e)
	}
	if err := s.Commit("p", batch); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lookup("p", entries[0].Path); err != nil {
		t.Fatal(err)
	}
	// The commit itself reads pages through the map: some are resident.
	if before := mappedRSS(t, path); before == 0 {
		t.Fatal("no page of the database is resident before reading the base: is the map measured at all?")
	}
	// Nor do they pile up while it is read (the pages of the whole base
	// on top of a heap still holding the previous pass's were a daemon's
	// peak): size is called once every entry is copied.
	var during int64
	err = s.EachBase("p", func(int) { during = mappedRSS(t, path) }, func(Entry) {})
	if err != nil {
		t.Fatal(err)
	}
	if during > fi.Size()/8 {
		t.Errorf("while reading the base %d of the file's %d bytes were resident", during, fi.Size())
	}
	base, err := s.Base("p")
	if err != nil || len(base) != len(entries) {
		t.Fatalf("Base: %d entries, %v", len(base), err)
	}
	if after := mappedRSS(t, path); after > fi.Size()/16 {
		t.Errorf("after reading the base %d of the file's %d bytes stay resident", after, fi.Size())
	}
	for _, e := range []Entry{entries[0], entries[len(entries)/2], entries[len(entries)-1]} {
		got, ok, err := s.Lookup("p", e.Path)
		if err != nil || !ok || got != e || base[e.Path] != e {
			t.Fatalf("after release: Lookup(%s) = %+v, %v, %v; Base has %+v; want %+v", e.Path, got, ok, err, base[e.Path], e)
		}
	}
}
