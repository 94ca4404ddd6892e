package emulator_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
)

const digits = "0123456789abcdefghij" // 20 bytes

func TestDownloadURLAndReuse(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	id := str(e.uploadOK(s, "", "d.txt", []byte(digits))["file_id"])
	e.wantErr("file/download", s.form(), "Please provide the file_id param.")
	e.wantErr("file/download", s.form("file_id", "4040"), "Could not find file based on file_id.")
	d := e.mustOK("file/download", s.form("file_id", id))["data"].(map[string]any)
	u := d["download_url"].(string)
	if d["filename"] != "d.txt" || str(d["file_id"]) != id {
		t.Fatalf("data %v", d)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if tok := pu.Query().Get("download_token"); len(tok) != 64 || strings.Trim(tok, "0123456789abcdef") != "" {
		t.Fatalf("download_token %q", tok)
	}
	if strings.Contains(pu.Path, "d.txt") {
		t.Fatalf("name in URL without the switch: %s", u)
	}
	// Reusable, and no credentials needed (a fresh client without cookies).
	for i := 0; i < 3; i++ {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(t, resp)
		resp.Body.Close()
		if resp.StatusCode != 200 || b != digits || resp.ContentLength != 20 {
			t.Fatalf("download %d: %d %q", i, resp.StatusCode, b)
		}
	}
	// Still valid just before 24h, even for a trashed file.
	e.mustOK("file/delete", s.form("file_id", id))
	e.clock.Advance(24*time.Hour - time.Second)
	if resp, b := e.get(u); resp.StatusCode != 200 || string(b) != digits {
		t.Fatalf("trashed download %d %q", resp.StatusCode, b)
	}
	// A fresh URL for the trashed file works too (the token idled out).
	s = e.login()
	if resp, _ := e.get(e.downloadURL(s, id)); resp.StatusCode != 200 {
		t.Fatalf("new url for trashed file: %d", resp.StatusCode)
	}
	e.clock.Advance(time.Second)
	resp, _ := e.get(u)
	assertErrorRedirect(t, e, resp)
	if got := e.mustOK("file/info", s.form("file_id", id))["data"].(map[string]any)["downloads"]; got != "5" {
		t.Fatalf("downloads counter %v", got)
	}
}

// assertErrorRedirect checks a 302 to an HTML error page (api.md 18).
func assertErrorRedirect(t *testing.T, e *env, resp *http.Response) string {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", resp.StatusCode)
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	page, body := e.get(loc.String())
	if page.StatusCode != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<html") {
		t.Fatalf("error page %d %q %s", page.StatusCode, page.Header.Get("Content-Type"), body)
	}
	return string(body)
}

