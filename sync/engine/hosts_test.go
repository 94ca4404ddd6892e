package engine_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/engine"
)

// twin is a second host of the same account syncing the same remote
// folder into a directory and a state file of its own. Its client's
// authorization invalidates e's token, as the live service does.
func (e *env) twin() *env {
	e.t.Helper()
	h := &env{t: e.t, emu: e.emu, url: e.url, hc: e.hc, account: e.account, remote: e.remote, matcher: e.matcher}
	h.dir = e.t.TempDir()
	h.stPath = filepath.Join(e.t.TempDir(), "state.db")
	h.client = h.newClient()
	h.cfg = e.cfg
	h.cfg.LocalRoot, h.cfg.Host = h.dir, "otherhost"
	h.open()
	return h
}

// serverMade matches the names the upload endpoint invents on a clash
// ("stringer (2).go"); the tests below never make such a name themselves.
var serverMade = regexp.MustCompile(` \([0-9]+\)(\.[^/]*)?$`)

// assertNoServerNames fails when a name the server invented is on the
// remote or on the disk of any of the hosts.
func assertNoServerNames(t *testing.T, hosts ...*env) {
	t.Helper()
	for p := range hosts[0].remoteFiles() {
		if serverMade.MatchString(p) {
			t.Errorf("server-made name on the remote: %s", p)
		}
	}
	for i, h := range hosts {
		for p := range h.localFiles() {
			if serverMade.MatchString(p) {
				t.Errorf("server-made name on host %d's disk: %s", i, p)
			}
		}
	}
}

// alternate runs a pass of each host in turn, rounds times, checking after
// each that no server-made name is anywhere; errors (the token stolen) are
// expected. Then the faults go and every host syncs to the end.
func alternate(t *testing.T, rounds int, strict bool, hosts ...*env) {
	t.Helper()
	for range rounds {
		for _, h := range hosts {
			h.pair().Pass(context.Background(), engine.PassOptions{})
			if strict {
				assertNoServerNames(t, hosts...)
			}
		}
	}
	hosts[0].emu.ClearFaults()
	for range 2 {
		for _, h := range hosts {
			h.once()
			assertNoServerNames(t, hosts...)
		}
	}
}

// stealAt makes the engine lose its token at the failpoint: the next
// requests to endpoint each find the token just invalidated by another
// host (count of them: 2 defeats the client's one re-authorization).
func stealAt(e *env, point, endpoint string, count int) func(*engine.Options) {
	hit := false
	return func(o *engine.Options) {
		o.Failpoint = func(name string) error {
			if name == point && !hit {
				hit = true
				e.emu.InjectFault(emulator.Fault{Endpoint: endpoint, Count: count, StealToken: true})
			}
			return nil
		}
	}
}

// Issue 14: a replace uploads the new version (the server names it
// "stringer (2).go" while the old one holds the name), then trashes the old
// one and renames the new one back. A token lost between those steps, even
// twice in a row, must not leave the server's name on the remote, nor let
// either host take it for a user's file and download it.
func TestLostTokenMidReplaceLeavesNoServerName(t *testing.T) {
	for _, c := range []struct{ point, endpoint string }{
		{"replace.uploaded", "file/info"},    // checking the old version
		{"replace.uploaded", "file/delete"},  // trashing it
		{"replace.old-trashed", "file/info"}, // looking at the new one before the rename
		{"replace.old-trashed", "file/edit"}, // the rename back itself
	} {
		for _, count := range []int{1, 2, 4} {
			t.Run(c.point+"/"+c.endpoint+"/"+itoa(int64(count)), func(t *testing.T) {
				e := newEnv(t)
				e.write("cmd/stringer/stringer.go", "package main // one")
				e.write("cmd/stringer/other.go", "package main")
				e.sync()
				h := e.twin()
				h.sync()

				e.write("cmd/stringer/stringer.go", "package main // two, longer")
				p := e.pair(stealAt(e, c.point, c.endpoint, count), func(o *engine.Options) { o.MaxPasses = 1 })
				p.Once(context.Background(), engine.PassOptions{}) // may fail: the token is gone
				// The other host passes before this one tries again (while
				// the faults left steal its token too): the server's name
				// must not be there for it to see.
				alternate(t, 2, true, h, e)
				want := sum("package main // two, longer")
				if got := e.remoteFiles()["cmd/stringer/stringer.go"]; got != want {
					t.Errorf("remote stringer.go is %s, want the new version %s", got, want)
				}
				if got, _ := h.read("cmd/stringer/stringer.go"); got != "package main // two, longer" {
					t.Errorf("other host's stringer.go is %q", got)
				}
				e.assertSame()
				h.assertSame()
			})
		}
	}
}

