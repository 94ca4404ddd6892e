package remote

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"
)

func sum(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func noneKnown(ID) bool { return false }

// received is one upload as the fake server saw it.
type received struct {
	name, folder, md5 string
	size, length      int64
	fields            []string
}

// uploadRoute reads an upload and answers with reply(n, got).
func uploadRoute(t *testing.T, mu *sync.Mutex, got *[]received, reply func(n int, r received) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fh, hdr, err := r.FormFile("upload_file")
		if err != nil {
			writeJSON(w, apiError("Did not receive uploaded file."))
			return
		}
		defer fh.Close()
		h := md5.New()
		n, _ := io.Copy(h, fh)
		rec := received{name: hdr.Filename, folder: r.FormValue("folder_id"), md5: hex.EncodeToString(h.Sum(nil)), size: n, length: r.ContentLength}
		for k := range r.MultipartForm.Value {
			rec.fields = append(rec.fields, k)
		}
		mu.Lock()
		*got = append(*got, rec)
		k := len(*got)
		mu.Unlock()
		writeJSON(w, reply(k, rec))
	}
}

func uploadReply(id, name string, size int64, hash string) any {
	return map[string]any{"response": "File uploaded", "data": []any{map[string]any{
		"name": name, "size": strconv.FormatInt(size, 10), "hash": hash, "file_id": id, "short_url": "s" + id, "error": nil}},
		"_status": "success"}
}

func TestUploadSendsExactLengthAndRenamesBack(t *testing.T) {
	var mu sync.Mutex
	var got []received
	var edits []string
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"file/upload": uploadRoute(t, &mu, &got, func(n int, r received) any {
			return uploadReply("41", strings.TrimLeft(r.name, ".")+" (2)", r.size, r.md5)
		}),
		"file/edit": func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			edits = append(edits, r.FormValue("file_id")+"="+r.FormValue("filename"))
			mu.Unlock()
			writeJSON(w, success(map[string]any{"id": r.FormValue("file_id"), "filename": r.FormValue("filename")}))
		},
		"file/info": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, success(map[string]any{"id": "41", "filename": "x", "folderId": "9", "file_status": "active"}))
		},
	})
	c, _ := newTestClient(t, f.url())
	data := []byte("some content")
	file, err := c.Upload(testCtx(t), UploadRequest{Folder: "9", Name: ".hidden", Size: int64(len(data)), Open: bytesOpener(data), KnownIDs: noneKnown})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if file.ID != "41" || file.Name != ".hidden" || file.MD5 != sum(data) || file.FolderID != "9" || file.Size != int64(len(data)) {
		t.Fatalf("Upload = %+v", file)
	}
	if len(got) != 1 || got[0].folder != "9" || got[0].md5 != sum(data) || got[0].name != ".hidden" {
		t.Fatalf("server received %+v", got)
	}
	if got[0].length <= int64(len(data)) {
		t.Fatalf("Content-Length %d not set to the multipart length", got[0].length)
	}
	if fmt.Sprint(edits) != "[41=.hidden]" {
		t.Fatalf("file/edit calls = %v, want the rename back to .hidden", edits)
	}
}

func TestUploadHashMismatchTrashesAndRepeats(t *testing.T) {
	var mu sync.Mutex
	var got []received
	var deleted []string
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"file/upload": uploadRoute(t, &mu, &got, func(n int, r received) any {
			if n == 1 {
				return uploadReply("1", r.name, r.size, sum([]byte("corrupted")))
			}
			return uploadReply("2", r.name, r.size, r.md5)
		}),
		"file/delete": func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			deleted = append(deleted, r.FormValue("file_id"))
			mu.Unlock()
			writeJSON(w, success(map[string]any{"id": r.FormValue("file_id"), "status": "trash"}))
		},
	})
	c, _ := newTestClient(t, f.url())
	data := []byte("payload")
	file, err := c.Upload(testCtx(t), UploadRequest{Name: "p.txt", Size: int64(len(data)), Open: bytesOpener(data), KnownIDs: noneKnown})
	if err != nil || file.ID != "2" {
		t.Fatalf("Upload = %+v, %v", file, err)
	}
	if fmt.Sprint(deleted) != "[1]" {
		t.Fatalf("trashed = %v, want the corrupted file 1", deleted)
	}
}

