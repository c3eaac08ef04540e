package policy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/policy"
)

// staticLoader answers keep sources from memory.
type staticLoader struct{ commits []policy.Commit }

func (l staticLoader) LastCommits(ctx context.Context, spec policy.CommitsSpec) ([]policy.Commit, error) {
	return l.commits, nil
}

func (l staticLoader) LiveCommits(ctx context.Context, spec policy.RunsSpec, now time.Time) (policy.RunsRead, error) {
	return policy.RunsRead{}, nil
}

func (l staticLoader) BaseDigests(ctx context.Context, spec policy.BaseSpec) ([]policy.BaseRef, error) {
	return nil, nil
}

// Parse a policy, resolve its keep sources, and evaluate it on an inventory.
func Example() {
	pol, err := policy.Parse("gaia.yaml", []byte(`version: 1
scheme:
  - kind: image
    fields: {bench: gaia}
    match: '(?P<sdk>[0-9a-f]{7})-gaia-binary'
rules:
  image:
    keep:
      - commits: {repo: https://github.com/OpenHands/software-agent-sdk, last: 2, field: sdk}
      - age: {newer_than: 7d}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2025, 11, 20, 0, 0, 0, 0, time.UTC)
	head := "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	keep, err := policy.Resolve(context.Background(), pol, staticLoader{commits: []policy.Commit{
		{SHA: head}, {SHA: "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"},
	}}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	digest := func(c byte) string {
		d := []byte("sha256:")
		for i := 0; i < 64; i++ {
			d = append(d, c)
		}
		return string(d)
	}
	inv := &inventory.Inventory{
		Repository: "ghcr.io/acme/agent",
		Tags: []inventory.Tag{
			{Name: "1a2b3c4-gaia-binary", Digest: digest('a')},
			{Name: "9999999-gaia-binary", Digest: digest('b')},
			{Name: "latest", Digest: digest('c')},
		},
		Manifests: map[string]*inventory.Manifest{
			digest('a'): {Digest: digest('a'), MediaType: inventory.MediaTypeOCIManifest, Created: now.AddDate(0, 0, -30)},
			digest('b'): {Digest: digest('b'), MediaType: inventory.MediaTypeOCIManifest, Created: now.AddDate(0, 0, -30)},
			digest('c'): {Digest: digest('c'), MediaType: inventory.MediaTypeOCIManifest, Created: now.AddDate(0, 0, -30)},
		},
	}
	p, err := policy.Evaluate(inv, pol, keep, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range p.Decisions {
		fmt.Printf("%s %s: %s: %s\n", d.Action, d.Tags[0], d.Reasons[0].Rule, d.Reasons[0].Detail)
	}
	// Output:
	// keep 1a2b3c4-gaia-binary: commits: sdk 1a2b3c4 is #1 of the last 2 commits of main
	// delete 9999999-gaia-binary: no-keep-rule-matched: sdk 9999999 is not among the last 2 commits of main and created 2025-10-21T00:00:00Z, 30d ago: not newer than 7d
	// keep latest: unknown-kind: tag latest matches no kind of the tag scheme, and the policy has no unknown rules
}
