package policy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// testScheme classifies "img-{sdk7}-{n}" images and "cache-{repo}-{n}" caches.
const testScheme = `version: 1
scheme:
  - kind: img
    match: 'img-(?P<sdk>[0-9a-f]{7})-(?P<n>[0-9]+)'
  - kind: cache
    match: 'cache-(?P<repo>[a-z]+)-(?P<n>[0-9]+)'
`

// imgRule keeps images of the last 3 commits.
const imgRule = `rules:
  img:
    keep:
      - commits: {repo: /sdk, last: 3, field: sdk}
`

// run evaluates a policy (testScheme plus rules) on an inventory, with commits 0-2 as the last 3
// and a live run of commit 9.
func run(t *testing.T, rules string, inv *inventory.Inventory) *plan.Plan {
	t.Helper()
	pol, err := Parse("t.yaml", []byte(testScheme+rules))
	if err != nil {
		t.Fatal(err)
	}
	l := &fakeLoader{
		commits: map[string][]Commit{"/sdk": history(3)},
		runs:    map[string][]RunRef{"file:///m/*.jsonl": {{Commit: commitSHA(9), Run: "r9", Status: "running", File: "m/a.jsonl", Line: 7}}},
	}
	ks, err := Resolve(context.Background(), pol, l, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Evaluate(inv, pol, ks, t0)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, inv, p)
	return p
}

// img returns the tag of test image n built from SDK commit i.
func img(i, n int) string { return "img-" + sdk7(i) + "-" + itoa(n) }

// itoa writes n with two digits.
func itoa(n int) string { return fmt.Sprintf("%02d", n) }

// verdictOf is the action, kind and reason rules of one decision, for comparisons.
type verdictOf struct {
	Action plan.Action
	Kind   string
	Rules  []string
}

// verdicts returns the verdict of each digest of interest.
func verdicts(t *testing.T, p *plan.Plan, digests map[string]string) map[string]verdictOf {
	t.Helper()
	out := map[string]verdictOf{}
	for name, d := range digests {
		dec, ok := p.Find(d)
		if !ok {
			t.Errorf("%s (%s): no decision", name, d)
			continue
		}
		v := verdictOf{Action: dec.Action, Kind: dec.Kind}
		for _, r := range dec.Reasons {
			v.Rules = append(v.Rules, r.Rule)
		}
		out[name] = v
	}
	return out
}

func keep(kind string, rules ...string) verdictOf {
	return verdictOf{Action: plan.Keep, Kind: kind, Rules: rules}
}

func del(kind string, rules ...string) verdictOf {
	return verdictOf{Action: plan.Delete, Kind: kind, Rules: rules}
}

func TestTagsKeptByConditionsWithReasons(t *testing.T) {
	b := newBuilder("r")
	kept, _, _ := b.pushed(img(1, 1), hoursAgo(1), "a")
	gone, _, _ := b.pushed(img(5, 1), hoursAgo(1), "b")
	live, _, _ := b.pushed(img(9, 1), hoursAgo(1), "c")
	p := run(t, imgRule+`      - runs: {url: 'file:///m/*.jsonl', live: [running], commit: sdk, field: sdk, since: 2d}
`, b.done())
	for _, tc := range []struct {
		digest string
		want   plan.Decision
	}{
		{kept, plan.Decision{Action: plan.Keep, Reasons: []plan.Reason{
			{Rule: "commits", Kind: "img", Detail: "sdk " + sdk7(1) + " is #2 of the last 3 commits of main"}}}},
		{live, plan.Decision{Action: plan.Keep, Reasons: []plan.Reason{
			{Rule: "runs", Kind: "img", Detail: "sdk " + sdk7(9) + " is used by live run r9 (running, m/a.jsonl:7)"}}}},
		{gone, plan.Decision{Action: plan.Delete, Reasons: []plan.Reason{
			{Rule: "no-keep-rule-matched", Kind: "img", Detail: "sdk " + sdk7(5) + " is not among the last 3 commits of main and no live run in the last 2d uses sdk " + sdk7(5)}}}},
	} {
		got, _ := p.Find(tc.digest)
		if diff := cmp.Diff(tc.want, plan.Decision{Action: got.Action, Reasons: got.Reasons}); diff != "" {
			t.Errorf("%v (-want +got):\n%s", got.Tags, diff)
		}
	}
}

