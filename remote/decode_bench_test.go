package remote

import (
	"fmt"
	"strings"
	"testing"
)

// listingBody is a folder listing of n files as the service sends it
// (older PHP: every scalar a string).
func listingBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"data":{"folders":[],"files":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%d","filename":"f%06d.txt","shortUrl":"x%d","fileSize":"12","status":"active","downloads":"0","folderId":"77","url_file":"https:\/\/h\/x%d\/f%06d.txt","date_added":"2026-11-28 10:00:00"}`, 5000+i, i, i, i, i)
	}
	b.WriteString(`]},"_status":"success","_datetime":"2026-11-28 10:00:00"}`)
	return []byte(b.String())
}

// BenchmarkDecodeListing1000: one folder listing of 1,000 files, from the
// body to Files. A no-change pass at 100,000 files decodes a hundred.
func BenchmarkDecodeListing1000(b *testing.B) {
	body := listingBody(1000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := decodeEnvelope(body)
		if err != nil {
			b.Fatal(err)
		}
		l, err := decodeListing(env)
		if err != nil || len(l.Files) != 1000 {
			b.Fatalf("%d files, %v", len(l.Files), err)
		}
	}
}
