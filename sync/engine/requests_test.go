package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/bind"
	"github.com/syncd/syncd/sync/engine"
)

// requestCounter counts the API requests that reach the emulator, by
// endpoint.
type requestCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
	// before, when set, sees each request before it is sent.
	before func(endpoint string, r *http.Request) error
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	ep := r.URL.Path
	if i := strings.Index(ep, "/api/v2/"); i >= 0 {
		ep = ep[i+len("/api/v2/"):]
	}
	if c.before != nil {
		if err := c.before(ep, r); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	c.n[ep]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

func (c *requestCounter) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, total := c.n, 0
	for _, v := range n {
		total += v
	}
	c.n = map[string]int{}
	return n, total
}

// countRequests makes e's client send through a counter.
func countRequests(e *env) *requestCounter {
	e.t.Helper()
	c := &requestCounter{next: emulator.Transport{Handler: e.emu}, n: map[string]int{}}
	e.hc = &http.Client{Transport: c}
	e.client = e.newClient()
	return c
}

func describe(n map[string]int) string {
	var ks []string
	for k, v := range n {
		ks = append(ks, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// A first upload costs one request per file and about one per folder: no
// file/info per upload to check where it landed (confirm.go).
func TestFirstUploadRequestsPerFile(t *testing.T) {
	e := newEnv(t)
	c := countRequests(e)
	e.sync() // the pair's remote folder exists from now on
	const files, folders = 200, 5
	for i := range files {
		e.write(fmt.Sprintf("d%d/f%03d.txt", i%folders, i), fmt.Sprintf("file %d", i))
	}
	c.take()
	t0 := time.Now()
	res := e.pass()
	// A long batch checks its held uploads every half second as well
	// (heldCheckAfter): one listing each, whatever the number of files.
	timed := int(time.Since(t0) / (500 * time.Millisecond))
	n, total := c.take()
	t.Logf("%d requests: %s (%d done)", total, describe(n), res.Done)
	if n["file/upload"] != files {
		t.Errorf("%d uploads, want %d", n["file/upload"], files)
	}
	if n["file/info"] != 0 {
		t.Errorf("%d file/info requests, want none", n["file/info"])
	}
	// Beyond the uploads: per folder its folder/create and the listing
	// that settles a twin another client made meanwhile; per pass the
	// check of the pair's folder and its listing; per parent folder of
	// the uploads' folders one listing that confirms they are still active.
	if want := files + 2*folders + 3 + timed; total > want {
		t.Errorf("%d requests for %d files in %d folders, want at most %d", total, files, folders, want)
	}
	e.sync()
}

// An upload into a folder another client trashed just before lands in the
// account's root (api.md 11): the folder check finds the folder gone, the
// files are trashed, none is recorded as synced, and the next pass
// uploads them again into a new folder.
func TestUploadIntoFolderTrashedMeanwhile(t *testing.T) {
	e := newEnv(t)
	c := countRequests(e)
	e.sync()
	for i := range 6 {
		e.write(fmt.Sprintf("a/f%d.txt", i), fmt.Sprintf("file %d", i))
		e.write(fmt.Sprintf("b/f%d.txt", i), fmt.Sprintf("file b%d", i))
	}
	trashed := trashFolderOnFirstUpload(e, c)
	res := e.pass()
	c.before = nil
	if *trashed == "" {
		t.Fatal("no upload was sent")
	}
	if res.Done != 2+6 || res.Skipped != 6 {
		t.Errorf("done %d skipped %d, want 8 and 6: %+v", res.Done, res.Skipped, res.Errors)
	}
	for _, en := range e.emu.Dump(e.account.ID) {
		if !en.Folder && en.Status == "active" && !strings.HasPrefix(en.Path, e.remote+"/") {
			t.Errorf("file left outside the pair: %+v", en)
		}
	}
	e.sync()
}

// barrierRemote holds every upload until want of them are in flight at
// once, or for 5 s when fewer come: maxSeen then tells how many the
// executor ran together.
type barrierRemote struct {
	engine.Remote
	want    int
	mu      sync.Mutex
	flight  int
	maxSeen int
	closed  bool
	full    chan struct{}
}

func (b *barrierRemote) Upload(ctx context.Context, u engine.Upload) (engine.RemoteFile, error) {
	b.mu.Lock()
	b.flight++
	b.maxSeen = max(b.maxSeen, b.flight)
	if b.flight == b.want && !b.closed {
		b.closed = true
		close(b.full)
	}
	b.mu.Unlock()
	defer func() { b.mu.Lock(); b.flight--; b.mu.Unlock() }()
	select {
	case <-b.full:
	case <-ctx.Done():
		return engine.RemoteFile{}, ctx.Err()
	case <-time.After(5 * time.Second):
		// Fewer run at once: let all go, the test reports maxSeen.
		b.mu.Lock()
		if !b.closed {
			b.closed = true
			close(b.full)
		}
		b.mu.Unlock()
	}
	return b.Remote.Upload(ctx, u)
}

// Uploads run as many at once as the package's concurrent_uploads allows
// (the sample package's 100, not a fixed 32), and a package without a
// limit does not mean a handful.
func TestUploadsFollowThePackagesConcurrency(t *testing.T) {
	for _, tc := range []struct{ limit, want int }{{100, 100}, {0, 64}} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			e := newEnv(t, func(o *emulator.Options) {
				a := emulator.DefaultAccount()
				a.ConcurrentUploads = tc.limit
				o.Accounts = []emulator.Account{a}
			})
			for i := range tc.want + 20 {
				e.write(fmt.Sprintf("d/f%03d.txt", i), fmt.Sprintf("file %d", i))
			}
			b := &barrierRemote{Remote: bind.Remote{C: e.client}, want: tc.want, full: make(chan struct{})}
			p := e.pairOver(b, engine.Options{Workers: 1000})
			res, err := p.Once(context.Background(), engine.PassOptions{})
			if err != nil || res.Failed > 0 {
				t.Fatalf("once: %v %+v", err, res.Errors)
			}
			if b.maxSeen != tc.want {
				t.Errorf("%d uploads in flight at most, want %d", b.maxSeen, tc.want)
			}
			e.assertSame()
		})
	}
}

