package progress

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func lines(b *strings.Builder) []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}
func newTestLines(b *strings.Builder, c *fakeClock, extra func() string) *Lines {
	return NewLines(b, Options{Interval: 10 * time.Second, Now: c.now, Extra: extra})
}

// A long phase gets a line every interval even when nothing moved (a rate-limit wait), then a
// last line when it completes.
func TestLinesEveryIntervalAndAtTheEnd(t *testing.T) {
	var b strings.Builder
	c := &fakeClock{t: time.Date(2025, 11, 28, 2, 0, 0, 0, time.UTC)}
	budget := 900
	l := newTestLines(&b, c, func() string { return "REST budget: " + strconv.Itoa(budget) + " left" })
	l.Update("apply", 0, 5000)
	c.advance(9 * time.Second)
	l.Tick()
	if b.Len() != 0 {
		t.Fatalf("a line before the first interval: %q", b.String())
	}
	l.Update("apply", 1000, 5000)
	c.advance(1 * time.Second)
	l.Tick()
	c.advance(10 * time.Second) // no progress: a rate-limit wait
	budget = 812
	l.Tick()
	c.advance(30 * time.Second)
	l.Update("apply", 5000, 5000)
	l.Tick()
	got := lines(&b)
	want := []string{
		"regtidy: apply: 1,000 of 5,000 (20%), 100/s, about 40s left; REST budget: 900 left",
		"regtidy: apply: 1,000 of 5,000 (20%), 50.0/s, about 1m20s left; REST budget: 812 left",
		"regtidy: apply: 5,000 of 5,000 (100%), 100/s, done in 50s; REST budget: 812 left",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Short phases stay silent; phases of unknown total count up.
func TestLinesShortPhasesAndUnknownTotals(t *testing.T) {
	var b strings.Builder
	c := &fakeClock{t: time.Date(2025, 11, 28, 2, 0, 0, 0, time.UTC)}
	l := newTestLines(&b, c, nil)
	l.Update("resolve", 0, 10)
	c.advance(3 * time.Second)
	l.Update("resolve", 10, 10)
	l.Update("list", 300, 0)
	c.advance(12 * time.Second)
	l.Tick()
	if got, want := b.String(), "regtidy: list: 300, 25.0/s\n"; got != want {
		t.Errorf("lines %q, want %q", got, want)
	}
	// The listing ended (its total was never known) and the next phase runs: no more list lines.
	l.Update("resolve2", 0, 1000)
	c.advance(10 * time.Second)
	l.Tick()
	if got := b.String(); strings.Count(got, "list:") != 1 {
		t.Errorf("a finished phase of unknown total went on printing:\n%s", got)
	}
}

// With the real clock, Lines ticks by itself and stops on Wait.
func TestLinesTickerStops(t *testing.T) {
	var b strings.Builder
	l := NewLines(&b, Options{Interval: time.Hour})
	l.Update("apply", 1, 2)
	l.Wait()
	l.Wait()
}
