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
	"path/filepath"
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
  status:    syncd status -config %s
  stop:      Ctrl-C
`, root, apiURL, work, root, root, root, root, cfgFile)

	observer := func(ev engine.OpEvent) { printEvent(stdout, ev) }
	if err := runDaemon(ctx, cfg, log, observer, false); err != nil {
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
