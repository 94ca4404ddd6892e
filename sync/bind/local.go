package bind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
	"github.com/syncd/syncd/sync/plan"
)

// Local adapts a *local.FS (one pair root) to engine.LocalFS.
type Local struct {
	FS      *local.FS
	Matcher *local.Matcher
	Settle  time.Duration // files modified more recently are left for the next pass
	Hashers int
}

var _ engine.LocalFS = (*Local)(nil)

// premise maps the local package's "changed" errors to the engine's.
func premise(err error) error {
	if err != nil && (errors.Is(err, local.ErrPremise) || errors.Is(err, local.ErrChanged)) && !errors.Is(err, engine.ErrPremise) {
		return fmt.Errorf("%w (%w)", engine.ErrPremise, err)
	}
	return err
}

func (l *Local) HasMarker() (bool, error) {
	_, ok, err := l.FS.HasMarker()
	return ok, err
}

func (l *Local) CreateMarker() error {
	_, err := l.FS.CreateMarker()
	return err
}

func (l *Local) Scan(ctx context.Context, base map[string]plan.Base, now time.Time) (engine.Scan, error) {
	res, err := local.Scan(ctx, local.ScanOptions{
		Root:    l.FS.Root(),
		Matcher: l.Matcher,
		Base: func(p string) (plan.Base, bool) {
			b, ok := base[p]
			return b, ok
		},
		Now:      now,
		Settle:   l.Settle,
		Hashers:  l.Hashers,
		SizeHint: len(base),
	})
	if err != nil {
		return engine.Scan{}, err
	}
	return engine.Scan{Tree: res.Tree, Unknown: res.Unknown, Problems: res.Problems, Unsettled: res.Stats.Unsettled}, nil
}

func (l *Local) Rescan(ctx context.Context, prev *engine.Scan, dirs, trees []string, now time.Time) error {
	res := local.ScanResult{Tree: prev.Tree, Unknown: prev.Unknown, Problems: prev.Problems}
	// What the previous scan hashed serves as the base: a file whose stat
	// did not change is not read again. The walk reads prev only while
	// scanning; Rescan modifies it after.
	known := prev.Tree
	st, err := local.Rescan(ctx, local.ScanOptions{
		Root:    l.FS.Root(),
		Matcher: l.Matcher,
		Base: func(p string) (plan.Base, bool) {
			o, ok := known[p]
			if !ok || o.Kind != plan.File {
				return plan.Base{}, false
			}
			return plan.Base{Kind: o.Kind, Size: o.Size, MtimeNs: o.MtimeNs, Dev: o.Dev, Ino: o.Ino, MD5: o.MD5}, true
		},
		Now:     now,
		Settle:  l.Settle,
		Hashers: l.Hashers,
	}, &res, dirs, trees)
	if err != nil {
		return err
	}
	*prev = engine.Scan{Tree: res.Tree, Unknown: res.Unknown, Problems: res.Problems, Unsettled: st.Unsettled}
	return nil
}

func (l *Local) Stat(p string) (plan.Local, error) {
	st, err := l.FS.Stat(p)
	return st, premise(err)
}

func (l *Local) Mkdir(p string) (plan.Local, error) { return l.FS.Mkdir(p) }

// checkedReader fails the read at EOF when the file changed while it was
// read, so that a torn version is never uploaded as complete.
type checkedReader struct{ r *local.Reader }

func (c checkedReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if err == io.EOF {
		if uerr := c.r.Unchanged(); uerr != nil {
			return n, premise(uerr)
		}
	}
	return n, err
}

func (c checkedReader) Close() error { return c.r.Close() }

func (l *Local) OpenRead(p string) (io.ReadCloser, plan.Local, error) {
	r, _, err := l.FS.OpenRead(p)
	if err != nil {
		return nil, plan.Local{}, premise(err)
	}
	return checkedReader{r}, r.Local(), nil
}

func (l *Local) CreateTemp() (engine.Temp, error) { return l.FS.CreateTemp() }

func (l *Local) CommitTemp(t engine.Temp, p string, expect *plan.Local) (plan.Local, error) {
	tf, ok := t.(*local.TempFile)
	if !ok {
		return plan.Local{}, fmt.Errorf("commit %s: foreign temp file %T", p, t)
	}
	st, err := l.FS.Commit(tf, p, expect)
	return st, premise(err)
}

func (l *Local) TempExists(name string) (bool, error) { return l.FS.TempExists(name) }

func (l *Local) CleanTemp() (int, error) { return l.FS.CleanTemp() }

func (l *Local) DiscardTemp(t engine.Temp) error {
	tf, ok := t.(*local.TempFile)
	if !ok {
		return nil
	}
	return l.FS.Discard(tf)
}

func (l *Local) Rename(from, to string, expect plan.Local) error {
	_, err := l.FS.Rename(from, to, expect)
	return premise(err)
}

// Trash moves p to the local trash; for a directory, every entry below it
// must be one of planned (the engine's view of the subtree when it
// planned the delete), unchanged: anything new or modified inside aborts
// the trash (modify beats delete).
func (l *Local) Trash(p string, expect plan.Local, planned map[string]plan.Base) error {
	verify := func(key string, got plan.Local) bool {
		if got.Kind == 0 {
			return l.Matcher != nil && l.Matcher.Match(key, plan.File)
		}
		b, ok := planned[key]
		if !ok || b.Kind != got.Kind {
			return l.Matcher != nil && l.Matcher.Match(key, got.Kind)
		}
		if got.Kind == plan.Dir {
			return true
		}
		return b.Size == got.Size && b.MtimeNs == got.MtimeNs && b.Ino == got.Ino
	}
	return premise(l.FS.Trash(context.Background(), p, expect, verify))
}
