// Package authguard keeps syncd from locking its host's IP address out of the
// account. The service bans an IP from authorizing for 24 hours after five
// failed authorizations within 24 hours, whoever made them and whatever the
// keys; several syncd processes of one host (a cron job running `syncd once`,
// a restarting service, a `run` beside a `once`) add up.
//
// A Guard is a remote.AuthGuard backed by a small file in state_dir, shared
// by every process using that state_dir under an advisory file lock (held
// while the authorization is in flight, so that concurrent processes
// authorize one after the other and the second sees the first's refusal):
//
//   - A key pair the server refused is remembered as an HMAC-SHA256 of the
//     pair under a random secret kept in the same file (mode 0600), never as
//     the keys themselves, and is not sent again until the keys change or the
//     operator passes Retry (`-retry-auth`).
//   - Failed authorizations of the last 24 hours are counted, whatever the
//     key pair. At MaxFailures no key pair is sent; Retry allows one more,
//     up to MaxFailuresRetry, still one below the server's ban.
//
// Authorizations with good keys are never counted, and a refused pair does
// not block a different one.
package authguard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gofrs/flock"

	"github.com/syncd/syncd/remote"
)

// Limits on failed authorizations per Window from one state_dir. The
// service bans at five; the margin leaves room for other clients on the
// same IP, which syncd cannot see.
const (
	MaxFailures      = 3
	MaxFailuresRetry = 4
	Window           = 24 * time.Hour
)

// File names inside the state directory.
const (
	FileName = "auth-guard.json"
	lockName = "auth-guard.lock"
)

// maxRemembered bounds the refused pairs kept.
const maxRemembered = 32

