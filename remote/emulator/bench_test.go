package emulator_test

import (
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"

	"github.com/syncd/syncd/remote/emulator"
)

// patternReader yields size bytes of a fixed pattern without allocating, so
// the client side adds no memory of its own to what is measured.
type patternReader struct{ left int64 }

var pattern = func() []byte {
	p := make([]byte, 64<<10)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}()

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p, pattern)
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.left -= int64(n)
	return n, nil
}

func benchServer(b *testing.B) (*httptest.Server, url.Values) {
	b.Helper()
	srv, err := emulator.New(emulator.Options{DataDir: b.TempDir(), NoSync: true, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	b.Cleanup(func() { ts.Close(); srv.Close() })
	resp, err := http.PostForm(ts.URL+"/api/v2/authorize", url.Values{"key1": {emulator.DemoKey1}, "key2": {emulator.DemoKey2}})
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		Data struct {
			AccessToken string `json:"access_token"`
			AccountID   string `json:"account_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		b.Fatal(err)
	}
	return ts, url.Values{"access_token": {m.Data.AccessToken}, "account_id": {m.Data.AccountID}}
}

// streamUpload posts size bytes as a multipart upload without buffering it.
func streamUpload(ts *httptest.Server, auth url.Values, name string, size int64) (map[string]any, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("access_token", auth.Get("access_token"))
		mw.WriteField("account_id", auth.Get("account_id"))
		w, err := mw.CreateFormFile("upload_file", name)
		if err == nil {
			_, err = io.Copy(w, &patternReader{left: size})
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	resp, err := ts.Client().Post(ts.URL+"/api/v2/file/upload", mw.FormDataContentType(), pr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	if m["_status"] != "success" {
		return m, fmt.Errorf("upload: %v", m)
	}
	return m, nil
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

var benchSizes = []struct {
	name string
	size int64
}{{"1MiB", 1 << 20}, {"256MiB", 256 << 20}}

// BenchmarkUpload measures a raw-HTTP upload; B/op and peak RSS stay flat
// from 1 MiB to 256 MiB because the body is streamed to disk.
func BenchmarkUpload(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			ts, auth := benchServer(b)
			b.SetBytes(sz.size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := streamUpload(ts, auth, fmt.Sprintf("f%d.bin", i), sz.size); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(maxRSSMiB(), "peak-RSS-MiB")
		})
	}
}

// BenchmarkDownload measures a raw-HTTP download of an uploaded file.
func BenchmarkDownload(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			ts, auth := benchServer(b)
			m, err := streamUpload(ts, auth, "d.bin", sz.size)
			if err != nil {
				b.Fatal(err)
			}
			id := m["data"].([]any)[0].(map[string]any)["file_id"].(string)
			form := url.Values{"file_id": {id}}
			for k, v := range auth {
				form[k] = v
			}
			resp, err := http.PostForm(ts.URL+"/api/v2/file/download", form)
			if err != nil {
				b.Fatal(err)
			}
			var dm struct {
				Data struct {
					URL string `json:"download_url"`
				} `json:"data"`
			}
			json.NewDecoder(resp.Body).Decode(&dm)
			resp.Body.Close()
			b.SetBytes(sz.size)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				resp, err := ts.Client().Get(dm.Data.URL)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != sz.size {
					b.Fatalf("download: %d bytes, %v", n, err)
				}
			}
			b.ReportMetric(maxRSSMiB(), "peak-RSS-MiB")
		})
	}
}
