package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/syncd/syncd/packaging"
)

// svcTestConfig writes a valid configuration with two pairs and returns its
// path (relative, to prove install makes it absolute) and the directory.
func svcTestConfig(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	body := "api:\n  url: https://files.example.com/api/v2/\n" +
		"  key1: " + strings.Repeat("a", 64) + "\n  key2: " + strings.Repeat("b", 64) + "\n" +
		"state_dir: " + filepath.Join(dir, "state") + "\n" +
		"pairs:\n  - local: " + filepath.Join(dir, "one") + "\n    remote: /one\n" +
		"  - local: " + filepath.Join(dir, "My Two") + "\n    remote: /two\n"
	p := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return "config.yaml", dir
}

func runSvc(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runService(t.Context(), args, &out, &errb, func(context.Context, string) error {
		t.Error("runDaemon called by a command that must not run the daemon")
		return nil
	})
	return code, out.String(), errb.String()
}

func TestServiceUnitRendersConfig(t *testing.T) {
	rel, dir := svcTestConfig(t)
	code, out, errOut := runSvc(t, "unit", "-config", rel)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	abs := filepath.Join(dir, "config.yaml")
	for _, want := range []string{
		"\nExecStart=" + exe + " run -config " + abs + "\n",
		"\nUser=syncd\n",
		"\nReadWritePaths=-" + filepath.Join(dir, "one") + "\n",
		"\nReadWritePaths=-\"" + filepath.Join(dir, "My Two") + "\"\n",
		"\nReadWritePaths=-" + filepath.Join(dir, "state") + "\n",
		"\nProtectSystem=strict\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("unit lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runSvc(t, "unit", "-config", rel, "-user")
	if code != 0 || strings.Contains(out, "User=") || !strings.Contains(out, "WantedBy=default.target") {
		t.Errorf("-user unit (exit %d):\n%s", code, out)
	}
	code, out, _ = runSvc(t, "unit", "-config", rel, "-dropin")
	if code != 0 || !strings.HasPrefix(strings.SplitN(out, "\n[Service]\n", 2)[1], "ReadWritePaths=-"+filepath.Join(dir, "one")) {
		t.Errorf("-dropin (exit %d):\n%s", code, out)
	}
	code, out, _ = runSvc(t, "unit", "-config", rel, "-launchd")
	if code != 0 || !strings.Contains(out, "<string>"+abs+"</string>") {
		t.Errorf("-launchd (exit %d):\n%s", code, out)
	}
}

func TestServiceUnitWithoutKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte("api:\n  url: https://h/\npairs:\n  - {local: /srv/a, remote: /a}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SYNCD_KEY1", "")
	t.Setenv("SYNCD_KEY2", "")
	code, out, errOut := runSvc(t, "unit", "-dropin", "-config", p)
	if code != 0 || !strings.Contains(out, "\nReadWritePaths=-/srv/a\n") {
		t.Errorf("exit %d, stderr %q:\n%s", code, errOut, out)
	}
}

func TestServiceUnitPackagedNeedsNoConfig(t *testing.T) {
	code, out, errOut := runSvc(t, "unit", "-packaged", "-config", filepath.Join(t.TempDir(), "missing.yaml"))
	want, err := packaging.GeneratedSystemd()
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || out != want {
		t.Errorf("exit %d, stderr %q; output differs from the packaged unit", code, errOut)
	}
}

