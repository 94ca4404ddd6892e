package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// rawConfig mirrors the file. Leaves stay yaml.Nodes so that every value is
// converted with its own key and line; the decoder's KnownFields rejects
// unknown keys.
type rawConfig struct {
	API struct {
		URL      yaml.Node `yaml:"url"`
		Key1     yaml.Node `yaml:"key1"`
		Key1File yaml.Node `yaml:"key1_file"`
		Key2     yaml.Node `yaml:"key2"`
		Key2File yaml.Node `yaml:"key2_file"`
	} `yaml:"api"`
	StateDir     yaml.Node `yaml:"state_dir"`
	PollInterval yaml.Node `yaml:"poll_interval"`
	Ignore       yaml.Node `yaml:"ignore"`
	MaxDelete    yaml.Node `yaml:"max_delete"`
	Pairs        []rawPair `yaml:"pairs"`
	Log          struct {
		Level  yaml.Node `yaml:"level"`
		Format yaml.Node `yaml:"format"`
	} `yaml:"log"`
	MetricsListen     yaml.Node `yaml:"metrics_listen"`
	MetricsPublic     yaml.Node `yaml:"metrics_public"`
	BWLimitUp         yaml.Node `yaml:"bwlimit_up"`
	BWLimitDown       yaml.Node `yaml:"bwlimit_down"`
	RequestsPerSecond yaml.Node `yaml:"requests_per_second"`
	TrashRetention    yaml.Node `yaml:"trash_retention"`
	ScanInterval      yaml.Node `yaml:"scan_interval"`
	SweepInterval     yaml.Node `yaml:"sweep_interval"`
	Debounce          yaml.Node `yaml:"debounce"`
}

type rawPair struct {
	Local     yaml.Node `yaml:"local"`
	Remote    yaml.Node `yaml:"remote"`
	Ignore    yaml.Node `yaml:"ignore"`
	Direction yaml.Node `yaml:"direction"`
	Mirror    yaml.Node `yaml:"mirror"`
	Conflict  yaml.Node `yaml:"conflict"`
}

type parser struct {
	file     string
	mode     os.FileMode
	opt      Options
	keys     []keyPos       // every mapping key and sequence item, for error positions
	lines    map[string]int // dotted path -> line
	problems []Problem
	warnings []Warning
}

type keyPos struct {
	path, name string
	line       int
}

func (p *parser) fail(key string, line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{Key: key, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warn(key string, line int, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{Key: key, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var unknownField = regexp.MustCompile(`^field (\S+) not found in type`)

func (p *parser) parse(data []byte) *Config {
	var root yaml.Node
	docs := yaml.NewDecoder(bytes.NewReader(data))
	if err := docs.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return nil
	}
	// A second document would be silently ignored by the decoder below.
	var next yaml.Node
	if err := docs.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if err != nil {
			line = 0
		}
		p.fail("", line, "more than one YAML document (\"---\"): put everything in one")
		return nil
	}
	if len(root.Content) == 0 || (root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null") {
		p.fail("", 0, "the file is empty")
		return nil
	}
	p.lines = map[string]int{}
	p.index(root.Content[0], "")

	var raw rawConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return nil
	}
	return p.convert(&raw)
}

// index records the dotted path and line of every mapping key and sequence
// item, so that decoder messages, which carry only a line, can name the key.
func (p *parser) index(n *yaml.Node, prefix string) {
	if n.Kind == yaml.AliasNode {
		return // the anchor was indexed where it is defined
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			p.keys = append(p.keys, keyPos{path: path, name: k.Value, line: k.Line})
			if _, ok := p.lines[path]; !ok {
				p.lines[path] = k.Line
			}
			p.index(n.Content[i+1], path)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			path := fmt.Sprintf("%s[%d]", prefix, i)
			p.keys = append(p.keys, keyPos{path: path, line: c.Line})
			p.lines[path] = c.Line
			p.index(c, path)
		}
	}
}

// keyAt finds the dotted path of the key named name on line, or of any key
// on that line when name is empty or not found.
func (p *parser) keyAt(line int, name string) string {
	first := ""
	for _, k := range p.keys {
		if k.line != line {
			continue
		}
		if name != "" && k.name == name {
			return k.path
		}
		if first == "" {
			first = k.path
		}
	}
	return first
}

