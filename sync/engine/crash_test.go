package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/syncd/syncd/sync/engine"
)

// TestCrashAtEveryFailpointResumes kills the pass at each step of every
// multi-step operation, drops every in-memory structure, reopens the state
// file and proves the next run converges with nothing lost and no remote
// duplicate.
func TestCrashAtEveryFailpointResumes(t *testing.T) {
	for _, point := range engine.Failpoints {
		t.Run(point, func(t *testing.T) {
			e := newEnv(t)
			e.write("mod.txt", "version one")
			e.write("d/inner.txt", "inner")
			e.write("stay.txt", "stay")
			e.sync()

			// One change of each kind: an upload, a replace, a download, a
			// folder move with rename.
			e.write("new.txt", "brand new")
			e.write("mod.txt", "version two!")
			e.upload(e.other(), "", "down.txt", "from the remote")
			if err := os.MkdirAll(filepath.Join(e.dir, "e"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(e.dir, "d"), filepath.Join(e.dir, "e", "d2")); err != nil {
				t.Fatal(err)
			}
			want := e.localFilesAfter(map[string]string{"down.txt": sum("from the remote")})

			hit := false
			p := e.pair(func(o *engine.Options) {
				o.Workers = 1
				o.MaxPasses = 1
				o.Failpoint = func(name string) error {
					if name == point && !hit {
						hit = true
						return fmt.Errorf("%s: %w", name, engine.ErrCrash)
					}
					return nil
				}
			})
			_, err := p.Once(context.Background(), engine.PassOptions{})
			if !hit {
				t.Fatalf("failpoint %s never reached (err %v)", point, err)
			}
			if !errors.Is(err, engine.ErrCrash) {
				t.Fatalf("crash not reported: %v", err)
			}
			e.restart()
			e.sync()
			if got := e.localFiles(); !equalMaps(got, want) {
				t.Fatalf("after resume:\n got  %v\n want %v", sorted(got), sorted(want))
			}
			if res := e.once(); len(res.Plan.Ops) != 0 {
				t.Fatalf("not quiescent after resume: %v", res.Plan.Ops)
			}
			// Exactly one live remote file per path.
			live := 0
			for _, en := range e.emu.Dump(e.account.ID) {
				if en.Status == "active" && !en.Folder {
					live++
				}
			}
			files := 0
			for _, v := range want {
				if v != "/" {
					files++
				}
			}
			if live != files {
				t.Fatalf("%d live remote files, want %d: %+v", live, files, e.emu.Dump(e.account.ID))
			}
		})
	}
}

// localFilesAfter is the local tree now plus the given extra entries.
func (e *env) localFilesAfter(extra map[string]string) map[string]string {
	m := e.localFiles()
	for k, v := range extra {
		m[k] = v
	}
	return m
}
