package proptest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
)

// inMemoryCases is how many cases TestEvaluateMatchesModel runs by default.
const inMemoryCases = 3000

// testRepo is the repository name of in-memory cases (a reserved, unresolvable host).
const testRepo = "regtest.invalid/prop/app"

// planCase is one generated case, planned.
type planCase struct {
	seed uint64
	m    *model
	gp   *genPolicy
	pol  *policy.Policy
	ks   *policy.KeepSets
}

// newCase generates the model and policy of a seed and resolves the policy's keep sources.
func newCase(t *testing.T, seed uint64, opt genOptions) (*planCase, error) {
	t.Helper()
	r := newRand(seed)
	if opt.pushes == 0 {
		opt.pushes = 3 + r.IntN(14)
	}
	m := genModel(r, opt)
	gp := genPolicyFor(r, m)
	pol, err := policy.Parse("prop.yaml", gp.yaml())
	if err != nil {
		return nil, fmt.Errorf("generated policy does not parse: %w\n%s", err, gp.yaml())
	}
	ks, err := policy.Resolve(context.Background(), pol, fakeLoader{commits: m.commits}, opt.now)
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	return &planCase{seed: seed, m: m, gp: gp, pol: pol, ks: ks}, nil
}

// deletingCase returns the first case, from seed on, whose policy deletes at least minDeletes
// manifests of its model (by the oracle), so that the costly end-to-end runs spend their time on
// cases that delete something; after 40 seeds it takes what it has.
func deletingCase(t *testing.T, seed uint64, opt genOptions, minDeletes int) (*planCase, error) {
	t.Helper()
	var c *planCase
	var err error
	for i := range uint64(40) {
		o := opt
		if o.pushes == 0 {
			o.pushes = 6 + int((seed+i)%9)
		}
		c, err = newCase(t, seed+i, o)
		if err != nil {
			return nil, err
		}
		if len(expect(c.m, c.gp, opt.now, c.m.createdFromModel, nil).deleted) >= minDeletes {
			break
		}
	}
	return c, nil
}

// createdFromModel is a digest's creation time in the in-memory inventory: its annotation, else
// (GHCR shape) its version's time.
func (m *model) createdFromModel(d string) time.Time {
	if n := m.nodes[d]; n != nil && !n.created.IsZero() {
		return n.created
	}
	if m.ghcrShape {
		return m.versionTime(d)
	}
	return time.Time{}
}

// TestEvaluateMatchesModel checks thousands of random repositories and policies in memory: the
// digests a plan deletes are exactly those the oracle finds outside the closure of what the
// policy keeps; no kept tag loses anything it reaches (invariant 1); tags of no kind are kept
// unless the policy names the unknown kind (invariant 4); every digest is decided once.
func TestEvaluateMatchesModel(t *testing.T) {
	var deleted, decided, planned, failed int
	cov := coverage{}
	for i, seed := range seeds(t, inMemoryCases, 1) {
		opt := genOptions{ghcrShape: i%2 == 1, now: caseNow}
		c, err := newCase(t, seed, opt)
		if err != nil {
			failf(t, t.Name(), seed, "%v", err)
			continue
		}
		inv, err := c.m.inventory(testRepo)
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.Evaluate(inv, c.pol, c.ks, caseNow)
		if err != nil {
			failf(t, t.Name(), seed, "evaluate: %v", err)
			continue
		}
		exp := expect(c.m, c.gp, caseNow, c.m.createdFromModel, nil)
		if msg := checkPlan(p, c, exp); msg != "" {
			failf(t, t.Name(), seed, "%s", msg)
			if failed++; failed == 3 {
				return // a broken evaluator fails most cases: three are enough to read
			}
		}
		cov.add(c.m, exp)
		planned++
		decided += len(p.Decisions)
		deleted += len(p.Deletes())
	}
	t.Logf("%d cases: %d decisions, %d deletes checked against the model", planned, decided, deleted)
	t.Logf("shapes met: %v", cov)
	if *seedFlag == 0 && os.Getenv("REGTIDY_PROPTEST_SEED") == "" {
		for _, k := range coverageKinds {
			if cov[k] == 0 {
				t.Errorf("the generator never made a case of %q: the property is not exercised", k)
			}
		}
	}
}

// coverageKinds are the shapes the in-memory run must meet at least once.
var coverageKinds = []string{
	"deleted index", "deleted child", "deleted attestation", "deleted nested index",
	"kept child of a deleted index", "deleted referrer (subject)", "kept referrer (subject)",
	"deleted referrer tag", "kept referrer tag of a missing subject", "deleted orphan", "kept orphan",
	"tag of no kind", "deleted digest with several tags", "kept digest with several tags",
}

// coverage counts the shapes the oracle met, so a generator that stops making one is noticed.
type coverage map[string]int

