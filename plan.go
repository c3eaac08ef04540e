package regtidy

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry/ghcr"
	"github.com/regtidy/regtidy/source"
)

// PlanOptions configure Plan.
type PlanOptions struct {
	Options
	// Policy is the retention policy; if nil, PolicyFile is loaded.
	Policy     *policy.Policy
	PolicyFile string
	// Now is the time the policy is evaluated at (ages, run liveness); zero means now.
	Now time.Time
	// Mode is how an OCI plan's deletes will be made (auto, tag or digest; empty means auto).
	// GHCR plans delete package versions whatever it says.
	Mode plan.Mode
	// GitTokenEnv names an environment variable with a token for https git remotes of commits
	// rules.
	GitTokenEnv string
	// Listed, if set, is called once the repository is listed, before the policy is evaluated:
	// the moment the listing is largest in memory. The listing's inventory is then handed to
	// the evaluation, which drops its manifests (their configs and layers, and the map of them)
	// once it has counted the bytes freed (see policy.EvaluateOwned): a callback that needs them
	// reads them here.
	Listed func(*Listing)
}

// Plan evaluates a retention policy on repo into a plan: it resolves the policy's keep sources
// (git history, run metadata; a source that fails stops the plan before any listing work), lists
// the repository, decides for every manifest whether it is kept or deleted with the reasons, and
// estimates what applying it costs. Nothing is deleted.
func Plan(ctx context.Context, repo string, opt PlanOptions) (*plan.Plan, error) {
	p, err := makePlan(ctx, &opt, repo)
	if err != nil {
		return nil, fmt.Errorf("plan of %s: %w", repo, err)
	}
	return p, nil
}

func makePlan(ctx context.Context, opt *PlanOptions, repo string) (*plan.Plan, error) {
	mode := opt.Mode
	if mode == "" {
		mode = plan.ModeAuto
	}
	if _, err := plan.ParseMode(string(mode)); err != nil {
		return nil, err
	}
	pol := opt.Policy
	if pol == nil {
		if opt.PolicyFile == "" {
			return nil, fmt.Errorf("no policy: set PlanOptions.Policy or PolicyFile")
		}
		var err error
		if pol, err = policy.Load(opt.PolicyFile); err != nil {
			return nil, err
		}
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	c := opt.client()
	loader := source.Loader{
		Auth: source.GitAuth{TokenEnv: opt.GitTokenEnv}, Registry: c, Logger: opt.logger(),
		CacheDir: opt.gitCacheDir(),
	}
	if !opt.NoCache {
		if loader.ManifestCacheDir = opt.CacheDir; loader.ManifestCacheDir == "" {
			loader.ManifestCacheDir, _ = inventory.DefaultCacheDir() // no cache dir: no cache
		}
	}
	keep, err := policy.Resolve(ctx, pol, loader, now)
	if err != nil {
		return nil, err
	}
	l, err := list(ctx, &opt.Options, repo)
	if err != nil {
		return nil, err
	}
	if opt.Listed != nil {
		opt.Listed(l)
	}
	// The listing is this function's own: the evaluation may drop the blob lists it no longer
	// needs before it writes the decisions, the moment a plan's memory peaks.
	p, err := policy.EvaluateOwned(l.Inventory, pol, keep, now)
	if err != nil {
		return nil, err
	}
	p.CreatedAt = time.Now().UTC()
	if l.ghcr != nil {
		p.Cost = ghcr.PlanCost(p, l.ghcr.state, l.ghcr.rest.Rate(hourlyBudget(opt.GHCR.Hourly, l.ghcr.rest.RateLimit())))
		p.Cost.Requested = string(plan.ModeVersion)
		return p, nil
	}
	p.Cost = plan.EstimateCost(p, mode)
	p.Cost.Requested = string(mode)
	return p, nil
}

// PlanSummary is what `regtidy plan -o json` shows of a plan: its summary, cost and what each
// keep source read, without the decisions.
type PlanSummary struct {
	Repository  string            `json:"repository"`
	Fingerprint string            `json:"fingerprint"`
	Summary     plan.Summary      `json:"summary"`
	Cost        plan.Cost         `json:"cost"`
	Sources     []plan.SourceRead `json:"sources,omitempty"`
}

// SummaryOf returns p's summary.
func SummaryOf(p *plan.Plan) PlanSummary {
	return PlanSummary{p.Repository, p.Fingerprint, p.Summary, p.Cost, p.Sources}
}

// WritePlanText writes what the regtidy command shows of a plan: its summary, then what each keep
// source read.
func WritePlanText(w io.Writer, p *plan.Plan) error {
	if err := p.WriteSummary(w); err != nil {
		return err
	}
	return p.WriteSources(w)
}
