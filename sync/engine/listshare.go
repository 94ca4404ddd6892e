package engine

import (
	"context"
	"errors"
	"sync"
)

// listShare lets the ops of one run share the listings they need of a
// folder to see it as it is after their own call: the twin check after a
// folder/create (settleTwin) and the check of where uploads landed
// (checkFolders). Such a listing must have been sent after the caller's
// call was answered, so a caller takes the next listing of the folder
// started from now on: while one is in flight, callers wait for it to end
// and share the one after it. A burst of creates in one folder costs two
// listings, not one each (D1's first upload: 100 creates into one folder,
// each with its own listing).
type listShare struct {
	mu       sync.Mutex
	byFolder map[string]*folderLists
	waiting  func() // tests: called as a caller starts to wait for a listing on its way
}

type folderLists struct {
	started int       // listings of the folder started so far
	last    *listCall // the latest of them
}

type listCall struct {
	n       int
	done    chan struct{}
	folders []RemoteFolder
	files   []RemoteFile
	err     error
}

// list returns a listing of folder sent after list was called, made by
// fetch or shared with other callers.
func (s *listShare) list(ctx context.Context, folder string, fetch func(context.Context) ([]RemoteFolder, []RemoteFile, error)) ([]RemoteFolder, []RemoteFile, error) {
	s.mu.Lock()
	if s.byFolder == nil {
		s.byFolder = make(map[string]*folderLists)
	}
	fl := s.byFolder[folder]
	if fl == nil {
		fl = &folderLists{}
		s.byFolder[folder] = fl
	}
	need := fl.started + 1 // any listing numbered need or later starts after now
	for {
		c := fl.last
		if c != nil && c.n >= need {
			s.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			if c.err != nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) && ctx.Err() == nil {
				// The caller that sent it gave up; this one has not.
				s.mu.Lock()
				continue
			}
			return c.folders, c.files, c.err
		}
		if c != nil && !closed(c.done) {
			// One started before this call is on its way: wait for it to
			// end, then share the next.
			s.mu.Unlock()
			if s.waiting != nil {
				s.waiting()
			}
			select {
			case <-c.done:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			s.mu.Lock()
			continue
		}
		fl.started++
		c = &listCall{n: fl.started, done: make(chan struct{})}
		fl.last = c
		s.mu.Unlock()
		// The caller's context: should it end, the others waiting on this
		// call see its error and send their own.
		c.folders, c.files, c.err = fetch(ctx)
		close(c.done)
		return c.folders, c.files, c.err
	}
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// listFunc lists a remote folder.
type listFunc func(ctx context.Context, folder string) ([]RemoteFolder, []RemoteFile, error)

// sharedList is a listing of folder sent after the call, shared with the
// run's other ops that need one at the same time (see listShare).
func (x *execution) sharedList(ctx context.Context, folder string) ([]RemoteFolder, []RemoteFile, error) {
	return x.lists.list(ctx, folder, func(ctx context.Context) ([]RemoteFolder, []RemoteFile, error) {
		return x.p.remote.List(ctx, folder)
	})
}
