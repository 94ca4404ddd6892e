package remote

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// DownloadRequest describes one download.
type DownloadRequest struct {
	ID ID
	// Offset is the number of bytes the caller already has; the download
	// resumes after them (only Offset > 0 sends a Range, api.md 19).
	Offset int64
	// Size is the expected total size, -1 when unknown.
	Size int64
	// MD5 is the expected lower-case hex MD5 of the whole content, ""
	// when unknown.
	MD5 string
	// Progress, when set, receives the position reached in the file
	// (Offset plus the bytes written so far).
	Progress func(int64)
	// Partial, optional, reads the Offset bytes the caller already has, so
	// that MD5 can be checked on a resumed download. Without it MD5 is
	// checked only when the server sends the whole file.
	Partial io.ReaderAt
}

// errChecksum marks a download whose MD5 or size differs from the expected.
var errChecksum = errors.New("content check failed")

// markedError is a classified APIError that also carries a marker for
// decisions inside the package (errChecksum, errNotSent, errBadPage).
type markedError struct {
	*APIError
	mark error
}

func (e markedError) Unwrap() []error { return []error{e.APIError, e.mark} }

// errBadPage marks a download URL that answered an HTML page: the
// download token probably expired, so a fresh URL is asked for.
var errBadPage = errors.New("download url answered a page")

const downloadBuffer = 256 << 10

// Download writes the file's content from req.Offset on to w and returns
// the bytes written. The download URL is fetched without credentials or
// cookies; an HTML page is never written to w; an interrupted transfer is
// resumed with Range where the server honours it; the final size and MD5
// are checked when known. On error, w may hold a partial, correct prefix
// of the remaining content (the returned count says how much); on a
// checksum error the caller must discard what was written.
//
// The package's concurrent_downloads, wait_between_downloads,
// downloads_per_24_hours and max_download_filesize_allowed are enforced.
func (c *Client) Download(ctx context.Context, req DownloadRequest, w io.Writer) (int64, error) {
	endpoint := "file/download " + string(req.ID)
	fail := func(msg string, kind error) (int64, error) {
		return 0, &APIError{Endpoint: endpoint, Message: msg, Kind: kind}
	}
	switch {
	case req.ID == Root:
		return fail("empty file id", ErrValidation)
	case req.Offset < 0, req.Size >= 0 && req.Offset > req.Size:
		return fail(fmt.Sprintf("offset %d outside size %d", req.Offset, req.Size), ErrValidation)
	}
	if req.Offset > 0 && req.Offset == req.Size {
		// The caller has everything: nothing to fetch, only to check.
		d := &downloader{c: c, req: req, endpoint: endpoint, pos: req.Offset}
		if err := d.prepareHash(); err != nil {
			return 0, err
		}
		return 0, d.verify()
	}
	lim, err := c.ensureLimits(ctx)
	if err != nil {
		return 0, fmt.Errorf("download %s: read package limits: %w", req.ID, err)
	}
	if lim.MaxDownloadFileSize > 0 && req.Size > lim.MaxDownloadFileSize {
		return fail(fmt.Sprintf("size %d exceeds the package's max_download_filesize_allowed %d", req.Size, lim.MaxDownloadFileSize), ErrValidation)
	}
	if err := c.downloads.acquire(ctx); err != nil {
		return 0, fmt.Errorf("download %s: %w", req.ID, err)
	}
	defer c.downloads.release()
	if err := c.reserveDownload(ctx, lim); err != nil {
		return 0, fmt.Errorf("download %s: %w", req.ID, err)
	}

	d := &downloader{c: c, req: req, w: w, lim: lim, endpoint: endpoint, pos: req.Offset, buf: make([]byte, downloadBuffer)}
	if err := d.prepareHash(); err != nil {
		return 0, err
	}
	var link string
	for n := 0; ; n++ {
		if link == "" {
			if link, err = c.downloadURL(ctx, req.ID); err != nil {
				return d.written, err
			}
		}
		err = d.fetch(ctx, link)
		if err == nil {
			break
		}
		if errors.Is(err, errBadPage) {
			link = ""
		}
		if ctx.Err() != nil || !errors.Is(err, ErrTransient) || n >= c.maxRetries {
			return d.written, fmt.Errorf("download %s: %w", req.ID, err)
		}
		wait := c.backoff(n)
		c.log.Warn("download interrupted; resuming", zap.String("id", string(req.ID)), zap.Int64("at", d.pos), zap.Duration("wait", wait), zap.Error(err))
		if serr := sleep(ctx, wait); serr != nil {
			return d.written, fmt.Errorf("download %s: %w (last failure: %v)", req.ID, serr, err)
		}
	}
	return d.written, d.verify()
}