func (p *parser) yamlError(err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, msg := range te.Errors {
			p.yamlMessage(msg)
		}
		return
	}
	p.yamlMessage(err.Error())
}

func (p *parser) yamlMessage(msg string) {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		p.fail("", 0, "%s", strings.TrimPrefix(msg, "yaml: "))
		return
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	if f := unknownField.FindStringSubmatch(text); f != nil {
		p.fail(p.keyAt(line, f[1]), line, "unknown key %q", f[1])
		return
	}
	if strings.HasPrefix(text, "cannot unmarshal") {
		p.fail(p.keyAt(line, ""), line, "wrong kind of value: %s", describeTypeError(text))
		return
	}
	p.fail(p.keyAt(line, ""), line, "%s", text)
}

// describeTypeError turns "cannot unmarshal !!str `x` into config.rawPair"
// into words an operator understands.
func describeTypeError(text string) string {
	into := ""
	if i := strings.LastIndex(text, " into "); i >= 0 {
		into = text[i+len(" into "):]
		text = text[:i]
	}
	switch {
	case strings.HasPrefix(into, "[]"):
		into = "a list"
	case strings.Contains(into, "struct") || strings.HasPrefix(into, "config."):
		into = "a mapping of keys"
	}
	got := strings.TrimPrefix(text, "cannot unmarshal ")
	if into == "" {
		return "cannot use " + got
	}
	return fmt.Sprintf("expected %s, got %s", into, got)
}

func absent(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// scalar returns the text of a scalar value; ok is false when it is absent
// or not a scalar (which is reported).
func (p *parser) scalar(n *yaml.Node, key string) (string, bool) {
	if absent(n) {
		return "", false
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		p.fail(key, n.Line, "expected a single value, got a %s", kindName(n.Kind))
		return "", false
	}
	return n.Value, true
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.DocumentNode:
		return "document"
	}
	return "value"
}

func (p *parser) stringList(n *yaml.Node, key string) []string {
	if absent(n) {
		return nil
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(key, n.Line, "expected a list of strings")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		s, ok := p.scalar(c, k)
		if !ok {
			if absent(c) {
				p.fail(k, c.Line, "empty entry")
			}
			continue
		}
		if strings.TrimSpace(s) == "" {
			p.fail(k, c.Line, "empty entry")
			continue
		}
		if strings.ContainsRune(s, 0) {
			p.fail(k, c.Line, "contains a NUL character")
			continue
		}
		out = append(out, s)
	}
	return out
}

// value converts an optional scalar with parse, reporting a failure as
// "invalid WHAT "text": reason" at the value's line; def stands when the key
// is absent or wrong.
func value[T any](p *parser, n *yaml.Node, key, what string, def T, parse func(string) (T, error)) T {
	s, ok := p.scalar(n, key)
	if !ok {
		return def
	}
	v, err := parse(s)
	if err != nil {
		p.fail(key, n.Line, "invalid %s %q: %v", what, s, err)
		return def
	}
	return v
}

// duration is value for durations between min and max (max 0: no bound).
func (p *parser) duration(n *yaml.Node, key string, def, min, max time.Duration) time.Duration {
	return value(p, n, key, "duration", def, func(s string) (time.Duration, error) {
		d, err := parseDuration(s)
		switch {
		case err != nil:
			return 0, err
		case max > 0 && (d < min || d > max):
			return 0, fmt.Errorf("out of range: must be between %s and %s", min, max)
		case d < min:
			return 0, fmt.Errorf("too short: must be at least %s", min)
		}
		return d, nil
	})
}

func parseRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsNaN(v) || v > 1e6 {
		return 0, errors.New("want a number of requests per second, 0 for no fixed cap")
	}
	return v, nil
}

func (p *parser) boolean(n *yaml.Node, key string) bool {
	s, ok := p.scalar(n, key)
	if !ok {
		return false
	}
	switch s {
	case "true", "yes", "on":
		return true
	case "false", "no", "off":
		return false
	}
	p.fail(key, n.Line, "invalid boolean %q: use true or false", s)
	return false
}

func (p *parser) oneOf(n *yaml.Node, key, def string, allowed ...string) string {
	s, ok := p.scalar(n, key)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	p.fail(key, n.Line, "invalid value %q: must be one of %s", s, strings.Join(allowed, ", "))
	return def
}

