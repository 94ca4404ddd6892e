package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/syncd/syncd/cmd/syncd/internal/config"
	"github.com/syncd/syncd/state"
)

// controlSocket is the daemon's status socket inside state_dir.
const controlSocket = "syncd.sock"

// statusDoc is `syncd status -json`, the control socket's answer and the
// saved status file: one shape for all three (CONTRACT.md "Status").
type statusDoc struct {
	Version string       `json:"version"`
	State   string       `json:"state"` // idle, syncing, error, stopped
	PID     int          `json:"pid,omitempty"`
	Started time.Time    `json:"started,omitzero"`
	Updated time.Time    `json:"updated"`
	Source  string       `json:"source"` // daemon, saved, database
	Poll    string       `json:"poll_interval,omitempty"`
	Error   string       `json:"error,omitempty"` // why the state is unknown
	Pairs   []pairStatus `json:"pairs"`

	// AuthError is set when the server refused the key pair (or the auth
	// guard withheld it): nothing can sync until the keys are fixed.
	AuthError string `json:"auth_error,omitempty"`
}

type pairStatus struct {
	Local       string           `json:"local"`
	Remote      string           `json:"remote"`
	State       string           `json:"state"` // idle, syncing, error, halted, stopped
	LastSync    time.Time        `json:"last_sync,omitzero"`
	LastAttempt time.Time        `json:"last_attempt,omitzero"`
	LastPoll    time.Time        `json:"last_poll,omitzero"`
	PendingOps  int              `json:"pending_ops"`
	Conflicts   int              `json:"conflicts"`
	Problems    []statusItem     `json:"problems"`
	Errors      []statusItem     `json:"errors"`
	LastError   string           `json:"last_error,omitempty"`
	Transfers   []transferStatus `json:"transfers"`
	Progress    *progressStatus  `json:"progress,omitempty"` // while a plan executes
	NextRetry   time.Time        `json:"next_retry,omitzero"`
	Watcher     string           `json:"watcher,omitempty"` // ok, degraded: why, off: why
	// CannotStart says why the pair could not be started (e.g. its local
	// root is missing: a disk not mounted).
	CannotStart string `json:"cannot_start,omitempty"`
}

type statusItem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

type transferStatus struct {
	Path      string  `json:"path"`
	Direction string  `json:"direction"`
	Size      int64   `json:"size"`
	Done      int64   `json:"done"`
	RateBps   float64 `json:"rate_bytes_per_second"`
	ETASecs   float64 `json:"eta_seconds"`
}

// Monitoring-plugin exit codes (Nagios, Icinga, Sensu).
const (
	statusOK       = 0
	statusWarning  = 1
	statusCritical = 2
	statusUnknown  = 3
)

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		return statusUnknown
	}
	unknown := func(msg string) int {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(statusDoc{Version: version, State: "unknown", Updated: time.Now(), Error: msg, Pairs: []pairStatus{}})
		} else {
			fmt.Fprintf(stdout, "SYNCD UNKNOWN - %s\n", msg)
		}
		return statusUnknown
	}
	// Status needs no secret: the keys are neither read nor required, so a
	// monitoring user that may read the configuration but not the key
	// files still gets an answer.
	cfg, err := loadConfigWithoutKeys(*cfgPath)
	if err != nil {
		return unknown("configuration: " + err.Error())
	}
	doc, err := readStatus(ctx, cfg)
	if err != nil {
		return unknown(err.Error())
	}
	if doc.Poll == "" {
		doc.Poll = cfg.PollInterval.String()
	}
	code, line := judge(doc, cfg.PollInterval, time.Now())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(doc)
		return code
	}
	fmt.Fprintln(stdout, line)
	printStatus(stdout, doc, time.Now())
	return code
}