func TestEveryHeldConditionIsAReason(t *testing.T) {
	b := newBuilder("r")
	d, _, _ := b.pushed(img(0, 1), hoursAgo(1), "a")
	p := run(t, imgRule+"      - age: {newer_than: 1d}\n      - match: 'img-.*'\n      - list: [nope]\n", b.done())
	got := verdicts(t, p, map[string]string{"d": d})["d"]
	if diff := cmp.Diff(keep("img", "commits", "age", "match"), got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSharedDigest: a digest with any kept tag is kept; on GHCR a version with kept and unkept
// tags stays.
func TestSharedDigest(t *testing.T) {
	for _, ghcr := range []bool{false, true} {
		b := newBuilder("r")
		d, child, _ := b.pushed(img(0, 1), hoursAgo(1), "a")
		b.tag(img(7, 1), d)
		if ghcr {
			b.version(d, 42, hoursAgo(1), img(0, 1), img(7, 1))
		}
		p := run(t, imgRule, b.done())
		got := verdicts(t, p, map[string]string{"index": d, "child": child})
		want := map[string]verdictOf{"index": keep("img", "commits", "shared-digest"), "child": keep("child", "child-of-kept")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ghcr=%v (-want +got):\n%s", ghcr, diff)
		}
		dec, _ := p.Find(d)
		wantTags := []string{img(0, 1), img(7, 1)}
		sort.Strings(wantTags)
		if !cmp.Equal(dec.Tags, wantTags) || (ghcr && dec.VersionID != 42) {
			t.Errorf("ghcr=%v: tags %v, version %d", ghcr, dec.Tags, dec.VersionID)
		}
		if !strings.Contains(dec.Reasons[1].Detail, "tag "+img(7, 1)+" is not kept by its rules (sdk "+sdk7(7)+" is not among") {
			t.Errorf("shared-digest detail %q", dec.Reasons[1].Detail)
		}
	}
}

// TestChildrenFollowTheirIndex: children and attestations of kept indexes (nested too) are kept;
// those of deleted indexes are deleted unless a kept index shares them.
func TestChildrenFollowTheirIndex(t *testing.T) {
	b := newBuilder("r")
	keptIdx, keptImg, keptAtt := b.pushed(img(0, 1), hoursAgo(1), "a")
	goneIdx, goneImg, goneAtt := b.pushed(img(8, 1), hoursAgo(1), "b")
	shared := b.image("shared", hoursAgo(1), "s")
	b.tag(img(1, 2), b.index("k2", hoursAgo(1), platform(shared, "linux/amd64")))
	b.tag(img(8, 2), b.index("g2", hoursAgo(1), platform(shared, "linux/amd64")))
	// Nested: outer -> inner -> amd64 + arm64; kept (commit 2) and deleted (commit 8).
	nest := func(i int) (outer, inner, leaf string) {
		leaf = b.image("leaf "+itoa(i), hoursAgo(1), "leaf"+itoa(i))
		arm := b.image("arm "+itoa(i), hoursAgo(1), "arm"+itoa(i))
		inner = b.index("inner "+itoa(i), hoursAgo(1), platform(leaf, "linux/amd64"), platform(arm, "linux/arm64"))
		outer = b.index("outer "+itoa(i), hoursAgo(1), inventory.Descriptor{MediaType: inventory.MediaTypeOCIIndex, Digest: inner})
		b.tag(img(i, 3), outer)
		return outer, inner, leaf
	}
	_, keptInner, keptLeaf := nest(2)
	_, goneInner, goneLeaf := nest(8)
	p := run(t, imgRule, b.done())
	got := verdicts(t, p, map[string]string{
		"kept index": keptIdx, "kept image": keptImg, "kept attestation": keptAtt,
		"deleted index": goneIdx, "deleted image": goneImg, "deleted attestation": goneAtt,
		"shared child": shared,
		"kept inner":   keptInner, "kept leaf": keptLeaf, "deleted inner": goneInner, "deleted leaf": goneLeaf,
	})
	want := map[string]verdictOf{
		"kept index": keep("img", "commits"), "kept image": keep("child", "child-of-kept"), "kept attestation": keep("attestation", "child-of-kept"),
		"deleted index": del("img", "no-keep-rule-matched"), "deleted image": del("child", "child-of-deleted"), "deleted attestation": del("attestation", "child-of-deleted"),
		"shared child": keep("child", "child-of-kept"),
		"kept inner":   keep("child", "child-of-kept"), "kept leaf": keep("child", "child-of-kept"),
		"deleted inner": del("child", "child-of-deleted"), "deleted leaf": del("child", "child-of-deleted"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	dec, _ := p.Find(keptAtt)
	if r := dec.Reasons[0]; dec.Parent != keptIdx || r.Detail != "attestation manifest of kept index" || r.Of != keptIdx {
		t.Errorf("attestation: parent %s, reasons %+v", dec.Parent, dec.Reasons)
	}
	var explained strings.Builder
	if err := p.WriteDecision(&explained, dec); err != nil {
		t.Fatal(err)
	}
	if want := "attestation manifest of kept index " + keptIdx[:19] + " (tag " + img(0, 1) + ")\n"; !strings.Contains(explained.String(), want) {
		t.Errorf("explain says\n%s\nwant a reason ending %q", explained.String(), want)
	}
	if dec, _ := p.Find(keptInner); !strings.HasPrefix(dec.Reasons[0].Detail, "nested index of kept index") {
		t.Errorf("inner index reason %+v", dec.Reasons)
	}
}

// TestReferrersFollowTheirSubject: sha256-<digest> tags and subject referrers go with their
// subject, unless a referrer rule keeps them; a referrer of an absent subject is kept unless
// a referrer rule says otherwise.
func TestReferrersFollowTheirSubject(t *testing.T) {
	build := func() (*inventory.Inventory, map[string]string) {
		b := newBuilder("r")
		kept, keptImg, _ := b.pushed(img(0, 1), hoursAgo(1), "a")
		gone, _, _ := b.pushed(img(8, 1), hoursAgo(1), "b")
		return b.done(), map[string]string{
			"sig of kept":     b.signature(kept, "sig"),
			"sig of deleted":  b.signature(gone, "sig"),
			"sig of absent":   b.signature(digestOf("absent"), "sig"),
			"bundle of kept":  b.subjectReferrer("k", keptImg),
			"bundle of gone":  b.subjectReferrer("g", gone),
			"bundle of ghost": b.subjectReferrer("x", digestOf("ghost")),
		}
	}
	inv, digests := build()
	got := verdicts(t, run(t, imgRule, inv), digests)
	want := map[string]verdictOf{
		"sig of kept":     keep("referrer", "referrer-of-kept"),
		"sig of deleted":  del("referrer", "referrer-of-deleted"),
		"sig of absent":   keep("referrer", "no-rule"),
		"bundle of kept":  keep("referrer", "referrer-of-kept"),
		"bundle of gone":  del("referrer", "referrer-of-deleted"),
		"bundle of ghost": keep("untagged", "no-rule"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("no referrer rule (-want +got):\n%s", diff)
	}
	// A referrer rule judges referrer tags; a kept subject still keeps its referrers.
	inv, digests = build()
	got = verdicts(t, run(t, imgRule+"  referrer:\n    keep:\n      - match: 'never'\n", inv), digests)
	want["sig of kept"] = keep("referrer", "referrer-of-kept")
	want["sig of deleted"] = del("referrer", "no-keep-rule-matched", "referrer-of-deleted")
	want["sig of absent"] = del("referrer", "no-keep-rule-matched")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("referrer rule (-want +got):\n%s", diff)
	}
}

// TestKindsWithoutRules: unknown tags and kinds without rules are kept, unless the policy names
// them.
func TestKindsWithoutRules(t *testing.T) {
	build := func() (*inventory.Inventory, map[string]string) {
		b := newBuilder("r")
		u, _, _ := b.pushed("nightly", hoursAgo(1), "n")
		k, _, _ := b.pushed("keep-me", hoursAgo(1), "k")
		c, _, _ := b.pushed("cache-x-1", hoursAgo(1), "c")
		return b.done(), map[string]string{"unknown": u, "unknown kept": k, "cache": c}
	}
	inv, d := build()
	got := verdicts(t, run(t, imgRule, inv), d)
	want := map[string]verdictOf{"unknown": keep("unknown", "unknown-kind"), "unknown kept": keep("unknown", "unknown-kind"), "cache": keep("cache", "no-rule")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("no rules (-want +got):\n%s", diff)
	}
	inv, d = build()
	got = verdicts(t, run(t, imgRule+"  unknown:\n    keep: [{match: 'keep-.*'}]\n  cache:\n    keep: [{age: {older_than: 1d}}]\n", inv), d)
	want = map[string]verdictOf{"unknown": del("unknown", "no-keep-rule-matched"), "unknown kept": keep("unknown", "match"), "cache": del("cache", "no-keep-rule-matched")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("with rules (-want +got):\n%s", diff)
	}
}

// TestUntaggedOrphans: untagged manifests with no parent are kind untagged, kept unless the
// policy has untagged rules; an orphan index's children go with it.
func TestUntaggedOrphans(t *testing.T) {
	build := func() (*inventory.Inventory, map[string]string) {
		b := newBuilder("r")
		tagged, child, _ := b.pushed(img(0, 1), hoursAgo(1), "a")
		oldOrphan := b.image("old", hoursAgo(30*24), "o")
		newOrphan := b.image("new", hoursAgo(2), "n")
		orphanChild := b.image("orphan child", hoursAgo(30*24), "oc")
		orphanIdx := b.index("orphan", hoursAgo(30*24), platform(orphanChild, "linux/amd64"))
		inv := b.done()
		// A version whose manifest was never fetched: its time is the version's.
		b.version("sha256:"+hexOf("unfetched", 64), 7, hoursAgo(10*24))
		return inv, map[string]string{"tagged": tagged, "child": child, "old": oldOrphan, "new": newOrphan,
			"orphan index": orphanIdx, "orphan child": orphanChild, "unfetched": "sha256:" + hexOf("unfetched", 64)}
	}
	inv, d := build()
	got := verdicts(t, run(t, imgRule, inv), d)
	want := map[string]verdictOf{
		"tagged": keep("img", "commits"), "child": keep("child", "child-of-kept"),
		"old": keep("untagged", "no-rule"), "new": keep("untagged", "no-rule"),
		"orphan index": keep("untagged", "no-rule"), "orphan child": keep("child", "child-of-kept"),
		"unfetched": keep("untagged", "no-rule"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("no untagged rule (-want +got):\n%s", diff)
	}
	inv, d = build()
	got = verdicts(t, run(t, imgRule+"  untagged:\n    keep: [{age: {newer_than: 7d}}]\n", inv), d)
	want["old"] = del("untagged", "no-keep-rule-matched")
	want["new"] = keep("untagged", "age")
	want["orphan index"] = del("untagged", "no-keep-rule-matched")
	want["orphan child"] = del("child", "child-of-deleted")
	want["unfetched"] = del("untagged", "no-keep-rule-matched")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("untagged rule (-want +got):\n%s", diff)
	}
}

// TestNewestOrdering: newest uses the manifest's creation time, else the version's, ties by tag
// name; `by` a numeric field compares numbers.
func TestNewestOrdering(t *testing.T) {
	b := newBuilder("r")
	d := map[string]string{}
	for _, c := range []struct {
		tag      string
		manifest time.Time
		version  time.Time
	}{
		{"cache-a-1", hoursAgo(50), hoursAgo(1)}, // the manifest's time wins: old
		{"cache-a-2", time.Time{}, hoursAgo(3)},  // no manifest time: the version's
		{"cache-a-3", hoursAgo(5), hoursAgo(5)},  // ties with cache-a-4, and sorts first
		{"cache-a-4", hoursAgo(5), hoursAgo(5)},
		{"cache-b-10", hoursAgo(9), hoursAgo(9)},
		{"cache-b-9", hoursAgo(1), hoursAgo(1)},
	} {
		d[c.tag] = b.image(c.tag, c.manifest, c.tag)
		b.tag(c.tag, d[c.tag])
		b.version(d[c.tag], 1, c.version, c.tag)
	}
	p := run(t, "rules:\n  cache:\n    keep: [{newest: {count: 2, per: [repo]}}]\n", b.done())
	got := map[string]plan.Action{}
	for tag, dg := range d {
		dec, _ := p.Find(dg)
		got[tag] = dec.Action
	}
	want := map[string]plan.Action{"cache-a-1": plan.Delete, "cache-a-2": plan.Keep, "cache-a-3": plan.Keep, "cache-a-4": plan.Delete, "cache-b-10": plan.Keep, "cache-b-9": plan.Keep}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("by created (-want +got):\n%s", diff)
	}
	if dec, _ := p.Find(d["cache-a-4"]); dec.Reasons[0].Detail != "#3 newest of 4 in repo=a (by created); only the newest 2 are kept" {
		t.Errorf("detail %q", dec.Reasons[0].Detail)
	}
	p = run(t, "rules:\n  cache:\n    keep: [{newest: {count: 1, per: [repo], by: n}}]\n", b.inv)
	for tag, want := range map[string]plan.Action{"cache-a-4": plan.Keep, "cache-a-3": plan.Delete, "cache-b-10": plan.Keep, "cache-b-9": plan.Delete} {
		if dec, _ := p.Find(d[tag]); dec.Action != want {
			t.Errorf("by n: %s is %s, want %s", tag, dec.Action, want)
		}
	}
}

// TestCombinators: all, any and not, e.g. newest 3 per group but only younger than 100h.
func TestCombinators(t *testing.T) {
	b := newBuilder("r")
	d := map[string]string{}
	for i, h := range []int{1, 2, 200, 300} {
		tag := "cache-a-" + itoa(i)
		d[tag] = b.image(tag, hoursAgo(h), tag)
		b.tag(tag, d[tag])
	}
	p := run(t, `rules:
  cache:
    keep:
      - all:
          - newest: {count: 3, per: [repo]}
          - age: {newer_than: 100h}
      - not: {any: [{match: 'cache-a-00'}, {match: 'cache-a-0[12]'}]}
`, b.done())
	got := verdicts(t, p, d)
	want := map[string]verdictOf{
		"cache-a-00": keep("cache", "all"),
		"cache-a-01": keep("cache", "all"),
		"cache-a-02": del("cache", "no-keep-rule-matched"),
		"cache-a-03": keep("cache", "not"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	dec, _ := p.Find(d["cache-a-02"])
	wantDetail := "created 2025-11-12T04:00:00Z, 8d8h ago: not newer than 4d4h and tag cache-a-02 matches cache-a-0[12]"
	if dec.Reasons[0].Detail != wantDetail {
		t.Errorf("detail %q, want %q", dec.Reasons[0].Detail, wantDetail)
	}
}

// TestAgeOfUnknownCreation: an unknown creation time counts as new, never as old.
func TestAgeOfUnknownCreation(t *testing.T) {
	b := newBuilder("r")
	x := b.image("x", time.Time{}, "x")
	b.tag("cache-x-1", x)
	p := run(t, "rules:\n  cache:\n    keep: [{age: {newer_than: 1d}}]\n", b.done())
	if got := verdicts(t, p, map[string]string{"x": x})["x"]; !cmp.Equal(got, keep("cache", "age")) {
		t.Errorf("newer_than: %+v", got)
	}
	p = run(t, "rules:\n  cache:\n    keep: [{not: {age: {older_than: 1d}}}]\n", b.done())
	if got := verdicts(t, p, map[string]string{"x": x})["x"]; !cmp.Equal(got, keep("cache", "not")) {
		t.Errorf("not older_than: %+v", got)
	}
}

func TestListByTagAndDigest(t *testing.T) {
	b := newBuilder("r")
	a := b.image("a", hoursAgo(1), "a")
	c := b.image("c", hoursAgo(1), "c")
	e := b.image("e", hoursAgo(1), "e")
	b.tag("cache-a-1", a)
	b.tag("cache-c-1", c)
	b.tag("cache-e-1", e)
	p := run(t, "rules:\n  cache:\n    keep: [{list: [cache-a-1, '"+c+"']}]\n", b.done())
	got := verdicts(t, p, map[string]string{"a": a, "c": c, "e": e})
	want := map[string]verdictOf{"a": keep("cache", "list"), "c": keep("cache", "list"), "e": del("cache", "no-keep-rule-matched")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestPlanFields checks what Evaluate fills besides decisions.
func TestPlanFields(t *testing.T) {
	inv := ghcrInventory()
	pol := ghcrPolicy(t)
	ks, err := Resolve(context.Background(), pol, ghcrLoader(), t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Evaluate(inv, pol, ks, t0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Schema != plan.Schema || p.Repository != "ghcr.io/acme/agent" || !p.Now.Equal(t0) || p.Fingerprint != inv.Fingerprint() {
		t.Errorf("header: %s %s %v %s", p.Schema, p.Repository, p.Now, p.Fingerprint)
	}
	if p.Policy.Path != "ghcr.yaml" || p.Policy.Digest != pol.Digest {
		t.Errorf("policy ref %+v", p.Policy)
	}
	if diff := cmp.Diff(inv.Tags, p.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	idx := tagDigestOf(inv, swe(0, instance))
	dec, _ := p.Find(idx)
	wantFields := map[string]string{"sdk": sdk7(0), "df": df, "repo": instance}
	if dec.Kind != "image" || !cmp.Equal(dec.Fields.Map(), wantFields) || dec.MediaType != inventory.MediaTypeOCIIndex ||
		dec.VersionID != inv.Versions[idx].ID || !dec.Created.Equal(inv.Manifests[idx].Created) || dec.Parent != "" {
		t.Errorf("tagged decision %+v", dec)
	}
	child := inv.Manifests[idx].Manifests[0].Digest
	dec, _ = p.Find(child)
	if dec.Kind != "child" || dec.Parent != idx || dec.Fields != nil || dec.VersionID == 0 {
		t.Errorf("child decision %+v", dec)
	}
	if p.Summary.KeptManifests+p.Summary.DeletedManifests != len(p.Decisions) || p.Summary.DeletedManifests == 0 {
		t.Errorf("summary %+v", p.Summary)
	}
}

// tagDigestOf returns the digest a tag points at.
func tagDigestOf(inv *inventory.Inventory, tag string) string {
	for _, t := range inv.Tags {
		if t.Name == tag {
			return t.Digest
		}
	}
	return ""
}

// TestDeterministic: the same inputs give the same plan, whatever the order of the inventory's
// tags and however Go iterates its maps.
func TestDeterministic(t *testing.T) {
	pol := examplePolicy(t)
	ks, err := Resolve(context.Background(), pol, caseLoader(), t0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := Evaluate(caseInventory(), pol, ks, t0)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5; i++ {
		inv := caseInventory()
		rng.Shuffle(len(inv.Tags), func(a, b int) { inv.Tags[a], inv.Tags[b] = inv.Tags[b], inv.Tags[a] })
		again, err := Evaluate(inv, pol, ks, t0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, again); diff != "" {
			t.Fatalf("run %d differs (-first +again):\n%s", i, diff)
		}
	}
}

// TestSelfReferrerIsKeptAndTheSummaryAgrees: a manifest whose only tag names itself
// ("sha256-<its own digest>") follows a subject that is itself; nothing explains deleting it, so
// it is kept, and the bytes freed (counted before decisions are written) are counted again from
// the decisions, as Summarize counts them.
func TestSelfReferrerIsKeptAndTheSummaryAgrees(t *testing.T) {
	b := newBuilder("r")
	b.pushed(img(0, 1), hoursAgo(1), "a")
	gone, _, _ := b.pushed(img(8, 1), hoursAgo(1), "b")
	lonely := b.image("lonely", hoursAgo(2), "c")
	b.tag("sha256-"+lonely[len("sha256:"):], lonely)
	inv := b.done()
	p := run(t, imgRule, inv)
	got := verdicts(t, p, map[string]string{"lonely": lonely, "gone": gone})
	want := map[string]verdictOf{"lonely": keep("referrer", "no-rule"), "gone": del("img", "no-keep-rule-matched")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	again := &plan.Plan{Decisions: p.Decisions}
	again.Summarize(inv)
	if diff := cmp.Diff(again.Summary, p.Summary); diff != "" || p.Summary.BytesFreed == 0 {
		t.Errorf("summary (-Summarize +Evaluate), %d bytes freed:\n%s", p.Summary.BytesFreed, diff)
	}
}
