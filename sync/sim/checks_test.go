package sim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimChecksCatchPlantedViolations plants one violation of each kind
// the simulation decides at quiescence and proves the check reports it: a
// check that cannot fail proves nothing.
func TestSimChecksCatchPlantedViolations(t *testing.T) {
	setup := func(t *testing.T) *run {
		w := newTestWorld(t)
		r := &run{t: t, w: w, written: map[string]side{}, paths: map[string]map[string]bool{}}
		r.u = &user{w: w, written: map[string]string{}, log: r.logf}
		w.put(t, "a.txt", "a")
		w.put(t, "d/b.txt", "b")
		if err := r.quiesce(context.Background()); err != nil {
			t.Fatal(err)
		}
		return r
	}
	expect := func(t *testing.T, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("planted violation not reported: got %v, want %q", err, want)
		}
	}
	t.Run("lost version", func(t *testing.T) {
		r := setup(t)
		r.u.written[sum([]byte("never stored anywhere"))] = "planted"
		expect(t, r.quiesce(context.Background()), "lost versions")
	})
	t.Run("divergence", func(t *testing.T) {
		r := setup(t)
		if err := os.WriteFile(filepath.Join(r.w.dir, "only-local.txt"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		expect(t, r.w.checkConverged(), "sides differ")
	})
	t.Run("false conflict", func(t *testing.T) {
		r := setup(t)
		// A copy of a.txt, which nobody changed this round.
		r.w.put(t, "a (conflict 2026-03-01 simhost).txt", "a")
		expect(t, r.quiesce(context.Background()), "false conflict")
	})
	t.Run("resurrection", func(t *testing.T) {
		r := setup(t)
		// A delete the model saw but the file system never did.
		r.u.record(onLocal, "delete", []string{"a.txt"})
		expect(t, r.quiesce(context.Background()), "resurrection")
	})
	t.Run("survivor not live", func(t *testing.T) {
		r := setup(t)
		// A version "written" on the local side and present there at the
		// end of the round, which syncd then loses: simulated by removing
		// it behind the model's back after the round's snapshot.
		m := r.w.put(t, "c.txt", "survivor")
		r.u.record(onLocal, "write", []string{"c.txt"}, m)
		r.u.written[m] = "planted"
		r.trackPaths()
		if err := os.WriteFile(filepath.Join(r.w.recycle, "c"), []byte("survivor"), 0o644); err != nil {
			t.Fatal(err)
		}
		hook := func(ep string) {
			if ep == "file/upload" {
				os.Remove(filepath.Join(r.w.dir, "c.txt"))
			}
		}
		r.w.front.hook.Store(&hook)
		expect(t, r.quiesce(context.Background()), "not live at quiescence")
	})
}
