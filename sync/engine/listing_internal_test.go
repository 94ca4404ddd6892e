package engine

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/syncd/syncd/sync/plan"
)

// listingsOf is a Remote whose only call is List, answered from a map of
// folder id to its listing.
type listingsOf struct {
	Remote
	folders map[string][]RemoteFolder
	files   map[string][]RemoteFile
}

func (l *listingsOf) List(_ context.Context, folder string) ([]RemoteFolder, []RemoteFile, error) {
	return l.folders[folder], l.files[folder], nil
}

// The listing cache keeps only the files the tree is built from: a
// trashed file, and one a confused listing shows in another folder, never
// reach the tree, and a listing that differs from the last only in such
// entries is no change; a change of a live file still is one.
func TestListingCacheKeepsOnlyLiveDirectFiles(t *testing.T) {
	r := &listingsOf{
		folders: map[string][]RemoteFolder{"root": {{ID: "d1", ParentID: "root", Name: "d", Active: true}}},
		files: map[string][]RemoteFile{
			"root": {{ID: "f1", Name: "a.txt", FolderID: "root", Size: 1, Active: true}},
			"d1": {
				{ID: "f2", Name: "b.txt", FolderID: "d1", Size: 2, Active: true},
				{ID: "f3", Name: "gone.txt", FolderID: "d1", Size: 3, Active: false},
				{ID: "f4", Name: "elsewhere.txt", FolderID: "d9", Size: 4, Active: true},
			},
		},
	}
	ctx := context.Background()
	now := time.Unix(1700000000, 0)
	all := func(string) bool { return true }
	c := newListingCache()
	if _, _, err := c.refresh(ctx, r, "root", all, now); err != nil {
		t.Fatal(err)
	}
	if got := c.byID["d1"].files; !slices.Equal(got, []listedFile{{ID: "f2", Name: "b.txt", Size: 2}}) {
		t.Fatalf("cached files of d: %+v", got)
	}
	tree := func() []string {
		snap := c.assemble("root", map[string]plan.Base{}, func(string) error { return nil }, 0)
		return slices.Sorted(maps.Keys(snap.Tree))
	}
	if got, want := tree(), []string{"a.txt", "d", "d/b.txt"}; !slices.Equal(got, want) {
		t.Fatalf("tree %v, want %v", got, want)
	}
	// Only trashed and foreign entries change.
	r.files["d1"] = append(r.files["d1"], RemoteFile{ID: "f5", Name: "also-gone.txt", FolderID: "d1", Size: 5})
	r.files["d1"][2].FolderID = "d8"
	if _, changed, err := c.refresh(ctx, r, "root", all, now.Add(time.Minute)); err != nil || changed {
		t.Fatalf("a change of trashed and foreign entries only: changed %v, err %v", changed, err)
	}
	// A live file changes.
	r.files["d1"][0].Size = 20
	if _, changed, err := c.refresh(ctx, r, "root", all, now.Add(2*time.Minute)); err != nil || !changed {
		t.Fatalf("a live file's new size: changed %v, err %v", changed, err)
	}
	if got := c.assemble("root", map[string]plan.Base{}, func(string) error { return nil }, 0).Tree["d/b.txt"].Size; got != 20 {
		t.Fatalf("d/b.txt has size %d in the tree, want 20", got)
	}
}