// Guard is a remote.AuthGuard backed by Dir/auth-guard.json.
type Guard struct {
	Dir string
	// Retry sends a remembered pair again and raises the limit of failures
	// to MaxFailuresRetry: what the operator's -retry-auth asks for.
	Retry bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ remote.AuthGuard = (*Guard)(nil)

// Refusal is what the guard remembers of a refused key pair.
type Refusal struct {
	Hash   string    `json:"hash"` // hex HMAC-SHA256 of key1 NUL key2
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// record is the file's content.
type record struct {
	Secret   string      `json:"secret"` // hex, 32 random bytes
	Refused  []Refusal   `json:"refused"`
	Failures []time.Time `json:"failures"`
}

// Withheld is the error of an authorization the guard did not send. It
// wraps remote.ErrBadKeys, so callers treat it as the refusal it stands for.
type Withheld struct {
	Msg string
}

func (e *Withheld) Error() string { return e.Msg }

func (e *Withheld) Unwrap() error { return remote.ErrBadKeys }

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Authorize implements remote.AuthGuard.
func (g *Guard) Authorize(ctx context.Context, key1, key2 string, send func(context.Context) error) error {
	unlock, err := g.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := g.read()
	if err != nil {
		return err
	}
	now := g.now()
	rec.prune(now)
	hash := rec.hash(key1, key2)
	if i := rec.find(hash); i >= 0 && !g.Retry {
		r := rec.Refused[i]
		return &Withheld{Msg: fmt.Sprintf("key pair refused by the server at %s, not sent again (fix api.key1/api.key2, or pass -retry-auth once the cause is fixed): %s",
			r.At.UTC().Format(time.RFC3339), r.Reason)}
	}
	limit := MaxFailures
	if g.Retry {
		limit = MaxFailuresRetry
	}
	if n := len(rec.Failures); n >= limit {
		until := rec.Failures[n-limit].Add(Window)
		hint := " or pass -retry-auth to try once more"
		if g.Retry {
			hint = ""
		}
		return &Withheld{Msg: fmt.Sprintf("%d failed authorizations from this host in the last 24h (the server bans the IP for a day after 5); no key pair is sent until %s,%s",
			n, until.UTC().Format(time.RFC3339), firstNonEmpty(hint, " whatever the flags"))}
	}
	err = send(ctx)
	switch {
	case err == nil:
		if i := rec.find(hash); i >= 0 {
			rec.Refused = slices.Delete(rec.Refused, i, i+1)
			// Good keys authorized: forgetting the refusal is all that is
			// left to do, and failing to write it only costs a -retry-auth.
			_ = g.write(rec)
		}
		return nil
	case errors.Is(err, remote.ErrBadKeys), errors.Is(err, remote.ErrNoAPIAccess):
		if errors.Is(err, remote.ErrBadKeys) {
			rec.Failures = append(rec.Failures, now)
		}
		if i := rec.find(hash); i >= 0 {
			rec.Refused = slices.Delete(rec.Refused, i, i+1)
		}
		rec.Refused = append(rec.Refused, Refusal{Hash: hash, At: now, Reason: reason(err)})
		if len(rec.Refused) > maxRemembered {
			rec.Refused = rec.Refused[len(rec.Refused)-maxRemembered:]
		}
		if werr := g.write(rec); werr != nil {
			return fmt.Errorf("%w (and remembering the refusal failed: %v)", err, werr)
		}
	}
	return err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// reason is the server's words without the client's wrapping.
func reason(err error) string {
	var ae *remote.APIError
	if errors.As(err, &ae) && ae.Message != "" {
		return ae.Message
	}
	return err.Error()
}

// State is what the guard knows, for `syncd config check`.
type State struct {
	Refused  *Refusal // the given key pair's refusal, nil when it was not refused
	Failures int      // failed authorizations in the last Window
	Blocked  string   // why the given pair would not be sent now, "" when it would
}

// Inspect reports what the guard knows of a key pair without changing
// anything; a missing file is a fresh guard. It takes the lock only to read.
func (g *Guard) Inspect(ctx context.Context, key1, key2 string) (State, error) {
	if _, err := os.Stat(filepath.Join(g.Dir, FileName)); errors.Is(err, os.ErrNotExist) {
		return State{}, nil
	}
	unlock, err := g.lock(ctx)
	if err != nil {
		return State{}, err
	}
	defer unlock()
	rec, err := g.read()
	if err != nil {
		return State{}, err
	}
	now := g.now()
	rec.prune(now)
	st := State{Failures: len(rec.Failures)}
	if i := rec.find(rec.hash(key1, key2)); i >= 0 {
		r := rec.Refused[i]
		st.Refused = &r
		st.Blocked = fmt.Sprintf("refused by the server at %s (%s)", r.At.UTC().Format(time.RFC3339), r.Reason)
	} else if st.Failures >= MaxFailures {
		st.Blocked = fmt.Sprintf("%d failed authorizations in the last 24h", st.Failures)
	}
	return st, nil
}

func (g *Guard) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(g.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth guard: create %s: %w", g.Dir, err)
	}
	l := flock.New(filepath.Join(g.Dir, lockName))
	ok, err := l.TryLockContext(ctx, 50*time.Millisecond)
	adopt(g.Dir, l.Path())
	if err != nil {
		return nil, fmt.Errorf("auth guard: lock %s: %w", l.Path(), err)
	}
	if !ok {
		return nil, fmt.Errorf("auth guard: lock %s: %w", l.Path(), ctx.Err())
	}
	return func() { _ = l.Unlock() }, nil
}

// read loads the record, creating a secret when there is none. An
// unreadable file is an error: forgetting refusals could lock the IP out.
func (g *Guard) read() (*record, error) {
	p := filepath.Join(g.Dir, FileName)
	rec := &record{}
	data, err := os.ReadFile(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("auth guard: %w", err)
	default:
		if err := json.Unmarshal(data, rec); err != nil {
			return nil, fmt.Errorf("auth guard: %s is damaged (%v): remove it to start over; it remembers refused key pairs and failed authorizations", p, err)
		}
	}
	if len(rec.Secret) != 64 {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("auth guard: secret: %w", err)
		}
		rec.Secret = hex.EncodeToString(b[:])
		rec.Refused = nil // hashes under another secret mean nothing
	}
	return rec, nil
}

// write replaces the file atomically (mode 0600).
func (g *Guard) write(rec *record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(g.Dir, FileName)
	tmp, err := os.CreateTemp(g.Dir, "."+FileName+".tmp-*")
	if err != nil {
		return fmt.Errorf("auth guard: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("auth guard: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("auth guard: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth guard: close %s: %w", tmp.Name(), err)
	}
	adopt(g.Dir, tmp.Name())
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("auth guard: replace %s: %w", p, err)
	}
	return nil
}

func (r *record) hash(key1, key2 string) string {
	secret, _ := hex.DecodeString(r.Secret)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(key1))
	m.Write([]byte{0})
	m.Write([]byte(key2))
	return hex.EncodeToString(m.Sum(nil))
}

func (r *record) find(hash string) int {
	return slices.IndexFunc(r.Refused, func(x Refusal) bool { return hmac.Equal([]byte(x.Hash), []byte(hash)) })
}

// prune drops failures older than Window (and any from the future: a
// clock set back must not keep the count up forever).
func (r *record) prune(now time.Time) {
	r.Failures = slices.DeleteFunc(r.Failures, func(t time.Time) bool {
		return now.Sub(t) >= Window || t.After(now.Add(time.Hour))
	})
}
