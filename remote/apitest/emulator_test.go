package apitest_test

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/apitest"
	"github.com/syncd/syncd/remote/emulator"
)

// fakeClock is the emulator's clock: real time plus what tests advance.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// emulatorFactory serves a fresh emulator on loopback for each test, with
// options changed by mod (the switches for what docs/api.md marks [switch]).
func emulatorFactory(mod func(*emulator.Options)) apitest.Factory {
	return func(t *testing.T, s apitest.Setup) apitest.Target { return newEmulator(t, s, mod) }
}

func newEmulator(t *testing.T, s apitest.Setup, mod func(*emulator.Options)) apitest.Target {
	t.Helper()
	acct := emulator.DefaultAccount()
	l := s.Limits
	acct.MaxUploadSize = l.MaxUploadSize
	acct.ConcurrentUploads = l.ConcurrentUploads
	acct.ConcurrentDownloads = l.ConcurrentDownloads
	acct.WaitBetweenDownloads = l.WaitBetweenDownloads
	acct.DownloadsPer24Hours = l.DownloadsPer24Hours
	acct.MaxDownloadFileSize = l.MaxDownloadFileSize
	acct.StorageLimit = l.MaxStorageBytes
	clock := &fakeClock{}
	srv, err := emulator.New(emulator.Options{
		DataDir:   t.TempDir(),
		Accounts:  []emulator.Account{acct},
		TokenTTL:  s.TokenTTL,
		RateLimit: s.RateLimit,
		Now:       clock.now,
		NoSync:    true,
		Seed:      1,
	})
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("emulator close: %v", err)
		}
	})
	return apitest.Target{
		URL:  hs.URL + "/api/v2/",
		Keys: [2]string{acct.Key1, acct.Key2},
		InjectFault: func(f apitest.Fault) {
			srv.InjectFault(emulator.Fault{Endpoint: f.Endpoint, Count: f.Count, Status: f.Status,
				RetryAfter: f.RetryAfter, DropReply: f.DropReply})
		},
		Advance: clock.advance,
	}
}

// TestEmulatorConformance runs the suite against the emulator as it
// behaves by default (the live service as docs/api.md describes it), then
// with each switch for a point docs/api.md marks [switch]: the client must
// work whichever way the live service turns out to be.
func TestEmulatorConformance(t *testing.T) {
	variants := []struct {
		name string
		mod  func(*emulator.Options)
	}{
		{"default", nil},
		{"number-ids", func(o *emulator.Options) { o.NumberIDs = true }},
		{"legacy-status-key", func(o *emulator.Options) { o.LegacyStatusKey = true }},
		{"range-proper", func(o *emulator.Options) { o.RangeMode = emulator.RangeProper }},
		{"range-ignored", func(o *emulator.Options) { o.RangeMode = emulator.RangeIgnored }},
		{"download-url-with-name", func(o *emulator.Options) { o.DownloadURLWithName = true }},
		{"limits-not-enforced", func(o *emulator.Options) { o.IgnoreLimits = true }},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			if v.mod != nil && testing.Short() {
				t.Skip("variants skipped in -short")
			}
			apitest.Run(t, emulatorFactory(v.mod))
		})
	}
}
