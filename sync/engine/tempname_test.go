package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncd/syncd/sync/engine"
)

// Another host renamed basic.txt to rand.txt, uploaded rand.txt's new
// content under a temporary name and trashed the old file, and has not
// renamed its upload yet. This host must leave the upload alone while its
// owner may still be between two steps, and, once the replace looks
// abandoned, finish it under the name it was for (rand.txt), not under the
// name its own base gives the old file (basic.txt): that once gave one
// file's new content another file's name (bench/twohosts.sh).
func TestAnotherHostsStoppedReplaceIsFinishedLateUnderItsOwnName(t *testing.T) {
	e := newEnv(t)
	e.write("basic.txt", "old basic")
	e.write("keep.txt", "keep")
	e.sync()
	ctx := context.Background()
	other := e.otherWithRoot()
	old, _ := e.remoteEntry("basic.txt")
	if _, err := other.RenameFile(ctx, idOf(old), "rand.txt"); err != nil {
		t.Fatal(err)
	}
	e.upload(other, "", "rand.txt.syncd-replace-"+itoa(old.ID)+"-0badc0de", "new rand")
	if err := other.DeleteFile(ctx, idOf(old)); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	p := e.pair(func(o *engine.Options) { o.Now = func() time.Time { return now } })
	for _, d := range []time.Duration{0, time.Minute, 10 * time.Minute} {
		now = now.Add(d)
		if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true, Sweep: true}); err != nil {
			t.Fatal(err)
		}
		if _, ok := e.remoteEntry("rand.txt"); ok {
			t.Fatalf("%v after it stopped, the other host's upload is renamed already", d)
		}
	}
	now = now.Add(10 * time.Minute)
	for range 2 { // the rename, then the download
		if _, err := p.Pass(ctx, engine.PassOptions{Incremental: true, Sweep: true}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"rand.txt": sum("new rand"), "keep.txt": sum("keep")}
	if got := e.remoteFiles(); !equalMaps(got, want) {
		t.Fatalf("remote after the replace was finished:\n got  %v\n want %v", sorted(got), sorted(want))
	}
	if got := e.localFiles(); !equalMaps(got, want) {
		t.Fatalf("local:\n got  %v\n want %v", sorted(got), sorted(want))
	}
}
