package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
)

// downRemote is an account that cannot be reached: the one part a real
// server cannot be made to do inside a synctest bubble (its sockets are
// not durably blocking).
type downRemote struct {
	mu    sync.Mutex
	calls []time.Time
	up    bool
}

var errDown = errors.New("connection refused")

func (d *downRemote) hit() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, time.Now())
	if d.up {
		return nil
	}
	return errDown
}

func (d *downRemote) List(ctx context.Context, folder string) ([]engine.RemoteFolder, []engine.RemoteFile, error) {
	return nil, nil, d.hit()
}
func (d *downRemote) FolderInfo(ctx context.Context, id string) (engine.RemoteFolder, error) {
	return engine.RemoteFolder{ID: id, Active: true}, d.hit()
}
func (d *downRemote) CreateFolder(ctx context.Context, parent, name string) (engine.RemoteFolder, error) {
	return engine.RemoteFolder{ID: "1", Name: name, Active: true}, d.hit()
}
func (d *downRemote) RenameFolder(context.Context, string, string) error { return d.hit() }
func (d *downRemote) MoveFolder(context.Context, string, string) error   { return d.hit() }
func (d *downRemote) DeleteFolder(context.Context, string) error         { return d.hit() }
func (d *downRemote) FileInfo(context.Context, string) (engine.RemoteFile, error) {
	return engine.RemoteFile{}, d.hit()
}
func (d *downRemote) RenameFile(context.Context, string, string) error { return d.hit() }
func (d *downRemote) MoveFile(context.Context, string, string) error   { return d.hit() }
func (d *downRemote) DeleteFile(context.Context, string) error         { return d.hit() }
func (d *downRemote) Upload(context.Context, engine.Upload) (engine.RemoteFile, error) {
	return engine.RemoteFile{}, d.hit()
}
func (d *downRemote) Download(context.Context, string, int64, io.Writer, func(int64)) (string, error) {
	return "", d.hit()
}
func (d *downRemote) Limits() engine.Limits { return engine.Limits{} }

// downPair opens a real local root and state file for a pair whose remote
// is r (made inside the synctest bubble, hence the function).
func downPair(t *testing.T) func(r engine.Remote) *engine.Pair {
	h := testenv.OpenHost(t, t.TempDir(), filepath.Join(t.TempDir(), "s.db"))
	return func(r engine.Remote) *engine.Pair {
		b := h.Bind(nil, nil)
		b.Remote = r
		return b.Pair(engine.PairConfig{Key: "p", LocalRoot: h.Dir, RemotePath: "/x"}, engine.Options{})
	}
}

// While the server is down the loop retries with growing, jittered delays
// (not in a tight loop, not only at the poll interval), and syncs as soon
// as the server answers again.
func TestLoopBacksOffDuringAnOutageAndRecovers(t *testing.T) {
	newPair := downPair(t)
	synctest.Test(t, func(t *testing.T) {
		r := &downRemote{}
		p := newPair(r)
		ctx, cancel := context.WithCancel(context.Background())
		passes := make(chan error, 100)
		done := make(chan struct{})
		go func() {
			// A healthy watcher: no minute rescans while degraded, which
			// would trigger passes of their own.
			p.Run(ctx, engine.LoopOptions{PollInterval: time.Hour, ScanInterval: 24 * time.Hour, Changes: newFakeSource(),
				RetryMin: 2 * time.Second, RetryMax: time.Minute,
				OnPass: func(_ engine.PassResult, err error) { passes <- err }})
			close(done)
		}()
		start := time.Now()
		var at []time.Duration
		for len(at) < 6 {
			if err := <-passes; err == nil {
				t.Fatal("a pass succeeded while the server was down")
			}
			at = append(at, time.Since(start))
		}
		// Gaps grow (2 s, 4 s, 8 s... each jittered to [d/2, d]) and stay
		// under the cap; nothing waits for the hour-long poll.
		for i := 1; i < len(at); i++ {
			gap := at[i] - at[i-1]
			want := 2 * time.Second << (i - 1)
			if gap < want/2 || gap > want {
				t.Fatalf("retry %d came after %s, want between %s and %s (all: %v)", i, gap, want/2, want, at)
			}
		}
		if st := p.Status(); st.State != engine.StateError || st.LastError == "" {
			t.Fatalf("status during the outage: %+v", st)
		}
		r.mu.Lock()
		r.up = true
		r.mu.Unlock()
		if err := <-passes; err != nil {
			t.Fatalf("first pass after the outage: %v", err)
		}
		if st := p.Status(); st.State != engine.StateIdle {
			t.Fatalf("status after recovery: %+v", st)
		}
		cancel()
		<-done
	})
}

