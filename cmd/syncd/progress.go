package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/syncd/syncd/cmd/syncd/internal/config"
	"github.com/syncd/syncd/cmd/syncd/internal/logging"
	"github.com/syncd/syncd/sync/engine"
)

// progressStatus is a pair's `progress` in the status document while a
// plan executes (CONTRACT.md "Status"). Files counts the plan's operations;
// bytes the content its uploads and downloads move, in-flight transfers'
// partial bytes included.
type progressStatus struct {
	FilesDone  int       `json:"files_done"`
	FilesTotal int       `json:"files_total"`
	BytesDone  int64     `json:"bytes_done"`
	BytesTotal int64     `json:"bytes_total"`
	Started    time.Time `json:"started"`
	RateBps    float64   `json:"rate_bytes_per_second"`
	// ETASecs is absent until a rate is known.
	ETASecs *float64 `json:"eta_seconds,omitempty"`
	Initial bool     `json:"initial_sync,omitempty"`
}

func progressOf(p engine.Progress, now time.Time) *progressStatus {
	ps := &progressStatus{FilesDone: p.FilesDone, FilesTotal: p.FilesTotal, BytesDone: p.BytesDone,
		BytesTotal: p.BytesTotal, Started: p.Started, Initial: p.Initial}
	if el := now.Sub(p.Started).Seconds(); el > 0 {
		ps.RateBps = float64(p.BytesDone) / el
	}
	if eta, ok := p.ETA(now); ok {
		s := eta.Round(time.Second).Seconds()
		ps.ETASecs = &s
	}
	return ps
}

// add sums another pair's progress into ps (the terminal line shows all
// pairs together).
func (ps *progressStatus) add(o *progressStatus) {
	ps.FilesDone += o.FilesDone
	ps.FilesTotal += o.FilesTotal
	ps.BytesDone += o.BytesDone
	ps.BytesTotal += o.BytesTotal
	ps.RateBps += o.RateBps
	if o.ETASecs != nil && (ps.ETASecs == nil || *o.ETASecs > *ps.ETASecs) {
		v := *o.ETASecs
		ps.ETASecs = &v
	}
}

// String is the human form, what matters most first (a narrow terminal
// cuts the end): "120/3000 files, 12.0 MiB/300 MiB, eta 4m10s, 1.2 MiB/s".
func (ps *progressStatus) String() string {
	s := fmt.Sprintf("%d/%d files", ps.FilesDone, ps.FilesTotal)
	if ps.BytesTotal > 0 {
		s += fmt.Sprintf(", %s/%s", humanBytes(ps.BytesDone), humanBytes(ps.BytesTotal))
	}
	if ps.ETASecs != nil {
		s += ", eta " + (time.Duration(*ps.ETASecs) * time.Second).String()
	}
	if ps.BytesTotal > 0 {
		s += fmt.Sprintf(", %s/s", humanBytes(int64(ps.RateBps)))
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// termLine is a terminal with one progress line at its bottom: log lines
// written through it clear the line first and draw it again after, so
// the two never garble each other.
type termLine struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int // columns (0: unknown); a longer line would wrap and stay
	line  string     // shown now; "" none
}

func (t *termLine) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.line != "" {
		io.WriteString(t.w, "\r\033[K")
	}
	n, err := t.w.Write(p)
	if t.line != "" {
		io.WriteString(t.w, t.line)
	}
	return n, err
}

// set replaces the progress line ("" removes it).
func (t *termLine) set(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.width != nil {
		if w := t.width(); w > 1 && len([]rune(s)) > w-1 {
			s = string([]rune(s)[:w-1])
		}
	}
	if s == t.line {
		return
	}
	io.WriteString(t.w, "\r\033[K"+s)
	t.line = s
}

// runOptions are the flags `once` and `run` share.
type runOptions struct {
	logLevel string
	verbose  bool
	progress time.Duration
	// retryAuth is -retry-auth: send a key pair the server refused before.
	retryAuth bool
}

func (o *runOptions) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.StringVar(&o.logLevel, "log-level", "", "log level for this run: debug, info, warn or error (overrides the configuration's log.level)")
	fs.BoolVar(&o.verbose, "v", false, "verbose: the same as -log-level debug")
	fs.DurationVar(&o.progress, "progress", 30*time.Second, "when stderr is not a terminal, log progress this often while a pass transfers (0: never)")
	fs.BoolVar(&o.retryAuth, "retry-auth", false, "send a key pair the server refused before (see README: Authorization)")
}

func (o *runOptions) level(cfg *config.Config) string {
	switch {
	case o.logLevel != "":
		return o.logLevel
	case o.verbose:
		return "debug"
	}
	return cfg.Log.Level
}

// configureRun is configure for `once` and `run`: the log level may be
// overridden for this run, and in a terminal (not under a service manager)
// the logger writes through a termLine that also shows a progress line.
func configureRun(path string, stderr io.Writer, o runOptions) (*config.Config, *zap.Logger, *termLine, error) {
	cfg, err := loadConfig(path, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	if logging.IsTerminal(stderr) && !logging.UnderServiceManager(os.Getenv) {
		t := &termLine{w: stderr}
		if f, ok := stderr.(*os.File); ok {
			t.width = func() int { return termWidth(f) }
		}
		log, err := logging.Build(logging.Settings{Level: o.level(cfg), Format: cfg.Log.Format, Out: t, Terminal: true})
		if err != nil {
			return nil, nil, nil, err
		}
		return cfg, log, t, nil
	}
	log, err := logging.New(o.level(cfg), cfg.Log.Format, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, log, nil, nil
}

// reportProgress shows the progress of pairs() until ctx ends: on term,
// one line rewritten at most a few times a second; without a terminal, an
// info line per pair in progress every `every`.
func reportProgress(ctx context.Context, log *zap.Logger, term *termLine, every time.Duration, pairs func() []*pairRun) {
	tick := every
	if term != nil {
		tick = 250 * time.Millisecond
	}
	if tick <= 0 {
		return
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	defer func() {
		if term != nil {
			term.set("")
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var sum *progressStatus
		for _, pr := range pairs() {
			if pr.pair == nil {
				continue
			}
			p, ok := pr.pair.Progress()
			if !ok {
				continue
			}
			ps := progressOf(p, now)
			if term == nil {
				fields := []zap.Field{zap.String("pair", pr.cfg.Local), zap.Int("files_done", ps.FilesDone), zap.Int("files_total", ps.FilesTotal),
					zap.Int64("bytes_done", ps.BytesDone), zap.Int64("bytes_total", ps.BytesTotal)}
				if ps.ETASecs != nil {
					fields = append(fields, zap.Duration("eta", time.Duration(*ps.ETASecs)*time.Second))
				}
				log.Info("progress", fields...)
				continue
			}
			if sum == nil {
				sum = &progressStatus{}
			}
			sum.add(ps)
		}
		if term != nil {
			if sum == nil {
				term.set("")
			} else {
				term.set("syncing: " + sum.String())
			}
		}
	}
}
