package emulator

import (
	"fmt"
	"net/http"
	"net/http/httptest"
)

// Transport carries a client's requests to Handler in-process, as a server
// would receive them, with no socket: what tests need inside a
// testing/synctest bubble, where a real connection's reads are not
// durably blocking and so would stall the bubble's clock. Each request is
// served whole before its response is returned (downloads are buffered).
// RemoteAddr is the caller's address the handler sees (default
// 127.0.0.1:40000).
type Transport struct {
	Handler    http.Handler
	RemoteAddr string
}

// RoundTrip implements http.RoundTripper. A request whose context has
// ended is not served, as a transport would not send it.
func (t Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	if err := r.Context().Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Method, r.URL, err)
	}
	in := r.Clone(r.Context())
	in.Host, in.RemoteAddr, in.RequestURI = r.URL.Host, t.RemoteAddr, r.URL.RequestURI()
	if in.RemoteAddr == "" {
		in.RemoteAddr = "127.0.0.1:40000"
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.Handler.ServeHTTP(rec, in)
	res := rec.Result()
	res.Request = r
	return res, nil
}