// reserveDownload waits for the package's download gap and takes a slot of
// the day's quota.
func (c *Client) reserveDownload(ctx context.Context, lim Limits) error {
	for {
		wait, err := c.quota.reserve(c.now(), lim)
		if err != nil || wait <= 0 {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (c *Client) downloadURL(ctx context.Context, id ID) (string, error) {
	env, err := c.call(ctx, "file/download", url.Values{"file_id": {string(id)}}, true)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", id, err)
	}
	link, err := decodeDownloadURL(env)
	if err != nil {
		return "", badReply("file/download", id, err)
	}
	u, err := url.Parse(link)
	if err == nil && !u.IsAbs() {
		// Not seen, but harmless to accept: a path on the API's host.
		u = c.base.ResolveReference(u)
		link = u.String()
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", &APIError{Endpoint: "file/download " + string(id), Message: "download_url is not an http(s) url", HTTPStatus: 200, Kind: ErrTransient}
	}
	if u.Scheme == "http" && c.base.Scheme == "https" {
		c.log.Warn("download url is plain http although the api is https", zap.String("host", u.Host))
	}
	return link, nil
}

// downloader is the state of one Download across resumed attempts.
type downloader struct {
	c        *Client
	req      DownloadRequest
	w        io.Writer
	lim      Limits
	endpoint string
	buf      []byte

	pos     int64 // absolute position reached
	written int64 // bytes written to w by this call
	total   int64 // total size once known, else -1 (set from req.Size)
	h       hash.Hash
	hashOK  bool // h covers every byte from 0 to pos
}

func (d *downloader) prepareHash() error {
	d.total = d.req.Size
	if d.req.MD5 == "" {
		return nil // nothing to check: no hashing cost
	}
	d.h = md5.New()
	d.hashOK = d.req.Offset == 0
	if d.req.Offset > 0 && d.req.Partial != nil {
		if _, err := io.Copy(d.h, io.NewSectionReader(d.req.Partial, 0, d.req.Offset)); err != nil {
			return fmt.Errorf("download %s: read the partial content: %w", d.req.ID, err)
		}
		d.hashOK = true
	}
	return nil
}

func (d *downloader) fail(status int, msg string, kind error) error {
	return &APIError{Endpoint: d.endpoint, Message: msg, HTTPStatus: status, Kind: kind}
}

// fetch performs one GET of the download URL from d.pos on.
func (d *downloader) fetch(ctx context.Context, link string) error {
	rctx, guard := newStallGuard(ctx, d.c.stall)
	defer guard.stop()
	err := d.fetchWith(ctx, rctx, guard, link)
	if err != nil && ctx.Err() == nil && guard.stalled() {
		return guard.stallError(d.endpoint)
	}
	return err
}

// fetchWith is fetch with the request bound to rctx, which the stall guard
// cancels; ctx is the caller's, whose end is final.
func (d *downloader) fetchWith(ctx, rctx context.Context, guard *stallGuard, link string) error {
	hr, err := http.NewRequestWithContext(rctx, http.MethodGet, link, nil)
	if err != nil {
		return d.fail(0, "bad download url", ErrTransient)
	}
	from := d.pos
	if from > 0 {
		hr.Header.Set("Range", "bytes="+strconv.FormatInt(from, 10)+"-")
	}
	resp, err := d.c.files.Do(hr)
	if err != nil {
		return transportError(ctx, d.endpoint, err)
	}
	defer resp.Body.Close()
	redirected := resp.Request != nil && resp.Request.URL.String() != link
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))

	var skip int64 // bytes of the body the caller already has
	var want int64 = -1
	switch resp.StatusCode {
	case http.StatusOK:
		if from > 0 {
			// The range was ignored: the whole file follows. Skip what
			// the caller has; hashing it makes the MD5 check complete.
			skip = from
			if d.h != nil {
				d.h.Reset()
				d.hashOK = true
			}
		}
		if resp.ContentLength >= 0 {
			if d.total >= 0 && resp.ContentLength != d.total {
				return d.badLength(resp, ctype, redirected)
			}
			d.total = resp.ContentLength
		}
		if d.total >= 0 {
			want = d.total - from
		}
	case http.StatusPartialContent:
		start, end, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || from == 0 || start != from || (size >= 0 && end != size-1) || (d.total >= 0 && size >= 0 && size != d.total) {
			return d.fail(resp.StatusCode, fmt.Sprintf("range reply %q does not continue at byte %d of %d", resp.Header.Get("Content-Range"), from, d.total), ErrTransient)
		}
		if size >= 0 {
			d.total = size
		}
		want = end - start + 1
		if resp.ContentLength >= 0 && resp.ContentLength != want {
			return d.badLength(resp, ctype, redirected)
		}
	default:
		msg := http.StatusText(resp.StatusCode)
		if ctype == "text/html" {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			msg = summarize(body)
		}
		return d.fail(resp.StatusCode, d.c.redactor().clean(msg), classifyHTTP(resp.StatusCode))
	}
	if ctype == "text/html" && (redirected || d.req.Size < 0 || resp.ContentLength < 0) {
		// A bad or expired token redirects to an HTML page (api.md 18).
		return d.pageError(resp)
	}
	if d.lim.MaxDownloadFileSize > 0 && d.total > d.lim.MaxDownloadFileSize {
		return d.fail(resp.StatusCode, fmt.Sprintf("size %d exceeds the package's max_download_filesize_allowed %d", d.total, d.lim.MaxDownloadFileSize), ErrValidation)
	}
	if skip > 0 {
		var sink io.Writer = io.Discard
		if d.h != nil {
			sink = d.h
		}
		if n, err := io.CopyBuffer(sink, io.LimitReader(resp.Body, skip), d.buf); err != nil || n < skip {
			return d.fail(resp.StatusCode, fmt.Sprintf("body ended after %d of the %d bytes to skip: %v", n, skip, err), ErrTransient)
		}
	}
	return d.copyBody(ctx, guard, resp, want)
}

