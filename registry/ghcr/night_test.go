package ghcr

import (
	"testing"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// ociRequests sums the OCI API requests the emulator answered.
func ociRequests(g *ghcrCase) int {
	n := 0
	for _, c := range g.e.Stats().OCI {
		n += c
	}
	return n
}

// TestQuietNightSendsNoRequestPerTag: once the state exists and the cache is warm, a night with
// nothing new lists the versions' first page and the tags, resolves no tag and fetches no
// manifest, and its apply sends nothing at all.
func TestQuietNightSendsNoRequestPerTag(t *testing.T) {
	g := fillGHCR(t, 0.002, fastDeletes)
	cache, err := inventory.OpenCache(t.TempDir(), g.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	night := func(n int) (rest, oci int, stats InventoryStats, res *ApplyResult) {
		t.Helper()
		restBefore, ociBefore := g.e.Stats().Total(), ociRequests(g)
		r := g.newRun(t, WithPageSize(DefaultPageSize))
		p, stats := g.makePlan(t, r, inventory.BuildOptions{Cache: cache})
		res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: g.statePath, Manifests: cache})
		if err != nil {
			t.Fatalf("night %d: %v", n, err)
		}
		rest, oci = g.e.Stats().Total()-restBefore, ociRequests(g)-ociBefore
		t.Logf("night %d: %d tags (%d known from the state, %d resolved), %d REST requests, %d OCI requests, %d deleted",
			n, stats.Build.Tags, stats.Build.KnownTags, stats.Build.Heads, rest, oci, len(res.Deleted))
		return rest, oci, stats, res
	}
	_, _, first, res := night(1)
	if len(res.Deleted) == 0 || first.Build.ManifestGets < first.Build.Manifests {
		t.Fatalf("night 1 deleted %d and fetched %d of %d manifests: want a first night that deletes and fills the cache", len(res.Deleted), first.Build.ManifestGets, first.Build.Manifests)
	}
	g.clock.Advance(24 * time.Hour)
	rest, oci, quiet, res := night(2)
	if len(res.Deleted) != 0 || res.Checks.Runs != 0 {
		t.Errorf("quiet night deleted %d and ran %d checks, want none", len(res.Deleted), res.Checks.Runs)
	}
	if quiet.Build.Heads != 0 || quiet.Build.ManifestGets != 0 || quiet.Build.KnownTags != quiet.Build.Tags {
		t.Errorf("quiet night: %d HEADs, %d manifest GETs, %d of %d tags known: want every tag known from the state, no request per tag",
			quiet.Build.Heads, quiet.Build.ManifestGets, quiet.Build.KnownTags, quiet.Build.Tags)
	}
	if rest > 10 || oci > 5 {
		t.Errorf("quiet night sent %d REST and %d OCI requests, want at most 10 and 5 (the listings' first pages)", rest, oci)
	}
}

// TestRetagOntoAnOldVersionBetweenNights: a kept tag moved onto an old image between two nights
// makes no new version, so the incremental listing does not see it and the state still has the
// tag on its old version; the plan, made from that view, deletes the image the tag now points
// at. Apply resolves the kept tags before its first delete and leaves the image whole, and the
// state learns where the tag is, so the next plan keeps it.
func TestRetagOntoAnOldVersionBetweenNights(t *testing.T) {
	g := fillGHCR(t, 0.001, fastDeletes)
	g.makePlan(t, g.newRun(t), inventory.BuildOptions{}) // night 0: the state exists
	target := g.deletedImages()[2]
	kept := g.keptImageTag(t)
	g.tag(t, target.Digest, kept)
	g.extra[target.Digest] = target.ChildDigests

	r := g.newRun(t)
	p, stats := g.makePlan(t, r, inventory.BuildOptions{})
	if stats.Build.Heads != 0 {
		t.Errorf("night 1 resolved %d tags, want none (every tag known from the state)", stats.Build.Heads)
	}
	if d, ok := p.Find(target.Digest); !ok || d.Action != plan.Delete {
		t.Fatalf("the plan made from the state's view: %+v; want the retagged image planned for deletion (the case this test is about)", d)
	}
	res, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{StatePath: g.statePath})
	if err != nil {
		t.Fatal(err)
	}
	checkEnd(t, g.e, g.expected())
	protected := map[string]bool{}
	for _, s := range res.Protected {
		protected[s.Digest] = true
	}
	for _, d := range append([]string{target.Digest}, target.ChildDigests...) {
		if !protected[d] {
			t.Errorf("%s not protected (protected: %v)", d, res.Protected)
		}
	}
	if d, ok := r.st.TagDigest(kept); !ok || d != target.Digest {
		t.Errorf("state has %s on %s, want %s", kept, d, target.Digest)
	}

	p, _ = g.makePlan(t, g.newRun(t), inventory.BuildOptions{})
	if d, ok := p.Find(target.Digest); !ok || d.Action != plan.Keep {
		t.Errorf("night 2 decision of the retagged image: %+v, want kept", d)
	}
}