func TestUploadOverPostLimitIsNotATokenProblem(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{})
	f.routes["file/upload"] = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, apiError("Please provide the access_token param."))
	}
	c, _ := newTestClient(t, f.url())
	_, err := c.Upload(testCtx(t), UploadRequest{Name: "big", Size: 3, Open: bytesOpener([]byte("abc")), KnownIDs: noneKnown})
	if !errors.Is(err, ErrValidation) {
		t.Fatalf("err = %v, want ErrValidation", err)
	}
	if f.auths != 1 || f.count("file/upload") != 1 {
		t.Fatalf("authorizations %d, uploads %d: want 1 and 1", f.auths, f.count("file/upload"))
	}
}

// patternReader yields n pseudo-random bytes without holding them.
type patternReader struct {
	r *rand.ChaCha8
	n int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	p.r.Read(b)
	p.n -= int64(len(b))
	return len(b), nil
}

func (p *patternReader) Close() error { return nil }

// TestUploadMemoryIsFlat uploads 64 MiB and checks that the process
// allocated far less than that: the content is streamed, not buffered.
func TestUploadMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB transfer")
	}
	const size = 64 << 20
	var mu sync.Mutex
	var got []received
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"file/upload": uploadRoute(t, &mu, &got, func(n int, r received) any { return uploadReply("1", r.name, r.size, r.md5) }),
	})
	c, _ := newTestClient(t, f.url())
	ctx := testCtx(t)
	if err := c.Authorize(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Package(ctx); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	open := func() (io.ReadCloser, error) {
		return &patternReader{r: rand.NewChaCha8([32]byte{1}), n: size}, nil
	}
	if _, err := c.Upload(ctx, UploadRequest{Name: "big.bin", Size: size, Open: open, KnownIDs: noneKnown}); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	runtime.ReadMemStats(&after)
	// Client and server share the process; the server spools the part to a
	// temporary file in 32 KiB copies. Whole buffering would show >= 64 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("allocated %d MiB for a %d MiB upload", alloc>>20, size>>20)
	}
}

// downloadFake serves content at /files/x with the given behaviour.
func downloadFake(t *testing.T, serve func(w http.ResponseWriter, r *http.Request)) *fakeAPI {
	f := newFakeAPI(t, map[string]http.HandlerFunc{"files": serve})
	f.routes["file/download"] = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, success(map[string]any{"file_id": r.FormValue("file_id"),
			"download_url": f.srv.URL + "/files/x?download_token=" + strings.Repeat("c3", 32)}))
	}
	return f
}

func TestDownloadSendsNoCredentials(t *testing.T) {
	data := []byte("hello download")
	f := downloadFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "" || r.Header.Get("Authorization") != "" || r.FormValue("access_token") != "" {
			http.Error(w, "credentials sent", http.StatusTeapot)
			return
		}
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	})
	c, _ := newTestClient(t, f.url())
	var buf bytes.Buffer
	n, err := c.Download(testCtx(t), DownloadRequest{ID: "5", Size: int64(len(data)), MD5: sum(data)}, &buf)
	if err != nil || n != int64(len(data)) || buf.String() != string(data) {
		t.Fatalf("Download = %d, %v, %q", n, err, buf.String())
	}
}

func TestDownloadHTMLErrorPageIsNeverWritten(t *testing.T) {
	f := downloadFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/files/error" {
			w.Header().Set("Content-Type", "text/html; charset=UTF-8")
			_, _ = w.Write([]byte("<html><title>Error</title><body>Download token expired " + r.URL.RawQuery + "</body></html>"))
			return
		}
		http.Redirect(w, r, "/files/error?msg=expired", http.StatusFound)
	})
	c, _ := newTestClient(t, f.url(), func(cfg *Config) { cfg.MaxRetries = 2 })
	var buf bytes.Buffer
	n, err := c.Download(testCtx(t), DownloadRequest{ID: "5", Size: 14}, &buf)
	if err == nil || n != 0 || buf.Len() != 0 {
		t.Fatalf("Download = %d, %v, wrote %q", n, err, buf.String())
	}
	if !strings.Contains(err.Error(), "HTML page") || strings.Contains(err.Error(), "c3c3c3") {
		t.Fatalf("err = %v", err)
	}
	if got := f.count("file/download"); got != 3 {
		t.Fatalf("file/download calls = %d, want a fresh url per attempt (3)", got)
	}
}

