package emulator

import (
	"strings"
	"time"

	"go.uber.org/zap"
)

// RangeMode selects how the download host answers a Range header
// (api.md 19, unknown for the live service behind its web server).
type RangeMode int

const (
	// RangeQuirky is the documented behaviour: a range starting at 0 returns
	// 200 and the whole file, except bytes=0-1 which returns the single byte
	// "1"; bytes=N- (or N-M) with N>0 returns a proper 206.
	RangeQuirky RangeMode = iota
	// RangeProper follows RFC 7233 (as http.ServeContent does).
	RangeProper
	// RangeIgnored always returns 200 and the whole file.
	RangeIgnored
)

// ParseRangeMode parses "quirky", "proper" or "ignored".
func ParseRangeMode(s string) (RangeMode, bool) {
	switch strings.ToLower(s) {
	case "quirky", "":
		return RangeQuirky, true
	case "proper", "rfc7233":
		return RangeProper, true
	case "ignored", "ignore", "none":
		return RangeIgnored, true
	}
	return 0, false
}

func (m RangeMode) String() string {
	switch m {
	case RangeProper:
		return "proper"
	case RangeIgnored:
		return "ignored"
	}
	return "quirky"
}

// Account is one account served by the emulator. Zero numeric limits mean
// unlimited, as /account/package reports them. Start from DefaultAccount:
// the zero value has neither API access nor upload permission.
type Account struct {
	ID       int64
	Username string
	Key1     string // exactly 64 characters
	Key2     string // exactly 64 characters
	LevelAPI bool

	MaxUploadSize        int64
	CanUpload            bool
	ConcurrentUploads    int
	ConcurrentDownloads  int
	WaitBetweenDownloads time.Duration
	DownloadsPer24Hours  int
	MaxDownloadFileSize  int64
	StorageLimit         int64 // max_storage_bytes
}

// Demo account keys: public, for `syncd demo`, tests and local trials only.
const (
	DemoAccountID = 158642
	DemoUsername  = "demo"
	DemoKey1      = "demo1key0000000000000000000000000000000000000000000000000000000a"
	DemoKey2      = "demo2key0000000000000000000000000000000000000000000000000000000b"
)

// DefaultAccount returns the demo account: API access, uploads allowed, no
// package limits.
func DefaultAccount() Account {
	return Account{
		ID:        DemoAccountID,
		Username:  DemoUsername,
		Key1:      DemoKey1,
		Key2:      DemoKey2,
		LevelAPI:  true,
		CanUpload: true,
	}
}

// Options configure a Server. Only DataDir is required; Accounts defaults to
// DefaultAccount alone.
type Options struct {
	DataDir  string
	Accounts []Account

	// TokenTTL is the idle lifetime of an access token (0: 1h; negative:
	// never expires). A token never used after /authorize does not expire.
	TokenTTL time.Duration
	// Lockout is the number of failed authorizations per IP within 24h that
	// bans the IP from authorizing for 24h (0: 5; negative: off).
	Lockout int
	// RateLimit is requests per second per account (per IP before one is
	// known); beyond it HTTP 429 with an HTML body and Retry-After. 0: off.
	RateLimit float64
	// FailRate is the fraction of API requests answered 500/502/503 with an
	// HTML body, as a proxy would, without being applied.
	FailRate float64
	// Latency is added to every request.
	Latency time.Duration
	// IgnoreLimits turns off package-limit enforcement on API uploads and
	// downloads (api.md 13: the public code does not check them; the live
	// service may). The zero value enforces them.
	IgnoreLimits bool
	// PostMaxSize is the request body size above which the body arrives empty
	// (api.md 5). 0: 2 GiB; negative: no limit.
	PostMaxSize int64

	// NumberIDs encodes ids, sizes and flags as JSON numbers (PHP 8.1+)
	// instead of strings (api.md 4).
	NumberIDs bool
	// LegacyStatusKey makes error replies use "status" instead of "_status"
	// (api.md 3).
	LegacyStatusKey bool
	// RangeMode selects the download host's Range behaviour (api.md 19).
	RangeMode RangeMode
	// DownloadURLWithName appends "/{filename}" to download URLs (api.md 17).
	DownloadURLWithName bool

	// Now is the clock (default time.Now).
	Now func() time.Time
	// Seed seeds token generation and fault injection (0: random).
	Seed uint64
	// NoSync skips fsync of the metadata file (faster tests; a crash of the
	// machine may lose the last changes).
	NoSync bool
	// Logger receives request and error logs (default: no logging). Keys and
	// tokens are never logged.
	Logger *zap.Logger
}

const (
	defaultTokenTTL    = time.Hour
	defaultLockout     = 5
	defaultPostMaxSize = 2 << 30
	lockoutWindow      = 24 * time.Hour
	downloadTokenTTL   = 24 * time.Hour
)
