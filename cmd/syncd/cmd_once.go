package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/syncd/syncd/cmd/syncd/internal/config"
	"github.com/syncd/syncd/state"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

// onceReport is `syncd once -json`'s output.
type onceReport struct {
	DryRun bool         `json:"dry_run"`
	Pairs  []pairReport `json:"pairs"`
}

type pairReport struct {
	Local     string `json:"local"`
	Remote    string `json:"remote"`
	Converged bool   `json:"converged"`
	Halted    string `json:"halted,omitempty"`
	Error     string `json:"error,omitempty"`
	// Done counts the operations of all the passes `once` ran (Passes);
	// Changes breaks them down by kind, with the bytes moved each way.
	Done      int                `json:"done"`
	Passes    int                `json:"passes"`
	Changes   changeCounts       `json:"changes"`
	Skipped   int                `json:"skipped"`
	Failed    int                `json:"failed"`
	Ops       []opReport         `json:"ops,omitempty"`
	Errors    []engine.ItemError `json:"errors,omitempty"`
	Conflicts []plan.Conflict    `json:"conflicts,omitempty"`
	Problems  []problemReport    `json:"problems,omitempty"`
}

type opReport struct {
	Op     string `json:"op"`
	Path   string `json:"path"`
	From   string `json:"from,omitempty"`
	Kind   string `json:"kind"`
	Reason string `json:"reason,omitempty"`
}

type problemReport struct {
	Path    string `json:"path"`
	Side    string `json:"side"`
	Message string `json:"message"`
}

func runOnce(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("once", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (default $SYNCD_CONFIG, then /etc/syncd/config.yaml)")
	force := fs.Bool("force", false, "override the mass-delete guard")
	dryRun := fs.Bool("dry-run", false, "print the plan without doing it")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	var ro runOptions
	ro.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "syncd once: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg, log, term, err := configureRun(*cfgPath, stderr, ro)
	if err != nil {
		fmt.Fprintf(stderr, "syncd: %v\n", err)
		return exitUsage
	}
	defer log.Sync()
	var tally changeTally
	observe := func(ev engine.OpEvent) {
		recordOp(log, ev)
		tally.observe(ev)
	}
	a, err := openApp(ctx, cfg, log, observe, nil, openOptions{dryRun: *dryRun, retryAuth: ro.retryAuth})
	if err != nil {
		fmt.Fprintf(stderr, "syncd: %v\n", err)
		if isAuthError(err) && !*dryRun {
			saveOnceStatus(cfg, log, nil, err)
		}
		return exitCode(err)
	}
	defer a.close()
	if !*dryRun {
		defer saveOnceStatus(cfg, log, a, nil)
	}
	pctx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		reportProgress(pctx, log, term, ro.progress, func() []*pairRun { return a.pairs })
	}()

	rep := onceReport{DryRun: *dryRun}
	code := exitOK
	for _, pr := range a.pairs {
		r := pairReport{Local: pr.cfg.Local, Remote: pr.cfg.Remote}
		if pr.err != nil {
			r.Error = pr.err.Error()
			code = exitFailed
			rep.Pairs = append(rep.Pairs, r)
			continue
		}
		res, err := pr.pair.Once(ctx, engine.PassOptions{DryRun: *dryRun, Force: *force})
		fillReport(&r, res, *dryRun)
		r.Changes = tally.of(pr.cfg.Local)
		if err != nil {
			r.Error = err.Error()
			if errors.Is(err, engine.ErrHalted) {
				r.Halted = res.Plan.Halt
			}
		}
		if err != nil || r.Failed > 0 || (!*dryRun && !r.Converged) {
			code = exitFailed
		}
		rep.Pairs = append(rep.Pairs, r)
	}
	stopProgress()
	<-progressDone
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printOnce(stdout, rep)
	}
	return code
}

