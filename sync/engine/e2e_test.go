package engine_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/syncd/syncd/internal/testenv"
	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
	"github.com/syncd/syncd/sync/engine"
	"github.com/syncd/syncd/sync/local"
	"github.com/syncd/syncd/sync/plan"
)

// env is one pair synced through the real parts (internal/testenv): the
// emulator behind httptest, the real client, a real bbolt state file and a
// real temp dir.
type env struct {
	t       testing.TB
	srv     *testenv.Server
	emu     *emulator.Server
	url     string
	hc      *http.Client // nil: the default transport, over a socket
	account emulator.Account
	client  *remote.Client
	host    *testenv.Host // the state file and local root, open
	dir     string        // host.Dir
	remote  string        // the pair's remote folder path
	cfg     engine.PairConfig
	matcher *local.Matcher
}

func newEnv(t *testing.T, mods ...func(*emulator.Options)) *env { return newEnvTB(t, mods...) }

func newEnvTB(t testing.TB, mods ...func(*emulator.Options)) *env {
	return newEnvOver(t, false, mods...)
}

// newBubbleEnv is newEnv for a testing/synctest bubble (call it inside
// one): the client reaches the emulator in-process rather than over a
// socket (see testenv.Serve).
func newBubbleEnv(t *testing.T, mods ...func(*emulator.Options)) *env {
	return newEnvOver(t, true, mods...)
}

func newEnvOver(t testing.TB, inProcess bool, mods ...func(*emulator.Options)) *env {
	t.Helper()
	srv := testenv.NewServer(t, inProcess, mods...)
	e := &env{t: t, srv: srv, emu: srv.Emu, url: srv.URL, hc: srv.HTTPClient, account: srv.Account, remote: "/sync/pair"}
	e.dir = t.TempDir()
	statePath := filepath.Join(t.TempDir(), "state.db")
	e.client = e.newClient()
	var err error
	e.matcher, err = local.NewMatcher(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = engine.PairConfig{Key: "pair1", LocalRoot: e.dir, RemotePath: e.remote, Ignored: e.matcher.Match,
		DeleteLimit: plan.DeleteLimit{Percent: 50, Min: 10}, Host: "testhost"}
	e.host = testenv.OpenHost(t, e.dir, statePath)
	return e
}

// ignore replaces the pair's ignore rules (for the passes that follow).
func (e *env) ignore(rules ...string) {
	e.t.Helper()
	m, err := local.NewMatcher(rules, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.matcher = m
	e.cfg.Ignored = m.Match
}

// newClient is a connected client of the account over e.hc.
func (e *env) newClient() *remote.Client {
	e.t.Helper()
	return e.srv.Client(e.t, testenv.Quick, func(c *remote.Config) { c.HTTPClient = e.hc })
}

// restart drops every in-memory structure and reopens the state file.
func (e *env) restart() {
	e.t.Helper()
	if err := e.host.Restart(); err != nil {
		e.t.Fatal(err)
	}
}

// bind is the engine's bindings over e's client, root and store.
func (e *env) bind() testenv.Bindings { return e.host.Bind(e.client, e.matcher) }

// pairOver is a pair over r instead of e's client, with opt as given.
func (e *env) pairOver(r engine.Remote, opt engine.Options) *engine.Pair {
	b := e.bind()
	b.Remote = r
	return b.Pair(e.cfg, opt)
}

func (e *env) pair(mods ...func(*engine.Options)) *engine.Pair {
	// Recovery's second look for late uploads a quarter of the product's:
	// the emulator on loopback stores an upload within milliseconds, or
	// after its fault's StoreDelay, well under this.
	opt := engine.Options{ValidLocalName: testenv.ValidLocalName, LateUploadWait: 500 * time.Millisecond}
	for _, m := range mods {
		m(&opt)
	}
	return e.bind().Pair(e.cfg, opt)
}

// once runs `syncd once` for the pair and fails the test on an error.
func (e *env) once() engine.PassResult {
	e.t.Helper()
	res, err := e.pair().Once(context.Background(), engine.PassOptions{})
	if err != nil {
		e.t.Fatalf("once: %v (result %+v)", err, res)
	}
	return res
}

// pass runs exactly one pass and fails the test on an error.
func (e *env) pass() engine.PassResult {
	e.t.Helper()
	res, err := e.pair().Pass(context.Background(), engine.PassOptions{})
	if err != nil {
		e.t.Fatalf("pass: %v", err)
	}
	return res
}

// sync runs once and checks both sides agree afterwards.
func (e *env) sync() engine.PassResult {
	e.t.Helper()
	res := e.once()
	if !res.Converged && !res.Complete {
		e.t.Fatalf("not converged: %+v", res)
	}
	e.assertSame()
	return res
}

func (e *env) write(rel, content string) {
	e.t.Helper()
	p := filepath.Join(e.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	// Make the file look settled and distinct from an earlier write.
	old := time.Now().Add(-time.Hour).Add(time.Duration(len(content)) * time.Second)
	os.Chtimes(p, old, old)
}

func (e *env) read(rel string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(e.dir, filepath.FromSlash(rel)))
	if err != nil {
		return "", false
	}
	return string(b), true
}

func sum(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// localFiles maps each synced local file (outside .syncd) to its MD5, and
// each directory to "/".
func (e *env) localFiles() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			e.t.Fatal(err)
		}
		rel, _ := filepath.Rel(e.dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if rel == local.MetaDir {
			return filepath.SkipDir
		}
		if d.IsDir() {
			out[rel] = "/"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			e.t.Fatal(err)
		}
		out[rel] = sum(string(b))
		return nil
	})
	return out
}

