package remote

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/syncd/syncd/remote/apinames"
)

// UploadRequest describes one file upload.
type UploadRequest struct {
	Folder ID     // destination folder; Root for the account's root
	Name   string // exact name wanted
	Size   int64  // exact content size, > 0 (the API refuses empty files)
	// Open returns the content; it is called once per attempt, and the
	// content is streamed, never buffered whole.
	Open func() (io.ReadCloser, error)
	// KnownIDs reports the file ids the caller already knows in Folder; it
	// identifies a lost reply's file. nil: the client lists Folder first.
	KnownIDs func(ID) bool
	// KeepServerName keeps the server's renamed name (the replace protocol
	// renames after trashing the old file) instead of restoring Name.
	KeepServerName bool
	// Progress, when set, receives the content bytes sent so far in the
	// current attempt.
	Progress func(sent int64)
	// SkipLocationCheck leaves out the file/info that checks the file
	// landed in Folder (an unknown folder_id stores it in the root,
	// api.md 11): the caller checks, once for many uploads, that Folder
	// was still active after they were answered, and trashes the files
	// if it was not.
	SkipLocationCheck bool
}

// tokenCheckSize is the upload size from which the token is checked with
// a light request before the body is sent.
const tokenCheckSize = 8 << 20

// uploadHashBuffer is the size of the hashing pipe's buffers on upload:
// the transport reads a streamed body in io.Copy's 32 KiB pieces, so one
// buffer holds one read.
const uploadHashBuffer = 32 << 10

// inlineHashSize is the content size up to which an upload hashes in the
// reading goroutine: for a small file the pipe's goroutine and its four
// buffers cost more CPU than the MD5 they would move off the send path.
const inlineHashSize = 64 << 10

// errUnresolved marks an upload whose outcome is unknown: it must not be
// repeated before a listing shows whether it was stored.
var errUnresolved = errors.New("upload outcome unknown")

// ErrSourceChanged reports upload content whose length differed from
// UploadRequest.Size while it was read: the caller should look at the
// source again. Nothing was stored remotely.
var ErrSourceChanged = errors.New("upload source changed while reading")

// Upload stores a new file and returns it with MD5 set to the MD5 computed
// while streaming, checked against the reply's hash and size. A file whose
// hash or size does not match is trashed and the upload repeated.
//
// Server-side renames (api.md 12) are undone with file/edit, so File.Name
// equals req.Name unless KeepServerName is set. A lost reply is resolved by
// listing Folder: a new file with a matching name pattern and size, verified
// by its MD5 when it can be downloaded, is adopted; only when there is none
// is the upload repeated (testing.md 19).
//
// If the content was stored but a later step (rename, location check)
// failed, the stored File is returned together with the error.
func (c *Client) Upload(ctx context.Context, req UploadRequest) (File, error) {
	fail := func(msg string, kind error) (File, error) {
		return File{}, &APIError{Endpoint: "file/upload " + req.Name, Message: msg, Kind: kind}
	}
	switch {
	case req.Size <= 0:
		return fail(fmt.Sprintf("size %d: the API refuses empty files", req.Size), ErrValidation)
	case req.Open == nil:
		return fail("no content (Open is nil)", ErrValidation)
	}
	if err := checkName("file/upload", req.Name); err != nil {
		return File{}, err
	}
	lim, err := c.ensureLimits(ctx)
	if err != nil {
		return File{}, fmt.Errorf("upload %q: read package limits: %w", req.Name, err)
	}
	if !lim.CanUpload {
		return fail("the account's package does not allow uploads", ErrValidation)
	}
	if lim.MaxUploadSize > 0 && req.Size > lim.MaxUploadSize {
		return fail(fmt.Sprintf("size %d exceeds the package's max_upload_size %d", req.Size, lim.MaxUploadSize), ErrValidation)
	}
	if err := c.uploads.acquire(ctx); err != nil {
		return File{}, fmt.Errorf("upload %q: %w", req.Name, err)
	}
	defer c.uploads.release()

	known := req.KnownIDs
	if known != nil && req.Size >= tokenCheckSize {
		// The server checks the token only after receiving the whole body
		// (api.md 1: PHP parses the upload first), so a token another
		// client invalidated would cost a second transfer of a big file.
		// A light request first re-authorizes when needed.
		if _, err := c.call(ctx, "account/info", nil, true); err != nil {
			return File{}, fmt.Errorf("upload %q: check token: %w", req.Name, err)
		}
	}
	if known == nil {
		l, err := c.List(ctx, req.Folder)
		if err != nil {
			return File{}, fmt.Errorf("upload %q: list destination first: %w", req.Name, err)
		}
		ids := make(map[ID]bool, len(l.Files))
		for _, f := range l.Files {
			ids[f.ID] = true
		}
		known = func(id ID) bool { return ids[id] }
	}

	for n := 0; ; n++ {
		f, err := c.uploadAttempt(ctx, req, known)
		if err == nil {
			return c.finishUpload(ctx, req, f)
		}
		if ctx.Err() != nil || !errors.Is(err, ErrTransient) || errors.Is(err, errUnresolved) || n >= c.maxRetries {
			return File{}, fmt.Errorf("upload %q: %w", req.Name, err)
		}
		wait := c.backoff(n)
		c.log.Warn("upload failed; repeating", zap.String("name", req.Name), zap.Int("attempt", n+1), zap.Duration("wait", wait), zap.Error(err))
		if serr := sleep(ctx, wait); serr != nil {
			return File{}, fmt.Errorf("upload %q: %w (last failure: %v)", req.Name, serr, err)
		}
	}
}

