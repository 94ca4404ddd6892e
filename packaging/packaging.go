// Package packaging owns how syncd is installed as a system service: the one
// template of the systemd unit and of the launchd job, rendered both for
// `syncd service install` (kardianos/service) and, by go generate, into the
// files the .deb and .rpm ship (systemd/syncd.service, launchd/), plus the
// nfpm configuration and build scripts beside it.
package packaging

//go:generate go run ./internal/gen

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/template"
)

//go:embed syncd.service.tmpl
var systemdTemplate string

//go:embed syncd.plist.tmpl
var launchdTemplate string

// Paths the packages install.
const (
	PackagedExecutable = "/usr/bin/syncd"
	PackagedConfig     = "/etc/syncd/config.yaml"
	PackagedEnvFile    = "/etc/syncd/env"
	ServiceUser        = "syncd"
	LaunchdLabel       = "com.github.syncd"
)

// Unit describes one installation of the service.
type Unit struct {
	Executable string // absolute path of the syncd binary
	ConfigPath string // absolute path passed as `run -config`
	// User and Group run a system service; ignored for a user service.
	User, Group string
	// UserService renders a per-user unit (systemd --user, LaunchAgent):
	// no User=, no sandboxing that needs privileges, WantedBy=default.target.
	UserService bool
	// ReadWritePaths are made writable despite ProtectSystem=strict: the
	// pairs' local roots, and state_dir when it is not systemd's
	// StateDirectory. Empty renders instructions instead.
	ReadWritePaths []string
	EnvFile        string // EnvironmentFile= (optional, "-" prefixed); default /etc/syncd/env
	LogFile        string // launchd StandardErrorPath; default /var/log/syncd.log or ~/Library/Logs
}

// Packaged is the unit the .deb and .rpm ship.
func Packaged() Unit {
	return Unit{Executable: PackagedExecutable, ConfigPath: PackagedConfig, User: ServiceUser, Group: ServiceUser}
}

type view struct {
	Executable, ConfigPath, User, Group, EnvFile, LogFile, Label string
	// ExecutablePath is Executable for directives that take one raw path
	// (ConditionFileIsExecutable=), where quotes would be literal.
	ExecutablePath         string
	UserService, Generated bool
	ReadWritePaths         []string
}

func (u Unit) view(generated bool, quote func(string) string) (view, error) {
	for _, p := range append([]string{u.Executable, u.ConfigPath}, u.ReadWritePaths...) {
		if !filepath.IsAbs(p) {
			return view{}, fmt.Errorf("path %q is not absolute", p)
		}
		if strings.ContainsAny(p, "\n\r\x00") {
			return view{}, fmt.Errorf("path %q contains a line break or NUL", p)
		}
		// kardianos runs its own template engine over the rendered file.
		if strings.Contains(p, "{{") || strings.Contains(p, "}}") {
			return view{}, fmt.Errorf("path %q contains a template delimiter", p)
		}
	}
	v := view{
		Executable:     quote(u.Executable),
		ExecutablePath: strings.ReplaceAll(u.Executable, "%", "%%"),
		ConfigPath:     quote(u.ConfigPath),
		User:           u.User,
		Group:          u.Group,
		EnvFile:        u.EnvFile,
		LogFile:        u.LogFile,
		Label:          LaunchdLabel,
		UserService:    u.UserService,
		Generated:      generated,
	}
	if !u.UserService {
		if v.User == "" {
			v.User = ServiceUser
		}
		if v.Group == "" {
			v.Group = v.User
		}
		if !validName(v.User) || !validName(v.Group) {
			return view{}, fmt.Errorf("invalid user or group %q:%q", v.User, v.Group)
		}
	}
	if v.EnvFile == "" {
		v.EnvFile = PackagedEnvFile
	}
	if !filepath.IsAbs(v.EnvFile) {
		return view{}, fmt.Errorf("env file %q is not absolute", v.EnvFile)
	}
	v.EnvFile = quote(v.EnvFile)
	if v.LogFile == "" {
		v.LogFile = "/var/log/syncd.log"
	}
	v.LogFile = quote(v.LogFile)
	for _, p := range u.ReadWritePaths {
		v.ReadWritePaths = append(v.ReadWritePaths, quote(filepath.Clean(p)))
	}
	return v, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// systemdQuote escapes a path for a unit file: "%" starts a specifier and
// white space or quotes split words, so those are escaped and quoted.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

func xmlQuote(s string) string {
	var b bytes.Buffer
	_ = xmlEscape(&b, s)
	return b.String()
}

func xmlEscape(b *bytes.Buffer, s string) error {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	_, err := r.WriteString(b, s)
	return err
}

func render(name, text, sub string, v view) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", name, err)
	}
	var b bytes.Buffer
	if sub != "" {
		err = t.ExecuteTemplate(&b, sub, v)
	} else {
		err = t.Execute(&b, v)
	}
	if err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return b.String(), nil
}

// Systemd renders the unit file for u.
func Systemd(u Unit) (string, error) {
	return systemd(u, false)
}

// GeneratedSystemd is the packaged unit with its "generated, do not edit"
// header: the content of systemd/syncd.service.
func GeneratedSystemd() (string, error) {
	return systemd(Packaged(), true)
}

func systemd(u Unit, generated bool) (string, error) {
	v, err := u.view(generated, systemdQuote)
	if err != nil {
		return "", fmt.Errorf("systemd unit: %w", err)
	}
	return render("syncd.service", systemdTemplate, "", v)
}

// SystemdDropIn renders a drop-in (for /etc/systemd/system/syncd.service.d/)
// making u.ReadWritePaths writable in the packaged unit.
func SystemdDropIn(u Unit) (string, error) {
	if len(u.ReadWritePaths) == 0 {
		return "", errors.New("systemd drop-in: no paths to make writable")
	}
	v, err := u.view(false, systemdQuote)
	if err != nil {
		return "", fmt.Errorf("systemd drop-in: %w", err)
	}
	return render("syncd.service", systemdTemplate, "dropin", v)
}

// Launchd renders the launchd property list for u (a LaunchDaemon, or a
// LaunchAgent when u.UserService).
func Launchd(u Unit) (string, error) {
	v, err := u.view(false, xmlQuote)
	if err != nil {
		return "", fmt.Errorf("launchd plist: %w", err)
	}
	return render("syncd.plist", launchdTemplate, "", v)
}

// PackagedLaunchd is the plist shipped as launchd/com.github.syncd.plist.
func PackagedLaunchd() (string, error) {
	u := Packaged()
	u.Executable = "/usr/local/bin/syncd"
	return Launchd(u)
}
