package local

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"golang.org/x/text/unicode/norm"

	"github.com/syncd/syncd/sync/plan"
)

// MetaDir is the directory at the root of every pair that belongs to syncd.
// It is ignored at every level and no pattern can re-include it.
const MetaDir = ".syncd"

// BuiltinIgnores returns the patterns every pair ignores before the global
// and per-pair patterns are applied; a later "!pattern" can re-include them
// (except MetaDir, which is never synced). The list is deliberately short
// and limited to names that are junk by construction: editor swap, backup
// and lock files and OS metadata. "*.tmp" is not in it: many programs use
// that extension for real data, so users add it themselves when they want.
func BuiltinIgnores() []string {
	return []string{
		// vim swap files (*.swp, *.swo, *.swx, *.swn are all vim's; keep the
		// two that are never anything else)
		"*.swp",
		"*.swx",
		// backup files of emacs, vim (backupext), gedit, nano
		"*~",
		// emacs lock and auto-save files
		".#*",
		`\#*#`,
		// LibreOffice/OpenOffice lock files and Microsoft Office owner files
		".~lock.*#",
		"~$*",
		// OS metadata
		".DS_Store",
		"._*", // AppleDouble resource forks written on non-HFS volumes
		"Thumbs.db",
		"desktop.ini",
	}
}

// Matcher decides whether a path is excluded from syncing. It applies
// gitignore semantics: the last matching pattern wins, "!" re-includes,
// a trailing "/" matches directories only, a pattern with a "/" other than a
// trailing one is anchored at the root, "**" matches any number of
// directories, and — as in git — nothing below an excluded directory can be
// re-included. The zero value and a nil *Matcher ignore only MetaDir.
// A Matcher is immutable and safe for concurrent use.
type Matcher struct {
	m gitignore.Matcher // nil: no patterns
}

// NewMatcher builds a Matcher from the built-in patterns, then the global
// patterns, then the pair's patterns (later ones take precedence). Blank
// entries and entries starting with "#" are skipped, as in a .gitignore file.
// Patterns are NFC-normalised, like the paths they are matched against.
// A malformed pattern is an error naming it.
func NewMatcher(global, pair []string) (*Matcher, error) {
	var ps []gitignore.Pattern
	for _, set := range []struct {
		name     string
		patterns []string
	}{{"built-in", BuiltinIgnores()}, {"global", global}, {"pair", pair}} {
		for _, raw := range set.patterns {
			p, ok, err := parsePattern(raw)
			if err != nil {
				return nil, fmt.Errorf("%s ignore pattern %q: %w", set.name, raw, err)
			}
			if ok {
				ps = append(ps, p)
			}
		}
	}
	return &Matcher{m: gitignore.NewMatcher(ps)}, nil
}

// ErrBadPattern is wrapped by every error NewMatcher returns for a pattern.
var ErrBadPattern = errors.New("bad ignore pattern")

// parsePattern validates one pattern; ok is false for blanks and comments.
// gitignore.ParsePattern never fails: a malformed glob silently matches
// nothing there, so it is caught here instead.
func parsePattern(raw string) (gitignore.Pattern, bool, error) {
	p := strings.TrimSuffix(raw, "\r")
	if strings.TrimSpace(p) == "" || strings.HasPrefix(p, "#") {
		return nil, false, nil
	}
	p = fnmatchClasses(norm.NFC.String(p))
	body := strings.TrimPrefix(p, "!")
	if !strings.HasSuffix(body, `\ `) {
		body = strings.TrimRight(body, " ")
	}
	body = strings.TrimSuffix(body, "/")
	if body == "" {
		return nil, false, fmt.Errorf("%w: matches nothing", ErrBadPattern)
	}
	segs := strings.Split(body, "/")
	anchored := len(segs) > 1
	for i, seg := range segs {
		if seg == "" {
			if i == 0 || !anchored {
				continue // leading "/" anchors the pattern
			}
			return nil, false, fmt.Errorf("%w: empty path element", ErrBadPattern)
		}
		if seg != "**" && strings.Contains(seg, "**") && anchored {
			return nil, false, fmt.Errorf("%w: \"**\" must be a whole path element", ErrBadPattern)
		}
		if _, err := filepath.Match(seg, ""); err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrBadPattern, err)
		}
	}
	return gitignore.ParsePattern(p, nil), true, nil
}

// fnmatchClasses rewrites gitignore's negated character class "[!...]"
// into the "[^...]" that path/filepath.Match understands.
func fnmatchClasses(p string) string {
	if !strings.Contains(p, "[!") {
		return p
	}
	b := []byte(p)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\\':
			i++
		case b[i] == '[' && i+1 < len(b) && b[i+1] == '!':
			b[i+1] = '^'
		}
	}
	return string(b)
}

// Match reports whether path (slash-separated, relative to the root, NFC)
// of the given kind is excluded: MetaDir at any level, or the patterns
// exclude it or one of its parent directories.
func (m *Matcher) Match(path string, kind plan.Kind) bool {
	if path == "" {
		return false
	}
	elems := strings.Split(path, "/")
	for i := 1; i <= len(elems); i++ {
		isDir := i < len(elems) || kind == plan.Dir
		if m.matchLast(elems[:i], isDir) {
			return true
		}
	}
	return false
}

// matchLast reports whether the last element of elems is excluded, assuming
// none of its parents is. The scanner calls it as it descends, so each
// directory is judged once.
func (m *Matcher) matchLast(elems []string, isDir bool) bool {
	if elems[len(elems)-1] == MetaDir {
		return true
	}
	if m == nil || m.m == nil {
		return false
	}
	return m.m.Match(elems, isDir)
}