func (p *parser) convert(raw *rawConfig) *Config {
	c := &Config{
		PollInterval:      DefaultPollInterval,
		MaxDelete:         DefaultMaxDelete,
		RequestsPerSecond: DefaultRequestsPerSecond,
		TrashRetention:    DefaultTrashRetention,
		ScanInterval:      DefaultScanInterval,
		SweepInterval:     DefaultSweepInterval,
		Debounce:          DefaultDebounce,
	}
	c.API.URL = p.apiURL(&raw.API.URL)
	c.API.Key1 = p.key(&raw.API.Key1, &raw.API.Key1File, "key1", "SYNCD_KEY1")
	c.API.Key2 = p.key(&raw.API.Key2, &raw.API.Key2File, "key2", "SYNCD_KEY2")
	if c.API.Key1 != "" && c.API.Key1 == c.API.Key2 {
		p.fail("api.key2", raw.API.Key2.Line, "key2 is the same as key1")
	}

	c.StateDir = p.stateDir(&raw.StateDir)
	c.PollInterval = p.duration(&raw.PollInterval, "poll_interval", DefaultPollInterval, time.Second, 24*time.Hour)
	c.Ignore = p.stringList(&raw.Ignore, "ignore")
	c.MaxDelete = value(p, &raw.MaxDelete, "max_delete", "share", DefaultMaxDelete, parsePercent)
	c.Log.Level = p.oneOf(&raw.Log.Level, "log.level", "info", "debug", "info", "warn", "error")
	c.Log.Format = p.oneOf(&raw.Log.Format, "log.format", "auto", "auto", "console", "json")
	c.MetricsPublic = p.boolean(&raw.MetricsPublic, "metrics_public")
	c.MetricsListen = p.metrics(&raw.MetricsListen, c.MetricsPublic)
	c.BWLimitUp = value(p, &raw.BWLimitUp, "bwlimit_up", "size", 0, parseSize)
	c.BWLimitDown = value(p, &raw.BWLimitDown, "bwlimit_down", "size", 0, parseSize)
	c.RequestsPerSecond = value(p, &raw.RequestsPerSecond, "requests_per_second", "rate", DefaultRequestsPerSecond, parseRate)
	c.TrashRetention = p.duration(&raw.TrashRetention, "trash_retention", DefaultTrashRetention, time.Hour, 0)
	c.ScanInterval = p.duration(&raw.ScanInterval, "scan_interval", DefaultScanInterval, time.Minute, 7*24*time.Hour)
	c.SweepInterval = p.duration(&raw.SweepInterval, "sweep_interval", DefaultSweepInterval, time.Second, 7*24*time.Hour)
	c.Debounce = p.duration(&raw.Debounce, "debounce", DefaultDebounce, 0, time.Minute)

	if len(raw.Pairs) == 0 {
		p.fail("pairs", p.lines["pairs"], "at least one pair is required")
	}
	for i := range raw.Pairs {
		c.Pairs = append(c.Pairs, p.pair(&raw.Pairs[i], fmt.Sprintf("pairs[%d]", i)))
	}
	p.overlaps(c)
	return c
}

