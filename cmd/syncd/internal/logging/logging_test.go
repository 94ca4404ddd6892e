package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

var (
	key   = "Abcdefghij0123456789abcdefghij0123456789ABCDEFGHIJ0123456789wxyz" // 64
	token = strings.Repeat("lGoVSof0VRwq1Gaza8fO", 6) + "abcdefgh"             // 128
	dl    = "c3e6289a23e9819d8663569da96087d0760ccc46d0f3ddbe3f6930b261777067"
	short = "tok3n"
)

type creds struct {
	Key1  string
	Token string `json:"access_token"`
	URL   string
	Inner struct{ Password string }
}

type objWithSecrets struct{ user, key2 string }

func (o objWithSecrets) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("user", o.user)
	enc.AddString("key2", o.key2)
	return nil
}

type stringer string

func (s stringer) String() string { return "stringer " + string(s) }

func jsonLogger(t *testing.T, buf *bytes.Buffer) *zap.Logger {
	t.Helper()
	l, err := Build(Settings{Level: "debug", Format: "json", Out: buf})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestRedactsSecrets logs every way a secret could travel and checks that
// none of them appears in the output, while ordinary values survive.
func TestRedactsSecrets(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := Build(Settings{Level: "debug", Format: format, Out: &buf})
			if err != nil {
				t.Fatal(err)
			}
			dlURL := "http://h/2Vv?download_token=" + dl + "&x=1"
			c := creds{Key1: key, Token: token, URL: dlURL}
			c.Inner.Password = short
			l = l.With(zap.String("key2", short), zap.String("ctx", "k="+key))
			l.Info("authorize with "+key,
				zap.String("key1", short),
				zap.String("access_token", short),
				zap.String("Download-Token", short),
				zap.Int("token", 987654321),
				zap.String("url", dlURL),
				zap.String("body", `{"data":{"access_token":"`+token+`"}}`),
				zap.ByteString("raw", []byte("key1="+key)),
				zap.Error(&url.Error{Op: "Get", URL: dlURL, Err: errors.New("timeout")}),
				zap.Stringer("s", stringer(token)),
				zap.Any("creds", c),
				zap.Object("obj", objWithSecrets{user: "bob", key2: short}),
				zap.Strings("list", []string{"ok", key}),
				zap.Inline(objWithSecrets{user: "inline", key2: short}),
				zap.String("path", "/srv/data/report.pdf"),
			)
			l.Named("sub").Debug("download", zap.String("u", "https://h/f?a=b&download_token="+short))
			out := buf.String()
			for _, secret := range []string{key, token, dl, short, "987654321"} {
				if strings.Contains(out, secret) {
					t.Errorf("secret %q leaked:\n%s", secret, out)
				}
			}
			for _, keep := range []string{"/srv/data/report.pdf", "bob", "inline", "timeout", "download_token=" + Redacted + "&x=1", "authorize with " + Redacted, `"ok"`} {
				if !strings.Contains(out, keep) {
					t.Errorf("output lost %q:\n%s", keep, out)
				}
			}
			if n := strings.Count(out, Redacted); n < 15 {
				t.Errorf("only %d redactions:\n%s", n, out)
			}
		})
	}
}

func TestJSONStaysValid(t *testing.T) {
	var buf bytes.Buffer
	l := jsonLogger(t, &buf)
	l.Warn("x", zap.Any("creds", creds{Key1: key}), zap.Object("o", objWithSecrets{user: "u", key2: key}))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if m["level"] != "warn" || m["msg"] != "x" || m["ts"] == nil {
		t.Errorf("fields: %v", m)
	}
	if got := m["creds"].(map[string]any)["Key1"]; got != Redacted {
		t.Errorf("creds.Key1 = %v", got)
	}
	if got := m["o"].(map[string]any)["key2"]; got != Redacted {
		t.Errorf("o.key2 = %v", got)
	}
}

func TestScrub(t *testing.T) {
	tests := map[string]string{
		"short":                            "short",
		"key " + key + " end":              "key REDACTED end",
		"a" + strings.Repeat("b", 63):      Redacted,
		strings.Repeat("b", 63):            strings.Repeat("b", 63), // too short to be a key
		"?download_token=abc&b=c":          "?download_token=REDACTED&b=c",
		"DOWNLOAD_TOKEN=abc def":           "DOWNLOAD_TOKEN=REDACTED def",
		"md5 2f4105bc2c626232544275c2d890": "md5 2f4105bc2c626232544275c2d890",
	}
	for in, want := range tests {
		if got := Scrub(in); got != want {
			t.Errorf("Scrub(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecretName(t *testing.T) {
	for _, n := range []string{"key1", "KEY2", "token", "access_token", "download_token", "downloadToken", "Download-Token", "key1_file_content", "password"} {
		if !SecretName(n) {
			t.Errorf("%q not treated as secret", n)
		}
	}
	for _, n := range []string{"path", "key", "keys", "file_id", "tokens_left", "url"} {
		if SecretName(n) {
			t.Errorf("%q treated as secret", n)
		}
	}
}

func TestFormatSelection(t *testing.T) {
	tests := []struct {
		format             string
		terminal, service  bool
		wantJSON, wantFail bool
	}{
		{"auto", true, false, false, false},
		{"", true, false, false, false},
		{"auto", true, true, true, false},
		{"auto", false, false, true, false},
		{"console", false, true, false, false},
		{"json", true, false, true, false},
		{"xml", true, false, false, true},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		l, err := Build(Settings{Format: tc.format, Terminal: tc.terminal, Service: tc.service, Out: &buf})
		if tc.wantFail {
			if err == nil {
				t.Errorf("%+v: accepted", tc)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		l.Info("hello", zap.String("k", "v"))
		isJSON := json.Valid(bytes.TrimSpace(buf.Bytes()))
		if isJSON != tc.wantJSON {
			t.Errorf("%+v: JSON=%v: %s", tc, isJSON, buf.String())
		}
	}
}

func TestLevels(t *testing.T) {
	for _, tc := range []struct {
		level string
		want  []string
	}{
		{"debug", []string{"d", "i", "w", "e"}},
		{"", []string{"i", "w", "e"}},
		{"warn", []string{"w", "e"}},
		{"error", []string{"e"}},
	} {
		var buf bytes.Buffer
		l, err := Build(Settings{Level: tc.level, Format: "json", Out: &buf})
		if err != nil {
			t.Fatal(err)
		}
		l.Debug("d")
		l.Info("i")
		l.Warn("w")
		l.Error("e")
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(m["msg"]))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("level %q logged %v, want %v", tc.level, got, tc.want)
		}
	}
	if _, err := Build(Settings{Level: "loud", Out: &bytes.Buffer{}}); err == nil {
		t.Error("accepted level loud")
	}
}

func TestDetection(t *testing.T) {
	if !UnderServiceManager(func(k string) string { return map[string]string{"INVOCATION_ID": "x"}[k] }) ||
		!UnderServiceManager(func(k string) string { return map[string]string{"JOURNAL_STREAM": "8:1"}[k] }) ||
		UnderServiceManager(func(string) string { return "" }) {
		t.Error("UnderServiceManager")
	}
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
	// New works end to end on a file: not a terminal, so JSON.
	l, err := New("info", "auto", f)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hi", zap.String("key1", key))
	data, _ := os.ReadFile(f.Name())
	if !json.Valid(bytes.TrimSpace(data)) || bytes.Contains(data, []byte(key)) {
		t.Errorf("New on a file wrote %s", data)
	}
}
