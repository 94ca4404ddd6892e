// Package config owns syncd's configuration file: its YAML schema, defaults,
// the resolution of the API keys (inline, key file or environment), and the
// validation that turns a hand-written file into a Config the daemon can trust.
//
// Every problem is reported with the dotted key (pairs[1].direction, indexes
// from 0) and the line it is on; Load returns them all at once as an *Error,
// which the command maps to exit code 2. Findings that do not stop syncd, such
// as keys in a file other users can read, are returned as Warnings.
//
// # Key sources
//
// Each of key1 and key2 comes from exactly one source: the inline value
// (api.key1), a file holding it (api.key1_file, surrounding white space
// trimmed), or the environment (SYNCD_KEY1, SYNCD_KEY2), which is consulted
// only when the file names neither. Naming both key1 and key1_file is an
// error, and so is setting SYNCD_KEY1 while the file also names a source: an
// ambiguous key is never silently chosen.
//
// # Defaults
//
// state_dir defaults to $STATE_DIRECTORY when a service manager provides it
// (systemd's StateDirectory=), else /var/lib/syncd for root, else
// $XDG_STATE_HOME/syncd (~/.local/state/syncd) for an ordinary user.
// See config.example.yaml at the repository root for every key and default.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Default values of optional keys.
const (
	DefaultPollInterval      = 30 * time.Second
	DefaultMaxDelete         = Percent(0.5)
	DefaultTrashRetention    = 720 * time.Hour
	DefaultScanInterval      = time.Hour
	DefaultSweepInterval     = 10 * time.Minute
	DefaultDebounce          = time.Second
	DefaultRequestsPerSecond = 0.0 // no fixed cap: the client paces itself by the server's answers
	DefaultSystemStateDir    = "/var/lib/syncd"
	DefaultPath              = "/etc/syncd/config.yaml"
	// KeyLen is the exact length of key1 and key2 (api.md 6).
	KeyLen = 64
)

// Config is a validated configuration file.
type Config struct {
	Path              string // the file it came from, absolute
	API               API
	StateDir          string        // absolute, cleaned
	PollInterval      time.Duration // remote listing poll
	Ignore            []string      // gitignore patterns applied to every pair
	MaxDelete         Percent       // mass-delete guard threshold
	Pairs             []Pair
	Log               Log
	MetricsListen     string  // host:port of the Prometheus endpoint; "" disables it
	MetricsPublic     bool    // allow a MetricsListen that is not loopback
	BWLimitUp         int64   // bytes per second, 0 = unlimited
	BWLimitDown       int64   // bytes per second, 0 = unlimited
	RequestsPerSecond float64 // a cap on API requests; 0 = none (adaptive pacing only)
	TrashRetention    time.Duration
	ScanInterval      time.Duration // full rescan safety net
	SweepInterval     time.Duration // full remote listing; polls in between list recently active folders
	Debounce          time.Duration // quiet time after a local change before scanning
}

// API is the hosted account syncd talks to.
type API struct {
	URL  string // base URL ending in "/", https unless the host is loopback
	Key1 string // exactly KeyLen characters, resolved from its single source
	Key2 string
}

// Log configures the logger (see package logging).
type Log struct {
	Level  string // debug, info, warn or error
	Format string // auto, console or json
}

// Direction says which way a pair propagates changes.
type Direction string

// The directions a pair can have.
const (
	Both         Direction = "both"
	UploadOnly   Direction = "upload-only"
	DownloadOnly Direction = "download-only"
)

// ConflictPolicy says how a true conflict is resolved.
type ConflictPolicy string

// KeepBoth renames the losing version to a conflict copy and syncs both; it
// is the only policy implemented.
const KeepBoth ConflictPolicy = "keep-both"

