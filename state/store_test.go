package state

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) {
	if os.Getenv("SYNCD_STATE_HOLD_LOCK") != "" {
		holdLock(os.Getenv("SYNCD_STATE_HOLD_LOCK"))
		return
	}
	goleak.VerifyTestMain(m)
}

// holdLock is the child process of TestOpenLockedByOtherProcess: it opens
// the store, says so, and keeps it until its stdin closes.
func holdLock(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_ = s.Close()
	os.Exit(0)
}

func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestOpenNewStoreIsEmptyAndCurrent(t *testing.T) {
	s, _ := openTest(t)
	if _, ok := s.Rebuilt(); ok {
		t.Error("a new store reports Rebuilt")
	}
	pairs, err := s.Pairs()
	if err != nil || len(pairs) != 0 {
		t.Fatalf("Pairs() = %v, %v; want none", pairs, err)
	}
	if got := readSchema(t, s); got != SchemaVersion() {
		t.Errorf("schema = %d, want %d", got, SchemaVersion())
	}
	base, err := s.Base("nope")
	if err != nil || len(base) != 0 {
		t.Errorf("Base of unknown pair = %v, %v", base, err)
	}
	if _, ok, err := s.Meta("nope"); ok || err != nil {
		t.Errorf("Meta of unknown pair: ok=%v err=%v", ok, err)
	}
}

func TestSecondOpenInProcessFailsFast(t *testing.T) {
	_, path := openTest(t)
	start := time.Now()
	_, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("second Open took %s", el)
	}
	if msg := err.Error(); !strings.Contains(msg, path) {
		t.Errorf("error %q does not name %s", msg, path)
	}
	if _, err := OpenReadOnly(path, 100*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Errorf("OpenReadOnly while held: %v, want ErrLocked", err)
	}
}

func TestOpenLockedByOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SYNCD_STATE_HOLD_LOCK="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Errorf("Open while another process holds the lock: %v, want ErrLocked", err)
	}
	_, err = OpenReadOnly(path, 100*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Errorf("OpenReadOnly while another process holds the lock: %v, want ErrLocked", err)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	s, err := Open(path, Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("Open after the child exited: %v", err)
	}
	_ = s.Close()
}

func TestOpenReadOnlyReadsCommittedState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.SetMeta(Meta{LocalRoot: "/srv", RemotePath: "/r", Initialised: true})
	b.Put(Entry{Path: "a", Kind: KindFile, LocalName: "a", RemoteName: "a", Size: 1, RemoteID: "f1"})
	if err := s.Commit("p", b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r1, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := OpenReadOnly(path, time.Second) // shared lock: readers coexist
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	sum, err := r2.Summary("p")
	if err != nil {
		t.Fatal(err)
	}
	if !sum.HasMeta || sum.Meta.LocalRoot != "/srv" || sum.Entries != 1 {
		t.Errorf("Summary = %+v", sum)
	}
	if err := r1.Commit("p", Batch{}); err == nil {
		t.Error("Commit on a read-only store succeeded")
	}
}

func TestOpenReadOnlyMissingFile(t *testing.T) {
	_, err := OpenReadOnly(filepath.Join(t.TempDir(), "none.db"), time.Second)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadOnly of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestOpenInMissingDirectoryIsNotARebuild(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "state.db")
	_, err := Open(path, Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open in a missing directory: %v, want fs.ErrNotExist", err)
	}
}

// NoSync reaches bbolt (no fsync at commit or when the file grows), only
// when asked, and what was committed is in the file for the next open.
func TestOpenNoSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	for _, noSync := range []bool{false, true} {
		s, err := Open(path, Options{NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		if s.db.NoSync != noSync || s.db.NoGrowSync != noSync {
			t.Errorf("Options{NoSync: %v}: bbolt NoSync=%v NoGrowSync=%v", noSync, s.db.NoSync, s.db.NoGrowSync)
		}
		if noSync {
			if _, err := s.Begin("pair", "upload", "start", []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.Pending("pair")
	if err != nil || len(recs) != 1 || string(recs[0].Data) != "x" {
		t.Fatalf("after a NoSync commit and a reopen, Pending = %+v, %v; want the one record", recs, err)
	}
}
