package plan

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// SourceRead is what one keep source read when the plan was made. The plan records it and `regtidy
// plan` prints it with the summary, so that a reviewer sees "runs: 30 files, 138 runs, 18 live
// commits" before anything is deleted, and a source that read far less than usual stands out.
type SourceRead struct {
	// Kind is the policy condition that named the source: "commits", "runs" or "base".
	Kind string `json:"kind"`
	// Source describes it: the branch and repository, the metadata URL, the image repository.
	Source string `json:"source"`
	// Commits is set for a commits source, Runs for a runs source, Bases for a base source.
	Commits *CommitsRead `json:"commits,omitempty"`
	Runs    *RunsRead    `json:"runs,omitempty"`
	Bases   *BasesRead   `json:"bases,omitempty"`
}

// CommitsRead is what a commits source read: the last commits of a branch.
type CommitsRead struct {
	// Count is how many commits were read.
	Count int `json:"count"`
	// Head is the branch's newest commit and Oldest the oldest one read, with their times.
	Head       string    `json:"head"`
	HeadTime   time.Time `json:"head_time,omitzero"`
	Oldest     string    `json:"oldest"`
	OldestTime time.Time `json:"oldest_time,omitzero"`
}

// RunsRead is what a runs source read: metadata files, the runs they held, the live ones.
type RunsRead struct {
	// Matched is how many files the URL matched; Files how many of them were read (since
	// leaves out the older ones).
	Matched int `json:"matched"`
	Files   int `json:"files"`
	// Runs is how many runs the files held, LiveRuns how many of them are live, and
	// LiveCommits how many distinct commits the live runs use.
	Runs        int `json:"runs"`
	LiveRuns    int `json:"live_runs"`
	LiveCommits int `json:"live_commits"`
	// AllowEmpty is the condition's allow_empty: no live run was acceptable.
	AllowEmpty bool `json:"allow_empty,omitempty"`
}

// BasesRead is what a base source read: the images that name a base, and the bases they name.
type BasesRead struct {
	// Images is how many tagged images name a base; Bases how many distinct bases they name.
	Images int `json:"images"`
	Bases  int `json:"bases"`
	// AllowEmpty is the condition's allow_empty: no base named was acceptable.
	AllowEmpty bool `json:"allow_empty,omitempty"`
}

// WriteSources writes what each keep source read, one line each, for `regtidy plan`. A plan
// without keep sources writes nothing.
func (p *Plan) WriteSources(w io.Writer) error {
	if len(p.Sources) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "\nKeep sources read:"); err != nil {
		return err
	}
	for _, s := range p.Sources {
		if _, err := fmt.Fprintf(w, "  %-8s %s: %s\n", s.Kind, s.Source, s.Describe()); err != nil {
			return err
		}
	}
	return nil
}

// Describe says in a few words what the source read, e.g. "30 files, 138 runs, 21 live runs of
// 18 commits".
func (s SourceRead) Describe() string {
	switch {
	case s.Commits != nil:
		c := s.Commits
		return fmt.Sprintf("%s, head %s%s, oldest %s%s", plural(c.Count, "commit"), shortSHA(c.Head), dateOf(c.HeadTime), shortSHA(c.Oldest), dateOf(c.OldestTime))
	case s.Runs != nil:
		r := s.Runs
		files := plural(r.Files, "file")
		if r.Matched != r.Files {
			files = fmt.Sprintf("%d of %d files (since)", r.Files, r.Matched)
		}
		out := fmt.Sprintf("%s, %s, %s of %s", files, plural(r.Runs, "run"), plural(r.LiveRuns, "live run"), plural(r.LiveCommits, "commit"))
		if r.LiveRuns == 0 && r.AllowEmpty {
			out += " (allow_empty)"
		}
		return out
	case s.Bases != nil:
		b := s.Bases
		out := fmt.Sprintf("%s naming %s", plural(b.Images, "image"), plural(b.Bases, "base"))
		if b.Bases == 0 && b.AllowEmpty {
			out += " (allow_empty)"
		}
		return out
	}
	return "nothing recorded"
}

// plural writes a count and a noun, "1 run", "2 runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// shortSHA shortens a commit hash to 7 digits.
func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// dateOf writes " (2026-11-30)" for a known time.
func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " (" + strings.TrimSpace(t.UTC().Format(time.DateOnly)) + ")"
}
