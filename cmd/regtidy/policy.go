package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/source"
	"github.com/spf13/cobra"
)

// policyCheckFlags are the flags of `regtidy policy check`.
type policyCheckFlags struct {
	repo     string
	sources  bool
	now      string
	tokenEnv string
}

func newPolicyCmd(o *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with policy files: check one before planning with it",
		Long: `policy holds the commands about policy files. policy check parses a policy, lists its kinds
and rules, and with --repo counts what each kind and each condition matches in a repository.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPolicyCheckCmd(o))
	return cmd
}

func newPolicyCheckCmd(o *rootOptions) *cobra.Command {
	pf := &policyCheckFlags{}
	cmd := &cobra.Command{
		Use:   "check FILE [--repo REPOSITORY] [--sources]",
		Short: "Parse a policy, list its kinds and rules, and count what they match in a repository",
		Long: `check parses a policy file the way plan does: every problem is reported with the file, line,
column and field, and an invalid policy exits with status 2. It lists the kinds of the tag scheme
(in the order their patterns are tried) and the rules with their conditions.

With --repo, it lists the repository (tags and manifests, through the manifest cache) and counts
the tags of each kind and, for each condition of each rule, the tags of its kind the condition
holds for, each condition on its own. Conditions that read a keep source (commits: git history;
runs: run metadata in a bucket; base: other image repositories) are shown as such and not
evaluated: no keep source is contacted unless --sources asks, which loads them as plan does (and
fails as plan fails when one cannot be read). Nothing is decided and nothing is deleted; the
counts leave out what plan adds for safety (what kept images reach, digests shared with kept
tags).`,
		Example: `  regtidy policy check examples/openhands.yaml
  regtidy policy check policy.yaml --repo localhost:5000/team/app
  regtidy policy check policy.yaml --repo localhost:5000/team/app --sources -o json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.checkFormat(); err != nil {
				return err
			}
			now := time.Now().UTC()
			if pf.now != "" {
				var err error
				if now, err = time.Parse(time.RFC3339, pf.now); err != nil {
					return usageError(fmt.Errorf("--now: %w", err))
				}
			}
			pol, err := policy.Load(args[0])
			if err != nil {
				return err // an input error, exit status 1 as for plan: the message names file, line and field
			}
			res := policyCheckOf(pol)
			var c *registry.Client
			if pf.sources || pf.repo != "" {
				if c, err = o.client(); err != nil {
					return err
				}
				defer o.printStats(c)
			}
			var keep *policy.KeepSets
			if pf.sources {
				if keep, err = o.loadKeepSources(cmd.Context(), c, pol, pf.tokenEnv, now); err != nil {
					return err
				}
				res.Sources = keep.Reads()
			}
			if pf.repo != "" {
				if res.Repository, err = o.countPolicy(cmd.Context(), c, pf.repo, pol, keep, now); err != nil {
					return err
				}
			}
			if o.output == "json" {
				return o.writeJSON(res)
			}
			return res.writeText(o.stdout)
		},
	}
	o.addFormatFlag(cmd, "output", "o")
	f := cmd.Flags()
	f.StringVar(&pf.repo, "repo", "", "count the tags each kind and condition matches in this repository")
	f.BoolVar(&pf.sources, "sources", false, "load the keep sources (git history, run metadata, base repositories) and evaluate the conditions that read them")
	f.StringVar(&pf.now, "now", "", "measure ages and run liveness at this time (RFC 3339; default: now)")
	f.StringVar(&pf.tokenEnv, "git-token-env", "", "environment variable with a token for https git remotes of commits rules (with --sources)")
	return cmd
}

// loadKeepSources loads the policy's keep sources as plan does: git history, run metadata in
// buckets, base repositories through the registry client.
func (o *rootOptions) loadKeepSources(ctx context.Context, c *registry.Client, pol *policy.Policy, tokenEnv string, now time.Time) (*policy.KeepSets, error) {
	loader := source.Loader{Auth: source.GitAuth{TokenEnv: tokenEnv}, Registry: c, Logger: o.logger()}
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
		return nil, fmt.Errorf("%s: %w", pol.Name, err)
	}
	return keep, nil
}

