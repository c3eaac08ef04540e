package policy

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// countRules keeps images of the last 3 commits or of live runs, and the newest one; the newest
// 2 caches of each repository; orphans younger than a day.
const countRules = `rules:
  img:
    keep:
      - commits: {repo: /sdk, last: 3, field: sdk}
      - any:
          - runs: {url: 'file:///m/*.jsonl', live: [running], commit: sdk, field: sdk}
          - match: 'img-.*-99'
      - newest: {count: 1}
  cache:
    keep:
      - newest: {count: 2, per: [repo]}
  untagged:
    keep:
      - age: {newer_than: 1d}
`

func TestCount(t *testing.T) {
	b := newBuilder("r")
	b.pushed(img(0, 1), hoursAgo(1), "a")  // commits, newest
	b.pushed(img(2, 1), hoursAgo(2), "b")  // commits
	b.pushed(img(5, 1), hoursAgo(3), "c")  // nothing
	b.pushed(img(9, 1), hoursAgo(4), "d")  // a live run
	b.pushed(img(7, 99), hoursAgo(5), "e") // match
	for i, h := range []int{1, 2, 3} {
		b.tag("cache-a-"+itoa(i), b.image("cache a"+itoa(i), hoursAgo(h)))
	}
	b.tag("cache-b-01", b.image("cache b", hoursAgo(9)))
	b.tag("junk", b.image("junk", hoursAgo(9)))
	b.image("orphan new", hoursAgo(2))
	b.image("orphan old", hoursAgo(200))
	inv := b.done()
	pol, err := Parse("t.yaml", []byte(testScheme+countRules))
	if err != nil {
		t.Fatal(err)
	}
	l := &fakeLoader{
		commits: map[string][]Commit{"/sdk": history(3)},
		runs:    map[string][]RunRef{"file:///m/*.jsonl": {{Commit: commitSHA(9), Run: "r9", Status: "running", File: "m/a.jsonl", Line: 7}}},
	}
	keep, err := Resolve(context.Background(), pol, l, t0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []KindCount{{"img", 5}, {"cache", 4}, {"unknown", 1}, {"untagged", 2}}
	cache := RuleCount{Kind: "cache", Count: 4, Kept: 3, Conditions: []ConditionCount{
		{Path: "rules.cache.keep[0]", Condition: "newest 2 per [repo] by created", Evaluated: true, Holds: 3}}}
	untagged := RuleCount{Kind: "untagged", Count: 2, Kept: 1, Conditions: []ConditionCount{
		{Path: "rules.untagged.keep[0]", Condition: "age newer than 1d", Evaluated: true, Holds: 1}}}
	for _, tc := range []struct {
		name string
		keep *KeepSets
		img  RuleCount
	}{
		// Without the keep sources, the conditions that read one are listed, not evaluated.
		{"without sources", nil, RuleCount{Kind: "img", Count: 5, Kept: 1, Partial: true, Conditions: []ConditionCount{
			{Path: "rules.img.keep[0]", Condition: "commits sdk is among the last 3 commits of main in /sdk", Sources: []string{"commits"}},
			{Path: "rules.img.keep[1]", Condition: "any (runs sdk is used by a live run in file:///m/*.jsonl; match img-.*-99)", Sources: []string{"runs"}},
			{Path: "rules.img.keep[2]", Condition: "newest 1 per [] by created", Evaluated: true, Holds: 1}}}},
		{"with sources", keep, RuleCount{Kind: "img", Count: 5, Kept: 4, Conditions: []ConditionCount{
			{Path: "rules.img.keep[0]", Condition: "commits sdk is among the last 3 commits of main in /sdk", Sources: []string{"commits"}, Evaluated: true, Holds: 2},
			{Path: "rules.img.keep[1]", Condition: "any (runs sdk is used by a live run in file:///m/*.jsonl; match img-.*-99)", Sources: []string{"runs"}, Evaluated: true, Holds: 2},
			{Path: "rules.img.keep[2]", Condition: "newest 1 per [] by created", Evaluated: true, Holds: 1}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Count(inv, pol, tc.keep, t0)
			if err != nil {
				t.Fatal(err)
			}
			want := &Counts{Tags: 10, Untagged: 2, Kinds: kinds, Rules: []RuleCount{cache, tc.img, untagged}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
