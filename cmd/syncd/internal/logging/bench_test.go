package logging

import (
	"io"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// BenchmarkLog compares a typical engine log line with and without the
// redacting core, to keep its cost visible.
func BenchmarkLog(b *testing.B) {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	plain := zapcore.NewCore(enc, zapcore.AddSync(io.Discard), zapcore.InfoLevel)
	for _, bc := range []struct {
		name string
		core zapcore.Core
	}{{"plain", plain}, {"redacted", Redact(plain)}} {
		b.Run(bc.name, func(b *testing.B) {
			l := zap.New(bc.core)
			b.ReportAllocs()
			for b.Loop() {
				l.Info("uploaded", zap.String("path", "/srv/data/photos/2024/IMG_0001.jpg"),
					zap.String("remote_id", "1253"), zap.Int64("size", 149084), zap.Error(io.ErrUnexpectedEOF))
			}
		})
	}
}