// takenRemote fails like downRemote, each failure a request refused
// because another host took the shared token.
type takenRemote struct {
	*downRemote
	losses atomic.Uint64
}

func (r *takenRemote) List(ctx context.Context, folder string) ([]engine.RemoteFolder, []engine.RemoteFile, error) {
	r.losses.Add(1)
	return r.downRemote.List(ctx, folder)
}

func (r *takenRemote) FolderInfo(ctx context.Context, id string) (engine.RemoteFolder, error) {
	r.losses.Add(1)
	return r.downRemote.FolderInfo(ctx, id)
}

func (r *takenRemote) TokenLosses() uint64 { return r.losses.Load() }

// Passes that fail because another host keeps taking the token are retried
// at the shortest delay, not after a growing backoff: the other host is
// busy, not down, and the client spaces its authorizations itself.
func TestLoopRetriesSoonWhenTheTokenWasTaken(t *testing.T) {
	newPair := downPair(t)
	synctest.Test(t, func(t *testing.T) {
		r := &takenRemote{downRemote: &downRemote{}}
		p := newPair(r)
		ctx, cancel := context.WithCancel(context.Background())
		passes := make(chan error, 100)
		done := make(chan struct{})
		go func() {
			p.Run(ctx, engine.LoopOptions{PollInterval: time.Hour, ScanInterval: 24 * time.Hour, Changes: newFakeSource(),
				RetryMin: 2 * time.Second, RetryMax: time.Minute,
				OnPass: func(_ engine.PassResult, err error) { passes <- err }})
			close(done)
		}()
		start := time.Now()
		var at []time.Duration
		for len(at) < 6 {
			if err := <-passes; err == nil {
				t.Fatal("a pass succeeded while the token was taken")
			}
			at = append(at, time.Since(start))
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i] - at[i-1]; gap < time.Second || gap > 2*time.Second {
				t.Fatalf("retry %d came after %s, want between 1 s and 2 s (all: %v)", i, gap, at)
			}
		}
		cancel()
		<-done
	})
}

// The backoff after failed passes is not cut short by the poll: with a
// 30 s poll interval the retries still come after 2, 4, ... 64 s, each
// when status said it would. (The poll timer fired at the poll interval
// whatever the backoff, so no retry came later than that: TestSimLoop
// seed 128 ran a pass the emptied-side guard halted every 30 s for half
// an hour, where RetryMax was meant.)
func TestLoopBackoffHoldsBackThePoll(t *testing.T) {
	newPair := downPair(t)
	synctest.Test(t, func(t *testing.T) {
		r := &downRemote{}
		p := newPair(r)
		ctx, cancel := context.WithCancel(context.Background())
		type pass struct {
			at        time.Duration
			nextRetry time.Time
			err       error
		}
		passes := make(chan pass, 100)
		done := make(chan struct{})
		start := time.Now()
		go func() {
			p.Run(ctx, engine.LoopOptions{PollInterval: 30 * time.Second, ScanInterval: 24 * time.Hour, Changes: newFakeSource(),
				RetryMin: 2 * time.Second, RetryMax: 5 * time.Minute,
				Jitter: func(max time.Duration) time.Duration { return max }, // no spread: the nominal delays
				OnPass: func(_ engine.PassResult, err error) {
					passes <- pass{time.Since(start), p.Status().NextRetry, err}
				}})
			close(done)
		}()
		defer func() { cancel(); <-done }()
		prev := <-passes
		for i, want := range []time.Duration{2, 4, 8, 16, 32, 64, 128} {
			ps := <-passes
			if ps.err == nil {
				t.Fatal("a pass succeeded while the server was down")
			}
			if gap := ps.at - prev.at; gap != want*time.Second {
				t.Fatalf("retry %d came %s after the pass before, want %s", i+1, gap, want*time.Second)
			}
			// (OnPass runs before the pass's own retry is scheduled: status
			// still shows the one that started it.)
			if !ps.nextRetry.Equal(start.Add(ps.at)) {
				t.Fatalf("retry %d at %s, status said %s", i+1, ps.at, ps.nextRetry.Sub(start))
			}
			prev = ps
		}
	})
}

