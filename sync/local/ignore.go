package local

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

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
//
// Matching is go-git's, which differs from git in two corners: a pattern
// without "/" is tried on every element of a path, so "!keep" after "*.txt"
// also re-includes keep/a.txt (git would still exclude it); and "dir/**"
// also matches dir itself. Both only ever sync or ignore a whole directory
// where git would treat its files one by one.
type Matcher struct {
	ps []gitignore.Pattern // in increasing precedence
	// simple[i]: ps[i] has no "/" but a trailing one, so it matches a path
	// through any single element; such a pattern is tried on the last
	// element alone (see decide).
	simple []bool
	// quick[i], when set, is an exact test of whether simple pattern ps[i]
	// can match a name: literal, "*suffix" and "prefix*" patterns (most of
	// them) are decided without filepath.Match.
	quick []func(name string) bool
}

// NewMatcher builds a Matcher from the built-in patterns, then the global
// patterns, then the pair's patterns (later ones take precedence). Blank
// entries and entries starting with "#" are skipped, as in a .gitignore file.
// Patterns are NFC-normalised, like the paths they are matched against.
// A malformed pattern is an error naming it.
func NewMatcher(global, pair []string) (*Matcher, error) {
	m := &Matcher{}
	for _, set := range []struct {
		name     string
		patterns []string
	}{{"built-in", BuiltinIgnores()}, {"global", global}, {"pair", pair}} {
		for _, raw := range set.patterns {
			p, simple, ok, err := parsePattern(raw)
			if err != nil {
				return nil, fmt.Errorf("%s ignore pattern %q: %w", set.name, raw, err)
			}
			if ok {
				m.ps = append(m.ps, p)
				m.simple = append(m.simple, simple)
				var q func(string) bool
				if simple {
					q = quickMatch(raw)
				}
				m.quick = append(m.quick, q)
			}
		}
	}
	return m, nil
}

// ErrBadPattern is wrapped by every error NewMatcher returns for a pattern.
var ErrBadPattern = errors.New("bad ignore pattern")

// parsePattern validates one pattern; ok is false for blanks and comments;
// simple reports a pattern without "/" (but a trailing one). gitignore.
// ParsePattern never fails: a malformed glob silently matches nothing
// there, so it is caught here instead.
func parsePattern(raw string) (p gitignore.Pattern, simple, ok bool, err error) {
	s, err := checkPattern(raw)
	if s == "" || err != nil {
		return nil, false, false, err
	}
	body := strings.TrimSuffix(strings.TrimPrefix(s, "!"), "/")
	return gitignore.ParsePattern(s, nil), !strings.Contains(body, "/"), true, nil
}

// checkPattern returns the pattern to parse ("" for blanks and comments)
// or why it is malformed.
func checkPattern(raw string) (string, error) {
	p := strings.TrimSuffix(raw, "\r")
	if strings.TrimSpace(p) == "" || strings.HasPrefix(p, "#") {
		return "", nil
	}
	p = fnmatchClasses(norm.NFC.String(p))
	body := strings.TrimPrefix(p, "!")
	if !strings.HasSuffix(body, `\ `) {
		body = strings.TrimRight(body, " ")
	}
	body = strings.TrimSuffix(body, "/")
	if body == "" {
		return "", fmt.Errorf("%w: matches nothing", ErrBadPattern)
	}
	segs := strings.Split(body, "/")
	anchored := len(segs) > 1
	for i, seg := range segs {
		if seg == "" {
			if i == 0 || !anchored {
				continue // leading "/" anchors the pattern
			}
			return "", fmt.Errorf("%w: empty path element", ErrBadPattern)
		}
		if seg != "**" && strings.Contains(seg, "**") && anchored {
			return "", fmt.Errorf("%w: \"**\" must be a whole path element", ErrBadPattern)
		}
		if _, err := filepath.Match(seg, ""); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadPattern, err)
		}
	}
	return p, nil
}

