package logging

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Redacted replaces every secret.
const Redacted = "REDACTED"

var (
	longToken     = regexp.MustCompile(`[A-Za-z0-9]{64,}`)
	downloadToken = regexp.MustCompile(`(?i)(download_token=)[^&\s"'<>]+`)
)

// Scrub returns s with API keys, access tokens and download tokens replaced.
func Scrub(s string) string {
	if len(s) < 16 {
		return s // nothing secret fits
	}
	// The regexps are slow; most log strings hold neither pattern.
	if containsFold(s, "download_token=") {
		s = downloadToken.ReplaceAllString(s, "${1}"+Redacted)
	}
	if hasLongRun(s) {
		s = longToken.ReplaceAllString(s, Redacted)
	}
	return s
}

func hasLongRun(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			run++
			if run >= 64 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// SecretName reports whether a field or object key names a secret.
func SecretName(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	switch n {
	case "key1", "key2", "token", "password", "passwd", "secret", "api_key", "apikey", "authorization":
		return true
	}
	return strings.HasSuffix(n, "token") || strings.HasSuffix(n, "_secret") ||
		strings.HasPrefix(n, "key1") || strings.HasPrefix(n, "key2")
}

// Redact wraps a core so that no secret reaches its encoder.
func Redact(c zapcore.Core) zapcore.Core { return redactCore{c} }

type redactCore struct{ zapcore.Core }

func (c redactCore) With(fs []zapcore.Field) zapcore.Core {
	return redactCore{c.Core.With(redactFields(fs))}
}

func (c redactCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c redactCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	e.Message = Scrub(e.Message)
	return c.Core.Write(e, redactFields(fs))
}

func redactFields(fs []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, len(fs))
	for i, f := range fs {
		out[i] = redactField(f)
	}
	return out
}

func redactField(f zapcore.Field) zapcore.Field {
	if f.Type == zapcore.NamespaceType || f.Type == zapcore.SkipType {
		return f
	}
	if SecretName(f.Key) {
		return zap.String(f.Key, Redacted)
	}
	switch f.Type {
	case zapcore.StringType:
		f.String = Scrub(f.String)
		return f
	case zapcore.ByteStringType, zapcore.BinaryType:
		if b, ok := f.Interface.([]byte); ok {
			return zap.String(f.Key, Scrub(string(b)))
		}
	case zapcore.ErrorType:
		if err, ok := f.Interface.(error); ok && err != nil {
			return zap.String(f.Key, Scrub(err.Error()))
		}
	case zapcore.StringerType:
		if s, ok := f.Interface.(fmt.Stringer); ok && s != nil {
			return zap.String(f.Key, Scrub(safeString(s)))
		}
	case zapcore.ObjectMarshalerType, zapcore.ArrayMarshalerType, zapcore.InlineMarshalerType:
		// Encode into plain maps, then clean those.
		m := zapcore.NewMapObjectEncoder()
		f.AddTo(m)
		if f.Type == zapcore.InlineMarshalerType {
			return zap.Inline(cleanObject(redactValue(m.Fields).(map[string]any)))
		}
		return zap.Any(f.Key, redactValue(m.Fields[f.Key]))
	case zapcore.ReflectType:
		b, err := json.Marshal(f.Interface)
		if err != nil {
			return zap.String(f.Key, Redacted+" (unencodable value)")
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return zap.String(f.Key, Redacted+" (unencodable value)")
		}
		return zap.Any(f.Key, redactValue(v))
	}
	return f
}

func safeString(s fmt.Stringer) (out string) {
	defer func() {
		if recover() != nil {
			out = "<String() panicked>"
		}
	}()
	return s.String()
}

// redactValue cleans a decoded value: secret-named keys are replaced and
// strings scrubbed, at any depth.
func redactValue(v any) any {
	switch t := v.(type) {
	case string:
		return Scrub(t)
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if SecretName(k) {
				out[k] = Redacted
			} else {
				out[k] = redactValue(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = redactValue(x)
		}
		return out
	case []byte:
		return Scrub(string(t))
	}
	return v
}

type cleanObject map[string]any

func (o cleanObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for k, v := range o {
		if err := enc.AddReflected(k, v); err != nil {
			return err
		}
	}
	return nil
}
