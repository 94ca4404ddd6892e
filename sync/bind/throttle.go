package bind

import (
	"context"
	"io"

	"golang.org/x/time/rate"
)

// NewLimiter returns a bandwidth limiter for bytesPerSecond (nil when 0:
// unlimited). One limiter per direction is shared by every pair, so the
// configured figure bounds the whole daemon.
func NewLimiter(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := int(min(bytesPerSecond, 256<<10))
	return rate.NewLimiter(rate.Limit(bytesPerSecond), burst)
}

// throttledReader paces reads through a limiter.
type throttledReader struct {
	ctx context.Context
	r   io.ReadCloser
	l   *rate.Limiter
}

func (t throttledReader) Read(p []byte) (int, error) {
	if len(p) > t.l.Burst() {
		p = p[:t.l.Burst()]
	}
	n, err := t.r.Read(p)
	if n > 0 {
		if werr := t.l.WaitN(t.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (t throttledReader) Close() error { return t.r.Close() }

// throttledWriter paces writes through a limiter.
type throttledWriter struct {
	ctx context.Context
	w   io.Writer
	l   *rate.Limiter
}

func (t throttledWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), t.l.Burst())]
		if err := t.l.WaitN(t.ctx, len(chunk)); err != nil {
			return written, err
		}
		n, err := t.w.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(chunk):]
	}
	return written, nil
}
