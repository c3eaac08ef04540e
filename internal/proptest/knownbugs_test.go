//go:build knownbugs

package proptest

import (
	"net/http"
	"testing"
	"time"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/faultproxy"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// Known bugs, red today; run them with
//
//	go test -tags knownbugs ./internal/proptest -run 'TestKnownBug' -count=1

// TestKnownBugEmptyTagListingGivesAnEmptyPlan: when the (unpaged) tag listing of a repository
// holding three tags is answered 200 {"tags": []} without a Link header, inventory.Build returns
// an inventory of no tags and no error, and policy.Evaluate a plan of no decisions: the plan says
// the repository is empty. Wanted: the listing or the plan fails (an empty listing of a
// repository that exists is confirmed, e.g. by listing again, or refused unless the user allows
// an empty repository), as a keep source that loads nothing fails the plan.
func TestKnownBugEmptyTagListingGivesAnEmptyPlan(t *testing.T) {
	c := emptyPageCase(t)
	var proxy *faultproxy.Proxy
	reg, err := regtest.Start(t.Context(), regtest.Options{Wrap: faultproxy.Wrap(&proxy, faultproxy.Options{
		Rate: 1, Max: 1, Kinds: []faultproxy.Kind{faultproxy.EmptyTags},
		Only: func(r *http.Request) bool { return r.URL.Query().Get("last") == "" },
	})})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	repo := reg.Host + "/prop/empty-listing"
	client := registry.New()
	proxy.SetEnabled(false)
	if err := pushModel(t.Context(), client, repo, c.m); err != nil {
		t.Fatal(err)
	}
	proxy.SetEnabled(true)
	inv, p, err := planWith(t.Context(), c, client, repo)
	if err == nil {
		t.Errorf("plan made from an empty tag page of a repository of 3 tags: %d tags, %d decisions, no error", len(inv.Tags), len(p.Decisions))
	}
	if n, _ := proxy.Total(); n != 1 {
		t.Errorf("%d empty pages served, want 1", n)
	}
}

// TestKnownBugEmptyTagPagesDigestModeDeletesKeptTag: when every follow-up tag page comes back
// empty (a proxy or registry that drops pages, persistently), the plan sees a-old and b-other
// only and deletes D; digest-mode apply lists the tags through the same registry before each
// level, never sees zz-keep, and DELETEs D by digest, which removes zz-keep with it: a kept tag
// loses its manifest (invariant 1). Tag mode is safe (TestEmptyTagPagesTagMode). Wanted: digest
// mode does not trust a listing it cannot confirm, e.g. it re-checks, before each DELETE by
// digest, that the digest has no tag the plan does not delete; where the registry cannot tell
// (distribution has no tags-by-digest call), delete the planned tags first and the digest only
// when a listing confirmed complete (two listings agreeing, or an unpaged one) shows it untagged.
func TestKnownBugEmptyTagPagesDigestModeDeletesKeptTag(t *testing.T) {
	c := emptyPageCase(t)
	_, proxy, repo := startEmptyPages(t, c)
	client := registry.New()
	proxy.SetEnabled(true)
	_, p, err := planWith(t.Context(), c, client, repo)
	if err != nil {
		t.Fatal(err)
	}
	res, err := apply.Apply(t.Context(), p, client, apply.ApplyOptions{Mode: plan.ModeDigest})
	proxy.SetEnabled(false)
	got, rerr := readState(t.Context(), client, repo, c.m)
	if rerr != nil {
		t.Fatal(rerr)
	}
	d := c.m.tags["zz-keep"]
	if got.tags["zz-keep"] != d || !got.manifests[d] {
		t.Errorf("digest-mode apply (err %v, deleted %v) removed kept tag zz-keep and its manifest %s: tags now %v",
			err, res.DeletedManifests, d, got.tags)
	}
}

// TestKnownBugGHCREmptyTagPagesDeletesKeptTag runs the empty-page case (see emptyPageCase) on the
// GHCR emulator, whose OCI tag listing pages by two (as GHCR's does) and whose follow-up pages
// come back empty through plan and apply. The plan, made from the partial listing, deletes D's
// version for a-old; apply's re-check lists the tags through the same OCI API, does not see
// zz-keep, and deletes the version, which takes zz-keep with it (invariant 2), though the REST
// API's version record names both tags (metadata.container.tags: [a-old, zz-keep]). Wanted: the
// version's REST tags count as tags of its digest (BuildInventory keeps the tags the versions
// listing gave, not only the OCI listing's), and apply refuses a version whose REST record names
// a tag the plan does not delete.
func TestKnownBugGHCREmptyTagPagesDeletesKeptTag(t *testing.T) {
	ctx := t.Context()
	c := emptyPageCase(t)
	c.m.ghcrShape = true
	g, proxy := startGHCRBehindProxy(t, faultproxy.Options{Rate: 1, Max: 1000,
		Kinds: []faultproxy.Kind{faultproxy.EmptyTags}, Only: followUpPage, PageTags: 2})
	proxy.SetEnabled(false)
	if err := pushModel(ctx, g.oci, g.repo, c.m); err != nil {
		t.Fatal(err)
	}
	g.clock.Advance(24 * time.Hour)
	proxy.SetEnabled(true)
	rest, err := g.rest()
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.plan(ctx, c, rest)
	if err != nil {
		t.Fatal(err)
	}
	d := c.m.tags["zz-keep"]
	t.Logf("plan from the partial listing: %d tags, deletes %v", len(p.Tags), p.Deletes())
	res, err := g.apply(ctx, p, rest, ghcr.ApplyOptions{})
	t.Logf("apply: err %v, deleted %v, protected %+v", err, res.Deleted, res.Protected)
	for _, v := range g.e.Versions(g.pkg) {
		if v.Digest == d && !v.DeletedAt.IsZero() {
			t.Errorf("version %d of %s was deleted with its tags %v, kept tag zz-keep among them", v.ID, d, v.Tags)
		}
	}
}