func (cov coverage) add(m *model, exp *expectation) {
	tagsOf := m.tagsOf()
	parents := map[string][]string{}
	for from, tos := range exp.out {
		for _, to := range tos {
			parents[to] = append(parents[to], from)
		}
	}
	state := func(d string) string {
		if exp.deleted[d] {
			return "deleted "
		}
		return "kept "
	}
	for d := range exp.universe {
		n := m.nodes[d]
		for _, c := range n.children {
			switch {
			case exp.deleted[d] && c.attestation && exp.deleted[c.digest]:
				cov["deleted attestation"]++
			case exp.deleted[d] && c.nested && exp.deleted[c.digest]:
				cov["deleted nested index"]++
			case exp.deleted[d] && exp.deleted[c.digest]:
				cov["deleted child"]++
			case exp.deleted[d]:
				cov["kept child of a deleted index"]++
			}
		}
		if len(n.children) > 0 && exp.deleted[d] {
			cov["deleted index"]++
		}
		if n.subject != "" && exp.universe[n.subject] {
			cov[state(d)+"referrer (subject)"]++
		}
		if len(tagsOf[d]) > 1 {
			cov[state(d)+"digest with several tags"]++
		}
		if len(tagsOf[d]) == 0 && len(parents[d]) == 0 {
			cov[state(d)+"orphan"]++
		}
	}
	for t, d := range m.tags {
		if s, ok := referrerSubject(t); ok {
			if !exp.universe[s] {
				cov[state(d)+"referrer tag of a missing subject"]++
			} else {
				cov[state(d)+"referrer tag"]++
			}
		}
		if exp.kinds[t] == "unknown" {
			cov["tag of no kind"]++
		}
	}
}

// checkPlan compares a plan with the expectation and checks the invariants on it; it returns
// what is wrong, with the case's policy and the decisions concerned, or "".
func checkPlan(p *plan.Plan, c *planCase, exp *expectation) string {
	var b strings.Builder
	seen := map[string]bool{}
	byDigest := map[string]plan.Decision{}
	for _, d := range p.Decisions {
		if seen[d.Digest] {
			fmt.Fprintf(&b, "digest %s decided twice\n", d.Digest)
		}
		seen[d.Digest] = true
		byDigest[d.Digest] = d
		if !exp.universe[d.Digest] {
			fmt.Fprintf(&b, "decision for %s, which the repository does not hold\n", d.Digest)
		}
	}
	for d := range exp.universe {
		if !seen[d] {
			fmt.Fprintf(&b, "no decision for %s\n", d)
		}
	}
	tagsOf := c.m.tagsOf()
	for d := range exp.universe {
		got := byDigest[d].Action == plan.Delete
		if got == exp.deleted[d] {
			continue
		}
		want := "keep"
		if exp.deleted[d] {
			want = "delete"
		}
		fmt.Fprintf(&b, "%s (tags %v, %s): plan says %s, model says %s; reasons %+v\n",
			d, tagsOf[d], describe(c.m, d), byDigest[d].Action, want, byDigest[d].Reasons)
	}
	// Invariant 1, read off the plan: nothing reachable from a kept digest is deleted.
	for d, dec := range byDigest {
		if dec.Action != plan.Keep {
			continue
		}
		for _, to := range exp.out[d] {
			if byDigest[to].Action == plan.Delete {
				fmt.Fprintf(&b, "invariant 1: %s is kept (tags %v) but %s, which it reaches, is deleted\n", d, tagsOf[d], to)
			}
		}
	}
	// Invariant 4: tags of no kind are kept unless the policy has unknown rules.
	if _, named := c.gp.rules["unknown"]; !named {
		for tag, kind := range exp.kinds {
			if kind == "unknown" && byDigest[c.m.tags[tag]].Action != plan.Keep {
				fmt.Fprintf(&b, "invariant 4: tag %s matches no kind and the policy has no unknown rules, but its digest is deleted\n", tag)
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return b.String() + "policy:\n" + string(c.gp.yaml())
}

// describe says what a digest is in the model, for messages.
func describe(m *model, d string) string {
	n := m.nodes[d]
	if n == nil {
		return "not in the model"
	}
	var parts []string
	switch {
	case len(n.children) > 0:
		parts = append(parts, fmt.Sprintf("index of %d", len(n.children)))
	case n.subject != "":
		parts = append(parts, "referrer of "+n.subject[:19])
	default:
		parts = append(parts, "manifest")
	}
	for p, pn := range m.nodes {
		for _, ch := range pn.children {
			if ch.digest == d {
				parts = append(parts, "child of "+p[:19])
			}
		}
	}
	return strings.Join(parts, ", ")
}

// TestFailingKeepSourceFailsThePlan checks invariant 3 on generated policies: when the loader
// fails, Resolve fails with ErrKeepSource and returns no keep sets, and Evaluate refuses a
// policy whose sources were not resolved; a plan is never made from an empty keep set.
func TestFailingKeepSourceFailsThePlan(t *testing.T) {
	checked := 0
	for _, seed := range seeds(t, 400, 3) {
		r := newRand(seed)
		m := genModel(r, genOptions{pushes: 4, now: caseNow})
		gp := genPolicyFor(r, m)
		pol, err := policy.Parse("prop.yaml", gp.yaml())
		if err != nil {
			failf(t, t.Name(), seed, "generated policy does not parse: %v", err)
			continue
		}
		if commits, _ := pol.Sources(); len(commits) == 0 {
			continue
		}
		checked++
		loadErr := errors.New("git: repository unreachable")
		ks, err := policy.Resolve(context.Background(), pol, fakeLoader{err: loadErr}, caseNow)
		if !errors.Is(err, policy.ErrKeepSource) || ks != nil {
			failf(t, t.Name(), seed, "resolve with a failing loader: keep sets %v, err %v; want nil and ErrKeepSource", ks, err)
		}
		inv, err := m.inventory(testRepo)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := policy.Evaluate(inv, pol, &policy.KeepSets{}, caseNow); !errors.Is(err, policy.ErrUnresolved) || p != nil {
			failf(t, t.Name(), seed, "evaluate without the keep sets: err %v; want ErrUnresolved and no plan", err)
		}
	}
	if checked == 0 {
		t.Fatal("no generated policy used a commits source")
	}
	t.Logf("%d policies with commits sources checked", checked)
}
