package main

import (
	"strings"
	"testing"
	"time"
)

func TestJudgeFollowsTheMonitoringConvention(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ok := pairStatus{Local: "/a", Remote: "/r", State: "idle", LastSync: now.Add(-14 * time.Second), Watcher: "ok"}
	with := func(f func(*pairStatus)) pairStatus { p := ok; f(&p); return p }
	cases := []struct {
		name   string
		source string
		pairs  []pairStatus
		code   int
		line   string
	}{
		{"idle", "daemon", []pairStatus{ok}, statusOK, "SYNCD OK - 1 pair idle, last sync 14s ago | pending=0 conflicts=0 problems=0 errors=0"},
		{"problems wait", "daemon", []pairStatus{with(func(p *pairStatus) { p.Problems = []statusItem{{"e", "empty"}} })}, statusWarning, "SYNCD WARNING - /a: problems or conflicts waiting"},
		{"retrying", "daemon", []pairStatus{with(func(p *pairStatus) { p.State, p.LastError = "error", "2 operations failed" })}, statusWarning, "SYNCD WARNING - /a: 2 operations failed"},
		{"watcher degraded", "daemon", []pairStatus{with(func(p *pairStatus) { p.Watcher = "degraded: out of inotify watches" })}, statusWarning, "watcher degraded"},
		{"halted", "daemon", []pairStatus{with(func(p *pairStatus) { p.State, p.LastError = "halted", "would delete 30 files" })}, statusCritical, "SYNCD CRITICAL - /a halted: would delete 30 files"},
		{"never synced", "daemon", []pairStatus{with(func(p *pairStatus) {
			p.LastSync, p.LastAttempt, p.State, p.LastError = time.Time{}, now, "error", "key pair refused"
		})}, statusCritical, "never synced: key pair refused"},
		{"stale", "daemon", []pairStatus{with(func(p *pairStatus) { p.LastSync = now.Add(-2 * time.Hour) })}, statusCritical, "no successful sync for 2h0m0s"},
		{"stale and stopped", "saved", []pairStatus{with(func(p *pairStatus) { p.LastSync, p.State = now.Add(-2*time.Hour), "stopped" })}, statusCritical, "no successful sync for 2h0m0s"},
		{"stopped recently", "saved", []pairStatus{with(func(p *pairStatus) { p.LastSync, p.State = now.Add(-14*time.Minute), "stopped" })}, statusOK, "SYNCD OK - 1 pair stopped"},
		{"no pairs", "daemon", nil, statusUnknown, "SYNCD UNKNOWN"},
		{"cannot start", "saved", []pairStatus{with(func(p *pairStatus) {
			p.State, p.CannotStart = "stopped", "local root is not a directory"
		})}, statusCritical, "SYNCD CRITICAL - /a cannot start: local root is not a directory"},
		{"two pairs", "daemon", []pairStatus{ok, with(func(p *pairStatus) { p.Local, p.State = "/b", "syncing" })}, statusOK, "SYNCD OK - 2 pairs (1 syncing, 1 idle)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, line := judge(statusDoc{Source: c.source, Pairs: c.pairs}, 30*time.Second, now)
			if code != c.code || !strings.Contains(line, c.line) {
				t.Fatalf("got %d %q, want %d containing %q", code, line, c.code, c.line)
			}
			if !strings.Contains(line, " | pending=") {
				t.Fatalf("no performance data: %q", line)
			}
		})
	}
	// A refused key pair is CRITICAL whatever the pairs say, even with
	// none (the daemon stopped before listing any).
	for _, pairs := range [][]pairStatus{{ok}, nil} {
		code, line := judge(statusDoc{Source: "saved", AuthError: "key pair refused", Pairs: pairs}, 30*time.Second, now)
		if code != statusCritical || !strings.HasPrefix(line, "SYNCD CRITICAL - authentication refused: key pair refused") {
			t.Fatalf("refused keys with %d pairs: %d %q", len(pairs), code, line)
		}
	}
}
