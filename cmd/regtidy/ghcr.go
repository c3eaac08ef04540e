package main

import (
	"fmt"
	"math"
	"time"

	"github.com/regtidy/regtidy"
)

// ghcrOptions are the flags of GitHub Container Registry repositories, where deletes go through
// GitHub's REST API on package versions.
type ghcrOptions struct {
	api         string
	tokenEnv    string
	state       string
	hourly      int
	pace        float64
	maxRequests int
	deadline    time.Duration
}

func (g *ghcrOptions) add(o *rootOptions) {
	f := o.root.PersistentFlags()
	f.StringVar(&g.api, "github-api", "", "GitHub REST API base URL; set it for GitHub Enterprise (ghcr.io repositories use https://api.github.com)")
	f.StringVar(&g.tokenEnv, "token-env", "", "environment variable holding the GitHub token (default: GITHUB_TOKEN, then GH_TOKEN)")
	f.StringVar(&g.state, "state", "", "GHCR state file (version ids, deletions, refusals): a path or a gs://, s3://, file:// URL, so a nightly job can keep it (default: in the cache dir)")
	f.IntVar(&g.hourly, "hourly-budget", 0, "most REST requests an hour regtidy takes from the token (0: the token's own limit, as GitHub says in every answer: 5000 for a personal token, 1000 for GITHUB_TOKEN); it only lowers that limit")
	f.Float64Var(&g.pace, "pace", 0, "most deletes a minute (0: as fast as GitHub's limits allow, starting at one a second)")
	f.IntVar(&g.maxRequests, "max-requests", 0, "stop cleanly after this many REST requests; the next run continues (0: no limit)")
	f.DurationVar(&g.deadline, "deadline", 0, "stop cleanly after this long; the next run continues (0: no limit)")
}

// validate refuses numeric GHCR flags out of range, as usage errors naming the flag.
func (g *ghcrOptions) validate() error {
	switch {
	case g.hourly < 0:
		return usageError(fmt.Errorf("--hourly-budget %d: want 0 (the token's own limit) or more requests an hour", g.hourly))
	case math.IsNaN(g.pace) || math.IsInf(g.pace, 0) || g.pace < 0:
		return usageError(fmt.Errorf("--pace %v: want 0 (as fast as GitHub's limits allow) or a positive number of deletes a minute", g.pace))
	case g.maxRequests < 0:
		return usageError(fmt.Errorf("--max-requests %d: want 0 (no limit) or more", g.maxRequests))
	case g.deadline < 0:
		return usageError(fmt.Errorf("--deadline %s: want 0 (no limit) or a positive duration", g.deadline))
	}
	return nil
}

// lib turns the flags into the library's GHCR options.
func (g *ghcrOptions) lib() regtidy.GHCROptions {
	return regtidy.GHCROptions{
		API: g.api, TokenEnv: g.tokenEnv, State: g.state, Hourly: g.hourly,
		Pace: g.pace, MaxRequests: g.maxRequests, Deadline: g.deadline,
	}
}
