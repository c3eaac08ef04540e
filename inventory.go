package regtidy

import (
	"context"
	"errors"
	"fmt"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry/ghcr"
	"github.com/regtidy/regtidy/registry/transport"
)

// InventoryOptions configure Inventory.
type InventoryOptions struct {
	Options
}

// Listing is a repository's inventory with what building it cost.
type Listing struct {
	// Inventory is every tag and manifest of the repository.
	Inventory *inventory.Inventory
	// Build counts the listing's work; Requests the client's requests so far.
	Build    inventory.BuildStats
	Requests transport.Stats
	// Unlisted counts tagged manifests of a GHCR repository with no package version listed yet
	// (pushed while listing): they are never deleted.
	Unlisted int
	// Warnings say what the listing skipped or repaired; the listing is still usable.
	Warnings []string

	// ghcr is set for GitHub Container Registry repositories.
	ghcr *ghcrBackend
}

// GHCR reports whether the repository was listed as a GitHub Container Registry one.
func (l *Listing) GHCR() bool { return l.ghcr != nil }

// Inventory lists repo: every tag, the manifests they reach, their configs, through the
// manifest cache. On GitHub Container Registry it also lists the package versions (and keeps
// their ids in the state file).
func Inventory(ctx context.Context, repo string, opt InventoryOptions) (*Listing, error) {
	l, err := list(ctx, &opt.Options, repo)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", repo, err)
	}
	return l, nil
}

// list builds the inventory of repo.
func list(ctx context.Context, o *Options, repo string) (*Listing, error) {
	return listWith(ctx, o, repo, false)
}

// listWith lists repo; with ociOnly a GHCR repository without a GitHub token is listed through
// the registry API alone (tags and manifests, no package versions), with a warning saying so.
func listWith(ctx context.Context, o *Options, repo string, ociOnly bool) (*Listing, error) {
	c := o.client()
	cache, err := o.cache(repo)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		defer cache.Close()
	}
	bopt := inventory.BuildOptions{
		Cache:       cache,
		Concurrency: o.Concurrency,
		Progress:    o.Progress,
		Logger:      o.logger(),
	}
	l := &Listing{}
	ghcrRepo := IsGHCR(repo, o.GHCR)
	if ghcrRepo && ociOnly {
		if _, err := openGHCRClient(o, repo); errors.Is(err, ghcr.ErrNoToken) {
			ghcrRepo = false
			l.Warnings = append(l.Warnings, "no GitHub token: tags and manifests were read through the registry API alone, without package versions (set GITHUB_TOKEN to count versions and orphans)")
		}
	}
	if ghcrRepo {
		// Tags and manifests through the OCI API; version ids through the REST API.
		gb, err := openGHCR(ctx, o, repo)
		if err != nil {
			return nil, err
		}
		inv, gs, err := ghcr.BuildInventory(ctx, c, repo, gb.rest, gb.state, bopt)
		if err = gb.save(ctx, err); err != nil {
			return nil, err
		}
		l.Inventory, l.Build, l.Unlisted, l.ghcr = inv, gs.Build, gs.Unlisted, gb
		if gs.Unlisted > 0 {
			l.Warnings = append(l.Warnings, fmt.Sprintf("%d tagged manifests have no package version listed yet (pushed while listing?): they will not be deleted", gs.Unlisted))
		}
	} else {
		if l.Inventory, l.Build, err = inventory.Build(ctx, c, repo, bopt); err != nil {
			return nil, err
		}
	}
	if l.Build.CacheCorrupt > 0 {
		o.logger().Warn("corrupt manifest cache entries were fetched again", "count", l.Build.CacheCorrupt)
	}
	if v := l.Inventory.Vanished; len(v) > 0 {
		l.Warnings = append(l.Warnings, fmt.Sprintf("%d tags were deleted while listing (skipped): %s", len(v), firstFew(v, 5)))
	}
	l.Requests = c.Counter().Snapshot()
	return l, nil
}

func firstFew(s []string, n int) string {
	if len(s) <= n {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v and %d more", s[:n], len(s)-n)
}
