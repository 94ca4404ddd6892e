package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"

	"github.com/syncd/syncd/cmd/syncd/internal/config"
	"github.com/syncd/syncd/packaging"
)

// svcStopTimeout bounds how long Stop waits for the daemon to finish its
// current step; systemd's TimeoutStopSec (30s) is the hard limit above it.
const svcStopTimeout = 20 * time.Second

// Exit codes of `syncd service status`, after the LSB init-script
// convention that systemctl also follows.
const (
	svcStatusRunning = 0
	svcStatusStopped = 3
	svcStatusUnknown = 4 // not installed, or the manager could not tell
)

func svcUsage(w io.Writer) {
	fmt.Fprint(w, `usage: syncd service ACTION [-config FILE] [-user]
actions:
  install    register syncd with the service manager, running
             "syncd run -config FILE" (FILE made absolute, validated first)
  uninstall  remove the registration (config and state are kept)
  start | stop | restart
  status     exit 0 running, 3 stopped, 4 not installed or unknown
  unit       print the systemd unit install would write
             (-dropin: only the ReadWritePaths drop-in for the packaged unit;
              -packaged: the unit the .deb/.rpm ship; -launchd: the plist)
flags:
  -config FILE   default $SYNCD_CONFIG, then /etc/syncd/config.yaml
  -user          a per-user service (systemd --user, launchd LaunchAgent)
  -run-as USER   system service account (default syncd; must exist)
`)
}

// runService handles `syncd service ACTION [flags]` and returns the exit
// code. runDaemon is what the installed service ends up running, through
// `syncd run` (see runManaged); it is only called here by the service
// manager's Run, never by install or control actions.
func runService(ctx context.Context, args []string, stdout, stderr io.Writer, runDaemon func(ctx context.Context, cfgPath string) error) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		svcUsage(stderr)
		return 2
	}
	action := args[0]
	fs := flag.NewFlagSet("service "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", config.DefaultConfigPath(os.Getenv), "configuration file")
	userSvc := fs.Bool("user", false, "per-user service")
	runAs := fs.String("run-as", "", "account of the system service (default syncd; Windows: LocalSystem)")
	dropin := fs.Bool("dropin", false, "unit: print only the ReadWritePaths drop-in")
	packaged := fs.Bool("packaged", false, "unit: print the packaged unit")
	launchd := fs.Bool("launchd", false, "unit: print the launchd plist")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "syncd service %s: unexpected argument %q\n", action, fs.Arg(0))
		return 2
	}
	abs, err := filepath.Abs(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "syncd service: config path %s: %v\n", *cfgPath, err)
		return 2
	}
	opts := svcOptions{configPath: abs, user: *userSvc, runAs: *runAs}

	switch action {
	case "unit":
		return svcPrintUnit(stdout, stderr, opts, *dropin, *packaged, *launchd)
	case "install":
		return svcInstall(stdout, stderr, opts)
	case "uninstall", "start", "stop", "restart", "status":
	case "help", "-h":
		svcUsage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "syncd service: unknown action %q\n", action)
		svcUsage(stderr)
		return 2
	}

	s, err := service.New(newSvcProgram(ctx, abs, runDaemon), svcConfig(opts, nil))
	if err != nil {
		fmt.Fprintf(stderr, "syncd service %s: %v\n", action, err)
		return 1
	}
	if action == "status" {
		st, err := s.Status()
		switch {
		case errors.Is(err, service.ErrNotInstalled):
			fmt.Fprintf(stdout, "%s: not installed\n", s)
			return svcStatusUnknown
		case err != nil:
			fmt.Fprintf(stdout, "%s: status unknown (%s): %v\n", s, s.Platform(), err)
			return svcStatusUnknown
		case st == service.StatusRunning:
			fmt.Fprintf(stdout, "%s: running\n", s)
			return svcStatusRunning
		default:
			fmt.Fprintf(stdout, "%s: stopped\n", s)
			return svcStatusStopped
		}
	}
	if err := service.Control(s, action); err != nil {
		fmt.Fprintf(stderr, "syncd service %s: %v\n", action, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s done (%s)\n", s, action, s.Platform())
	return 0
}

type svcOptions struct {
	configPath string // absolute
	user       bool
	runAs      string // "" = syncd (Unix) or LocalSystem (Windows)
}

// account is the Unix account a system service runs as.
func (o svcOptions) account() string {
	if o.runAs == "" {
		return packaging.ServiceUser
	}
	return o.runAs
}

// svcName is the name the service manager knows syncd by; launchd wants the
// plist's Label there.
func svcName() string {
	if runtime.GOOS == "darwin" {
		return packaging.LaunchdLabel
	}
	return "syncd"
}

// svcConfig is the kardianos configuration. unit carries the rendered
// service files for install; control actions need only the name.
func svcConfig(o svcOptions, unit *svcFiles) *service.Config {
	c := &service.Config{
		Name:        svcName(),
		DisplayName: "syncd",
		Description: "Two-way sync of local directory trees with a File Upload API v2 account",
		Arguments:   []string{"run", "-config", o.configPath},
		Option:      service.KeyValue{"UserService": o.user},
	}
	if unit != nil {
		c.Executable = unit.executable
		// Fully rendered by our text/template: kardianos' own template
		// engine finds no actions left in them and writes them as they are.
		c.Option["SystemdScript"] = unit.systemd
		c.Option["LaunchdConfig"] = unit.launchd
		c.Option["KeepAlive"] = true
		c.Option["RunAtLoad"] = true
		if !o.user && o.runAs != "" && runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
			c.UserName = o.runAs // other service managers take the account here
		}
	}
	return c
}

