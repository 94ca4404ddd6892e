// Package apitest owns the conformance suite of the File Upload API v2: the
// behaviour docs/api.md describes (the published API and the live service
// beyond it), exercised through the real remote.Client against
// any implementation — the emulator in this repository's tests, a staging
// service by hand. It checks the implementation as much as the client.
//
// The suite knows implementations only through Target: a base URL, a key
// pair and optional hooks (fault injection, a clock). Tests that need a
// hook the target lacks are skipped, never faked.
package apitest

import (
	"net/http"
	"testing"
	"time"

	"github.com/syncd/syncd/remote"
)

// Target is one running implementation of the API for one test.
type Target struct {
	URL  string    // base, e.g. http://127.0.0.1:PORT/api/v2/
	Keys [2]string // key1, key2 of the account Setup asked for
	// HTTPClient, optional, is used for every client the suite makes.
	HTTPClient *http.Client

	// InjectFault, optional, makes the next matching requests fail.
	InjectFault func(Fault)
	// Advance, optional, moves the server's clock forward (idle token
	// expiry).
	Advance func(time.Duration)
}

// Fault is a failure the target injects on purpose.
type Fault struct {
	// Endpoint is an API endpoint ("file/upload"), "dl" for the download
	// host, or "" for any request.
	Endpoint string
	Count    int // requests affected (0 means 1)
	// Status answers with this HTTP status and an HTML body, without
	// applying the request (a proxy's 429 or 5xx).
	Status     int
	RetryAfter time.Duration
	// DropReply applies the request, then cuts the connection: a lost reply.
	DropReply bool
}

// Setup is what a test asks of the account behind a Target.
type Setup struct {
	// Limits are the account's package limits; the zero value means no
	// limits (CanUpload is implied true).
	Limits remote.Limits
	// TokenTTL is the idle token lifetime; 0 means the service's hour.
	TokenTTL time.Duration
	// RateLimit, when > 0, asks for a proxy in front of the service that
	// answers HTTP 429 beyond this many requests per second. A Factory that
	// cannot provide one skips the test.
	RateLimit float64
}

// Factory starts a fresh implementation for one test with an empty account
// configured as s asks, or skips the test when it cannot.
type Factory func(t *testing.T, s Setup) Target

// Run runs the whole suite; each subtest gets a fresh Target.
func Run(t *testing.T, newTarget Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newTarget Factory)
	}{
		{"AccountAndPackage", testAccountAndPackage},
		{"BadKeysNeverLockOut", testBadKeys},
		{"Folders", testFolders},
		{"FolderMoveIntoOwnSubtreeRefused", testFolderCycle},
		{"FolderDeleteTrashesSubtree", testFolderDelete},
		{"UploadAndList", testUploadAndList},
		{"UploadDuplicateNamesRenamedBack", testUploadDuplicates},
		{"UploadSanitisedNamesRenamedBack", testUploadSanitised},
		{"UploadRefusedLocally", testUploadRefused},
		{"UploadIntoMissingFolder", testUploadMissingFolder},
		{"FileMoveCopyRenameDelete", testFileOps},
		{"DownloadAndResume", testDownload},
		{"DownloadTrashedFile", testDownloadTrashed},
		{"DownloadLimits", testDownloadLimits},
		{"ConcurrencyLimits", testConcurrencyLimits},
		{"TokenInvalidatedBySecondClient", testSecondClient},
		{"TokenIdleExpiry", testIdleExpiry},
		{"CloseThenReuse", testClose},
		{"RateLimitedAndServerErrorsRetried", testFaultsRetried},
		{"AdaptsToServerRateLimit", testAdaptiveRate},
		{"LostUploadReplyMakesNoDuplicate", testLostUploadReply},
		{"LostDownloadResumed", testLostDownload},
		{"SecretsNeverLeak", testSecretsNeverLeak},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newTarget) })
	}
}
