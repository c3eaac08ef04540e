package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"30s", 30 * time.Second},
		{"15m", 15 * time.Minute},
		{"100h", 100 * time.Hour},
		{"7d", 7 * 24 * time.Hour},
		{"2w", 14 * 24 * time.Hour},
		{"1mo", 30 * 24 * time.Hour},
		{"6mo", 180 * 24 * time.Hour},
		{"1y", 365 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"1y1mo1w1d1h1m1s", Year + Month + Week + Day + time.Hour + time.Minute + time.Second},
		{"0d", 0},
		{"1h1h", 2 * time.Hour},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", "empty"},
		{"30", "missing unit after 30"},
		{"7days", `unknown unit "days"`},
		{"1.5h", `unknown unit "."`},
		{"-3d", `expected a whole number at "-3d"`},
		{"d", `expected a whole number at "d"`},
		{"3 d", `unknown unit " d"`},
		{"1D", `unknown unit "D"`},
		{"99999999999999999999s", "too large"},
		{"300y", "too long"},
	} {
		_, err := ParseDuration(tc.in)
		if err == nil || !errors.Is(err, ErrDuration) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseDuration(%q) error = %v; want ErrDuration mentioning %q", tc.in, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{500 * time.Millisecond, "0s"},
		{90 * time.Second, "1m30s"},
		{36 * time.Hour, "1d12h"},
		{30 * Day, "30d"},
		{Year, "365d"},
		{-2 * time.Hour, "-2h"},
	} {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, d := range []time.Duration{time.Second, 59 * time.Minute, 25 * time.Hour, 400*Day + 3*time.Hour + 2*time.Second} {
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	}
}