// The same for a new upload the server stored under a name of its own:
// another host uploaded the same name meanwhile (the server says "x (2).go"),
// and the token is lost before syncd renames its upload back or trashes it.
func TestLostTokenMidRenamedUploadLeavesNoServerName(t *testing.T) {
	for _, c := range []struct{ point, endpoint string }{
		{"upload.uploaded", "file/info"},
		{"upload.uploaded", "folder/listing"},
		{"upload.uploaded", "file/delete"},
	} {
		for _, count := range []int{1, 2, 4} {
			t.Run(c.point+"/"+c.endpoint+"/"+itoa(int64(count)), func(t *testing.T) {
				e := newEnv(t)
				e.write("lib/keep.go", "package lib")
				e.sync()
				h := e.twin()
				h.sync()

				e.write("lib/x.go", "package lib // from host one")
				steal := stealAt(e, c.point, c.endpoint, count)
				clash := false
				p := e.pair(steal, func(o *engine.Options) {
					o.MaxPasses = 1
					inner := o.Failpoint
					o.Failpoint = func(name string) error {
						if name == "upload.begun" && !clash {
							clash = true
							// The other host's upload lands first.
							h.write("lib/x.go", "package lib // from host two")
							h.once()
						}
						return inner(name)
					}
				})
				p.Once(context.Background(), engine.PassOptions{})
				if !clash {
					t.Fatal("the upload never began")
				}
				// While the token is stolen at every retry (count 4), the
				// other host can see the server's name before this one
				// renames it back: only the end state is checked then.
				alternate(t, 2, count <= 2, e, h)
				// Both versions survive, under the name and a conflict copy.
				for _, v := range []string{"package lib // from host one", "package lib // from host two"} {
					found := false
					for _, m := range e.remoteFiles() {
						found = found || m == sum(v)
					}
					if !found {
						t.Errorf("version %q lost: remote %v", v, sorted(e.remoteFiles()))
					}
				}
				e.assertSame()
				h.assertSame()
			})
		}
	}
}

// When the token is lost again while the next pass's recovery tries to
// finish the replace, that pass must leave the upload's server-made name
// and the path alone (no download of "stringer (2).go", no second upload)
// and not report convergence; the pass after finishes the replace.
func TestLostTokenDuringRecoveryHoldsTheServerName(t *testing.T) {
	e := newEnv(t)
	e.write("cmd/stringer/stringer.go", "package main // one")
	e.sync()
	e.write("cmd/stringer/stringer.go", "package main // two, longer")
	p := e.pair(stealAt(e, "replace.old-trashed", "file/edit", 2), func(o *engine.Options) { o.MaxPasses = 1 })
	p.Once(context.Background(), engine.PassOptions{})
	e.emu.ClearFaults()

	// Recovery looks at the upload (file/info) first: lost again there.
	e.emu.InjectFault(emulator.Fault{Endpoint: "file/info", Count: 2, StealToken: true})
	res, _ := e.pair().Pass(context.Background(), engine.PassOptions{})
	e.emu.ClearFaults()
	if res.Converged {
		t.Errorf("a pass with an unfinished replace reported convergence: %+v", res.Plan.Ops)
	}
	for _, op := range res.Plan.Ops {
		t.Errorf("planned %v %s while its replace is unfinished", op.Kind, op.Path)
	}
	for p := range e.localFiles() {
		if serverMade.MatchString(p) {
			t.Errorf("server-made name on the disk: %s", p)
		}
	}
	e.sync()
	assertNoServerNames(t, e)
	if got := e.remoteFiles()["cmd/stringer/stringer.go"]; got != sum("package main // two, longer") {
		t.Errorf("remote stringer.go is %s after recovery", got)
	}
}

