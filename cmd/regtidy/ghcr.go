package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/ghcr"
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

	// Set only by `regtidy demo --ghcr`, never by a flag: the token of the emulated ghcr.io, and
	// the fake clock it shares with the client (now and sleep), on which GitHub's pacing and
	// rate-limit resets pass at once. Nil means the real time.
	token string
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// clockNow is the time on the GHCR clock: the real time unless the demo set a fake one.
func (g *ghcrOptions) clockNow() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}

func (g *ghcrOptions) add(o *rootOptions) {
	f := o.root.PersistentFlags()
	f.StringVar(&g.api, "github-api", "", "GitHub REST API base URL; set it for GitHub Enterprise (ghcr.io repositories use https://api.github.com)")
	f.StringVar(&g.tokenEnv, "token-env", "", "environment variable holding the GitHub token (default: GITHUB_TOKEN, then GH_TOKEN)")
	f.StringVar(&g.state, "state", "", "GHCR state file (version ids, deletions, refusals): a path or a gs://, s3://, file:// URL, so a nightly job can keep it (default: in the cache dir)")
	f.IntVar(&g.hourly, "hourly-budget", ghcr.HourlyPersonalToken, "the token's REST requests an hour (5000 for a personal token, 1000 for GITHUB_TOKEN)")
	f.Float64Var(&g.pace, "pace", 0, "most deletes a minute (0: as fast as GitHub's limits allow, starting at one a second)")
	f.IntVar(&g.maxRequests, "max-requests", 0, "stop cleanly after this many REST requests; the next run continues (0: no limit)")
	f.DurationVar(&g.deadline, "deadline", 0, "stop cleanly after this long; the next run continues (0: no limit)")
}

// validate refuses numeric GHCR flags out of range, as usage errors naming the flag.
func (g *ghcrOptions) validate() error {
	switch {
	case g.hourly < 1:
		return usageError(fmt.Errorf("--hourly-budget %d: want 1 or more requests an hour", g.hourly))
	case math.IsNaN(g.pace) || math.IsInf(g.pace, 0) || g.pace < 0:
		return usageError(fmt.Errorf("--pace %v: want 0 (as fast as GitHub's limits allow) or a positive number of deletes a minute", g.pace))
	case g.maxRequests < 0:
		return usageError(fmt.Errorf("--max-requests %d: want 0 (no limit) or more", g.maxRequests))
	case g.deadline < 0:
		return usageError(fmt.Errorf("--deadline %s: want 0 (no limit) or a positive duration", g.deadline))
	}
	return nil
}

// ghcrHost is GitHub Container Registry's registry host.
const ghcrHost = "ghcr.io"

// isGHCR reports whether repo is served by GitHub Container Registry (or --github-api says so).
func (o *rootOptions) isGHCR(repo string) bool {
	host, _, _ := strings.Cut(repo, "/")
	return host == ghcrHost || o.gh.api != ""
}

// ghcrBackend is a repository's REST client and state.
type ghcrBackend struct {
	rest      *ghcr.Client
	state     *ghcr.State
	statePath string
	now       func() time.Time
}

// ghcr opens the REST client and the state of a GHCR repository.
func (o *rootOptions) ghcr(ctx context.Context, repo string) (*ghcrBackend, error) {
	opts := []ghcr.Option{ghcr.WithLogger(o.logger())}
	if o.gh.api != "" {
		opts = append(opts, ghcr.WithBaseURL(o.gh.api))
	}
	if o.gh.tokenEnv != "" {
		opts = append(opts, ghcr.WithTokenEnv(o.gh.tokenEnv))
	}
	if o.gh.token != "" {
		opts = append(opts, ghcr.WithToken(o.gh.token))
	}
	if o.gh.now != nil && o.gh.sleep != nil {
		opts = append(opts, ghcr.WithClock(o.gh.now, o.gh.sleep))
	}
	if o.gh.pace > 0 {
		opts = append(opts, ghcr.WithPace(o.gh.pace))
	}
	if o.gh.maxRequests > 0 {
		opts = append(opts, ghcr.WithMaxRequests(o.gh.maxRequests))
	}
	if o.gh.deadline > 0 {
		opts = append(opts, ghcr.WithDeadline(o.gh.clockNow().Add(o.gh.deadline)))
	}
	rest, err := ghcr.New(repo, opts...)
	if err != nil {
		return nil, err
	}
	path := o.gh.state
	if path == "" {
		dir := o.cacheDir
		if dir == "" {
			if dir, err = inventory.DefaultCacheDir(); err != nil {
				return nil, fmt.Errorf("no user cache directory for the GHCR state (use --state): %w", err)
			}
		}
		owner, name, err := ghcr.ParseRepository(repo)
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(dir, "ghcr")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		path = filepath.Join(dir, owner+"_"+strings.ReplaceAll(name, "/", "_")+".json")
	}
	st, err := ghcr.LoadState(ctx, path)
	if err != nil {
		return nil, err
	}
	return &ghcrBackend{rest: rest, state: st, statePath: path, now: o.gh.clockNow}, nil
}

// save writes the state back, joining a failure to err.
func (b *ghcrBackend) save(ctx context.Context, err error) error {
	if serr := b.state.Save(ctx, b.statePath, b.now()); serr != nil {
		return errors.Join(err, fmt.Errorf("saving the GHCR state to %s: %w", b.statePath, serr))
	}
	return err
}

