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

// newEmulator serves a fresh emulator on loopback for one test.
func newEmulator(t *testing.T, s apitest.Setup) apitest.Target {
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

func TestEmulatorConformance(t *testing.T) {
	apitest.Run(t, newEmulator)
}