// uploadAttempt sends the content once and returns the stored file,
// checked against what was sent. A lost reply is resolved here.
func (c *Client) uploadAttempt(ctx context.Context, req UploadRequest, known func(ID) bool) (File, error) {
	var cur *contentReader
	var guards []*stallGuard
	defer func() {
		for _, g := range guards {
			g.stop()
		}
	}()
	build := func(s session) requestBuilder {
		return func(ctx context.Context, u string) (*http.Request, error) {
			rc, err := req.Open()
			if err != nil {
				return nil, fmt.Errorf("open content: %w", err)
			}
			rctx, guard := newStallGuard(ctx, c.stall)
			guards = append(guards, guard)
			cur = newContentReader(rc, req.Size, req.Progress)
			cur.guard = guard
			body, length := multipartBody(s, req.Folder, apinames.Wire(req.Name), cur)
			hr, err := http.NewRequestWithContext(rctx, http.MethodPost, u, body)
			if err != nil {
				cur.Close()
				return nil, err
			}
			hr.ContentLength = length
			hr.Header.Set("Content-Type", body.contentType)
			return hr, nil
		}
	}
	env, err := c.authed(ctx, "file/upload", false, build)
	if cur != nil {
		cur.settle(ctx)
	}
	if cur != nil && cur.err != nil {
		// The source, not the network, failed: nothing usable was sent.
		return File{}, fmt.Errorf("upload %q: %w", req.Name, cur.err)
	}
	if err != nil && ctx.Err() == nil && cur != nil && cur.guard.stalled() {
		err = cur.guard.stallError("file/upload")
	}
	if err != nil {
		if errors.Is(err, ErrTransient) && cur != nil && cur.complete() {
			// The whole body left; the server may have stored it.
			f, found, rerr := c.findLostUpload(ctx, req, known, cur.sum())
			if rerr != nil {
				// Without a listing nobody knows whether the file was
				// stored: repeating could duplicate it, so the caller gets
				// the failure (and must list before any retry).
				return File{}, markedError{&APIError{Endpoint: "file/upload " + req.Name,
					Message: fmt.Sprintf("reply lost (%v) and resolving it by listing failed: %v", err, rerr),
					Kind:    ErrTransient}, errUnresolved}
			}
			if found {
				c.log.Info("lost upload reply resolved by listing", zap.String("name", req.Name), zap.String("id", string(f.ID)))
				return f, nil
			}
		}
		return File{}, err
	}
	f, err := decodeFile(env.data())
	if err != nil {
		return File{}, badReply("file/upload", "", err)
	}
	if cur == nil || !cur.complete() {
		return File{}, &APIError{Endpoint: "file/upload", Message: "server replied before the content was sent", Kind: ErrTransient}
	}
	sum := cur.sum()
	if f.Size != req.Size || (f.MD5 != "" && f.MD5 != sum) {
		msg := fmt.Sprintf("stored file %s has size %d hash %s, sent size %d hash %s", f.ID, f.Size, f.MD5, req.Size, sum)
		if derr := c.DeleteFile(ctx, f.ID); derr != nil {
			msg += fmt.Sprintf("; trashing it failed: %v", derr)
		}
		return File{}, &APIError{Endpoint: "file/upload", Message: msg, HTTPStatus: 200, Kind: ErrTransient}
	}
	if f.MD5 == "" {
		c.log.Warn("upload reply carries no hash; size checked only", zap.String("id", string(f.ID)))
	}
	f.MD5 = sum
	f.FolderID = req.Folder
	if f.Status == "" {
		f.Status = StatusActive
	}
	return f, nil
}

