package main

import (
	"sync"

	plines "github.com/regtidy/regtidy/internal/progress"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progress draws one bar per phase of long work on a terminal (stderr); elsewhere (CI logs, pipes)
// it writes a line per running phase every 10 seconds.
type progress struct {
	lines *plines.Lines

	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*mpb.Bar
	done bool
}

// newProgress returns a progress display on o.stderr: bars on a terminal, lines elsewhere; nil
// with --no-progress. All methods accept a nil receiver.
func (o *rootOptions) newProgress() *progress {
	if o.noProgress {
		return nil
	}
	if !isTerminal(o.stderr) {
		return &progress{lines: plines.NewLines(o.stderr, plines.Options{})}
	}
	return &progress{p: mpb.New(mpb.WithOutput(unlocked(o.stderr)), mpb.WithWidth(40)), bars: map[string]*mpb.Bar{}}
}

// update sets phase's bar to done of total (total 0: unknown yet, the bar counts up).
func (pr *progress) update(phase string, done, total int) {
	if pr == nil {
		return
	}
	if pr.lines != nil {
		pr.lines.Update(phase, done, total)
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.done {
		return
	}
	b := pr.bars[phase]
	if b == nil {
		b = pr.p.AddBar(int64(total),
			mpb.PrependDecorators(decor.Name(phase, decor.WCSyncSpaceR), decor.CountersNoUnit("%d / %d", decor.WCSyncWidth)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WCSyncSpace)),
		)
		pr.bars[phase] = b
	}
	if total > 0 {
		b.SetTotal(int64(total), false)
	}
	b.SetCurrent(int64(done))
	if total > 0 && done >= total {
		b.SetTotal(int64(total), true)
	}
}

// wait completes every bar and waits for the display to finish drawing; later calls do nothing.
func (pr *progress) wait() {
	if pr == nil {
		return
	}
	if pr.lines != nil {
		pr.lines.Wait()
		return
	}
	pr.mu.Lock()
	if pr.done {
		pr.mu.Unlock()
		return
	}
	pr.done = true
	for _, b := range pr.bars {
		b.SetTotal(-1, true)
	}
	pr.mu.Unlock()
	pr.p.Wait()
}
