// Package progress reports long work where no progress bar can be drawn: in CI logs and other
// non-terminals it writes one plain line per phase at a steady interval, whether or not the work
// moved since the last line, so a job's log never falls silent for long.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/regtidy/regtidy/internal/units"
)

// DefaultInterval is how often Lines writes a line for each running phase.
const DefaultInterval = 10 * time.Second

// Lines writes progress as lines of text, e.g.
//
//	regtidy: apply: 1,234 of 5,000 (24%), 41.2/s, about 1m32s left; REST budget: 812 left
//
// Each running phase gets a line every Interval (the first one Interval after it started), even
// when it did not move (a rate-limit wait), and a last line when it completes, if it ran long
// enough to have had a line. A phase of unknown total (a listing) gets a line only when it moved
// since its last one: it cannot tell that it ended. Safe for concurrent use.
type Lines struct {
	w        io.Writer
	interval time.Duration
	now      func() time.Time
	extra    func() string

	mu     sync.Mutex
	phases map[string]*phase
	order  []string
	stop   chan struct{}
	done   chan struct{}
}

type phase struct {
	start, last time.Time
	done, total int
	printedDone int // done at the last line
	printed     bool
	finished    bool
}

// Options tune NewLines.
type Options struct {
	// Interval between two lines of a phase. The default is DefaultInterval.
	Interval time.Duration
	// Now is the clock; nil is time.Now. With a clock of its own, Lines starts no ticker: the
	// caller calls Tick.
	Now func() time.Time
	// Extra, if set, returns text appended to every line (e.g. the REST budget left), or "".
	Extra func() string
}

// NewLines returns a line reporter writing to w. With the real clock it ticks by itself until
// Wait; with Options.Now set, the caller drives it with Tick.
func NewLines(w io.Writer, opt Options) *Lines {
	l := &Lines{w: w, interval: opt.Interval, now: opt.Now, extra: opt.Extra, phases: map[string]*phase{}}
	if l.interval <= 0 {
		l.interval = DefaultInterval
	}
	if l.now == nil {
		l.now = time.Now
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.run()
	}
	return l
}

func (l *Lines) run() {
	defer close(l.done)
	t := time.NewTicker(l.interval / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Tick()
		}
	}
}

// Update records that phase has done items of total (0: unknown yet).
func (l *Lines) Update(name string, done, total int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.phases[name]
	if p == nil {
		p = &phase{start: now, last: now}
		l.phases[name] = p
		l.order = append(l.order, name)
	}
	p.done = done
	if total > 0 {
		p.total = total
	}
	if p.total > 0 && done >= p.total && !p.finished {
		p.finished = true
		if p.printed || now.Sub(p.start) >= l.interval {
			l.writeLocked(name, p, now)
		}
	}
}

// Tick writes a line for every running phase whose last line (or start) is an Interval old.
func (l *Lines) Tick() {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, name := range l.order {
		p := l.phases[name]
		// A phase of unknown total cannot say it finished: it gets a line only when it moved.
		stalled := p.total == 0 && p.printed && p.done == p.printedDone
		if !p.finished && !stalled && now.Sub(p.last) >= l.interval {
			l.writeLocked(name, p, now)
		}
	}
}

// Wait stops the ticker. Phases not completed get no last line.
func (l *Lines) Wait() {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
}

func (l *Lines) writeLocked(name string, p *phase, now time.Time) {
	p.last, p.printed, p.printedDone = now, true, p.done
	var b strings.Builder
	fmt.Fprintf(&b, "regtidy: %s: %s", name, units.Count(p.done))
	if p.total > 0 {
		fmt.Fprintf(&b, " of %s (%d%%)", units.Count(p.total), p.done*100/p.total)
	}
	elapsed := now.Sub(p.start)
	if elapsed > 0 && p.done > 0 {
		rate := float64(p.done) / elapsed.Seconds()
		fmt.Fprintf(&b, ", %s/s", trimRate(rate))
		if p.total > p.done {
			left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
			fmt.Fprintf(&b, ", about %s left", left.Round(time.Second))
		}
	}
	if p.finished {
		fmt.Fprintf(&b, ", done in %s", elapsed.Round(time.Second))
	}
	if l.extra != nil {
		if s := l.extra(); s != "" {
			b.WriteString("; " + s)
		}
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(l.w, b.String()) // a log that cannot be written loses progress only
}

// trimRate renders a rate with three significant digits at most.
func trimRate(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.2f", r)
}
