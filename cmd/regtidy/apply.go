package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
	"github.com/spf13/cobra"
)

// applyFlags are the flags of the commands that delete (apply, prune).
type applyFlags struct {
	mode        string
	maxDeletes  int
	journal     string
	dryRun      bool
	concurrency int
}

func (af *applyFlags) add(cmd *cobra.Command, withMode bool) {
	f := cmd.Flags()
	if withMode {
		f.StringVar(&af.mode, "mode", "", "how to delete: auto, tag or digest (default: the mode the plan was made with)")
	}
	f.IntVar(&af.maxDeletes, "max-deletes", 0, "stop after this many DELETE requests (0: no limit); run again to continue")
	f.StringVar(&af.journal, "journal", "", "append the journal (deleted manifests' bytes and tags, for undo) to this file")
	f.IntVar(&af.concurrency, "delete-concurrency", 8, "deletes in flight at once")
}

// validate refuses numeric flags out of range, as usage errors naming the flag.
func (af *applyFlags) validate() error {
	if af.maxDeletes < 0 {
		return usageError(fmt.Errorf("--max-deletes %d: want 0 (no limit) or more", af.maxDeletes))
	}
	if af.concurrency < 1 {
		return usageError(fmt.Errorf("--delete-concurrency %d: want 1 or more", af.concurrency))
	}
	return nil
}

func newApplyCmd(o *rootOptions) *cobra.Command {
	af := &applyFlags{}
	cmd := &cobra.Command{
		Use:   "apply PLAN",
		Short: "Carry out a plan: re-check each tag, journal, delete; run again to finish an interrupted run",
		Long: `apply deletes exactly what the plan deletes. It refuses a plan whose repository changed in
ways that matter (a kept tag moved onto a deleted manifest), re-checks each tag right before
deleting it (a tag that moved is skipped), journals every manifest's bytes before its delete so
undo can put it back, and treats "already gone" as done, so running it again finishes the rest.`,
		Example: `  regtidy apply plan.json --dry-run
  regtidy apply plan.json --max-deletes 500 --journal tidy.journal.jsonl`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(); err != nil {
				return err
			}
			if err := af.validate(); err != nil {
				return err
			}
			p, err := plan.Read(args[0])
			if err != nil {
				return err
			}
			if af.journal == "" {
				af.journal = strings.TrimSuffix(args[0], filepath.Ext(args[0])) + ".journal.jsonl"
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			defer o.printStats(c)
			return o.applyPlan(cmd.Context(), c, p, af)
		},
	}
	af.add(cmd, true)
	cmd.Flags().BoolVar(&af.dryRun, "dry-run", false, "check everything, delete nothing")
	o.addFormatFlag(cmd, "output", "o")
	return cmd
}

// applyPlan carries out p through the library and reports the result; a partial run returns
// errPartial.
func (o *rootOptions) applyPlan(ctx context.Context, c *registry.Client, p *plan.Plan, af *applyFlags) error {
	_, err := o.applyPlanResult(ctx, c, p, af)
	return err
}

// applyPlanResult is applyPlan, returning the result too.
func (o *rootOptions) applyPlanResult(ctx context.Context, c *registry.Client, p *plan.Plan, af *applyFlags) (*regtidy.ApplyResult, error) {
	var mode plan.Mode
	if af.mode != "" {
		m, err := plan.ParseMode(af.mode)
		if err != nil {
			return nil, usageError(err)
		}
		mode = m
	}
	pr := o.newProgress()
	res, err := regtidy.Apply(ctx, p, regtidy.ApplyOptions{
		Options: o.options(c, pr), Mode: mode, MaxDeletes: af.maxDeletes,
		DeleteConcurrency: af.concurrency, Journal: af.journal, DryRun: af.dryRun,
	})
	pr.wait()
	if res != nil {
		err = o.writeResult(err, res, res.WriteText)
	}
	return res, partial(err)
}

func newPruneCmd(o *rootOptions) *cobra.Command {
	pf := &planFlags{}
	af := &applyFlags{}
	var yes bool
	var out string
	cmd := &cobra.Command{
		Use:   "prune REPOSITORY... --policy FILE [--yes]",
		Short: "Plan and apply in one step, for schedules; a dry run unless --yes",
		Long: `prune plans each repository with the policy and applies the plan, one repository after the
other: a dry run unless --yes. A glob in a GitHub Container Registry package name
(HOST/OWNER/eval-*) takes every matching package of the owner. The REST budgets are shared:
each repository gets an equal share of --max-requests and of what is left of --deadline; with
several repositories --state is a directory (or bucket prefix) of one state file per package and
--out a directory of one plan file per repository. Inside GitHub Actions the totals are step
outputs (deleted, failed, remaining, bytes-freed) and a table goes to the job summary.`,
		Example: `  regtidy prune ghcr.io/openhands/eval-agent-server --policy examples/openhands.yaml          # shows what it would do
  regtidy prune ghcr.io/openhands/eval-agent-server --policy examples/openhands.yaml --yes    # does it
  regtidy prune 'HOST/openhands/eval-*' --policy examples/openhands.yaml --yes --state states/ --out plans/`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(); err != nil {
				return err
			}
			if err := af.validate(); err != nil {
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
			if many && af.journal != "" {
				return usageError(errors.New("--journal names one file: with several repositories leave it out (each gets its own in the cache directory)"))
			}
			outs, err := o.forEachRepository(cmd.Context(), c, args, func(ctx context.Context, repo string) repoOutcome {
				return o.pruneOne(ctx, c, repo, pf, *af, yes, planFileFor(out, repo, many))
			})
			o.writeCombined(outs, !yes)
			if werr := o.setOutputs(outs); werr != nil && err == nil {
				err = werr
			}
			if serr := o.summarize(func(w io.Writer) error { return writeCombinedMarkdown(w, outs, !yes) }); serr != nil && err == nil {
				err = serr
			}
			return err
		},
	}
	pf.add(cmd)
	af.add(cmd, false)
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete (without it prune is a dry run)")
	cmd.Flags().StringVar(&out, "out", "", "also write the plan file here (with several repositories: a directory of plan files)")
	o.addFormatFlag(cmd, "output", "o")
	return cmd
}

// pruneOne plans and applies one repository.
func (o *rootOptions) pruneOne(ctx context.Context, c *registry.Client, repo string, pf *planFlags, af applyFlags, yes bool, planFile string) repoOutcome {
	p, err := o.makePlan(ctx, c, repo, pf)
	if err != nil {
		return repoOutcome{err: err}
	}
	if planFile != "" {
		if err := p.WriteFile(planFile); err != nil {
			return repoOutcome{err: fmt.Errorf("writing the plan: %w", err)}
		}
	}
	if o.output == "table" {
		if err := o.writePlanSummary(p); err != nil {
			return repoOutcome{err: err}
		}
		fmt.Fprintln(o.stdout)
	}
	af.dryRun = !yes
	af.mode = pf.mode
	if yes && af.journal == "" {
		if af.journal, err = o.defaultJournal(p.Repository); err != nil {
			return repoOutcome{err: err}
		}
	}
	res, err := o.applyPlanResult(ctx, c, p, &af)
	if !yes && err == nil && o.output == "table" {
		fmt.Fprintln(o.stdout, "dry run: nothing was deleted; add --yes to delete")
	}
	outc := outcomeOf(p, res, err)
	outc.planFile = planFile
	return outc
}

// defaultJournal is a new journal file under the cache directory's journals folder.
func (o *rootOptions) defaultJournal(repo string) (string, error) {
	return regtidy.NewJournalPath(regtidy.Options{CacheDir: o.cacheDir}, repo, time.Now())
}
