package proptest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
)

// moveCases is how many cases TestMovedTagsAreSkipped runs by default, each in both modes.
const moveCases = 10

// movingTarget moves tags while apply runs: when apply fetches the manifest of a digest it is
// about to delete (after its listing and before its re-check), some of that digest's planned
// tags are pushed onto another manifest, as a CI job retagging at that moment would.
type movingTarget struct {
	registry.Target
	repo string
	// move is called once per digest fetched; it does the moves and records them.
	move func(ctx context.Context, digest string)
}

func (m *movingTarget) FetchManifest(ctx context.Context, repo, ref string) ([]byte, inventory.Descriptor, error) {
	if strings.HasPrefix(ref, "sha256:") {
		m.move(ctx, ref)
	}
	return m.Target.FetchManifest(ctx, repo, ref)
}

// TestMovedTagsAreSkipped checks invariant 5 on random cases: tags that a plan deletes are moved
// onto kept manifests or new images right before apply re-checks them; after apply (tag mode and
// digest mode) every moved tag still points at its new manifest, whole, and everything the plan
// keeps is intact. In tag mode a DELETE by tag removes the tag wherever it points, so only the
// re-check right before it saves the moved tags.
func TestMovedTagsAreSkipped(t *testing.T) {
	reg, err := regtest.Start(t.Context(), regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	ctx := t.Context()
	client := registry.New()
	moved, skipped := 0, 0
	for i, seed := range seeds(t, moveCases, 8) {
		c, err := deletingCase(t, seed, genOptions{now: caseNow}, 3)
		if err != nil {
			failf(t, t.Name(), seed, "%v", err)
			continue
		}
		for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
			repo := fmt.Sprintf("%s/prop/moves%d-%s", reg.Host, i, mode)
			n, s, msg := moveCase(ctx, client, repo, c, mode)
			if msg != "" {
				failf(t, t.Name(), c.seed, "%s mode:\n%s", mode, msg)
			}
			moved += n
			skipped += s
		}
	}
	t.Logf("%d tags moved while apply ran; %d reported skipped; none deleted", moved, skipped)
	if moved == 0 {
		t.Error("no tag was moved: the property was not exercised")
	}
}

// moveCase runs one case; it returns the tags moved, those apply reported skipped, and what went
// wrong, or "".
func moveCase(ctx context.Context, client *registry.Client, repo string, c *planCase, mode plan.Mode) (int, int, string) {
	if err := pushModel(ctx, client, repo, c.m); err != nil {
		return 0, 0, err.Error()
	}
	inv, _, err := inventory.Build(ctx, client, repo, inventory.BuildOptions{IsNotFound: isNotFound, Concurrency: 8})
	if err != nil {
		return 0, 0, err.Error()
	}
	p, err := policy.Evaluate(inv, c.pol, c.ks, caseNow)
	if err != nil {
		return 0, 0, err.Error()
	}
	exp := expect(c.m, c.gp, caseNow, c.m.createdFromModel, nil)
	keptDigests := sortedSet(exp.kept)
	r := rand.New(rand.NewPCG(c.seed, 77))
	var mu sync.Mutex
	var moveErr error
	moves := map[string]string{} // tag -> digest it was moved onto
	done := map[string]bool{}
	tagsOf := c.m.tagsOf()
	mt := &movingTarget{Target: client, repo: repo, move: func(ctx context.Context, digest string) {
		mu.Lock()
		defer mu.Unlock()
		if done[digest] || !exp.deleted[digest] {
			return
		}
		done[digest] = true
		for _, tag := range tagsOf[digest] {
			if r.IntN(2) == 0 {
				continue
			}
			var onto string
			if len(keptDigests) > 0 && r.IntN(2) == 0 {
				onto = keptDigests[r.IntN(len(keptDigests))]
				n := c.m.nodes[onto]
				if err := client.PushManifest(ctx, repo, tag, n.mediaType, n.raw); err != nil {
					moveErr = err
					return
				}
			} else {
				raw := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[],"annotations":{"moved":%q}}`, mtIndex, tag))
				if err := client.PushManifest(ctx, repo, tag, mtIndex, raw); err != nil {
					moveErr = err
					return
				}
				onto = inventory.DigestOf(raw)
			}
			moves[tag] = onto
		}
	}}
	res, err := apply.Apply(ctx, p, mt, apply.ApplyOptions{Mode: mode, Concurrency: 4})
	if moveErr != nil {
		return len(moves), 0, "moving a tag: " + moveErr.Error()
	}
	if err != nil {
		return len(moves), 0, fmt.Sprintf("apply: %v", err)
	}
	var b strings.Builder
	live, err := liveTags(ctx, client, repo)
	if err != nil {
		return len(moves), 0, err.Error()
	}
	var check []inventory.Tag
	skipped := 0
	for tag, onto := range moves {
		if live[tag] != onto {
			fmt.Fprintf(&b, "invariant 5: tag %s was moved onto %s before its re-check; after apply it is %q\n", tag, onto, live[tag])
		}
		check = append(check, inventory.Tag{Name: tag, Digest: onto})
		if slices.ContainsFunc(res.Skipped, func(m plan.TagMove) bool { return m.Tag == tag }) {
			skipped++
		}
	}
	for tag, d := range c.m.tags {
		if _, wasMoved := moves[tag]; !wasMoved && exp.kept[d] {
			check = append(check, inventory.Tag{Name: tag, Digest: d})
		}
	}
	v, err := apply.Verify(ctx, client, repo, check, apply.VerifyOptions{Concurrency: 4})
	if err != nil || !v.OK() {
		fmt.Fprintf(&b, "kept and moved tags do not verify: err %v, broken %+v, moved %+v\n", err, v.Broken, v.Moved)
	}
	return len(moves), skipped, b.String()
}