// budgetError turns a spent REST budget into a partial run: the next run continues.
func budgetError(err error) error {
	if err != nil && ghcr.IsBudgetSpent(err) {
		return fmt.Errorf("%w: %w", errPartial, err)
	}
	return err
}

// applyGHCR carries out a plan of package versions on GitHub Container Registry.
func (o *rootOptions) applyGHCR(ctx context.Context, c *registry.Client, p *plan.Plan, af *applyFlags) error {
	gb, err := o.ghcr(ctx, p.Repository)
	if err != nil {
		return err
	}
	cache, err := o.cache(p.Repository)
	if err != nil {
		return err
	}
	opt := ghcr.ApplyOptions{StatePath: gb.statePath, MaxDeletes: af.maxDeletes, DryRun: af.dryRun, Logger: o.logger()}
	if cache != nil {
		defer cache.Close()
		opt.Manifests = cache
	}
	if !af.dryRun {
		opt.JournalPath = af.journal
	}
	pr := o.newProgress()
	opt.Progress = func(done, total int) { pr.update("delete", done, total) }
	res, err := ghcr.Apply(ctx, p, c, gb.rest, gb.state, opt)
	pr.wait()
	if res != nil {
		if werr := o.writeGHCRResult(res, af); werr != nil && err == nil {
			err = werr
		}
	}
	switch {
	case err != nil && errors.Is(err, apply.ErrPartial):
		return fmt.Errorf("%w: %w", errPartial, err)
	case err != nil:
		return budgetError(err)
	case res.Partial():
		return fmt.Errorf("%w: %d versions left; run the same command again to continue", errPartial, res.Remaining)
	}
	return nil
}

func (o *rootOptions) writeGHCRResult(r *ghcr.ApplyResult, af *applyFlags) error {
	if o.output == "json" {
		return o.writeJSON(r)
	}
	w := o.stdout
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	fmt.Fprintf(w, "%s: %s %d of %d planned package versions (%d REST requests)\n", r.Repository, verb, len(r.Deleted), r.Planned, r.Requests)
	if n := len(r.Gone) + r.DoneBefore; n > 0 {
		fmt.Fprintf(w, "already gone or done by an earlier run: %d\n", n)
	}
	for _, u := range r.Undeletable {
		fmt.Fprintf(w, "GitHub refuses to delete version %d (%s): %s; recorded, later runs skip it\n", u.ID, short(u.Digest), u.Reason)
	}
	if n := len(r.Protected) + len(r.Held); n > 0 {
		fmt.Fprintf(w, "kept after all: %d versions a kept tag now reaches, or whose parent could not be deleted\n", n)
	}
	for _, f := range r.Failed {
		fmt.Fprintf(w, "FAILED %v\n", redact.Text(f.Error()))
	}
	if r.Remaining > 0 {
		fmt.Fprintf(w, "%d versions not done yet (%s): run the same command again to continue\n", r.Remaining, cmpStopped(r.Stopped))
	}
	if r.AfterApply != "" {
		fmt.Fprintf(w, "afterwards: %s\n", r.AfterApply)
	}
	if !r.DryRun && af.journal != "" && len(r.Deleted) > 0 {
		fmt.Fprintf(w, "journal: %s (regtidy undo %s restores the versions within GitHub's 30-day window)\n", af.journal, af.journal)
	}
	return nil
}

func cmpStopped(s string) string {
	if s == "" {
		return "budget or interruption"
	}
	return s
}

// undoGHCR restores the package versions a GHCR journal records as deleted.
func (o *rootOptions) undoGHCR(ctx context.Context, repo string, journal []byte, dryRun bool) error {
	gb, err := o.ghcr(ctx, repo)
	if err != nil {
		return err
	}
	pr := o.newProgress()
	res, err := ghcr.Undo(ctx, bytes.NewReader(journal), gb.rest, gb.state, ghcr.UndoOptions{
		StatePath: gb.statePath, DryRun: dryRun, Logger: o.logger(),
		Progress: func(done, total int) { pr.update("restore", done, total) },
	})
	pr.wait()
	if res != nil {
		if o.output == "json" {
			if werr := o.writeJSON(res); werr != nil && err == nil {
				err = werr
			}
		} else {
			verb := "restored"
			if dryRun {
				verb = "would restore"
			}
			fmt.Fprintf(o.stdout, "%s: %s %d package versions; %d were not deleted; %d are past GitHub's 30-day restore window\n",
				res.Repository, verb, len(res.Restored), len(res.NotDeleted), len(res.Expired))
			for _, f := range res.Failed {
				fmt.Fprintf(o.stdout, "NOT RESTORED %v\n", redact.Text(f.Error()))
			}
			if res.Remaining > 0 {
				fmt.Fprintf(o.stdout, "%d versions not restored yet (budget): run the same command again\n", res.Remaining)
			}
		}
	}
	if err != nil {
		return budgetError(err)
	}
	if len(res.Failed) > 0 || res.Remaining > 0 {
		return fmt.Errorf("%w: %d not restored", errPartial, len(res.Failed)+res.Remaining)
	}
	return nil
}
