package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/regtidy/regtidy/internal/units"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/transport"
)

// listing is a repository's inventory with what building it cost.
type listing struct {
	inv   *inventory.Inventory
	build inventory.BuildStats
	stats transport.Stats
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
	inv, st, err := inventory.Build(ctx, c, repo, inventory.BuildOptions{
		Cache:       cache,
		Concurrency: o.concurrency,
		IsNotFound:  func(err error) bool { return errors.Is(err, registry.ErrNotFound) },
		Progress:    pr.update,
		Logger:      o.logger(),
	})
	pr.wait()
	if err != nil {
		return nil, err
	}
	if st.CacheCorrupt > 0 {
		o.logger().Warn("corrupt manifest cache entries were fetched again", "count", st.CacheCorrupt)
	}
	if len(inv.Vanished) > 0 {
		fmt.Fprintf(o.stderr, "regtidy: %d tags were deleted while listing (skipped): %s\n", len(inv.Vanished), firstFew(inv.Vanished, 5))
	}
	return &listing{inv: inv, build: st, stats: c.Counter().Snapshot()}, nil
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
