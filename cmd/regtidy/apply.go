package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
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

// applyPlan carries out p and reports the result; a partial run returns errPartial.
func (o *rootOptions) applyPlan(ctx context.Context, c *registry.Client, p *plan.Plan, af *applyFlags) error {
	if p.Cost.Mode == string(plan.ModeVersion) {
		return o.applyGHCR(ctx, c, p, af)
	}
	modeName := af.mode
	if modeName == "" {
		modeName = firstNonEmpty(p.Cost.Requested, p.Cost.Mode)
	}
	mode, err := plan.ParseMode(modeName)
	if err != nil {
		return usageError(err)
	}
	cache, err := o.cache(p.Repository)
	if err != nil {
		return err
	}
	opt := apply.ApplyOptions{
		Mode:        mode,
		MaxDeletes:  af.maxDeletes,
		Concurrency: af.concurrency,
		Logger:      o.logger(),
		DryRun:      af.dryRun,
	}
	if cache != nil {
		defer cache.Close()
		opt.Manifests = cache
	}
	if !af.dryRun {
		opt.JournalPath = af.journal
	}
	pr := o.newProgress()
	opt.Progress = func(done, total int) { pr.update("delete", done, total) }
	res, err := apply.Apply(ctx, p, c, opt)
	pr.wait()
	if res != nil {
		if werr := o.writeApplyResult(res, af); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		if errors.Is(err, apply.ErrPartial) {
			return fmt.Errorf("%w: %w", errPartial, err)
		}
		return err
	}
	if res.Partial() {
		return fmt.Errorf("%w: %d deletes left; run the same command again to continue", errPartial, res.Remaining)
	}
	return nil
}

func (o *rootOptions) writeApplyResult(r *apply.ApplyResult, af *applyFlags) error {
	if o.output == "json" {
		return o.writeJSON(r)
	}
	w := o.stdout
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	fmt.Fprintf(w, "%s in %s mode: %s %d tags and %d manifests\n", r.Repository, r.Mode, verb, len(r.DeletedTags), len(r.DeletedManifests))
	if n := len(r.GoneTags) + len(r.GoneManifests); n > 0 {
		fmt.Fprintf(w, "already gone (an earlier run, or someone else): %d\n", n)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s: it moved from %s to %s since the plan\n", s.Tag, short(s.Planned), short(s.Live))
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "FAILED %v\n", f) // Failure.Error redacts credentials
	}
	if r.Remaining > 0 {
		fmt.Fprintf(w, "%d deletes not done yet (--max-deletes or interrupted): run the same command again to continue\n", r.Remaining)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "note: %s\n", warn)
	}
	if r.AfterApply != "" && !slices.Contains(r.Warnings, r.AfterApply) {
		fmt.Fprintf(w, "afterwards: %s\n", r.AfterApply)
	}
	if !r.DryRun && af.journal != "" && len(r.DeletedTags)+len(r.DeletedManifests) > 0 {
		fmt.Fprintf(w, "journal: %s (regtidy undo %s puts the deleted images back while the registry still has their blobs)\n", af.journal, af.journal)
	}
	return nil
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
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
	dir := o.cacheDir
	if dir == "" {
		d, err := inventory.DefaultCacheDir()
		if err != nil {
			return "", fmt.Errorf("no user cache directory for the journal (use --journal): %w", err)
		}
		dir = d
	}
	dir = filepath.Join(dir, "journals")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(repo)
	return filepath.Join(dir, name+"-"+time.Now().UTC().Format("20060102T150405Z")+".jsonl"), nil
}
