package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/syncd/syncd/cmd/syncd/internal/logging"
	"github.com/syncd/syncd/remote/emulator"
)

// runEmulator serves the File Upload API v2 emulator until ctx is done
// (`syncd emulator`, see CONTRACT.md). Its first stdout line is exactly
// "listening on http://HOST:PORT/api/v2/".
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("syncd emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen       = fs.String("listen", "127.0.0.1:8080", "`ADDR` to listen on (127.0.0.1:0 picks a free port)")
		data         = fs.String("data", "", "`DIR` holding the emulator's metadata and file contents (required)")
		key1         = fs.String("key1", "", "key1 of the account (64 characters; default: the demo keys)")
		key2         = fs.String("key2", "", "key2 of the account (64 characters)")
		accountID    = fs.Int64("account-id", emulator.DemoAccountID, "id of the -key1/-key2 account")
		accountsFile = fs.String("accounts", "", "YAML `FILE` listing accounts (id, username, key1, key2, level_api, can_upload, limits)")
		tokenTTL     = fs.Duration("token-ttl", time.Hour, "idle lifetime of an access token")
		lockout      = fs.Int("lockout", 5, "failed authorizations per IP per 24h before a 24h ban (0 = off)")
		rateLimit    = fs.Float64("rate-limit", 0, "requests per second per account; beyond it HTTP 429 with an HTML body (0 = off)")
		failRate     = fs.Float64("fail-rate", 0, "fraction of requests answered 500/502/503 (0..1)")
		latency      = fs.Duration("latency", 0, "added to every request")
		maxUpload    = fs.Int64("max-upload-size", 0, "package max_upload_size in `BYTES` (0 = unlimited)")
		concUploads  = fs.Int("concurrent-uploads", 0, "package concurrent_uploads (0 = unlimited)")
		storageLimit = fs.Int64("storage-limit", 0, "package max_storage_bytes in `BYTES` (0 = unlimited)")
		ignoreLimits = fs.Bool("ignore-limits", false, "do not enforce package limits on API uploads and downloads (api.md 13)")
		postMax      = fs.Int64("post-max-size", 0, "request body `BYTES` above which the body arrives empty (0 = 2 GiB, -1 = none)")
		numberIDs    = fs.Bool("number-ids", false, "encode ids and sizes as JSON numbers (PHP 8.1+) instead of strings")
		legacyStatus = fs.Bool("legacy-status-key", false, `errors use "status" instead of "_status"`)
		rangeMode    = fs.String("range", "quirky", "Range handling of downloads: quirky, proper or ignored")
		dlName       = fs.Bool("download-url-with-name", false, "append the file name to download URLs")
		seed         = fs.Uint64("seed", 0, "seed for tokens and fault injection (0 = random)")
		logLevel     = fs.String("log-level", "info", "debug, info, warn or error")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "syncd emulator: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *data == "" {
		return usageErr("-data DIR is required")
	}
	mode, ok := emulator.ParseRangeMode(*rangeMode)
	if !ok {
		return usageErr("-range: %q is not quirky, proper or ignored", *rangeMode)
	}
	if *failRate < 0 || *failRate > 1 {
		return usageErr("-fail-rate: %v is not between 0 and 1", *failRate)
	}
	if *rateLimit < 0 || *lockout < 0 || *tokenTTL < 0 || *latency < 0 || *maxUpload < 0 || *concUploads < 0 || *storageLimit < 0 {
		return usageErr("-rate-limit, -lockout, -token-ttl, -latency and the package limits cannot be negative")
	}
	if (*key1 == "") != (*key2 == "") {
		return usageErr("-key1 and -key2 go together")
	}
	if *key1 != "" && len(*key1) != 64 {
		return usageErr("-key1 must be 64 characters, got %d", len(*key1))
	}
	if *key2 != "" && len(*key2) != 64 {
		return usageErr("-key2 must be 64 characters, got %d", len(*key2))
	}

	var accounts []emulator.Account
	if *accountsFile != "" {
		var err error
		if accounts, err = loadEmulatorAccounts(*accountsFile); err != nil {
			return usageErr("-accounts: %v", err)
		}
	}
	if *key1 != "" || len(accounts) == 0 {
		a := emulator.DefaultAccount()
		a.ID = *accountID
		if *key1 != "" {
			a.Key1, a.Key2 = *key1, *key2
			if a.ID != emulator.DemoAccountID {
				a.Username = fmt.Sprintf("user%d", a.ID)
			}
		} else {
			fmt.Fprintf(stderr, "syncd emulator: no -key1/-key2: serving the demo account %d\n  key1: %s\n  key2: %s\n",
				a.ID, a.Key1, a.Key2)
		}
		accounts = append(accounts, a)
	}
	for i := range accounts {
		a := &accounts[i]
		if a.MaxUploadSize == 0 {
			a.MaxUploadSize = *maxUpload
		}
		if a.ConcurrentUploads == 0 {
			a.ConcurrentUploads = *concUploads
		}
		if a.StorageLimit == 0 {
			a.StorageLimit = *storageLimit
		}
	}

	log, err := logging.New(*logLevel, "auto", stderr)
	if err != nil {
		return usageErr("-log-level: %v", err)
	}
	defer log.Sync()

	opts := emulator.Options{
		DataDir:             *data,
		Accounts:            accounts,
		TokenTTL:            *tokenTTL,
		Lockout:             *lockout,
		RateLimit:           *rateLimit,
		FailRate:            *failRate,
		Latency:             *latency,
		IgnoreLimits:        *ignoreLimits,
		PostMaxSize:         *postMax,
		NumberIDs:           *numberIDs,
		LegacyStatusKey:     *legacyStatus,
		RangeMode:           mode,
		DownloadURLWithName: *dlName,
		Seed:                *seed,
		Logger:              log.Named("emulator"),
	}
	if *lockout == 0 {
		opts.Lockout = -1 // the flag's 0 means off; the Options' 0 means the default
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		fmt.Fprintf(stderr, "syncd emulator: -data: %v\n", err)
		return 1
	}
	emu, err := emulator.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "syncd emulator: %v\n", err)
		return 1
	}
	defer emu.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "syncd emulator: -listen: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 30 * time.Second, ErrorLog: zap.NewStdLog(log.Named("http"))}
	fmt.Fprintf(stdout, "listening on http://%s/api/v2/\n", ln.Addr())
	log.Info("emulator serving", zap.String("addr", ln.Addr().String()), zap.String("data", *data),
		zap.Int("accounts", len(accounts)), zap.String("range", mode.String()))

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintf(stderr, "syncd emulator: serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
	}
	<-served
	if err := emu.Close(); err != nil {
		fmt.Fprintf(stderr, "syncd emulator: %v\n", err)
		return 1
	}
	// One "endpoint=count" list (a map field would have its token-named
	// keys redacted by the logger).
	counts := emu.Requests()
	byEndpoint := make([]string, 0, len(counts))
	for _, ep := range slices.Sorted(maps.Keys(counts)) {
		byEndpoint = append(byEndpoint, fmt.Sprintf("%s=%d", ep, counts[ep]))
	}
	log.Info("emulator stopped", zap.String("requests", strings.Join(byEndpoint, " ")))
	return 0
}

