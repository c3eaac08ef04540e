package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry/transport"
	"github.com/regtidy/regtidy/report"
	"github.com/regtidy/regtidy/source"
	"github.com/spf13/cobra"
)

type reportOptions struct {
	policy string
	git    string
	branch string
	noGit  bool
	ropt   report.Options
}

func newReportCmd(o *rootOptions) *cobra.Command {
	ro := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report REPOSITORY",
		Short: "Measure a repository: tags by kind, fan-out per commit, sizes, sharing, oldest image",
		Example: `  regtidy report ghcr.io/openhands/eval-agent-server --policy examples/openhands.yaml
  regtidy report localhost:5000/team/app -o json --stats`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(); err != nil {
				return err
			}
			var scheme report.Classifier
			var pol *policy.Policy
			if ro.policy != "" {
				var err error
				if pol, err = policy.Load(ro.policy); err != nil {
					return err
				}
				scheme = pol.Scheme
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			l, err := o.listRepo(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			if !ro.noGit {
				ro.ropt.History = o.history(cmd.Context(), pol, ro)
			}
			r := report.Compute(l.inv, scheme, ro.ropt)
			defer o.printStats(c)
			return o.writeReport(r, l)
		},
	}
	o.addFormatFlag(cmd, "output", "o")
	f := cmd.Flags()
	f.StringVar(&ro.policy, "policy", "", "policy file whose tag scheme classifies the tags")
	f.StringVar(&ro.ropt.GroupBy, "group-by", "sdk", "field whose distinct values and fan-out are counted")
	f.StringVar(&ro.ropt.SplitBy, "split-by", "bench", "field whose distribution is shown")
	f.IntVar(&ro.ropt.Top, "top", 10, "how many of the largest groups to list")
	f.IntVar(&ro.ropt.Heavy, "heavy", 1000, "tag count from which a group counts as heavy")
	f.StringVar(&ro.git, "git", "", "date the --group-by commits on this git repository's history (default: the policy's commits rule on that field)")
	f.StringVar(&ro.branch, "branch", "", "branch of --git (default: the policy's, else main)")
	f.BoolVar(&ro.noGit, "no-git", false, "do not read git history, even if the policy has a commits rule")
	return cmd
}

// reportJSON is report's JSON output: the report plus what it cost.
type reportJSON struct {
	*report.Report
	Build    inventory.BuildStats `json:"build"`
	Requests transport.Stats      `json:"requests"`
	// PeakRSS is this process's peak resident memory in bytes (Linux; 0 elsewhere).
	PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
}

func (o *rootOptions) writeReport(r *report.Report, l *listing) error {
	switch o.output {
	case "json":
		return o.writeJSON(reportJSON{Report: r, Build: l.build, Requests: l.stats, PeakRSS: peakRSS()})
	default:
		return r.WriteTable(o.stdout)
	}
}

// history loads the first-parent history that dates the group-by values: --git, or the
// repository of the policy's commits rule on the group-by field. A report is not a plan: a
// history that fails to load is a warning, and the report goes on without commit dates.
func (o *rootOptions) history(ctx context.Context, pol *policy.Policy, ro *reportOptions) *report.History {
	spec := policy.CommitsSpec{Repo: ro.git, Branch: ro.branch}
	if spec.Repo == "" && pol != nil {
		for _, r := range pol.Rules {
			for _, c := range r.Keep {
				if c.Commits != nil && c.Commits.Field == ro.ropt.GroupBy && spec.Repo == "" {
					spec.Repo, spec.Branch = c.Commits.Source.Repo, firstNonEmpty(ro.branch, c.Commits.Source.Branch)
				}
			}
		}
	}
	if spec.Repo == "" {
		return nil
	}
	spec.Branch = firstNonEmpty(spec.Branch, "main")
	spec.Last, spec.AllowFewer = maxHistory, true
	loader := source.Loader{Logger: o.logger()}
	if o.cacheDir != "" {
		loader.CacheDir = filepath.Join(o.cacheDir, "git")
	}
	commits, err := loader.LastCommits(ctx, spec)
	if err != nil {
		fmt.Fprintf(o.stderr, "regtidy: no commit dates in the report: %v\n", err)
		return nil
	}
	h := &report.History{Repo: spec.Repo, Branch: spec.Branch}
	for _, c := range commits {
		h.Commits = append(h.Commits, report.Commit{SHA: c.SHA, Time: c.Time})
	}
	return h
}

// maxHistory bounds the first-parent commits a report reads to date commits.
const maxHistory = 100_000

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
