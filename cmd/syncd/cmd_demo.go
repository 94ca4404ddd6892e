package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

// runDemo is the README's first command: an emulator on loopback and a
// daemon syncing a demo folder with it, telling the user what happens.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "syncd-demo", "local folder to sync")
	poll := fs.Duration("poll", 3*time.Second, "remote poll interval")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	root, err := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "syncd demo: -dir %s: %v\n", *dir, err)
		return exitUsage
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		fmt.Fprintf(stderr, "syncd demo: -dir %s: %v\n", root, err)
		return exitUsage
	}
	work, err := os.MkdirTemp("", "syncd-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "syncd demo: %v\n", err)
		return exitFailed
	}
	defer os.RemoveAll(work)

	// The emulator, on a free loopback port.
	acct := emulator.DefaultAccount()
	emu, err := emulator.New(emulator.Options{DataDir: filepath.Join(work, "server")})
	if err != nil {
		fmt.Fprintf(stderr, "syncd demo: emulator: %v\n", err)
		return exitFailed
	}
	defer emu.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "syncd demo: %v\n", err)
		return exitFailed
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	apiURL := fmt.Sprintf("http://%s/api/v2/", l.Addr())

	// A welcome file on the remote side, so the first pass brings one down.
	if err := seedDemo(ctx, apiURL, acct); err != nil {
		fmt.Fprintf(stderr, "syncd demo: seed remote: %v\n", err)
		return exitFailed
	}

	cfgFile := filepath.Join(work, "config.yaml")
	stateDir := filepath.Join(work, "state")
	yaml := fmt.Sprintf("api:\n  url: %s\n  key1: %q\n  key2: %q\nstate_dir: %s\npoll_interval: %s\ndebounce: 500ms\nlog:\n  level: warn\n  format: console\npairs:\n  - local: %s\n    remote: /demo\n",
		apiURL, acct.Key1, acct.Key2, stateDir, *poll, root)
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		fmt.Fprintf(stderr, "syncd demo: %v\n", err)
		return exitFailed
	}
	cfg, err := loadConfig(cfgFile, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "syncd demo: %v\n", err)
		return exitFailed
	}
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(stderr), zap.WarnLevel))

	fmt.Fprintf(stdout, `syncd demo: syncing %s with folder /demo of an emulated account.
  emulator:  %s (demo account keys; data in %s)
  try:       echo hello > %s/hello.txt      (appears on the remote within a second or two)
             mv %s/hello.txt %s/renamed.txt  (a rename: no transfer)
             rm %s/renamed.txt               (goes to the remote trash)
             touch %s/empty.txt              (a problem: the API refuses empty files)
  status:    %s
  stop:      Ctrl-C
`, root, apiURL, work, root, root, root, root, root, demoStatusCommand(cfgFile))

	observer := func(ev engine.OpEvent) { printEvent(stdout, ev) }
	pctx, stopProblems := context.WithCancel(ctx)
	problemsDone := make(chan struct{})
	go func() {
		defer close(problemsDone)
		printProblems(pctx, stdout, stateDir)
	}()
	err = runDaemon(ctx, cfg, log, observer, false)
	stopProblems()
	<-problemsDone
	if err != nil {
		fmt.Fprintf(stderr, "syncd demo: %v\n", err)
		return exitFailed
	}
	fmt.Fprintln(stdout, "syncd demo: stopped. Your files stay in", root)
	return exitOK
}

// seedDemo uploads a welcome file into /demo as another client would.
func seedDemo(ctx context.Context, apiURL string, acct emulator.Account) error {
	c, err := remote.New(remote.Config{URL: apiURL, Key1: acct.Key1, Key2: acct.Key2})
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if err := c.Authorize(ctx); err != nil {
		return err
	}
	f, err := c.CreateFolder(ctx, remote.Root, "demo")
	if err != nil {
		return err
	}
	text := []byte("Welcome to syncd. This file came from the remote side.\nEdit it, and the change goes back up.\n")
	_, err = c.Upload(ctx, remote.UploadRequest{Folder: f.ID, Name: "welcome.txt", Size: int64(len(text)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(text)), nil }})
	return err
}