// fakeSource is a change source the test feeds: it stands for the watcher
// (sync/watch is tested on its own).
type fakeSource struct {
	c        chan engine.Batch
	mu       sync.Mutex
	degraded bool
}

func newFakeSource() *fakeSource { return &fakeSource{c: make(chan engine.Batch)} }

func (f *fakeSource) Batches() <-chan engine.Batch { return f.c }
func (f *fakeSource) Degraded() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.degraded, "test"
}
func (f *fakeSource) setDegraded(d bool) {
	f.mu.Lock()
	f.degraded = d
	f.mu.Unlock()
}

// purgeLog purges the real local trash and records when it was asked to.
type purgeLog struct {
	fs    *local.FS
	start time.Time
	mu    sync.Mutex
	at    []time.Duration
}

func (l *purgeLog) PurgeTrash(olderThan time.Duration, now time.Time) (int, error) {
	l.mu.Lock()
	l.at = append(l.at, time.Since(l.start))
	l.mu.Unlock()
	return l.fs.PurgeTrash(olderThan, now)
}

func (l *purgeLog) times() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.at...)
}

// loopRun is Pair.Run going in a synctest bubble against the real engine,
// emulator, state file and temp dir.
type loopRun struct {
	t      *testing.T
	e      *env
	start  time.Time
	passes chan loopPass
	cancel context.CancelFunc
	done   chan struct{}
}

type loopPass struct {
	res engine.PassResult
	err error
	at  time.Duration // since the loop started, on the bubble's clock
}

// startLoop runs p.Run(lo) until the test ends; call it inside a bubble.
func startLoop(t *testing.T, e *env, p *engine.Pair, lo engine.LoopOptions) *loopRun {
	l := &loopRun{t: t, e: e, start: time.Now(), passes: make(chan loopPass, 1000), done: make(chan struct{})}
	lo.OnPass = func(res engine.PassResult, err error) {
		l.passes <- loopPass{res: res, err: err, at: time.Since(l.start)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		defer close(l.done)
		p.Run(ctx, lo)
	}()
	t.Cleanup(l.stop)
	return l
}

func (l *loopRun) stop() {
	l.cancel()
	<-l.done
}

// next waits for the loop's next pass and fails the test on a pass error.
func (l *loopRun) next() loopPass {
	l.t.Helper()
	ps := <-l.passes
	if ps.err != nil {
		l.t.Fatalf("pass at %s: %v", ps.at, ps.err)
	}
	return ps
}

// until returns the passes up to the first that did something.
func (l *loopRun) until(max int) []loopPass {
	l.t.Helper()
	var out []loopPass
	for range max {
		ps := l.next()
		out = append(out, ps)
		if ps.res.Done > 0 {
			return out
		}
	}
	l.t.Fatalf("no pass did anything in %d passes: %+v", max, out)
	return nil
}

// near reports whether at is want, give or take the fake milliseconds a
// pass spends in the client's rate limiter.
func near(at, want time.Duration) bool { return at >= want && at < want+time.Second }

// A watcher batch triggers a pass at once that rescans what it names and
// lists no remote folder but those its last execution touched (none here);
// the first batch, Full, rescans everything.
func TestLoopBatchTriggersALocalOnlyPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		src := newFakeSource()
		l := startLoop(t, e, e.pair(), engine.LoopOptions{PollInterval: time.Hour, ScanInterval: 24 * time.Hour, Changes: src})
		if ps := l.next(); !near(ps.at, 0) || ps.res.Requests == 0 {
			t.Fatalf("first pass: at %s, %d listings; want at once, listing the remote", ps.at, ps.res.Requests)
		}
		time.Sleep(time.Minute)
		e.write("a.txt", "a")
		e.write("d/b.txt", "b")
		src.c <- engine.Batch{Dirs: []string{""}}
		ps := l.next()
		if !near(ps.at, time.Minute) || ps.res.Done != 3 || ps.res.Requests != 0 {
			t.Fatalf("pass on the batch: at %s, done %d, %d listings; want at 1m, a.txt, d and d/b.txt uploaded, no listing (%+v)", ps.at, ps.res.Done, ps.res.Requests, ps.res.Plan.Ops)
		}
		// Only what a batch names is rescanned.
		time.Sleep(time.Minute)
		e.write("d/c.txt", "c")
		e.write("e.txt", "e")
		src.c <- engine.Batch{Dirs: []string{"d"}}
		if ps := l.next(); !near(ps.at, 2*time.Minute) || ps.res.Done != 1 {
			t.Fatalf("pass on a batch naming d: at %s, done %d; want at 2m, d/c.txt uploaded (%+v)", ps.at, ps.res.Done, ps.res.Plan.Ops)
		}
		if _, ok := e.remoteFiles()["e.txt"]; ok {
			t.Fatal("e.txt uploaded, but the batch named only d")
		}
		// Full: the whole tree.
		time.Sleep(time.Minute)
		src.c <- engine.Batch{Full: true}
		if ps := l.next(); !near(ps.at, 3*time.Minute) || ps.res.Done != 1 {
			t.Fatalf("pass on a Full batch: at %s, done %d; want at 3m, e.txt uploaded (%+v)", ps.at, ps.res.Done, ps.res.Plan.Ops)
		}
		e.assertSame()
	})
}

