package apitest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/syncd/syncd/remote"
)

// harness is one test's target and the clients made for it.
type harness struct {
	t    *testing.T
	tg   Target
	ctx  context.Context
	logs []*observer.ObservedLogs
}

func start(t *testing.T, newTarget Factory, s Setup) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return &harness{t: t, tg: newTarget(t, s), ctx: ctx}
}

// client returns a new remote.Client for the target, logging at debug
// level into an observer the secrets test inspects.
func (h *harness) client(mod ...func(*remote.Config)) *remote.Client {
	h.t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = append(h.logs, logs)
	cfg := remote.Config{
		URL:               h.tg.URL,
		Key1:              h.tg.Keys[0],
		Key2:              h.tg.Keys[1],
		HTTPClient:        h.tg.HTTPClient,
		Logger:            zap.New(core),
		RequestsPerSecond: 500,
		MaxRetries:        4,
		RetryBaseDelay:    5 * time.Millisecond,
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := remote.New(cfg)
	if err != nil {
		h.t.Fatalf("remote.New: %v", err)
	}
	return c
}

func (h *harness) inject(f Fault) {
	h.t.Helper()
	if h.tg.InjectFault == nil {
		h.t.Skip("target cannot inject faults")
	}
	h.tg.InjectFault(f)
}

// content returns n deterministic pseudo-random bytes.
func content(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// upload stores data as name in folder and checks the reply.
func (h *harness) upload(c *remote.Client, folder remote.ID, name string, data []byte) remote.File {
	h.t.Helper()
	f, err := c.Upload(h.ctx, remote.UploadRequest{Folder: folder, Name: name, Size: int64(len(data)), Open: opener(data)})
	if err != nil {
		h.t.Fatalf("Upload %q: %v", name, err)
	}
	if f.ID == "" || f.Name != name || f.Size != int64(len(data)) || f.MD5 != md5hex(data) || f.FolderID != folder {
		h.t.Fatalf("Upload %q returned %+v", name, f)
	}
	return f
}

func (h *harness) list(c *remote.Client, folder remote.ID) remote.Listing {
	h.t.Helper()
	l, err := c.List(h.ctx, folder)
	if err != nil {
		h.t.Fatalf("List %q: %v", folder, err)
	}
	return l
}

func (h *harness) mkdir(c *remote.Client, parent remote.ID, name string) remote.Folder {
	h.t.Helper()
	f, err := c.CreateFolder(h.ctx, parent, name)
	if err != nil {
		h.t.Fatalf("CreateFolder %q: %v", name, err)
	}
	if f.ID == "" || f.Name != name || f.ParentID != parent {
		h.t.Fatalf("CreateFolder %q in %q returned %+v", name, parent, f)
	}
	return f
}

// download returns the whole content of id.
func (h *harness) download(c *remote.Client, id remote.ID, size int64, sum string) []byte {
	h.t.Helper()
	var buf bytes.Buffer
	n, err := c.Download(h.ctx, remote.DownloadRequest{ID: id, Size: size, MD5: sum}, &buf)
	if err != nil {
		h.t.Fatalf("Download %s: %v", id, err)
	}
	if n != int64(buf.Len()) {
		h.t.Fatalf("Download %s reported %d bytes, wrote %d", id, n, buf.Len())
	}
	return buf.Bytes()
}

func activeFiles(l remote.Listing) []remote.File {
	var out []remote.File
	for _, f := range l.Files {
		if f.Active() {
			out = append(out, f)
		}
	}
	return out
}

func fileByID(l remote.Listing, id remote.ID) (remote.File, bool) {
	for _, f := range l.Files {
		if f.ID == id {
			return f, true
		}
	}
	return remote.File{}, false
}

func folderByID(l remote.Listing, id remote.ID) (remote.Folder, bool) {
	for _, f := range l.Folders {
		if f.ID == id {
			return f, true
		}
	}
	return remote.Folder{}, false
}