// readStatus asks the running daemon, else reads what the last run saved,
// else the database itself (without waiting on a lock a daemon holds).
func readStatus(ctx context.Context, cfg *config.Config) (statusDoc, error) {
	stateDir := cfg.StateDir
	if doc, err := askDaemon(ctx, filepath.Join(stateDir, controlSocket)); err == nil {
		doc.Source = "daemon"
		return doc, nil
	}
	var doc statusDoc
	if err := state.ReadStatusFile(stateDir, &doc); err == nil {
		doc.Source = "saved"
		doc.State = "stopped"
		for i := range doc.Pairs {
			if doc.Pairs[i].State != "halted" {
				doc.Pairs[i].State = "stopped"
			}
			doc.Pairs[i].Transfers = nil
			doc.Pairs[i].Progress = nil
		}
		return doc, nil
	}
	st, err := state.OpenReadOnly(filepath.Join(stateDir, stateFile), 500*time.Millisecond)
	if err != nil {
		if errors.Is(err, state.ErrLocked) {
			return statusDoc{}, fmt.Errorf("a syncd process holds the state database but does not answer on %s", filepath.Join(stateDir, controlSocket))
		}
		return statusDoc{}, fmt.Errorf("not running and no saved state in %s", stateDir)
	}
	defer st.Close()
	doc = statusDoc{Version: version, State: "stopped", Source: "database", Updated: time.Now()}
	pairs, err := st.Pairs()
	if err != nil {
		return statusDoc{}, err
	}
	// The database knows pairs by key; their names are the configuration's.
	names := map[string]config.Pair{}
	for _, pc := range cfg.Pairs {
		names[pairKey(pc)] = pc
	}
	for _, p := range pairs {
		sum, err := st.Summary(p)
		if err != nil {
			return statusDoc{}, err
		}
		pc, ok := names[p]
		if !ok {
			continue // a pair no longer configured
		}
		ps := pairStatus{Local: pc.Local, Remote: pc.Remote, State: "stopped",
			LastSync: sum.Meta.LastSync, LastAttempt: sum.Meta.LastAttempt, PendingOps: sum.Meta.Pending + sum.InFlight,
			Conflicts: sum.Conflicts, LastError: sum.Meta.LastError, Problems: []statusItem{}, Errors: []statusItem{}}
		if sum.Meta.Halted != "" {
			ps.State = "halted"
		}
		probs, _ := st.Problems(p)
		for path, pr := range probs {
			ps.Problems = append(ps.Problems, statusItem{Path: path, Message: pr.Message})
		}
		doc.Pairs = append(doc.Pairs, ps)
	}
	return doc, nil
}

func askDaemon(ctx context.Context, sock string) (statusDoc, error) {
	c := http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://syncd/status", nil)
	if err != nil {
		return statusDoc{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return statusDoc{}, err
	}
	defer resp.Body.Close()
	var doc statusDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return statusDoc{}, fmt.Errorf("daemon status: %w", err)
	}
	return doc, nil
}

// staleAfter is how long a pair may go without a successful sync before
// status is CRITICAL, whether a daemon answers or not: ten poll intervals,
// and at least 15 minutes. A `syncd once` run from cron should set
// poll_interval to the cron period.
func staleAfter(poll time.Duration) time.Duration {
	return max(10*poll, 15*time.Minute)
}