// quickMatch returns an exact name test for a simple pattern whose glob is
// a literal, "*literal" or "literal*", or nil when filepath.Match is needed.
func quickMatch(raw string) func(string) bool {
	body := norm.NFC.String(strings.TrimSuffix(strings.TrimPrefix(raw, "!"), "/"))
	if body == "" || strings.ContainsAny(body, "\\?[] /\r") {
		return nil
	}
	switch n := strings.Count(body, "*"); {
	case n == 0:
		return func(name string) bool { return name == body }
	case n == 1 && body[0] == '*':
		suffix := body[1:]
		return func(name string) bool { return strings.HasSuffix(name, suffix) }
	case n == 1 && body[len(body)-1] == '*':
		prefix := body[:len(body)-1]
		return func(name string) bool { return strings.HasPrefix(name, prefix) }
	}
	return nil
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
	floor := -1
	one := make([]string, 1)
	for i := 1; i <= len(elems); i++ {
		isDir := i < len(elems) || kind == plan.Dir
		excluded, top := m.decide(elems[:i], isDir, floor, one)
		if excluded {
			return true
		}
		floor = top
	}
	return false
}

// Judge returns a function that answers as Match does, and remembers the
// verdict on every directory it meets: judging every path of a tree then
// costs one decision per path, instead of one per element of each path and
// a split of it (the planner asks about each of a million paths). Its
// memory grows with the directories judged. Safe for concurrent use.
func (m *Matcher) Judge() func(path string, kind plan.Kind) bool {
	type verdict struct {
		excluded bool
		floor    int
		elems    []string // the directory's path elements
	}
	var mu sync.Mutex
	dirs := make(map[string]verdict)
	one := make([]string, 1)
	var scratch []string
	// split returns p's parent's verdict and p's last element.
	var split func(p string) (verdict, string)
	var dir func(d string) verdict
	split = func(p string) (verdict, string) {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return verdict{floor: -1}, p
		}
		return dir(p[:i]), p[i+1:]
	}
	dir = func(d string) verdict {
		if v, ok := dirs[d]; ok {
			return v
		}
		parent, last := split(d)
		v := verdict{excluded: true}
		if !parent.excluded {
			elems := append(slices.Clip(parent.elems), last)
			ex, top := m.decide(elems, true, parent.floor, one)
			v = verdict{excluded: ex, floor: top, elems: elems}
		}
		dirs[d] = v
		return v
	}
	return func(p string, kind plan.Kind) bool {
		if p == "" {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		parent, last := split(p)
		if parent.excluded {
			return true
		}
		scratch = append(append(scratch[:0], parent.elems...), last)
		ex, _ := m.decide(scratch, kind == plan.Dir, parent.floor, one)
		return ex
	}
}

// decide judges the last element of elems, given that its parent directory
// is not excluded and floor is the index of the highest pattern matching
// the parent (-1: none). It returns whether the path is excluded and the
// highest pattern matching it, the floor for its children.
//
// Why only patterns above floor, and simple ones on the last element only:
// go-git matches a pattern without "/" against every element of a path and
// an anchored one against a path prefix, so every pattern matching the
// parent also matches the child. The child's deciding pattern (the highest
// match) is therefore either the parent's, which did not exclude, or a
// higher one, which can only match through the last element. This keeps a
// scan at one filepath.Match per pattern per entry. one is scratch space
// of length 1, so that matching allocates nothing.
func (m *Matcher) decide(elems []string, isDir bool, floor int, one []string) (excluded bool, top int) {
	last := elems[len(elems)-1]
	if last == MetaDir {
		return true, floor
	}
	if m == nil {
		return false, floor
	}
	for i := len(m.ps) - 1; i > floor; i-- {
		var r gitignore.MatchResult
		if m.simple[i] {
			if q := m.quick[i]; q != nil && !q(last) {
				continue
			}
			one[0] = last
			r = m.ps[i].Match(one, isDir)
		} else {
			r = m.ps[i].Match(elems, isDir)
		}
		if r != gitignore.NoMatch {
			return r == gitignore.Exclude, i
		}
	}
	return false, floor
}
