package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/syncd/syncd/sync/plan"
)

// fillRemoteMD5 fills the MD5 of remote files whose content the engine
// knows: the base's for an unchanged id, the store's hash cache otherwise
// (remote content never changes under an id). A store that cannot be read
// fails the pass: an unknown MD5 would be hashed again by download, but a
// broken database must be reported, not papered over.
func (p *Pair) fillRemoteMD5(tree map[string]plan.Remote, base map[string]plan.Base) error {
	for k, r := range tree {
		if r.Kind != plan.File {
			continue
		}
		if b, ok := base[k]; ok && b.Kind == plan.File && b.RemoteID == r.ID && b.MD5 != "" {
			r.MD5 = b.MD5
		} else {
			m, ok, err := p.store.RemoteMD5(r.ID)
			if err != nil {
				return fmt.Errorf("remote hash cache, file %s (%s): %w", r.ID, k, err)
			}
			if ok {
				r.MD5 = m
			}
		}
		if r.MD5 != "" {
			tree[k] = r
		}
	}
	return nil
}

// needsHash reports whether deciding path k needs the remote file's content:
// a file on both sides that base does not join (first pass, or a lost
// state), or that both sides changed.
func needsHash(k string, base map[string]plan.Base, l plan.Local, r plan.Remote) bool {
	if l.Kind != plan.File || r.Kind != plan.File || r.MD5 != "" {
		return false
	}
	b, ok := base[k]
	if !ok || b.Kind != plan.File {
		return true
	}
	return b.RemoteID != r.ID && b.MD5 != l.MD5
}

// prehash downloads, through MD5 only, the remote files whose content a
// decision needs, and records what it learns. Failures leave the MD5
// unknown; the planner then reports the path instead of guessing.
func (p *Pair) prehash(ctx context.Context, base map[string]plan.Base, local map[string]plan.Local, tree map[string]plan.Remote) (int, error) {
	var keys []string
	for k, r := range tree {
		if l, ok := local[k]; ok && needsHash(k, base, l, r) {
			keys = append(keys, k)
		}
	}
	return p.hashRemote(ctx, keys, tree)
}

// hashRemote learns the MD5 of the remote files at keys (whose MD5 is not
// known) by downloading them through MD5 only, and records it.
func (p *Pair) hashRemote(ctx context.Context, keys []string, tree map[string]plan.Remote) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	sort.Strings(keys)
	lim := p.remote.Limits().ConcurrentDownloads
	if lim <= 0 || lim > 4 {
		lim = 4
	}
	var mu sync.Mutex
	learnt := make(map[string]string)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(lim)
	for _, k := range keys {
		r := tree[k]
		g.Go(func() error {
			m, err := p.remote.Download(gctx, r.ID, r.Size, io.Discard, nil)
			if err != nil {
				if errors.Is(err, ErrAuth) {
					return err
				}
				p.log.Warn("could not hash remote file", zap.String("path", k), zap.Error(err))
				return nil
			}
			mu.Lock()
			learnt[r.ID] = m
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("hash remote files: %w", err)
	}
	for k, r := range tree {
		// Folder and file ids are separate spaces: a folder may share
		// a hashed file's id.
		if m, ok := learnt[r.ID]; ok && r.Kind == plan.File {
			r.MD5 = m
			tree[k] = r
		}
	}
	if err := p.store.Commit(p.cfg.Key, Commit{MD5s: learnt}); err != nil {
		return len(learnt), fmt.Errorf("record remote hashes: %w", err)
	}
	return len(learnt), nil
}
