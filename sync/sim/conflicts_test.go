package sim

import (
	"flag"
	"fmt"
	"path"
	"regexp"
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

// checkNoFalseConflicts (TESTING.md invariant 10): a conflict copy that
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
//   - a copy the user moved this round (a rename event related to its
//     path) is an old copy at a new place;
//   - both sides wrote exactly the same content and nothing else there is
//     still a false conflict (identical changes are no conflict), so a
//     path counts as touched by both only when the two sides' events there
//     are not all writes of one and the same content.
func (r *run) checkNoFalseConflicts(final tree) error {
	if r.lostDB {
		return nil
	}
	evs := r.u.events[r.roundEvs:]
	before := nfc(r.q)
	for p := range nfc(final) {
		orig := contested(p)
		if orig == "" {
			continue
		}
		if _, old := before[p]; old {
			continue
		}
		moved := false
		var touched [2]bool
		var md5s [2]map[string]bool
		onlySame := true
		for _, ev := range evs {
			for _, q := range ev.paths {
				if ev.kind == "rename" && related(q, p) {
					moved = true
				}
				if !related(q, orig) {
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
var bugSeeds = []struct {
	seed  uint64
	steps int
	keep  []int
	found string
}{
	// Local rename .hidden -> a.txt while the remote deletes .hidden: the
	// pass uploads a.txt and crashes after its rename (upload.renamed),
	// before the base commit. The next pass finds local a.txt (the
	// renamed base entry) and a remote a.txt without base, with the same
	// content, and makes a conflict copy of syncd's own upload (issue 13,
	// bug 1: new-file uploads are not journaled).
	{53, 30, []int{13, 15, 22, 27, 28, 29, 30}, "false conflict: crash after the upload of a renamed file"},
	// The download of a new remote file x/it's.txt crashes after the file
	// is in place (download.committed), before the commit; the remote
	// user modified the file meanwhile. The next pass finds a local file
	// without base that differs from the remote and makes a conflict copy
	// of syncd's own download: downloads of files base never held are not
	// journaled (the download analogue of issue 13, bug 1).
	{28, 30, []int{2, 7, 10, 11, 13, 19, 21, 28, 32, 40, 42, 43, 44, 46}, "false conflict: crash after a new-file download"},
	// Several workers: the upload of the new file z/a.txt ends while the
	// replace of another file is in flight; that replace crashes
	// (replace.uploaded) before the commit, so the finished upload is
	// never recorded; the user modified z/a.txt meanwhile. The next pass
	// makes a conflict copy of syncd's own upload (issue 13, bug 1).
	{52, 30, nil, "false conflict: an upload finished in a pass that crashed before its commit"},
	// A true conflict resolved by conflict-local X -> copy, then a
	// download into X (depending on it): the download's commit still
	// expects the local file the conflict op moved away and is skipped
	// ("commit c.md: changed since planning: not found"); the next pass
	// repairs it. An op of the pass broke the premise of another (issue
	// 13, bug 2). Also with one worker.
	{4, 30, nil, "premise: download after a conflict-local of the same path"},
	// Several workers only: move-remote e -> "e (conflict ...)", then a
	// download of that copy, which resolves its local path to "e" (the
	// moved entry's old local name) and fails ("commit e: e: already
	// exists") (issue 13, bug 2).
	{37, 30, nil, "premise: download of a remote conflict copy resolves to the old local name"},
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