func TestDownloadResume(t *testing.T) {
	data := make([]byte, 100_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	cases := []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request)
		ok    bool
	}{
		{"proper 206", func(w http.ResponseWriter, r *http.Request) {
			http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
		}, true},
		{"range ignored: 200 with the whole file", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			_, _ = w.Write(data)
		}, true},
		{"206 at the wrong offset", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data)
		}, false},
		{"206 of another size", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 5000-%d/%d", len(data), len(data)+1))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[5000:])
		}, false},
		{"wrong length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			_, _ = w.Write(data[:10])
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := downloadFake(t, tc.serve)
			c, _ := newTestClient(t, f.url(), func(cfg *Config) { cfg.MaxRetries = 1 })
			var buf bytes.Buffer
			n, err := c.Download(testCtx(t), DownloadRequest{ID: "5", Offset: 5000, Size: int64(len(data)), MD5: sum(data),
				Partial: bytes.NewReader(data[:5000])}, &buf)
			if !tc.ok {
				if err == nil || n != 0 || buf.Len() != 0 {
					t.Fatalf("Download = %d, %v; wrote %d bytes, want an error and nothing written", n, err, buf.Len())
				}
				return
			}
			if err != nil || n != int64(len(data)-5000) || !bytes.Equal(buf.Bytes(), data[5000:]) {
				t.Fatalf("Download = %d, %v, content ok %v", n, err, bytes.Equal(buf.Bytes(), data[5000:]))
			}
		})
	}
}

func TestDownloadOfWhatTheCallerHasIsOnlyChecked(t *testing.T) {
	f := downloadFake(t, func(w http.ResponseWriter, r *http.Request) { t.Error("download host asked") })
	c, _ := newTestClient(t, f.url())
	data := []byte("complete")
	n, err := c.Download(testCtx(t), DownloadRequest{ID: "5", Offset: 8, Size: 8, MD5: sum(data), Partial: bytes.NewReader(data)}, io.Discard)
	if n != 0 || err != nil {
		t.Fatalf("Download = %d, %v", n, err)
	}
	_, err = c.Download(testCtx(t), DownloadRequest{ID: "5", Offset: 8, Size: 8, MD5: sum([]byte("other")), Partial: bytes.NewReader(data)}, io.Discard)
	if !errors.Is(err, errChecksum) {
		t.Fatalf("wrong MD5 of a complete partial: %v", err)
	}
}

// TestDownloadCutIsResumedWithRange: the body breaks off half-way; the
// client asks for the rest from where it stopped and checks the MD5 of all.
func TestDownloadCutIsResumedWithRange(t *testing.T) {
	data := make([]byte, 200_000)
	for i := range data {
		data[i] = byte(i * 13)
	}
	var ranges []string
	var mu sync.Mutex
	var cut atomic.Bool
	f := downloadFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		if !cut.Swap(true) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			_, _ = w.Write(data[:70_000])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	})
	c, _ := newTestClient(t, f.url())
	var buf bytes.Buffer
	n, err := c.Download(testCtx(t), DownloadRequest{ID: "5", Size: int64(len(data)), MD5: sum(data)}, &buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Download = %d, %v", n, err)
	}
	if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") || ranges[1] == "bytes=0-" {
		t.Fatalf("ranges asked = %q", ranges)
	}
}

func TestDownloadDayQuotaUsesClock(t *testing.T) {
	data := []byte("q")
	f := downloadFake(t, func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	})
	f.routes["account/package"] = packageHandler(map[string]any{"downloads_per_24_hours": 1})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	c, _ := newTestClient(t, f.url(), func(cfg *Config) {
		cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	ctx := testCtx(t)
	if _, err := c.Download(ctx, DownloadRequest{ID: "5", Size: 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	_, err := c.Download(ctx, DownloadRequest{ID: "5", Size: 1}, io.Discard)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Kind != ErrRateLimited || ae.RetryAfter != 24*time.Hour {
		t.Fatalf("second download err = %v (%+v), want ErrRateLimited with 24h", err, ae)
	}
	mu.Lock()
	now = now.Add(24*time.Hour + time.Second)
	mu.Unlock()
	if _, err := c.Download(ctx, DownloadRequest{ID: "5", Size: 1}, io.Discard); err != nil {
		t.Fatalf("download a day later: %v", err)
	}
	if got := f.count("files"); got != 2 {
		t.Fatalf("download host hits = %d, want 2", got)
	}
}

func TestDownloadQuotaWaitBetween(t *testing.T) {
	q := &downloadQuota{}
	lim := Limits{WaitBetweenDownloads: 30 * time.Second, DownloadsPer24Hours: 3}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if w, err := q.reserve(t0, lim); w != 0 || err != nil {
		t.Fatalf("first: %v %v", w, err)
	}
	if w, err := q.reserve(t0.Add(10*time.Second), lim); w != 20*time.Second || err != nil {
		t.Fatalf("10s later: wait %v %v, want 20s", w, err)
	}
	for i, at := range []time.Duration{30 * time.Second, time.Minute} {
		if w, err := q.reserve(t0.Add(at), lim); w != 0 || err != nil {
			t.Fatalf("reserve %d: %v %v", i, w, err)
		}
	}
	if _, err := q.reserve(t0.Add(2*time.Minute), lim); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("fourth in a day: %v", err)
	}
	if w, err := q.reserve(t0.Add(24*time.Hour+time.Second), lim); w != 0 || err != nil {
		t.Fatalf("the next day: %v %v", w, err)
	}
}

func TestGateLimitsAndResizes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		g.setLimit(2)
		var inside, peak atomic.Int32
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if err := g.acquire(t.Context()); err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				<-release
				inside.Add(-1)
				g.release()
			})
		}
		synctest.Wait()
		if inside.Load() != 2 {
			t.Fatalf("inside = %d with limit 2", inside.Load())
		}
		g.setLimit(4)
		synctest.Wait()
		if inside.Load() != 4 {
			t.Fatalf("inside = %d after raising the limit to 4", inside.Load())
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- g.acquire(ctx) }()
		synctest.Wait()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("acquire after cancel = %v", err)
		}
		close(release)
		wg.Wait()
		if peak.Load() != 4 {
			t.Fatalf("peak = %d, want 4", peak.Load())
		}
	})
}

func TestPacerHoldsAfterRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(0)
		if !math.IsInf(p.rate(), 1) {
			t.Fatalf("unconfigured pace %v, want unpaced", p.rate())
		}
		for range 40 {
			if err := p.wait(t.Context(), "x"); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if d := p.throttled(3 * time.Second); d != 3*time.Second {
			t.Fatalf("throttled returned %v", d)
		}
		if p.rate() != 20 {
			t.Fatalf("pace %v after a 429 at 40 requests in the last second, want half of that", p.rate())
		}
		p.throttled(0) // an answer to a request sent before the first 429
		if p.rate() != 20 {
			t.Fatalf("pace %v, want a second 429 at once to leave it", p.rate())
		}
		if err := p.wait(t.Context(), "x"); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited < 3*time.Second {
			t.Fatalf("request went out %v after a 3s Retry-After", waited)
		}
		p.success()
		if r := p.rate(); r < 40*safeShare || r > 40*safeShare*1.02 {
			t.Fatalf("pace %v three seconds after the 429, want back at about %v", r, 40*safeShare)
		}
		time.Sleep(forgetAfter)
		p.success()
		if !math.IsInf(p.rate(), 1) {
			t.Fatalf("pace %v long after the last 429, want unpaced again", p.rate())
		}
	})
}

// TestPacerSettlesUnderAServersLimit runs callers against a server that
// allows 50 requests per second (a token bucket, as the emulator's
// -rate-limit and a CDN do): the pacer must find the limit by itself and
// keep close under it, with few 429s.
func TestPacerSettlesUnderAServersLimit(t *testing.T) {
	for _, limit := range []float64{20, 50, 400} { // below 10/s the first-429 floor costs more than 2% refused
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := rate.NewLimiter(rate.Limit(limit), int(limit))
				p := newPacer(0)
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Second)
				defer cancel()
				measureFrom := time.Now().Add(20 * time.Second)
				var ok, refused atomic.Int64
				var wg sync.WaitGroup
				for range 16 {
					wg.Go(func() {
						for p.wait(ctx, "x") == nil {
							time.Sleep(time.Millisecond) // the round trip
							counted := time.Now().After(measureFrom)
							if srv.Allow() {
								p.success()
								if counted {
									ok.Add(1)
								}
								continue
							}
							if counted {
								refused.Add(1)
							}
							sleep(ctx, p.throttled(time.Second))
						}
					})
				}
				wg.Wait()
				got := float64(ok.Load()) / 180
				share := float64(refused.Load()) / float64(ok.Load()+refused.Load())
				t.Logf("limit %v/s: %.1f requests/s answered, %.2f%% refused", limit, got, 100*share)
				if got < 0.9*limit || share > 0.02 {
					t.Fatalf("limit %v/s: %.1f requests/s answered (want >= %.1f), %.2f%% refused (want <= 2%%)", limit, got, 0.9*limit, 100*share)
				}
			})
		})
	}
}

