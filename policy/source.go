package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/plan"
)

// Loader loads keep sources: the facts outside the registry that decide what to keep. Package
// source implements it with go-git, gocloud.dev buckets and the registry client. A Loader must
// fail rather than return less than it was asked for: an unreachable repository, a bucket error
// or a malformed metadata line is an error, never an empty answer.
type Loader interface {
	// LastCommits returns the last spec.Last first-parent commits of spec.Branch, newest first.
	// Fewer is an error unless spec.AllowFewer.
	LastCommits(ctx context.Context, spec CommitsSpec) ([]Commit, error)
	// LiveCommits returns the live runs of spec's metadata recorded within spec.Since before
	// now, each with the commit it uses (see RunsSpec for how lines are read), and how much
	// metadata it read. Reading nothing is not the loader's to excuse: Resolve judges the
	// counts against spec.AllowEmpty.
	LiveCommits(ctx context.Context, spec RunsSpec, now time.Time) (RunsRead, error)
	// BaseDigests returns the bases that the images tagged in spec.Repository (those whose
	// tags spec.Match matches, if set) name in their org.opencontainers.image.base.digest
	// annotations: the tagged manifest's and those of the manifests its index lists. A tag
	// deleted while it is read names nothing.
	BaseDigests(ctx context.Context, spec BaseSpec) ([]BaseRef, error)
}

// CommitsSpec names a git history: the last Last first-parent commits of Branch in Repo.
type CommitsSpec struct {
	// Repo is a local path or a URL that git can clone.
	Repo string `json:"repo"`
	// Branch is the branch whose first-parent history counts (default "main").
	Branch string `json:"branch"`
	// Last is how many commits, counting back from the branch's head.
	Last int `json:"last"`
	// AllowFewer accepts a history shorter than Last; otherwise that is an error, since a
	// shallow or wrong clone would otherwise quietly shrink what is kept.
	AllowFewer bool `json:"allow_fewer,omitempty"`
}

// Commit is one commit of a history.
type Commit struct {
	// SHA is the full lowercase hex commit hash.
	SHA string `json:"sha"`
	// Time is the committer time.
	Time time.Time `json:"time"`
}

// RunsSpec names run metadata: JSON Lines files in a bucket, one run per line. A run is live
// when its status (the line's StatusField) is in Live; with only Terminal given, when it is not
// in Terminal; with both given, a status in neither list is an error (the loader fails closed).
// The run's commit is the line's CommitField or, when Join is set, the JoinField of the JSON
// document whose key Join expands to. The field names match package source's RunsSpec.
type RunsSpec struct {
	// URL is a bucket URL whose key may hold a glob: gs://bucket/metadata/*.jsonl,
	// s3://bucket/runs/*.jsonl, file:///srv/meta/*.jsonl.
	URL string `json:"url"`
	// Live and Terminal are statuses; see the type's doc for how they combine.
	Live     []string `json:"live,omitempty"`
	Terminal []string `json:"terminal,omitempty"`
	// StatusField is the line field holding the run's status ("status" in policy files that do
	// not say).
	StatusField string `json:"status_field"`
	// PathField is the line field naming the run, reported as RunRef.Run ("path" by default).
	PathField string `json:"path_field"`
	// CommitField is the line field holding the run's commit; exactly one of CommitField and
	// Join is set.
	CommitField string `json:"commit_field,omitempty"`
	// Join is the key of a document holding the run's commit, a template of the line's fields
	// in braces, e.g. "{path}/metadata/params.json": a key from the root of URL's bucket
	// (gs://bucket/{path}/metadata/params.json for a URL gs://bucket/metadata/*.jsonl), or a URL
	// of its own. A file:// URL has no bucket root, so with one Join must be a URL too.
	// Braces do not nest and cannot be escaped; at least one field is named.
	Join string `json:"join,omitempty"`
	// JoinField is the joined document's field holding the commit.
	JoinField string `json:"join_field,omitempty"`
	// Since, when positive, bounds how far back metadata is read (the loader dates files by the
	// YYYY-MM-DD in their names).
	Since time.Duration `json:"since,omitempty"`
	// AllowEmpty accepts a source that yields no live run: no file inside Since, files with no
	// runs, or no run live. Otherwise each of those fails the plan, since a metadata writer that
	// stopped would otherwise let the plan delete every image a live run still uses. A URL that
	// matches no file at all fails whatever AllowEmpty says.
	AllowEmpty bool `json:"allow_empty,omitempty"`
}

