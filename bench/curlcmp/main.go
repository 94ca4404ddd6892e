//go:build unix

// Command curlcmp measures upload and download throughput of remote.Client
// against curl on the same emulator in the same run, alternating rounds so
// that both see the same machine state. It prints one line per round and a
// summary with the client/curl ratio and this process's peak RSS (the
// client's memory: curl and the emulator run in their own processes).
package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
)

func main() {
	api := flag.String("url", "", "emulator API base URL (loopback)")
	size := flag.Int64("size", 256<<20, "file size in bytes")
	rounds := flag.Int("rounds", 3, "rounds per tool")
	dir := flag.String("dir", os.TempDir(), "directory for the test file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the client to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*api, *size, *rounds, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "curlcmp:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(api string, size int64, rounds int, dir string) error {
	ctx := context.Background()
	path, sum, err := makeFile(dir, size)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	c, err := remote.New(remote.Config{URL: api, Key1: emulator.DemoKey1, Key2: emulator.DemoKey2})
	if err != nil {
		return err
	}
	if _, err := c.Package(ctx); err != nil {
		return err
	}
	var curlUp, clientUp, curlDown, clientDown []float64
	var lastID remote.ID
	var rawDown []float64
	var md5Time []time.Duration
	for i := range rounds {
		// Alternate who goes first, so that neither always pays for the
		// other's dirty pages being written back.
		var upCurl, upClient, downCurl, downClient float64
		var curlID string
		curlUp1 := func() error {
			d, id, err := curlUpload(api, path, size)
			if err != nil {
				return fmt.Errorf("curl upload: %w", err)
			}
			upCurl, curlID = mbps(size, d), id
			return nil
		}
		clientUp1 := func() error {
			start := time.Now()
			f, err := c.Upload(ctx, remote.UploadRequest{Name: fmt.Sprintf("client-%d.bin", i), Size: size,
				Open: func() (io.ReadCloser, error) { return os.Open(path) }, KnownIDs: func(remote.ID) bool { return false }})
			if err != nil {
				return fmt.Errorf("client upload: %w", err)
			}
			upClient = mbps(size, time.Since(start))
			if f.MD5 != sum {
				return fmt.Errorf("client upload md5 %s, want %s", f.MD5, sum)
			}
			lastID = f.ID
			return nil
		}
		curlDown1 := func() error {
			d, err := curlDownload(api, curlID, size)
			if err != nil {
				return fmt.Errorf("curl download: %w", err)
			}
			downCurl = mbps(size, d)
			return nil
		}
		clientDown1 := func() error {
			start := time.Now()
			if _, err := c.Download(ctx, remote.DownloadRequest{ID: lastID, Size: size, MD5: sum}, io.Discard); err != nil {
				return fmt.Errorf("client download: %w", err)
			}
			downClient = mbps(size, time.Since(start))
			return nil
		}
		rawDown1 := func() error {
			start := time.Now()
			if _, err := c.Download(ctx, remote.DownloadRequest{ID: lastID, Size: size}, io.Discard); err != nil {
				return fmt.Errorf("client download: %w", err)
			}
			rawDown = append(rawDown, mbps(size, time.Since(start)))
			return nil
		}
		md5sum1 := func() error {
			start := time.Now()
			if err := exec.Command("md5sum", path).Run(); err != nil {
				return fmt.Errorf("md5sum: %w", err)
			}
			md5Time = append(md5Time, time.Since(start))
			return nil
		}
		steps := []func() error{curlUp1, clientUp1, curlDown1, clientDown1, rawDown1, md5sum1}
		if i%2 == 1 {
			steps = []func() error{md5sum1, clientUp1, curlUp1, rawDown1, clientDown1, curlDown1}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		curlUp, clientUp = append(curlUp, upCurl), append(clientUp, upClient)
		curlDown, clientDown = append(curlDown, downCurl), append(clientDown, downClient)
		fmt.Printf("round %d: upload curl %.0f MB/s client %.0f MB/s | download curl %.0f MB/s client %.0f MB/s (MD5 checked)\n",
			i+1, upCurl, upClient, downCurl, downClient)
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	// The client hashes every byte (the API's only integrity check); curl
	// does not. "curl+md5sum" adds the time md5sum takes on the same file:
	// the same work done by the two tools in sequence.
	bestMD5 := md5Time[0]
	for _, d := range md5Time {
		bestMD5 = min(bestMD5, d)
	}
	plus := func(curl float64) float64 {
		return mbps(size, time.Duration(float64(size)/1e6/curl*float64(time.Second))+bestMD5)
	}
	fmt.Printf("size %d MiB, best of %d rounds (MB/s):\n", size>>20, rounds)
	fmt.Printf("  upload:   curl %.0f, curl+md5sum %.0f, client (MD5 while streaming) %.0f: ratio %.2f vs curl, %.2f vs curl+md5sum\n",
		best(curlUp), plus(best(curlUp)), best(clientUp), best(clientUp)/best(curlUp), best(clientUp)/plus(best(curlUp)))
	fmt.Printf("  download: curl %.0f, curl+md5sum %.0f, client without MD5 %.0f (ratio %.2f), client with MD5 check %.0f (ratio %.2f vs curl+md5sum)\n",
		best(curlDown), plus(best(curlDown)), best(rawDown), best(rawDown)/best(curlDown), best(clientDown), best(clientDown)/plus(best(curlDown)))
	fmt.Printf("  client peak RSS %.1f MiB\n", float64(ru.Maxrss)/1024)
	return nil
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func best(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func makeFile(dir string, size int64) (string, string, error) {
	f, err := os.CreateTemp(dir, "curlcmp-*.bin")
	if err != nil {
		return "", "", err
	}
	h := md5.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.NewChaCha8([32]byte{3}), size); err != nil {
		f.Close()
		return "", "", err
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), f.Close()
}

// authorize gets a token for curl with plain HTTP (it invalidates the
// client's token; the client re-authorizes by itself, outside the timing
// of the transfer body).
func authorize(api string) (token, account string, err error) {
	resp, err := http.PostForm(api+"authorize", url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}})
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Token   string          `json:"access_token"`
			Account json.RawMessage `json:"account_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", "", err
	}
	return r.Data.Token, strings.Trim(string(r.Data.Account), `"`), nil
}

func curlUpload(api, path string, size int64) (time.Duration, string, error) {
	tok, acct, err := authorize(api)
	if err != nil {
		return 0, "", err
	}
	start := time.Now()
	out, err := exec.Command("curl", "-sS", "-F", "access_token="+tok, "-F", "account_id="+acct,
		"-F", "upload_file=@"+path+";filename="+filepath.Base(path), api+"file/upload").Output()
	d := time.Since(start)
	if err != nil {
		return 0, "", err
	}
	var r struct {
		Data []struct {
			ID   json.RawMessage `json:"file_id"`
			Size json.RawMessage `json:"size"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Data) == 0 {
		return 0, "", fmt.Errorf("reply %.200s", out)
	}
	if got := strings.Trim(string(r.Data[0].Size), `"`); got != fmt.Sprint(size) {
		return 0, "", fmt.Errorf("stored size %s, want %d", got, size)
	}
	return d, strings.Trim(string(r.Data[0].ID), `"`), nil
}

func curlDownload(api, id string, size int64) (time.Duration, error) {
	tok, acct, err := authorize(api)
	if err != nil {
		return 0, err
	}
	resp, err := http.PostForm(api+"file/download", url.Values{"access_token": {tok}, "account_id": {acct}, "file_id": {id}})
	if err != nil {
		return 0, err
	}
	var r struct {
		Data struct {
			URL string `json:"download_url"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil || r.Data.URL == "" {
		return 0, fmt.Errorf("no download url: %v", err)
	}
	start := time.Now()
	out, err := exec.Command("curl", "-sS", "-L", "-o", "/dev/null", "-w", "%{size_download}", r.Data.URL).Output()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if strings.TrimSpace(string(out)) != fmt.Sprint(size) {
		return 0, fmt.Errorf("curl downloaded %s bytes, want %d", out, size)
	}
	return d, nil
}