// emulatorAccount is one entry of an -accounts file; API access and uploads
// default to allowed.
type emulatorAccount struct {
	ID                   int64         `yaml:"id"`
	Username             string        `yaml:"username"`
	Key1                 string        `yaml:"key1"`
	Key2                 string        `yaml:"key2"`
	LevelAPI             *bool         `yaml:"level_api"`
	CanUpload            *bool         `yaml:"can_upload"`
	MaxUploadSize        int64         `yaml:"max_upload_size"`
	ConcurrentUploads    int           `yaml:"concurrent_uploads"`
	ConcurrentDownloads  int           `yaml:"concurrent_downloads"`
	WaitBetweenDownloads time.Duration `yaml:"wait_between_downloads"`
	DownloadsPer24Hours  int           `yaml:"downloads_per_24_hours"`
	MaxDownloadFileSize  int64         `yaml:"max_download_file_size"`
	StorageLimit         int64         `yaml:"storage_limit"`
}

func loadEmulatorAccounts(path string) ([]emulator.Account, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var list []emulatorAccount
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: no accounts", path)
	}
	out := make([]emulator.Account, 0, len(list))
	for i, e := range list {
		if e.ID <= 0 {
			return nil, fmt.Errorf("%s: account %d: id must be positive", path, i+1)
		}
		if len(e.Key1) != 64 || len(e.Key2) != 64 {
			return nil, fmt.Errorf("%s: account %d: key1 and key2 must be 64 characters", path, e.ID)
		}
		a := emulator.Account{
			ID: e.ID, Username: e.Username, Key1: e.Key1, Key2: e.Key2, LevelAPI: true, CanUpload: true,
			MaxUploadSize: e.MaxUploadSize, ConcurrentUploads: e.ConcurrentUploads, ConcurrentDownloads: e.ConcurrentDownloads,
			WaitBetweenDownloads: e.WaitBetweenDownloads, DownloadsPer24Hours: e.DownloadsPer24Hours,
			MaxDownloadFileSize: e.MaxDownloadFileSize, StorageLimit: e.StorageLimit,
		}
		if a.Username == "" {
			a.Username = fmt.Sprintf("user%d", a.ID)
		}
		if e.LevelAPI != nil {
			a.LevelAPI = *e.LevelAPI
		}
		if e.CanUpload != nil {
			a.CanUpload = *e.CanUpload
		}
		out = append(out, a)
	}
	return out, nil
}
