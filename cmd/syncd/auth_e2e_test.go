package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/state"
)

// writeKeys rewrites the fixture's configuration with the given keys.
func (f *fixture) writeKeys(key1, key2 string) {
	f.t.Helper()
	acct := emulator.DefaultAccount()
	f.writeConfig("")
	b, err := os.ReadFile(f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	s := strings.Replace(string(b), acct.Key1, key1, 1)
	s = strings.Replace(s, acct.Key2, key2, 1)
	if err := os.WriteFile(f.cfg, []byte(s), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

var (
	badKey1 = strings.Repeat("x", 64)
	badKey2 = strings.Repeat("y", 64)
)

// Twenty `syncd once` with a mistyped key, half of them at the same time,
// against the emulator's default lockout (5 failures a day ban the IP even
// for good keys): each exits 2, and the good keys work afterwards.
func TestBadKeysNeverLockTheIPOut(t *testing.T) {
	f := newFixture(t)
	os.WriteFile(filepath.Join(f.local, "a.txt"), []byte("a"), 0o644)
	f.writeKeys(badKey1, badKey2)
	check := func(i int, out string, code int) {
		if code != exitUsage || !strings.Contains(out, "refused") {
			t.Errorf("once %d with bad keys: code %d, want 2\n%s", i, code, out)
		}
	}
	for i := range 10 {
		out, code := f.syncd("once", "-config", f.cfg)
		check(i, out, code)
	}
	var wg sync.WaitGroup
	for i := 10; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, code := f.syncd("once", "-config", f.cfg)
			check(i, out, code)
		}()
	}
	wg.Wait()
	out, code := f.syncd("run", "-config", f.cfg)
	if code != exitUsage || !strings.Contains(out, "refused") {
		t.Fatalf("run with bad keys: code %d, want 2\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(f.local, ".syncd")); err == nil {
		t.Error("a run with refused keys initialised the local root")
	}
	// Monitoring sees it: CRITICAL with the reason, from the saved status.
	out, code = f.syncd("status", "-config", f.cfg)
	if code != statusCritical || !strings.HasPrefix(out, "SYNCD CRITICAL - authentication refused: ") || !strings.Contains(out, f.local+" <-> /pair") {
		t.Fatalf("status after refused keys: code %d\n%s", code, out)
	}
	out, code = f.syncd("config", "check", "-config", f.cfg)
	if code != exitUsage || !strings.Contains(out, "FAIL  key pair not sent") {
		t.Fatalf("config check of the refused pair: code %d\n%s", code, out)
	}
	// The operator fixes the typo: the good keys are not held back.
	f.writeConfig("")
	if out, code := f.syncd("config", "check", "-config", f.cfg); code != 0 {
		t.Fatalf("config check of the good keys: code %d\n%s", code, out)
	}
	if out, code := f.syncd("once", "-config", f.cfg); code != 0 {
		t.Fatalf("once with the good keys after 20 bad runs: code %d\n%s", code, out)
	}
	if f.srv.remoteFiles()["a.txt"] == "" {
		t.Fatal("a.txt not uploaded")
	}
	if out, code := f.syncd("status", "-config", f.cfg); code != statusOK {
		t.Fatalf("status after the fix: code %d\n%s", code, out)
	}
	// Going back to the refused pair sends nothing; -retry-auth sends it.
	f.writeKeys(badKey1, badKey2)
	if out, code := f.syncd("once", "-config", f.cfg); code != exitUsage || !strings.Contains(out, "not sent again") {
		t.Fatalf("the remembered pair: code %d\n%s", code, out)
	}
	if out, code := f.syncd("once", "-config", f.cfg, "-retry-auth"); code != exitUsage || strings.Contains(out, "not sent again") {
		t.Fatalf("-retry-auth must send the pair: code %d\n%s", code, out)
	}
	f.writeConfig("")
	if out, code := f.syncd("once", "-config", f.cfg); code != 0 {
		t.Fatalf("good keys after the retry: code %d\n%s", code, out)
	}
}

// A daemon whose keys are revoked while it runs stops with exit 2 (the
// client does not authorize again, so nothing could sync) and says why in
// the saved status.
func TestDaemonStopsWhenKeysAreRevoked(t *testing.T) {
	f := newFixture(t)
	d := f.startDaemon()
	eventually(t, "first pass", 10*time.Second, f.synced)
	// The account's keys change on the server: a new server on the same
	// address knows the account under other keys only.
	f.srv.stop()
	acct := emulator.DefaultAccount()
	acct.Key1 = strings.Repeat("z", 64)
	emu, err := emulator.New(emulator.Options{DataDir: t.TempDir(), NoSync: true, Accounts: []emulator.Account{acct}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := listenRetry(f.srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(emu)
	srv.Listener = l
	srv.Start()
	t.Cleanup(func() { srv.Close(); emu.Close() })
	select {
	case err := <-d.done:
		d.done <- err
		if code := d.cmd.ProcessState.ExitCode(); code != exitUsage {
			t.Fatalf("daemon exited with %d, want 2\n%s", code, d.out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop after its keys were refused\n%s", d.out.String())
	}
	out, code := f.syncd("status", "-config", f.cfg)
	if code != statusCritical || !strings.Contains(out, "authentication refused") {
		t.Fatalf("status: code %d\n%s", code, out)
	}
}

// The saved status is judged for staleness too: a daemon that has not run
// for far longer than the poll interval is CRITICAL, not OK.
func TestSavedStatusGoesStale(t *testing.T) {
	f := newFixture(t)
	if out, code := f.syncd("once", "-config", f.cfg); code != 0 {
		t.Fatalf("once: code %d\n%s", code, out)
	}
	doc, code := f.status()
	if code != statusOK || doc.Source != "saved" || len(doc.Pairs) != 1 || doc.Pairs[0].Local != f.local || doc.Pairs[0].LastSync.IsZero() {
		t.Fatalf("status after once: code %d %+v", code, doc)
	}
	// Ten poll intervals (1s here), at least 15 minutes: 749 hours is stale.
	doc.Pairs[0].LastSync = time.Now().Add(-749 * time.Hour)
	if err := state.WriteStatusFile(f.state, doc); err != nil {
		t.Fatal(err)
	}
	out, code := f.syncd("status", "-config", f.cfg)
	if code != statusCritical || !strings.Contains(out, "no successful sync for 749h") {
		t.Fatalf("stale saved status: code %d\n%s", code, out)
	}
	// Without the status file the database answers, with the pairs' names.
	os.Remove(filepath.Join(f.state, state.StatusFileName))
	out, code = f.syncd("status", "-config", f.cfg)
	if code != statusOK || !strings.Contains(out, f.local+" <-> /pair: stopped") || !strings.Contains(out, "(from database)") {
		t.Fatalf("status from the database: code %d\n%s", code, out)
	}
}

// A daemon whose only pair's root is missing (a disk not mounted yet)
// exits 1, so that the service manager starts it again, and sends nothing
// to the server; status says why.
func TestDaemonWithoutAnyRootExitsNonZero(t *testing.T) {
	f := newFixture(t)
	os.RemoveAll(f.local)
	out, code := f.syncd("run", "-config", f.cfg)
	if code != exitFailed || !strings.Contains(out, "no pair could start") {
		t.Fatalf("run without its root: code %d\n%s", code, out)
	}
	out, code = f.syncd("status", "-config", f.cfg)
	if code != statusCritical || !strings.Contains(out, f.local) || !strings.Contains(out, "not a directory") {
		t.Fatalf("status: code %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(f.state, "auth-guard.json")); err == nil {
		t.Error("an authorization was attempted without any pair to sync")
	}
}

// Status needs no secret: with key files the monitoring user cannot read
// (here: missing), `syncd -status` answers; commands that authorize refuse
// the configuration (exit 2), and so does config check.
func TestStatusWithoutReadableKeys(t *testing.T) {
	f := newFixture(t)
	if out, code := f.syncd("once", "-config", f.cfg); code != 0 {
		t.Fatalf("once: code %d\n%s", code, out)
	}
	body := fmt.Sprintf("api:\n  url: %s\n  key1_file: %s\n  key2_file: %s\nstate_dir: %s\npoll_interval: 1s\npairs:\n  - local: %s\n    remote: /pair\n",
		f.srv.url(), filepath.Join(f.state, "no-such-key1"), filepath.Join(f.state, "no-such-key2"), f.state, f.local)
	cfg := filepath.Join(f.state, "monitor.yaml")
	if err := os.WriteFile(cfg, []byte(body), 0o640); err != nil {
		t.Fatal(err)
	}
	out, code := f.syncd("-status", "-config", cfg)
	if code != statusOK || !strings.HasPrefix(out, "SYNCD OK - 1 pair stopped") || strings.Contains(out, "warning") {
		t.Fatalf("status without keys: code %d\n%s", code, out)
	}
	out, code = f.syncd("-status", "-config", cfg, "-json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != statusOK {
		t.Fatalf("status -json without keys: code %d %v\n%s", code, err, out)
	}
	if out, code := f.syncd("once", "-config", cfg); code != exitUsage || !strings.Contains(out, "key1_file") {
		t.Fatalf("once without keys: code %d\n%s", code, out)
	}
	if out, code := f.syncd("config", "check", "-config", cfg); code != exitUsage || !strings.Contains(out, "FAIL") || !strings.Contains(out, "key1_file") {
		t.Fatalf("config check without keys: code %d\n%s", code, out)
	}
}

// config check reports every finding offline: a good file passes and
// sends nothing; a missing root, a bad ignore pattern and an unwritable
// state_dir fail with exit 2.
func TestConfigCheck(t *testing.T) {
	f := newFixture(t)
	f.srv.stop() // nothing may be sent: there is no server
	out, code := f.syncd("config", "check", "-config", f.cfg)
	if code != 0 || !strings.Contains(out, "config check: OK") || strings.Contains(out, "FAIL") {
		t.Fatalf("good config: code %d\n%s", code, out)
	}
	for _, line := range []string{"schema and values valid", "state_dir " + f.state + " is a writable directory", "local root is a directory", "not known as refused"} {
		if !strings.Contains(out, line) {
			t.Errorf("config check does not say %q:\n%s", line, out)
		}
	}
	stateFile := filepath.Join(t.TempDir(), "file")
	os.WriteFile(stateFile, nil, 0o600)
	acct := emulator.DefaultAccount()
	body := fmt.Sprintf("api:\n  url: %s\n  key1: %q\n  key2: %q\nstate_dir: %s\nignore: [\"a[\"]\npairs:\n  - local: %s\n    remote: /pair\n",
		f.srv.url(), acct.Key1, acct.Key2, stateFile, filepath.Join(f.local, "missing"))
	os.WriteFile(f.cfg, []byte(body), 0o600)
	out, code = f.syncd("config", "check", "-config", f.cfg)
	if code != exitUsage || !strings.Contains(out, "problem(s)") {
		t.Fatalf("bad config: code %d\n%s", code, out)
	}
	for _, line := range []string{"FAIL  state_dir " + stateFile + " is not a directory", "FAIL  pairs[0] " + filepath.Join(f.local, "missing")} {
		if !strings.Contains(out, line) {
			t.Errorf("config check does not say %q:\n%s", line, out)
		}
	}
	os.WriteFile(f.cfg, []byte("poll_interval: 30 s\n"), 0o600)
	if out, code := f.syncd("config", "check", "-config", f.cfg); code != exitUsage || !strings.Contains(out, "FAIL") || !strings.Contains(out, "poll_interval") {
		t.Fatalf("schema error: code %d\n%s", code, out)
	}
}

// A root that synced before and is gone (the disk not mounted) is reported
// as such, with its last sync, not as never synced.
func TestVanishedRootKeepsItsLastSync(t *testing.T) {
	f := newFixture(t)
	if out, code := f.syncd("once", "-config", f.cfg); code != 0 {
		t.Fatalf("once: code %d\n%s", code, out)
	}
	os.RemoveAll(f.local)
	if out, code := f.syncd("run", "-config", f.cfg); code != exitFailed {
		t.Fatalf("run without its root: code %d\n%s", code, out)
	}
	doc, code := f.status()
	if code != statusCritical || len(doc.Pairs) != 1 || doc.Pairs[0].CannotStart == "" || doc.Pairs[0].LastSync.IsZero() {
		t.Fatalf("status: code %d %+v", code, doc)
	}
}

// With one root missing and another there, the daemon runs the one that is
// there and reports the other CRITICAL (it starts at the next restart).
func TestDaemonRunsThePairsThatCanStart(t *testing.T) {
	f := newFixture(t)
	missing := filepath.Join(t.TempDir(), "unmounted")
	b, _ := os.ReadFile(f.cfg)
	os.WriteFile(f.cfg, append(b, fmt.Sprintf("  - local: %s\n    remote: /other\n", missing)...), 0o600)
	f.startDaemon()
	var doc statusDoc
	var code int
	eventually(t, "the good pair synced", 10*time.Second, func() bool {
		out, c := f.syncd("status", "-config", f.cfg, "-json")
		doc, code = statusDoc{}, c
		return json.Unmarshal([]byte(out), &doc) == nil && doc.Source == "daemon" && len(doc.Pairs) == 2 && !doc.Pairs[0].LastSync.IsZero()
	})
	if code != statusCritical || doc.Pairs[1].Local != missing || doc.Pairs[1].CannotStart == "" {
		t.Fatalf("status: code %d %+v", code, doc)
	}
}
