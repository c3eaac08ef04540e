package proptest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/ghcr"
)

// ghcrCases is how many cases TestApplyOnGHCR runs by default.
const ghcrCases = 24

// ghcrToken is the token the tests give the emulated REST API.
const ghcrToken = "proptest-token-5f1c2e"

// ghcrRun is one case on an emulated GHCR: its emulator, clock and package.
type ghcrRun struct {
	e     *ghcremu.Emulator
	clock *ghcremu.FakeClock
	// pkg is "owner/name"; repo the OCI reference through the emulator.
	pkg, repo string
	oci       *registry.Client
	statePath string
	// restURL, when set, is where the REST API is reached (a fault proxy); else the emulator.
	restURL string
}

// startGHCR starts an emulator whose clock reads caseNow less a day, for pushes; after the
// pushes the clock is moved to caseNow, past the push grace.
func startGHCR(t *testing.T, opts ghcremu.Options, pkg string) *ghcrRun {
	t.Helper()
	clock := ghcremu.NewFakeClock(caseNow.Add(-24 * time.Hour))
	opts.Clock = clock.Now
	e, err := ghcremu.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &ghcrRun{e: e, clock: clock, pkg: pkg, repo: e.Host + "/" + pkg, oci: registry.New(),
		statePath: filepath.Join(t.TempDir(), "ghcr-state.json")}
}

// rest returns a REST client of the package on the emulator, on the emulator's clock.
func (g *ghcrRun) rest(opts ...ghcr.Option) (*ghcr.Client, error) {
	base := g.e.URL
	if g.restURL != "" {
		base = g.restURL
	}
	all := append([]ghcr.Option{ghcr.WithBaseURL(base), ghcr.WithToken(ghcrToken),
		ghcr.WithClock(g.clock.Now, g.clock.Sleep), ghcr.WithPageSize(10)}, opts...)
	return ghcr.New(g.repo, all...)
}

// versionCreated returns the created_at of each version of the package, by digest.
func (g *ghcrRun) versionCreated() map[string]time.Time {
	out := map[string]time.Time{}
	for _, v := range g.e.Versions(g.pkg) {
		out[v.Digest] = v.CreatedAt
	}
	return out
}

// plan lists the package (OCI, then REST) and evaluates the policy, as `regtidy plan` does.
func (g *ghcrRun) plan(ctx context.Context, c *planCase, rest *ghcr.Client) (*plan.Plan, error) {
	st, err := ghcr.LoadState(ctx, g.statePath)
	if err != nil {
		return nil, err
	}
	inv, _, err := ghcr.BuildInventory(ctx, g.oci, g.repo, rest, st, inventory.BuildOptions{IsNotFound: isNotFound, Concurrency: 8})
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	if err := st.Save(ctx, g.statePath, g.clock.Now()); err != nil {
		return nil, err
	}
	p, err := policy.Evaluate(inv, c.pol, c.ks, g.clock.Now())
	if err != nil {
		return nil, err
	}
	p.Cost = ghcr.PlanCost(p, st, ghcr.Rate{Hourly: ghcr.HourlyPersonalToken})
	return p, nil
}

// apply runs ghcr.Apply with the saved state.
func (g *ghcrRun) apply(ctx context.Context, p *plan.Plan, rest *ghcr.Client, opt ghcr.ApplyOptions) (*ghcr.ApplyResult, error) {
	st, err := ghcr.LoadState(ctx, g.statePath)
	if err != nil {
		return nil, err
	}
	opt.StatePath = g.statePath
	return ghcr.Apply(ctx, p, g.oci, rest, st, opt)
}

// expect computes the oracle as a GHCR listing sees the package: the manifests of untagged
// versions no tag reaches are not read, so their creation time is the version's and their
// children and subjects are unknown.
func (g *ghcrRun) expect(c *planCase) *expectation {
	vc := g.versionCreated()
	read := c.m.reachedByTags()
	return expect(c.m, c.gp, g.clock.Now(), func(d string) time.Time {
		if n := c.m.nodes[d]; read[d] && !n.created.IsZero() {
			return n.created
		}
		return vc[d]
	}, func(d string) bool { return !read[d] })
}

