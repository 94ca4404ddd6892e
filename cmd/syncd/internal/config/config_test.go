package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	k1 = strings.Repeat("a", 64)
	k2 = strings.Repeat("b", 64)
)

// write puts a config file in a fresh directory with mode 0600.
func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func load(t *testing.T, body string, getenv func(string) string) (*Config, []Warning, error) {
	t.Helper()
	if getenv == nil {
		getenv = noEnv
	}
	return LoadWith(write(t, body), Options{Getenv: getenv, Euid: 1000})
}

const minimal = `api:
  url: https://files.example.com/api/v2
  key1: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
  key2: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
state_dir: /var/lib/syncd
pairs:
  - local: /srv/data/
    remote: /backups/data/
`

func TestLoadMinimalAppliesDefaults(t *testing.T) {
	cfg, warns, err := load(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings for a 0600 file: %v", warns)
	}
	want := &Config{
		Path:              cfg.Path,
		API:               API{URL: "https://files.example.com/api/v2/", Key1: k1, Key2: k2},
		StateDir:          "/var/lib/syncd",
		PollInterval:      30 * time.Second,
		MaxDelete:         0.5,
		Pairs:             []Pair{{Local: "/srv/data", Remote: "/backups/data", Direction: Both, Conflict: KeepBoth}},
		Log:               Log{Level: "info", Format: "auto"},
		RequestsPerSecond: 0, // no fixed cap: adaptive pacing
		TrashRetention:    720 * time.Hour,
		ScanInterval:      time.Hour,
		SweepInterval:     10 * time.Minute,
		Debounce:          time.Second,
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if !filepath.IsAbs(cfg.Path) {
		t.Errorf("Path %q is not absolute", cfg.Path)
	}
}

func TestLoadAllValues(t *testing.T) {
	dir := t.TempDir()
	key2File := filepath.Join(dir, "key2")
	if err := os.WriteFile(key2File, []byte(k2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := `api:
  url: http://127.0.0.1:8080/api/v2/
  key2_file: key2
state_dir: /tmp/st
poll_interval: 1m
scan_interval: 2h
sweep_interval: 15m
debounce: 250ms
ignore: ["*.tmp", "cache/"]
max_delete: 0.25
trash_retention: 30d
bwlimit_up: 10MiB
bwlimit_down: 500k
requests_per_second: 2.5
log: {level: debug, format: json}
metrics_listen: "[::1]:9108"
pairs:
  - local: /a
    remote: /
    ignore: ["x"]
    direction: upload-only
    mirror: true
    conflict: keep-both
`
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, warns, err := LoadWith(p, Options{Getenv: envMap(map[string]string{"SYNCD_KEY1": k1}), Euid: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("unexpected warnings %v", warns)
	}
	want := &Config{
		Path:              p,
		API:               API{URL: "http://127.0.0.1:8080/api/v2/", Key1: k1, Key2: k2},
		StateDir:          "/tmp/st",
		PollInterval:      time.Minute,
		Ignore:            []string{"*.tmp", "cache/"},
		MaxDelete:         0.25,
		Pairs:             []Pair{{Local: "/a", Remote: "/", Ignore: []string{"x"}, Direction: UploadOnly, Mirror: true, Conflict: KeepBoth}},
		Log:               Log{Level: "debug", Format: "json"},
		MetricsListen:     "[::1]:9108",
		BWLimitUp:         10 << 20,
		BWLimitDown:       500_000,
		RequestsPerSecond: 2.5,
		TrashRetention:    30 * 24 * time.Hour,
		ScanInterval:      2 * time.Hour,
		SweepInterval:     15 * time.Minute,
		Debounce:          250 * time.Millisecond,
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// TestLoadErrors has one case per error class. Each names the key and the
// line the operator must fix.
func TestLoadErrors(t *testing.T) {
	keys := "  key1: " + k1 + "\n  key2: " + k2 + "\n"
	head := "api:\n  url: https://h/api/v2/\n" + keys // lines 1-4
	pair := "pairs:\n  - local: /srv/a\n    remote: /a\n"
	tests := []struct {
		name string
		body string
		env  map[string]string
		key  string
		line int
		msg  string // regexp on the problem's message
	}{
		{"syntax", "api: [\n", nil, "", 1, "did not find expected"},
		{"empty file", "", nil, "", 0, "empty"},
		{"two documents", head + pair + "---\nextra: 1\n", nil, "", 8, "more than one YAML document"},
		{"duplicate key", "api:\n  url: https://h/\n  url: https://i/\n" + pair, nil, "api.url", 3, `mapping key "url" already defined at line 2`},
		{"unknown top key", head + "poll_intervall: 3s\n" + pair, nil, "poll_intervall", 5, `unknown key "poll_intervall"`},
		{"unknown nested key", head + pair + "    directon: both\n", nil, "pairs[0].directon", 8, `unknown key "directon"`},
		{"unknown api key", "api:\n  url: https://h/\n  key3: x\n" + keys[:0] + pair, nil, "api.key3", 3, `unknown key`},
		{"mapping expected", "api: hello\n" + pair, nil, "api", 1, "expected a mapping"},
		{"list expected", head + "pairs: /srv\n", nil, "pairs", 5, "expected a list"},
		{"scalar expected", head + "poll_interval: [1s]\n" + pair, nil, "poll_interval", 5, "expected a single value"},
		{"bad duration", head + "poll_interval: 30 s\n" + pair, nil, "poll_interval", 5, `invalid duration "30 s"`},
		{"duration without unit", head + "debounce: 5\n" + pair, nil, "debounce", 5, "missing unit"},
		{"duration out of range", head + "poll_interval: 10ms\n" + pair, nil, "poll_interval", 5, "out of range"},
		{"bad size", head + "bwlimit_up: 10 furlongs\n" + pair, nil, "bwlimit_up", 5, `invalid size "10 furlongs"`},
		{"negative size", head + "bwlimit_down: -1k\n" + pair, nil, "bwlimit_down", 5, "negative"},
		{"bad percent", head + "max_delete: 50\n" + pair, nil, "max_delete", 5, `for percent write "50%"`},
		{"percent above 100", head + "max_delete: 150%\n" + pair, nil, "max_delete", 5, "at most 100%"},
		{"bad rate", head + "requests_per_second: fast\n" + pair, nil, "requests_per_second", 5, "invalid rate"},
		{"bad level", head + "log:\n  level: loud\n" + pair, nil, "log.level", 6, `invalid value "loud"`},
		{"bad format", head + "log:\n  format: xml\n" + pair, nil, "log.format", 6, "auto, console, json"},
		{"bad bool", head + pair + "    direction: upload-only\n    mirror: maybe\n", nil, "pairs[0].mirror", 9, "invalid boolean"},
		{"url missing", "api:\n" + keys + pair, nil, "api.url", 1, "required"},
		{"url plain http remote", "api:\n  url: http://files.example.com/api/v2/\n" + keys + pair, nil, "api.url", 2, "only allowed for loopback"},
		{"url scheme", "api:\n  url: ftp://h/\n" + keys + pair, nil, "api.url", 2, "unsupported scheme"},
		{"url no host", "api:\n  url: https:///x\n" + keys + pair, nil, "api.url", 2, "invalid URL"},
		{"key short", "api:\n  url: https://h/\n  key1: short\n  key2: " + k2 + "\n" + pair, nil, "api.key1", 3, "exactly 64 characters, it has 5"},
		{"key missing", "api:\n  url: https://h/\n  key1: " + k1 + "\n" + pair, nil, "api.key2", 1, `required: set api.key2, api.key2_file or \$SYNCD_KEY2`},
		{"key inline and file", head + "  key1_file: /k\n" + pair, nil, "api.key1", 3, `more than one source for key1 \(api.key1, api.key1_file\)`},
		{"key inline and env", head + pair, map[string]string{"SYNCD_KEY2": k2}, "api.key2", 4, `api.key2, \$SYNCD_KEY2`},
		{"key env short", "api:\n  url: https://h/\n  key1: " + k1 + "\n" + pair, map[string]string{"SYNCD_KEY2": "x"}, "api.key2", 0, `\$SYNCD_KEY2 must be exactly 64`},
		{"key file missing", "api:\n  url: https://h/\n  key1: " + k1 + "\n  key2_file: /nonexistent/k2\n" + pair, nil, "api.key2_file", 4, "cannot read key file"},
		{"key file not regular", "api:\n  url: https://h/\n  key1: " + k1 + "\n  key2_file: /dev/zero\n" + pair, nil, "api.key2_file", 4, "not a regular file"},
		{"same keys", "api:\n  url: https://h/\n  key1: " + k1 + "\n  key2: " + k1 + "\n" + pair, nil, "api.key2", 4, "same as key1"},
		{"state dir relative", head + "state_dir: state\n" + pair, nil, "state_dir", 5, "absolute"},
		{"no pairs", head, nil, "pairs", 0, "at least one pair"},
		{"empty pairs", head + "pairs: []\n", nil, "pairs", 5, "at least one pair"},
		{"local relative", head + "pairs:\n  - local: srv\n    remote: /a\n", nil, "pairs[0].local", 6, "absolute"},
		{"local missing", head + "pairs:\n  - remote: /a\n", nil, "pairs[0].local", 6, "required"},
		{"remote missing", head + "pairs:\n  - local: /a\n", nil, "pairs[0].remote", 6, "required"},
		{"remote relative", head + "pairs:\n  - local: /a\n    remote: a/b\n", nil, "pairs[0].remote", 7, `must start with "/"`},
		{"remote dotdot", head + "pairs:\n  - local: /a\n    remote: /a/../b\n", nil, "pairs[0].remote", 7, `".." segments`},
		{"remote empty segment", head + "pairs:\n  - local: /a\n    remote: /a//b\n", nil, "pairs[0].remote", 7, "empty path segment"},
		{"bad direction", head + pair + "    direction: sideways\n", nil, "pairs[0].direction", 8, "both, upload-only, download-only"},
		{"mirror two-way", head + pair + "    mirror: true\n", nil, "pairs[0].mirror", 8, "one-way|upload-only or download-only"},
		{"conflict policy", head + pair + "    conflict: newest-wins\n", nil, "pairs[0].conflict", 8, `unsupported conflict policy "newest-wins"`},
		{"empty ignore entry", head + "ignore: ['']\n" + pair, nil, "ignore[0]", 5, "empty entry"},
		{"local overlap", head + pair + "  - local: /srv/a/sub\n    remote: /b\n", nil, "pairs[1].local", 8, "local roots must not be inside one another"},
		{"same local", head + pair + "  - local: /srv/a/\n    remote: /b\n", nil, "pairs[1].local", 8, "overlaps pairs\\[0\\].local"},
		{"same remote", head + pair + "  - local: /srv/b\n    remote: /a/\n", nil, "pairs[1].remote", 9, "remote folders must not be the same"},
		{"nested remote", head + pair + "  - local: /srv/b\n    remote: /\n", nil, "pairs[1].remote", 9, "inside one another"},
		{"state dir inside root", head + "state_dir: /srv/a/.state\n" + pair, nil, "pairs[0].local", 7, "contains state_dir"},
		{"metrics public", head + "metrics_listen: 0.0.0.0:9108\n" + pair, nil, "metrics_listen", 5, "not a loopback address"},
		{"metrics bad", head + "metrics_listen: nine\n" + pair, nil, "metrics_listen", 5, "want host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := noEnv
			if tc.env != nil {
				getenv = envMap(tc.env)
			}
			_, _, err := load(t, tc.body, getenv)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if ce.ExitCode() != 2 {
				t.Errorf("exit code %d", ce.ExitCode())
			}
			re := regexp.MustCompile(tc.msg)
			for _, p := range ce.Problems {
				if p.Key == tc.key && p.Line == tc.line && re.MatchString(p.Msg) {
					if !strings.Contains(err.Error(), p.String()) {
						t.Errorf("Error() %q lacks %q", err, p)
					}
					return
				}
			}
			t.Errorf("no problem with key %q, line %d, message ~ %q in:\n%s", tc.key, tc.line, tc.msg, err)
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, _, err := load(t, "api:\n  url: ftp://x/\npoll_interval: 1 s\npairs:\n  - local: rel\n    remote: ..\n", nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v", err)
	}
	var keys []string
	for _, p := range ce.Problems {
		keys = append(keys, p.Key)
	}
	want := []string{"api.url", "api.key1", "api.key2", "poll_interval", "pairs[0].local", "pairs[0].remote"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("problem keys (-want +got):\n%s\n%s", diff, err)
	}
}

func TestKeysOptional(t *testing.T) {
	body := "api:\n  url: https://h/\n  key2: short\npairs:\n  - {local: /a, remote: /a}\n"
	p := write(t, body)
	_, _, err := LoadWith(p, Options{Getenv: noEnv, KeysOptional: true})
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Key != "api.key2" {
		t.Fatalf("a given but invalid key must still fail, alone: %v", err)
	}
	p = write(t, "api:\n  url: https://h/\npairs:\n  - {local: /a, remote: /a}\n")
	cfg, _, err := LoadWith(p, Options{Getenv: noEnv, KeysOptional: true})
	if err != nil || cfg.API.Key1 != "" || cfg.API.Key2 != "" {
		t.Fatalf("missing keys with KeysOptional: %v %+v", err, cfg)
	}
	if _, _, err := LoadWith(p, Options{Getenv: noEnv}); err == nil {
		t.Fatal("missing keys accepted without KeysOptional")
	}
}

func TestLoadMissingFileIsConfigError(t *testing.T) {
	_, _, err := LoadWith(filepath.Join(t.TempDir(), "nope.yaml"), Options{Getenv: noEnv})
	var ce *Error
	if !errors.As(err, &ce) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a *Error wrapping ErrNotExist", err)
	}
}

// TestStatusLoadNeedsNoKeys: NoKeys neither requires nor reads a key file.
func TestStatusLoadNeedsNoKeys(t *testing.T) {
	body := strings.Join(strings.Split(minimal, "\n")[0:2], "\n") + "\n  key1_file: /nonexistent/k1\n" + strings.Join(strings.Split(minimal, "\n")[4:], "\n")
	p := write(t, body)
	if _, _, err := LoadWith(p, Options{Getenv: noEnv}); err == nil {
		t.Fatal("an unreadable key file must be an error for commands that authorize")
	}
	cfg, _, err := LoadWith(p, Options{Getenv: noEnv, NoKeys: true})
	if err != nil || cfg.API.Key1 != "" || cfg.API.Key2 != "" || len(cfg.Pairs) == 0 {
		t.Fatalf("NoKeys: %+v %v", cfg, err)
	}
}

func TestWarnsWhenKeysReadableByOthers(t *testing.T) {
	p := write(t, minimal)
	// The package's 0640 root:syncd lets the service's group read the file:
	// that is intended, not warned about.
	for _, mode := range []os.FileMode{0o600, 0o640} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, warns, err := LoadWith(p, Options{Getenv: noEnv}); err != nil || len(warns) != 0 {
			t.Fatalf("mode %#o: %v %v, want no warning", mode, warns, err)
		}
	}
	for _, mode := range []os.FileMode{0o644, 0o604} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		_, warns, err := LoadWith(p, Options{Getenv: noEnv})
		if err != nil {
			t.Fatal(err)
		}
		if len(warns) != 2 {
			t.Fatalf("mode %#o: want a warning per inline key, got %v", mode, warns)
		}
		w := warns[0]
		if w.Key != "api.key1" || w.Line != 3 || !strings.Contains(w.Msg, p) || !strings.Contains(w.Msg, "0"+strconvOct(mode)) {
			t.Errorf("mode %#o: warning %q must name the key, line, file and mode", mode, w)
		}
	}
	// Keys from the environment: the file holds no secret, no warning.
	body := strings.Join(strings.Split(minimal, "\n")[0:2], "\n") + "\n" + strings.Join(strings.Split(minimal, "\n")[4:], "\n")
	p2 := write(t, body)
	if err := os.Chmod(p2, 0o644); err != nil {
		t.Fatal(err)
	}
	_, warns, err := LoadWith(p2, Options{Getenv: envMap(map[string]string{"SYNCD_KEY1": k1, "SYNCD_KEY2": k2})})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warned without inline keys: %v", warns)
	}
}

func strconvOct(m os.FileMode) string {
	const digits = "01234567"
	return string([]byte{digits[m>>6&7], digits[m>>3&7], digits[m&7]})
}

func TestWarnsOnOpenKeyFile(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "k1")
	if err := os.WriteFile(kf, []byte(k1), 0o644); err != nil {
		t.Fatal(err)
	}
	body := "api:\n  url: https://h/\n  key1_file: " + kf + "\n  key2: " + k2 + "\npairs:\n  - {local: /a, remote: /a}\n"
	_, warns, err := load(t, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || warns[0].Key != "api.key1_file" || !strings.Contains(warns[0].Msg, kf) {
		t.Errorf("warnings %v", warns)
	}
}

func TestDefaultStateDir(t *testing.T) {
	tests := []struct {
		env  map[string]string
		euid int
		want string
	}{
		{map[string]string{"STATE_DIRECTORY": "/var/lib/syncd:/var/lib/other"}, 999, "/var/lib/syncd"},
		{nil, 0, "/var/lib/syncd"},
		{map[string]string{"HOME": "/home/u"}, 1000, "/home/u/.local/state/syncd"},
		{map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "/x"}, 1000, "/x/syncd"},
	}
	for _, tc := range tests {
		if got := defaultStateDir(Options{Getenv: envMap(tc.env), Euid: tc.euid}); got != tc.want {
			t.Errorf("%v euid %d: got %q, want %q", tc.env, tc.euid, got, tc.want)
		}
	}
}

func TestDefaultConfigPath(t *testing.T) {
	if got := DefaultConfigPath(noEnv); got != "/etc/syncd/config.yaml" {
		t.Errorf("got %q", got)
	}
	if got := DefaultConfigPath(envMap(map[string]string{"SYNCD_CONFIG": "/x.yaml"})); got != "/x.yaml" {
		t.Errorf("got %q", got)
	}
}

func TestParseValues(t *testing.T) {
	sizes := map[string]int64{"0": 0, "1024": 1024, "500k": 500_000, "10MiB": 10 << 20, "1.5M/s": 1_500_000,
		"2G": 2e9, "1GiB": 1 << 30, "64 KiB": 64 << 10, "3KB": 3000, "7b": 7}
	for in, want := range sizes {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "k", "ten", "1e400", "NaN", "-5"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
	percents := map[string]Percent{"50%": 0.5, "0.5": 0.5, "off": 1, "OFF": 1, "100%": 1, "12.5 %": 0.125}
	for in, want := range percents {
		if got, err := parsePercent(in); err != nil || got != want {
			t.Errorf("parsePercent(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "0%", "2", "-1%", "half", "NaN"} {
		if _, err := parsePercent(bad); err == nil {
			t.Errorf("parsePercent(%q) accepted", bad)
		}
	}
	if Percent(1).String() != "off" || Percent(0.5).String() != "50%" {
		t.Errorf("Percent.String: %s %s", Percent(1), Percent(0.5))
	}
	durs := map[string]time.Duration{"30s": 30 * time.Second, "1h30m": 90 * time.Minute, "30d": 720 * time.Hour, "0s": 0}
	for in, want := range durs {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "30", "30 s", "-1s", "1.5d", "d"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
}

func exampleFile(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExampleLoads proves the shipped example is a valid configuration once
// keys are supplied (it ships without them), and that its values are the
// defaults it claims.
func TestExampleLoads(t *testing.T) {
	cfg, warns, err := LoadWith(exampleFile(t), Options{Getenv: envMap(map[string]string{"SYNCD_KEY1": k1, "SYNCD_KEY2": k2}), Euid: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if cfg.PollInterval != DefaultPollInterval || cfg.MaxDelete != DefaultMaxDelete || cfg.TrashRetention != DefaultTrashRetention ||
		cfg.ScanInterval != DefaultScanInterval || cfg.SweepInterval != DefaultSweepInterval || cfg.Debounce != DefaultDebounce || cfg.RequestsPerSecond != DefaultRequestsPerSecond ||
		cfg.StateDir != DefaultSystemStateDir || cfg.Log != (Log{Level: "info", Format: "auto"}) ||
		cfg.BWLimitUp != 0 || cfg.BWLimitDown != 0 || cfg.MetricsListen != "" || cfg.MetricsPublic {
		t.Errorf("example values differ from the defaults: %+v", cfg)
	}
}

// TestExampleDocumentsEveryKey walks the raw schema (the one source of the
// accepted keys) and requires each key to appear in the example, set or
// commented out.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(exampleFile(t))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	var walk func(reflect.Type)
	n := 0
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			tag := f.Tag.Get("yaml")
			n++
			if !regexp.MustCompile(`(?m)^[\s#-]*` + regexp.QuoteMeta(tag) + `:`).MatchString(text) {
				t.Errorf("config.example.yaml does not document %q", tag)
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.Name() != "Node" {
				walk(ft)
			}
		}
	}
	walk(reflect.TypeFor[rawConfig]())
	// Every Config field is fed from the raw schema; count them to notice a
	// field added to Config without a key.
	if got := reflect.TypeFor[Config]().NumField(); got != 17 {
		t.Errorf("Config has %d fields; add the new key to rawConfig and the example, then update this count", got)
	}
	if n < 25 {
		t.Errorf("walked only %d keys", n)
	}
}
