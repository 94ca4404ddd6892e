package testenv

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/syncd/syncd/remote/emulator"
)

// Endpoint is where clients reach an API handler: one Serve started, or
// one written by hand for a URL another process serves (which has nothing
// to close).
type Endpoint struct {
	// URL is the API's base URL (remote.Config.URL), ending in "/api/v2/".
	URL string
	// HTTPClient carries the clients' requests (remote.Config.HTTPClient);
	// nil: the default transport, over a socket.
	HTTPClient *http.Client

	srv       *httptest.Server // nil in process
	inProcess bool
}

// inProcessURL is the URL of an in-process endpoint: never dialled, as
// emulator.Transport serves every request itself.
const inProcessURL = "http://127.0.0.1:1/api/v2/"

// Serve serves h to clients until Close: on a loopback socket through
// httptest, or with inProcess through emulator.Transport. A
// testing/synctest bubble needs the latter: a goroutine reading a socket is
// not durably blocked, so the bubble's clock would never advance while a
// connection sits idle.
func Serve(h http.Handler, inProcess bool) *Endpoint {
	if inProcess {
		return &Endpoint{URL: inProcessURL, HTTPClient: &http.Client{Transport: emulator.Transport{Handler: h}}, inProcess: true}
	}
	srv := httptest.NewServer(h)
	return &Endpoint{URL: srv.URL + "/api/v2/", srv: srv}
}

// InProcess reports whether the endpoint serves without a socket.
func (e *Endpoint) InProcess() bool { return e.inProcess }

// Close stops serving; an in-process endpoint has nothing to stop. Closing
// again does nothing.
func (e *Endpoint) Close() {
	if e.srv != nil {
		e.srv.Close()
	}
}

// Server is an emulator behind an endpoint.
type Server struct {
	*Endpoint
	Emu *emulator.Server
	// Options are the emulator's, as started.
	Options emulator.Options
	// Account is the account the clients use: the first of
	// Options.Accounts (see FirstAccount).
	Account emulator.Account
}

// EmulatorOptions are the emulator options every harness starts from: data
// in dir, no fsync (a test's data need not survive a power cut) and seed 1
// for the server's own choices (ids, tokens).
func EmulatorOptions(dir string) emulator.Options {
	return emulator.Options{DataDir: dir, NoSync: true, Seed: 1}
}

// FirstAccount is the account a client of an emulator started with o uses:
// the first of o.Accounts, or the emulator's default (demo) account when o
// names none (the emulator then serves that one).
func FirstAccount(o emulator.Options) emulator.Account {
	if len(o.Accounts) > 0 {
		return o.Accounts[0]
	}
	return emulator.DefaultAccount()
}

// NewServer starts an emulator with EmulatorOptions of a fresh temporary
// directory changed by mods, serves it (in process if inProcess, see Serve)
// and closes both when tb's test ends.
func NewServer(tb testing.TB, inProcess bool, mods ...func(*emulator.Options)) *Server {
	tb.Helper()
	opts := EmulatorOptions(tb.TempDir())
	for _, m := range mods {
		m(&opts)
	}
	emu, err := emulator.New(opts)
	if err != nil {
		tb.Fatalf("start emulator: %v", err)
	}
	s := &Server{Endpoint: Serve(emu, inProcess), Emu: emu, Options: opts, Account: FirstAccount(opts)}
	tb.Cleanup(s.Close)
	return s
}

// Close stops serving, then closes the emulator; closing again does
// nothing.
func (s *Server) Close() {
	s.Endpoint.Close()
	s.Emu.Close()
}
