//go:build unix

package authguard_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Root running `syncd once` in the service's state_dir leaves the guard's
// files to the directory's owner, who must be able to open them.
func TestRootLeavesFilesToTheStateDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	url, dir := serve(t, -1), filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 4242, 4243); err != nil {
		t.Fatal(err)
	}
	k1, k2 := bad(0)
	authorize(t, url, dir, false, k1, k2)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 2 {
		t.Fatalf("state_dir holds %v (%v), want the lock and the record", ents, err)
	}
	for _, e := range ents {
		fi, _ := os.Stat(filepath.Join(dir, e.Name()))
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 4242 || st.Gid != 4243 {
			t.Errorf("%s owned by %d:%d, want 4242:4243", e.Name(), st.Uid, st.Gid)
		}
	}
}