func TestServiceErrors(t *testing.T) {
	rel, dir := svcTestConfig(t)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("api:\n  url: https://h/\npairs:\n  - local: /a\n    remote: /a\n    direction: sideways\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shortKey := filepath.Join(dir, "short.yaml")
	if err := os.WriteFile(shortKey, []byte("api:\n  url: https://h/\n  key1: short\npairs:\n  - {local: /a, remote: /a}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no action", nil, 2, "usage: syncd service"},
		{"flag first", []string{"-config", rel}, 2, "usage: syncd service"},
		{"unknown action", []string{"reboot"}, 2, `unknown action "reboot"`},
		{"bad flag", []string{"start", "-nope"}, 2, "flag provided but not defined"},
		{"extra argument", []string{"start", "now"}, 2, `unexpected argument "now"`},
		{"config error on unit", []string{"unit", "-config", bad}, 2, "pairs[0].direction (line 6)"},
		{"config error on install", []string{"install", "-config", bad}, 2, "pairs[0].direction (line 6)"},
		{"missing config on install", []string{"install", "-config", filepath.Join(dir, "nope.yaml")}, 2, "cannot read"},
		{"keys absent are fine, wrong keys are not", []string{"unit", "-config", shortKey}, 2, "api.key1 (line 3): must be exactly 64"},
		{"missing account", []string{"install", "-config", rel, "-run-as", "no-such-user-syncd"}, 1, "useradd --system"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runSvc(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Errorf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", code, tc.code, errOut, tc.msg)
			}
		})
	}
}

func TestServiceStatusNotInstalled(t *testing.T) {
	if _, err := os.Stat("/etc/systemd/system/syncd.service"); err == nil {
		t.Skip("syncd is installed on this machine")
	}
	if _, err := os.Stat("/etc/init.d/syncd"); err == nil {
		t.Skip("syncd is installed on this machine")
	}
	code, out, errOut := runSvc(t, "status", "-config", "/nonexistent/config.yaml")
	// systemd says "not installed"; a sysv-only host (containers) cannot
	// tell it from other failures and says "status unknown".
	if code != svcStatusUnknown || !strings.Contains(out, "not installed") && !strings.Contains(out, "status unknown") {
		t.Errorf("exit %d, out %q, err %q", code, out, errOut)
	}
}

// TestProgramStartStop checks the kardianos contract: Start returns at once
// with the daemon running, Stop cancels it and waits for it.
func TestProgramStartStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		running := make(chan string, 1)
		stopped := false
		p := newSvcProgram(t.Context(), "/etc/syncd/config.yaml", func(ctx context.Context, cfg string) error {
			running <- cfg
			<-ctx.Done()
			time.Sleep(5 * time.Second) // a step finishing after the cancel
			stopped = true
			return nil
		})
		if err := p.Start(nil); err != nil {
			t.Fatal(err)
		}
		if got := <-running; got != "/etc/syncd/config.yaml" {
			t.Errorf("daemon got config %q", got)
		}
		start := time.Now()
		if err := p.Stop(nil); err != nil {
			t.Fatal(err)
		}
		if !stopped || time.Since(start) != 5*time.Second {
			t.Errorf("Stop returned after %v, daemon stopped=%v", time.Since(start), stopped)
		}
	})
}

func TestProgramStopGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		p := newSvcProgram(t.Context(), "c", func(ctx context.Context, _ string) error {
			<-release // ignores ctx
			return nil
		})
		if err := p.Start(nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err := p.Stop(nil)
		if err == nil || time.Since(start) != svcStopTimeout {
			t.Errorf("Stop = %v after %v, want an error after %v", err, time.Since(start), svcStopTimeout)
		}
		close(release)
		synctest.Wait()
	})
}

// TestRunUnderService runs the daemon through kardianos' Run (the path a
// service manager takes) with the init system this machine has.
func TestRunUnderService(t *testing.T) {
	boom := errors.New("remote refused the keys")
	err := runUnderService(t.Context(), "/c.yaml", func(ctx context.Context, cfg string) error {
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("a daemon failing by itself: got %v, want %v", err, boom)
	}

	ctx, cancel := context.WithCancel(t.Context())
	saw := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runUnderService(ctx, "/c.yaml", func(ctx context.Context, _ string) error {
			close(saw)
			<-ctx.Done()
			return nil
		})
	}()
	<-saw
	cancel() // what SIGTERM does through main's NotifyContext
	if err := <-done; err != nil {
		t.Errorf("stopped daemon: %v", err)
	}
}

func TestRunManagedInTerminal(t *testing.T) {
	called := ""
	err := runManaged(t.Context(), "/x.yaml", func(_ context.Context, cfg string) error {
		called = cfg
		return nil
	})
	if err != nil || called != "/x.yaml" {
		t.Errorf("runManaged: %v, daemon got %q", err, called)
	}
}