// RunsRead is what a loader read for a runs source: the live runs, and how much metadata they
// came from.
type RunsRead struct {
	// Runs are the live runs, each with the commit it uses.
	Runs []RunRef
	// Matched is how many metadata files the URL matched; Files how many of them were read
	// (Since leaves out the older ones).
	Matched int
	Files   int
	// Lines is how many runs (non-blank lines) the files read held, live or not.
	Lines int
	// Newest is the newest date a matched file's name holds, if any.
	Newest time.Time
}

// RunRef is one live run and the commit it uses.
type RunRef struct {
	// Commit is the run's commit, 7 to 40 hex digits.
	Commit string `json:"commit"`
	// Run names the run (the PathField of its line).
	Run string `json:"run"`
	// Status is the run's status.
	Status string `json:"status"`
	// File and Line locate the run's metadata line.
	File string `json:"file"`
	Line int    `json:"line"`
}

// String describes the source for messages.
func (s CommitsSpec) String() string {
	return fmt.Sprintf("last %d commits of %s in %s", s.Last, s.Branch, s.Repo)
}

// String describes the source for messages.
func (s RunsSpec) String() string {
	return "runs in " + s.URL
}

// key identifies a commits source: equal keys load the same commits.
func (s CommitsSpec) key() string {
	return fmt.Sprintf("%q %q %d %t", s.Repo, s.Branch, s.Last, s.AllowFewer)
}

// key identifies a runs source: equal keys load the same runs.
func (s RunsSpec) key() string {
	return fmt.Sprintf("%q %q %q %q %q %q %q %q %d %t", s.URL, s.Live, s.Terminal, s.StatusField, s.PathField, s.CommitField, s.Join, s.JoinField, s.Since, s.AllowEmpty)
}

// checkJoinTemplate checks a join template's syntax: literal text and field names in braces,
// not nested, at least one field (else every run would join the same document).
func checkJoinTemplate(tmpl string) error {
	fields := 0
	for rest := tmpl; rest != ""; {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			break
		}
		if rest[open] == '}' {
			return fmt.Errorf("template %q: } has no {", tmpl)
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return fmt.Errorf("template %q: { is not closed", tmpl)
		}
		if strings.TrimSpace(rest[open+1:open+1+end]) == "" {
			return fmt.Errorf("template %q: empty field name in braces", tmpl)
		}
		fields++
		rest = rest[open+1+end+1:]
	}
	if fields == 0 {
		return fmt.Errorf("template %q names no {field} of the line, so every run would join the same document", tmpl)
	}
	return nil
}

// checkJoinBase checks that a relative join key has a bucket root to start from: a relative key
// is read from the root of the metadata URL's bucket, the same on gs:// and s3://; a file:// URL
// names a directory, not a bucket, so there a join must be a URL of its own.
func checkJoinBase(url, join string) error {
	if strings.Contains(join, "://") || !strings.HasPrefix(url, "file:") {
		return nil
	}
	return fmt.Errorf("a relative join key is read from the root of the metadata URL's bucket (gs://bucket/..., s3://bucket/...), "+
		"and a file:// URL has no bucket root: write join as a URL, e.g. file:///srv/runs/%s", strings.TrimPrefix(join, "/"))
}

// KeepSets are the keep sources of a policy, loaded: what Evaluate needs besides the inventory.
// Make them with Resolve; they can be written as JSON to record what a plan was made from.
type KeepSets struct {
	// Commits, Runs and Bases are sorted by source.
	Commits []CommitSet `json:"commits,omitempty"`
	Runs    []RunSet    `json:"runs,omitempty"`
	Bases   []BaseSet   `json:"bases,omitempty"`
}

