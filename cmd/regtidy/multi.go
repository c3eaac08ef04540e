package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/internal/ghactions"
	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// repoOutcome is what one repository of a run came to, for the combined summary and the step
// outputs.
type repoOutcome struct {
	repo       string
	planned    int   // deletes the plan made (tags or package versions)
	deleted    int   // deletes done (0 in a dry run)
	failed     int   // deletes that failed
	remaining  int   // planned deletes not reached (budget, deadline, cap)
	bytesFreed int64 // the plan's estimate, counted once every planned delete is done
	planFile   string
	err        error
}

// forEachRepository runs fn on every repository args name (a glob in a GitHub Container
// Registry package name lists the owner's matching packages), one after the other, sharing the
// run's REST budgets fairly: each repository gets an equal share of --max-requests, and of what
// is left of --deadline when it starts. With several repositories, --state names a directory (or
// bucket prefix) holding one state file per package. A repository that fails does not stop the
// others; the error names every one that failed, and the run's exit status is the worst.
func (o *rootOptions) forEachRepository(ctx context.Context, c *registry.Client, args []string,
	fn func(ctx context.Context, repo string) repoOutcome) ([]repoOutcome, error) {
	repos, err := regtidy.ExpandRepositories(ctx, args, o.options(c, nil))
	if err != nil {
		return nil, err
	}
	if len(repos) > 1 {
		fmt.Fprintf(o.stderr, "regtidy: %d repositories: %s\n", len(repos), strings.Join(repos, ", "))
	}
	saved := o.gh
	defer func() { o.gh = saved }()
	start := time.Now()
	var outs []repoOutcome
	for i, repo := range repos {
		if err := ctx.Err(); err != nil {
			return outs, err
		}
		left := len(repos) - i
		o.gh = saved
		if saved.maxRequests > 0 {
			o.gh.maxRequests = saved.maxRequests / len(repos)
			if i < saved.maxRequests%len(repos) {
				o.gh.maxRequests++
			}
			if o.gh.maxRequests == 0 { // fewer requests than repositories: the last ones wait
				outs = append(outs, repoOutcome{repo: repo, err: fmt.Errorf("%w: --max-requests %d leaves no request for %s; the next run continues", errPartial, saved.maxRequests, repo)})
				continue
			}
		}
		if saved.deadline > 0 {
			rest := saved.deadline - time.Since(start)
			if rest <= 0 {
				outs = append(outs, repoOutcome{repo: repo, err: fmt.Errorf("%w: the deadline passed before %s started; the next run continues", errPartial, repo)})
				continue
			}
			o.gh.deadline = rest / time.Duration(left)
		}
		if len(repos) > 1 && saved.state != "" {
			o.gh.state = stateFor(saved.state, repo)
		}
		end := o.group(repo)
		out := fn(ctx, repo)
		end()
		out.repo = repo
		outs = append(outs, out)
	}
	return outs, combine(outs)
}

// stateFor is the state file of repo under dir, a directory or a bucket prefix.
func stateFor(dir, repo string) string {
	name := strings.NewReplacer("/", "_", ":", "_").Replace(repo) + ".json"
	if strings.Contains(dir, "://") {
		return strings.TrimSuffix(dir, "/") + "/" + name
	}
	return filepath.Join(dir, name)
}

// planFileFor is where the plan of repo goes: out itself for a single repository, else a file
// in the directory out.
func planFileFor(out, repo string, many bool) string {
	if out == "" || !many {
		return out
	}
	return filepath.Join(out, strings.NewReplacer("/", "_", ":", "_").Replace(repo)+".json")
}

// combine is the run's error: nil when every repository finished, errPartial when some only
// stopped at a budget or had failed deletes, a plain error naming the ones that failed otherwise.
func combine(outs []repoOutcome) error {
	var hard, soft []error
	for _, r := range outs {
		switch {
		case r.err == nil:
		case errors.Is(r.err, errPartial):
			soft = append(soft, r.err)
		default:
			hard = append(hard, fmt.Errorf("%s: %w", r.repo, r.err))
		}
	}
	switch {
	case len(outs) == 1:
		return outs[0].err
	case len(hard) > 0:
		return fmt.Errorf("%d of %d repositories failed: %w", len(hard), len(outs), errors.Join(hard...))
	case len(soft) > 0:
		return fmt.Errorf("%w: work is left in %d of %d repositories; the next run continues", errPartial, len(soft), len(outs))
	}
	return nil
}

