package policy

import (
	"context"
	"fmt"
	"testing"

	"github.com/regtidy/regtidy/inventory"
)

// caseScale is the case's repository at full size.
const (
	caseCommits      = 548
	caseBigCommits   = 63 // commits with 1,100 image tags each
	caseImageTags    = 130_602
	caseCacheTags    = 2_793 // 931 instances x {shared, -main, -branch}
	caseLegacyTags   = 30
	caseOtherTags    = 20 // 10 referrer tags and 10 unknown tags
	caseTotalTags    = caseImageTags + caseCacheTags + caseLegacyTags + caseOtherTags
	caseInstances    = 2_294
	caseBigPerCommit = 1_100
)

// fullCase builds a synthetic inventory of the case's shape and size: 133,445 tags, each image
// tag a buildx push (index, amd64 image, attestation), about 400k manifests.
func fullCase(tb testing.TB) *inventory.Inventory {
	tb.Helper()
	n := 0
	next := func() string { n++; return fmt.Sprintf("sha256:%064x", n) }
	inv := &inventory.Inventory{
		Repository: "ghcr.io/openhands/eval-agent-server",
		Manifests:  make(map[string]*inventory.Manifest, 3*caseImageTags+caseCacheTags+100),
		Tags:       make([]inventory.Tag, 0, caseTotalTags),
		ListedAt:   t0,
	}
	baseLayer := make([]inventory.Descriptor, caseInstances)
	for i := range baseLayer {
		baseLayer[i] = inventory.Descriptor{Digest: next(), Size: 1_300_000_000}
	}
	sdkLayer := make([]inventory.Descriptor, caseCommits)
	for i := range sdkLayer {
		sdkLayer[i] = inventory.Descriptor{Digest: next(), Size: 80_000_000}
	}
	push := func(tag string, base, sdk inventory.Descriptor, hours int) string {
		created := hoursAgo(hours)
		img := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIManifest, Size: 1200, Created: created,
			Config: &inventory.Descriptor{Digest: next(), Size: 9000}, Layers: []inventory.Descriptor{base, sdk}}
		att := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIManifest, Size: 800,
			Config: &inventory.Descriptor{Digest: next(), Size: 200}, Layers: []inventory.Descriptor{{Digest: next(), Size: 4000}}}
		idx := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIIndex, Size: 900, Created: created,
			Manifests: []inventory.Descriptor{platform(img.Digest, "linux/amd64"), attests(att.Digest, img.Digest)}}
		for _, m := range []*inventory.Manifest{img, att, idx} {
			inv.Manifests[m.Digest] = m
		}
		inv.Tags = append(inv.Tags, inventory.Tag{Name: tag, Digest: idx.Digest})
		return idx.Digest
	}
	images := 0
	var someIndexes []string
	for c := 0; c < caseCommits && images < caseImageTags; c++ {
		count := (caseImageTags - caseBigCommits*caseBigPerCommit) / (caseCommits - caseBigCommits)
		if c < caseBigCommits {
			count = caseBigPerCommit
		} else if c-caseBigCommits < (caseImageTags-caseBigCommits*caseBigPerCommit)%(caseCommits-caseBigCommits) {
			count++
		}
		for k := 0; k < count; k++ {
			inst := (c*7 + k) % caseInstances
			tag := fmt.Sprintf("%s-%s-sweb.eval.x86_64.repo_1776_inst-%05d-source-minimal", sdk7(c), df, inst)
			if k > caseInstances-1 {
				tag = fmt.Sprintf("%s-%s-commit0-repo%05d-source-minimal", sdk7(c), df, k)
			}
			d := push(tag, baseLayer[inst], sdkLayer[c], c*6+k%5)
			if k == 0 {
				someIndexes = append(someIndexes, d)
			}
			images++
		}
	}
	if images != caseImageTags {
		tb.Fatalf("built %d image tags, want %d", images, caseImageTags)
	}
	for i := 0; i < caseCacheTags; i++ {
		inst := i / 3
		tag := fmt.Sprintf("buildcache-source-minimal-sweb.eval.x86_64.repo_1776_inst-%05d_tag_latest-%012x%s", inst, inst, []string{"", "-main", "-feature"}[i%3])
		m := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIManifest, Size: 3000, Created: hoursAgo(i % 500),
			Config: &inventory.Descriptor{Digest: next(), Size: 300}, Layers: []inventory.Descriptor{{Digest: next(), Size: 50_000_000}}}
		inv.Manifests[m.Digest] = m
		inv.Tags = append(inv.Tags, inventory.Tag{Name: tag, Digest: m.Digest})
	}
	for i := 0; i < caseLegacyTags; i++ {
		push(fmt.Sprintf("v1.0.%d", i), baseLayer[i], sdkLayer[caseCommits-1], 4000+i)
	}
	for i := 0; i < caseOtherTags/2; i++ {
		subject := someIndexes[i*50]
		sig := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIManifest, Size: 500,
			Config: &inventory.Descriptor{Digest: next(), Size: 2}, Layers: []inventory.Descriptor{{Digest: next(), Size: 300}}}
		inv.Manifests[sig.Digest] = sig
		inv.Tags = append(inv.Tags, inventory.Tag{Name: "sha256-" + subject[7:] + ".sig", Digest: sig.Digest})
		push(fmt.Sprintf("nightly-%d", i), baseLayer[i], sdkLayer[i], 100)
	}
	if len(inv.Tags) != caseTotalTags {
		tb.Fatalf("built %d tags, want %d", len(inv.Tags), caseTotalTags)
	}
	return inv
}

// BenchmarkEvaluate evaluates the example policy on the full-size case: 133,445 tags, ~400k
// manifests. The target is under 2 s and 500 MB allocated per evaluation.
func BenchmarkEvaluate(b *testing.B) {
	inv := fullCase(b)
	pol := examplePolicy(b)
	l := caseLoader()
	l.commits[sdkRepo] = history(caseCommits)
	ks, err := Resolve(context.Background(), pol, l, t0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var kept, deleted int
	for b.Loop() {
		p, err := Evaluate(inv, pol, ks, t0)
		if err != nil {
			b.Fatal(err)
		}
		kept, deleted = p.Summary.KeptManifests, p.Summary.DeletedManifests
	}
	b.ReportMetric(float64(len(inv.Tags)), "tags")
	b.ReportMetric(float64(kept+deleted), "manifests")
	if deleted == 0 || kept == 0 {
		b.Errorf("kept %d, deleted %d: the benchmark should both keep and delete", kept, deleted)
	}
}
