package policy

import (
	"sort"
	"testing"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// ghcrPolicyYAML exercises what the example policy does not: allow_fewer, combinators, newest
// by version time, and rules for untagged, unknown and referrer.
const ghcrPolicyYAML = `version: 1
scheme:
  - kind: image
    match: '(?P<sdk>[0-9a-f]{7})-(?P<df>[0-9a-f]{7})-sweb\.eval\.x86_64\.(?P<repo>.+)-source-minimal'
  - kind: buildcache
    match: 'buildcache-(?P<repo>[a-z]+)(?:-(?P<branch>.+))?'
rules:
  image:
    keep:
      - commits: {repo: /srv/git/sdk, last: 5, allow_fewer: true, field: sdk}
      - all:
          - runs: {url: 'file:///srv/meta/*.jsonl', terminal: [completed, error], commit: sdk_commit, field: sdk}
          - age: {newer_than: 30d}
  buildcache:
    keep:
      - newest: {count: 2, per: [repo]}
  untagged:
    keep:
      - age: {newer_than: 7d}
  unknown:
    keep:
      - match: 'keep-.*'
  referrer:
    keep:
      - age: {newer_than: 1d}
`

// ghcrPolicy parses ghcrPolicyYAML.
func ghcrPolicy(t testing.TB) *Policy {
	t.Helper()
	pol, err := Parse("ghcr.yaml", []byte(ghcrPolicyYAML))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// ghcrLoader answers ghcrPolicy: a 3-commit history (allow_fewer) and live runs of commits 10
// (an image 5 days old) and 11 (an image 40 days old).
func ghcrLoader() *fakeLoader {
	return &fakeLoader{
		commits: map[string][]Commit{"/srv/git/sdk": history(3)},
		runs: map[string][]RunRef{"file:///srv/meta/*.jsonl": {
			{Commit: commitSHA(10), Run: "evals/a", Status: "inferring", File: "file:///srv/meta/2025-11-19.jsonl", Line: 1},
			{Commit: commitSHA(11)[:12], Run: "evals/b", Status: "pending", File: "file:///srv/meta/2025-11-19.jsonl", Line: 2},
		}},
	}
}

// ghcrInventory is a GitHub package: every manifest is a version, buildcache manifests carry no
// creation time (the version's is used), orphans exist, and one version has a tag the tag
// listing missed.
func ghcrInventory() *inventory.Inventory {
	b := newBuilder("ghcr.io/acme/agent")
	for _, i := range []int{0, 2, 4} {
		b.pushed(swe(i, instance), hoursAgo(i*24+1), "base", swe(i, instance))
	}
	b.pushed(swe(10, instance), hoursAgo(5*24), "base", "sdk10")
	deleted11, _, _ := b.pushed(swe(11, instance), hoursAgo(40*24), "base", "sdk11")
	// One version, tagged from a kept and an unkept commit.
	both, _, _ := b.pushed(swe(1, "astropy_1776_astropy-12907"), hoursAgo(24), "astropy")
	b.tag(swe(8, "astropy_1776_astropy-12907"), both)
	// Build caches without creation times: their versions' times order them (two tie).
	versionTime := map[string]time.Time{}
	for _, c := range []struct {
		tag string
		h   int
	}{{"buildcache-django", 30}, {"buildcache-django-main", 10}, {"buildcache-django-dev", 10}, {"buildcache-flask", 99}} {
		d := b.image(c.tag, time.Time{}, c.tag)
		b.tag(c.tag, d)
		versionTime[d] = hoursAgo(c.h)
	}
	// Unknown tags: one the unknown rule keeps, one it deletes.
	b.pushed("keep-forever", hoursAgo(900), "kf")
	b.pushed("scratch", hoursAgo(900), "scratch")
	// A version whose tag the tag listing missed: the version's tag counts.
	versionOnly := b.index("version only", hoursAgo(900))
	// Referrers: of a deleted image (an old and a fresh signature), and of a digest that is gone.
	b.signature(deleted11, "sig")
	fresh := b.signature(deleted11, "att")
	b.signature(digestOf("gone"), "sig")
	// Orphans: untagged versions nothing points at.
	b.image("old lone", hoursAgo(20*24), "lone")
	b.image("new lone", hoursAgo(24), "lone2")
	oldImg, oldAtt := b.image("orphan amd64", hoursAgo(15*24), "orphan"), b.attestation("orphan")
	b.index("orphan", hoursAgo(15*24), platform(oldImg, "linux/amd64"), attests(oldAtt, oldImg))
	inv := b.done()
	tagsOf := inv.TagsByDigest()
	digests := make([]string, 0, len(inv.Manifests))
	for d := range inv.Manifests {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	versionTime[fresh] = hoursAgo(2)
	for i, d := range digests {
		created := inv.Manifests[d].Created
		if t, ok := versionTime[d]; ok {
			created = t
		}
		if created.IsZero() {
			created = hoursAgo(400)
		}
		b.version(d, int64(1000+i), created, tagsOf[d]...)
	}
	// A version the registry knows but whose manifest was never fetched: old, untagged.
	b.version("sha256:"+hexOf("unfetched", 64), 999, hoursAgo(60*24))
	inv.Versions[versionOnly].Tags = []string{"keep-from-versions"}
	return inv
}