// A replace costs five requests (upload under a temporary name, one
// listing that checks both files, trash of the old, rename of the new, the
// rename's check): none of them a file/info.
func TestReplaceRequestsPerFile(t *testing.T) {
	e := newEnv(t)
	const files, folders = 40, 4
	for i := range files {
		e.write(fmt.Sprintf("d%d/f%03d.txt", i%folders, i), fmt.Sprintf("file %d", i))
	}
	e.sync()
	c := countRequests(e)
	for i := range files {
		e.write(fmt.Sprintf("d%d/f%03d.txt", i%folders, i), fmt.Sprintf("file %d, second version", i))
	}
	res := e.pass()
	n, total := c.take()
	t.Logf("%d requests: %s (%d done)", total, describe(n), res.Done)
	if res.Done != files || res.Failed+res.Skipped != 0 {
		t.Errorf("done %d failed %d skipped %d, want %d, 0, 0: %+v", res.Done, res.Failed, res.Skipped, files, res.Errors)
	}
	if n["file/upload"] != files {
		t.Errorf("%d uploads, want %d", n["file/upload"], files)
	}
	if n["file/info"] != 0 {
		t.Errorf("%d file/info requests, want none", n["file/info"])
	}
	// Besides: the new client's authorize and account/package, the
	// check of the pair's folder, the listings of it and its folders.
	if want := 5*files + 3 + 1 + folders; total > want {
		t.Errorf("%d requests for %d replaces, want at most %d", total, files, want)
	}
	e.sync()
	r := e.remoteFiles()
	for i := range files {
		rel := fmt.Sprintf("d%d/f%03d.txt", i%folders, i)
		if r[rel] != sum(fmt.Sprintf("file %d, second version", i)) {
			t.Errorf("%s on the remote: %q, not the second version", rel, r[rel])
		}
	}
}

// trashFolderOnFirstUpload makes another client trash the folder the first
// upload through c is sent to, just before the upload reaches the server.
// The id of the trashed folder is set once it is.
func trashFolderOnFirstUpload(e *env, c *requestCounter) *string {
	var trashed string
	var mu sync.Mutex // uploads run in parallel: the first one trashes
	c.before = func(ep string, r *http.Request) error {
		if ep != "file/upload" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if trashed != "" {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		form, err := multipart.NewReader(bytes.NewReader(b), params["boundary"]).ReadForm(1 << 20)
		if err != nil {
			return err
		}
		v := func(k string) string { return form.Value[k][0] }
		trashed = v("folder_id")
		del := url.Values{"access_token": {v("access_token")}, "account_id": {v("account_id")}, "folder_id": {trashed}}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.url+"folder/delete", strings.NewReader(del.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.next.RoundTrip(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	return &trashed
}

// A replace into a folder another client trashed just before: the new
// version lands in the account's root (api.md 11), where finishReplace's
// listing cannot see it (the replace no longer asks the upload to check
// where it landed). The old file, trashed with its folder, is not as
// planned: the upload is trashed, and the next pass brings the local
// versions up again into a new folder: nothing outside the pair, nothing
// lost.
func TestReplaceIntoFolderTrashedMeanwhile(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.write(fmt.Sprintf("a/f%d.txt", i), fmt.Sprintf("file %d", i))
		e.write(fmt.Sprintf("b/f%d.txt", i), fmt.Sprintf("file b%d", i))
	}
	e.sync()
	c := countRequests(e)
	for i := range 3 {
		e.write(fmt.Sprintf("a/f%d.txt", i), fmt.Sprintf("file %d, edited", i))
	}
	trashed := trashFolderOnFirstUpload(e, c)
	res := e.pass()
	c.before = nil
	if *trashed == "" {
		t.Fatal("no upload was sent")
	}
	if res.Done != 0 || res.Skipped+res.Failed != 3 {
		t.Errorf("done %d skipped %d failed %d, want 0 and 3 in all: %+v", res.Done, res.Skipped, res.Failed, res.Errors)
	}
	for _, en := range e.emu.Dump(e.account.ID) {
		if !en.Folder && en.Status == "active" && !strings.HasPrefix(en.Path, e.remote+"/") {
			t.Errorf("file left outside the pair: %+v", en)
		}
	}
	e.sync()
	r := e.remoteFiles()
	for i := range 3 {
		if rel := fmt.Sprintf("a/f%d.txt", i); r[rel] != sum(fmt.Sprintf("file %d, edited", i)) {
			t.Errorf("%s on the remote: %q, not the edited version", rel, r[rel])
		}
	}
}
