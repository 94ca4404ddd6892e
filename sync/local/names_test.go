package local

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncd/syncd/sync/plan"
)

func TestKey(t *testing.T) {
	nfd, nfc := "cafe\u0301", "caf\u00e9"
	if got := Key(nfd); got != nfc {
		t.Fatalf("Key(NFD) = %q, want %q", got, nfc)
	}
	if got := Key("dir/" + nfd); got != "dir/"+nfc {
		t.Fatalf("Key of a path = %q", got)
	}
	if Key("Readme") == Key("README") {
		t.Fatal("case-only variants must stay distinct keys")
	}
}

func TestLocalName(t *testing.T) {
	for _, ok := range []string{"a.txt", "caf\u00e9", "cafe\u0301", ".hidden", "name (2).txt", "a b", "...", strings.Repeat("x", 255), "COM1"} {
		if got, err := LocalName(ok); err != nil || got != ok {
			t.Errorf("LocalName(%q) = %q, %v; want it unchanged", ok, got, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".syncd", "a/b", "/", "../x", "a\x00b", "\xff\xfe", strings.Repeat("x", 256)} {
		if got, err := LocalName(bad); !errors.Is(err, ErrBadName) || got != "" {
			t.Errorf("LocalName(%q) = %q, %v; want ErrBadName", bad, got, err)
		}
	}
}

func TestBadWindowsName(t *testing.T) {
	for _, bad := range []string{"CON", "con.txt", "Aux", "NUL.tar.gz", "COM1", "lpt9.log", "COM¹", "a:b", `a\b`, "a*", "q?", "x<y", "pipe|", `"q"`, "tab\t", "dot.", "space "} {
		if badName("windows", bad) == "" {
			t.Errorf("%q accepted for Windows", bad)
		}
	}
	for _, ok := range []string{"CONSOLE", "com10", "a.b", "con-x.txt", "LPT"} {
		if r := badName("windows", ok); r != "" {
			t.Errorf("%q refused for Windows: %s", ok, r)
		}
	}
}

func TestRawPath(t *testing.T) {
	nfd, nfc := "cafe\u0301", "caf\u00e9"
	tree := map[string]plan.Local{
		nfc:            {Kind: plan.Dir, Name: nfd},
		nfc + "/a.txt": {Kind: plan.File, Name: "a.txt"},
	}
	if got := RawPath(tree, nfc+"/a.txt"); got != nfd+"/a.txt" {
		t.Fatalf("RawPath = %q", got)
	}
	if got := RawPath(tree, nfc+"/new"); got != nfd+"/new" {
		t.Fatalf("RawPath of a new child = %q", got)
	}
}

// FuzzLocalName: whatever a remote sends, an accepted name is one element
// that, created under an os.Root, lands directly in the root.
func FuzzLocalName(f *testing.F) {
	for _, s := range []string{"a", "..", "../x", "/etc/passwd", "a/../../b", "\x00", "é", ".syncd", "C:\\x", "~", "...."} {
		f.Add(s)
	}
	dir := f.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.Fatal(err)
	}
	defer root.Close()
	f.Fuzz(func(t *testing.T, remote string) {
		name, err := LocalName(remote)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("error %v does not wrap ErrBadName", err)
			}
			return
		}
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") ||
			strings.ContainsRune(name, filepath.Separator) || name == MetaDir {
			t.Fatalf("LocalName(%q) = %q: not a single safe element", remote, name)
		}
		file, err := root.Create(name)
		if err != nil {
			t.Fatalf("create %q under the root: %v", name, err)
		}
		file.Close()
		defer root.Remove(name)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != name {
			t.Fatalf("creating %q made %v in the root", name, entries)
		}
	})
}
