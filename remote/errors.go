package remote

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// classifyMessage maps an application error ("_status":"error" with HTTP
// 200) to its class. Each documented message is mapped deliberately
// (api page, api.md 6, 10, 11, 16, 23, 24); anything unknown the
// server refused is ErrValidation, permanent for that input.
func classifyMessage(endpoint, msg string) error {
	m := strings.ToLower(strings.TrimSpace(msg))
	switch {
	case strings.HasPrefix(m, "please provide key1"),
		strings.HasPrefix(m, "please provide key2"),
		strings.HasPrefix(m, "could not authenticate user"):
		return ErrBadKeys
	case strings.HasPrefix(m, "your account level does not have access"):
		return ErrNoAPIAccess
	case strings.HasPrefix(m, "could not validate access_token"):
		return ErrTokenInvalid
	case m == "please provide the access_token param." && endpoint == "file/upload":
		// api.md 5: a body over the server's post limit arrives empty.
		return ErrValidation
	case strings.HasPrefix(m, "could not find file based on file_id"),
		strings.HasPrefix(m, "could not find folder based on folder_id"),
		m == "failed deleting the folder.":
		return ErrNotFound
	case strings.HasPrefix(m, "could not find the destination folder"):
		// The destination is missing, not the object acted on: callers use
		// ErrNotFound to conclude that the object itself is gone, so this
		// must not be ErrNotFound.
		return ErrValidation
	case strings.HasPrefix(m, "error on: ") && strings.Contains(m, "concurrent upload"):
		// The upload server is busy with the account's other uploads:
		// refused before storing, so safe to repeat later.
		return ErrRateLimited
	case strings.HasPrefix(m, "error uploading file. no response received"),
		strings.HasPrefix(m, "could not generate download url"):
		// The service failed to reach its own upload or file server.
		return ErrTransient
	}
	return ErrValidation
}

// classifyHTTP maps a reply whose HTTP status is not 200, or whose body is
// not JSON, to its class (api.md 3: the application answers 200; other
// codes come from a proxy or CDN in front of it).
func classifyHTTP(status int) error {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusForbidden:
		return ErrRateLimited
	case status >= 500, status == http.StatusRequestTimeout, status == http.StatusOK:
		// A 200 with an HTML body is a captive or proxy page: try again later.
		return ErrTransient
	}
	return ErrValidation
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

// transportError classifies a failure of the HTTP exchange itself and
// strips the request URL, which may carry a download token. When ctx is
// done its error is returned; a timeout of the HTTP client itself is a
// transient failure like any other.
func transportError(ctx context.Context, endpoint string, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &APIError{Endpoint: endpoint, Message: err.Error(), Kind: ErrTransient}
}

// notSent reports whether err proves the request never reached the server,
// so that even a non-idempotent request may be repeated.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// redactor removes secrets from text that may reach an error or a log.
type redactor struct {
	secrets []string
}

var reSecretParam = regexp.MustCompile(`(?i)(access_token|download_token|key1|key2)=[^&\s"']*`)

func (r redactor) clean(s string) string {
	for _, sec := range r.secrets {
		if len(sec) >= 8 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return reSecretParam.ReplaceAllString(s, "$1=[redacted]")
}