// With nothing else happening the loop lists the remote every poll
// interval, and a remote change is synced at the next poll, not before.
func TestLoopPollsEveryPollInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		l := startLoop(t, e, e.pair(), engine.LoopOptions{PollInterval: 10 * time.Minute, ScanInterval: 24 * time.Hour, Changes: newFakeSource()})
		l.next()
		time.Sleep(5 * time.Minute)
		e.upload(e.otherWithRoot(), "", "r.txt", "r")
		var at []time.Duration
		for i := 1; i <= 3; i++ {
			ps := l.next()
			at = append(at, ps.at)
			if ps.res.Requests == 0 {
				t.Fatalf("pass %d at %s listed nothing: not a poll", i, ps.at)
			}
			if want := 1; i == 1 && ps.res.Done != want {
				t.Fatalf("first poll after the remote change: done %d, want %d (%+v)", ps.res.Done, want, ps.res.Plan.Ops)
			}
		}
		for i, a := range at {
			// Each poll is timed from the end of the pass before it.
			if want := time.Duration(i+1) * 10 * time.Minute; !near(a, want) {
				t.Fatalf("polls at %v, want every 10m", at)
			}
		}
		if got, _ := e.read("r.txt"); got != "r" {
			t.Fatalf("r.txt locally: %q", got)
		}
	})
}

// The safety net: a local change the watcher missed is found by the full
// rescan at ScanInterval, not by the polls before it, and the local trash
// is purged at every such rescan.
func TestLoopRescansWholeAtScanIntervalAndPurgesTrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		trash := &purgeLog{fs: e.host.FS, start: time.Now()}
		l := startLoop(t, e, e.pair(), engine.LoopOptions{PollInterval: 10 * time.Minute, ScanInterval: time.Hour,
			Changes: newFakeSource(), Trash: trash, TrashRetention: 24 * time.Hour})
		l.next()
		e.write("missed.txt", "m")
		ps := l.until(10)
		if last := ps[len(ps)-1]; !near(last.at, time.Hour) || last.res.Requests != 0 {
			t.Fatalf("missed.txt uploaded at %s with %d listings, want by the local-only rescan at 1h (passes: %+v)", last.at, last.res.Requests, ps)
		}
		if got := trash.times(); len(got) != 1 || !near(got[0], time.Hour) {
			t.Fatalf("trash purged at %v, want at 1h", got)
		}
		time.Sleep(time.Hour + time.Second)
		synctest.Wait()
		if got := trash.times(); len(got) != 2 || !near(got[1], 2*time.Hour) {
			t.Fatalf("trash purged at %v, want at 1h and 2h", got)
		}
	})
}

// While the watcher is degraded the whole tree is rescanned every minute;
// once it recovers, only at ScanInterval again.
func TestLoopRescansEveryMinuteWhileTheWatcherIsDegraded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		src := newFakeSource()
		src.setDegraded(true)
		trash := &purgeLog{fs: e.host.FS, start: time.Now()}
		l := startLoop(t, e, e.pair(), engine.LoopOptions{PollInterval: time.Hour, ScanInterval: 24 * time.Hour,
			Changes: src, Trash: trash})
		l.next()
		time.Sleep(90 * time.Second)
		e.write("a.txt", "a")
		ps := l.until(10)
		if last := ps[len(ps)-1]; !near(last.at, 2*time.Minute) {
			t.Fatalf("a.txt uploaded at %s, want at the rescan at 2m (passes: %+v)", last.at, ps)
		}
		if got := trash.times(); len(got) != 2 || !near(got[0], time.Minute) || !near(got[1], 2*time.Minute) {
			t.Fatalf("trash purged at %v, want at 1m and 2m", got)
		}
		src.setDegraded(false)
		e.write("b.txt", "b")
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if len(l.passes) != 0 || len(trash.times()) != 2 {
			t.Fatalf("%d passes and %d purges after the watcher recovered, want none before the poll", len(l.passes), len(trash.times()))
		}
	})
}

