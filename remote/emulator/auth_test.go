package emulator_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
)

const (
	msgAuthFailed   = "Could not authenticate user. The key pair may be invalid or your account may be locked from too many failed logins."
	msgNoToken      = "Please provide the access_token param."
	msgNoAccount    = "Please provide the account_id param."
	msgBadTokenPair = "Could not validate access_token and account_id, please reauthenticate or try again."
	msgBadToken     = "Could not validate access_token, please reauthenticate or try again."
)

func TestErrorEnvelopeIsExact(t *testing.T) {
	e := newEnv(t)
	code, body := e.raw("authorize", url.Values{"key1": {"short"}})
	want := `{"response":"Please provide key1. It must be 64 characters in length.","_status":"error","_datetime":"2026-03-04 05:06:07"}`
	if code != http.StatusOK || body != want {
		t.Fatalf("got %d %s\nwant 200 %s", code, body, want)
	}
}

func TestLegacyStatusKey(t *testing.T) {
	e := newEnv(t, func(o *emulator.Options) { o.LegacyStatusKey = true })
	_, body := e.raw("authorize", nil)
	want := `{"response":"Please provide key1. It must be 64 characters in length.","status":"error","_datetime":"2026-03-04 05:06:07"}`
	if body != want {
		t.Fatalf("got %s, want %s", body, want)
	}
	// Successes keep _status.
	s := e.login()
	if m := e.call("account/info", s.form()); m["_status"] != "success" {
		t.Fatalf("account/info: %v", m)
	}
}

func TestAuthorizeChecksInOrder(t *testing.T) {
	noAPI := emulator.DefaultAccount()
	noAPI.ID, noAPI.Username = 7, "noapi"
	noAPI.Key1 = strings.Repeat("n", 64)
	noAPI.Key2 = strings.Repeat("m", 64)
	noAPI.LevelAPI = false
	e := newEnv(t, func(o *emulator.Options) {
		o.Accounts = []emulator.Account{emulator.DefaultAccount(), noAPI}
		o.Lockout = -1
	})
	k64 := strings.Repeat("k", 64)
	cases := []struct {
		name   string
		k1, k2 string
		want   string
	}{
		{"no keys", "", "", "Please provide key1. It must be 64 characters in length."},
		{"key1 63 chars, key2 bad too", k64[1:], "", "Please provide key1. It must be 64 characters in length."},
		{"key1 65 chars", k64 + "k", k64, "Please provide key1. It must be 64 characters in length."},
		{"key2 missing", k64, "", "Please provide key2. It must be 64 characters in length."},
		{"wrong pair", k64, k64, msgAuthFailed},
		{"keys swapped", emulator.DemoKey2, emulator.DemoKey1, msgAuthFailed},
		{"no API level", noAPI.Key1, noAPI.Key2, "Your account level does not have access to the file upload API. Please contact site support for more information."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.wantErr("authorize", url.Values{"key1": {c.k1}, "key2": {c.k2}}, c.want)
		})
	}
}

func TestAuthorizeReplyShape(t *testing.T) {
	for _, numbers := range []bool{false, true} {
		e := newEnv(t, func(o *emulator.Options) { o.NumberIDs = numbers })
		_, body := e.raw("authorize", url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}})
		re := `^\{"data":\{"access_token":"[0-9A-Za-z]{128}","account_id":"158642"\},"_status":"success","_datetime":"2026-03-04 05:06:07"\}$`
		if numbers {
			re = strings.Replace(re, `"158642"`, `158642`, 1)
		}
		if !regexp.MustCompile(re).MatchString(body) {
			t.Fatalf("numbers=%v: %s does not match %s", numbers, body, re)
		}
	}
}

