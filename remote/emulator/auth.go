package emulator

import (
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Messages of the authorization checks, exactly as the service words them.
const (
	msgKey1           = "Please provide key1. It must be 64 characters in length."
	msgKey2           = "Please provide key2. It must be 64 characters in length."
	msgAuthFailed     = "Could not authenticate user. The key pair may be invalid or your account may be locked from too many failed logins."
	msgNoAPILevel     = "Your account level does not have access to the file upload API. Please contact site support for more information."
	msgNoToken        = "Please provide the access_token param."
	msgNoAccountID    = "Please provide the account_id param."
	msgBadTokenPair   = "Could not validate access_token and account_id, please reauthenticate or try again."
	msgBadToken       = "Could not validate access_token, please reauthenticate or try again."
	msgTokenRemoved   = "Token removed or no longer available."
	sessionCookieName = "filehosting"
)

func (s *Server) authorize(q *request) reply {
	key1, key2 := q.p["key1"], q.p["key2"]
	if len(key1) != 64 {
		return fail(msgKey1)
	}
	if len(key2) != 64 {
		return fail(msgKey2)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockout > 0 && len(s.recentFailures(q.ip, now)) >= s.lockout {
		s.log.Info("authorize refused: ip locked out", zap.String("ip", q.ip))
		return fail(msgAuthFailed)
	}
	a := s.byKeys[key1+"\x00"+key2]
	if a == nil {
		s.failures[q.ip] = append(s.recentFailures(q.ip, now), now)
		s.log.Info("authorize refused: bad keys", zap.String("ip", q.ip), zap.Int("failures", len(s.failures[q.ip])))
		return fail(msgAuthFailed)
	}
	if !a.LevelAPI {
		return fail(msgNoAPILevel)
	}
	// One live token per account: every authorize deletes the earlier ones.
	var changes []change
	for tok, t := range s.tokens {
		if t.Account == a.ID {
			delete(s.tokens, tok)
			changes = append(changes, delToken(tok))
		}
	}
	t := &tokenRec{Token: s.randString(128, alnum), Account: a.ID, Created: now}
	s.tokens[t.Token] = t
	sid := s.randString(26, "0123456789abcdefghijklmnopqrstuv")
	s.sessions[sid] = a.ID
	changes = append(changes, putToken(t), putSession(sid, a.ID))
	if err := s.persist(changes...); err != nil {
		s.log.Error("authorize", zap.Int64("account", a.ID), zap.Error(err))
		return fail(msgAuthFailed)
	}
	s.lastLogin[a.ID] = loginInfo{at: now, ip: q.ip}
	q.setCookie = &http.Cookie{Name: sessionCookieName, Value: sid, Path: "/", HttpOnly: true}
	return success(kv{"data", obj{
		{"access_token", t.Token},
		{"account_id", s.numOrStr(a.ID)},
	}})
}

// recentFailures prunes and returns ip's failed authorizations of the last
// 24h. Called with s.mu held.
func (s *Server) recentFailures(ip string, now time.Time) []time.Time {
	fs := s.failures[ip]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= lockoutWindow {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(s.failures, ip)
		return nil
	}
	s.failures[ip] = fs
	return fs
}

// validToken returns the token's record if tok is live (and, when account
// is not "", belongs to that account id), touching its idle timer; an
// idle-expired token is deleted. Called with s.mu held.
func (s *Server) validToken(tok, account string, now time.Time) *tokenRec {
	t := s.tokens[tok]
	if t == nil || (account != "" && strconv.FormatInt(t.Account, 10) != account) {
		return nil
	}
	if s.ttl > 0 && !t.LastUsed.IsZero() && now.Sub(t.LastUsed) > s.ttl {
		delete(s.tokens, tok)
		if err := s.persist(delToken(tok)); err != nil {
			s.log.Error("expire token", zap.Error(err))
		}
		return nil
	}
	if _, ok := s.accounts[t.Account]; !ok {
		return nil
	}
	t.LastUsed = now
	if t.saved.IsZero() || now.Sub(t.saved) >= touchEvery(s.ttl) || now.Before(t.saved) {
		if err := s.persist(putToken(t)); err != nil {
			s.log.Error("touch token", zap.Error(err))
		}
		t.saved = now
	}
	return t
}

// touchEvery is how often a token's idle timer is written while it is in
// use: the first use at once, then at most once a second (a hundredth of
// a shorter lifetime). Writing it on every request cost a metadata
// transaction per request; now only a crash of the emulator can make a
// token expire early, by at most this much. Close writes the rest.
func touchEvery(ttl time.Duration) time.Duration {
	if ttl > 0 && ttl/100 < time.Second {
		return ttl / 100
	}
	return time.Second
}

// flushTokens persists the idle timers validToken has not written yet.
// Called with s.mu held.
func (s *Server) flushTokens() error {
	var changes []change
	var touched []*tokenRec
	for _, t := range s.tokens {
		if !t.LastUsed.Equal(t.saved) {
			changes = append(changes, putToken(t))
			touched = append(touched, t)
		}
	}
	if len(changes) == 0 {
		return nil
	}
	if err := s.persist(changes...); err != nil {
		return err
	}
	for _, t := range touched {
		t.saved = t.LastUsed
	}
	return nil
}

// authFile runs the checks of file/*, folder/* and disable_access_token
// (api.md 10), in order. Called with s.mu held.
func (s *Server) authFile(q *request) (*Account, string) {
	if !q.has("access_token") {
		return nil, msgNoToken
	}
	if !q.has("account_id") {
		return nil, msgNoAccountID
	}
	t := s.validToken(q.p["access_token"], q.p["account_id"], s.now())
	if t == nil {
		return nil, msgBadTokenPair
	}
	return s.accounts[t.Account], ""
}

// authAccount runs the checks of account/*: the token only (api.md 10).
func (s *Server) authAccount(q *request) (*Account, string) {
	if !q.has("access_token") {
		return nil, msgNoToken
	}
	t := s.validToken(q.p["access_token"], "", s.now())
	if t == nil {
		return nil, msgBadToken
	}
	return s.accounts[t.Account], ""
}

func (s *Server) disableAccessToken(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, msg := s.authFile(q); msg != "" {
		return fail(msg)
	}
	tok := q.p["access_token"]
	delete(s.tokens, tok)
	if err := s.persist(delToken(tok)); err != nil {
		s.log.Error("disable token", zap.Error(err))
	}
	return success(kv{"response", msgTokenRemoved})
}

func (s *Server) accountInfo(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, msg := s.authAccount(q); msg != "" {
		return fail(msg)
	}
	// The row is the one account_id names, not the caller's: the script
	// looks the id up and answers data false when none is passed or none
	// matches (api.md 10).
	id, err := strconv.ParseInt(q.p["account_id"], 10, 64)
	a := s.accounts[id]
	if err != nil || a == nil {
		return success(kv{"data", false})
	}
	ll := s.lastLogin[a.ID]
	var override any = nil
	if a.StorageLimit > 0 {
		override = s.numOrStr(a.StorageLimit)
	}
	return success(kv{"data", obj{
		{"id", s.numOrStr(a.ID)},
		{"username", a.Username},
		{"level_id", s.numOrStr(levelID)},
		{"email", a.Username + "@example.invalid"},
		{"lastlogindate", fmtTime(ll.at)},
		{"lastloginip", ll.ip},
		{"status", "active"},
		{"title", ""},
		{"firstname", a.Username},
		{"lastname", ""},
		{"languageId", s.numOrStr(1)},
		{"datecreated", nil},
		{"lastPayment", nil},
		{"paidExpiryDate", "0000-00-00 00:00:00"},
		{"storageLimitOverride", override},
	}})
}

const levelID = 20

func (s *Server) accountPackage(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, msg := s.authAccount(q)
	if msg != "" {
		return fail(msg)
	}
	canUpload := int64(0)
	if a.CanUpload {
		canUpload = 1
	}
	return success(kv{"data", obj{
		{"id", s.numOrStr(levelID)},
		{"label", "Emulated Account"},
		{"max_upload_size", s.numOrStr(a.MaxUploadSize)},
		{"can_upload", s.numOrStr(canUpload)},
		{"wait_between_downloads", s.numOrStr(int64(a.WaitBetweenDownloads / time.Second))},
		{"download_speed", s.numOrStr(0)},
		{"max_storage_bytes", s.numOrStr(a.StorageLimit)},
		{"show_site_adverts", s.numOrStr(0)},
		{"show_upgrade_screen", s.numOrStr(0)},
		{"days_to_keep_inactive_files", s.numOrStr(0)},
		{"concurrent_uploads", s.numOrStr(int64(a.ConcurrentUploads))},
		{"concurrent_downloads", s.numOrStr(int64(a.ConcurrentDownloads))},
		{"downloads_per_24_hours", s.numOrStr(int64(a.DownloadsPer24Hours))},
		{"max_download_filesize_allowed", s.numOrStr(a.MaxDownloadFileSize)},
		{"max_remote_download_urls", s.numOrStr(50)},
		{"level_type", "paid user"},
		{"on_upgrade_page", s.numOrStr(0)},
	}})
}
