package ghcr

import (
	"context"
	"fmt"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// PushGrace is the default push grace (WithPushGrace): how long before the OCI listing started an
// untagged version that no tag reaches must have been created to be judged by the policy. A push
// uploads an index's children (versions of their own, untagged) before the index and its tag: a
// version younger than this, or created after the OCI listing, may belong to a push in progress.
// It enters the inventory marked Withheld, and the policy keeps it (rule "push-grace"), so no plan
// takes it for an orphan and every plan shows it.
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
	// Withheld counts untagged versions no tag reaches that are too new to judge (the push
	// grace): in the inventory, marked Withheld, and kept by the policy.
	Withheld int `json:"withheld"`
}

// BuildInventory lists a ghcr.io package the cheap way round. repo is the OCI reference of the
// package ("ghcr.io/OWNER/NAME", or the emulator's "127.0.0.1:PORT/OWNER/NAME"); oci reads it (a
// *registry.Client) through the OCI API, which the REST rate limit does not count.
//
// First rest.Sync brings st up to date (a repeat run lists one or two pages): version ids,
// creation times and each version's tags. Then the OCI tag listing (a few requests) names every
// live tag; a tag st knows takes its digest from st, and only the others (pushed since the
// listing, or moved onto an old version under a new name) are resolved; manifests come from the
// cache (opt.Cache), and only the ones it lacks are fetched. A repeat night with a warm cache so
// makes no request per tag. st then records the tags as seen (State.SeeTags), and inv.Versions is
// filled from st. The policy maps digests to version ids and finds orphans (untagged versions no
// tag reaches), of kind "untagged".
//
// A tag moved onto an older version keeps, in st and so in the inventory, the digest it had: a
// retag makes no new version, and an incremental listing does not read old pages again. The plan
// may then delete the version the tag now points at; Apply resolves every kept tag before its
// first delete, and leaves alone what they reach (ghcr.Apply).
//
// What is held back, so that nothing is planned for deletion on a partial view: untagged versions
// no tag reaches that are younger than the push grace at the OCI listing (a push in progress) are
// marked Withheld, which the policy keeps; and versions not listed yet simply have no id: their
// decisions carry VersionID 0, Apply looks them up in the State it is given, and never deletes a
// digest it has no id for.
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
	sst, syncErr := rest.Sync(ctx, st)
	stats.Sync = sst
	if opt.Known == nil {
		opt.Known = st.TagDigest
	}
	inv, bst, err := inventory.Build(ctx, oci, repo, opt)
	stats.Build = bst
	if err != nil {
		return nil, stats, err
	}
	st.SeeTags(inv.TagsByDigest())
	fillVersions(inv, st, rest.pushGrace, &stats)
	if syncErr != nil {
		return inv, stats, fmt.Errorf("ghcr: listing the versions of %s: %w", rest.Repository(), syncErr)
	}
	return inv, stats, nil
}

// fillVersions sets inv.Versions from the state, marking Withheld the untagged versions no tag
// reaches that were created less than grace before the listing.
func fillVersions(inv *inventory.Inventory, st *State, grace time.Duration, stats *InventoryStats) {
	tags := inv.TagsByDigest()
	cut := inv.ListedAt.Add(-grace)
	inv.Versions = make(map[string]*inventory.Version, len(st.Versions))
	for d, v := range st.Versions {
		_, reached := inv.Manifests[d]
		withheld := grace > 0 && !reached && len(tags[d]) == 0 && !v.Created.Before(cut)
		if withheld {
			stats.Withheld++
		}
		inv.Versions[d] = &inventory.Version{ID: v.ID, Digest: d, Tags: tags[d], CreatedAt: v.Created, UpdatedAt: v.Created, Withheld: withheld}
	}
	for d := range inv.Manifests {
		if _, ok := st.Versions[d]; !ok {
			stats.Unlisted++
		}
	}
	stats.Versions = len(inv.Versions)
}
