package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/report"
	"github.com/spf13/cobra"
)

// planFlags are the flags of the commands that make a plan (plan, prune).
type planFlags struct {
	policy   string
	now      string
	mode     string
	tokenEnv string
}

func (pf *planFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&pf.policy, "policy", "", "policy file (required)")
	f.StringVar(&pf.now, "now", "", "evaluate the policy at this time (RFC 3339; default: now)")
	f.StringVar(&pf.mode, "mode", "auto", "how deletes will be made: auto, tag or digest")
	f.StringVar(&pf.tokenEnv, "git-token-env", "", "environment variable with a token for https git remotes of commits rules")
	cmd.MarkFlagRequired("policy") //nolint:errcheck // the flag exists
}

func newPlanCmd(o *rootOptions) *cobra.Command {
	pf := &planFlags{}
	var out string
	cmd := &cobra.Command{
		Use:   "plan REPOSITORY... --policy FILE [--out plan.json]",
		Short: "Evaluate a retention policy into a reviewable plan (deletes nothing)",
		Long: `plan lists the repository, loads the policy's keep sources (git history, run metadata),
and decides for every manifest whether it is kept or deleted, with the reasons. The plan file it
writes is what apply carries out; explain reads it. Nothing is deleted.`,
		Example: `  regtidy plan ghcr.io/openhands/eval-agent-server --policy examples/openhands.yaml --out plan.json
  regtidy plan HOST/openhands/eval-agent-server --policy examples/openhands.yaml -o json   # the summary as JSON
  regtidy explain plan.json 1a2b3c4-gaia-binary`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.planOutput(cmd, &out); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			defer o.printStats(c)
			many := len(args) > 1 || strings.ContainsAny(strings.Join(args, " "), "*?[")
			if many && out != "" {
				if err := os.MkdirAll(out, 0o755); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
			}
			outs, err := o.forEachRepository(cmd.Context(), c, args, func(ctx context.Context, repo string) repoOutcome {
				file := planFileFor(out, repo, many)
				p, err := o.makePlan(ctx, c, repo, pf)
				if err != nil {
					return repoOutcome{err: err}
				}
				if file != "" {
					if err := p.WriteFile(file); err != nil {
						return repoOutcome{err: fmt.Errorf("writing the plan: %w", err)}
					}
				}
				if err := o.writePlanSummary(p); err != nil {
					return repoOutcome{err: err}
				}
				if file != "" && o.output == "table" {
					fmt.Fprintf(o.stdout, "\nPlan written to %s. Review it (regtidy explain %s TAG), then: regtidy apply %s\n", file, file, file)
				}
				r := outcomeOf(p, nil, nil)
				r.planFile = file
				return r
			})
			o.writeCombined(outs, true)
			if werr := o.setOutputs(outs); werr != nil && err == nil {
				err = werr
			}
			return err
		},
	}
	pf.add(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write the plan file here (with several repositories: a directory of plan files)")
	o.addFormatFlag(cmd, "output", "o", "markdown")
	cmd.Flags().StringVar(&o.output, "format", "table", "result format (deprecated: use -o)")
	cmd.Flags().MarkDeprecated("format", "use -o (--output), the result format flag of every command") //nolint:errcheck // the flag exists
	return cmd
}

// planOutput sorts out plan's output flags. -o is the result format, as in every command, and
// --out the plan file; -o FILE, which named the plan file before, still does, with a warning.
func (o *rootOptions) planOutput(cmd *cobra.Command, out *string) error {
	if err := o.checkFormat("markdown"); err == nil {
		return nil
	}
	if !cmd.Flags().Changed("output") {
		return o.checkFormat("markdown")
	}
	if *out != "" {
		return usageError(fmt.Errorf("-o %q: want table, json or markdown (the plan file is --out %s)", o.output, *out))
	}
	fmt.Fprintf(o.stderr, "regtidy: plan -o FILE is deprecated: use --out %s (-o is the result format, table, json or markdown, as in every command)\n", o.output)
	*out, o.output = o.output, "table"
	return nil
}

// makePlan turns the plan flags into options and makes the plan through the library: keep
// sources, listing, evaluation, cost. The listing's warnings go to stderr.
func (o *rootOptions) makePlan(ctx context.Context, c *registry.Client, repo string, pf *planFlags) (*plan.Plan, error) {
	mode, err := plan.ParseMode(pf.mode)
	if err != nil {
		return nil, usageError(err)
	}
	var now time.Time
	if pf.now != "" {
		if now, err = time.Parse(time.RFC3339, pf.now); err != nil {
			return nil, usageError(fmt.Errorf("--now: %w", err))
		}
	}
	pr := o.newProgress()
	defer pr.wait()
	opt := regtidy.PlanOptions{
		Options: o.options(c, pr), PolicyFile: pf.policy, Now: now, Mode: mode, GitTokenEnv: pf.tokenEnv,
		Listed: func(l *regtidy.Listing) {
			pr.wait()
			o.warn(l.Warnings)
			o.heapCheckpoint("listed")
		},
	}
	return regtidy.Plan(ctx, repo, opt)
}

// writePlanSummary writes what plan and prune show of a plan: its summary, then what each keep
// source read.
func (o *rootOptions) writePlanSummary(p *plan.Plan) error {
	if err := o.summarize(func(w io.Writer) error { return report.WritePlanMarkdown(w, p) }); err != nil {
		return err
	}
	switch o.output {
	case "json":
		return o.writeJSON(regtidy.SummaryOf(p))
	case "markdown":
		return report.WritePlanMarkdown(o.stdout, p)
	}
	return regtidy.WritePlanText(o.stdout, p)
}

func newExplainCmd(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain PLAN TAG|DIGEST...",
		Short: "Say why a plan keeps or deletes a tag or digest",
		Args:  minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(); err != nil {
				return err
			}
			p, err := plan.Read(args[0])
			if err != nil {
				return err
			}
			var found []plan.Decision
			for _, ref := range args[1:] {
				d, ok := p.Find(ref)
				if !ok {
					return fmt.Errorf("%s: no tag or digest %q in the plan of %s", args[0], ref, p.Repository)
				}
				found = append(found, d)
			}
			if o.output == "json" {
				return o.writeJSON(found)
			}
			for i, d := range found {
				if i > 0 {
					fmt.Fprintln(o.stdout)
				}
				if err := p.WriteDecision(o.stdout, d); err != nil {
					return err
				}
			}
			return nil
		},
	}
	o.addFormatFlag(cmd, "output", "o")
	return cmd
}

// exactArgs and minArgs are cobra's argument checks, reporting usage errors.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError(err)
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return usageError(err)
		}
		return nil
	}
}
