package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type testStatus struct {
	Version string   `json:"version"`
	State   string   `json:"state"`
	Pairs   []string `json:"pairs"`
}

func TestStatusFileRoundTripAndReplace(t *testing.T) {
	dir := t.TempDir()
	var got testStatus
	if err := ReadStatusFile(dir, &got); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadStatusFile before any write: %v, want fs.ErrNotExist", err)
	}
	first := testStatus{Version: "1", State: "syncing", Pairs: []string{"a"}}
	if err := WriteStatusFile(dir, first); err != nil {
		t.Fatal(err)
	}
	second := testStatus{Version: "1", State: "idle", Pairs: []string{"a", "b"}}
	if err := WriteStatusFile(dir, second); err != nil {
		t.Fatal(err)
	}
	if err := ReadStatusFile(dir, &got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(second, got); d != "" {
		t.Errorf("status (-want +got):\n%s", d)
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 || names[0].Name() != StatusFileName {
		t.Errorf("directory holds %v, want only %s", names, StatusFileName)
	}
}

func TestStatusFileFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	old := testStatus{State: "idle"}
	if err := WriteStatusFile(dir, old); err != nil {
		t.Fatal(err)
	}
	if err := WriteStatusFile(dir, map[string]any{"bad": make(chan int)}); err == nil {
		t.Fatal("writing an unencodable value succeeded")
	}
	var got testStatus
	if err := ReadStatusFile(dir, &got); err != nil || got.State != "idle" {
		t.Errorf("after a failed write: %+v, %v", got, err)
	}
	if err := WriteStatusFile(filepath.Join(dir, "missing"), old); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		t.Errorf("temp files left behind: %v", names)
	}
}

func TestStatusFileGarbage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StatusFileName), []byte("{trunc"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got testStatus
	if err := ReadStatusFile(dir, &got); err == nil {
		t.Error("garbage status decoded without error")
	}
}
