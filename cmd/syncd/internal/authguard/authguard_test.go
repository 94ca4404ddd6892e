package authguard_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/cmd/syncd/internal/authguard"
	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
)

// serve starts the emulator with the given lockout threshold.
func serve(t *testing.T, lockout int) string {
	t.Helper()
	emu, err := emulator.New(emulator.Options{DataDir: t.TempDir(), NoSync: true, Lockout: lockout})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() { srv.Close(); emu.Close() })
	return srv.URL + "/api/v2/"
}

func bad(n byte) (string, string) {
	return strings.Repeat(string('a'+n), 64), strings.Repeat("b", 64)
}

// authorize runs one authorization as one process does: a fresh client
// with a guard on dir.
func authorize(t *testing.T, url, dir string, retry bool, k1, k2 string) error {
	t.Helper()
	c, err := remote.New(remote.Config{URL: url, Key1: k1, Key2: k2, AuthGuard: &authguard.Guard{Dir: dir, Retry: retry}})
	if err != nil {
		t.Fatal(err)
	}
	return c.Authorize(context.Background())
}

func good() (string, string) {
	a := emulator.DefaultAccount()
	return a.Key1, a.Key2
}

// A refused pair is sent once, however many processes try it, and the good
// pair is not held back by it. With the server's lockout at 2, a second
// failed request would lock the good keys out too.
func TestRefusedPairIsSentOnceAcrossConcurrentClients(t *testing.T) {
	url, dir := serve(t, 2), t.TempDir()
	k1, k2 := bad(0)
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = authorize(t, url, dir, false, k1, k2)
		}()
	}
	wg.Wait()
	withheld := 0
	for i, err := range errs {
		if !errors.Is(err, remote.ErrBadKeys) {
			t.Fatalf("client %d: %v, want ErrBadKeys", i, err)
		}
		var w *authguard.Withheld
		if errors.As(err, &w) {
			withheld++
		}
	}
	if withheld != len(errs)-1 {
		t.Fatalf("%d of %d authorizations withheld, want all but one", withheld, len(errs))
	}
	if err := authorize(t, url, dir, false, k1, k2); !errors.As(err, new(*authguard.Withheld)) {
		t.Fatalf("the same pair later: %v, want withheld", err)
	}
	g1, g2 := good()
	if err := authorize(t, url, dir, false, g1, g2); err != nil {
		t.Fatalf("good keys after a refused pair: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, authguard.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), k1) || strings.Contains(string(data), g1) {
		t.Fatal("the guard's file holds a key")
	}
	if fi, _ := os.Stat(filepath.Join(dir, authguard.FileName)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("guard file mode %v, want 0600", fi.Mode().Perm())
	}
}

// Distinct bad pairs are sent until MaxFailures; then nothing is, not even
// good keys, until -retry-auth allows one more; the server's own lockout
// (5) is never reached.
func TestFailureBudgetAcrossKeyPairs(t *testing.T) {
	url, dir := serve(t, 5), t.TempDir()
	for i := range authguard.MaxFailures {
		k1, k2 := bad(byte(i))
		err := authorize(t, url, dir, false, k1, k2)
		if !errors.Is(err, remote.ErrBadKeys) || errors.As(err, new(*authguard.Withheld)) {
			t.Fatalf("pair %d: %v, want a refusal by the server", i, err)
		}
	}
	k1, k2 := bad(9)
	if err := authorize(t, url, dir, false, k1, k2); !errors.As(err, new(*authguard.Withheld)) || !strings.Contains(err.Error(), "-retry-auth") {
		t.Fatalf("a new pair beyond the budget: %v, want withheld naming -retry-auth", err)
	}
	g1, g2 := good()
	st, err := (&authguard.Guard{Dir: dir}).Inspect(context.Background(), g1, g2)
	if err != nil || st.Failures != authguard.MaxFailures || st.Refused != nil || st.Blocked == "" {
		t.Fatalf("inspect: %+v %v", st, err)
	}
	// The operator's explicit retry gets one more attempt: good keys work.
	if err := authorize(t, url, dir, true, g1, g2); err != nil {
		t.Fatalf("good keys with -retry-auth: %v", err)
	}
	// A failing retry uses the last attempt below the ban...
	if err := authorize(t, url, dir, true, k1, k2); !errors.Is(err, remote.ErrBadKeys) || errors.As(err, new(*authguard.Withheld)) {
		t.Fatalf("retry: %v, want a refusal by the server", err)
	}
	// ...and then even -retry-auth is withheld.
	if err := authorize(t, url, dir, true, g1, g2); !errors.As(err, new(*authguard.Withheld)) {
		t.Fatalf("beyond the retry budget: %v, want withheld", err)
	}
	// The server never banned the IP: good keys authorize without a guard.
	c, _ := remote.New(remote.Config{URL: url, Key1: g1, Key2: g2})
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("the server locked the IP out: %v", err)
	}
}

// Failures age out after the window; -retry-auth sends a remembered pair
// again and a success forgets the refusal.
func TestRetryAndWindow(t *testing.T) {
	url, dir := serve(t, -1), t.TempDir()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	g := func(retry bool) *authguard.Guard {
		return &authguard.Guard{Dir: dir, Retry: retry, Now: func() time.Time { return now }}
	}
	try := func(guard *authguard.Guard, k1, k2 string) error {
		c, _ := remote.New(remote.Config{URL: url, Key1: k1, Key2: k2, AuthGuard: guard})
		return c.Authorize(context.Background())
	}
	for i := range authguard.MaxFailures {
		k1, k2 := bad(byte(i))
		try(g(false), k1, k2)
	}
	g1, g2 := good()
	if err := try(g(false), g1, g2); !errors.As(err, new(*authguard.Withheld)) {
		t.Fatalf("at the budget: %v", err)
	}
	now = now.Add(authguard.Window)
	if err := try(g(false), g1, g2); err != nil {
		t.Fatalf("a day later: %v", err)
	}
	k1, k2 := bad(0)
	if err := try(g(false), k1, k2); !errors.As(err, new(*authguard.Withheld)) {
		t.Fatalf("a refused pair is remembered after the window: %v", err)
	}
	if err := try(g(true), k1, k2); !errors.Is(err, remote.ErrBadKeys) || errors.As(err, new(*authguard.Withheld)) {
		t.Fatalf("-retry-auth must send it: %v", err)
	}
}
