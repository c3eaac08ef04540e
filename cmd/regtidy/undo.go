package main

import (
	"fmt"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/plan"
	"github.com/spf13/cobra"
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
			c, err := o.client()
			if err != nil {
				return err
			}
			defer o.printStats(c)
			pr := o.newProgress()
			res, err := regtidy.Undo(cmd.Context(), args[0], regtidy.UndoOptions{Options: o.options(c, pr), DryRun: dryRun})
			pr.wait()
			if res != nil {
				err = o.writeResult(err, res, res.WriteText)
			}
			return partial(err)
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
			opt := regtidy.VerifyOptions{}
			if planPath != "" {
				p, err := plan.Read(planPath)
				if err != nil {
					return err
				}
				if p.Repository != args[0] {
					return usageError(fmt.Errorf("--plan is for %s, not %s", p.Repository, args[0]))
				}
				opt.Plan = p
			} else {
				opt.Tags = args[1:]
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			defer o.printStats(c)
			pr := o.newProgress()
			opt.Options = o.options(c, pr)
			res, err := regtidy.Verify(cmd.Context(), args[0], opt)
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

// short is a digest cut to "sha256:" and its first 12 hex digits.
func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
