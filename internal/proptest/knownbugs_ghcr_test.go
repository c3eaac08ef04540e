//go:build knownbugs

package proptest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/plan"
)

// TestKnownBugGHCROrphansHideReferrersAndChildren holds what a GHCR plan gets wrong today. On
// GHCR, the inventory (registry/ghcr BuildInventory) reads the manifests of tagged versions and
// their children only; the manifest of an untagged version no tag reaches is never read. So:
//
//   - an untagged OCI referrer (a manifest whose subject field names a kept image, pushed without a
//     tag) is taken for an orphan of kind "untagged", and deleted when the policy's untagged
//     rules do not keep it, though its subject is kept (invariant 1);
//   - the children of an untagged index are orphans of their own: when the untagged rules keep
//     the index (say, the newest 2) but not a child, the kept index loses its child.
//
// The test plans random packages with such manifests and checks, against the full model, that no
// referrer of a kept manifest and no child of a kept index is planned for deletion. Wanted: the
// manifests of untagged versions no tag reaches are read too (OCI reads, free of the REST
// budget, cached), so that their subjects and children are known.
func TestKnownBugGHCROrphansHideReferrersAndChildren(t *testing.T) {
	ctx := t.Context()
	found := 0
	for _, seed := range seeds(t, 40, 5) {
		c, err := newCase(t, seed, genOptions{pushes: 6 + int(seed%8), ghcrShape: true, now: caseNow})
		if err != nil {
			failf(t, t.Name(), seed, "%v", err)
			continue
		}
		g := startGHCR(t, ghcremu.Options{RegistryDelete: ghcremu.DeleteTags, Tokens: map[string]int{ghcrToken: 0}}, "acme/prop")
		if err := pushModel(ctx, g.oci, g.repo, c.m); err != nil {
			t.Fatal(err)
		}
		g.clock.Advance(24 * 3600e9)
		rest, err := g.rest()
		if err != nil {
			t.Fatal(err)
		}
		p, err := g.plan(ctx, c, rest)
		if err != nil {
			t.Fatal(err)
		}
		keep := map[string]bool{}
		for _, d := range p.Decisions {
			keep[d.Digest] = d.Action == plan.Keep
		}
		var b strings.Builder
		for _, d := range c.m.order {
			n := c.m.nodes[d]
			if n.subject != "" && keep[n.subject] && !keep[d] {
				fmt.Fprintf(&b, "untagged referrer %s of kept %s (tags %v) is planned for deletion\n", d, n.subject, c.m.tagsOf()[n.subject])
			}
			for _, ch := range n.children {
				if keep[d] && !keep[ch.digest] {
					fmt.Fprintf(&b, "child %s of kept untagged index %s (tags %v) is planned for deletion\n", ch.digest, d, c.m.tagsOf()[d])
				}
			}
		}
		if b.Len() > 0 {
			found++
			failf(t, t.Name(), seed, "%spolicy:\n%s", b.String(), c.gp.yaml())
			if found == 3 {
				return
			}
		}
	}
}