func (p *parser) apiURL(n *yaml.Node) string {
	const key = "api.url"
	s, ok := p.scalar(n, key)
	if !ok {
		if absent(n) {
			p.fail(key, p.lines["api"], "required: the API base URL, e.g. https://files.example.com/api/v2/")
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		p.fail(key, n.Line, "invalid URL %q: %v", s, err)
		return ""
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		p.fail(key, n.Line, "invalid URL %q: need scheme://host/path with no user, query or fragment", s)
		return ""
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost(u.Hostname()) {
			p.fail(key, n.Line, "http:// is only allowed for loopback hosts (the keys would travel in clear text); use https://")
			return ""
		}
	default:
		p.fail(key, n.Line, "unsupported scheme %q: use https://", u.Scheme)
		return ""
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String()
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// key resolves one API key from its single source.
//
// Keys are secrets, so a source that every user of the host may read is
// warned about. Group read access is not: the packaged configuration is
// 0640 root:syncd so that the service (group syncd) can read it.
func (p *parser) key(inline, file *yaml.Node, name, env string) string {
	if p.opt.NoKeys {
		return ""
	}
	key := "api." + name
	fileKey := key + "_file"
	envVal := p.opt.Getenv(env)
	sources := 0
	for _, n := range []*yaml.Node{inline, file} {
		if !absent(n) {
			sources++
		}
	}
	if envVal != "" {
		sources++
	}
	if sources > 1 {
		line := inline.Line
		if absent(inline) {
			line = file.Line
		}
		var set []string
		if !absent(inline) {
			set = append(set, key)
		}
		if !absent(file) {
			set = append(set, fileKey)
		}
		if envVal != "" {
			set = append(set, "$"+env)
		}
		p.fail(key, line, "more than one source for %s (%s): keep exactly one", name, strings.Join(set, ", "))
		return ""
	}
	var val string
	switch {
	case !absent(inline):
		s, ok := p.scalar(inline, key)
		if !ok {
			return ""
		}
		if p.mode&0o004 != 0 {
			p.warn(key, inline.Line, "%s holds %s and every user can read it (mode %#o): chmod o-r it (0640 with the service's group, or 0600), or use %s_file", p.file, name, p.mode, name)
		}
		val = s
	case !absent(file):
		s, ok := p.scalar(file, fileKey)
		if !ok {
			return ""
		}
		if !filepath.IsAbs(s) {
			s = filepath.Join(filepath.Dir(p.file), s)
		}
		data, perm, err := readKeyFile(s)
		if err != nil {
			p.fail(fileKey, file.Line, "cannot read key file: %v", err)
			return ""
		}
		if perm&0o004 != 0 {
			p.warn(fileKey, file.Line, "key file %s can be read by every user (mode %#o): chmod o-r it (0600, or 0640 with the service's group)", s, perm)
		}
		val = strings.TrimSpace(string(data))
		key = fileKey
		if len(val) != KeyLen {
			p.fail(key, file.Line, "the key in %s must be exactly %d characters, it has %d", s, KeyLen, len(val))
			return ""
		}
		return val
	case envVal != "":
		val = strings.TrimSpace(envVal)
		if len(val) != KeyLen {
			p.fail(key, 0, "$%s must be exactly %d characters, it has %d", env, KeyLen, len(val))
			return ""
		}
		return val
	default:
		if !p.opt.KeysOptional {
			p.fail(key, p.lines["api"], "required: set %s, %s or $%s", key, fileKey, env)
		}
		return ""
	}
	if len(val) != KeyLen {
		p.fail(key, inline.Line, "must be exactly %d characters, it has %d", KeyLen, len(val))
		return ""
	}
	return val
}

func (p *parser) stateDir(n *yaml.Node) string {
	s, ok := p.scalar(n, "state_dir")
	if !ok {
		return defaultStateDir(p.opt)
	}
	if !filepath.IsAbs(s) {
		p.fail("state_dir", n.Line, "must be an absolute path, got %q", s)
		return ""
	}
	return filepath.Clean(s)
}

func defaultStateDir(opt Options) string {
	if d := opt.Getenv("STATE_DIRECTORY"); d != "" {
		// systemd may list several directories separated by colons.
		first, _, _ := strings.Cut(d, ":")
		if filepath.IsAbs(first) {
			return filepath.Clean(first)
		}
	}
	if opt.Euid == 0 {
		return DefaultSystemStateDir
	}
	if x := opt.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "syncd")
	}
	if h := opt.Getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "syncd")
	}
	return DefaultSystemStateDir
}

func (p *parser) metrics(n *yaml.Node, public bool) string {
	const key = "metrics_listen"
	s, ok := p.scalar(n, key)
	if !ok || s == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		p.fail(key, n.Line, "invalid address %q: want host:port, e.g. 127.0.0.1:9108", s)
		return ""
	}
	if pn, err := strconv.Atoi(port); err != nil || pn < 0 || pn > 65535 {
		p.fail(key, n.Line, "invalid port %q", port)
		return ""
	}
	if !loopbackHost(host) && !public {
		p.fail(key, n.Line, "%q is not a loopback address: metrics are served on loopback only unless metrics_public: true", s)
		return ""
	}
	return s
}

