// Command syncd keeps local directory trees and folders of a File Upload API
// v2 account identical, both ways. This package wires configuration, logging,
// the state store, the remote client, the watchers and the sync engine
// together; it holds no sync logic of its own: each pair's loop (passes,
// polls, safety rescans, trash purge, backoff) is engine.Pair.Run.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Set by the build (-ldflags "-X main.version=... -X main.commit=... -X main.date=...").
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiles := startProfiles(os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfiles()
	stop()
	os.Exit(code)
}

// run dispatches a command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "version", "-version", "--version":
		printVersion(stdout)
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "run":
		return runRun(ctx, args[1:], stdout, stderr)
	case "status", "-status", "--status":
		return runStatus(ctx, args[1:], stdout, stderr)
	case "service":
		return runService(ctx, args[1:], stdout, stderr, daemonFromPath)
	case "emulator":
		return runEmulator(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "once":
		return runOnce(ctx, args[1:], stdout, stderr)
	case "config":
		return runConfig(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "syncd: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func printVersion(w io.Writer) {
	v, c, d := version, commit, date
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if c == "" {
					c = s.Value
				}
			case "vcs.time":
				if d == "" {
					d = s.Value
				}
			}
		}
		fmt.Fprintf(w, "syncd %s (commit %s, built %s, %s)\n", v, orNone(c), orNone(d), bi.GoVersion)
		return
	}
	fmt.Fprintf(w, "syncd %s (commit %s, built %s)\n", v, orNone(c), orNone(d))
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  syncd run     [-config FILE] [-retry-auth] [-v | -log-level LEVEL] [-progress DUR]
                                          foreground daemon
  syncd once    [-config FILE] [-force] [-dry-run] [-json] [-retry-auth]
                [-v | -log-level LEVEL] [-progress DUR]
  syncd status  [-config FILE] [-json]    (also: syncd -status)
  syncd config check [-config FILE]       validate offline: nothing is sent to the server
  syncd service install|uninstall|start|stop|restart|status [-config FILE]
  syncd service unit [-dropin | -packaged | -launchd] [-config FILE]
                                          print the systemd unit (or drop-in, or plist)
  syncd emulator -listen ADDR -data DIR [-key1 K1 -key2 K2] [knobs]
  syncd demo    [-dir DIR]
  syncd version

run and once log every change at info (-log-level warn hides it, -v adds
debug detail); in a terminal they show a progress line, otherwise they log
progress every -progress (default 30s).
A key pair the server refused is not sent again (the server bans the IP
after 5 failures a day) until the keys change or -retry-auth is given.
Exit codes: 0 ok; 1 items failed or a guard stopped; 2 usage or
configuration error, refused keys included. See man syncd or README.md.
`)
}
