// Package logging owns how syncd builds its zap logger: console lines for a
// person at a terminal, JSON for a service manager's journal, and a core that
// redacts secrets before any encoder sees them.
//
// Redaction is structural, not best effort on the output bytes: a field whose
// name looks like a secret (key1, key2, token, access_token, download_token,
// password, secret, ...) is replaced by "REDACTED" whatever its type, and in
// every other string (the message, string fields, errors, Stringers, and the
// strings nested in objects, arrays and reflected values) each run of 64 or
// more letters and digits — an API key, an access token — and the value of a
// download_token= query parameter becomes "REDACTED". A 64-digit hex content
// hash is therefore redacted too: a small loss, never a leak.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Settings select the logger New builds.
type Settings struct {
	Level  string    // debug, info, warn, error; "" means info
	Format string    // auto, console, json; "" means auto
	Out    io.Writer // where log lines go, normally stderr
	// Terminal and Service decide what "auto" means: console when Out is a
	// terminal and no service manager started the process, JSON otherwise.
	Terminal bool
	Service  bool
}

// New builds the daemon's logger writing to stderr. Format "auto" picks
// console encoding when stderr is a terminal and JSON under a service
// manager (INVOCATION_ID or JOURNAL_STREAM set) or when stderr is not a
// terminal.
func New(level, format string, stderr io.Writer) (*zap.Logger, error) {
	return Build(Settings{
		Level:    level,
		Format:   format,
		Out:      stderr,
		Terminal: IsTerminal(stderr),
		Service:  UnderServiceManager(os.Getenv),
	})
}

// UnderServiceManager reports whether systemd (or a manager imitating it)
// started the process.
func UnderServiceManager(getenv func(string) string) bool {
	return getenv("INVOCATION_ID") != "" || getenv("JOURNAL_STREAM") != ""
}

// IsTerminal reports whether w is a character device such as a terminal. It
// is a portable approximation: /dev/null is a character device too, which
// only means console encoding for output nobody reads.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Build is New with every input explicit.
func Build(s Settings) (*zap.Logger, error) {
	var lvl zapcore.Level
	switch strings.ToLower(s.Level) {
	case "", "info":
		lvl = zapcore.InfoLevel
	case "debug":
		lvl = zapcore.DebugLevel
	case "warn", "warning":
		lvl = zapcore.WarnLevel
	case "error":
		lvl = zapcore.ErrorLevel
	default:
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", s.Level)
	}
	format := strings.ToLower(s.Format)
	switch format {
	case "", "auto":
		format = "json"
		if s.Terminal && !s.Service {
			format = "console"
		}
	case "console", "json":
	default:
		return nil, fmt.Errorf("log format %q: want auto, console or json", s.Format)
	}
	if s.Out == nil {
		return nil, fmt.Errorf("log output is nil")
	}

	var enc zapcore.Encoder
	if format == "console" {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		ec.EncodeCaller = nil
		ec.CallerKey = ""
		if s.Terminal {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.TimeKey = "ts"
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		ec.EncodeDuration = zapcore.StringDurationEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(s.Out)), lvl)
	return zap.New(Redact(core), zap.ErrorOutput(zapcore.Lock(zapcore.AddSync(s.Out)))), nil
}
