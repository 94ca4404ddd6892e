package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewChecksURLAndKeys(t *testing.T) {
	cases := []struct {
		name    string
		url     string
		key1    string
		wantErr bool
		kind    error
	}{
		{"https anywhere", "https://files.example.com/api/v2/", testKey1, false, nil},
		{"http loopback v4", "http://127.0.0.1:8080/api/v2/", testKey1, false, nil},
		{"http loopback v6", "http://[::1]:8080/api/v2", testKey1, false, nil},
		{"http localhost", "http://localhost/api/v2/", testKey1, false, nil},
		{"http remote host", "http://files.example.com/api/v2/", testKey1, true, nil},
		{"http private address", "http://192.168.1.5/api/v2/", testKey1, true, nil},
		{"ftp", "ftp://127.0.0.1/", testKey1, true, nil},
		{"no host", "https:///api/v2/", testKey1, true, nil},
		{"short key", "https://files.example.com/api/v2/", "abc", true, ErrBadKeys},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{URL: tc.url, Key1: tc.key1, Key2: testKey2})
			if (err != nil) != tc.wantErr {
				t.Fatalf("New(%q) err = %v, want error %v", tc.url, err, tc.wantErr)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if err != nil && strings.Contains(err.Error(), tc.key1) && len(tc.key1) > 8 {
				t.Fatalf("error leaks a key: %v", err)
			}
		})
	}
}

func TestBadKeysAreNeverRetried(t *testing.T) {
	f := newFakeAPI(t, nil)
	c, _ := newTestClient(t, f.url(), func(cfg *Config) { cfg.Key1 = strings.Repeat("x", 64) })
	ctx := testCtx(t)
	for range 3 {
		_, err := c.List(ctx, Root)
		if !errors.Is(err, ErrBadKeys) {
			t.Fatalf("List err = %v, want ErrBadKeys", err)
		}
		var ae *APIError
		if !errors.As(err, &ae) || !strings.Contains(ae.Message, "Could not authenticate user") {
			t.Fatalf("error does not carry the server's message: %v", err)
		}
	}
	if err := c.Authorize(ctx); !errors.Is(err, ErrBadKeys) {
		t.Fatalf("Authorize err = %v", err)
	}
	if f.auths != 1 {
		t.Fatalf("authorize requests = %d, want exactly 1 (bad keys must never be retried)", f.auths)
	}
}

func TestNoAPIAccessIsPermanent(t *testing.T) {
	f := newFakeAPI(t, nil)
	f.authReply = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"status": "error", "response": "Your account level does not have access to the file upload API. Please contact site support for more information."})
	}
	c, _ := newTestClient(t, f.url())
	for range 2 {
		if err := c.Authorize(testCtx(t)); !errors.Is(err, ErrNoAPIAccess) {
			t.Fatalf("Authorize err = %v, want ErrNoAPIAccess", err)
		}
	}
	if f.auths != 1 {
		t.Fatalf("authorize requests = %d, want 1", f.auths)
	}
}

func TestInvalidatedTokenCausesOneReauthorize(t *testing.T) {
	var listings atomic.Int32
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"folder/listing": func(w http.ResponseWriter, r *http.Request) {
			listings.Add(1)
			writeJSON(w, success(map[string]any{"folders": []any{}, "files": []any{}}))
		},
	})
	c, _ := newTestClient(t, f.url())
	ctx := testCtx(t)
	if err := c.Authorize(ctx); err != nil {
		t.Fatal(err)
	}
	f.rotate() // another process authorized with the same keys
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.List(ctx, Root)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("List after invalidation: %v", err)
		}
	}
	if f.auths != 2 {
		t.Fatalf("authorize requests = %d, want 2 (the first and ONE re-authorize for %d requests)", f.auths, n)
	}
	if listings.Load() != n {
		t.Fatalf("listings served = %d, want %d", listings.Load(), n)
	}
}

func TestTokenInvalidTwiceIsReported(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"account/info": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, apiError("Could not validate access_token, please reauthenticate or try again."))
		},
	})
	c, _ := newTestClient(t, f.url())
	_, err := c.AccountInfo(testCtx(t))
	if !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrTokenInvalid", err)
	}
	if f.auths != 2 {
		t.Fatalf("authorize requests = %d, want 2 (re-authorize once only)", f.auths)
	}
}

