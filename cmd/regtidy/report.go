package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/report"
	"github.com/spf13/cobra"
)

type reportOptions struct {
	policy string
	git    string
	branch string
	noGit  bool
	html   string
	plan   string
	ropt   report.Options
}

func newReportCmd(o *rootOptions) *cobra.Command {
	ro := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report REPOSITORY...",
		Short: "Measure a repository: tags by kind, fan-out per commit, sizes, sharing, oldest image",
		Long: `report lists a repository and measures it: tags by kind, distinct values and fan-out of the
group-by field (commits), sizes per platform and per split-by value, what blob sharing saves, the
oldest image. -o table (the default), json or markdown (for job summaries and pull-request
comments); --html writes a self-contained page with charts (the fan-out in commit order with the
keep window and live-run commits, sizes, tag ages) and a searchable tag table, and with --plan
what the plan keeps and deletes and why. Inside GitHub Actions the Markdown goes to the job
summary too.`,
		Example: `  regtidy report ghcr.io/openhands/eval-agent-server --policy examples/openhands.yaml
  regtidy report localhost:5000/team/app -o json --stats
  regtidy report localhost:5000/team/app --policy policy.yaml --plan plan.json --html report.html`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat("markdown"); err != nil {
				return err
			}
			var p *plan.Plan
			if ro.plan != "" {
				var err error
				if p, err = plan.Read(ro.plan); err != nil {
					return err
				}
			}
			opt := regtidy.ReportOptions{Report: ro.ropt, Git: ro.git, Branch: ro.branch, NoGit: ro.noGit}
			opt.Report.TagList = ro.html != ""
			if ro.policy != "" {
				var err error
				if opt.Policy, err = policy.Load(ro.policy); err != nil {
					return err
				}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			defer o.printStats(c)
			many := len(args) > 1 || strings.ContainsAny(strings.Join(args, " "), "*?[")
			if many && (ro.html != "" || p != nil) {
				return usageError(errors.New("--html and --plan are about one repository: give one"))
			}
			_, err = o.forEachRepository(cmd.Context(), c, args, func(ctx context.Context, repo string) repoOutcome {
				return repoOutcome{err: o.reportOne(ctx, c, repo, opt, ro, p)}
			})
			return err
		},
	}
	o.addFormatFlag(cmd, "output", "o", "markdown")
	f := cmd.Flags()
	f.StringVar(&ro.policy, "policy", "", "policy file whose tag scheme classifies the tags")
	f.StringVar(&ro.ropt.GroupBy, "group-by", "sdk", "field whose distinct values and fan-out are counted")
	f.StringVar(&ro.ropt.SplitBy, "split-by", "bench", "field whose distribution is shown")
	f.IntVar(&ro.ropt.Top, "top", 10, "how many of the largest groups to list")
	f.IntVar(&ro.ropt.Heavy, "heavy", 1000, "tag count from which a group counts as heavy")
	f.StringVar(&ro.git, "git", "", "date the --group-by commits on this git repository's history (default: the policy's commits rule on that field)")
	f.StringVar(&ro.branch, "branch", "", "branch of --git (default: the policy's, else main)")
	f.BoolVar(&ro.noGit, "no-git", false, "do not read git history, even if the policy has a commits rule")
	f.StringVar(&ro.html, "html", "", "also write a self-contained HTML page of the report (and of --plan) to this file")
	f.StringVar(&ro.plan, "plan", "", "a plan file of this repository: the page and the Markdown add what it keeps and deletes, and why")
	return cmd
}

// reportOne reports one repository in the output format, and the page and job summary asked for.
func (o *rootOptions) reportOne(ctx context.Context, c *registry.Client, repo string, opt regtidy.ReportOptions, ro *reportOptions, p *plan.Plan) error {
	pr := o.newProgress()
	opt.Options = o.options(c, pr)
	res, err := regtidy.Report(ctx, repo, opt)
	pr.wait()
	if err != nil {
		return err
	}
	o.heapCheckpoint("listed")
	o.warn(res.Warnings)
	if ro.html != "" {
		if err := writeHTMLReport(ro.html, res.Report, p); err != nil {
			return err
		}
	}
	if err := o.summarize(func(w io.Writer) error { return report.WriteMarkdown(w, res.Report, p, report.MarkdownOptions{}) }); err != nil {
		return err
	}
	return o.writeReport(res, p)
}

// writeHTMLReport writes the report page to path, through a temporary file so that a failed write
// leaves no half page.
func writeHTMLReport(path string, r *report.Report, p *plan.Plan) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".regtidy-report-*.html")
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := report.WriteHTML(tmp, r, p, report.HTMLOptions{}); err != nil {
		tmp.Close()
		return fmt.Errorf("--html %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// writeReport writes a report as a table, as Markdown (with the plan, if any) or, with -o json,
// with what building it cost.
func (o *rootOptions) writeReport(res *regtidy.ReportResult, p *plan.Plan) error {
	switch o.output {
	case "markdown":
		return report.WriteMarkdown(o.stdout, res.Report, p, report.MarkdownOptions{})
	case "json":
		j := res.JSON()
		j.PeakRSS = peakRSS()
		return o.writeJSON(j)
	default:
		return res.Report.WriteTable(o.stdout)
	}
}
