package apply

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
	"github.com/regtidy/regtidy/plan"
)

// TestApplyRefusesAKeptManifestEditedIntoADelete: a hand edit turns the decision of the index
// that b-latest and b1 point at from keep into delete, its keep reasons still attached (the seal
// leaves actions out, so Read accepts the file). Apply must refuse the plan and delete nothing.
func TestApplyRefusesAKeptManifestEditedIntoADelete(t *testing.T) {
	w := newWorld(t)
	f := w.f
	edited := *w.plan
	edited.Decisions = append([]plan.Decision(nil), w.plan.Decisions...)
	i := decisionOf(t, &edited, w.ib.desc.Digest)
	edited.Decisions[i].Action = plan.Delete
	p, err := plan.Read(writePlanFile(t, &edited))
	if err != nil {
		t.Fatalf("Read: %v (turning a decision's action is not sealed; the apply-time rule refuses it)", err)
	}
	before := f.liveTags()
	for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest} {
		res, err := Apply(t.Context(), p, f.c, ApplyOptions{Mode: mode})
		if !errors.Is(err, plan.ErrPlanInvalid) || !strings.Contains(err.Error(), "keep reason") {
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
	del := func(p *plan.Plan) int { return decisionOf(t, p, w.ia.desc.Digest) }
	keep := func(p *plan.Plan) int { return decisionOf(t, p, w.ib.desc.Digest) }
	for _, tc := range []struct {
		name string
		edit func(p *plan.Plan)
	}{
		{"repository", func(p *plan.Plan) { p.Repository = p.Repository + "-other" }},
		{"policy digest", func(p *plan.Plan) { p.Policy.Digest = "sha256:0000" }},
		{"evaluation time", func(p *plan.Plan) { p.Now = p.Now.Add(time.Hour) }},
		{"tag mapping", func(p *plan.Plan) {
			p.Tags = append([]inventory.Tag(nil), p.Tags...)
			for i := range p.Tags {
				if p.Tags[i].Name == "b-latest" {
					p.Tags[i].Digest = w.ia.desc.Digest
				}
			}
		}},
		{"tags of a deleted decision", func(p *plan.Plan) {
			d := &p.Decisions[del(p)]
			d.Tags = append(append([]string(nil), d.Tags...), "b-latest")
		}},
		{"kept decision turned into a delete with delete reasons", func(p *plan.Plan) {
			d := &p.Decisions[keep(p)]
			d.Action = plan.Delete
			d.Reasons = []plan.Reason{{Rule: "no-keep-rule-matched", Detail: "edited"}}
		}},
		{"decision's digest", func(p *plan.Plan) { p.Decisions[del(p)].Digest = w.ib.desc.Digest }},
		{"decision's version id", func(p *plan.Plan) { p.Decisions[del(p)].VersionID = 42 }},
		{"a decision removed", func(p *plan.Plan) { p.Decisions = p.Decisions[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var edited plan.Plan
			b, _ := json.Marshal(w.plan)
			if err := json.Unmarshal(b, &edited); err != nil {
				t.Fatal(err)
			}
			tc.edit(&edited)
			_, err := plan.Read(writePlanFile(t, &edited))
			if err == nil || !strings.Contains(err.Error(), `"seal"`) || !errors.Is(err, plan.ErrPlanInvalid) {
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
	var edited plan.Plan
	b, _ := json.Marshal(w.plan)
	if err := json.Unmarshal(b, &edited); err != nil {
		t.Fatal(err)
	}
	for _, m := range []img{w.cl, w.ci} {
		edited.Decisions[decisionOf(t, &edited, m.desc.Digest)].Action = plan.Keep
	}
	p, err := plan.Read(writePlanFile(t, &edited))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	res, err := Apply(t.Context(), p, f.c, ApplyOptions{Mode: plan.ModeDigest})
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
	p, err := plan.Read(path)
	if err != nil {
		t.Fatalf("Read of an unsealed plan: %v", err)
	}
	if _, ok := p.Find("c1"); !ok {
		t.Fatal("the unsealed plan cannot be explained")
	}
	before := f.liveTags()
	_, err = Apply(t.Context(), p, f.c, ApplyOptions{})
	if !errors.Is(err, plan.ErrPlanInvalid) || !strings.Contains(err.Error(), "regtidy plan") {
		t.Errorf("Apply: err %v, want ErrPlanInvalid telling to run regtidy plan again", err)
	}
	if diff := cmp.Diff(before, f.liveTags()); diff != "" {
		t.Errorf("the registry changed (-before +after):\n%s", diff)
	}
}

// writePlanFile writes p to a file of the test's and returns its path.
func writePlanFile(t *testing.T, p *plan.Plan) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// decisionOf returns the index of digest's decision in p.
func decisionOf(t *testing.T, p *plan.Plan, digest string) int {
	t.Helper()
	for i := range p.Decisions {
		if p.Decisions[i].Digest == digest {
			return i
		}
	}
	t.Fatalf("no decision for %s", digest)
	return -1
}