func TestMessagesAreClassified(t *testing.T) {
	cases := []struct {
		endpoint, msg string
		want          error
	}{
		{"authorize", "Please provide key1. It must be 64 characters in length.", ErrBadKeys},
		{"authorize", "Could not authenticate user. The key pair may be invalid or your account may be locked from too many failed logins.", ErrBadKeys},
		{"authorize", "Your account level does not have access to the file upload API. Please contact site support for more information.", ErrNoAPIAccess},
		{"file/info", "Could not validate access_token and account_id, please reauthenticate or try again.", ErrTokenInvalid},
		{"account/info", "Could not validate access_token, please reauthenticate or try again.", ErrTokenInvalid},
		{"file/info", "Could not find file based on file_id.", ErrNotFound},
		{"folder/info", "Could not find folder based on folder_id.", ErrNotFound},
		{"folder/delete", "Failed deleting the folder.", ErrNotFound},
		{"folder/move", "Failed moving the folder.", ErrValidation},
		{"file/move", "Could not find the destination folder id defined by new_parent_folder_id.", ErrValidation},
		{"file/copy", "Could not find the destination folder id defined by copy_to_folder_id.", ErrValidation},
		{"file/upload", "Please provide the access_token param.", ErrValidation},
		{"file/upload", "Did not receive uploaded file.", ErrValidation},
		{"file/upload", "Filesize received was zero.", ErrValidation},
		{"file/upload", "Error on: https://x/api_upload_handler. maxFileSize", ErrValidation},
		{"file/upload", "Error uploading file. No response received from: https://x", ErrTransient},
		{"file/upload", "Error on: https://x/api_upload_handler. Maximum concurrent uploads reached, please wait for one to finish.", ErrRateLimited},
		{"file/download", "Could not generate download url.", ErrTransient},
		{"folder/create", "Please provide the folder_name param.", ErrValidation},
		{"file/move", "Please provide the new_parent_folder_id param.", ErrValidation},
	}
	for _, tc := range cases {
		if got := classifyMessage(tc.endpoint, tc.msg); got != tc.want {
			t.Errorf("classify(%s, %q) = %v, want %v", tc.endpoint, tc.msg, got, tc.want)
		}
	}
}

func TestRateLimitHonoursRetryAfterAndSlowsDown(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"account/info": func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			times = append(times, time.Now())
			first := len(times) == 1
			mu.Unlock()
			if first {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte("<html><head><title>429 Too Many Requests</title></head><body>slow down</body></html>"))
				return
			}
			writeJSON(w, success(map[string]any{"id": 158642, "username": "admin"}))
		},
	})
	c, _ := newTestClient(t, f.url())
	info, err := c.AccountInfo(testCtx(t))
	if err != nil {
		t.Fatalf("AccountInfo: %v", err)
	}
	if info.ID != "158642" || info.Username != "admin" {
		t.Fatalf("info = %+v", info)
	}
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Fatalf("retried after %v, Retry-After said 1s", gap)
	}
	if r := c.lim.rate(); r >= 1000 {
		t.Fatalf("rate after a 429 = %v, want slowed below 1000", r)
	}
}

func TestProxyPagesAreClassified(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"403 from a CDN", 403, "<html><title>Access denied</title></html>", ErrRateLimited},
		{"502 bad gateway", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>", ErrTransient},
		{"200 with HTML", 200, "<!DOCTYPE html><html><title>Maintenance</title></html>", ErrTransient},
		{"404 wrong path", 404, "<html>not here</html>", ErrValidation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]http.HandlerFunc{
				"file/info": func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(tc.body))
				},
			})
			c, _ := newTestClient(t, f.url(), func(cfg *Config) { cfg.MaxRetries = 2 })
			_, err := c.FileInfo(testCtx(t), "12")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.HTTPStatus != tc.status || strings.Contains(ae.Message, "<") {
				t.Fatalf("APIError = %+v", ae)
			}
			wantCalls := 1
			if tc.want == ErrTransient || tc.want == ErrRateLimited {
				wantCalls = 3
			}
			if got := f.count("file/info"); got != wantCalls {
				t.Fatalf("file/info requests = %d, want %d", got, wantCalls)
			}
		})
	}
}