// CommitSet is a loaded commits source.
type CommitSet struct {
	Spec    CommitsSpec `json:"spec"`
	Commits []Commit    `json:"commits"`
}

// RunSet is a loaded runs source: its live runs, and how much metadata they came from.
type RunSet struct {
	Spec RunsSpec `json:"spec"`
	Runs []RunRef `json:"runs"`
	// Matched, Files and Lines count the files the URL matched, the files read and the runs
	// they held (see RunsRead).
	Matched int `json:"matched"`
	Files   int `json:"files"`
	Lines   int `json:"lines"`
}

// Reads says what each loaded source read, for the plan: commits, then runs, then bases.
func (ks *KeepSets) Reads() []plan.SourceRead {
	if ks == nil {
		return nil
	}
	var out []plan.SourceRead
	for _, c := range ks.Commits {
		r := &plan.CommitsRead{Count: len(c.Commits)}
		if n := len(c.Commits); n > 0 {
			r.Head, r.HeadTime = c.Commits[0].SHA, c.Commits[0].Time
			r.Oldest, r.OldestTime = c.Commits[n-1].SHA, c.Commits[n-1].Time
		}
		out = append(out, plan.SourceRead{Kind: "commits", Source: redact.Text(c.Spec.String()), Commits: r})
	}
	for _, rs := range ks.Runs {
		commits := map[string]bool{}
		for _, r := range rs.Runs {
			commits[r.Commit] = true
		}
		out = append(out, plan.SourceRead{Kind: "runs", Source: redact.Text(rs.Spec.String()), Runs: &plan.RunsRead{
			Matched: rs.Matched, Files: rs.Files, Runs: rs.Lines, LiveRuns: len(rs.Runs), LiveCommits: len(commits),
			AllowEmpty: rs.Spec.AllowEmpty,
		}})
	}
	for _, bs := range ks.Bases {
		images, bases := map[string]bool{}, map[string]bool{}
		for _, b := range bs.Bases {
			images[b.Image], bases[b.Digest] = true, true
		}
		out = append(out, plan.SourceRead{Kind: "base", Source: redact.Text(bs.Spec.String()), Bases: &plan.BasesRead{
			Images: len(images), Bases: len(bases), AllowEmpty: bs.Spec.AllowEmpty,
		}})
	}
	return out
}

// resolveLimit bounds how many keep sources load at once.
const resolveLimit = 4

// Resolve loads every distinct keep source the policy uses, each once, and checks what the
// loader returned. It fails closed: any loader error, a history shorter than asked (unless
// allow_fewer), an empty history, a commit that is not hex, no base named at all (unless
// allow_empty) or a base digest that is not a digest fails the whole resolve with ErrKeepSource,
// and no keep sets are returned.
func Resolve(ctx context.Context, pol *Policy, loader Loader, now time.Time) (*KeepSets, error) {
	commitSpecs, runSpecs := pol.Sources()
	baseSpecs := pol.BaseSources()
	if len(commitSpecs)+len(runSpecs)+len(baseSpecs) > 0 && loader == nil {
		return nil, fmt.Errorf("%w: the policy uses keep sources but no loader was given", ErrKeepSource)
	}
	ks := &KeepSets{
		Commits: make([]CommitSet, len(commitSpecs)),
		Runs:    make([]RunSet, len(runSpecs)),
	}
	if len(baseSpecs) > 0 {
		ks.Bases = make([]BaseSet, len(baseSpecs))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(resolveLimit)
	for i, spec := range commitSpecs {
		g.Go(func() error {
			commits, err := loader.LastCommits(gctx, spec)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrKeepSource, spec, err)
			}
			commits, err = checkCommits(spec, commits)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrKeepSource, spec, err)
			}
			ks.Commits[i] = CommitSet{Spec: spec, Commits: commits}
			return nil
		})
	}
	for i, spec := range runSpecs {
		g.Go(func() error {
			read, err := loader.LiveCommits(gctx, spec, now)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrKeepSource, spec, err)
			}
			runs, err := checkRuns(read.Runs)
			if err == nil {
				err = checkRunsRead(spec, read, now)
			}
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrKeepSource, spec, err)
			}
			ks.Runs[i] = RunSet{Spec: spec, Runs: runs, Matched: read.Matched, Files: read.Files, Lines: read.Lines}
			return nil
		})
	}
	for i, spec := range baseSpecs {
		g.Go(func() error {
			refs, err := loader.BaseDigests(gctx, spec)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrKeepSource, spec, err)
			}
			refs, err = checkBases(spec, refs)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrKeepSource, spec, err)
			}
			ks.Bases[i] = BaseSet{Spec: spec, Bases: refs}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ks, nil
}

