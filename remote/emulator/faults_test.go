package emulator_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/syncd/syncd/remote/emulator"
)

func assertHTML(t *testing.T, code int, body string, wantCode int) {
	t.Helper()
	if code != wantCode || !strings.Contains(body, "<html>") {
		t.Fatalf("got %d %q, want %d with an HTML body", code, body, wantCode)
	}
}

func TestRateLimit429HTML(t *testing.T) {
	e := newEnv(t, func(o *emulator.Options) { o.RateLimit = 2 })
	s := e.login() // counted per IP before an account is known
	e.mustOK("folder/listing", s.form())
	e.mustOK("folder/listing", s.form())
	resp, err := e.hc.PostForm(e.url("folder/listing"), s.form())
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	resp.Body.Close()
	assertHTML(t, resp.StatusCode, body, http.StatusTooManyRequests)
	if resp.Header.Get("Retry-After") != "1" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("headers %v", resp.Header)
	}
	// Another account is not limited by this one.
	other := url.Values{"access_token": {"x"}, "account_id": {"1"}}
	e.wantErr("folder/listing", other, msgBadTokenPair)
	e.clock.Advance(time.Second)
	e.mustOK("folder/listing", s.form())
	got := e.srv.Requests()
	if got["authorize"] != 1 || got["folder/listing"] != 5 || got["429"] != 1 {
		t.Fatalf("requests counted %v, want 1 authorize, 5 listings, 1 refused", got)
	}
}

func TestFailRate(t *testing.T) {
	e := newEnv(t, func(o *emulator.Options) { o.FailRate = 1 })
	for i := 0; i < 10; i++ {
		code, body := e.raw("authorize", url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}})
		if code != 500 && code != 502 && code != 503 {
			t.Fatalf("code %d", code)
		}
		assertHTML(t, code, body, code)
	}
	half := newEnv(t, func(o *emulator.Options) { o.FailRate = 0.5 })
	var failed, ok int
	for i := 0; i < 200; i++ {
		code, _ := half.raw("authorize", url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}})
		if code == 200 {
			ok++
		} else {
			failed++
		}
	}
	if failed < 60 || ok < 60 {
		t.Fatalf("FailRate 0.5: %d failed, %d ok", failed, ok)
	}
}

func TestInjectedStatusIsNotApplied(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	e.srv.InjectFault(emulator.Fault{Endpoint: "folder/create", Count: 2, Status: 503})
	e.srv.InjectFault(emulator.Fault{Endpoint: "folder/create", Status: 429, RetryAfter: 30 * time.Second})
	for i, want := range []int{503, 503, 429} {
		resp, err := e.hc.PostForm(e.url("folder/create"), s.form("folder_name", "f"))
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		resp.Body.Close()
		assertHTML(t, resp.StatusCode, body, want)
		if want == 429 && resp.Header.Get("Retry-After") != "30" {
			t.Fatalf("request %d: Retry-After %q", i, resp.Header.Get("Retry-After"))
		}
	}
	// Other endpoints were never affected; nothing was created.
	if n := len(e.srv.Dump(emulator.DemoAccountID)); n != 0 {
		t.Fatalf("%d entries after refused requests", n)
	}
	e.mkdir(s, "f", "")
	if n := len(e.srv.Dump(emulator.DemoAccountID)); n != 1 {
		t.Fatalf("%d entries", n)
	}
}

func TestDroppedReplyIsApplied(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	e.srv.InjectFault(emulator.Fault{Endpoint: "folder/create", DropReply: true})
	if _, err := e.hc.PostForm(e.url("folder/create"), s.form("folder_name", "ghost")); err == nil {
		t.Fatal("dropped reply: no error")
	}
	d := e.srv.Dump(emulator.DemoAccountID)
	if len(d) != 1 || d[0].Name != "ghost" || !d[0].Folder {
		t.Fatalf("dump %+v", d)
	}
	// Uploads too: the file exists though the client never heard.
	e.srv.InjectFault(emulator.Fault{Endpoint: "file/upload", DropReply: true})
	ct, body := multipartBody(t, map[string]string{"access_token": s.token, "account_id": s.account}, "lost.txt", []byte("lost"))
	if _, err := e.hc.Post(e.url("file/upload"), ct, body); err == nil {
		t.Fatal("dropped upload reply: no error")
	}
	_, files := e.listing(s, "")
	if len(files) != 1 || files[0]["filename"] != "lost.txt" {
		t.Fatalf("files %v", files)
	}
	// And a download cut before any byte.
	u := e.downloadURL(s, str(files[0]["id"]))
	e.srv.InjectFault(emulator.Fault{Endpoint: "dl", DropReply: true})
	// A fresh connection: Go's transport silently retries a GET whose reused
	// connection closed before any byte.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := fresh.Get(u); err == nil {
		t.Fatal("dropped download: no error")
	}
	if resp, b := e.get(u); resp.StatusCode != 200 || string(b) != "lost" {
		t.Fatalf("download after drop %d %q", resp.StatusCode, b)
	}
}

// Through the in-process Transport a dropped reply is the same: applied,
// and the caller gets an error, not the handler's panic.
func TestDroppedReplyThroughTransport(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	hc := &http.Client{Transport: emulator.Transport{Handler: e.srv}}
	e.srv.InjectFault(emulator.Fault{Endpoint: "folder/create", DropReply: true})
	if _, err := hc.PostForm(e.url("folder/create"), s.form("folder_name", "ghost")); err == nil {
		t.Fatal("dropped reply through Transport: no error")
	}
	d := e.srv.Dump(emulator.DemoAccountID)
	if len(d) != 1 || d[0].Name != "ghost" || !d[0].Folder {
		t.Fatalf("dump %+v", d)
	}
	if resp, err := hc.PostForm(e.url("folder/create"), s.form("folder_name", "seen")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the next request through Transport: %v %v", resp, err)
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	e := newEnv(t)
	code, _ := e.raw("file/nothing", nil)
	if code != 404 {
		t.Fatalf("unknown endpoint %d", code)
	}
	req, _ := http.NewRequest(http.MethodPut, e.url("authorize"), nil)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("PUT %d", resp.StatusCode)
	}
}

// TestLatency runs inside a synctest bubble so the delay is fake time.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := emulator.New(emulator.Options{DataDir: t.TempDir(), Latency: 2 * time.Second, NoSync: true, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		srv.InjectFault(emulator.Fault{Endpoint: "authorize", Latency: 3 * time.Second})
		done := make(chan int)
		start := time.Now()
		go func() {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v2/authorize", nil))
			done <- rec.Code
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("answered before the latency")
		default:
		}
		if code := <-done; code != 200 {
			t.Fatalf("code %d", code)
		}
		if got := time.Since(start); got != 5*time.Second {
			t.Fatalf("latency %v, want 5s", got)
		}
	})
}

// StealToken at a chosen request: the requests before it pass, that one
// and every later one with the same token get the token error, and a new
// authorization works again.
func TestStealTokenAtAChosenRequest(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	e.srv.InjectFault(emulator.Fault{Endpoint: "folder/listing", After: 2, StealToken: true})
	e.mustOK("account/info", s.form()) // another endpoint: not counted
	e.mustOK("folder/listing", s.form())
	e.mustOK("folder/listing", s.form())
	e.wantErr("folder/listing", s.form(), msgBadTokenPair)
	e.wantErr("folder/info", s.form("folder_id", "0"), msgBadTokenPair)
	s = e.login()
	e.mustOK("folder/listing", s.form())
}
