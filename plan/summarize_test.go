package plan

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
)

// blobManifest makes an image manifest with a config and layers.
func blobManifest(digest string, config inventory.Blob, layers ...inventory.Blob) *inventory.Manifest {
	m := &inventory.Manifest{Digest: digest, MediaType: inventory.MediaTypeOCIManifest, Config: &config}
	for _, l := range layers {
		m.Layers = append(m.Layers, inventory.Layer{Digest: l.Digest, Size: l.Size})
	}
	return m
}

func blob(d string, size int64) inventory.Blob {
	return inventory.Blob{Digest: d, Size: size}
}

// summaryInventory holds four images and an index. Blobs: a uses ca, ab, onlyA and kept; b uses
// cb, ab and undecided; c uses cc and kept; d uses cd and undecided; the index i none.
func summaryInventory() *inventory.Inventory {
	return &inventory.Inventory{Manifests: map[string]*inventory.Manifest{
		"sha256:a": blobManifest("sha256:a", blob("ca", 1), blob("ab", 10), blob("onlyA", 100), blob("kept", 1000)),
		"sha256:b": blobManifest("sha256:b", blob("cb", 2), blob("ab", 10), blob("undecided", 10000)),
		"sha256:c": blobManifest("sha256:c", blob("cc", 4), blob("kept", 1000)),
		"sha256:d": blobManifest("sha256:d", blob("cd", 8), blob("undecided", 10000)),
		"sha256:i": {Digest: "sha256:i", MediaType: inventory.MediaTypeOCIIndex, Manifests: []inventory.Descriptor{{Digest: "sha256:a"}}},
	}}
}

func TestSummarize(t *testing.T) {
	decisions := []Decision{
		{Digest: "sha256:a", Action: Delete, Kind: "x", Tags: []string{"a1", "a2"}, Reasons: []Reason{{Rule: "no-keep-rule-matched"}}},
		{Digest: "sha256:b", Action: Delete, Kind: "y", Reasons: []Reason{{Rule: "child-of-deleted"}}},
		{Digest: "sha256:c", Action: Keep, Kind: "x", Tags: []string{"c1"}, Reasons: []Reason{{Rule: "commits"}}},
		{Digest: "sha256:i", Action: Delete, Kind: "z", Tags: []string{"i1"}, Reasons: []Reason{{Rule: "no-keep-rule-matched"}}},
		{Digest: "sha256:gone", Action: Delete, Kind: "z", Reasons: []Reason{{Rule: "child-of-deleted"}}},
	}
	// Freed: a's config and onlyA (kind x), the ab layer a and b share (the first deleted user
	// in digest order, a, gives it kind x), b's config (kind y). Not freed: kept (c uses it),
	// undecided (d has no decision, so it survives).
	want := Summary{
		Kinds: []KindSummary{
			{Kind: "x", KeptManifests: 1, DeletedManifests: 1, KeptTags: 1, DeletedTags: 2, BytesFreed: 1 + 10 + 100},
			{Kind: "y", DeletedManifests: 1, BytesFreed: 2},
			{Kind: "z", DeletedManifests: 2, DeletedTags: 1},
		},
		KeptManifests: 1, DeletedManifests: 4, KeptTags: 1, DeletedTags: 3,
		BytesFreed: 113,
		TopReasons: []ReasonCount{
			{Action: Delete, Rule: "child-of-deleted", Count: 2},
			{Action: Delete, Rule: "no-keep-rule-matched", Count: 2},
			{Action: Keep, Rule: "commits", Count: 1},
		},
	}
	p := &Plan{Decisions: decisions}
	p.Summarize(summaryInventory())
	if diff := cmp.Diff(want, p.Summary); diff != "" {
		t.Errorf("Summarize (-want +got):\n%s", diff)
	}

	// The same decisions in another order, one of them twice: a digest is deleted when any of
	// its decisions deletes it, and counted by every decision.
	shuffled := &Plan{Decisions: []Decision{decisions[3], decisions[2], decisions[1], decisions[0], decisions[4]}}
	shuffled.Summarize(summaryInventory())
	if diff := cmp.Diff(want, shuffled.Summary); diff != "" {
		t.Errorf("Summarize of shuffled decisions (-want +got):\n%s", diff)
	}
	twice := &Plan{Decisions: append([]Decision{{Digest: "sha256:c", Action: Delete, Kind: "x"}}, decisions...)}
	twice.Summarize(summaryInventory())
	// c is now deleted: its config and the layer only a and c use are freed too.
	if got, want := twice.Summary.BytesFreed, int64(113+4+1000); got != want {
		t.Errorf("with c also deleted by a second decision: %d bytes freed, want %d", got, want)
	}

	// SummarizeDecided, given each decision's manifest, gives the same summary when every
	// manifest has a decision; here d is decided too.
	decided := append(append([]Decision(nil), decisions[:3]...), Decision{Digest: "sha256:d", Action: Keep, Kind: "w", Reasons: []Reason{{Rule: "age"}}})
	decided = append(decided, decisions[3:]...)
	inv := summaryInventory()
	byDigest := &Plan{Decisions: decided}
	byDigest.Summarize(inv)
	manifests := make([]*inventory.Manifest, len(decided))
	for i, d := range decided {
		manifests[i] = inv.Manifests[d.Digest]
	}
	direct := &Plan{Decisions: decided}
	direct.SummarizeDecided(manifests)
	if diff := cmp.Diff(byDigest.Summary, direct.Summary); diff != "" {
		t.Errorf("SummarizeDecided differs from Summarize (-Summarize +SummarizeDecided):\n%s", diff)
	}

	// Without an inventory nothing is counted as freed.
	p.Summarize(nil)
	if p.Summary.BytesFreed != 0 || p.Summary.DeletedManifests != 4 {
		t.Errorf("Summarize(nil): %d bytes freed, %d deleted; want 0 and 4", p.Summary.BytesFreed, p.Summary.DeletedManifests)
	}
}

// TestSummarizeDecidedShardsLikeSummarize: on a plan large enough for the ledger to be shared
// out among cores, SummarizeDecided gives exactly what Summarize gives.
func TestSummarizeDecidedShardsLikeSummarize(t *testing.T) {
	const n = 20_000
	inv := &inventory.Inventory{Manifests: map[string]*inventory.Manifest{}}
	decisions := make([]Decision, n)
	manifests := make([]*inventory.Manifest, n)
	kinds := []string{"image", "child", "buildcache"}
	for i := range n {
		d := fmt.Sprintf("sha256:%064x", i)
		// Blobs shared by neighbours and by every 97th manifest, sizes all different.
		m := blobManifest(d, blob(fmt.Sprintf("sha256:c%063x", i), int64(i)),
			blob(fmt.Sprintf("sha256:n%063x", i/3), 1000+int64(i/3)), blob(fmt.Sprintf("sha256:s%063x", i%97), 1e6+int64(i%97)))
		inv.Manifests[d] = m
		manifests[i] = m
		action := Keep
		if i%5 != 0 {
			action = Delete
		}
		decisions[i] = Decision{Digest: d, Action: action, Kind: kinds[i%3], Reasons: []Reason{{Rule: "r"}}}
	}
	want := &Plan{Decisions: decisions}
	want.Summarize(inv)
	got := &Plan{Decisions: decisions}
	got.SummarizeDecided(manifests)
	if diff := cmp.Diff(want.Summary, got.Summary); diff != "" {
		t.Errorf("SummarizeDecided (-Summarize +SummarizeDecided):\n%s", diff)
	}
	if got.Summary.BytesFreed == 0 {
		t.Error("nothing freed: the test proves nothing")
	}
}
