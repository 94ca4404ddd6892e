package engine_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/syncd/syncd/state"
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

// While the server is down the loop retries with growing, jittered delays
// (not in a tight loop, not only at the poll interval), and syncs as soon
// as the server answers again.
func TestLoopBacksOffDuringAnOutageAndRecovers(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(filepath.Join(t.TempDir(), "s.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	synctest.Test(t, func(t *testing.T) {
		r := &downRemote{}
		p := engine.NewPair(engine.PairConfig{Key: "p", LocalRoot: dir, RemotePath: "/x"}, r,
			&bind.Local{FS: fs}, bind.Store{S: st}, engine.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		passes := make(chan error, 100)
		done := make(chan struct{})
		go func() {
			p.Run(ctx, engine.LoopOptions{PollInterval: time.Hour, RetryMin: 2 * time.Second, RetryMax: time.Minute,
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
