package local

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzFSEscape: whatever path the executor is handed (a hostile remote
// name joined to a directory, "..", absolute, through a symlink planted in
// the root), no FS operation creates, renames or removes anything outside
// the root.
func FuzzFSEscape(f *testing.F) {
	for _, s := range []string{"x", "../x", "/x", "out/x", "out/../x", "a/../../x", ".syncd/x", "..", ".", "", "a//b", "out", "x\x00y", `..\x`} {
		f.Add(s)
	}
	parent := f.TempDir()
	dir := filepath.Join(parent, "root")
	outside := filepath.Join(parent, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out")); err != nil {
		f.Fatal(err)
	}
	fsys, err := Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	defer fsys.Close()
	f.Fuzz(func(t *testing.T, p string) {
		write(t, dir, "seed.txt", "seed")
		expect, err := fsys.Stat("seed.txt")
		if err != nil {
			t.Fatal(err)
		}
		fsys.Mkdir(p)
		if tmp, err := fsys.CreateTemp(); err == nil {
			tmp.Write([]byte("payload"))
			if _, err := fsys.Commit(tmp, p, nil); err != nil {
				fsys.Discard(tmp)
			}
		}
		fsys.Rename("seed.txt", p, expect)
		if l, err := fsys.Stat(p); err == nil {
			fsys.Trash(t.Context(), p, l, nil)
		}
		names := func(d string) []string {
			entries, _ := os.ReadDir(d)
			var out []string
			for _, e := range entries {
				out = append(out, e.Name())
			}
			return out
		}
		if got := names(parent); !slices.Equal(got, []string{"outside", "root"}) {
			t.Fatalf("path %q: parent of the root now holds %v", p, got)
		}
		if got := names(outside); len(got) != 0 {
			t.Fatalf("path %q: wrote %v outside the root through a symlink", p, got)
		}
		// Reset the root for the next input (leave .syncd and the link).
		for _, n := range names(dir) {
			if n != ".syncd" && n != "out" {
				os.RemoveAll(filepath.Join(dir, n))
			}
		}
	})
}