func TestGETWorksAndParamsAreCleaned(t *testing.T) {
	e := newEnv(t)
	q := url.Values{"key1": {"  <b>" + emulator.DemoKey1 + "</b>\n"}, "key2": {"\t" + emulator.DemoKey2 + " "}}
	resp, body := e.get(e.url("authorize") + "?" + q.Encode())
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"_status":"success"`) {
		t.Fatalf("GET authorize with tags and spaces: %d %s", resp.StatusCode, body)
	}
	// A JSON body is ignored: the keys in it are not seen.
	req, _ := http.NewRequest(http.MethodPost, e.url("authorize"),
		strings.NewReader(`{"key1":"`+emulator.DemoKey1+`","key2":"`+emulator.DemoKey2+`"}`))
	req.Header.Set("Content-Type", "application/json")
	r2, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	m := decode(t, readAll(t, r2))
	if m["response"] != "Please provide key1. It must be 64 characters in length." {
		t.Fatalf("JSON body: %v", m)
	}
}

func TestTokenChecksInOrderOnEveryEndpoint(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	for _, ep := range []string{"disable_access_token", "file/upload", "file/download", "file/info", "file/edit",
		"file/delete", "file/move", "file/copy", "folder/create", "folder/listing", "folder/info", "folder/edit",
		"folder/delete", "folder/move"} {
		t.Run(ep, func(t *testing.T) {
			e.wantErr(ep, url.Values{"account_id": {s.account}}, msgNoToken)
			e.wantErr(ep, url.Values{"access_token": {s.token}}, msgNoAccount)
			e.wantErr(ep, url.Values{"access_token": {strings.Repeat("x", 128)}, "account_id": {s.account}}, msgBadTokenPair)
			e.wantErr(ep, url.Values{"access_token": {s.token}, "account_id": {"1"}}, msgBadTokenPair)
		})
	}
	for _, ep := range []string{"account/info", "account/package"} {
		t.Run(ep, func(t *testing.T) {
			e.wantErr(ep, url.Values{}, msgNoToken)
			e.wantErr(ep, url.Values{"access_token": {"nope"}}, msgBadToken)
			// account_id is not checked here.
			e.mustOK(ep, url.Values{"access_token": {s.token}})
		})
	}
}

func TestSecondAuthorizeInvalidatesFirst(t *testing.T) {
	e := newEnv(t)
	a := e.login()
	b := e.login()
	if a.token == b.token {
		t.Fatal("two authorizations gave the same token")
	}
	e.wantErr("folder/listing", a.form(), msgBadTokenPair)
	e.mustOK("folder/listing", b.form())
	e.srv.InvalidateTokens(emulator.DemoAccountID)
	e.wantErr("folder/listing", b.form(), msgBadTokenPair)
}

func TestDisableAccessToken(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	m := e.mustOK("disable_access_token", s.form())
	if m["response"] != "Token removed or no longer available." {
		t.Fatalf("reply %v", m)
	}
	e.wantErr("account/info", s.form(), msgBadToken)
}

func TestTokenIdleExpiry(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	// Never used: does not expire.
	e.clock.Advance(5 * time.Hour)
	e.mustOK("folder/listing", s.form())
	// Used: each use restarts the hour.
	e.clock.Advance(59 * time.Minute)
	e.mustOK("folder/listing", s.form())
	e.clock.Advance(time.Hour)
	e.mustOK("folder/listing", s.form())
	e.clock.Advance(time.Hour + time.Second)
	e.wantErr("folder/listing", s.form(), msgBadTokenPair)
	e.wantErr("account/info", s.form(), msgBadToken)
}

func TestTokenTTLSwitch(t *testing.T) {
	e := newEnv(t, func(o *emulator.Options) { o.TokenTTL = time.Minute })
	s := e.login()
	e.mustOK("folder/listing", s.form())
	e.clock.Advance(2 * time.Minute)
	e.wantErr("folder/listing", s.form(), msgBadTokenPair)
}

func TestIPLockout(t *testing.T) {
	e := newEnv(t)
	bad := url.Values{"key1": {strings.Repeat("a", 64)}, "key2": {strings.Repeat("b", 64)}}
	good := url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}}
	for i := 0; i < 4; i++ {
		e.wantErr("authorize", bad, msgAuthFailed)
	}
	e.mustOK("authorize", good) // 4 failures: still allowed
	e.wantErr("authorize", bad, msgAuthFailed)
	// Five failures: even the right keys are refused for 24 hours.
	e.wantErr("authorize", good, msgAuthFailed)
	e.clock.Advance(23 * time.Hour)
	e.wantErr("authorize", good, msgAuthFailed)
	e.clock.Advance(time.Hour)
	e.mustOK("authorize", good)
	// Length errors are not failed logins.
	for i := 0; i < 10; i++ {
		e.wantErr("authorize", url.Values{"key1": {"x"}}, "Please provide key1. It must be 64 characters in length.")
	}
	e.mustOK("authorize", good)
}

func TestIPLockoutOffAndThreshold(t *testing.T) {
	bad := url.Values{"key1": {strings.Repeat("a", 64)}, "key2": {strings.Repeat("b", 64)}}
	good := url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}}
	off := newEnv(t, func(o *emulator.Options) { o.Lockout = -1 })
	for i := 0; i < 20; i++ {
		off.wantErr("authorize", bad, msgAuthFailed)
	}
	off.mustOK("authorize", good)

	two := newEnv(t, func(o *emulator.Options) { o.Lockout = 2 })
	two.wantErr("authorize", bad, msgAuthFailed)
	two.mustOK("authorize", good)
	two.wantErr("authorize", bad, msgAuthFailed)
	two.wantErr("authorize", good, msgAuthFailed)
}

func TestAccountInfoAndPackage(t *testing.T) {
	a := emulator.DefaultAccount()
	a.MaxUploadSize = 1 << 20
	a.StorageLimit = 5 << 20
	a.ConcurrentUploads = 3
	a.WaitBetweenDownloads = 10 * time.Second
	e := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{a} })
	s := e.login()
	info := e.mustOK("account/info", s.form())["data"].(map[string]any)
	if info["id"] != "158642" || info["username"] != "demo" || info["status"] != "active" {
		t.Fatalf("account/info %v", info)
	}
	// The row is the one account_id names: none passed or none matching
	// is data false, not the caller's own row.
	for _, v := range []url.Values{{"access_token": {s.token}}, {"access_token": {s.token}, "account_id": {"1"}}} {
		if d := e.mustOK("account/info", v)["data"]; d != false {
			t.Errorf("account/info with account_id %q: data = %v, want false", v.Get("account_id"), d)
		}
	}
	pkg := e.mustOK("account/package", s.form())["data"].(map[string]any)
	for k, want := range map[string]string{"max_upload_size": "1048576", "max_storage_bytes": "5242880",
		"concurrent_uploads": "3", "wait_between_downloads": "10", "can_upload": "1", "concurrent_downloads": "0"} {
		if pkg[k] != want {
			t.Errorf("account/package %s = %v, want %q", k, pkg[k], want)
		}
	}
}

func TestWrongAccountDoesNotKeepTokenAlive(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	e.mustOK("folder/listing", s.form())
	e.clock.Advance(40 * time.Minute)
	e.wantErr("folder/listing", url.Values{"access_token": {s.token}, "account_id": {"1"}}, msgBadTokenPair)
	e.clock.Advance(40 * time.Minute)
	e.wantErr("folder/listing", s.form(), msgBadTokenPair)
}

// The idle timer is written at most once a second while a token is in use;
// Close writes the last use, so a restart never shortens a token's life.
func TestTokenIdleTimerSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	s := e.login()
	e.mustOK("folder/listing", s.form()) // first use: written at once
	e.clock.Advance(500 * time.Millisecond)
	e.mustOK("folder/listing", s.form()) // within the second: kept in memory
	e.restart()
	e.clock.Advance(time.Hour - 100*time.Millisecond)
	// An hour after the first use, less than an hour after the last.
	e.mustOK("folder/listing", s.form())
	e.clock.Advance(time.Hour + time.Second)
	e.wantErr("folder/listing", s.form(), msgBadTokenPair)
}
