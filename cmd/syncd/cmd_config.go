package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/syncd/syncd/cmd/syncd/internal/authguard"
	"github.com/syncd/syncd/cmd/syncd/internal/config"
	"github.com/syncd/syncd/sync/local"
)

// runConfig handles `syncd config check [-config FILE]`: a full validation
// of a configuration that sends nothing to the server, so it spends no
// authorization attempt (the server bans an IP after five failures a day).
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: syncd config check [-config FILE]")
		return exitUsage
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default $SYNCD_CONFIG, then /etc/syncd/config.yaml)")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "syncd config check: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	path := *cfgPath
	if path == "" {
		path = config.DefaultConfigPath(os.Getenv)
	}
	failed := 0
	ok := func(format string, a ...any) { fmt.Fprintf(stdout, "ok    "+format+"\n", a...) }
	fail := func(format string, a ...any) { failed++; fmt.Fprintf(stdout, "FAIL  "+format+"\n", a...) }
	cfg, warnings, err := config.Load(path)
	for _, w := range warnings {
		fmt.Fprintf(stdout, "warn  %s\n", w)
	}
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fail("%s: %s", ce.File, p)
			}
		} else {
			fail("%v", err)
		}
		fmt.Fprintf(stdout, "config check: %d problem(s); nothing was sent to the server\n", failed)
		return exitUsage
	}
	ok("%s: schema and values valid, %d pair(s)", cfg.Path, len(cfg.Pairs))
	ok("api.url %s; api.key1 and api.key2 present, %d characters each (not sent: only the server can tell whether it accepts them)", cfg.API.URL, config.KeyLen)
	checkStateDir(cfg.StateDir, ok, fail)
	for i, pc := range cfg.Pairs {
		name := fmt.Sprintf("pairs[%d] %s <-> %s", i, pc.Local, pc.Remote)
		if _, err := local.NewMatcher(cfg.Ignore, pc.Ignore); err != nil {
			fail("%s: ignore patterns: %v", name, err)
		}
		fi, err := os.Stat(pc.Local)
		switch {
		case err != nil:
			fail("%s: local root: %v (an unmounted disk?)", name, err)
		case !fi.IsDir():
			fail("%s: local root is not a directory", name)
		default:
			if _, err := os.Stat(filepath.Join(pc.Local, ".syncd")); err == nil {
				ok("%s: local root is a directory, initialised (.syncd/ present)", name)
			} else {
				ok("%s: local root is a directory, not synced yet (no .syncd/)", name)
			}
		}
	}
	st, err := (&authguard.Guard{Dir: cfg.StateDir}).Inspect(ctx, cfg.API.Key1, cfg.API.Key2)
	switch {
	case err != nil:
		fail("auth guard in %s: %v", cfg.StateDir, err)
	case st.Blocked != "":
		fail("key pair not sent by once/run: %s; fix the keys, or pass -retry-auth once the cause is fixed (%d failed authorization(s) in the last 24h)", st.Blocked, st.Failures)
	default:
		ok("key pair not known as refused; %d failed authorization(s) from this state_dir in the last 24h (at most %d are sent)", st.Failures, authguard.MaxFailures)
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "config check: %d problem(s); nothing was sent to the server\n", failed)
		return exitUsage
	}
	fmt.Fprintln(stdout, "config check: OK; nothing was sent to the server")
	return exitOK
}

// checkStateDir checks that state_dir is (or can be created as) a
// writable directory, without creating it.
func checkStateDir(dir string, ok, fail func(string, ...any)) {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		parent := filepath.Dir(dir)
		for {
			if _, err := os.Stat(parent); err == nil || filepath.Dir(parent) == parent {
				break
			}
			parent = filepath.Dir(parent)
		}
		if err := writable(parent); err != nil {
			fail("state_dir %s does not exist and cannot be created: %v", dir, err)
			return
		}
		ok("state_dir %s does not exist yet; it will be created", dir)
		return
	}
	if err != nil {
		fail("state_dir %s: %v", dir, err)
		return
	}
	if !fi.IsDir() {
		fail("state_dir %s is not a directory", dir)
		return
	}
	if err := writable(dir); err != nil {
		fail("state_dir %s is not writable: %v", dir, err)
		return
	}
	ok("state_dir %s is a writable directory", dir)
}

// writable creates and removes a temporary file in dir.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".syncd-check-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}
