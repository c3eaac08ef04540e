// Package ghactions speaks to the GitHub Actions runner from inside a step: step outputs
// ($GITHUB_OUTPUT), the job summary ($GITHUB_STEP_SUMMARY), and workflow commands on the log
// (::warning::, ::error::, ::group::). Outside Actions (GITHUB_ACTIONS unset) Detect returns nil
// and every method of a nil *Runner does nothing, so callers need no checks.
package ghactions

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
)

// Runner is the step's view of the Actions runner.
type Runner struct {
	outputPath  string
	summaryPath string
	log         io.Writer

	mu sync.Mutex
}

// Detect returns the runner when getenv says the process runs in a GitHub Actions step
// (GITHUB_ACTIONS=true), writing workflow commands to log; nil otherwise.
func Detect(getenv func(string) string, log io.Writer) *Runner {
	if getenv("GITHUB_ACTIONS") != "true" {
		return nil
	}
	return &Runner{outputPath: getenv("GITHUB_OUTPUT"), summaryPath: getenv("GITHUB_STEP_SUMMARY"), log: log}
}

// SetOutputs appends step outputs to $GITHUB_OUTPUT, in name order. A value holding a newline is
// written with a random delimiter, as GitHub documents for multiline values.
func (r *Runner) SetOutputs(outputs map[string]string) error {
	if r == nil || len(outputs) == 0 {
		return nil
	}
	if r.outputPath == "" {
		return errors.New("GITHUB_OUTPUT is not set: the step outputs have nowhere to go")
	}
	names := make([]string, 0, len(outputs))
	for n := range outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		v := outputs[n]
		if !strings.ContainsAny(v, "\r\n") {
			fmt.Fprintf(&b, "%s=%s\n", n, v)
			continue
		}
		delim := delimiter()
		for strings.Contains(v, delim) {
			delim = delimiter()
		}
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", n, delim, v, delim)
	}
	return r.appendTo(r.outputPath, b.String())
}

// AppendSummary appends Markdown to the job summary ($GITHUB_STEP_SUMMARY); without the variable
// it does nothing.
func (r *Runner) AppendSummary(markdown string) error {
	if r == nil || r.summaryPath == "" {
		return nil
	}
	if !strings.HasSuffix(markdown, "\n") {
		markdown += "\n"
	}
	return r.appendTo(r.summaryPath, markdown)
}

func (r *Runner) appendTo(path, s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("github actions: %w", err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return fmt.Errorf("github actions: writing %s: %w", path, err)
	}
	return f.Close()
}

// Warning writes a ::warning:: annotation with an optional title.
func (r *Runner) Warning(title, message string) { r.command("warning", title, message) }

// Error writes an ::error:: annotation with an optional title.
func (r *Runner) Error(title, message string) { r.command("error", title, message) }

// Group starts a collapsible group of log lines; the function it returns ends it.
func (r *Runner) Group(title string) (end func()) {
	if r == nil {
		return func() {}
	}
	r.write("::group::" + escapeData(title) + "\n")
	return func() { r.write("::endgroup::\n") }
}

func (r *Runner) command(kind, title, message string) {
	if r == nil {
		return
	}
	props := ""
	if title != "" {
		props = " title=" + escapeProperty(title)
	}
	r.write("::" + kind + props + "::" + escapeData(message) + "\n")
}

func (r *Runner) write(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = io.WriteString(r.log, s) // a log that cannot be written loses the annotation only
}

// escapeData escapes a workflow command's message as the runner expects.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

func delimiter() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "ghadelim_" + hex.EncodeToString(b)
}