// countPolicy lists repo through the library and counts what the policy's kinds and conditions
// match in it.
func (o *rootOptions) countPolicy(ctx context.Context, c *registry.Client, repo string, pol *policy.Policy, keep *policy.KeepSets, now time.Time) (*policyCheckRepo, error) {
	pr := o.newProgress()
	l, err := regtidy.Inventory(ctx, repo, regtidy.InventoryOptions{Options: o.options(c, pr)})
	pr.wait()
	if err != nil {
		return nil, err
	}
	o.warn(l.Warnings)
	counts, err := policy.Count(l.Inventory, pol, keep, now)
	if err != nil {
		return nil, err
	}
	return &policyCheckRepo{Name: repo, Counts: counts}, nil
}

// policyCheck is what `regtidy policy check` shows: the policy's kinds and rules and, with
// --repo, what they match. It is the command's -o json.
type policyCheck struct {
	File    string `json:"file"`
	Digest  string `json:"digest"`
	Version int    `json:"version"`
	// Patterns are the scheme's patterns in the order they are tried.
	Patterns []policyCheckPattern `json:"patterns"`
	// Rules are the rules in the policy's order, each with its conditions in the file's order.
	Rules []policyCheckRule `json:"rules"`
	// Unruled are the kinds (declared or regtidy's own) the policy has no rule for: kept whole.
	Unruled []string `json:"unruled,omitempty"`
	// Sources is what each keep source read, with --sources.
	Sources []plan.SourceRead `json:"sources,omitempty"`
	// Repository is what the kinds and conditions match in --repo.
	Repository *policyCheckRepo `json:"repository,omitempty"`
}

// policyCheckPattern is one pattern of the scheme.
type policyCheckPattern struct {
	Kind   string            `json:"kind"`
	Match  string            `json:"match"`
	Fields []string          `json:"fields,omitempty"`
	Const  map[string]string `json:"constants,omitempty"`
}

// policyCheckRule is one rule and its conditions.
type policyCheckRule struct {
	Kind       string                 `json:"kind"`
	Conditions []policyCheckCondition `json:"conditions"`
}

// policyCheckCondition is one keep condition of a rule.
type policyCheckCondition struct {
	Path      string   `json:"path"`
	Condition string   `json:"condition"`
	Sources   []string `json:"sources,omitempty"`
}

// policyCheckRepo is what a policy matches in a repository.
type policyCheckRepo struct {
	Name string `json:"name"`
	*policy.Counts
}

// policyCheckOf describes a parsed policy.
func policyCheckOf(pol *policy.Policy) *policyCheck {
	res := &policyCheck{File: pol.Name, Digest: pol.Digest, Version: pol.Version}
	for _, p := range pol.Scheme.Patterns {
		cp := policyCheckPattern{Kind: p.Kind, Match: p.Source, Const: p.Fields}
		for _, name := range p.Match.SubexpNames() {
			if name != "" {
				cp.Fields = append(cp.Fields, name)
			}
		}
		res.Patterns = append(res.Patterns, cp)
	}
	for _, r := range pol.Rules {
		cr := policyCheckRule{Kind: r.Kind}
		for _, c := range r.Keep {
			cr.Conditions = append(cr.Conditions, policyCheckCondition{Path: c.Path, Condition: c.String(), Sources: c.SourceKinds()})
		}
		res.Rules = append(res.Rules, cr)
	}
	for _, kind := range append(pol.Scheme.Kinds(), policy.KindUnknown, policy.KindReferrer, policy.KindUntagged) {
		if pol.Rule(kind) == nil {
			res.Unruled = append(res.Unruled, kind)
		}
	}
	return res
}
