package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseDuration accepts Go durations ("90s", "1h30m") and whole days ("30d"),
// which operators write for retention periods. A bare number is refused: its
// unit would be a guess.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty")
	}
	if days, ok := strings.CutSuffix(t, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > 365*100 {
			return 0, errors.New(`days must be a whole number such as "30d"`)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return 0, errors.New(`missing unit: write e.g. "30s", "5m" or "2h"`)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, errors.New(strings.TrimPrefix(err.Error(), "time: "))
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

// sizeUnits maps a lower-cased suffix to its multiplier: k, M, G are decimal,
// KiB, MiB, GiB binary; a trailing "B" and "/s" are optional.
var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"ki", 1 << 10}, {"mi", 1 << 20}, {"gi", 1 << 30},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9},
	{"b", 1},
}

// parseSize parses a byte count or rate: "1048576", "500k", "10MiB",
// "1.5M/s". Zero means unlimited.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "/s")
	t = strings.TrimSpace(t)
	mult := 1.0
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	if t == "" {
		return 0, errors.New(`want a number with an optional unit, e.g. "500k" or "10MiB"`)
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New(`want a number with an optional unit (k, M, G, KiB, MiB, GiB), e.g. "10MiB"`)
	}
	if v < 0 {
		return 0, errors.New("must not be negative")
	}
	b := v * mult
	if b > float64(1<<50) {
		return 0, fmt.Errorf("larger than %d bytes", int64(1<<50))
	}
	return int64(b), nil
}

// parsePercent accepts "50%", a fraction such as 0.5, or "off".
func parsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	if strings.EqualFold(t, "off") {
		return 1, nil
	}
	var v float64
	var err error
	if num, ok := strings.CutSuffix(t, "%"); ok {
		v, err = strconv.ParseFloat(strings.TrimSpace(num), 64)
		v /= 100
	} else {
		v, err = strconv.ParseFloat(t, 64)
		if err == nil && v > 1 {
			return 0, fmt.Errorf(`a bare number is a fraction between 0 and 1; for percent write "%s%%"`, t)
		}
	}
	if err != nil || math.IsNaN(v) {
		return 0, errors.New(`want "50%", 0.5 or "off"`)
	}
	if v <= 0 || v > 1 {
		return 0, errors.New(`must be above 0% and at most 100% (or "off")`)
	}
	return Percent(v), nil
}
