package plan

import (
	"testing"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// TestSealDoesNotDependOnCoresOrJSON: the seal of a plan of several chunks is the same after a
// round trip through its file, and changes with one decision's detail.
func TestSealDoesNotDependOnCoresOrJSON(t *testing.T) {
	loc := time.FixedZone("x", 3600)
	p := &Plan{Schema: Schema, Repository: "r/x", Now: time.Date(2026, 1, 2, 3, 4, 5, 6, loc)}
	for i := range 3*sealChunk + 7 {
		d := Decision{Digest: inventory.DigestOf([]byte{byte(i), byte(i >> 8)}), Action: Keep, Kind: "k",
			Created: time.Date(2025, 1, 1, 0, 0, i, 0, loc), Reasons: []Reason{{Rule: "age", Detail: "young"}}}
		p.Decisions = append(p.Decisions, d)
	}
	p.Seal()
	back, err := Read(writePlanFile(t, p))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if back.SealDigest != p.SealDigest || back.computeSeal() != p.SealDigest {
		t.Errorf("seal after a round trip %s, want %s", back.computeSeal(), p.SealDigest)
	}
	back.Decisions[2*sealChunk+3].Reasons[0].Detail = "old"
	if back.computeSeal() == p.SealDigest {
		t.Error("changing a reason's detail kept the seal")
	}
}

// BenchmarkSeal seals a plan the size of the case at full scale: 133k tags and 400k decisions,
// each with a reason, a third of them tagged.
func BenchmarkSeal(b *testing.B) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := &Plan{Schema: Schema, Repository: "127.0.0.1:5000/eval-agent-server", Now: now}
	for i := range 400_000 {
		d := Decision{Digest: inventory.DigestOf([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), Action: Keep, Kind: "image",
			MediaType: inventory.MediaTypeOCIManifest, Created: now.Add(-time.Duration(i) * time.Minute),
			Reasons: []Reason{{Rule: "no-keep-rule-matched", Kind: "image", Detail: "sdk 1a2b3c4 is not among the last 30 commits of main"}}}
		if i%3 == 0 {
			d.Tags = []string{"1a2b3c4-python3.12-" + d.Digest[7:19]}
			p.Tags = append(p.Tags, inventory.Tag{Name: d.Tags[0], Digest: d.Digest})
		}
		p.Decisions = append(p.Decisions, d)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Seal()
	}
}
