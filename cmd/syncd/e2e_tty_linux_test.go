package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what the child writes to tty the
// test reads from master.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// In a terminal, `once` shows one progress line rewritten in place, the
// log lines above it, and clears it before its report.
func TestOnceProgressLineInATerminal(t *testing.T) {
	f := newFixture(t)
	f.slow(60 * time.Millisecond)
	for i := range 30 {
		os.WriteFile(filepath.Join(f.local, fmt.Sprintf("f%02d.bin", i)), bytes.Repeat([]byte("x"), 5000+i), 0o644)
	}
	master, tty := openPTY(t)
	// A narrow terminal: a line that wrapped could not be rewritten in place.
	const cols = 50
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: cols}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "once", "-config", f.cfg)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "INVOCATION_ID=") && !strings.HasPrefix(e, "JOURNAL_STREAM=") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	var term bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&term, master); close(copied) }()
	if err := cmd.Run(); err != nil {
		t.Fatalf("once: %v\n%s", err, stdout.String())
	}
	tty.Close()
	time.Sleep(200 * time.Millisecond) // let the copy drain what is buffered
	master.Close()
	<-copied
	out := term.String()
	if n := strings.Count(out, "\r\x1b[Ksyncing: "); n < 2 {
		t.Fatalf("%d progress lines drawn in place, want several:\n%q", n, out)
	}
	for _, seg := range strings.Split(out, "\r\x1b[K")[1:] {
		if line, _, _ := strings.Cut(seg, "{"); strings.HasPrefix(line, "syncing: ") && len([]rune(line)) >= cols {
			t.Fatalf("progress line of %d columns in a terminal of %d: %q", len([]rune(line)), cols, line)
		}
	}
	if !strings.Contains(out, "/30 files") || !strings.Contains(out, "uploaded") {
		t.Fatalf("terminal output lacks the file count or the change lines:\n%q", out)
	}
	if !strings.HasSuffix(strings.TrimRight(out, "\r\n"), "\r\x1b[K") && !strings.Contains(out[strings.LastIndex(out, "syncing: "):], "\r\x1b[K") {
		t.Fatalf("progress line not cleared at the end:\n%q", out[max(0, len(out)-300):])
	}
	if !strings.Contains(stdout.String(), "in sync (30 operations done") {
		t.Fatalf("report: %s", stdout.String())
	}
	i := strings.Index(out, "syncing: ")
	t.Logf("terminal excerpt: %q", out[i:min(len(out), i+200)])
}
