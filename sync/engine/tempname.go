package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/syncd/syncd/remote/apinames"
	"github.com/syncd/syncd/sync/plan"
)

// Syncd's temporary remote names. A multi-step operation that must hold a
// remote entry under a name that is not its own for a while (the upload of
// a replace, while the old version still has the name; an upload the
// server would store under another name; a move that must stop between its
// two calls under a free name) uses NAME.syncd-TAG-ID. The upload endpoint
// keeps such a name as it is (no leading dot, no quote, unique in the
// folder; api.md 12), and a de-duplicated one still ends in the same
// suffix ("x.go (2).syncd-replace-41": the server numbers before the last
// extension). Every host leaves entries under such names alone and never
// brings them down (see addListing): one host's unfinished operation is
// never another host's new file. Unlike "x (2).go", the name cannot be a
// name a user chose by accident.
const (
	tagReplace = "replace"
	tagUpload  = "upload"
	tagMove    = "move"
)

var tempSuffix = regexp.MustCompile(`\.syncd-(replace|upload|move)-([0-9A-Za-z]+)(?:-([0-9a-f]{8}))?$`)

// tempName is the temporary name of name for the operation tag on id, made
// by the pair whose tempTag is host: a host recognises its own, which no
// record of its journal may claim any more (its state was lost), and
// cleans them up (see settleTemps).
func tempName(name, tag, id, host string) string {
	return name + ".syncd-" + tag + "-" + id + "-" + host
}

// tempTag is this pair's short tag in temporary names: of the host name
// and the local root, so that two daemons on machines that share a host
// name (containers, the black-box test's two hosts on one machine) do not
// take each other's temporary uploads for their own abandoned ones, which
// settleTemps trashes.
func (p *Pair) tempTag() string {
	h := sha256.Sum256([]byte(p.cfg.Host + "\x00" + p.cfg.LocalRoot))
	return hex.EncodeToString(h[:4])
}

// parseTemp reports whether name is one of syncd's temporary names, and
// then the name it stands for (as the upload endpoint may have cleaned it:
// a leading dot dropped, quotes removed, a " (N)" inserted), its tag and
// id.
func parseTemp(name string) (real, tag, id string, ok bool) {
	t, ok := parseTempHost(name)
	return t.real, t.tag, t.id, ok
}

// tempParts are the parts of a temporary name.
type tempParts struct{ real, tag, id, host string }

func parseTempHost(name string) (tempParts, bool) {
	m := tempSuffix.FindStringSubmatchIndex(name)
	if m == nil {
		return tempParts{}, false
	}
	host := ""
	if m[6] >= 0 {
		host = name[m[6]:m[7]]
	}
	real := name[:m[0]]
	// "x.go (2)" from a de-duplicated upload: the number is the server's.
	if i := strings.LastIndex(real, " ("); i > 0 && strings.HasSuffix(real, ")") {
		if n := real[i+2 : len(real)-1]; n != "" && strings.Trim(n, "0123456789") == "" {
			real = real[:i]
		}
	}
	return tempParts{real, name[m[2]:m[3]], name[m[4]:m[5]], host}, real != ""
}

// isTemp reports whether name is one of syncd's temporary names.
func isTemp(name string) bool {
	_, _, _, ok := parseTemp(name)
	return ok
}

// tempOf reports whether stored is a name the upload endpoint may have
// given a file uploaded under a temporary name of wanted.
func tempOf(stored, wanted string) bool {
	real, _, _, ok := parseTemp(stored)
	return ok && apinames.MayStore(real, wanted)
}

// tempEntry is a file under a temporary name that a snapshot left out.
type tempEntry struct {
	dir, folder string // the folder's key and id
	id, name    string
	parts       tempParts
	oldLive     bool   // a replace: the folder still lists the file it replaces
	oldName     string // a replace: the name base gives the file it replaces ("": unknown)
}

// settleTemps finishes or cleans up the replaces and uploads that some
// pass left under temporary names and that no journal record resolves:
//   - a host trashes its own temporary uploads (by their tempTag) that
//     no record of its journal claims: the process that made them lost its
//     state, or gave up (the replace was skipped, and what is under the
//     name now may be another client's version of syncd's upload: renamed
//     into place it made a false conflict, TestSim seed 700048); the local
//     file is still on disk and the next pass decides from it;
//   - any host finishes another host's replace whose old version has been
//     gone from the folder for abandonAfter, by renaming the new one to the
//     name the replace was for, when that name is free: the step its owner
//     would take next, and one that repeating is harmless. Another host's
//     temporary uploads are left alone while the old version lives, and
//     for abandonAfter after it is gone: its owner may be between two
//     steps, or retrying after it lost the token. Finished at once, with
//     the name base gave the old file, a host renamed the owner's upload
//     to where the old file had been before the owner moved it in the
//     same pass (bench/twohosts.sh: x/tools' testdata/rand.txt, whose new
//     content was about to become basic.txt). The time is kept in memory:
//     a daemon finishes such a replace, a single `once` never does.
//
// It reports whether it changed anything (the folders are then listed
// again by the next pass).
func (p *Pair) settleTemps(ctx context.Context, temps []tempEntry, held []string) bool {
	mine := p.tempTag()
	claimed := make(map[string]bool, len(held))
	for _, k := range held {
		claimed[k] = true
	}
	x := &execution{p: p}
	changed := false
	now := p.opt.Now()
	seen := make(map[string]time.Time)
	defer func() { p.tempsSeen = seen }()
	for _, t := range temps {
		if t.parts.tag == tagMove {
			continue // recoverMove's, from the record
		}
		real := joinKey(t.dir, t.parts.real)
		if claimed[real] || claimed[joinKey(t.dir, "."+t.parts.real)] || t.oldName != "" && claimed[joinKey(t.dir, t.oldName)] {
			continue // the journal's recovery finishes it
		}
		var err error
		switch {
		case t.parts.host == mine:
			err = p.remote.DeleteFile(ctx, t.id)
			p.log.Info("trashed an abandoned temporary upload", zap.String("name", joinKey(t.dir, t.name)), zap.Error(err))
		case t.parts.tag == tagReplace && !t.oldLive:
			first, ok := p.tempsSeen[t.id]
			if !ok || first.After(now) { // new, or the clock was set back
				first = now
			}
			seen[t.id] = first
			if now.Sub(first) < abandonAfter {
				continue
			}
			// The name in the temporary one is the owner's; base's spells
			// it exactly where the server cleaned it (a quote: inside a
			// longer name, the server keeps a leading dot).
			name := t.parts.real
			if t.oldName != "" && apinames.Wire(t.oldName) == name {
				name = t.oldName
			}
			err = x.nameNew(ctx, t.id, t.folder, name)
			p.log.Info("finished an abandoned replace", zap.String("path", joinKey(t.dir, name)), zap.Error(err))
		default:
			continue
		}
		if err != nil && !errors.Is(err, errSkip) && !errors.Is(err, ErrNotFound) {
			continue // the next pass tries again
		}
		changed = true
	}
	return changed
}

// abandonAfter is how long another host's replace must look stopped (its
// old version gone, its upload under the temporary name) before this host
// finishes it: three times the daemon loop's longest retry backoff.
const abandonAfter = 15 * time.Minute

// tempOldName is the remote name base gives the file old in folder dir ("": none).
func tempOldName(base map[string]plan.Base, baseByID map[idKey]string, dir, old string) string {
	if k, ok := baseByID[idKey{plan.File, old}]; ok && parentKey(k) == dir {
		if b := base[k]; b.RemoteName != "" {
			return b.RemoteName
		}
		return baseName(k)
	}
	return ""
}