// finishUpload checks where the file landed and restores its name.
func (c *Client) finishUpload(ctx context.Context, req UploadRequest, f File) (File, error) {
	if req.Folder != Root && !req.SkipLocationCheck {
		// An unknown folder_id silently puts the file in the root
		// (api.md 11): check, and never leave it there.
		info, err := c.FileInfo(ctx, f.ID)
		if err != nil {
			return f, fmt.Errorf("upload %q: check location of %s: %w", req.Name, f.ID, err)
		}
		if info.FolderID != req.Folder {
			msg := fmt.Sprintf("folder %s does not exist: the server stored file %s in folder %q", req.Folder, f.ID, info.FolderID)
			if err := c.DeleteFile(ctx, f.ID); err != nil {
				msg += fmt.Sprintf("; trashing it failed: %v", err)
			} else {
				msg += ", now trashed"
			}
			return File{}, &APIError{Endpoint: "file/upload " + req.Name, Message: msg, HTTPStatus: 200, Kind: ErrNotFound}
		}
	}
	if f.Name == req.Name || req.KeepServerName {
		return f, nil
	}
	renamed, err := c.RenameFile(ctx, f.ID, req.Name)
	if err != nil {
		return f, fmt.Errorf("upload %q: stored as %q (id %s); renaming back failed: %w", req.Name, f.Name, f.ID, err)
	}
	if renamed.Name != req.Name {
		c.log.Warn("server did not keep the exact name", zap.String("want", req.Name), zap.String("got", renamed.Name))
	}
	f.Name = renamed.Name
	return f, nil
}

// findLostUpload looks in req.Folder for a file the lost reply would have
// described: new (not known), active, of the right size, and named like
// the server names an upload of req.Name. A candidate is verified by
// downloading it through MD5 when downloads are possible.
func (c *Client) findLostUpload(ctx context.Context, req UploadRequest, known func(ID) bool, sum string) (File, bool, error) {
	l, err := c.List(ctx, req.Folder)
	if err != nil {
		return File{}, false, err
	}
	match := apinames.Matcher(req.Name)
	var cands []File
	for _, f := range l.Files {
		if f.Active() && !known(f.ID) && f.Size == req.Size && match(f.Name) {
			cands = append(cands, f)
		}
	}
	slices.SortFunc(cands, func(a, b File) int { return strings.Compare(string(a.ID), string(b.ID)) })
	var unverified []File
	for _, f := range cands {
		h := md5.New()
		_, err := c.Download(ctx, DownloadRequest{ID: f.ID, Size: f.Size, MD5: sum}, h)
		switch {
		case err == nil:
			f.MD5, f.FolderID = sum, req.Folder
			return f, true, nil
		case errors.Is(err, errChecksum):
			// Someone else's upload of the same name and size.
		case errors.Is(err, ErrRateLimited) || errors.Is(err, ErrValidation):
			unverified = append(unverified, f)
		default:
			return File{}, false, err
		}
	}
	if len(unverified) == 1 {
		f := unverified[0]
		c.log.Warn("adopting a lost upload without content check: downloads not possible", zap.String("id", string(f.ID)))
		f.MD5, f.FolderID = sum, req.Folder
		return f, true, nil
	}
	if len(unverified) > 1 {
		return File{}, false, &APIError{Endpoint: "file/upload " + req.Name,
			Message: fmt.Sprintf("reply lost and %d unverifiable candidate files found", len(unverified)), Kind: ErrValidation}
	}
	return File{}, false, nil
}

// contentReader streams exactly size bytes of the content, hashing and
// counting them, and records a source that is shorter or longer. Hashing
// runs in a second goroutine (hashPipe) so that it overlaps with sending,
// except for content of at most inlineHashSize, hashed as it is read.
//
// The HTTP transport may read and close a request body from its own
// goroutine, even after Do has returned; the mutex orders Read and Close,
// and settle waits for Close before the state is read.
type contentReader struct {
	mu       sync.Mutex
	rc       io.ReadCloser
	size     int64
	n        int64
	h        hash.Hash
	hp       *hashPipe
	progress func(int64)
	guard    *stallGuard // restarted on every read, paused once all is read
	err      error       // ErrSourceChanged, or the source's read error
	isClosed bool
	closed   chan struct{}
}

