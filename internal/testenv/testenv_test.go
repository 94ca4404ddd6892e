package testenv_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
)

// The pieces wired together sync a file up through either endpoint, and
// a restarted host finds what it synced in its state file.
func TestPairSyncsAndRestarts(t *testing.T) {
	for _, inProcess := range []bool{false, true} {
		t.Run(fmt.Sprint("inProcess=", inProcess), func(t *testing.T) {
			s := testenv.NewServer(t, inProcess)
			if s.InProcess() != inProcess {
				t.Fatalf("InProcess() = %v", s.InProcess())
			}
			if !strings.HasSuffix(s.URL, "/api/v2/") {
				t.Fatalf("URL %q is not the API's base", s.URL)
			}
			syncOne(t, s)
		})
	}
}

// The in-process endpoint serves inside a testing/synctest bubble.
func TestInProcessInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		syncOne(t, testenv.NewServer(t, true))
	})
}

func syncOne(t *testing.T, s *testenv.Server) {
	t.Helper()
	h := testenv.OpenHost(t, t.TempDir(), filepath.Join(t.TempDir(), "state.db"))
	p := filepath.Join(h.Dir, "a", "x.txt")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour) // settled: nobody is writing it
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	m, err := local.NewMatcher(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Client(t, testenv.Quick)
	cfg := engine.PairConfig{Key: "p", LocalRoot: h.Dir, RemotePath: "/t/pair", Ignored: m.Match, Host: "h"}
	opt := engine.Options{ValidLocalName: testenv.ValidLocalName}
	ctx := context.Background()
	res, err := h.Bind(c, m).Pair(cfg, opt).Once(ctx, engine.PassOptions{})
	if err != nil || !res.Converged && !res.Complete || res.Done == 0 {
		t.Fatalf("once: %v, %d done, converged %v, complete %v", err, res.Done, res.Converged, res.Complete)
	}
	want := md5hex("hello")
	if got := remoteMD5(s, "/t/pair/a/x.txt"); got != want {
		t.Fatalf("remote a/x.txt has MD5 %q, want %q", got, want)
	}

	if err := h.Restart(); err != nil {
		t.Fatal(err)
	}
	base, err := h.Store.Base(cfg.Key)
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := base["a/x.txt"]; !ok || b.MD5 != want {
		t.Fatalf("after a restart the base holds %+v (found %v), want MD5 %s", b, ok, want)
	}
	res, err = h.Bind(c, m).Pair(cfg, opt).Pass(ctx, engine.PassOptions{})
	if err != nil || len(res.Plan.Ops) != 0 {
		t.Fatalf("the pass after a restart: %v, %d ops planned", err, len(res.Plan.Ops))
	}
}

// A server started with its own account serves that one, and its clients
// use its keys: the demo keys are refused.
func TestServerAccountFromOptions(t *testing.T) {
	acct := emulator.DefaultAccount()
	acct.ID, acct.Username = 7, "other"
	acct.Key1 = strings.Repeat("1", 64)
	acct.Key2 = strings.Repeat("2", 64)
	s := testenv.NewServer(t, false, func(o *emulator.Options) { o.Accounts = []emulator.Account{acct} })
	if s.Account.ID != acct.ID || s.Account.Key1 != acct.Key1 {
		t.Fatalf("server account %d, want %d", s.Account.ID, acct.ID)
	}
	c := s.Client(t, testenv.Quick)
	if _, err := c.List(context.Background(), remote.Root); err != nil {
		t.Fatalf("client of the server's account: %v", err)
	}
	demo := testenv.ClientConfig(s.Endpoint, emulator.DefaultAccount(), testenv.Quick)
	if _, err := testenv.Connect(context.Background(), demo); err == nil {
		t.Fatal("the demo keys authorized against a server that does not serve the demo account")
	}
}

// A closed host holds nothing, closing again is harmless, and it opens
// again on the same files.
func TestHostCloseAndOpen(t *testing.T) {
	h := &testenv.Host{Dir: t.TempDir(), StatePath: filepath.Join(t.TempDir(), "state.db")}
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if h.Store != nil || h.FS != nil {
		t.Fatal("a closed host still holds its store or root")
	}
	h.Close()
	if err := h.Open(); err != nil {
		t.Fatalf("open after close: %v", err)
	}
	defer h.Close()
	// The store is open for real: a second opener waits out its lock.
	other := &testenv.Host{Dir: h.Dir, StatePath: h.StatePath}
	other.StoreOptions.Timeout = 100 * time.Millisecond
	if err := other.Open(); err == nil {
		other.Close()
		t.Fatal("a second host opened a state file the first holds")
	}
	if other.Store != nil || other.FS != nil {
		t.Fatal("a failed open left something open")
	}
}

func remoteMD5(s *testenv.Server, path string) string {
	for _, en := range s.Emu.Dump(s.Account.ID) {
		if en.Status == "active" && !en.Folder && en.Path == path {
			return en.MD5
		}
	}
	return ""
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}
