package apinames

import (
	"strings"
	"testing"
)

func TestStored(t *testing.T) {
	for in, want := range map[string]string{
		"a.txt":      "a.txt",
		".env":       "env",
		"..x":        "x",
		`it's "q"`:   "its q",
		"a\r\nb":     "ab",
		`a\b.txt`:    "a_b.txt",
		".it's.conf": "its.conf",
	} {
		if got := Stored(in); got != want {
			t.Errorf("Stored(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Wire(".it's"); got != ".its" {
		t.Errorf("Wire keeps a leading dot: Wire(%q) = %q", ".it's", got)
	}
}

func TestMayStore(t *testing.T) {
	cases := []struct {
		stored, wanted string
		want           bool
	}{
		{"a.txt", "a.txt", true},
		{"a (2).txt", "a.txt", true},
		{"a (12).txt", "a.txt", true},
		{"a (1).txt", "a.txt", false},
		{"a (x).txt", "a.txt", false},
		{"a ().txt", "a.txt", false},
		{"b.txt", "a.txt", false},
		{"env", ".env", true},
		{"env (2)", ".env", true},
		{".env (2)", ".env", true},
		{"a_b.txt", `a\b.txt`, true},
		{"a_b (3).txt", `a\b.txt`, true},
		{"its.txt", "it's.txt", true},
		{"Makefile (2)", "Makefile", true},
		{"Makefile", "Makefile (2)", false},
	}
	for _, c := range cases {
		if got := MayStore(c.stored, c.wanted); got != c.want {
			t.Errorf("MayStore(%q, %q) = %v, want %v", c.stored, c.wanted, got, c.want)
		}
	}
}

func TestMatcher(t *testing.T) {
	cases := []struct {
		name, stored string
		want         bool
	}{
		{"a.txt", "a.txt", true},
		{"a.txt", "a (2).txt", true},
		{"a.txt", "a (13).txt", true},
		{"a.txt", "b.txt", false},
		{"a.txt", "a (x).txt", false},
		{"a.txt", "a.txt (2)", false},
		{".env", "env", true},
		{".env", "env (2)", true},
		{"README", "README (3)", true},
		{`it's "q".txt`, "its q.txt", true},
		{`it's "q".txt`, "its q (2).txt", true},
		{"a.b.c", "a.b (2).c", true},
		{"x*y.txt", "xxy.txt", false},
	}
	for _, tc := range cases {
		if got := Matcher(tc.name)(tc.stored); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.name, tc.stored, got, tc.want)
		}
	}
}

// FuzzUploadNames: whatever the name, the server's stored forms of it
// (sanitised, then de-duplicated) are recognised when resolving a lost
// reply, and the multipart file name carries no header-breaking bytes.
func FuzzUploadNames(f *testing.F) {
	for _, s := range []string{"a.txt", ".env", `it's "q".txt`, "README", "a\r\nb", `x\y.z`, "..", "(2)"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, name string, n uint8) {
		w := Wire(name)
		if strings.ContainsAny(w, "\r\n\"") {
			t.Fatalf("wire name %q keeps a header-breaking byte", w)
		}
		stored := Stored(name)
		if stored == "" {
			return
		}
		match := Matcher(name)
		if !match(stored) {
			t.Fatalf("stored form %q of %q not matched", stored, name)
		}
		ext := ""
		if i := strings.LastIndexByte(stored, '.'); i > 0 && !strings.Contains(stored[i:], "/") {
			ext = stored[i:]
		}
		dup := strings.TrimSuffix(stored, ext) + " (" + string(rune('2'+n%8)) + ")" + ext
		if !match(dup) {
			t.Fatalf("de-duplicated form %q of %q not matched", dup, name)
		}
	})
}