func (d *downloader) badLength(resp *http.Response, ctype string, redirected bool) error {
	if ctype == "text/html" || redirected {
		return d.pageError(resp)
	}
	return d.fail(resp.StatusCode, fmt.Sprintf("reply length %d does not match the expected size %d (from byte %d)", resp.ContentLength, d.total, d.pos), ErrTransient)
}

func (d *downloader) pageError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	ae := d.fail(resp.StatusCode, "download url answered an HTML page instead of the file: "+d.c.redactor().clean(summarize(body)), ErrTransient).(*APIError)
	return markedError{ae, errBadPage}
}

// copyBody streams the body to w, at most want bytes when want >= 0. When
// an MD5 is to be checked, hashing runs in a second goroutine on buffers
// handed over in order, so that it overlaps with the network and w.
func (d *downloader) copyBody(ctx context.Context, guard *stallGuard, resp *http.Response, want int64) error {
	var src io.Reader = resp.Body
	if want >= 0 {
		src = io.LimitReader(resp.Body, want)
	}
	var hp *hashPipe
	if d.h != nil {
		hp = newHashPipe(d.h, downloadBuffer)
		defer hp.drain()
	}
	start := d.pos
	for {
		buf := d.buf
		if hp != nil {
			buf = hp.buffer()
		}
		n, rerr := src.Read(buf)
		if n > 0 {
			guard.progress()
			if _, err := d.w.Write(buf[:n]); err != nil {
				if hp != nil {
					hp.recycle(buf)
				}
				return fmt.Errorf("download %s: write: %w", d.req.ID, err)
			}
			if hp != nil {
				hp.hash(buf[:n])
			}
			d.pos += int64(n)
			d.written += int64(n)
			if d.req.Progress != nil {
				d.req.Progress(d.pos)
			}
		} else if hp != nil {
			hp.recycle(buf)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return d.fail(resp.StatusCode, fmt.Sprintf("body cut after %d bytes: %v", d.pos-start, rerr), ErrTransient)
		}
	}
	if want >= 0 && d.pos-start < want {
		return d.fail(resp.StatusCode, fmt.Sprintf("body ended after %d of %d bytes", d.pos-start, want), ErrTransient)
	}
	if d.total < 0 {
		d.total = d.pos
	}
	return nil
}

// hashPipe feeds a hash from a goroutine. Buffers circulate between the
// reader (buffer, hash) and the hashing goroutine (which recycles them), so
// memory is bounded by the pool and order is kept by the single channel.
type hashPipe struct {
	h    hash.Hash
	work chan []byte
	free chan []byte
	done chan struct{}
}

const hashPipeBuffers = 4

func newHashPipe(h hash.Hash, bufSize int) *hashPipe {
	p := &hashPipe{h: h, work: make(chan []byte, hashPipeBuffers), free: make(chan []byte, hashPipeBuffers), done: make(chan struct{})}
	for range hashPipeBuffers {
		p.free <- make([]byte, bufSize)
	}
	go func() {
		defer close(p.done)
		for b := range p.work {
			p.h.Write(b)
			p.free <- b[:cap(b)]
		}
	}()
	return p
}

func (p *hashPipe) buffer() []byte   { return <-p.free }
func (p *hashPipe) recycle(b []byte) { p.free <- b[:cap(b)] }
func (p *hashPipe) hash(b []byte)    { p.work <- b }
func (p *hashPipe) drain()           { close(p.work); <-p.done }

// verify checks the final size and MD5.
func (d *downloader) verify() error {
	if d.req.Size >= 0 && d.pos != d.req.Size {
		return markedError{d.fail(0, fmt.Sprintf("got %d bytes, expected %d", d.pos, d.req.Size), ErrTransient).(*APIError), errChecksum}
	}
	if d.req.MD5 != "" && d.hashOK {
		if got := hex.EncodeToString(d.h.Sum(nil)); !strings.EqualFold(got, d.req.MD5) {
			return markedError{d.fail(0, fmt.Sprintf("content MD5 %s, expected %s", got, d.req.MD5), ErrTransient).(*APIError), errChecksum}
		}
	}
	return nil
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be "*", -1).
func parseContentRange(s string) (start, end, size int64, ok bool) {
	s = strings.TrimSpace(s)
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	end, err2 = strconv.ParseInt(strings.TrimSpace(b), 10, 64)
	size = -1
	if t := strings.TrimSpace(total); t != "*" {
		size, err3 = strconv.ParseInt(t, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || (size >= 0 && end >= size) {
		return 0, 0, 0, false
	}
	return start, end, size, true
}