// A host that dies for good between trashing the old version and renaming
// the new one: the other host finishes the rename (the new version was
// verified before the old went) and never shows the temporary name.
func TestOtherHostFinishesAnAbandonedReplace(t *testing.T) {
	e := newEnv(t)
	e.write("doc.txt", "version one")
	e.sync()
	h := e.twin()
	h.sync()
	e.write("doc.txt", "version two, longer")
	p := e.pair(func(o *engine.Options) {
		o.Failpoint = func(name string) error {
			if name == "replace.old-trashed" {
				return engine.ErrCrash
			}
			return nil
		}
	})
	p.Once(context.Background(), engine.PassOptions{})
	tmp := false
	for k := range e.remoteFiles() {
		tmp = tmp || strings.Contains(k, ".syncd-replace-")
	}
	if !tmp {
		t.Fatalf("the replace did not stop under its temporary name: %v", sorted(e.remoteFiles()))
	}
	// e is gone for good; h alone goes on.
	res := h.pass()
	if res.Converged {
		t.Errorf("the pass that finished another host's replace reported convergence")
	}
	for k := range h.localFiles() {
		if strings.Contains(k, ".syncd-") {
			t.Errorf("temporary name on the disk: %s", k)
		}
	}
	h.sync()
	if got, _ := h.read("doc.txt"); got != "version two, longer" {
		t.Errorf("doc.txt is %q on the other host", got)
	}
	for k := range h.remoteFiles() {
		if strings.Contains(k, ".syncd-") {
			t.Errorf("temporary name left on the remote: %s", k)
		}
	}
}

// An upload the server renamed (".env" stored as "env") whose process died
// before the record named the upload, and whose recovery then loses the
// token too: the plan holds the server's name by its likeness to the
// record's (never downloaded), and the pass after renames it back.
func TestLostTokenDuringRecoveryHoldsAnUnnamedUpload(t *testing.T) {
	e := newEnv(t)
	e.write("lib/keep.go", "package lib")
	e.sync()
	e.write("lib/.env", "SECRET=1")
	hit := false
	p := e.pair(func(o *engine.Options) {
		o.MaxPasses = 1
		o.Failpoint = func(name string) error {
			if name == "upload.uploaded" && !hit {
				hit = true
				return engine.ErrCrash
			}
			return nil
		}
	})
	if _, err := p.Once(context.Background(), engine.PassOptions{}); !hit {
		t.Fatalf("no crash after the upload: %v", err)
	}
	if _, ok := e.remoteEntry("lib/env"); !ok {
		t.Fatalf("the server kept the leading dot: %v", sorted(e.remoteFiles()))
	}
	e.restart()
	// Recovery lists the folder to find the upload: the token is lost there.
	e.emu.InjectFault(emulator.Fault{Endpoint: "folder/listing", Count: 2, StealToken: true})
	res, _ := e.pair().Pass(context.Background(), engine.PassOptions{})
	e.emu.ClearFaults()
	for _, op := range res.Plan.Ops {
		t.Errorf("planned %v %s while the upload is unfinished", op.Kind, op.Path)
	}
	if _, ok := e.read("lib/env"); ok {
		t.Errorf("the server's name reached the disk")
	}
	e.sync()
	if _, ok := e.read("lib/env"); ok {
		t.Errorf("the server's name reached the disk")
	}
	if _, ok := e.remoteEntry("lib/.env"); !ok {
		t.Errorf("lib/.env not on the remote after recovery: %v", sorted(e.remoteFiles()))
	}
}
