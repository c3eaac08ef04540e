package ghcr

import (
	"context"
	"fmt"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// PushGrace is how long before the OCI listing started an untagged version that no tag reaches
// must have been created to enter the inventory. A push uploads an index's children (versions of
// their own, untagged) before the index and its tag, and the REST listing runs after the OCI one:
// a version younger than this, or created after the OCI listing, may belong to a push in progress
// and is left out, so no plan can take it for an orphan.
const PushGrace = time.Hour

// InventoryStats says what BuildInventory did.
type InventoryStats struct {
	// Build is the OCI side: tags listed and resolved, manifests fetched (not counted against the
	// REST rate limit).
	Build inventory.BuildStats `json:"build"`
	// Sync is the REST listing of versions.
	Sync SyncStats `json:"sync"`
	// Versions counts the versions put in the inventory.
	Versions int `json:"versions"`
	// Unlisted counts manifests a tag reaches that have no version id yet (pushed after the
	// listing, or a listing the budget stopped): a plan cannot delete them until a run lists them.
	Unlisted int `json:"unlisted"`
	// Withheld counts untagged versions no tag reaches that were left out as too new (PushGrace).
	Withheld int `json:"withheld"`
}

// BuildInventory lists a ghcr.io package the cheap way round. repo is the OCI reference of the
// package ("ghcr.io/OWNER/NAME", or the emulator's "127.0.0.1:PORT/OWNER/NAME"); oci reads it (a
// *registry.Client): tags, manifests and index children through the OCI API, which the REST rate
// limit does not count. Then rest.Sync brings st up to date (a repeat run lists one or two pages)
// and inv.Versions is filled from st: digest -> version id and creation time, with the tags the
// OCI listing saw. The policy then maps digests to version ids and finds orphans (untagged
// versions no tag reaches), of kind "untagged".
//
// What is left out, so that nothing is planned for deletion on a partial view: untagged versions
// no tag reaches that are younger than PushGrace at the OCI listing (a push in progress); and
// versions not listed yet, which simply have no id: their decisions carry VersionID 0, Apply looks
// them up in the State it is given, and never deletes a digest it has no id for.
//
// opt.Now defaults to the REST client's clock. When the listing stops on a spent budget, the
// inventory comes back with what st knows and an error wrapping a *BudgetError: save st, and let
// the next run continue the listing before planning (the versions not yet listed are the oldest,
// the very ones a policy deletes).
func BuildInventory(ctx context.Context, oci inventory.Source, repo string, rest *Client, st *State, opt inventory.BuildOptions) (*inventory.Inventory, InventoryStats, error) {
	var stats InventoryStats
	owner, name, err := ParseRepository(repo)
	if err != nil {
		return nil, stats, err
	}
	if got := owner + "/" + name; got != rest.Repository() {
		return nil, stats, fmt.Errorf("ghcr: repository %s is package %s, but the REST client is for %s", repo, got, rest.Repository())
	}
	if opt.Now == nil {
		opt.Now = rest.now
	}
	inv, bst, err := inventory.Build(ctx, oci, repo, opt)
	stats.Build = bst
	if err != nil {
		return nil, stats, err
	}
	sst, syncErr := rest.Sync(ctx, st)
	stats.Sync = sst
	fillVersions(inv, st, &stats)
	if syncErr != nil {
		return inv, stats, fmt.Errorf("ghcr: listing the versions of %s: %w", rest.Repository(), syncErr)
	}
	return inv, stats, nil
}

// fillVersions sets inv.Versions from the state, leaving out what PushGrace withholds.
func fillVersions(inv *inventory.Inventory, st *State, stats *InventoryStats) {
	tags := inv.TagsByDigest()
	cut := inv.ListedAt.Add(-PushGrace)
	inv.Versions = make(map[string]*inventory.Version, len(st.Versions))
	for d, v := range st.Versions {
		_, reached := inv.Manifests[d]
		if !reached && len(tags[d]) == 0 && !v.Created.Before(cut) {
			stats.Withheld++
			continue
		}
		inv.Versions[d] = &inventory.Version{ID: v.ID, Digest: d, Tags: tags[d], CreatedAt: v.Created, UpdatedAt: v.Created}
	}
	for d := range inv.Manifests {
		if _, ok := st.Versions[d]; !ok {
			stats.Unlisted++
		}
	}
	stats.Versions = len(inv.Versions)
}
