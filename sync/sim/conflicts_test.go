package sim

import (
	"flag"
	"fmt"
	"github.com/syncd/syncd/sync/plan"
	"path"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// copyTag matches the tag plan.ConflictName puts in a conflict copy's name.
var copyTag = regexp.MustCompile(` \(conflict \d{4}-\d{2}-\d{2}[^)]*\)`)

// contested is the path a conflict copy at p was made for: p without the
// last conflict tag in its name ("" when p is no conflict copy).
func contested(p string) string {
	name := path.Base(p)
	loc := copyTag.FindAllStringIndex(name, -1)
	if len(loc) == 0 {
		return ""
	}
	last := loc[len(loc)-1]
	orig := name[:last[0]] + name[last[1]:]
	if d := path.Dir(p); d != "." {
		return d + "/" + orig
	}
	return orig
}

// checkNoFalseConflicts (testing.md 10): a conflict copy that
// appeared this round is one of a path that both sides' users touched
// this round (a write, delete, rename or mkdir at the path, above it or
// below it), since the sides last agreed at the previous quiescence.
// Anything else, a copy of a path only one side changed, is a false
// conflict: syncd took its own earlier work (an upload a crash left
// unrecorded, an operation of the same pass) for someone else's change.
//
// Allowances, each a written rule:
//   - the state file was lost or corrupted this round: the rebuild turns
//     every difference into a conflict (invariant 20);
//   - a copy either side held at the last quiescence is old, even where
//     the sides did not agree (an excluded path: TestSimIgnore seed
//     810248, a copy made, then y/ excluded and deleted locally, then let
//     in again);
//   - a copy the user moved this round (a rename event related to its
//     path) is an old copy at a new place;
//   - a rename carries the other side's touches: a path one side renamed
//     this round counts as touched by the other side where the other
//     side touched its old path (TestSimLoop seed 5: b.txt renamed to
//     .hidden and edited locally, b.txt edited remotely, all seen by
//     one pass: the copy is of .hidden);
//   - an old copy carried to a new path, by the user's renames of a
//     folder above it and by syncd's conflict renames of such a folder,
//     with its content, is an old copy (TestSimLoop seed 368: z/.hidden
//     (conflict) at the last quiescence, z renamed locally to x, a
//     remote folder moved to x: the local x became "x (conflict)", with
//     the copy inside);
//   - likewise a copy made this round and carried by renames and by
//     syncd's conflict renames of folders above it: the path it was made
//     for is found through those renames (a folder's conflict rename
//     counts as one from its name without the tag, see untagged), and
//     both sides must have touched that path (TestSimOneWay seed 810133);
//   - both sides wrote exactly the same content and nothing else there is
//     still a false conflict (identical changes are no conflict), so a
//     path counts as touched by both only when the two sides' events there
//     are not all writes of one and the same content;
//   - one-way pairs: the sides need not agree at quiescence (the
//     receiver's own changes stay), so "since they last agreed" reaches
//     back past this round where they did not: a receiver's version that
//     differed from the sender's at the last quiescence (an entry only it
//     has, or its own content) counts as the receiver's touch (TestSimOneWay
//     seeds 1, 13: a local file download-only never sent, then a remote
//     file made at its path);
//   - ignore rules: an excluded path is untracked (invariant 14: its base
//     entry is dropped), so the sides do not agree on it; what each side
//     holds there when the rules let it in again meets the other side's
//     version with no base, and differences are conflicts by design. So a
//     side's version that differed from the other's at the last quiescence
//     (a file only it had while excluded, or its own content), or any
//     version at a path the rules excluded then, counts as that side's
//     touch (TestSimIgnore seed 800104: a local d.bin made while *.bin was
//     excluded, a remote file renamed to d.bin, the rule lifted; seed
//     800033: d.bin synced, then excluded, edited locally, let in again).
func (r *run) checkNoFalseConflicts(final tree) error {
	if r.lostDB {
		return nil
	}
	evs := r.u.events[r.roundEvs:]
	before := nfc(r.q)
	var beforeR tree // the remote side then, where the sides need not agree
	if r.qR != nil {
		beforeR = nfc(r.qR)
	}
	rside, apart := onRemote, map[string]bool{}
	if r.w.cfg.Direction == plan.DownloadOnly {
		rside = onLocal
	}
	if r.w.cfg.Direction != plan.Both {
		rq := nfc(r.qR)
		for p, m := range before {
			if rq[p] != m {
				apart[p] = true
			}
		}
		for p, m := range rq {
			if before[p] != m {
				apart[p] = true
			}
		}
	}
	var apartOn map[string][2]bool // ignore runs: who held a version the other side did not
	if r.w.cfg.Direction == plan.Both && r.rules != nil && r.qR != nil {
		apartOn = map[string][2]bool{}
		rq := nfc(r.qR)
		for p, m := range before {
			if rq[p] != m || r.qIgnored[p] {
				a := apartOn[p]
				a[onLocal] = true
				apartOn[p] = a
			}
		}
		for p, m := range rq {
			if before[p] != m || r.qIgnored[p] {
				a := apartOn[p]
				a[onRemote] = true
				apartOn[p] = a
			}
		}
	}
	for p := range nfc(final) {
		orig := contested(p)
		if orig == "" {
			continue
		}
		if _, old := before[p]; old {
			continue
		}
		if _, old := beforeR[p]; old {
			// Held by the remote side at the last quiescence (while the
			// rules excluded it, or by a one-way pair's side the other did
			// not follow): an old copy coming back, not a new one
			// (TestSimIgnore seed 810248).
			continue
		}
		if r.carriedCopy(p, final, before, evs) {
			continue
		}
		moved := false
		var touched [2]bool
		var md5s [2]map[string]bool
		onlySame := true
		// The paths orig had this round, by either side's renames (the
		// later first), each with the side that renamed it there.
		aliases := map[string]int{norm.NFC.String(orig): -1}
		// syncd's conflict renames of folders above the copy are renames
		// too, from the folder's name without the tag (no user event
		// records them): see untagged.
		if u := untagged(orig); u != norm.NFC.String(orig) {
			aliases[u] = -1
		}
		for i := len(evs) - 1; i >= 0; i-- {
			if ev := evs[i]; ev.kind == "rename" && len(ev.paths) >= 2 {
				// A rename's paths: the old one first, the new one last
				// (a folder's entries between).
				from, to := norm.NFC.String(ev.paths[0]), norm.NFC.String(ev.paths[len(ev.paths)-1])
				var found []string
				for a := range aliases {
					if a == to || strings.HasPrefix(a, to+"/") {
						found = append(found, from+a[len(to):])
					}
				}
				for _, a := range found {
					aliases[a] = int(ev.side)
					if u := untagged(a); u != a {
						aliases[u] = int(ev.side)
					}
				}
			}
		}
		for _, ev := range evs {
			for _, q := range ev.paths {
				if ev.kind == "rename" && related(q, p) {
					moved = true
				}
				at := related(q, orig)
				for a, by := range aliases {
					if by >= 0 && side(by) != ev.side && related(q, a) {
						at = true
					}
				}
				if !at {
					continue
				}
				touched[ev.side] = true
				if ev.kind != "write" {
					onlySame = false
					continue
				}
				if md5s[ev.side] == nil {
					md5s[ev.side] = map[string]bool{}
				}
				md5s[ev.side][ev.md5s[0]] = true
			}
		}
		if moved {
			continue
		}
		for q := range apart {
			if related(q, orig) {
				touched[rside], onlySame = true, false
			}
		}
		for q, a := range apartOn {
			if related(q, orig) {
				for side, held := range a {
					if held {
						touched[side], onlySame = true, false
					}
				}
			}
		}
		if touched[onLocal] && touched[onRemote] && onlySame {
			// Writes only: a conflict unless both sides wrote one content.
			if len(md5s[onLocal]) != 1 || len(md5s[onRemote]) != 1 || !equalSets(md5s[onLocal], md5s[onRemote]) {
				onlySame = false
			}
		}
		if touched[onLocal] && touched[onRemote] && !onlySame {
			continue
		}
		who := "neither side"
		switch {
		case touched[onLocal] && touched[onRemote]:
			who = "both sides with the same content only"
		case touched[onLocal]:
			who = "the local side only"
		case touched[onRemote]:
			who = "the remote side only"
		}
		return fmt.Errorf("false conflict: copy %s of %s, which %s changed this round", p, norm.NFC.String(orig), who)
	}
	return nil
}

// untagged is p (NFC) with the conflict tags dropped from its folders'
// names: where a copy inside a folder's conflict copy was before syncd's
// conflict rename of the folder. A copy made this round, then carried by
// renames and folder conflicts, is checked at the path it was made for
// (TestSimOneWay seed 810133: y/b.txt a true conflict, its copy carried by
// the folder conflicts y -> "y (conflict)", the user's move of that to x,
// and x -> "x (conflict)").
func untagged(p string) string {
	parts := strings.Split(norm.NFC.String(p), "/")
	for i := range parts[:len(parts)-1] {
		parts[i] = copyTag.ReplaceAllString(parts[i], "")
	}
	return strings.Join(parts, "/")
}

// carriedCopy reports whether the copy at p (NFC) is one the last
// quiescence held elsewhere with the same content, carried here by
// renames of the folders above it this round (either side's, in event
// order) and by conflict renames of such folders (their tags dropped).
func (r *run) carriedCopy(p string, final, before tree, evs []event) bool {
	fin := nfc(final)
	parts := strings.Split(p, "/")
	for i := range parts[:len(parts)-1] {
		parts[i] = copyTag.ReplaceAllString(parts[i], "")
	}
	cands := map[string]bool{strings.Join(parts, "/"): true}
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		if ev.kind != "rename" || len(ev.paths) < 2 {
			continue
		}
		from, to := norm.NFC.String(ev.paths[0]), norm.NFC.String(ev.paths[len(ev.paths)-1])
		var found []string
		for c := range cands {
			if strings.HasPrefix(c, to+"/") {
				found = append(found, from+c[len(to):])
			}
		}
		for _, c := range found {
			cands[c] = true
		}
	}
	for c := range cands {
		if m, ok := before[c]; ok && c != p && m == fin[p] {
			return true
		}
	}
	return false
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

var flagBugs = flag.Bool("bugs", false, "run the TestBug... tests of bugs not fixed yet (they fail)")

// bugSeeds are TestSim seeds that fail because of engine bugs not fixed
// yet, each with its shrunk schedule (nil: the whole schedule); TestBugSimSeeds replays them with
// -bugs. Once a bug is fixed its seeds move to simSeeds
// (TestRegressionSimSeeds).
var bugSeeds = []pinnedSeed{}

// sweepBugs are seeds of the default sweeps of the other variants that the
// stricter oracle fails, found when the parallel scheduler and the checks
// of invariants 10 and 26 came in; not yet classified or fixed. The sweep
// names them instead of failing on them (-bugs runs them).
var sweepBugs = map[string]map[uint64]string{
	// None known: interleave's 920082 and 920042 are fixed and pinned
	// (interleaveSeeds).
}

// knownBug reports whether seed is a pinned engine bug of variant v's sweep.
func knownBug(seed uint64, v variant) bool {
	switch {
	case v.interleave:
		return sweepBugs["interleave"][seed] != ""
	case v.loop:
		return sweepBugs["loop"][seed] != ""
	case v.incremental:
		return sweepBugs["inc"][seed] != ""
	case v.ignore:
		return sweepBugs["ignore"][seed] != ""
	case v.direction != plan.Both:
		return sweepBugs["oneway"][seed] != ""
	case v.hosts == 1:
		for _, c := range bugSeeds {
			if c.seed == seed {
				return true
			}
		}
	}
	return false
}

// TestBugSimSeeds replays bugSeeds (only with -bugs: they fail until the
// engine bugs are fixed).
func TestBugSimSeeds(t *testing.T) {
	if !*flagBugs {
		t.Skip("engine bugs not fixed yet: run with -bugs")
	}
	for _, c := range bugSeeds {
		t.Run(fmt.Sprint(c.seed), func(t *testing.T) {
			t.Parallel()
			sched := schedule(c.seed, c.steps, 1)
			if c.keep != nil {
				sched = pick(sched, c.keep)
			}
			if _, err := simulate(t, t.TempDir(), c.seed, sched, variant{hosts: 1}); err != nil {
				t.Fatalf("%s: %v\nreplay: %s -keep %s", c.found, err, replayHint(c.seed, c.steps, variant{hosts: 1}), joinInts(c.keep))
			}
		})
	}
}