// group wraps a repository's work in a collapsible log group inside GitHub Actions.
func (o *rootOptions) group(repo string) func() {
	return ghactions.Detect(os.Getenv, o.stderr).Group("regtidy " + repo)
}

// writeCombined prints one line per repository and the totals, after a run over several.
func (o *rootOptions) writeCombined(outs []repoOutcome, dryRun bool) {
	if len(outs) < 2 || o.output != "table" {
		return
	}
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	w := tabwriter.NewWriter(o.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(o.stdout, "\n== %d repositories\n", len(outs))
	fmt.Fprintf(w, "repository\tplanned\t%s\tfailed\tleft\tstatus\t\n", verb)
	var t repoOutcome
	for _, r := range outs {
		status := "done"
		switch {
		case r.err != nil && errors.Is(r.err, errPartial):
			status = "continues next run"
		case r.err != nil:
			status = "FAILED"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.repo, units.Count(r.planned), units.Count(r.deleted), units.Count(r.failed), units.Count(r.remaining), status)
		t.planned, t.deleted, t.failed, t.remaining = t.planned+r.planned, t.deleted+r.deleted, t.failed+r.failed, t.remaining+r.remaining
	}
	fmt.Fprintf(w, "total\t%s\t%s\t%s\t%s\t\t\n", units.Count(t.planned), units.Count(t.deleted), units.Count(t.failed), units.Count(t.remaining))
	w.Flush()
}

// setOutputs writes the run's totals as GitHub Actions step outputs (deleted, failed, remaining,
// bytes-freed, repositories); outside Actions it does nothing.
func (o *rootOptions) setOutputs(outs []repoOutcome) error {
	r := ghactions.Detect(os.Getenv, o.stderr)
	if r == nil {
		return nil
	}
	var deleted, failed, remaining int
	var freed int64
	var repos, plans []string
	for _, x := range outs {
		deleted, failed, remaining, freed = deleted+x.deleted, failed+x.failed, remaining+x.remaining, freed+x.bytesFreed
		repos = append(repos, x.repo)
		if x.planFile != "" {
			plans = append(plans, x.planFile)
		}
	}
	out := map[string]string{
		"deleted": strconv.Itoa(deleted), "failed": strconv.Itoa(failed), "remaining": strconv.Itoa(remaining),
		"bytes-freed": strconv.FormatInt(freed, 10), "repositories": strings.Join(repos, "\n"),
	}
	if len(plans) > 0 {
		out["plan-files"] = strings.Join(plans, "\n")
	}
	return r.SetOutputs(out)
}

// outcomeOf fills a repository's outcome from its plan and what apply did.
func outcomeOf(p *plan.Plan, res *regtidy.ApplyResult, err error) repoOutcome {
	out := repoOutcome{err: err}
	if p != nil {
		for _, k := range p.Summary.Kinds {
			out.planned += k.DeletedTags
		}
	}
	if res == nil {
		return out
	}
	switch {
	case res.GHCR != nil:
		out.planned = res.GHCR.Planned
		out.failed = len(res.GHCR.Failed)
		if !res.GHCR.DryRun {
			out.deleted = len(res.GHCR.Deleted)
		}
	case res.OCI != nil:
		out.failed = len(res.OCI.Failed)
		if !res.OCI.DryRun {
			out.deleted = len(res.OCI.DeletedTags)
		}
	}
	out.remaining = res.Remaining()
	if p != nil && err == nil && out.remaining == 0 && out.failed == 0 && out.deleted > 0 {
		out.bytesFreed = p.Summary.BytesFreed
	}
	return out
}

// writeCombinedMarkdown writes the run's outcome per repository as a Markdown table, for the job
// summary.
func writeCombinedMarkdown(w io.Writer, outs []repoOutcome, dryRun bool) error {
	verb := "deleted"
	if dryRun {
		verb = "would delete (dry run)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## regtidy prune\n\n| repository | planned | %s | failed | left | status |\n| --- | ---: | ---: | ---: | ---: | --- |\n", verb)
	for _, r := range outs {
		status := "done"
		switch {
		case r.err != nil && errors.Is(r.err, errPartial):
			status = "continues next run"
		case r.err != nil:
			status = "failed: " + strings.ReplaceAll(r.err.Error(), "|", "\\|")
		}
		n := r.deleted
		if dryRun {
			n = r.planned
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.repo, units.Count(r.planned), units.Count(n), units.Count(r.failed), units.Count(r.remaining), status)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
