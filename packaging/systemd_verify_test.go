package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSystemdAcceptsUnits has systemd's own parser read every rendered
// variant: `systemd-analyze verify` reports each directive it would ignore
// (it exits 0 for those, so its output is what is checked), and
// `security --offline` scores the sandbox.
func TestSystemdAcceptsUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	exe, err := os.Executable() // verify wants an executable that exists
	if err != nil {
		t.Fatal(err)
	}
	spaced := filepath.Join(t.TempDir(), "my bin", "syncd")
	if err := os.MkdirAll(filepath.Dir(spaced), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, spaced); err != nil {
		t.Fatal(err)
	}
	units := map[string]Unit{
		"packaged": {Executable: exe, ConfigPath: PackagedConfig, User: ServiceUser},
		"roots": {Executable: spaced, ConfigPath: "/etc/syncd/a b%.yaml", User: "backup",
			ReadWritePaths: []string{"/srv/data", "/home/ann/My Files", `/srv/odd"quote`, "/srv/100%"}},
		"user": {Executable: exe, ConfigPath: "/home/ann/.config/syncd/config.yaml", UserService: true},
	}
	for name, u := range units {
		t.Run(name, func(t *testing.T) {
			text, err := Systemd(u)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "syncd.service")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", path}
			if u.UserService {
				args = []string{"--user", "verify", path}
			}
			cmd := exec.Command(analyze, args...)
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir) // a user manager needs one
			out, err := cmd.CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze %v: %v\n%s\nunit:\n%s", args, err, out, text)
			}
			if u.UserService {
				return
			}
			out, err = exec.Command(analyze, "security", "--offline=yes", path).CombinedOutput()
			if err != nil {
				t.Skipf("systemd-analyze security --offline unsupported: %v", err)
			}
			m := regexp.MustCompile(`Overall exposure level for syncd.service: ([0-9.]+)`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("no exposure level in:\n%s", out)
			}
			level, _ := strconv.ParseFloat(string(m[1]), 64)
			t.Logf("systemd exposure level %.1f", level)
			if level > 2.5 {
				t.Errorf("exposure level %.1f (0 = locked down, 10 = unprotected), want at most 2.5", level)
			}
		})
	}
}
