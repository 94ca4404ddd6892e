package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// TestLoadRoundTrip generates valid configurations, writes them the way an
// operator might (units, percent or fraction, optional keys omitted), and
// checks that Load returns exactly the values meant.
func TestLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		var b strings.Builder
		want := Config{
			API:               API{URL: "https://files.example.com/api/v2/", Key1: k1, Key2: k2},
			StateDir:          "/var/lib/syncd",
			PollInterval:      DefaultPollInterval,
			MaxDelete:         DefaultMaxDelete,
			Log:               Log{Level: "info", Format: "auto"},
			RequestsPerSecond: DefaultRequestsPerSecond,
			TrashRetention:    DefaultTrashRetention,
			ScanInterval:      DefaultScanInterval,
			SweepInterval:     DefaultSweepInterval,
			Debounce:          DefaultDebounce,
		}
		fmt.Fprintf(&b, "api:\n  url: https://files.example.com/api/v2\n  key1: %s\n  key2: %s\nstate_dir: /var/lib/syncd/\n", k1, k2)

		if rapid.Bool().Draw(t, "set poll") {
			s := rapid.IntRange(1, 86400).Draw(t, "poll seconds")
			want.PollInterval = time.Duration(s) * time.Second
			fmt.Fprintf(&b, "poll_interval: %s\n", want.PollInterval)
		}
		if rapid.Bool().Draw(t, "set retention") {
			d := rapid.IntRange(1, 400).Draw(t, "retention days")
			want.TrashRetention = time.Duration(d) * 24 * time.Hour
			fmt.Fprintf(&b, "trash_retention: %dd\n", d)
		}
		if rapid.Bool().Draw(t, "set debounce") {
			ms := rapid.IntRange(0, 60000).Draw(t, "debounce ms")
			want.Debounce = time.Duration(ms) * time.Millisecond
			fmt.Fprintf(&b, "debounce: %dms\n", ms)
		}
		units := []struct {
			s string
			m int64
		}{{"", 1}, {"k", 1000}, {"M", 1000_000}, {"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}}
		for _, side := range []string{"up", "down"} {
			if !rapid.Bool().Draw(t, "set bw "+side) {
				continue
			}
			n := rapid.Int64Range(0, 100_000).Draw(t, "bw "+side)
			u := rapid.SampledFrom(units).Draw(t, "unit "+side)
			fmt.Fprintf(&b, "bwlimit_%s: %d%s\n", side, n, u.s)
			if side == "up" {
				want.BWLimitUp = n * u.m
			} else {
				want.BWLimitDown = n * u.m
			}
		}
		switch rapid.IntRange(0, 3).Draw(t, "max_delete form") {
		case 1:
			p := rapid.IntRange(1, 100).Draw(t, "percent")
			want.MaxDelete = Percent(float64(p) / 100)
			fmt.Fprintf(&b, "max_delete: %d%%\n", p)
		case 2:
			want.MaxDelete = 1
			b.WriteString("max_delete: off\n")
		case 3:
			f := rapid.IntRange(1, 100).Draw(t, "fraction hundredths")
			want.MaxDelete = Percent(float64(f) / 100)
			fmt.Fprintf(&b, "max_delete: %g\n", float64(f)/100)
		}
		want.Ignore = rapid.SliceOfN(rapid.StringMatching(`[a-z*?.]{1,8}/?`), 0, 3).Draw(t, "ignore")
		if len(want.Ignore) > 0 {
			fmt.Fprintf(&b, "ignore: [%s]\n", quoteAll(want.Ignore))
		} else {
			want.Ignore = nil
		}

		b.WriteString("pairs:\n")
		n := rapid.IntRange(1, 4).Draw(t, "pairs")
		for i := range n {
			// Siblings under distinct names never overlap.
			name := rapid.StringMatching(`[a-zA-Z0-9 ._-]{1,12}`).Draw(t, "name")
			if strings.Trim(name, ".") == "" {
				name = "x" + name
			}
			p := Pair{
				Local:     filepath.Join("/data", fmt.Sprintf("%d-%s", i, name)),
				Remote:    fmt.Sprintf("/r/%d-%s", i, name),
				Direction: rapid.SampledFrom([]Direction{Both, UploadOnly, DownloadOnly}).Draw(t, "direction"),
				Conflict:  KeepBoth,
			}
			fmt.Fprintf(&b, "  - local: %q\n    remote: %q\n    direction: %s\n", p.Local+"/", p.Remote+"/", p.Direction)
			if p.Direction != Both && rapid.Bool().Draw(t, "mirror") {
				p.Mirror = true
				b.WriteString("    mirror: true\n")
			}
			want.Pairs = append(want.Pairs, p)
		}

		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		got, warns, err := LoadWith(path, Options{Getenv: noEnv, Euid: 1000})
		if err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		if len(warns) != 0 {
			t.Fatalf("warnings %v", warns)
		}
		want.Path = path
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Fatalf("(-want +got):\n%s\n%s", diff, b.String())
		}
	})
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
