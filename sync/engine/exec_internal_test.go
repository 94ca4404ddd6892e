package engine

import (
	"testing"

	"github.com/syncd/syncd/sync/plan"
)

// A remote move to another folder and name stops in between at the new
// name in the old folder or the old name in the new folder (two calls):
// an op of the same pass on either path must not run beside it, or one of
// them finds the name taken and steps back (issue 13, after a git
// checkout: moves of files that took each other's inodes skipped).
func TestBusyCoversAMoveStopBetweenItsTwoCalls(t *testing.T) {
	ops := []plan.Op{
		{Kind: plan.MoveRemote, From: "ipv4/sys_aix.go", Path: "ipv6/genericopt.go"},
		{Kind: plan.MoveRemote, From: "http2/gate.go", Path: "idna/gate2.go"},
		{Kind: plan.MoveRemote, From: "x/genericopt.go", Path: "ipv4/genericopt.go"},
		{Kind: plan.Upload, Path: "ipv6/sys_aix.go"},
		{Kind: plan.Upload, Path: "ipv6/other.go"},
		{Kind: plan.MoveLocal, From: "ipv4/sys_aix.go", Path: "ipv6/genericopt.go"},
	}
	x := &execution{ops: ops}
	cases := []struct {
		i    int
		want bool
	}{
		{2, true},  // a move onto ipv4/genericopt.go, where op 0 may stop
		{3, true},  // an upload to ipv6/sys_aix.go, where op 0 may stop
		{4, false}, // another name
		{1, false}, // its stops are http2/gate2.go and idna/gate.go
	}
	for _, c := range cases {
		if got := x.busy(c.i, map[int]bool{0: true}); got != c.want {
			t.Errorf("op %d beside op 0: busy %v, want %v", c.i, got, c.want)
		}
	}
	// A local move is one rename: no stop between.
	if x.busy(3, map[int]bool{5: true}) {
		t.Errorf("upload beside a local move of another path: busy")
	}
}