func fillReport(r *pairReport, res engine.PassResult, dryRun bool) {
	r.Converged = res.Converged || res.Complete
	r.Halted = res.Plan.Halt
	r.Done, r.Passes, r.Skipped, r.Failed = res.Done, res.Passes, res.Skipped, res.Failed
	r.Errors = res.Errors
	r.Conflicts = res.Plan.Conflicts
	for _, p := range res.Plan.Problems {
		r.Problems = append(r.Problems, problemReport{Path: p.Path, Side: p.Side.String(), Message: p.Message})
	}
	if dryRun {
		for _, op := range res.Plan.Ops {
			r.Ops = append(r.Ops, opReport{Op: op.Kind.String(), Path: op.Path, From: op.From, Kind: op.Entry.String(), Reason: op.Reason})
		}
	}
}

func printOnce(w io.Writer, rep onceReport) {
	for _, p := range rep.Pairs {
		fmt.Fprintf(w, "%s <-> %s: ", p.Local, p.Remote)
		switch {
		case p.Error != "" && p.Halted == "":
			fmt.Fprintf(w, "error: %s\n", p.Error)
		case p.Halted != "":
			fmt.Fprintf(w, "HALTED: %s (run `syncd once -force` if this is intended)\n", p.Halted)
		case rep.DryRun:
			fmt.Fprintf(w, "%d operations planned\n", len(p.Ops))
		case p.Converged:
			fmt.Fprintf(w, "in sync (%s)\n", p.doneSummary())
		default:
			fmt.Fprintf(w, "%s, %d skipped, %d failed; not yet in sync\n", p.doneSummary(), p.Skipped, p.Failed)
		}
		for _, op := range p.Ops {
			if op.From != "" {
				fmt.Fprintf(w, "  %-15s %s -> %s  (%s)\n", op.Op, op.From, op.Path, op.Reason)
			} else {
				fmt.Fprintf(w, "  %-15s %s  (%s)\n", op.Op, op.Path, op.Reason)
			}
		}
		for _, c := range p.Conflicts {
			fmt.Fprintf(w, "  conflict: %s: %s (other version kept as %s)\n", c.Path, c.Reason, c.Copy)
		}
		for _, pr := range p.Problems {
			fmt.Fprintf(w, "  problem (%s): %s: %s\n", pr.Side, pr.Path, pr.Message)
		}
		for _, e := range p.Errors {
			fmt.Fprintf(w, "  failed: %s %s: %s\n", e.Op, e.Path, e.Err)
		}
	}
}

// doneSummary says what all the passes did: "12 operations done in 2
// passes: 10 upload, 2 mkdir-remote; 1.2 MiB up".
func (p pairReport) doneSummary() string {
	s := fmt.Sprintf("%d operations done", p.Done)
	if p.Passes > 1 {
		s += fmt.Sprintf(" in %d passes", p.Passes)
	}
	kinds := make([]string, 0, len(p.Changes.ByOp))
	for k := range p.Changes.ByOp {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for i, k := range kinds {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		s += fmt.Sprintf("%s%d %s", sep, p.Changes.ByOp[k], k)
	}
	if p.Changes.BytesUp > 0 {
		s += "; " + humanBytes(p.Changes.BytesUp) + " up"
	}
	if p.Changes.BytesDown > 0 {
		s += "; " + humanBytes(p.Changes.BytesDown) + " down"
	}
	return s
}

// saveOnceStatus saves what `once` found as the status file, so that
// `syncd status` tells the truth between runs (a cron job's, say): the
// pairs' last sync, their errors, a refused key pair. A running daemon holds
// the state database, so `once` gets this far only when none runs.
func saveOnceStatus(cfg *config.Config, log *zap.Logger, a *app, startErr error) {
	d := &daemon{cfg: cfg, log: log, started: time.Now()}
	if a != nil {
		d.setApp(a)
	} else {
		d.setStartErr(startErr)
	}
	doc := d.status()
	doc.Source, doc.PID = "once", 0
	for i := range doc.Pairs {
		doc.Pairs[i].Watcher = ""
	}
	if err := state.WriteStatusFile(cfg.StateDir, doc); err != nil {
		log.Warn("could not save status", zap.Error(err))
	}
}