// A first 429 while the client sends little does not set a crawl: one
// stray refusal of an idle poll would otherwise hold the next burst of
// work to a request every few seconds for minutes. A second one soon
// after is believed.
func TestPacerDoesNotCrawlAfterAStray429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(0)
		if err := p.wait(t.Context(), "x"); err != nil {
			t.Fatal(err)
		}
		p.throttled(0)
		if r := p.rate(); r != firstCeiling/2 {
			t.Fatalf("pace %v after one 429 of one request, want %v", r, firstCeiling/2.0)
		}
		time.Sleep(2 * throttleSettle)
		p.throttled(0) // nothing sent since: the server really is that strict
		if r := p.rate(); r >= firstCeiling/2 {
			t.Fatalf("pace %v after a second 429, want it lowered", r)
		}
	})
}

func TestPacerKeepsTheOperatorsCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(10)
		start := time.Now()
		for range 101 {
			if err := p.wait(t.Context(), "x"); err != nil {
				t.Fatal(err)
			}
			p.success()
		}
		if el := time.Since(start); el < 9*time.Second {
			t.Fatalf("101 requests in %v under a cap of 10/s", el)
		}
	})
}

// TestStalledDownloadIsAbandonedAndResumed: the server sends part of the
// file, then nothing while keeping the connection open; the client gives
// up on that connection after StallTimeout and resumes with Range.
func TestStalledDownloadIsAbandonedAndResumed(t *testing.T) {
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(i * 31)
	}
	var first atomic.Bool
	f := downloadFake(t, func(w http.ResponseWriter, r *http.Request) {
		if !first.Swap(true) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			_, _ = w.Write(data[:100_000])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // silent, connection open
			return
		}
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	})
	c, _ := newTestClient(t, f.url(), func(cfg *Config) { cfg.StallTimeout = 200 * time.Millisecond })
	var buf bytes.Buffer
	n, err := c.Download(testCtx(t), DownloadRequest{ID: "5", Size: int64(len(data)), MD5: sum(data)}, &buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Download = %d, %v", n, err)
	}
}

// TestUploadReplyTimeoutIsResolvedByListing: the server takes the body
// and never answers; the client lists the folder (nothing new there) and
// only then uploads again. When the listing fails too, it does not upload
// again at all.
func TestUploadReplyTimeoutIsResolvedByListing(t *testing.T) {
	var first atomic.Bool
	var mu sync.Mutex
	var got []received
	normal := uploadRoute(t, &mu, &got, func(n int, r received) any { return uploadReply("9", r.name, r.size, r.md5) })
	var listingFails atomic.Bool
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"folder/listing": func(w http.ResponseWriter, r *http.Request) {
			if listingFails.Load() {
				http.Error(w, "no", http.StatusNotFound)
				return
			}
			writeJSON(w, success(map[string]any{"folders": []any{}, "files": []any{}}))
		},
	})
	f.routes["file/upload"] = func(w http.ResponseWriter, r *http.Request) {
		if !first.Swap(true) {
			<-r.Context().Done() // never answers
			return
		}
		normal(w, r)
	}
	// The stall guard is paused once the body is sent; a missing reply is
	// bounded by the transport's ResponseHeaderTimeout, set short here.
	tr := defaultTransport()
	tr.ResponseHeaderTimeout = 300 * time.Millisecond
	c, _ := newTestClient(t, f.url(), func(cfg *Config) {
		cfg.HTTPClient = &http.Client{Transport: tr}
		cfg.StallTimeout = 200 * time.Millisecond
	})
	data := bytes.Repeat([]byte("z"), 5000)
	file, err := c.Upload(testCtx(t), UploadRequest{Name: "s.bin", Size: int64(len(data)), Open: bytesOpener(data), KnownIDs: noneKnown})
	if err != nil || file.ID != "9" {
		t.Fatalf("Upload = %+v, %v", file, err)
	}
	if f.count("folder/listing") != 1 || f.count("file/upload") != 2 {
		t.Fatalf("listings %d, uploads %d: want the lost reply resolved by one listing, then one more upload",
			f.count("folder/listing"), f.count("file/upload"))
	}

	first.Store(false)
	listingFails.Store(true)
	_, err = c.Upload(testCtx(t), UploadRequest{Name: "t.bin", Size: int64(len(data)), Open: bytesOpener(data), KnownIDs: noneKnown})
	if !errors.Is(err, ErrTransient) {
		t.Fatalf("Upload with lost reply and failed listing err = %v, want ErrTransient", err)
	}
	if f.count("file/upload") != 3 {
		t.Fatalf("uploads = %d, want 3: no repeat while the outcome is unknown", f.count("file/upload"))
	}
}
