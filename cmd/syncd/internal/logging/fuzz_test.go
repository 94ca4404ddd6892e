package logging

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzScrub: whatever the input, no run of 64 letters and digits and no
// download_token value survives, and scrubbing twice changes nothing more.
func FuzzScrub(f *testing.F) {
	f.Add("GET https://h/2Vv?download_token=c3e6289a23e9819d8663569da96087d0760ccc46d0f3ddbe3f6930b261777067&x=1")
	f.Add(strings.Repeat("k", 63) + "-" + strings.Repeat("k", 64))
	f.Add("key1=" + strings.Repeat("Ab3", 30) + " download_TOKEN=")
	leftToken := regexp.MustCompile(`(?i)download_token=([^&\s"'<>]+)`)
	f.Fuzz(func(t *testing.T, s string) {
		out := Scrub(s)
		if hasLongRun(out) {
			t.Fatalf("a 64-character run survived: %q", out)
		}
		for _, m := range leftToken.FindAllStringSubmatch(out, -1) {
			if !strings.HasPrefix(m[1], Redacted) {
				t.Fatalf("download token %q survived in %q", m[1], out)
			}
		}
		if again := Scrub(out); again != out {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
	})
}