func (p *parser) pair(r *rawPair, prefix string) Pair {
	pr := Pair{Direction: Both, Conflict: KeepBoth}
	if s, ok := p.scalar(&r.Local, prefix+".local"); ok {
		if !filepath.IsAbs(s) {
			p.fail(prefix+".local", r.Local.Line, "must be an absolute path, got %q", s)
		} else {
			pr.Local = filepath.Clean(s)
		}
	} else if absent(&r.Local) {
		p.fail(prefix+".local", p.lines[prefix], "required: the local root directory")
	}
	if s, ok := p.scalar(&r.Remote, prefix+".remote"); ok {
		if rp, err := cleanRemote(s); err != nil {
			p.fail(prefix+".remote", r.Remote.Line, "invalid remote path %q: %v", s, err)
		} else {
			pr.Remote = rp
		}
	} else if absent(&r.Remote) {
		p.fail(prefix+".remote", p.lines[prefix], "required: the remote folder path, e.g. /backups/data")
	}
	pr.Ignore = p.stringList(&r.Ignore, prefix+".ignore")
	pr.Direction = Direction(p.oneOf(&r.Direction, prefix+".direction", string(Both), string(Both), string(UploadOnly), string(DownloadOnly)))
	pr.Mirror = p.boolean(&r.Mirror, prefix+".mirror")
	if pr.Mirror && pr.Direction == Both {
		p.fail(prefix+".mirror", r.Mirror.Line, "mirror needs direction upload-only or download-only: a two-way pair already propagates deletions")
	}
	if s, ok := p.scalar(&r.Conflict, prefix+".conflict"); ok && s != string(KeepBoth) {
		p.fail(prefix+".conflict", r.Conflict.Line, "unsupported conflict policy %q: only keep-both is implemented", s)
	}
	return pr
}

// cleanRemote validates a remote folder path: absolute, slash separated, no
// empty, "." or ".." segments. It returns it without a trailing slash ("/"
// for the account root).
func cleanRemote(s string) (string, error) {
	if !strings.HasPrefix(s, "/") {
		return "", errors.New(`must start with "/"`)
	}
	if strings.ContainsRune(s, 0) || strings.ContainsRune(s, '\\') {
		return "", errors.New("must not contain NUL or backslash")
	}
	t := strings.TrimSuffix(s, "/")
	if t == "" {
		return "/", nil
	}
	for _, seg := range strings.Split(t[1:], "/") {
		switch seg {
		case "":
			return "", errors.New("empty path segment (\"//\")")
		case ".", "..":
			return "", fmt.Errorf("%q segments are not allowed", seg)
		}
	}
	return t, nil
}

// overlaps refuses pairs that would sync the same files twice, and a state
// directory inside a synced root (the database would sync itself).
func (p *parser) overlaps(c *Config) {
	for i := range c.Pairs {
		a := c.Pairs[i]
		ka := fmt.Sprintf("pairs[%d]", i)
		if a.Local != "" && c.StateDir != "" && within(c.StateDir, a.Local, filepath.Separator) {
			p.fail(ka+".local", p.lines[ka+".local"], "contains state_dir %s: the state would be synced", c.StateDir)
		}
		for j := 0; j < i; j++ {
			b := c.Pairs[j]
			kb := fmt.Sprintf("pairs[%d]", j)
			if a.Local != "" && b.Local != "" && (within(a.Local, b.Local, filepath.Separator) || within(b.Local, a.Local, filepath.Separator)) {
				p.fail(ka+".local", p.lines[ka+".local"], "%s overlaps %s.local %s: local roots must not be inside one another", a.Local, kb, b.Local)
			}
			if a.Remote != "" && b.Remote != "" && (within(a.Remote, b.Remote, '/') || within(b.Remote, a.Remote, '/')) {
				p.fail(ka+".remote", p.lines[ka+".remote"], "%s overlaps %s.remote %s: remote folders must not be the same or inside one another", a.Remote, kb, b.Remote)
			}
		}
	}
}

// within reports whether child is parent or below it; both are clean.
func within(child, parent string, sep byte) bool {
	if child == parent {
		return true
	}
	if strings.HasSuffix(parent, string(sep)) { // a root such as "/"
		return strings.HasPrefix(child, parent)
	}
	return strings.HasPrefix(child, parent+string(sep))
}

// readKeyFile reads a small regular file: a key file naming a device or a
// FIFO must fail, not hang.
func readKeyFile(name string) ([]byte, os.FileMode, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", name, err)
	}
	return data, fi.Mode().Perm(), nil
}
