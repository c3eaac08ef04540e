package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/plan"
)

func newUndoCmd(o *rootOptions) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "undo JOURNAL",
		Short: "Put back what an apply deleted, byte-identical, from its journal",
		Long: `undo pushes every manifest an apply journaled back by digest, children before parents, with
the exact bytes it had, then its tags. It works while the registry still holds the images' blobs:
before the registry's garbage collection has run (on GitHub Container Registry, use the
restore of deleted package versions within 30 days). Tags that now point elsewhere are left alone
and reported.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(); err != nil {
				return err
			}
			// The journal of a whole-case apply is some 180 MB: it is streamed by plan.Undo,
			// which reads each manifest's bytes back from the file when it pushes them, not
			// held in memory. Its first header says whose journal it is.
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			h, err := apply.ReadJournalHeader(f)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if h.Mode == plan.ModeVersion {
				data, err := os.ReadFile(args[0])
				if err != nil {
					return err
				}
				return o.undoGHCR(cmd.Context(), h.Repository, data, dryRun)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			defer o.printStats(c)
			pr := o.newProgress()
			res, err := apply.Undo(cmd.Context(), f, c, apply.UndoOptions{
				Logger: o.logger(), DryRun: dryRun,
				Progress: func(done, total int) { pr.update("restore", done, total) },
			})
			pr.wait()
			if err != nil && res == nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if o.output == "json" {
				if werr := o.writeJSON(res); werr != nil {
					return werr
				}
			} else {
				w := o.stdout
				verb := "restored"
				if dryRun {
					verb = "would restore"
				}
				fmt.Fprintf(w, "%s: %s %d manifests and %d tags; %d manifests and %d tags were already there\n",
					res.Repository, verb, len(res.RestoredManifests), len(res.RestoredTags), len(res.PresentManifests), len(res.PresentTags))
				for _, c := range res.Conflicts {
					fmt.Fprintf(w, "left alone: %s now points at %s (it was %s)\n", c.Tag, short(c.Live), short(c.Planned))
				}
				for _, f := range res.Failed {
					fmt.Fprintf(w, "NOT RESTORED %v\n", f) // UndoFailure.Error redacts credentials
				}
			}
			if err != nil {
				return err
			}
			if len(res.Failed) > 0 {
				return fmt.Errorf("%w: %d could not be restored", errPartial, len(res.Failed))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be restored, push nothing")
	o.addFormatFlag(cmd, "output", "o")
	return cmd
}

func newVerifyCmd(o *rootOptions) *cobra.Command {
	var planPath string
	cmd := &cobra.Command{
		Use:   "verify REPOSITORY [--plan plan.json] [TAG...]",
		Short: "Check that kept tags still resolve whole: manifests, children, config and layer blobs",
		Long: `verify resolves each tag and checks every manifest it reaches (index children, nested indexes)
and every config and layer blob by HEAD. Run it after apply and after the registry's garbage
collection: on distribution v2, garbage-collect --delete-untagged also removes the children of
manifest lists still in use (distribution issue #3004; v3 keeps them). With --plan it checks the
plan's kept tags; with tags, those; otherwise every tag.`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			defer o.printStats(c)
			pr := o.newProgress()
			opt := apply.VerifyOptions{Logger: o.logger(), Progress: func(done, total int) { pr.update("verify", done, total) }}
			var res *apply.VerifyResult
			switch {
			case planPath != "":
				p, err := plan.Read(planPath)
				if err != nil {
					return err
				}
				if p.Repository != args[0] {
					return usageError(fmt.Errorf("--plan is for %s, not %s", p.Repository, args[0]))
				}
				res, err = apply.VerifyPlan(cmd.Context(), c, p, opt)
			case len(args) > 1:
				res, err = apply.Verify(cmd.Context(), c, args[0], apply.TagsNamed(args[1:]...), opt)
			default:
				res, err = apply.Verify(cmd.Context(), c, args[0], nil, opt)
			}
			pr.wait()
			if err != nil {
				return err
			}
			if o.output == "json" {
				if err := o.writeJSON(res); err != nil {
					return err
				}
			} else {
				w := o.stdout
				fmt.Fprintf(w, "%s: checked %d tags, %d manifests, %d blobs\n", res.Repository, res.Tags, res.Manifests, res.Blobs)
				for _, b := range res.Broken {
					for _, m := range b.Missing {
						fmt.Fprintf(w, "BROKEN %s: missing %s %s\n", b.Tag, m.Kind, m.Digest)
					}
				}
				for _, m := range res.Moved {
					fmt.Fprintf(w, "moved %s: %s -> %s (checked as it is now)\n", m.Tag, short(m.Planned), short(m.Live))
				}
				for _, u := range res.Unchecked {
					fmt.Fprintf(w, "could not check %s: %s\n", u.Tag, redact.Text(fmt.Sprint(u.Err)))
				}
				if res.OK() {
					fmt.Fprintln(w, "every tag resolves whole")
				}
			}
			if !res.OK() {
				return fmt.Errorf("%d tags broken, %d unchecked", len(res.Broken), len(res.Unchecked))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&planPath, "plan", "", "verify this plan's kept tags")
	o.addFormatFlag(cmd, "output", "o")
	return cmd
}