// printEvent tells the demo user what one operation did.
func printEvent(w io.Writer, ev engine.OpEvent) {
	ts := time.Now().Format("15:04:05")
	if ev.Status != engine.OpDone {
		if ev.Status == engine.OpFailed {
			fmt.Fprintf(w, "%s  !  %s %s failed: %v (will retry)\n", ts, ev.Op.Kind, ev.Op.Path, ev.Err)
		}
		return
	}
	op := ev.Op
	switch op.Kind {
	case plan.Upload, plan.Replace:
		fmt.Fprintf(w, "%s  ↑  uploaded %s (%d bytes)\n", ts, op.Path, ev.Bytes)
	case plan.Download:
		fmt.Fprintf(w, "%s  ↓  downloaded %s (%d bytes)\n", ts, op.Path, ev.Bytes)
	case plan.MkdirRemote:
		fmt.Fprintf(w, "%s  ↑  created folder %s\n", ts, op.Path)
	case plan.MkdirLocal:
		fmt.Fprintf(w, "%s  ↓  created folder %s\n", ts, op.Path)
	case plan.MoveRemote:
		fmt.Fprintf(w, "%s  ↑  moved %s -> %s on the remote (no transfer)\n", ts, op.From, op.Path)
	case plan.MoveLocal:
		fmt.Fprintf(w, "%s  ↓  moved %s -> %s locally (no transfer)\n", ts, op.From, op.Path)
	case plan.DeleteRemote:
		fmt.Fprintf(w, "%s  ↑  deleted %s on the remote (it is in the remote trash)\n", ts, op.Path)
	case plan.DeleteLocal:
		fmt.Fprintf(w, "%s  ↓  deleted %s locally (kept in .syncd/trash)\n", ts, op.Path)
	case plan.ConflictLocal, plan.ConflictRemote:
		fmt.Fprintf(w, "%s  ⚡ conflict on %s: the other version is kept as %s\n", ts, op.From, op.Path)
	}
}

// demoStatusCommand is a status command line the demo's user can paste:
// the running binary when it stays where it is, `syncd` when that is the
// one on PATH, and `go run ./cmd/syncd` (from the repository) when the demo
// was started with `go run`, whose binary lives in a temporary build folder.
func demoStatusCommand(cfgFile string) string {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	onPath, _ := exec.LookPath("syncd")
	if onPath != "" {
		onPath, _ = filepath.EvalSymlinks(onPath)
	}
	return statusCommandFor(exe, err == nil, onPath, cfgFile)
}

func statusCommandFor(exe string, known bool, onPath, cfgFile string) string {
	args := " status -config " + cfgFile
	switch {
	case !known || isGoRunBinary(exe):
		return "go run ./cmd/syncd" + args + "   # in the syncd source folder"
	case onPath != "" && onPath == exe:
		return "syncd" + args
	}
	return exe + args
}

// isGoRunBinary reports whether exe was built by `go run` (or `go test`)
// into a go-build folder that is removed when it exits.
func isGoRunBinary(exe string) bool {
	for _, el := range strings.Split(filepath.ToSlash(exe), "/") {
		if strings.HasPrefix(el, "go-build") {
			return true
		}
	}
	return false
}

// printProblems tells the demo's user about each path that cannot be
// synced (an empty file, a symbolic link...) when a pass first reports it,
// from the status the daemon serves.
func printProblems(ctx context.Context, w io.Writer, stateDir string) {
	seen := map[statusItem]bool{}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		doc, err := askDaemon(ctx, filepath.Join(stateDir, controlSocket))
		if err != nil {
			continue
		}
		now := map[statusItem]bool{}
		for _, p := range doc.Pairs {
			for _, pr := range p.Problems {
				now[pr] = true
				if !seen[pr] {
					fmt.Fprintf(w, "%s  !  not synced: %s: %s\n", time.Now().Format("15:04:05"), pr.Path, pr.Message)
				}
			}
		}
		seen = now
	}
}
