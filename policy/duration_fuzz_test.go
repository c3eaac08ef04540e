package policy

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// durationGrammar is the whole-string grammar ParseDuration documents: one or more whole numbers,
// each followed by a unit.
var durationGrammar = regexp.MustCompile(`^(?:[0-9]+(?:s|m|h|d|w|mo|y))+$`)

// FuzzParseDuration checks ParseDuration against its documented grammar: it accepts exactly the
// texts the grammar allows (unless the total overflows), never returns a negative duration,
// wraps ErrDuration on every error, and what it accepts survives FormatDuration and back.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"30d", "100h", "1d12h", "2w", "6mo", "1y", "0s", "1h1h", "1y1mo1w1d1h1m1s",
		"", "30", "d", "-1d", "1.5d", "1 d", "1D", "1mo2", "9223372036854775807s",
		"9223372036854775808s", "106751d", "106752d", "292y", "293y", "1m1mo", "00001s", "7dd",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !errors.Is(err, ErrDuration) {
				t.Fatalf("ParseDuration(%q): error %v does not wrap ErrDuration", s, err)
			}
			if durationGrammar.MatchString(s) && !strings.Contains(err.Error(), "too l") {
				t.Fatalf("ParseDuration(%q) refused a text of the grammar: %v", s, err)
			}
			return
		}
		if !durationGrammar.MatchString(s) {
			t.Fatalf("ParseDuration(%q) = %v, but the text is outside the documented grammar", s, d)
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		if d%time.Second != 0 {
			t.Fatalf("ParseDuration(%q) = %v, not whole seconds", s, d)
		}
		text := FormatDuration(d)
		back, err := ParseDuration(text)
		if err != nil || back != d {
			t.Fatalf("ParseDuration(FormatDuration(%v)) = %v, %v (text %q)", d, back, err, text)
		}
	})
}

// FuzzFormatDuration checks that FormatDuration writes every duration, negative ones included,
// and that ParseDuration reads a non-negative one back to the whole second.
func FuzzFormatDuration(f *testing.F) {
	for _, d := range []int64{0, 1, int64(time.Second), int64(36 * time.Hour), int64(90 * time.Second),
		-int64(time.Hour), math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		text := FormatDuration(d)
		if d < 0 {
			if !strings.HasPrefix(text, "-") {
				t.Fatalf("FormatDuration(%d) = %q, no sign", n, text)
			}
			return
		}
		back, err := ParseDuration(text)
		if err != nil || back != d.Truncate(time.Second) {
			t.Fatalf("ParseDuration(FormatDuration(%d) = %q) = %v, %v; want %v", n, text, back, err, d.Truncate(time.Second))
		}
	})
}
