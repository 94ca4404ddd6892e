package local

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
	"pgregory.net/rapid"

	"github.com/syncd/syncd/sync/plan"
)

func TestMatcher(t *testing.T) {
	type probe struct {
		path string
		kind plan.Kind
		want bool
	}
	F, D := plan.File, plan.Dir
	tests := []struct {
		name         string
		global, pair []string
		probes       []probe
	}{
		{"builtins", nil, nil, []probe{
			{".syncd", D, true}, {".syncd/trash/x", F, true}, {"a/.syncd", D, true},
			{"notes.txt.swp", F, true}, {"a/b/.notes.swx", F, true}, {"report.doc~", F, true},
			{".#draft.org", F, true}, {"#draft.org#", F, true}, {".~lock.budget.ods#", F, true},
			{"~$budget.docx", F, true}, {".DS_Store", F, true}, {"pics/Thumbs.db", F, true},
			{"x.tmp", F, false}, {"notes.txt", F, false}, {"swp", F, false}, {"#notes", F, false},
			{"a~b", F, false},
		}},
		{"simple name matches at any depth, files and dirs", nil, []string{"*.log", "build"}, []probe{
			{"x.log", F, true}, {"a/b/x.log", F, true}, {"a/build", D, true}, {"a/build", F, true},
			{"a/build/out.o", F, true}, {"a/builder", D, false},
		}},
		{"dir-only pattern", nil, []string{"cache/"}, []probe{
			{"cache", D, true}, {"cache", F, false}, {"a/cache", D, true}, {"a/cache/x", F, true},
			{"a/cache.txt", F, false},
		}},
		{"anchored patterns", nil, []string{"/top.txt", "docs/*.pdf"}, []probe{
			{"top.txt", F, true}, {"a/top.txt", F, false},
			{"docs/a.pdf", F, true}, {"x/docs/a.pdf", F, false}, {"docs/sub/a.pdf", F, false},
		}},
		{"double star", nil, []string{"**/tmp", "logs/**", "a/**/z"}, []probe{
			{"tmp", D, true}, {"x/y/tmp", D, true}, {"logs/1/2.txt", F, true},
			// go-git matches "logs/**" on logs itself too (git only below it):
			// the same files are excluded either way.
			{"logs", D, true},
			{"a/z", F, true}, {"a/b/c/z", F, true}, {"b/a/z", F, false},
		}},
		{"negation: last match wins", []string{"*.log"}, []string{"!keep.log"}, []probe{
			{"x.log", F, true}, {"keep.log", F, false}, {"a/keep.log", F, false},
		}},
		{"negation cannot re-include below an excluded dir", nil, []string{"out/", "!out/keep.txt"}, []probe{
			{"out/keep.txt", F, true}, {"out", D, true},
		}},
		{"pair can re-include a built-in, never .syncd", nil, []string{"!.DS_Store", "!.syncd", "!.syncd/"}, []probe{
			{".DS_Store", F, false}, {".syncd", D, true}, {".syncd/root", F, true},
		}},
		{"comments, blanks, escapes, trailing spaces", nil, []string{"# comment", "", "   ", `\#lit`, "sp  ", `\!bang`}, []probe{
			{"# comment", F, false}, {"#lit", F, true}, {"sp", F, true}, {"!bang", F, true},
		}},
		{"character classes", nil, []string{"img[0-9].png", "[!a]*.c"}, []probe{
			{"img3.png", F, true}, {"imgx.png", F, false}, {"b.c", F, true}, {"a.c", F, false},
		}},
		{"NFD pattern matches NFC path", nil, []string{"cafe\u0301/"}, []probe{
			{"caf\u00e9", D, true}, {"caf\u00e9/menu.txt", F, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := NewMatcher(tt.global, tt.pair)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.probes {
				if got := m.Match(p.path, p.kind); got != p.want {
					t.Errorf("Match(%q, %v) = %v, want %v", p.path, p.kind, got, p.want)
				}
			}
		})
	}
}

func TestMatcherNil(t *testing.T) {
	var m *Matcher
	if !m.Match(".syncd/tmp", plan.Dir) || m.Match(".DS_Store", plan.File) {
		t.Fatal("a nil Matcher must ignore .syncd and nothing else")
	}
}

func TestMatcherBadPatterns(t *testing.T) {
	for _, p := range []string{"[", "a[b", `foo\`, "/", "!", "a//b", "a/b**/c", "!/"} {
		_, err := NewMatcher([]string{"ok"}, []string{p})
		if !errors.Is(err, ErrBadPattern) {
			t.Errorf("pattern %q: err = %v, want ErrBadPattern", p, err)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(p)) || !strings.Contains(err.Error(), "pair") {
			t.Errorf("pattern %q: error %q does not name the pattern and its set", p, err)
		}
	}
}

func FuzzMatcher(f *testing.F) {
	for _, s := range []string{"*.log", "!keep", "a/**/b", "/x/", "[a-", "\\", "**", "a/b/", "\xff", " ", "#x"} {
		f.Add(s, "a/b/c.log", true)
	}
	f.Fuzz(func(t *testing.T, pattern, p string, dir bool) {
		m, err := NewMatcher(nil, []string{pattern})
		if err != nil {
			if !errors.Is(err, ErrBadPattern) || !strings.Contains(err.Error(), strconv.Quote(pattern)) {
				t.Fatalf("error %v: not ErrBadPattern naming %q", err, pattern)
			}
			return
		}
		kind := plan.File
		if dir {
			kind = plan.Dir
		}
		got := m.Match(p, kind) // must not panic
		if !m.Match(".syncd", plan.Dir) || !m.Match(".syncd/"+p, kind) {
			t.Fatalf("pattern %q re-included .syncd", pattern)
		}
		// Anything below an ignored directory is ignored.
		if p != "" && m.Match(p, plan.Dir) && !m.Match(p+"/child", plan.File) {
			t.Fatalf("pattern %q: %q ignored as a dir but %q/child is not", pattern, p, p)
		}
		_ = got
	})
}

// TestMatcherEqualsReference: the incremental evaluation in decide (one
// match per pattern per entry) decides like go-git's own matcher applied to
// every prefix of the path, the reference semantics documented on Matcher.
func TestMatcherEqualsReference(t *testing.T) {
	elem := rapid.SampledFrom([]string{"a", "b", "x.log", "keep.log", "build", ".hidden", "c~", "é"})
	pat := rapid.SampledFrom([]string{"a", "b/", "*.log", "!keep.log", "build/", "!build", "/a", "a/b", "**/b",
		"a/**", "!a/b", ".*", "!.hidden", "x.*", "*~", "!*~", "/b/", "b/*.log", "!b"})
	rapid.Check(t, func(t *rapid.T) {
		patterns := rapid.SliceOfN(pat, 0, 6).Draw(t, "patterns")
		elems := rapid.SliceOfN(elem, 1, 5).Draw(t, "path")
		kind := rapid.SampledFrom([]plan.Kind{plan.File, plan.Dir}).Draw(t, "kind")
		m, err := NewMatcher(nil, patterns)
		if err != nil {
			t.Fatal(err)
		}
		var ps []gitignore.Pattern
		for _, p := range append(BuiltinIgnores(), patterns...) {
			ps = append(ps, gitignore.ParsePattern(fnmatchClasses(p), nil))
		}
		ref := gitignore.NewMatcher(ps)
		want := false
		for i := 1; i <= len(elems) && !want; i++ {
			want = elems[i-1] == MetaDir || ref.Match(elems[:i], i < len(elems) || kind == plan.Dir)
		}
		if got := m.Match(strings.Join(elems, "/"), kind); got != want {
			t.Fatalf("Match(%q, %v) with %q = %v, reference %v", strings.Join(elems, "/"), kind, patterns, got, want)
		}
	})
}

// TestJudgeEqualsMatch: the memoising Judge answers as Match does, whatever
// order the paths come in (its directory verdicts are shared by the paths
// asked later).
func TestJudgeEqualsMatch(t *testing.T) {
	elem := rapid.SampledFrom([]string{"a", "b", "x.log", "keep.log", "build", ".hidden", "c~", "é", ".syncd"})
	pat := rapid.SampledFrom([]string{"a", "b/", "*.log", "!keep.log", "build/", "!build", "/a", "a/b", "**/b",
		"a/**", "!a/b", ".*", "!.hidden", "x.*", "*~", "!*~", "/b/", "b/*.log", "!b"})
	rapid.Check(t, func(t *rapid.T) {
		m, err := NewMatcher(nil, rapid.SliceOfN(pat, 0, 6).Draw(t, "patterns"))
		if err != nil {
			t.Fatal(err)
		}
		judge := m.Judge()
		for i := range rapid.IntRange(1, 30).Draw(t, "paths") {
			p := strings.Join(rapid.SliceOfN(elem, 1, 5).Draw(t, fmt.Sprint("path", i)), "/")
			kind := rapid.SampledFrom([]plan.Kind{plan.File, plan.Dir}).Draw(t, fmt.Sprint("kind", i))
			if got, want := judge(p, kind), m.Match(p, kind); got != want {
				t.Fatalf("Judge(%q, %v) = %v, Match = %v", p, kind, got, want)
			}
		}
	})
}

// BenchmarkJudge1M judges a million paths in folders of 1,000, as the
// planner does with the built-in rules and two of a user's.
func BenchmarkJudge1M(b *testing.B) {
	m, err := NewMatcher([]string{"*.tmp", "cache/"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	paths := make([]string, 1_000_000)
	for i := range paths {
		paths[i] = fmt.Sprintf("top/d%03d/f%06d.txt", i/1000, i)
	}
	b.Run("Match", func(b *testing.B) {
		for b.Loop() {
			for _, p := range paths {
				m.Match(p, plan.File)
			}
		}
	})
	b.Run("Judge", func(b *testing.B) {
		for b.Loop() {
			judge := m.Judge()
			for _, p := range paths {
				judge(p, plan.File)
			}
		}
	})
}