// checkCommits validates a loaded history and returns it lowercased and cut to spec.Last.
func checkCommits(spec CommitsSpec, commits []Commit) ([]Commit, error) {
	if len(commits) == 0 {
		return nil, fmt.Errorf("branch %s has no commits", spec.Branch)
	}
	if len(commits) < spec.Last && !spec.AllowFewer {
		return nil, fmt.Errorf("branch %s has %d commits, %d were asked for (set allow_fewer to accept a shorter history)", spec.Branch, len(commits), spec.Last)
	}
	if len(commits) > spec.Last {
		commits = commits[:spec.Last]
	}
	out := make([]Commit, len(commits))
	for i, c := range commits {
		sha := strings.ToLower(c.SHA)
		if !isHexPrefix(sha) {
			return nil, fmt.Errorf("commit #%d %q is not a 7-40 digit hex hash", i+1, c.SHA)
		}
		out[i] = Commit{SHA: sha, Time: c.Time}
	}
	return out, nil
}

// checkRuns validates loaded runs and returns them lowercased and sorted by file and line.
func checkRuns(runs []RunRef) ([]RunRef, error) {
	out := make([]RunRef, len(runs))
	for i, r := range runs {
		r.Commit = strings.ToLower(r.Commit)
		if !isHexPrefix(r.Commit) {
			return nil, fmt.Errorf("%s:%d: run %q: commit %q is not a 7-40 digit hex hash", r.File, r.Line, r.Run, r.Commit)
		}
		out[i] = r
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Line < out[j].Line
	})
	return out, nil
}

// checkRunsRead fails a runs source that read nothing where something was expected: no file
// inside since, files without a run, or no live run among them. Each would otherwise empty the
// keep set as quietly as a bucket error, and delete every image a live run still uses; the
// policy accepts it only with allow_empty.
func checkRunsRead(spec RunsSpec, read RunsRead, now time.Time) error {
	if spec.AllowEmpty {
		return nil
	}
	const allow = "; if that is expected, set allow_empty: true on this runs condition"
	switch {
	case read.Matched > 0 && read.Files == 0:
		newest := ""
		if !read.Newest.IsZero() {
			newest = fmt.Sprintf(" (the newest is dated %s)", read.Newest.Format(time.DateOnly))
		}
		return fmt.Errorf("%w: all %d metadata files the URL matches are dated before the since window of %s, which starts %s%s: has the metadata writer stopped?%s",
			ErrEmptySource, read.Matched, FormatDuration(spec.Since), now.Add(-spec.Since).UTC().Format(time.DateOnly), newest, allow)
	case read.Lines == 0:
		return fmt.Errorf("%w: the %d metadata files read hold no runs%s", ErrEmptySource, read.Files, allow)
	case len(read.Runs) == 0:
		return fmt.Errorf("%w: none of the %d runs in %d metadata files is live (live: %s)%s",
			ErrEmptySource, read.Lines, read.Files, liveStatuses(spec), allow)
	}
	return nil
}

// liveStatuses says which statuses count as live, for messages.
func liveStatuses(spec RunsSpec) string {
	if len(spec.Live) > 0 {
		return strings.Join(spec.Live, ", ")
	}
	return "any status but " + strings.Join(spec.Terminal, ", ")
}

// isHexPrefix reports whether s is 7 to 40 lowercase hex digits: a commit hash or a prefix of one
// long enough to name it.
func isHexPrefix(s string) bool {
	if len(s) < 7 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
