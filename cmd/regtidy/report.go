package main

import (
	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/report"
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
			opt := regtidy.ReportOptions{Report: ro.ropt, Git: ro.git, Branch: ro.branch, NoGit: ro.noGit}
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
			pr := o.newProgress()
			opt.Options = o.options(c, pr)
			res, err := regtidy.Report(cmd.Context(), args[0], opt)
			pr.wait()
			if err != nil {
				return err
			}
			o.heapCheckpoint("listed")
			o.warn(res.Warnings)
			defer o.printStats(c)
			return o.writeReport(res)
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

// writeReport writes a report as a table or, with -o json, with what building it cost.
func (o *rootOptions) writeReport(res *regtidy.ReportResult) error {
	switch o.output {
	case "json":
		j := res.JSON()
		j.PeakRSS = peakRSS()
		return o.writeJSON(j)
	default:
		return res.Report.WriteTable(o.stdout)
	}
}
