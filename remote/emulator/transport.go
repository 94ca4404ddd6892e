package emulator

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
)

// Transport carries a client's requests to Handler in-process, as a server
// would receive them, with no socket: what tests need inside a
// testing/synctest bubble, where a real connection's reads are not
// durably blocking and so would stall the bubble's clock. Each request is
// served whole before its response is returned (downloads are buffered).
// RemoteAddr is the caller's address the handler sees (default
// 127.0.0.1:40000). A handler that aborts (panic(http.ErrAbortHandler): a
// DropReply fault) is a reply lost after the server acted: RoundTrip then
// fails with io.ErrUnexpectedEOF, as a connection closed under it would.
type Transport struct {
	Handler    http.Handler
	RemoteAddr string
}

// RoundTrip implements http.RoundTripper. A request whose context has
// ended is not served, as a transport would not send it.
func (t Transport) RoundTrip(r *http.Request) (res *http.Response, err error) {
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
	if aborted := serve(t.Handler, rec, in); aborted {
		return nil, fmt.Errorf("%s %s: the server closed the connection without a reply: %w", r.Method, r.URL, io.ErrUnexpectedEOF)
	}
	res = rec.Result()
	res.Request = r
	return res, nil
}

// serve runs h and reports whether it aborted with http.ErrAbortHandler
// (any other panic goes on).
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, r)
	return false
}
