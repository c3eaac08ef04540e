package main

import (
	"encoding/json"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry/transport"
	"github.com/regtidy/regtidy/report"
	"github.com/spf13/cobra"
)

type reportOptions struct {
	policy string
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
			if ro.policy != "" {
				s, err := policy.LoadScheme(ro.policy)
				if err != nil {
					return err
				}
				scheme = s
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			l, err := o.listRepo(cmd.Context(), c, args[0])
			if err != nil {
				return err
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
	return cmd
}

// reportJSON is report's JSON output: the report plus what it cost.
type reportJSON struct {
	*report.Report
	Build    inventory.BuildStats `json:"build"`
	Requests transport.Stats      `json:"requests"`
}

func (o *rootOptions) writeReport(r *report.Report, l *listing) error {
	switch o.output {
	case "json":
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(reportJSON{Report: r, Build: l.build, Requests: l.stats})
	default:
		return r.WriteTable(o.stdout)
	}
}
