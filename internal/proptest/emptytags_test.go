package proptest

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/faultproxy"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
)

// The empty tag page: a registry (or a proxy in front of it) answers a tag listing with 200,
// {"tags": []} and no Link header. regtidy's client takes that for the end of the listing, as the
// distribution spec says it is; so a plan made then covers only the tags listed before it.
// These tests pin down what follows. The repository: image D tagged "a-old" (kind "old", which
// the policy deletes) and "zz-keep" (no kind: kept), image E tagged "b-other" (no kind: kept).
// With pages of two tags, a listing whose second page comes back empty sees a-old and b-other
// only, and plans D for deletion.

// emptyPageCase builds that repository and policy.
func emptyPageCase(t *testing.T) *planCase {
	t.Helper()
	r := newRand(11)
	m := &model{now: caseNow, nodes: map[string]*node{}, tags: map[string]string{}}
	layers := []blobData{m.newBlob(r, mtLayer), m.newBlob(r, mtLayer)}
	d := m.addImage(r, layers, caseNow.Add(-48*time.Hour), "linux/amd64", false)
	e := m.addImage(r, layers, caseNow.Add(-47*time.Hour), "linux/amd64", false)
	m.tags = map[string]string{"a-old": d, "zz-keep": d, "b-other": e}
	gp := &genPolicy{
		patterns: []genPattern{{kind: "old", src: `a-.*`, re: regexp.MustCompile(`^(?:a-.*)$`)}},
		rules:    map[string][]*genCond{"old": {{match: "never"}}},
	}
	pol, err := policy.Parse("empty-page.yaml", gp.yaml())
	if err != nil {
		t.Fatal(err)
	}
	return &planCase{m: m, gp: gp, pol: pol, ks: &policy.KeepSets{}}
}

// followUpPage reports whether r asks for a tag page after the first.
func followUpPage(r *http.Request) bool { return r.URL.Query().Get("last") != "" }

// startEmptyPages starts a registry whose tag listings page by two, and whose follow-up pages
// come back empty while the proxy is enabled, and pushes the case.
func startEmptyPages(t *testing.T, c *planCase) (*regtest.Registry, *faultproxy.Proxy, string) {
	t.Helper()
	var proxy *faultproxy.Proxy
	reg, err := regtest.Start(t.Context(), regtest.Options{Wrap: faultproxy.Wrap(&proxy, faultproxy.Options{
		Rate: 1, Max: 1000, Kinds: []faultproxy.Kind{faultproxy.EmptyTags}, Only: followUpPage, PageTags: 2,
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	repo := reg.Host + "/prop/empty-page"
	proxy.SetEnabled(false)
	client := registry.New()
	if err := pushModel(t.Context(), client, repo, c.m); err != nil {
		t.Fatal(err)
	}
	return reg, proxy, repo
}

// planWith lists repo and evaluates the case's policy.
func planWith(ctx context.Context, c *planCase, client *registry.Client, repo string) (*inventory.Inventory, *plan.Plan, error) {
	inv, _, err := inventory.Build(ctx, client, repo, inventory.BuildOptions{IsNotFound: isNotFound})
	if err != nil {
		return nil, nil, err
	}
	p, err := policy.Evaluate(inv, c.pol, c.ks, caseNow)
	return inv, p, err
}

// TestEmptyTagPageHealthyListing checks the case without the fault: paged listing sees all three
// tags, and the plan keeps D for zz-keep.
func TestEmptyTagPageHealthyListing(t *testing.T) {
	c := emptyPageCase(t)
	_, _, repo := startEmptyPages(t, c)
	inv, p, err := planWith(t.Context(), c, registry.New(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Tags) != 3 || len(p.Deletes()) != 0 {
		t.Fatalf("paged listing: %d tags, %d deletes; want 3 tags and nothing deleted", len(inv.Tags), len(p.Deletes()))
	}
}

// TestEmptyTagPageStalePlanRefused checks the defence that holds today: a plan made while the
// second page came back empty deletes D, but an apply whose own listing is whole sees zz-keep on
// D and refuses the plan as stale, deleting nothing.
func TestEmptyTagPageStalePlanRefused(t *testing.T) {
	c := emptyPageCase(t)
	_, proxy, repo := startEmptyPages(t, c)
	client := registry.New()
	proxy.SetEnabled(true)
	inv, p, err := planWith(t.Context(), c, client, repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Tags) != 2 || len(p.Deletes()) != 1 {
		t.Fatalf("with the empty page: %d tags, %d deletes; want the 2 tags of page one and D planned", len(inv.Tags), len(p.Deletes()))
	}
	proxy.SetEnabled(false)
	for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
		_, err = apply.Apply(t.Context(), p, client, apply.ApplyOptions{Mode: mode})
		var stale *plan.StaleError
		if !errors.Is(err, plan.ErrPlanStale) || !errors.As(err, &stale) {
			t.Errorf("%s mode: apply of the partial plan: %v; want ErrPlanStale", mode, err)
		}
	}
	got, err := readState(t.Context(), client, repo, c.m)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.tags) != 3 || len(got.manifests) != 2 {
		t.Errorf("after refused applies: tags %v, manifests %v; want everything there", got.tags, got.manifests)
	}
}

// TestEmptyTagPagesTagMode checks tag mode under a listing whose follow-up pages stay empty
// through plan and apply: the plan deletes D for a-old, apply deletes the tag a-old only, and
// zz-keep still resolves to D, whole.
func TestEmptyTagPagesTagMode(t *testing.T) {
	c := emptyPageCase(t)
	_, proxy, repo := startEmptyPages(t, c)
	client := registry.New()
	proxy.SetEnabled(true)
	_, p, err := planWith(t.Context(), c, client, repo)
	if err != nil {
		t.Fatal(err)
	}
	res, err := apply.Apply(t.Context(), p, client, apply.ApplyOptions{Mode: plan.ModeTag})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	proxy.SetEnabled(false)
	got, err := readState(t.Context(), client, repo, c.m)
	if err != nil {
		t.Fatal(err)
	}
	d := c.m.tags["zz-keep"]
	if got.tags["zz-keep"] != d || !got.manifests[d] || got.tags["a-old"] != "" {
		t.Errorf("after a tag-mode apply: tags %v, manifests %v; want a-old gone and zz-keep on %s", got.tags, got.manifests, d)
	}
	if v, err := apply.Verify(t.Context(), client, repo, []inventory.Tag{{Name: "zz-keep", Digest: d}}, apply.VerifyOptions{}); err != nil || !v.OK() {
		t.Errorf("zz-keep does not verify: %v %+v", err, v)
	}
	t.Logf("left for garbage collection: %v (D is still tagged zz-keep: collection keeps it)", res.LeftForGC)
}