type svcFiles struct {
	executable string
	systemd    string
	launchd    string
	unit       packaging.Unit
}

// svcRender loads the configuration (so a broken file is refused before it
// is installed; only the keys may be missing) and renders the service files
// for this executable.
func svcRender(stderr io.Writer, o svcOptions) (*svcFiles, int) {
	// The keys may live in the unit's EnvironmentFile, out of this shell's
	// reach; the files only need the pairs.
	cfg, warns, err := config.LoadWith(o.configPath, config.Options{Getenv: os.Getenv, Euid: os.Geteuid(), KeysOptional: true})
	for _, w := range warns {
		fmt.Fprintf(stderr, "syncd: warning: %s\n", w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "syncd: %v\n", err)
		return nil, 2
	}
	exe, err := svcExecutable()
	if err != nil {
		fmt.Fprintf(stderr, "syncd service: cannot find the syncd executable: %v\n", err)
		return nil, 1
	}
	u := packaging.Unit{
		Executable:     exe,
		ConfigPath:     cfg.Path,
		User:           o.account(),
		UserService:    o.user,
		ReadWritePaths: svcWritablePaths(cfg),
	}
	if o.user {
		if home, err := os.UserHomeDir(); err == nil {
			u.LogFile = filepath.Join(home, "Library", "Logs", "syncd.log")
		}
	}
	f := &svcFiles{executable: exe, unit: u}
	if f.systemd, err = packaging.Systemd(u); err == nil {
		f.launchd, err = packaging.Launchd(u)
	}
	if err != nil {
		fmt.Fprintf(stderr, "syncd service: %v\n", err)
		return nil, 2
	}
	return f, 0
}

// svcExecutable is the absolute path of the running syncd, symlinks
// resolved. Without /proc (a chroot) it falls back to finding os.Args[0].
func svcExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		if exe, err = exec.LookPath(os.Args[0]); err == nil {
			exe, err = filepath.Abs(exe)
		}
	}
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
}

// svcWritablePaths are the directories the sandboxed unit must be able to
// write: every pair's local root, and state_dir unless it is systemd's own
// StateDirectory (writable by construction).
func svcWritablePaths(cfg *config.Config) []string {
	var out []string
	for _, p := range cfg.Pairs {
		out = append(out, p.Local)
	}
	if cfg.StateDir != config.DefaultSystemStateDir {
		out = append(out, cfg.StateDir)
	}
	return out
}

