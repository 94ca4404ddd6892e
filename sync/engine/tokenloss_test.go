package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/engine"
)

// serverMade matches the names the server invents for an upload (api.md
// 12: "base (2).ext") and syncd's own temporary names: neither may be left
// on any side once the hosts are quiet.
var serverMade = regexp.MustCompile(` \([0-9]+\)(\.|$)|\.syncd-`)

// twin is a second host syncing the same remote folder of the same account
// into its own directory and state file.
func (e *env) twin() *env {
	e.t.Helper()
	b := *e
	b.dir = e.t.TempDir()
	statePath := filepath.Join(e.t.TempDir(), "state.db")
	b.client = b.newClient()
	b.cfg.LocalRoot = b.dir
	b.cfg.Host = "otherhost"
	b.host = testenv.OpenHost(e.t, b.dir, statePath)
	return &b
}

// tryOnce runs once and tolerates an error (a pass the fault broke).
func (e *env) tryOnce() {
	e.pair().Once(context.Background(), engine.PassOptions{})
}

func noServerNames(t *testing.T, where string, files map[string]string) {
	t.Helper()
	for p := range files {
		if serverMade.MatchString(filepath.Base(p)) {
			t.Errorf("%s holds a server-made or temporary name: %s", where, p)
		}
	}
}

// stealTwice takes the account's token at request after+1 of any kind and
// again at the retry the client makes after re-authorizing, so that the
// request fails (the client re-authorizes only once per request, api.md 7).
func stealTwice(e *env, after int) {
	e.emu.InjectFault(emulator.Fault{After: after, Count: 3, StealToken: true})
}

// tokenLossCase prepares a synced state on host A and host B, then makes
// the local change whose multi-step operation the token loss interrupts.
type tokenLossCase struct {
	name   string
	setup  func(e *env)
	change func(e *env)
	want   map[string]string // path -> content on every side at the end
	never  []string          // paths host B must never hold
}

var tokenLossCases = []tokenLossCase{
	{
		name:   "replace",
		setup:  func(e *env) { e.write("cmd/stringer.go", "v1") },
		change: func(e *env) { e.write("cmd/stringer.go", "version two") },
		want:   map[string]string{"cmd/stringer.go": "version two"},
	},
	{
		name:   "renamed upload",
		setup:  func(e *env) { e.write("cmd/keep.go", "k") },
		change: func(e *env) { e.write("cmd/.env", "secret=1") },
		want:   map[string]string{"cmd/keep.go": "k", "cmd/.env": "secret=1"},
		never:  []string{"cmd/env"}, // the server's name for ".env"
	},
	{
		// a/x -> b/y while a/y and b/x exist: both orders of move and
		// rename cross a taken name, so the move goes through a temporary
		// name (route).
		name: "move through a temporary name",
		setup: func(e *env) {
			e.write("a/x", "xx")
			e.write("a/y", "ay")
			e.write("b/x", "bx")
		},
		change: func(e *env) {
			if err := os.Rename(filepath.Join(e.dir, "a/x"), filepath.Join(e.dir, "b/y")); err != nil {
				e.t.Fatal(err)
			}
		},
		want: map[string]string{"b/y": "xx", "a/y": "ay", "b/x": "bx"},
	},
}

// TestTokenLostBetweenStepsOfMultiStepOps: another host takes the token at
// each request of a pass whose replace, renamed upload or move through a
// temporary name makes several calls; the op fails there. The next passes
// of both hosts must finish it: the content right everywhere, and no name
// the server made (or syncd's temporary one) on the remote or on either
// disk, at any point host B looks (issue 14).
func TestTokenLostBetweenStepsOfMultiStepOps(t *testing.T) {
	for _, c := range tokenLossCases {
		t.Run(c.name, func(t *testing.T) {
			for after := 0; after < 24; after++ {
				e := newEnv(t)
				c.setup(e)
				e.sync()
				b := e.twin()
				b.sync()
				c.change(e)
				stealTwice(e, after)
				e.tryOnce()
				e.emu.ClearFaults()
				// Host B looks while A's op is unfinished.
				b.tryOnce()
				noServerNames(t, "host B's disk (before A finished)", b.localFiles())
				for _, p := range c.never {
					if _, ok := b.localFiles()[p]; ok {
						t.Errorf("host B's disk holds %s, a name the server made", p)
					}
				}
				e.once()
				b.once()
				e.once()
				for who, files := range map[string]map[string]string{
					"remote": e.remoteFiles(), "host A": e.localFiles(), "host B": b.localFiles(),
				} {
					noServerNames(t, who, files)
					for p, content := range c.want {
						if files[p] != sum(content) {
							t.Errorf("steal after %d requests: %s has %s = %q, want content %q (all: %v)", after, who, p, files[p], sum(content), sorted(files))
						}
					}
				}
				if t.Failed() {
					t.Fatalf("steal after %d requests", after)
				}
			}
		})
	}
}
