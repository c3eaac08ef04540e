package proptest

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
)

// TestDigestModeFinishesTaggedNestedIndexes: digest-mode apply orders deletes in levels by
// Decision.Parent, which a plan sets for untagged manifests only, so a tagged index that another
// deleted index lists shares that index's level. When its turn comes while the other index's
// DELETE is still in flight, it is held back; apply must try it again once the level is done, and
// its children after it, and finish in one run. (It used to count them as left for the next run
// and return no error.) Timing decides whether it happens: a chain of tagged nested indexes, all
// deleted, is applied 20 times.
func TestDigestModeFinishesTaggedNestedIndexes(t *testing.T) {
	reg, err := regtest.Start(t.Context(), regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	client := registry.New()
	r := newRand(5)
	left := 0
	for round := range 20 {
		m := &model{now: caseNow, nodes: map[string]*node{}, tags: map[string]string{}}
		layers := []blobData{m.newBlob(r, mtLayer), m.newBlob(r, mtLayer)}
		var prev string
		for i := range 12 {
			img := m.addImage(r, layers, caseNow.Add(-time.Hour), "linux/amd64", false)
			kids := []childRef{{digest: img}}
			if prev != "" {
				kids = append(kids, childRef{digest: prev, nested: true})
			}
			prev = m.addIndex(caseNow.Add(-time.Hour), kids, round*100+i)
			m.tags[fmt.Sprintf("old-%d", i)] = prev
		}
		m.tags["keep"] = m.addImage(r, layers, caseNow, "linux/amd64", false)
		gp := &genPolicy{patterns: []genPattern{{kind: "old", src: `old-.*`, re: regexp.MustCompile(`^(?:old-.*)$`)}},
			rules: map[string][]*genCond{"old": {{match: "never"}}}}
		pol, err := policy.Parse("chain.yaml", gp.yaml())
		if err != nil {
			t.Fatal(err)
		}
		c := &planCase{m: m, gp: gp, pol: pol, ks: &policy.KeepSets{}}
		repo := fmt.Sprintf("%s/prop/chain%d", reg.Host, round)
		if err := pushModel(t.Context(), client, repo, m); err != nil {
			t.Fatal(err)
		}
		_, p, err := planWith(t.Context(), c, client, repo)
		if err != nil {
			t.Fatal(err)
		}
		res, err := apply.Apply(t.Context(), p, client, apply.ApplyOptions{Mode: plan.ModeDigest, Concurrency: 8})
		if err == nil && res.Remaining > 0 {
			left++
			if left == 1 {
				t.Errorf("round %d: apply returned no error with %d of %d deletes not attempted", round, res.Remaining, len(p.Deletes()))
			}
		}
	}
	if left > 0 {
		t.Errorf("%d of 20 digest-mode applies left planned deletes undone without an error", left)
	}
}
