package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
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
	pace        string
	maxRequests int
	deadline    time.Duration
	pushGrace   time.Duration
}

func (g *ghcrOptions) add(o *rootOptions) {
	f := o.root.PersistentFlags()
	f.StringVar(&g.api, "github-api", "", "GitHub REST API base URL; set it for GitHub Enterprise (ghcr.io repositories use https://api.github.com)")
	f.StringVar(&g.tokenEnv, "token-env", "", "environment variable holding the GitHub token (default: GITHUB_TOKEN, then GH_TOKEN)")
	f.StringVar(&g.state, "state", "", "GHCR state file (version ids, deletions, refusals): a path or a gs://, s3://, file:// URL, so a nightly job can keep it (default: in the cache dir)")
	f.IntVar(&g.hourly, "hourly-budget", 0, "most REST requests an hour regtidy takes from the token (0: the token's own limit, as GitHub says in every answer: 5000 for a personal token, 1000 for GITHUB_TOKEN); it only lowers that limit")
	f.StringVar(&g.pace, "pace", "github", "pace of deletes and restores: github (one at a time, a second apart, as GitHub's REST best practices ask), "+
		"fast (concurrent, up to GitHub's documented secondary limit of 180 DELETEs a minute, slowing down at the first secondary-limit answer; "+
		"GitHub may tighten that limit without notice and block a token that keeps hitting it), or N deletes a minute at most (above 60 implies fast)")
	f.IntVar(&g.maxRequests, "max-requests", 0, "stop cleanly after this many REST requests; the next run continues (0: no limit)")
	f.DurationVar(&g.deadline, "deadline", 0, "stop cleanly after this long; the next run continues (0: no limit)")
	f.DurationVar(&g.pushGrace, "push-grace", time.Hour, "GHCR: untagged versions no tag reaches that are younger than this are kept (rule push-grace), since a push may still be uploading the index that will list them")
}

// validate refuses numeric GHCR flags out of range, as usage errors naming the flag.
func (g *ghcrOptions) validate() error {
	switch {
	case g.hourly < 0:
		return usageError(fmt.Errorf("--hourly-budget %d: want 0 (the token's own limit) or more requests an hour", g.hourly))
	case g.maxRequests < 0:
		return usageError(fmt.Errorf("--max-requests %d: want 0 (no limit) or more", g.maxRequests))
	case g.pushGrace < 0:
		return usageError(fmt.Errorf("--push-grace %s: want 0 (judge every version) or a positive duration", g.pushGrace))
	case g.deadline < 0:
		return usageError(fmt.Errorf("--deadline %s: want 0 (no limit) or a positive duration", g.deadline))
	}
	_, _, err := g.parsePace()
	return err
}

// parsePace reads --pace: "github" (the default), "fast", or a number of deletes a minute (above
// 60, fast with that ceiling; 0, the default).
func (g *ghcrOptions) parsePace() (perMinute float64, fast bool, err error) {
	switch v := strings.ToLower(strings.TrimSpace(g.pace)); v {
	case "", "github", "default":
		return 0, false, nil
	case "fast":
		return 0, true, nil
	default:
		n, perr := strconv.ParseFloat(v, 64)
		if perr != nil || math.IsNaN(n) || math.IsInf(n, 0) || n < 0 {
			return 0, false, usageError(fmt.Errorf("--pace %q: want github (one a second, the default), fast, or a positive number of deletes a minute", g.pace))
		}
		return n, n > 60, nil
	}
}

// lib turns the flags into the library's GHCR options.
func (g *ghcrOptions) lib() regtidy.GHCROptions {
	pace, fast, _ := g.parsePace() // validate refused a bad --pace before
	return regtidy.GHCROptions{
		API: g.api, TokenEnv: g.tokenEnv, State: g.state, Hourly: g.hourly,
		Pace: pace, FastPace: fast, MaxRequests: g.maxRequests, Deadline: g.deadline, PushGrace: &g.pushGrace,
	}
}
