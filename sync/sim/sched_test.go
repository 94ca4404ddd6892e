package sim

import (
	"context"
	"io"
	"math/rand/v2"
	"sync"

	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/plan"
)

// sched runs the executor's operations in flight one at a time, switching
// between them at every step (each remote call, each local file system
// call that changes the tree, each failpoint) in an order drawn from its
// own seeded random stream: an execution with many workers, several
// transfers and metadata calls in flight is then still a pure function of
// the seed, and every interleaving of the steps of one pass's operations
// is reachable. It implements engine.Dispatcher.
//
// Exactly one operation holds the token at a time; the others are parked
// (not started yet, or at a step). The executor's own goroutine runs only
// while no operation holds it: Wait hands the token out, and an operation
// gives it up when it ends, before its result reaches the executor.
type sched struct {
	mu     sync.Mutex
	cond   *sync.Cond
	rnd    *rand.Rand
	ops    []*coop // started and not ended, in launch order
	holder *coop
}

type coop struct{ wake chan struct{} }

func newSched(seed uint64) *sched {
	s := &sched{rnd: rand.New(rand.NewPCG(seed, 0x5c4ed))}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *sched) Go(op, done func()) {
	c := &coop{wake: make(chan struct{}, 1)}
	s.mu.Lock()
	s.ops = append(s.ops, c)
	s.mu.Unlock()
	go func() {
		<-c.wake
		op()
		s.mu.Lock()
		for i, o := range s.ops {
			if o == c {
				s.ops = append(s.ops[:i], s.ops[i+1:]...)
				break
			}
		}
		s.holder = nil
		s.cond.Broadcast()
		s.mu.Unlock()
		done()
	}()
}

func (s *sched) Wait() {
	s.mu.Lock()
	for s.holder != nil {
		s.cond.Wait()
	}
	if len(s.ops) == 0 {
		s.mu.Unlock()
		return
	}
	next := s.ops[s.rnd.IntN(len(s.ops))]
	s.holder = next
	s.mu.Unlock()
	next.wake <- struct{}{}
}

// step is a point where the operation holding the token may be parked
// and another resumed. Outside an execution (nobody holds the token:
// the snapshot, the executor's own goroutine) it does nothing.
func (s *sched) step() {
	s.mu.Lock()
	me := s.holder
	if me == nil {
		s.mu.Unlock()
		return
	}
	next := s.ops[s.rnd.IntN(len(s.ops))]
	if next == me {
		s.mu.Unlock()
		return
	}
	s.holder = next
	s.mu.Unlock()
	next.wake <- struct{}{}
	<-me.wake
}

// schedRemote makes every remote call a step of sched.
type schedRemote struct {
	engine.Remote
	s *sched
}

func (r schedRemote) List(ctx context.Context, folder string) ([]engine.RemoteFolder, []engine.RemoteFile, error) {
	r.s.step()
	return r.Remote.List(ctx, folder)
}

func (r schedRemote) FolderInfo(ctx context.Context, id string) (engine.RemoteFolder, error) {
	r.s.step()
	return r.Remote.FolderInfo(ctx, id)
}

func (r schedRemote) CreateFolder(ctx context.Context, parent, name string) (engine.RemoteFolder, error) {
	r.s.step()
	return r.Remote.CreateFolder(ctx, parent, name)
}

func (r schedRemote) RenameFolder(ctx context.Context, id, name string) error {
	r.s.step()
	return r.Remote.RenameFolder(ctx, id, name)
}

func (r schedRemote) MoveFolder(ctx context.Context, id, parent string) error {
	r.s.step()
	return r.Remote.MoveFolder(ctx, id, parent)
}

func (r schedRemote) DeleteFolder(ctx context.Context, id string) error {
	r.s.step()
	return r.Remote.DeleteFolder(ctx, id)
}

func (r schedRemote) FileInfo(ctx context.Context, id string) (engine.RemoteFile, error) {
	r.s.step()
	return r.Remote.FileInfo(ctx, id)
}

func (r schedRemote) RenameFile(ctx context.Context, id, name string) error {
	r.s.step()
	return r.Remote.RenameFile(ctx, id, name)
}

func (r schedRemote) MoveFile(ctx context.Context, id, folder string) error {
	r.s.step()
	return r.Remote.MoveFile(ctx, id, folder)
}

func (r schedRemote) DeleteFile(ctx context.Context, id string) error {
	r.s.step()
	return r.Remote.DeleteFile(ctx, id)
}

func (r schedRemote) Upload(ctx context.Context, u engine.Upload) (engine.RemoteFile, error) {
	r.s.step()
	return r.Remote.Upload(ctx, u)
}

func (r schedRemote) Download(ctx context.Context, id string, size int64, w io.Writer, progress func(int64)) (string, error) {
	r.s.step()
	return r.Remote.Download(ctx, id, size, w, progress)
}

// schedLocal makes every local call of an operation that reads or changes
// the tree a step of sched. (OpenRead is not one: the remote client may
// call it from a goroutine of its own, inside an upload.)
type schedLocal struct {
	engine.LocalFS
	s *sched
}

func (l schedLocal) Stat(p string) (plan.Local, error) {
	l.s.step()
	return l.LocalFS.Stat(p)
}

func (l schedLocal) Mkdir(p string) (plan.Local, error) {
	l.s.step()
	return l.LocalFS.Mkdir(p)
}

func (l schedLocal) CommitTemp(t engine.Temp, p string, expect *plan.Local) (plan.Local, error) {
	l.s.step()
	return l.LocalFS.CommitTemp(t, p, expect)
}

func (l schedLocal) Rename(from, to string, expect plan.Local) error {
	l.s.step()
	return l.LocalFS.Rename(from, to, expect)
}

func (l schedLocal) Trash(p string, expect plan.Local, planned map[string]plan.Base) error {
	l.s.step()
	return l.LocalFS.Trash(p, expect, planned)
}