// checkVersions checks the emulator's versions after apply: the deleted ones are exactly the
// expected deletes; no deleted version had a kept tag (invariant 2) or is listed by a kept index
// (invariant 1).
func (g *ghcrRun) checkVersions(c *planCase, exp *expectation) string {
	var b strings.Builder
	deleted := map[string]bool{}
	for _, v := range g.e.Versions(g.pkg) {
		if v.DeletedAt.IsZero() {
			continue
		}
		deleted[v.Digest] = true
		for _, tag := range v.Tags {
			if exp.keptTags[tag] {
				fmt.Fprintf(&b, "invariant 2: version %d (%s) was deleted with kept tag %s\n", v.ID, v.Digest, tag)
			}
		}
	}
	for d := range exp.kept {
		for _, ch := range c.m.nodes[d].children {
			if deleted[ch.digest] {
				fmt.Fprintf(&b, "invariant 1: %s, listed by kept index %s, was deleted\n", ch.digest, d)
			}
		}
	}
	for _, d := range sortedKeys(deleted, exp.deleted) {
		if deleted[d] != exp.deleted[d] {
			fmt.Fprintf(&b, "version %s (tags %v, %s): deleted=%v, want %v\n", d, c.m.tagsOf()[d], describe(c.m, d), deleted[d], exp.deleted[d])
		}
	}
	return b.String()
}

// TestApplyOnGHCR plans random repositories pushed through the GHCR emulator (REST listing of
// versions, OCI reads), applies each plan by version, and checks the versions deleted against
// the model: exactly the expected ones, none with a kept tag, none listed by a kept index.
func TestApplyOnGHCR(t *testing.T) {
	ctx := t.Context()
	deleted, ran, skipped := 0, 0, 0
	for _, seed := range seeds(t, ghcrCases, 4) {
		c, err := deletingCase(t, seed, genOptions{ghcrShape: true, now: caseNow, noUntaggedReferrers: true, noOrphanIndexes: true}, 3)
		if err != nil {
			failf(t, t.Name(), seed, "%v", err)
			continue
		}
		g := startGHCR(t, ghcremu.Options{RegistryDelete: ghcremu.DeleteTags, Tokens: map[string]int{ghcrToken: 0}}, "acme/prop")
		msg, done := runGHCRCase(ctx, g, c)
		if msg != "" {
			failf(t, t.Name(), c.seed, "%s", msg)
			continue
		}
		if !done {
			skipped++
			continue
		}
		ran++
		deleted += len(g.deletedDigests())
	}
	t.Logf("%d cases on the emulator, %d versions deleted, each as the model expected; %d cases left out (they delete every tagged version, which GitHub refuses)", ran, deleted, skipped)
	if ran < len(seeds(t, ghcrCases, 4))/2 {
		t.Errorf("only %d cases ran", ran)
	}
}

// deletedDigests returns the digests of the package's deleted versions, sorted.
func (g *ghcrRun) deletedDigests() []string {
	var out []string
	for _, v := range g.e.Versions(g.pkg) {
		if !v.DeletedAt.IsZero() {
			out = append(out, v.Digest)
		}
	}
	slices.Sort(out)
	return out
}

// runGHCRCase pushes, plans, applies and checks one case; it returns what went wrong, or "", and
// whether the case ran to the end.
func runGHCRCase(ctx context.Context, g *ghcrRun, c *planCase) (string, bool) {
	if err := pushModel(ctx, g.oci, g.repo, c.m); err != nil {
		return err.Error(), false
	}
	g.clock.Advance(24 * time.Hour)
	rest, err := g.rest()
	if err != nil {
		return err.Error(), false
	}
	p, err := g.plan(ctx, c, rest)
	if err != nil {
		return err.Error(), false
	}
	exp := g.expect(c)
	if lastTaggedDeleted(c.m, exp) {
		return "", false // GitHub refuses to delete a package's last tagged version: not this test's case
	}
	if msg := checkPlan(p, c, exp); msg != "" {
		return "plan:\n" + msg, false
	}
	res, err := g.apply(ctx, p, rest, ghcr.ApplyOptions{})
	if err != nil {
		return fmt.Sprintf("apply: %v (failed %+v, protected %+v, held %+v)", err, res.Failed, res.Protected, res.Held), false
	}
	if msg := g.checkVersions(c, exp); msg != "" {
		return msg + "policy:\n" + string(c.gp.yaml()), false
	}
	return "", true
}

// lastTaggedDeleted reports whether the expectation deletes every tagged digest.
func lastTaggedDeleted(m *model, exp *expectation) bool {
	for _, d := range m.tags {
		if exp.kept[d] {
			return false
		}
	}
	return true
}