// Pair is one local root kept in sync with one remote folder.
type Pair struct {
	Local     string // absolute, cleaned
	Remote    string // slash path in the account, "/" or "/a/b", no "." or ".."
	Ignore    []string
	Direction Direction
	// Mirror makes a one-way pair exact: the receiving side's extra entries
	// are removed (to trash). Only valid with a one-way direction.
	Mirror   bool
	Conflict ConflictPolicy
}

// Percent is a share between 0 and 1. The value 1 means the guard is off: no
// pass can delete more than everything.
type Percent float64

// Off reports whether the guard this threshold drives is disabled.
func (p Percent) Off() bool { return p >= 1 }

func (p Percent) String() string {
	if p.Off() {
		return "off"
	}
	return fmt.Sprintf("%g%%", float64(p)*100)
}

// Warning is a finding that does not stop syncd but that an operator should
// fix.
type Warning struct {
	Key  string // dotted key, "" when it concerns the whole file
	Line int    // 0 when unknown
	Msg  string
}

func (w Warning) String() string { return locate(w.Key, w.Line) + w.Msg }

// Problem is one reason a configuration file was refused.
type Problem struct {
	Key  string // dotted key such as pairs[1].direction; "" for the file as a whole
	Line int    // 1-based; 0 when unknown
	Msg  string
}

func (p Problem) String() string { return locate(p.Key, p.Line) + p.Msg }

func locate(key string, line int) string {
	switch {
	case key != "" && line > 0:
		return fmt.Sprintf("%s (line %d): ", key, line)
	case key != "":
		return key + ": "
	case line > 0:
		return fmt.Sprintf("line %d: ", line)
	}
	return ""
}

// Error is returned by Load for every configuration that cannot be used,
// including a file that cannot be read. A command exits with code 2 on it;
// test with errors.As.
type Error struct {
	File     string
	Problems []Problem // at least one
	Err      error     // underlying I/O error, if any
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("config %s: %s", e.File, e.Problems[0])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "config %s: %d problems:", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ExitCode is the process exit code for a configuration error.
func (e *Error) ExitCode() int { return 2 }

// Options are the parts of the process environment Load depends on.
type Options struct {
	Getenv func(string) string // nil means os.Getenv
	Euid   int                 // effective user id; 0 selects the system state dir
	// KeysOptional accepts a key with no source at all (it stays ""), for
	// commands that never talk to the account, such as rendering the
	// service unit while the keys live in the service's EnvironmentFile.
	// A key that is given is still validated.
	KeysOptional bool
	// NoKeys neither reads nor requires the keys (they stay ""): for
	// `syncd status`, which needs no secret and may run as a monitoring
	// user that cannot read the key files.
	NoKeys bool
}

// DefaultConfigPath is the -config default: $SYNCD_CONFIG, then
// /etc/syncd/config.yaml.
func DefaultConfigPath(getenv func(string) string) string {
	if p := getenv("SYNCD_CONFIG"); p != "" {
		return p
	}
	return DefaultPath
}

// Load reads and validates the configuration file at path, taking key sources
// and defaults from the process environment.
func Load(path string) (*Config, []Warning, error) {
	return LoadWith(path, Options{Getenv: os.Getenv, Euid: os.Geteuid()})
}

// LoadWith is Load with an explicit environment.
func LoadWith(path string, opt Options) (*Config, []Warning, error) {
	if opt.Getenv == nil {
		opt.Getenv = os.Getenv
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, &Error{File: path, Problems: []Problem{{Msg: err.Error()}}, Err: err}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, nil, &Error{File: abs, Problems: []Problem{{Msg: fmt.Sprintf("cannot read: %v", err)}}, Err: err}
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, nil, &Error{File: abs, Problems: []Problem{{Msg: err.Error()}}, Err: err}
	}
	p := &parser{file: abs, mode: fi.Mode().Perm(), opt: opt}
	cfg := p.parse(data)
	if len(p.problems) > 0 {
		return nil, p.warnings, &Error{File: abs, Problems: p.problems}
	}
	cfg.Path = abs
	return cfg, p.warnings, nil
}
