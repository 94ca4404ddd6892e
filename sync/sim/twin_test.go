package sim

import (
	"flag"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var flagTwin = flag.Bool("twin", false, "also run each faulted or crashed schedule without its faults and crashes and compare the final trees (invariants 18, 25)")

// faultFree is sched without its faults and crashes: no injected HTTP
// faults, no crash, no emulator restart, no token invalidation. The
// user's actions stay where they were (mid-pass ones at the same hook
// call), and so do clock jumps (they name conflict copies) and losses of
// the state file (a rebuild legitimately makes conflicts of differences,
// invariant 20: both runs lose it). It reports whether sched had anything to remove.
func faultFree(sched []step) ([]step, bool) {
	var out []step
	changed := false
	for _, s := range sched {
		switch s.Kind {
		case kRestartEmu, kInvalidate, kFault:
			changed = true
			continue
		case kPass:
			if len(s.Faults) > 0 || s.CrashAt > 0 {
				changed = true
			}
			s.Faults, s.CrashAt = nil, 0
			var mid []step
			for _, m := range s.Mid {
				if m.Kind == kAct {
					mid = append(mid, m)
				} else {
					changed = true
				}
			}
			s.Mid = mid
		}
		out = append(out, s)
	}
	return out, changed
}

// copyKey is how a final tree entry is compared with the twin's: a
// conflict copy by the path it was made for and its content, never by its
// name.
func copyKeys(t tree) map[string]int {
	out := map[string]int{}
	for p, m := range nfc(t) {
		if c := contested(p); c != "" {
			out[c+" <copy> "+m]++
		} else {
			out[p+" = "+m]++
		}
	}
	return out
}

// compareTwin: the final tree of a faulted run equals the fault-free
// twin's, path by path and byte by byte. The one allowance: conflict
// copies are compared by the path they were made for and their content,
// not by name (a copy's name carries the date and a counter that depend
// on when a pass made it, and both runs made it for the same path).
func compareTwin(a, b tree) error {
	ka, kb := copyKeys(a), copyKeys(b)
	var only []string
	for k, n := range ka {
		if kb[k] != n {
			only = append(only, "faulted: "+k)
		}
	}
	for k, n := range kb {
		if ka[k] != n {
			only = append(only, "fault-free: "+k)
		}
	}
	if len(only) == 0 {
		return nil
	}
	sort.Strings(only)
	return fmt.Errorf("crash equivalence: the faulted run and its fault-free twin end differently:\n  %s", strings.Join(only, "\n  "))
}

// twinLog is what a run's user saw and did, round by round, for the twin
// comparison: before each action, both sides' trees; the action as
// performed; at each quiescence, the tree.
type twinLog struct {
	cur    []string
	rounds []twinRound
	// crashed: a pass crashed since the last quiescence; void: a crash
	// and a lost or corrupted state file in one round (see runTwin).
	crashed, void bool
}

type twinRound struct {
	log  string // what the user saw and did in the round
	tree tree   // the tree at its quiescence
	void bool   // not comparable (see twinLog.void)
}

// twinSeen is both sides' trees as the user is about to act ("" when the
// run keeps no twin log).
func (r *run) twinSeen() string {
	if r.twin == nil {
		return ""
	}
	l, _ := r.w.localTree()
	rt, _ := r.w.remoteTree()
	return sum([]byte(nfc(l).String() + "|" + nfc(rt).String()))
}

func (r *run) twinNote(seen string, did []string) {
	if r.twin != nil {
		r.twin.cur = append(r.twin.cur, seen+" "+strings.Join(did, "; "))
	}
}

func (r *run) twinRound(final tree) {
	if r.twin != nil {
		r.twin.rounds = append(r.twin.rounds, twinRound{log: strings.Join(r.twin.cur, "\n"), tree: final, void: r.twin.void})
		r.twin.cur, r.twin.crashed, r.twin.void = nil, false, false
	}
}

// runTwin runs the fault-free twin of a seed's schedule and compares the
// two runs round by round: as long as the user saw the same trees before
// each action and did the same things, the trees at the round's
// quiescence must be equal (compareTwin). The first round in which the
// user saw or did something else ends the comparison: from there on the
// two runs are no longer the same schedule (an action picks its file
// among those it finds, and a crash that left a transfer undone changed
// what it found; an edit of a file whose download one run had not made
// yet is a true conflict there and none in the other). So does a round in
// which the faulted run both crashed and lost or corrupted its state
// file, in either order: a loss after the crash takes the journal that
// recovery needs (an upload stored under a name the server invented,
// waiting for its rename); a crash after the loss stops the rebuild
// before it committed what it found, so a delete the user makes next is
// undecidable and the file rightly comes back (invariant 20).
func runTwin(t *testing.T, r *run, seed uint64, sched []step, v variant) error {
	twin, changed := faultFree(sched)
	if !changed || r.twin == nil {
		return nil
	}
	r2, err := simulate(t, filepath.Join(t.TempDir(), "twin"), seed, twin, v)
	if err != nil {
		return fmt.Errorf("fault-free twin: %w", err)
	}
	a, b := r.twin.rounds, r2.twin.rounds
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].log != b[i].log || a[i].void {
			twinStats.add(i, len(a))
			return nil
		}
		if err := compareTwin(a[i].tree, b[i].tree); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
	}
	twinStats.add(min(len(a), len(b)), len(a))
	return nil
}

// twinStats counts how many rounds the twin comparisons covered (printed
// with -v).
var twinStats = &roundCount{}

type roundCount struct {
	mu               sync.Mutex
	compared, rounds int
}

func (c *roundCount) add(compared, rounds int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.compared += compared
	c.rounds += rounds
}