// judge maps a status to a monitoring-plugin exit code and first line.
func judge(doc statusDoc, poll time.Duration, now time.Time) (int, string) {
	code := statusOK
	var pending, conflicts, problems, errs int
	var oldest time.Time
	reason := ""
	states := map[string]int{}
	for _, p := range doc.Pairs {
		states[p.State]++
		pending += p.PendingOps
		conflicts += p.Conflicts
		problems += len(p.Problems)
		errs += len(p.Errors)
		if oldest.IsZero() || p.LastSync.Before(oldest) {
			oldest = p.LastSync
		}
		switch {
		case doc.AuthError != "":
			code, reason = statusCritical, "authentication refused: "+doc.AuthError
		case p.CannotStart != "":
			code, reason = statusCritical, fmt.Sprintf("%s cannot start: %s", p.Local, p.CannotStart)
		case p.State == "halted":
			code, reason = statusCritical, fmt.Sprintf("%s halted: %s", p.Local, p.LastError)
		case p.LastSync.IsZero() && !p.LastAttempt.IsZero() && p.LastError != "":
			code, reason = statusCritical, fmt.Sprintf("%s never synced: %s", p.Local, p.LastError)
		case !p.LastSync.IsZero() && now.Sub(p.LastSync) > staleAfter(poll):
			code, reason = statusCritical, fmt.Sprintf("%s: no successful sync for %s", p.Local, now.Sub(p.LastSync).Round(time.Second))
		case code < statusWarning && (p.State == "error" || len(p.Errors) > 0 || len(p.Problems) > 0 || p.Conflicts > 0 || (p.Watcher != "" && p.Watcher != "ok")):
			code = statusWarning
			if reason == "" {
				why := "problems or conflicts waiting"
				if p.Watcher != "" && p.Watcher != "ok" {
					why = "watcher " + p.Watcher
				}
				reason = fmt.Sprintf("%s: %s", p.Local, firstNonEmpty(p.LastError, why))
			}
		}
	}
	if len(doc.Pairs) == 0 {
		code, reason = statusUnknown, "no pairs"
		if doc.AuthError != "" {
			code, reason = statusCritical, "authentication refused: "+doc.AuthError
		}
	}
	word := [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}[code]
	noun := "pairs"
	if len(doc.Pairs) == 1 {
		noun = "pair"
	}
	summary := fmt.Sprintf("%d %s %s", len(doc.Pairs), noun, summarizeStates(states))
	if !oldest.IsZero() {
		summary += fmt.Sprintf(", last sync %s ago", now.Sub(oldest).Round(time.Second))
	}
	if reason != "" && code != statusOK {
		summary = reason + "; " + summary
	}
	return code, fmt.Sprintf("SYNCD %s - %s | pending=%d conflicts=%d problems=%d errors=%d", word, summary, pending, conflicts, problems, errs)
}

func summarizeStates(states map[string]int) string {
	if len(states) == 1 {
		for s := range states {
			return s
		}
	}
	out := ""
	for _, s := range []string{"syncing", "idle", "error", "halted", "stopped"} {
		if n := states[s]; n > 0 {
			if out != "" {
				out += ", "
			}
			out += fmt.Sprintf("%d %s", n, s)
		}
	}
	return "(" + out + ")"
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func printStatus(w io.Writer, doc statusDoc, now time.Time) {
	fmt.Fprintf(w, "syncd %s: %s (from %s)\n", doc.Version, doc.State, doc.Source)
	if doc.AuthError != "" {
		fmt.Fprintf(w, "authentication refused: %s\n", doc.AuthError)
	}
	for _, p := range doc.Pairs {
		fmt.Fprintf(w, "%s <-> %s: %s", p.Local, p.Remote, p.State)
		if !p.LastSync.IsZero() {
			fmt.Fprintf(w, ", last sync %s ago", now.Sub(p.LastSync).Round(time.Second))
		} else {
			fmt.Fprint(w, ", never synced")
		}
		if !p.LastPoll.IsZero() {
			fmt.Fprintf(w, ", remote polled %s ago", now.Sub(p.LastPoll).Round(time.Second))
		}
		fmt.Fprintf(w, ", %d pending, %d conflicts, %d problems\n", p.PendingOps, p.Conflicts, len(p.Problems))
		if p.Progress != nil {
			fmt.Fprintf(w, "  progress: %s\n", p.Progress)
		}
		for _, t := range p.Transfers {
			fmt.Fprintf(w, "  %s %s: %d/%d bytes, %.0f B/s, eta %.0fs\n", t.Direction, t.Path, t.Done, t.Size, t.RateBps, t.ETASecs)
		}
		if p.LastError != "" && p.LastError != doc.AuthError {
			fmt.Fprintf(w, "  last error: %s\n", p.LastError)
		}
		if p.Watcher != "" && p.Watcher != "ok" {
			fmt.Fprintf(w, "  watcher: %s\n", p.Watcher)
		}
		for _, e := range p.Errors {
			fmt.Fprintf(w, "  error: %s: %s\n", e.Path, e.Message)
		}
		for _, e := range p.Problems {
			fmt.Fprintf(w, "  problem: %s: %s\n", e.Path, e.Message)
		}
	}
}
