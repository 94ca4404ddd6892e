package emulator

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitizeUploadName(t *testing.T) {
	cases := map[string]string{
		".hidden":             "hidden",
		"...dots":             "dots",
		"a\"b'c":              "abc",
		"line\r\nbreak.txt":   "linebreak.txt",
		"dir/sub/x.txt":       "x.txt",
		`C:\Users\me\doc.txt`: "doc.txt",
		"./.x":                "x",
		"plain name (2).txt":  "plain name (2).txt",
	}
	for in, want := range cases {
		if got := sanitizeUploadName(in); got != want {
			t.Errorf("sanitizeUploadName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSanitizeUploadName(f *testing.F) {
	for _, s := range []string{".a", "a/b", `"'`, "\r\n.x", "..", "é.txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := sanitizeUploadName(in)
		if strings.HasPrefix(out, ".") || strings.ContainsAny(out, "\"'\r\n/\\") {
			t.Fatalf("sanitizeUploadName(%q) = %q", in, out)
		}
		if sanitizeUploadName(out) != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, sanitizeUploadName(out))
		}
	})
}

func TestCleanParam(t *testing.T) {
	cases := map[string]string{
		"  abc \n":                 "abc",
		"<b>bold</b>":              "bold",
		"a <i>b</i> c":             "a b c",
		"x < y":                    "x < y",
		"unclosed <tag rest":       "unclosed",
		`<a href="x>y">link</a>`:   "link",
		"\x00nul\x00":              "nul",
		"\t<p>  spaced  </p>\x0B ": "spaced",
	}
	for in, want := range cases {
		if got := cleanParam(in); got != want {
			t.Errorf("cleanParam(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPHPInt(t *testing.T) {
	cases := map[string]int64{"12": 12, " 7x": 7, "abc": 0, "": 0, "-3": -3, "null": 0, "99999999999999999999": 0}
	for in, want := range cases {
		if got := phpInt(in); got != want {
			t.Errorf("phpInt(%q) = %d, want %d", in, got, want)
		}
	}
}

func FuzzEncodePHP(f *testing.F) {
	for _, s := range []string{"a/b", "é", "😀", "\x00\x1f", "\xff\xfe", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var buf bytes.Buffer
		encodePHP(&buf, obj{{"k", in}, {"n", int64(5)}, {"z", nil}})
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("encodePHP(%q) = %s: %v", in, buf.Bytes(), err)
		}
		if utf8.ValidString(in) && m["k"] != in {
			t.Fatalf("round trip %q -> %q", in, m["k"])
		}
		if bytes.IndexFunc(buf.Bytes(), func(r rune) bool { return r > 0x7f }) >= 0 || bytes.Contains(buf.Bytes(), []byte("/")) && !bytes.Contains(buf.Bytes(), []byte(`\/`)) {
			t.Fatalf("not PHP-escaped: %s", buf.Bytes())
		}
	})
}
