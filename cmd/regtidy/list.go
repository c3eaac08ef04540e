package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/ghcr"
	"github.com/regtidy/regtidy/registry/transport"
)

// listing is a repository's inventory with what building it cost.
type listing struct {
	inv   *inventory.Inventory
	build inventory.BuildStats
	stats transport.Stats
	// ghcr is set for GitHub Container Registry repositories.
	ghcr *ghcrBackend
}

// listRepo builds the inventory of repo through c, with the manifest cache and progress the flags
// ask for.
func (o *rootOptions) listRepo(ctx context.Context, c *registry.Client, repo string) (*listing, error) {
	cache, err := o.cache(repo)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		defer cache.Close()
	}
	pr := o.newProgress()
	bopt := inventory.BuildOptions{
		Cache:       cache,
		Concurrency: o.concurrency,
		IsNotFound:  func(err error) bool { return errors.Is(err, registry.ErrNotFound) },
		Progress:    pr.update,
		Logger:      o.logger(),
	}
	var (
		inv *inventory.Inventory
		st  inventory.BuildStats
		gb  *ghcrBackend
	)
	if o.isGHCR(repo) {
		// Tags and manifests through the OCI API; version ids through the REST API.
		if gb, err = o.ghcr(ctx, repo); err == nil {
			var gs ghcr.InventoryStats
			inv, gs, err = ghcr.BuildInventory(ctx, c, repo, gb.rest, gb.state, bopt)
			st = gs.Build
			err = budgetError(gb.save(ctx, err))
			if err == nil && gs.Unlisted > 0 {
				fmt.Fprintf(o.stderr, "regtidy: %d tagged manifests have no package version listed yet (pushed while listing?): they will not be deleted\n", gs.Unlisted)
			}
		}
	} else {
		inv, st, err = inventory.Build(ctx, c, repo, bopt)
	}
	pr.wait()
	if err != nil {
		return nil, err
	}
	o.heapCheckpoint("listed")
	if st.CacheCorrupt > 0 {
		o.logger().Warn("corrupt manifest cache entries were fetched again", "count", st.CacheCorrupt)
	}
	if len(inv.Vanished) > 0 {
		fmt.Fprintf(o.stderr, "regtidy: %d tags were deleted while listing (skipped): %s\n", len(inv.Vanished), firstFew(inv.Vanished, 5))
	}
	return &listing{inv: inv, build: st, stats: c.Counter().Snapshot(), ghcr: gb}, nil
}

// printStats writes request counts to stderr when --stats is set.
func (o *rootOptions) printStats(c *registry.Client) {
	if !o.stats {
		return
	}
	fmt.Fprintln(o.stderr)
	c.Counter().Snapshot().WriteTable(o.stderr) //nolint:errcheck // diagnostics on stderr
	if rss := peakRSS(); rss > 0 {
		fmt.Fprintf(o.stderr, "peak memory (RSS) %s\n", units.Bytes(rss))
	}
}

func firstFew(s []string, n int) string {
	if len(s) <= n {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v and %d more", s[:n], len(s)-n)
}