func newContentReader(rc io.ReadCloser, size int64, progress func(int64)) *contentReader {
	h := md5.New()
	r := &contentReader{rc: rc, size: size, h: h, progress: progress, closed: make(chan struct{})}
	if size > inlineHashSize {
		r.hp = newHashPipe(h, uploadHashBuffer)
	}
	return r
}

func (r *contentReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.isClosed:
		return 0, errors.New("upload body read after close")
	case r.err != nil:
		return 0, r.err
	case r.n >= r.size:
		// The declared size is sent; a source with more is a changed file.
		var one [1]byte
		for range 8 {
			k, err := r.rc.Read(one[:])
			if k > 0 {
				r.err = fmt.Errorf("%w: longer than %d bytes", ErrSourceChanged, r.size)
				return 0, r.err
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				// The source's own verdict (e.g. "changed while read",
				// reported at its end) must abort the body: swallowed,
				// the server would store a version that never existed.
				r.err = err
				return 0, r.err
			}
		}
		return 0, io.EOF
	}
	if rem := r.size - r.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	k, err := r.rc.Read(p)
	if r.hp == nil {
		r.h.Write(p[:k]) // p is the transport's; hashed before it is sent
	}
	for off := 0; r.hp != nil && off < k; {
		b := r.hp.buffer()
		m := copy(b, p[off:k])
		r.hp.hash(b[:m])
		off += m
	}
	r.n += int64(k)
	if k > 0 && r.progress != nil {
		r.progress(r.n)
	}
	if r.guard != nil {
		if r.n == r.size {
			r.guard.pause()
		} else {
			r.guard.progress()
		}
	}
	switch {
	case err == io.EOF && r.n < r.size:
		r.err = fmt.Errorf("%w: %d bytes instead of %d", ErrSourceChanged, r.n, r.size)
		return k, r.err
	case err == io.EOF:
		return k, nil
	case err != nil:
		r.err = fmt.Errorf("read content: %w", err)
		return k, r.err
	}
	return k, nil
}

func (r *contentReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isClosed {
		return nil
	}
	r.isClosed = true
	err := r.rc.Close()
	if r.hp != nil {
		r.hp.drain()
	}
	close(r.closed)
	return err
}

// settle waits until the transport has closed the body, so that the
// counts, the error and the hash are final.
func (r *contentReader) settle(ctx context.Context) {
	select {
	case <-r.closed:
	case <-ctx.Done():
		r.Close()
	}
}

func (r *contentReader) complete() bool { return r.n == r.size && r.err == nil }
func (r *contentReader) sum() string    { return hex.EncodeToString(r.h.Sum(nil)) }

// multipartReader is an upload body: a precomputed head, the streamed
// content and a precomputed tail, so its length is known in advance and
// memory stays flat whatever the size.
type multipartReader struct {
	io.Reader
	content     *contentReader
	contentType string
}

func (m *multipartReader) Close() error { return m.content.Close() }

// Read fills p across the head, content and tail (io.MultiReader stops at
// each part's end): the transport writes what one Read returns in one
// system call, so a small upload's body is one TCP write instead of three.
func (m *multipartReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := m.Reader.Read(p[n:])
		n += k
		if err != nil {
			return n, err
		}
		if k == 0 {
			break // a reader with nothing now: let the caller come back
		}
	}
	return n, nil
}

// multipartBody lays out the form: access_token, account_id, folder_id,
// then upload_file. The head and tail are rendered by mime/multipart into
// buffers; only the content is streamed.
func multipartBody(s session, folder ID, name string, content *contentReader) (*multipartReader, int64) {
	var head, tail bytes.Buffer
	sw := &switchWriter{w: &head}
	mw := multipart.NewWriter(sw)
	_ = mw.WriteField("access_token", s.token)
	_ = mw.WriteField("account_id", s.accountID)
	if folder != Root {
		_ = mw.WriteField("folder_id", string(folder))
	}
	hdr := make(textproto.MIMEHeader)
	hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name="upload_file"; filename="%s"`, name))
	hdr.Set("Content-Type", "application/octet-stream")
	_, _ = mw.CreatePart(hdr)
	sw.w = &tail
	_ = mw.Close()
	length := int64(head.Len()) + content.size + int64(tail.Len())
	return &multipartReader{
		Reader:      io.MultiReader(&head, content, &tail),
		content:     content,
		contentType: mw.FormDataContentType(),
	}, length
}

// switchWriter lets the multipart head and tail go to separate buffers.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }
