package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day, Week, Month and Year are the calendar-free lengths policy durations use: a month is 30
// days and a year 365 days, whatever the calendar says, so a policy means the same thing on
// every date.
const (
	Day   = 24 * time.Hour
	Week  = 7 * Day
	Month = 30 * Day
	Year  = 365 * Day
)

// unitSize maps the units ParseDuration accepts to their lengths.
var unitSize = map[string]time.Duration{
	"s": time.Second, "m": time.Minute, "h": time.Hour,
	"d": Day, "w": Week, "mo": Month, "y": Year,
}

// ErrDuration is wrapped by every error ParseDuration returns.
var ErrDuration = errors.New("invalid duration")

// ParseDuration parses a policy duration: one or more whole numbers, each followed by a unit,
// e.g. "30d", "100h", "1d12h", "2w", "6mo", "1y". Units: s (second), m (minute), h (hour),
// d (day, 24h), w (week, 7d), mo (month, 30d), y (year, 365d). Negative, fractional and
// unit-less values are refused, so "30" cannot silently mean 30 nanoseconds.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty (write e.g. 7d, 12h, 1d12h)", ErrDuration)
	}
	var total time.Duration
	rest := s
	for rest != "" {
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 {
			return 0, fmt.Errorf("%w: %q: expected a whole number at %q (write e.g. 7d, 12h, 1d12h)", ErrDuration, s, rest)
		}
		value, err := strconv.ParseInt(rest[:n], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q: number %s too large", ErrDuration, s, rest[:n])
		}
		rest = rest[n:]
		u := 0
		for u < len(rest) && (rest[u] < '0' || rest[u] > '9') {
			u++
		}
		if u == 0 {
			return 0, fmt.Errorf("%w: %q: missing unit after %d (units: s, m, h, d, w, mo, y)", ErrDuration, s, value)
		}
		unit, ok := unitSize[rest[:u]]
		if !ok {
			return 0, fmt.Errorf("%w: %q: unknown unit %q (units: s, m, h, d, w, mo, y)", ErrDuration, s, rest[:u])
		}
		rest = rest[u:]
		if value > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(value)*unit {
			return 0, fmt.Errorf("%w: %q: too long", ErrDuration, s)
		}
		total += time.Duration(value) * unit
	}
	return total, nil
}

// FormatDuration writes d in the units ParseDuration reads, with days as the largest unit so the
// text is unambiguous: 30*Day is "30d", 36h is "1d12h", 90s is "1m30s". Sub-second parts are
// dropped; zero (and anything under a second) is "0s". ParseDuration(FormatDuration(d)) == d for
// whole seconds.
func FormatDuration(d time.Duration) string {
	var b strings.Builder
	// The magnitude as a uint64: -d overflows for the most negative duration.
	mag := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		mag = -mag
	}
	mag -= mag % uint64(time.Second)
	if mag == 0 {
		b.WriteString("0s")
		return b.String()
	}
	for _, u := range []struct {
		name string
		size time.Duration
	}{{"d", Day}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := mag / uint64(u.size); n > 0 {
			b.WriteString(strconv.FormatUint(n, 10))
			b.WriteString(u.name)
			mag -= n * uint64(u.size)
		}
	}
	return b.String()
}

// formatAge writes an age coarsely for reason texts: to the hour when at least an hour old, to
// the minute under that.
func formatAge(d time.Duration) string {
	if d >= time.Hour {
		return FormatDuration(d.Truncate(time.Hour))
	}
	return FormatDuration(d.Truncate(time.Minute))
}
