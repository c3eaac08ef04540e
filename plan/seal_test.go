package plan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/inventory"
)

// writePlanFile writes p to a file of the test's and returns its path.
func writePlanFile(t *testing.T, p *Plan) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// decisionOf returns the index of digest's decision in p.
func decisionOf(t *testing.T, p *Plan, digest string) int {
	t.Helper()
	for i := range p.Decisions {
		if p.Decisions[i].Digest == digest {
			return i
		}
	}
	t.Fatalf("no decision for %s", digest)
	return -1
}

// TestApplyRefusesAKeptManifestEditedIntoADelete: a hand edit turns the decision of the index
// that b-latest and b1 point at from keep into delete, its keep reasons still attached (the seal
// leaves actions out, so Read accepts the file). Apply must refuse the plan and delete nothing.
func TestApplyRefusesAKeptManifestEditedIntoADelete(t *testing.T) {
	w := newWorld(t)
	f := w.f
	edited := *w.plan
	edited.Decisions = append([]Decision(nil), w.plan.Decisions...)
	i := decisionOf(t, &edited, w.ib.desc.Digest)
	edited.Decisions[i].Action = Delete
	p, err := Read(writePlanFile(t, &edited))
	if err != nil {
		t.Fatalf("Read: %v (turning a decision's action is not sealed; the apply-time rule refuses it)", err)
	}
	before := f.liveTags()
	for _, mode := range []Mode{ModeTag, ModeDigest} {
		res, err := Apply(t.Context(), p, f.c, ApplyOptions{Mode: mode})
		if !errors.Is(err, ErrPlanInvalid) || !strings.Contains(err.Error(), "keep reason") {
			t.Errorf("%s: Apply: err %v, want ErrPlanInvalid naming the keep reason", mode, err)
		}
		if res != nil && len(res.DeletedTags)+len(res.DeletedManifests) > 0 {
			t.Errorf("%s: deleted %v %v", mode, res.DeletedTags, res.DeletedManifests)
		}
	}
	if diff := cmp.Diff(before, f.liveTags()); diff != "" {
		t.Errorf("the registry changed (-before +after):\n%s", diff)
	}
}

// TestReadRefusesEditsThatDeleteMore edits a sealed plan file in every way that could make apply
// delete what the policy kept, or delete elsewhere: each edit must fail Read, naming the seal.
func TestReadRefusesEditsThatDeleteMore(t *testing.T) {
	w := newWorld(t)
	del := func(p *Plan) int { return decisionOf(t, p, w.ia.desc.Digest) }
	keep := func(p *Plan) int { return decisionOf(t, p, w.ib.desc.Digest) }
	for _, tc := range []struct {
		name string
		edit func(p *Plan)
	}{
		{"repository", func(p *Plan) { p.Repository = p.Repository + "-other" }},
		{"policy digest", func(p *Plan) { p.Policy.Digest = "sha256:0000" }},
		{"evaluation time", func(p *Plan) { p.Now = p.Now.Add(time.Hour) }},
		{"tag mapping", func(p *Plan) {
			p.Tags = append([]inventory.Tag(nil), p.Tags...)
			for i := range p.Tags {
				if p.Tags[i].Name == "b-latest" {
					p.Tags[i].Digest = w.ia.desc.Digest
				}
			}
		}},
		{"tags of a deleted decision", func(p *Plan) {
			d := &p.Decisions[del(p)]
			d.Tags = append(append([]string(nil), d.Tags...), "b-latest")
		}},
		{"kept decision turned into a delete with delete reasons", func(p *Plan) {
			d := &p.Decisions[keep(p)]
			d.Action = Delete
			d.Reasons = []Reason{{Rule: "no-keep-rule-matched", Detail: "edited"}}
		}},
		{"decision's digest", func(p *Plan) { p.Decisions[del(p)].Digest = w.ib.desc.Digest }},
		{"decision's version id", func(p *Plan) { p.Decisions[del(p)].VersionID = 42 }},
		{"a decision removed", func(p *Plan) { p.Decisions = p.Decisions[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edited Plan
			b, _ := json.Marshal(w.plan)
			if err := json.Unmarshal(b, &edited); err != nil {
				t.Fatal(err)
			}
			tc.edit(&edited)
			_, err := Read(writePlanFile(t, &edited))
			if err == nil || !strings.Contains(err.Error(), `"seal"`) || !errors.Is(err, ErrPlanInvalid) {
				t.Errorf("Read: err %v, want ErrPlanInvalid naming the field \"seal\"", err)
			}
		})
	}
}

// TestAReviewerMayTurnDeletesIntoKeeps: turning the decisions of c1's list and its image into
// keeps leaves the seal intact; apply deletes the rest and keeps c1.
func TestAReviewerMayTurnDeletesIntoKeeps(t *testing.T) {
	w := newWorld(t)
	f := w.f
	var edited Plan
	b, _ := json.Marshal(w.plan)
	if err := json.Unmarshal(b, &edited); err != nil {
		t.Fatal(err)
	}
	for _, m := range []img{w.cl, w.ci} {
		edited.Decisions[decisionOf(t, &edited, m.desc.Digest)].Action = Keep
	}
	p, err := Read(writePlanFile(t, &edited))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	res, err := Apply(t.Context(), p, f.c, ApplyOptions{Mode: ModeDigest})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := f.present(w.cl.desc.Digest, w.ci.desc.Digest, w.ia.desc.Digest); !got[w.cl.desc.Digest] || !got[w.ci.desc.Digest] || got[w.ia.desc.Digest] {
		t.Errorf("present %v: want c1's list and image kept, a1's index deleted", got)
	}
	if len(res.DeletedManifests) == 0 {
		t.Error("nothing deleted")
	}
}

// TestApplyRefusesAPlanWithoutASeal: a plan file from before seals is read (explain works) but
// not applied; the error says to plan again.
func TestApplyRefusesAPlanWithoutASeal(t *testing.T) {
	w := newWorld(t)
	f := w.f
	b, err := json.Marshal(w.plan)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	delete(fields, "seal")
	b, _ = json.Marshal(fields)
	path := filepath.Join(t.TempDir(), "old.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Read(path)
	if err != nil {
		t.Fatalf("Read of an unsealed plan: %v", err)
	}
	if _, ok := p.Find("c1"); !ok {
		t.Fatal("the unsealed plan cannot be explained")
	}
	before := f.liveTags()
	_, err = Apply(t.Context(), p, f.c, ApplyOptions{})
	if !errors.Is(err, ErrPlanInvalid) || !strings.Contains(err.Error(), "regtidy plan") {
		t.Errorf("Apply: err %v, want ErrPlanInvalid telling to run regtidy plan again", err)
	}
	if diff := cmp.Diff(before, f.liveTags()); diff != "" {
		t.Errorf("the registry changed (-before +after):\n%s", diff)
	}
}

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
