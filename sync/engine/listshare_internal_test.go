package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Callers that come while a listing is on its way wait for it and share
// the next one; none is ever given a listing sent before it called.
func TestListShareNeverGivesAListingSentBeforeTheCall(t *testing.T) {
	var s listShare
	var sent, waiting atomic.Int32
	s.waiting = func() { waiting.Add(1) }
	release := make(chan struct{})
	fetch := func(context.Context) ([]RemoteFolder, []RemoteFile, error) {
		n := sent.Add(1)
		if n == 1 {
			<-release
		}
		return []RemoteFolder{{ID: string(rune('0' + n))}}, nil, nil
	}
	ctx := context.Background()
	first := make(chan string)
	go func() {
		f, _, _ := s.list(ctx, "p", fetch)
		first <- f[0].ID
	}()
	for sent.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// Listing 1 is in flight: these callers came after it was sent.
	var wg sync.WaitGroup
	got := make([]string, 5)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, _, err := s.list(ctx, "p", fetch)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = f[0].ID
		}()
	}
	for waiting.Load() < int32(len(got)) { // all queued behind listing 1
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if id := <-first; id != "1" {
		t.Errorf("first caller got listing %s", id)
	}
	for i, id := range got {
		if id != "2" {
			t.Errorf("caller %d got listing %s, want the shared listing 2", i, id)
		}
	}
	if n := sent.Load(); n != 2 {
		t.Errorf("%d listings sent for 6 callers, want 2", n)
	}
	// Later, alone: a listing of its own, and other folders are apart.
	if f, _, _ := s.list(ctx, "p", fetch); f[0].ID != "3" {
		t.Errorf("a later caller got listing %s, want a new one", f[0].ID)
	}
	if f, _, _ := s.list(ctx, "q", fetch); f[0].ID != "4" {
		t.Errorf("another folder got listing %s, want its own", f[0].ID)
	}
}

// A listing whose sender gave up (its context ended) is not passed on to
// callers that still want one: they send their own.
func TestListShareRetriesAListingItsSenderGaveUp(t *testing.T) {
	var s listShare
	started := make(chan struct{})
	cctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	fetch := func(ctx context.Context) ([]RemoteFolder, []RemoteFile, error) {
		if n.Add(1) == 1 {
			close(started)
			<-ctx.Done()
			return nil, nil, ctx.Err()
		}
		return []RemoteFolder{{ID: "ok"}}, nil, nil
	}
	done := make(chan error)
	go func() { _, _, err := s.list(cctx, "p", fetch); done <- err }()
	<-started
	var waiting atomic.Int32
	s.mu.Lock()
	s.waiting = func() { waiting.Add(1) }
	s.mu.Unlock()
	res := make(chan string)
	go func() {
		f, _, err := s.list(context.Background(), "p", fetch)
		if err != nil {
			t.Error(err)
			res <- ""
			return
		}
		res <- f[0].ID
	}()
	for waiting.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("the cancelled sender got no error")
	}
	if id := <-res; id != "ok" {
		t.Errorf("the other caller got %q", id)
	}
}
