package main

import (
	"context"
	"fmt"
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
	var mode plan.Mode
	if af.mode != "" {
		m, err := plan.ParseMode(af.mode)
		if err != nil {
			return usageError(err)
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
		werr := error(nil)
		if o.output == "json" {
			werr = o.writeJSON(res)
		} else {
			werr = res.WriteText(o.stdout)
		}
		if werr != nil && err == nil {
			err = werr
		}
	}
	return partial(err)
}

func newPruneCmd(o *rootOptions) *cobra.Command {
	pf := &planFlags{}
	af := &applyFlags{}
	var yes bool
	cmd := &cobra.Command{
		Use:   "prune REPOSITORY --policy FILE [--yes]",
		Short: "Plan and apply in one step, for schedules; a dry run unless --yes",
		Example: `  regtidy prune ghcr.io/openhands/eval-agent-server --policy examples/openhands.yaml          # shows what it would do
  regtidy prune ghcr.io/openhands/eval-agent-server --policy examples/openhands.yaml --yes    # does it`,
		Args: exactArgs(1),
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
			p, err := o.makePlan(cmd.Context(), c, args[0], pf)
			if err != nil {
				return err
			}
			if o.output == "table" {
				if err := o.writePlanSummary(p); err != nil {
					return err
				}
				fmt.Fprintln(o.stdout)
			}
			af.dryRun = !yes
			af.mode = pf.mode
			if yes && af.journal == "" {
				af.journal, err = o.defaultJournal(p.Repository)
				if err != nil {
					return err
				}
			}
			err = o.applyPlan(cmd.Context(), c, p, af)
			if !yes && err == nil && o.output == "table" {
				fmt.Fprintln(o.stdout, "dry run: nothing was deleted; add --yes to delete")
			}
			return err
		},
	}
	pf.add(cmd)
	af.add(cmd, false)
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete (without it prune is a dry run)")
	o.addFormatFlag(cmd, "output", "o")
	return cmd
}

// defaultJournal is a new journal file under the cache directory's journals folder.
func (o *rootOptions) defaultJournal(repo string) (string, error) {
	return regtidy.NewJournalPath(regtidy.Options{CacheDir: o.cacheDir}, repo, time.Now())
}