// A watcher that stops (its channel closes) leaves periodic scans only:
// every minute, as when degraded.
func TestLoopRescansEveryMinuteOnceTheWatcherStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		src := newFakeSource()
		l := startLoop(t, e, e.pair(), engine.LoopOptions{PollInterval: time.Hour, ScanInterval: 24 * time.Hour, Changes: src})
		l.next()
		close(src.c)
		e.write("a.txt", "a")
		ps := l.until(10)
		if last := ps[len(ps)-1]; !near(last.at, time.Minute) {
			t.Fatalf("a.txt uploaded at %s, want at the rescan at 1m (passes: %+v)", last.at, ps)
		}
	})
}

// A file still being written is left out, and the loop looks again after
// Settle rather than at the next poll.
func TestLoopLooksAgainAfterSettle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		src := newFakeSource()
		b := e.bind()
		b.Local = &bind.Local{FS: e.host.FS, Matcher: e.matcher, Settle: 2 * time.Second}
		p := b.Pair(e.cfg, engine.Options{})
		l := startLoop(t, e, p, engine.LoopOptions{PollInterval: time.Hour, ScanInterval: 24 * time.Hour, Changes: src, Settle: time.Second})
		l.next()
		time.Sleep(time.Minute)
		e.write("a.txt", "a")
		// Still open for writing: without a writer a fresh file is read
		// at once where the system can tell (local.hashFile).
		w, err := os.OpenFile(filepath.Join(e.dir, "a.txt"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		now := time.Now() // the bubble's: the file's real mtime is years away
		if err := os.Chtimes(filepath.Join(e.dir, "a.txt"), now, now); err != nil {
			t.Fatal(err)
		}
		src.c <- engine.Batch{Dirs: []string{""}}
		var seen []loopPass
		for _, want := range []time.Duration{time.Minute, time.Minute + time.Second, time.Minute + 2*time.Second} {
			ps := l.next()
			seen = append(seen, ps)
			if !near(ps.at, want) {
				t.Fatalf("passes at %+v, want at 1m, 1m1s and 1m2s", seen)
			}
		}
		if seen[0].res.Unsettled != 1 || seen[1].res.Unsettled != 1 || seen[2].res.Done != 1 {
			t.Fatalf("passes %+v: want a.txt unsettled twice, then uploaded", seen)
		}
	})
}

// bufferedSource is a change source whose batch can be queued while the
// loop is held in OnIdle, so that it is due together with a timer.
type bufferedSource struct{ c chan engine.Batch }

func (b bufferedSource) Batches() <-chan engine.Batch { return b.c }
func (b bufferedSource) Degraded() (bool, string)     { return false, "" }

// A batch and a poll due at the same moment start one pass that does
// both: it lists the remote and rescans what the batch names, whatever
// the runtime's select would have picked first. (Picking one made the
// loop's run under testing/synctest depend on the runtime's random
// choice, so no simulation of it could be a function of its seed.)
func TestLoopTakesEverythingDueAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t)
		src := bufferedSource{c: make(chan engine.Batch, 1)}
		idle := 0
		var l *loopRun
		l = startLoop(t, e, e.pair(), engine.LoopOptions{PollInterval: time.Minute, ScanInterval: 24 * time.Hour, Changes: src,
			OnIdle: func() {
				idle++
				if idle < 2 || idle > 21 {
					return
				}
				// Held here, the loop lets the poll fall due; the batch is
				// queued before it looks again.
				time.Sleep(2 * time.Minute)
				e.write(fmt.Sprintf("f%d.txt", idle), "x")
				src.c <- engine.Batch{Dirs: []string{""}}
			}})
		l.next()
		for i := 2; i <= 21; i++ {
			ps := l.next()
			if ps.res.Requests == 0 || ps.res.Done != 1 {
				t.Fatalf("iteration %d: %d listings, done %d; want one pass listing the remote and uploading f%d.txt (%+v)", i, ps.res.Requests, ps.res.Done, i, ps.res.Plan.Ops)
			}
		}
		e.assertSame()
	})
}
