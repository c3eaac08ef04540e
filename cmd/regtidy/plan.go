package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/ghcr"
	"github.com/regtidy/regtidy/source"
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
		Use:   "plan REPOSITORY --policy FILE [-o plan.json]",
		Short: "Evaluate a retention policy into a reviewable plan (deletes nothing)",
		Long: `plan lists the repository, loads the policy's keep sources (git history, run metadata),
and decides for every manifest whether it is kept or deleted, with the reasons. The plan file it
writes is what apply carries out; explain reads it. Nothing is deleted.`,
		Example: `  regtidy plan ghcr.io/openhands/eval-agent-server --policy examples/openhands.yaml -o plan.json
  regtidy explain plan.json 1a2b3c4-gaia-binary`,
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
			p, err := o.makePlan(cmd.Context(), c, args[0], pf)
			if err != nil {
				return err
			}
			if out != "" {
				if err := p.WriteFile(out); err != nil {
					return fmt.Errorf("writing the plan: %w", err)
				}
			}
			if err := o.writePlanSummary(p); err != nil {
				return err
			}
			if out != "" && o.output == "table" {
				fmt.Fprintf(o.stdout, "\nPlan written to %s. Review it (regtidy explain %s TAG), then: regtidy apply %s\n", out, out, out)
			}
			return nil
		},
	}
	pf.add(cmd)
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the plan file here")
	o.addFormatFlag(cmd, "format", "")
	return cmd
}

// makePlan lists repo, resolves the policy's keep sources and evaluates the policy.
func (o *rootOptions) makePlan(ctx context.Context, c *registry.Client, repo string, pf *planFlags) (*plan.Plan, error) {
	mode, err := plan.ParseMode(pf.mode)
	if err != nil {
		return nil, usageError(err)
	}
	pol, err := policy.Load(pf.policy)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if pf.now != "" {
		if now, err = time.Parse(time.RFC3339, pf.now); err != nil {
			return nil, usageError(fmt.Errorf("--now: %w", err))
		}
	}
	// Keep sources first: a source that fails stops the plan before any listing work.
	loader := source.Loader{Auth: source.GitAuth{TokenEnv: pf.tokenEnv}, Registry: c, Logger: o.logger()}
	if o.cacheDir != "" {
		loader.CacheDir = filepath.Join(o.cacheDir, "git")
	}
	if !o.noCache {
		if loader.ManifestCacheDir = o.cacheDir; loader.ManifestCacheDir == "" {
			loader.ManifestCacheDir, _ = inventory.DefaultCacheDir() // no cache dir: no cache
		}
	}
	keep, err := policy.Resolve(ctx, pol, loader, now)
	if err != nil {
		return nil, err
	}
	l, err := o.listRepo(ctx, c, repo)
	if err != nil {
		return nil, err
	}
	p, err := policy.Evaluate(l.inv, pol, keep, now)
	if err != nil {
		return nil, err
	}
	p.CreatedAt = time.Now().UTC()
	if l.ghcr != nil {
		p.Cost = ghcr.PlanCost(p, l.ghcr.state, o.gh.hourly)
		p.Cost.Requested = string(plan.ModeVersion)
		return p, nil
	}
	p.Cost = plan.EstimateCost(p, mode)
	p.Cost.Requested = string(mode)
	return p, nil
}

// writePlanSummary writes what plan and prune show of a plan: its summary, then what each keep
// source read.
func (o *rootOptions) writePlanSummary(p *plan.Plan) error {
	if o.output == "json" {
		return o.writeJSON(struct {
			Repository  string            `json:"repository"`
			Fingerprint string            `json:"fingerprint"`
			Summary     plan.Summary      `json:"summary"`
			Cost        plan.Cost         `json:"cost"`
			Sources     []plan.SourceRead `json:"sources,omitempty"`
		}{p.Repository, p.Fingerprint, p.Summary, p.Cost, p.Sources})
	}
	if err := p.WriteSummary(o.stdout); err != nil {
		return err
	}
	return p.WriteSources(o.stdout)
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
