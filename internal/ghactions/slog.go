package ghactions

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// LogHandler returns a slog handler that writes warnings and errors as workflow-command
// annotations (::warning::, ::error::, shown on the run's summary page and in the log) and passes
// every other record to next. On a nil runner it returns next.
func (r *Runner) LogHandler(next slog.Handler) slog.Handler {
	if r == nil {
		return next
	}
	return &logHandler{r: r, next: next}
}

type logHandler struct {
	r     *Runner
	next  slog.Handler
	attrs []slog.Attr
	group string
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelWarn {
		return h.next.Handle(ctx, rec)
	}
	var b strings.Builder
	b.WriteString(rec.Message)
	write := func(a slog.Attr) {
		if a.Equal(slog.Attr{}) {
			return
		}
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		fmt.Fprintf(&b, " %s=%v", key, a.Value.Resolve())
	}
	for _, a := range h.attrs {
		write(a)
	}
	rec.Attrs(func(a slog.Attr) bool { write(a); return true })
	if rec.Level >= slog.LevelError {
		h.r.Error("regtidy", b.String())
	} else {
		h.r.Warning("regtidy", b.String())
	}
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	c.next = h.next.WithAttrs(attrs)
	return &c
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	c.next = h.next.WithGroup(name)
	return &c
}
