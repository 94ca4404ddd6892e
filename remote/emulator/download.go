package emulator

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

const msgBadDownloadToken = "Download token has expired or is invalid. Please request a new download link."

// serveDownload serves {dlPrefix}{shortUrl}[/{name}]?download_token=T. Every
// refusal is a 302 to the HTML error page, as the site answers (api.md 18).
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, drop bool) {
	rest := strings.TrimPrefix(r.URL.Path, dlPrefix)
	short, _, _ := strings.Cut(rest, "/") // the name part, if any, is decoration
	tok := r.URL.Query().Get("download_token")
	now := s.now()

	s.mu.Lock()
	t := s.dlTokens[tok]
	var f *fileRec
	if t != nil && now.Before(t.Expires) {
		if ff := s.files[t.FileID]; ff != nil && ff.ShortURL == short {
			f = ff
		}
	}
	if f == nil {
		s.mu.Unlock()
		redirectError(w, r, msgBadDownloadToken)
		return
	}
	if reason := s.downloadRefusal(f, now); reason != "" {
		s.mu.Unlock()
		redirectError(w, r, reason)
		return
	}
	acct := f.Account
	s.downloadsActive[acct]++
	s.downloadTimes[acct] = append(s.downloadTimes[acct], now)
	f.Downloads++
	f.LastAccessed = now
	if err := s.persist(putFile(f)); err != nil {
		s.log.Error("download count", zap.Int64("file", f.ID), zap.Error(err))
	}
	blob, name, ctype, size := s.blobPath(f.Blob), f.Name, f.FileType, f.Size
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.downloadsActive[acct]--
		s.mu.Unlock()
	}()
	if drop {
		panic(http.ErrAbortHandler)
	}

	fh, err := os.Open(blob)
	if err != nil {
		s.log.Error("download open", zap.String("blob", blob), zap.Error(err))
		htmlError(w, http.StatusInternalServerError, "Internal Server Error", 0)
		return
	}
	defer fh.Close()
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(name, `"`, "")+`"`)
	switch s.opts.RangeMode {
	case RangeProper:
		http.ServeContent(w, r, "", time.Time{}, fh)
	case RangeIgnored:
		serveWhole(w, r, fh, size)
	default:
		serveQuirky(w, r, fh, size)
	}
}

// downloadRefusal applies the package's download limits. Called with s.mu held.
func (s *Server) downloadRefusal(f *fileRec, now time.Time) string {
	a := s.accounts[f.Account]
	if s.opts.IgnoreLimits || a == nil {
		return ""
	}
	times := s.downloadTimes[a.ID]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= 24*time.Hour {
		i++
	}
	times = times[i:]
	s.downloadTimes[a.ID] = times
	switch {
	case a.MaxDownloadFileSize > 0 && f.Size > a.MaxDownloadFileSize:
		return "You must upgrade your account to download files of this size."
	case a.ConcurrentDownloads > 0 && s.downloadsActive[a.ID] >= a.ConcurrentDownloads:
		return "You have reached the maximum concurrent downloads. Please wait for your existing downloads to complete."
	case a.DownloadsPer24Hours > 0 && len(times) >= a.DownloadsPer24Hours:
		return "You have reached the maximum permitted downloads in the last 24 hours."
	case a.WaitBetweenDownloads > 0 && len(times) > 0 && now.Sub(times[len(times)-1]) < a.WaitBetweenDownloads:
		wait := a.WaitBetweenDownloads - now.Sub(times[len(times)-1])
		return fmt.Sprintf("You must wait %d seconds between downloads.", int(wait.Seconds()+0.999))
	}
	return ""
}

func redirectError(w http.ResponseWriter, r *http.Request, msg string) {
	u := errorPath + "?e=" + url.QueryEscape(msg)
	w.Header().Set("Location", u)
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusFound)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, "<html><body>Redirecting to <a href=\"%s\">%s</a></body></html>\n", html.EscapeString(u), html.EscapeString(u))
	}
}

func (s *Server) serveErrorPage(w http.ResponseWriter, r *http.Request) {
	msg := r.URL.Query().Get("e")
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>Error</title></head><body><h1>Error</h1><p>%s</p></body></html>\n", html.EscapeString(msg))
	}
}

func serveWhole(w http.ResponseWriter, r *http.Request, f io.Reader, size int64) {
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, f)
	}
}

// serveQuirky reproduces the script's Range handling (api.md 19): only a
// single range starting above 0 is honoured with a 206; one starting at 0 is
// the whole file, except "bytes=0-1", which yields the single byte "1".
func serveQuirky(w http.ResponseWriter, r *http.Request, f io.ReadSeeker, size int64) {
	start, end, ok := parseSingleRange(r.Header.Get("Range"))
	if !ok || start == 0 {
		if ok && start == 0 && end == 1 {
			w.Header().Set("Content-Length", "1")
			w.WriteHeader(http.StatusOK)
			if r.Method != http.MethodHead {
				io.WriteString(w, "1")
			}
			return
		}
		serveWhole(w, r, f, size)
		return
	}
	if end < 0 || end >= size {
		end = size - 1
	}
	if start >= size || start > end {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	n := end - start + 1
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.Header().Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusPartialContent)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return
	}
	io.CopyN(w, f, n)
}

// parseSingleRange parses "bytes=S-" or "bytes=S-E" (end -1 when open).
func parseSingleRange(h string) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found || a == "" {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	end = -1
	if b = strings.TrimSpace(b); b != "" {
		end, err = strconv.ParseInt(b, 10, 64)
		if err != nil {
			return 0, 0, false
		}
	}
	return start, end, true
}
