package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var (
	testKey1 = strings.Repeat("a1", 32)
	testKey2 = strings.Repeat("b2", 32)
)

// fakeAPI is a tiny hand-written server for quirks: it answers /authorize
// itself (one live token, like the service) and routes everything else to
// the test's handlers after checking the token. Tests needing a realistic
// service use the emulator through remote/apitest.
type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	token  string
	gen    int
	auths  int
	calls  map[string]int
	routes map[string]http.HandlerFunc
	// authReply, when set, answers /authorize instead of the default.
	authReply func(w http.ResponseWriter, r *http.Request)
}

func newFakeAPI(t *testing.T, routes map[string]http.HandlerFunc) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, routes: routes, calls: map[string]int{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) url() string { return f.srv.URL + "/api/v2/" }

// rotate simulates another client authorizing with the same keys.
func (f *fakeAPI) rotate() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	f.token = fmt.Sprintf("%0128d", f.gen)
}

func (f *fakeAPI) count(endpoint string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[endpoint]
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/files/") {
		// The download host: no token check, as download URLs are opaque.
		f.mu.Lock()
		f.calls["files"]++
		h := f.routes["files"]
		f.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
		return
	}
	endpoint := strings.TrimPrefix(r.URL.Path, "/api/v2/")
	f.mu.Lock()
	f.calls[endpoint]++
	f.mu.Unlock()
	if endpoint == "authorize" {
		f.mu.Lock()
		f.auths++
		f.mu.Unlock()
		if f.authReply != nil {
			f.authReply(w, r)
			return
		}
		if r.FormValue("key1") != testKey1 || r.FormValue("key2") != testKey2 {
			writeJSON(w, map[string]any{"response": "Could not authenticate user. The key pair may be invalid or your account may be locked from too many failed logins.", "_status": "error"})
			return
		}
		f.rotate()
		f.mu.Lock()
		tok := f.token
		f.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "filehosting", Value: "session-" + tok[:8], Path: "/"})
		writeJSON(w, map[string]any{"data": map[string]any{"access_token": tok, "account_id": "158642"}, "_status": "success"})
		return
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			writeJSON(w, map[string]any{"response": "Please provide the access_token param.", "_status": "error"})
			return
		}
	}
	f.mu.Lock()
	valid := r.FormValue("access_token") == f.token && f.token != ""
	f.mu.Unlock()
	if !valid {
		writeJSON(w, map[string]any{"response": "Could not validate access_token and account_id, please reauthenticate or try again.", "_status": "error"})
		return
	}
	h, ok := f.routes[endpoint]
	if !ok && endpoint == "account/package" {
		h = packageHandler(nil)
		ok = true
	}
	if !ok && endpoint == "account/info" {
		h = func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, success(map[string]any{"id": "158642", "username": "admin", "level_id": "20", "status": "active"}))
		}
		ok = true
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// TestMain fails the package when a test leaves goroutines behind (a
// hashing pipe, a transfer, a retry loop).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func success(data any) map[string]any {
	return map[string]any{"data": data, "_status": "success", "_datetime": "2024-11-08 21:57:50"}
}

func apiError(msg string) map[string]any {
	return map[string]any{"response": msg, "_status": "error", "_datetime": "2024-11-08 21:57:50"}
}

// packageHandler answers account/package with the sample's values,
// overridden by extra.
func packageHandler(extra map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := map[string]any{"id": "20", "label": "Premium Account", "max_upload_size": "1073741824", "can_upload": "1",
			"wait_between_downloads": "0", "concurrent_uploads": "100", "concurrent_downloads": "0",
			"downloads_per_24_hours": "0", "max_download_filesize_allowed": "0", "max_storage_bytes": "0"}
		for k, v := range extra {
			d[k] = v
		}
		writeJSON(w, success(d))
	}
}

type clientOpt func(*Config)

func newTestClient(t *testing.T, baseURL string, opts ...clientOpt) (*Client, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := Config{
		URL: baseURL, Key1: testKey1, Key2: testKey2,
		Logger:            zap.New(core),
		RequestsPerSecond: 1000,
		RetryBaseDelay:    time.Millisecond,
		MaxRetries:        3,
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		c.api.CloseIdleConnections()
		c.files.CloseIdleConnections()
	})
	return c, logs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