func TestBadDownloadTokenRedirectsToHTML(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	id := str(e.uploadOK(s, "", "d.txt", []byte(digits))["file_id"])
	u := e.downloadURL(s, id)
	pu, _ := url.Parse(u)
	short := strings.TrimPrefix(pu.Path, "/dl/")
	for _, bad := range []string{
		e.ts.URL + "/dl/" + short + "?download_token=" + strings.Repeat("0", 64),
		e.ts.URL + "/dl/" + short,
		e.ts.URL + "/dl/zzz?" + pu.RawQuery, // valid token, other file
	} {
		resp, _ := e.get(bad)
		body := assertErrorRedirect(t, e, resp)
		if !strings.Contains(body, "expired or is invalid") {
			t.Fatalf("%s: page %s", bad, body)
		}
	}
	// Following the redirect, as a naive client does, yields 200 text/html.
	resp, err := http.Get(e.ts.URL + "/dl/" + short + "?download_token=bad")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("followed: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestDownloadURLWithName(t *testing.T) {
	e := newEnv(t, func(o *emulator.Options) { o.DownloadURLWithName = true })
	s := e.login()
	id := str(e.uploadOK(s, "", "a b+c.txt", []byte("x"))["file_id"])
	u := e.downloadURL(s, id)
	if !strings.Contains(u, "/a%20b%2Bc.txt?download_token=") {
		t.Fatalf("url %s", u)
	}
	if resp, b := e.get(u); resp.StatusCode != 200 || string(b) != "x" {
		t.Fatalf("download %d %q", resp.StatusCode, b)
	}
}

func TestRangeModes(t *testing.T) {
	type want struct {
		code         int
		body         string
		contentRange string
	}
	cases := []struct {
		mode  emulator.RangeMode
		rng   string
		want  want
		label string
	}{
		{emulator.RangeQuirky, "", want{200, digits, ""}, "no range"},
		{emulator.RangeQuirky, "bytes=0-", want{200, digits, ""}, "from 0 is the whole file"},
		{emulator.RangeQuirky, "bytes=0-4", want{200, digits, ""}, "0-4 is the whole file"},
		{emulator.RangeQuirky, "bytes=0-1", want{200, "1", ""}, "0-1 is the byte 1"},
		{emulator.RangeQuirky, "bytes=5-", want{206, digits[5:], "bytes 5-19/20"}, "N- is proper"},
		{emulator.RangeQuirky, "bytes=5-9", want{206, digits[5:10], "bytes 5-9/20"}, "N-M is proper"},
		{emulator.RangeQuirky, "bytes=30-", want{416, "", "bytes */20"}, "beyond the end"},
		{emulator.RangeProper, "bytes=0-1", want{206, digits[:2], "bytes 0-1/20"}, "proper 0-1"},
		{emulator.RangeProper, "bytes=5-", want{206, digits[5:], "bytes 5-19/20"}, "proper N-"},
		{emulator.RangeProper, "bytes=-3", want{206, digits[17:], "bytes 17-19/20"}, "proper suffix"},
		{emulator.RangeIgnored, "bytes=5-", want{200, digits, ""}, "ignored"},
	}
	envs := map[emulator.RangeMode]*env{}
	urls := map[emulator.RangeMode]string{}
	for _, m := range []emulator.RangeMode{emulator.RangeQuirky, emulator.RangeProper, emulator.RangeIgnored} {
		e := newEnv(t, func(o *emulator.Options) { o.RangeMode = m })
		s := e.login()
		urls[m] = e.downloadURL(s, str(e.uploadOK(s, "", "r.txt", []byte(digits))["file_id"]))
		envs[m] = e
	}
	for _, c := range cases {
		t.Run(c.mode.String()+"/"+c.label, func(t *testing.T) {
			e := envs[c.mode]
			e.t = t
			var resp *http.Response
			var body []byte
			if c.rng == "" {
				resp, body = e.get(urls[c.mode])
			} else {
				resp, body = e.get(urls[c.mode], "Range", c.rng)
			}
			got := want{resp.StatusCode, string(body), resp.Header.Get("Content-Range")}
			if got != c.want {
				t.Fatalf("Range %q: got %+v, want %+v", c.rng, got, c.want)
			}
		})
	}
}

func TestDownloadLimits(t *testing.T) {
	a := emulator.DefaultAccount()
	a.DownloadsPer24Hours = 3
	a.WaitBetweenDownloads = 10 * time.Second
	a.MaxDownloadFileSize = 10
	e := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{a} })
	s := e.login()
	small := e.downloadURL(s, str(e.uploadOK(s, "", "s.txt", []byte("small"))["file_id"]))
	big := e.downloadURL(s, str(e.uploadOK(s, "", "b.txt", []byte(digits))["file_id"]))

	resp, _ := e.get(big)
	if !strings.Contains(assertErrorRedirect(t, e, resp), "size") {
		t.Fatal("max download size not named")
	}
	if resp, _ := e.get(small); resp.StatusCode != 200 {
		t.Fatalf("first download %d", resp.StatusCode)
	}
	resp, _ = e.get(small)
	if !strings.Contains(assertErrorRedirect(t, e, resp), "wait 10 seconds") {
		t.Fatal("wait between downloads not named")
	}
	e.clock.Advance(10 * time.Second)
	if resp, _ := e.get(small); resp.StatusCode != 200 {
		t.Fatalf("second download %d", resp.StatusCode)
	}
	e.clock.Advance(time.Minute)
	if resp, _ := e.get(small); resp.StatusCode != 200 {
		t.Fatalf("third download %d", resp.StatusCode)
	}
	e.clock.Advance(time.Minute)
	resp, _ = e.get(small)
	if !strings.Contains(assertErrorRedirect(t, e, resp), "24 hours") {
		t.Fatal("downloads per 24h not named")
	}
	// A day after the first one (with a fresh token and URL: both idled out).
	e.clock.Advance(24*time.Hour - 2*time.Minute)
	s = e.login()
	small = e.downloadURL(s, "1")
	if resp, _ := e.get(small); resp.StatusCode != 200 {
		t.Fatalf("a day later %d", resp.StatusCode)
	}

	// IgnoreLimits turns all of it off.
	off := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{a}; o.IgnoreLimits = true })
	so := off.login()
	u := off.downloadURL(so, str(off.uploadOK(so, "", "b.txt", []byte(digits))["file_id"]))
	for i := 0; i < 5; i++ {
		if resp, _ := off.get(u); resp.StatusCode != 200 {
			t.Fatalf("IgnoreLimits download %d: %d", i, resp.StatusCode)
		}
	}
}

// TestConcurrentDownloadLimit holds one download open (its body unread, so
// the server blocks writing) and checks that a second is refused meanwhile.
func TestConcurrentDownloadLimit(t *testing.T) {
	a := emulator.DefaultAccount()
	a.ConcurrentDownloads = 1
	e := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{a} })
	s := e.login()
	big := strings.Repeat("d", 8<<20) // far above loopback socket buffers
	u := e.downloadURL(s, str(e.uploadOK(s, "", "big.bin", []byte(big))["file_id"]))

	held, err := e.ts.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	if held.StatusCode != 200 {
		t.Fatalf("first download %d", held.StatusCode)
	}
	fresh := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := fresh.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(assertErrorRedirect(t, e, resp), "concurrent downloads") {
		t.Fatal("concurrent downloads not named")
	}
	n, err := io.Copy(io.Discard, held.Body)
	held.Body.Close()
	if err != nil || n != int64(len(big)) {
		t.Fatalf("held download: %d bytes, %v", n, err)
	}
	// Finished: the slot is free again (the handler may still be unwinding).
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, b := e.get(u)
		if resp.StatusCode == 200 && len(b) == len(big) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %d", resp.StatusCode)
		}
		time.Sleep(time.Millisecond)
	}
}