func TestTransientRetriedOnlyWhenIdempotent(t *testing.T) {
	var fail atomic.Int32
	fail.Store(2)
	handler := func(w http.ResponseWriter, r *http.Request) {
		if fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, success(map[string]any{"id": "7", "parentId": nil, "folderName": "x"}))
	}
	f := newFakeAPI(t, map[string]http.HandlerFunc{"folder/info": handler, "folder/create": handler})
	c, _ := newTestClient(t, f.url())
	ctx := testCtx(t)
	folder, err := c.FolderInfo(ctx, "7")
	if err != nil || folder.ID != "7" || folder.ParentID != Root {
		t.Fatalf("FolderInfo = %+v, %v", folder, err)
	}
	if got := f.count("folder/info"); got != 3 {
		t.Fatalf("folder/info requests = %d, want 3", got)
	}
	// The fake applies nothing and lists nothing: the client must list
	// before it creates again.
	f.routes["folder/listing"] = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, success(map[string]any{"folders": []any{}, "files": []any{}}))
	}
	fail.Store(1)
	if _, err := c.CreateFolder(ctx, Root, "x"); err != nil {
		t.Fatalf("CreateFolder: %v", err)
	}
	if got, lists := f.count("folder/create"), f.count("folder/listing"); got != 2 || lists != 1 {
		t.Fatalf("folder/create requests = %d, listings = %d; want 2 and 1 (list before creating again)", got, lists)
	}
}

func TestRetriesStopWhenContextEnds(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"file/info": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) },
	})
	c, _ := newTestClient(t, f.url(), func(cfg *Config) {
		cfg.MaxRetries = 1000
		cfg.RetryBaseDelay = 20 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.FileInfo(ctx, "1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("retries went on after the context ended")
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	f := newFakeAPI(t, nil)
	u := f.url()
	f.srv.Close()
	c, _ := newTestClient(t, u, func(cfg *Config) { cfg.MaxRetries = 1 })
	err := c.Authorize(testCtx(t))
	if !errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v, want ErrTransient", err)
	}
	// Connection failures are not bad keys: the client may try again.
	if err := c.Authorize(testCtx(t)); !errors.Is(err, ErrTransient) {
		t.Fatalf("second Authorize err = %v", err)
	}
}

func TestCloseDisablesToken(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"disable_access_token": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"response": "Token removed or no longer available.", "_status": "success"})
		},
	})
	c, _ := newTestClient(t, f.url())
	ctx := testCtx(t)
	if err := c.Authorize(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if f.count("disable_access_token") != 1 {
		t.Fatalf("disable_access_token not called")
	}
	if err := c.Close(ctx); err != nil || f.count("disable_access_token") != 1 {
		t.Fatalf("second Close: %v, calls %d", err, f.count("disable_access_token"))
	}
}

func TestHTTPClientTimeoutIsTransient(t *testing.T) {
	var calls atomic.Int32
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"file/info": func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
				return
			}
			writeJSON(w, success(map[string]any{"id": "3", "filename": "x"}))
		},
	})
	c, _ := newTestClient(t, f.url(), func(cfg *Config) { cfg.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond} })
	got, err := c.FileInfo(testCtx(t), "3")
	if err != nil || got.ID != "3" {
		t.Fatalf("FileInfo after a client timeout = %+v, %v; want retried", got, err)
	}
}

func TestDownloadTransportErrorHidesToken(t *testing.T) {
	dead := newFakeAPI(t, nil)
	deadURL := dead.srv.URL
	dead.srv.Close()
	token := strings.Repeat("d0", 32)
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"file/download": func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, success(map[string]any{"download_url": deadURL + "/files/x?download_token=" + token}))
		},
	})
	c, logs := newTestClient(t, f.url(), func(cfg *Config) { cfg.MaxRetries = 1 })
	_, err := c.Download(testCtx(t), DownloadRequest{ID: "1", Size: 5}, io.Discard)
	if !errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v, want ErrTransient", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("error leaks the download token: %v", err)
	}
	for _, e := range logs.All() {
		if strings.Contains(e.Message+fmt.Sprint(e.ContextMap()), token) {
			t.Fatalf("log leaks the download token: %v %v", e.Message, e.ContextMap())
		}
	}
	if len(logs.All()) == 0 {
		t.Fatalf("nothing logged: the check proves nothing")
	}
}

func TestLongRetryAfterIsReturnedNotWaited(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"file/info": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		},
	})
	c, _ := newTestClient(t, f.url())
	_, err := c.FileInfo(testCtx(t), "1")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Kind != ErrRateLimited || ae.RetryAfter != time.Hour {
		t.Fatalf("err = %v, want ErrRateLimited with RetryAfter 1h", err)
	}
	if got := f.count("file/info"); got != 1 {
		t.Fatalf("file/info requests = %d, want 1", got)
	}
	// Later calls respect the hold without asking the server again.
	_, err = c.FileInfo(testCtx(t), "1")
	if !errors.As(err, &ae) || ae.Kind != ErrRateLimited || ae.RetryAfter < 59*time.Minute {
		t.Fatalf("second call err = %v, want ErrRateLimited with about 1h", err)
	}
	if got := f.count("file/info"); got != 1 {
		t.Fatalf("file/info requests = %d after the hold, want still 1", got)
	}
}