// remoteFiles maps each active remote entry below the pair folder likewise.
func (e *env) remoteFiles() map[string]string {
	out := map[string]string{}
	prefix := e.remote + "/"
	for _, en := range e.emu.Dump(e.account.ID) {
		if en.Status != "active" || !strings.HasPrefix(en.Path, prefix) {
			continue
		}
		rel := strings.TrimPrefix(en.Path, prefix)
		if en.Folder {
			out[rel] = "/"
		} else {
			out[rel] = en.MD5
		}
	}
	return out
}

// remoteEntry finds the active remote entry at rel.
func (e *env) remoteEntry(rel string) (emulator.Entry, bool) {
	for _, en := range e.emu.Dump(e.account.ID) {
		if en.Status == "active" && en.Path == e.remote+"/"+rel {
			return en, true
		}
	}
	return emulator.Entry{}, false
}

func (e *env) trashedRemote() []emulator.Entry {
	var out []emulator.Entry
	for _, en := range e.emu.Dump(e.account.ID) {
		if en.Status == "trash" {
			out = append(out, en)
		}
	}
	return out
}

func (e *env) assertSame() {
	e.t.Helper()
	l, r := e.localFiles(), e.remoteFiles()
	if !equalMaps(l, r) {
		e.t.Fatalf("sides differ:\nlocal:  %v\nremote: %v", sorted(l), sorted(r))
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// other is another client of the same account: its authorize invalidates
// the engine's token, as the live service does.
func (e *env) other() *remote.Client { return e.newClient() }

// otherWithRoot is another client, after making sure the pair folder exists.
func (e *env) otherWithRoot() *remote.Client {
	c := e.other()
	ctx := context.Background()
	parent := remote.Root
	for _, name := range strings.Split(strings.Trim(e.remote, "/"), "/") {
		l, err := c.List(ctx, parent)
		if err != nil {
			e.t.Fatal(err)
		}
		found := false
		for _, f := range l.Folders {
			if f.Active() && f.Name == name {
				parent, found = f.ID, true
			}
		}
		if !found {
			f, err := c.CreateFolder(ctx, parent, name)
			if err != nil {
				e.t.Fatal(err)
			}
			parent = f.ID
		}
	}
	return c
}

// folderID resolves a remote folder path below the pair folder ("" = the pair folder).
func (e *env) folderID(rel string) remote.ID {
	e.t.Helper()
	want := e.remote
	if rel != "" {
		want += "/" + rel
	}
	for _, en := range e.emu.Dump(e.account.ID) {
		if en.Folder && en.Status == "active" && en.Path == want {
			return remote.ID(itoa(en.ID))
		}
	}
	e.t.Fatalf("no remote folder %s", want)
	return ""
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}

// replaceRemote gives the remote file rel new content the only way the API
// allows, as another client would: upload the new version, trash the old
// one, rename the new one to the name.
func (e *env) replaceRemote(c *remote.Client, rel, content string) {
	e.t.Helper()
	ctx := context.Background()
	old, ok := e.remoteEntry(rel)
	if !ok {
		e.t.Fatalf("no remote file %s to replace", rel)
	}
	dir, name := path.Split(rel)
	nf := e.upload(c, strings.TrimSuffix(dir, "/"), "new-"+name, content)
	if err := c.DeleteFile(ctx, idOf(old)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.RenameFile(ctx, nf.ID, name); err != nil {
		e.t.Fatal(err)
	}
}

// upload puts a file on the remote as another client would.
func (e *env) upload(c *remote.Client, folderRel, name, content string) remote.File {
	e.t.Helper()
	f, err := c.Upload(context.Background(), remote.UploadRequest{
		Folder: e.folderID(folderRel), Name: name, Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte(content))), nil },
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}