func svcPrintUnit(stdout, stderr io.Writer, o svcOptions, dropin, packaged, launchd bool) int {
	var text string
	var err error
	switch {
	case packaged && launchd:
		text, err = packaging.PackagedLaunchd()
	case packaged:
		text, err = packaging.GeneratedSystemd()
	default:
		f, code := svcRender(stderr, o)
		if f == nil {
			return code
		}
		switch {
		case dropin:
			text, err = packaging.SystemdDropIn(f.unit)
		case launchd:
			text = f.launchd
		default:
			text = f.systemd
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "syncd service unit: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, text)
	return 0
}

func svcInstall(stdout, stderr io.Writer, o svcOptions) int {
	f, code := svcRender(stderr, o)
	if f == nil {
		return code
	}
	if !o.user && runtime.GOOS != "windows" {
		if _, err := user.Lookup(o.account()); err != nil {
			fmt.Fprintf(stderr, "syncd service install: account %q not found (%v); create it with\n"+
				"  useradd --system --home-dir /var/lib/syncd --shell /usr/sbin/nologin %s\n"+
				"and give it write access to the pairs' local roots, or pass -run-as USER\n", o.account(), err, o.account())
			return 1
		}
	}
	s, err := service.New(newSvcProgram(context.Background(), o.configPath, nil), svcConfig(o, f))
	if err == nil {
		err = s.Install()
	}
	if err != nil {
		fmt.Fprintf(stderr, "syncd service install: %v\n", err)
		if strings.Contains(err.Error(), "already exists") {
			fmt.Fprintln(stderr, "to replace it: syncd service uninstall, then install again")
		}
		return 1
	}
	flags := ""
	if o.user {
		flags = " -user"
	}
	fmt.Fprintf(stdout, "installed %s (%s): %s run -config %s\nstart it with: syncd service start%s\n",
		s, s.Platform(), f.executable, o.configPath, flags)
	return 0
}

// svcProgram adapts the daemon to kardianos' Interface: Start returns at
// once with the daemon running in a goroutine, Stop cancels it and waits at
// most stopTimeout.
type svcProgram struct {
	parent      context.Context
	cfgPath     string
	runDaemon   func(ctx context.Context, cfgPath string) error
	stopTimeout time.Duration

	cancel context.CancelFunc
	done   chan struct{} // closed when runDaemon returned; err is then set
	err    error
}

func newSvcProgram(ctx context.Context, cfgPath string, runDaemon func(context.Context, string) error) *svcProgram {
	return &svcProgram{parent: ctx, cfgPath: cfgPath, runDaemon: runDaemon, stopTimeout: svcStopTimeout}
}

func (p *svcProgram) Start(service.Service) error {
	if p.runDaemon == nil {
		return errors.New("no daemon to run")
	}
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel = cancel
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		p.err = p.runDaemon(ctx, p.cfgPath)
	}()
	return nil
}

func (p *svcProgram) Stop(service.Service) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	t := time.NewTimer(p.stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("daemon for %s did not stop within %s", p.cfgPath, p.stopTimeout)
	}
}

// wait blocks until ctx is done or the daemon returned by itself (a
// failure the service manager must see, to restart it).
func (p *svcProgram) wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-p.done:
	}
}

// runManaged is what `syncd run` calls: in a terminal it runs the daemon
// directly; under a service manager it goes through kardianos' Run, which
// performs the manager's handshake (essential for the Windows SCM) and then
// runs the very same daemon. ctx should be cancelled on SIGINT/SIGTERM.
func runManaged(ctx context.Context, cfgPath string, runDaemon func(ctx context.Context, cfgPath string) error) error {
	if service.Interactive() {
		return runDaemon(ctx, cfgPath)
	}
	return runUnderService(ctx, cfgPath, runDaemon)
}

// runUnderService runs the daemon through kardianos' Run. It returns when ctx
// is done (the caller's signal handling) or the daemon ends by itself, and
// reports the daemon's error so that the process exits non-zero and
// Restart=on-failure applies.
func runUnderService(ctx context.Context, cfgPath string, runDaemon func(ctx context.Context, cfgPath string) error) error {
	p := newSvcProgram(ctx, cfgPath, runDaemon)
	c := svcConfig(svcOptions{configPath: cfgPath}, nil)
	c.Option["RunWait"] = func() { p.wait(ctx) }
	s, err := service.New(p, c)
	if err != nil {
		return fmt.Errorf("service %s: %w", cfgPath, err)
	}
	if err := s.Run(); err != nil {
		return fmt.Errorf("service %s: %w", cfgPath, errors.Join(err, p.err))
	}
	return p.err
}
