package bind

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// The limiter paces both directions at the configured rate (fake clock).
func TestThrottleHoldsTheRate(t *testing.T) {
	const rate = 256 << 10
	payload := bytes.Repeat([]byte("x"), 4*rate)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var out bytes.Buffer
		w := throttledWriter{ctx: context.Background(), w: &out, l: NewLimiter(rate)}
		if _, err := w.Write(payload); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got < 3*time.Second || got > 5*time.Second {
			t.Fatalf("4 s of data at the limit took %s", got)
		}
		if !bytes.Equal(out.Bytes(), payload) {
			t.Fatal("throttled writer changed the data")
		}

		start = time.Now()
		r := throttledReader{ctx: context.Background(), r: io.NopCloser(bytes.NewReader(payload)), l: NewLimiter(rate)}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 3*time.Second || d > 5*time.Second {
			t.Fatalf("reading 4 s of data at the limit took %s", d)
		}
		if !bytes.Equal(got, payload) {
			t.Fatal("throttled reader changed the data")
		}
	})
}

func TestNoLimitMeansNil(t *testing.T) {
	if NewLimiter(0) != nil {
		t.Fatal("0 must mean unlimited")
	}
}
