package apply

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// taggedPlan pushes n images, tags image i "t<i>" when tagged(i), and returns a sealed plan that
// deletes every "t<i>" tag and keeps the image tagged "keep".
func taggedPlan(f *fixture, n int, tagged func(i int) bool) *plan.Plan {
	f.t.Helper()
	kept := f.image(inventory.MediaTypeOCIManifest, "kept")
	f.tag("keep", kept)
	decisions := []plan.Decision{{Digest: kept.desc.Digest, Action: plan.Keep, Tags: []string{"keep"}, Kind: "image",
		MediaType: kept.desc.MediaType, Reasons: []plan.Reason{{Rule: "match", Detail: "kept by the test"}}}}
	for i := range n {
		m := f.image(inventory.MediaTypeOCIManifest, fmt.Sprint("img", i))
		tag := fmt.Sprintf("t%02d", i)
		if tagged(i) {
			f.tag(tag, m)
		}
		decisions = append(decisions, plan.Decision{Digest: m.desc.Digest, Action: plan.Delete, Tags: []string{tag}, Kind: "image",
			MediaType: m.desc.MediaType, Reasons: []plan.Reason{{Rule: "no-keep-rule-matched", Detail: "deleted by the test"}}})
	}
	return handPlan(f.repo, decisions)
}

// TestApplyRefusesAPlanMostOfWhoseTagsAreMissing: a plan of 20 deleted tags meets a repository
// holding 3 of them (a plan made for another repository whose tags partly match by name and
// digest). Apply must stop before deleting, in every mode, and say the plan does not match.
func TestApplyRefusesAPlanMostOfWhoseTagsAreMissing(t *testing.T) {
	for _, mode := range []plan.Mode{plan.ModeTag, plan.ModeDigest, plan.ModeAuto} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, regtest.Options{})
			p := taggedPlan(f, 20, func(i int) bool { return i%7 == 0 })
			before := f.liveTags()
			journal := filepath.Join(t.TempDir(), "j.jsonl")
			res, err := Apply(t.Context(), p, f.c, ApplyOptions{Mode: mode, JournalPath: journal})
			if err == nil || !strings.Contains(err.Error(), "does not match the registry") {
				t.Fatalf("Apply: err %v, want the plan refused as not matching the registry", err)
			}
			if res != nil && len(res.DeletedTags)+len(res.DeletedManifests) > 0 {
				t.Errorf("deleted %v %v", res.DeletedTags, res.DeletedManifests)
			}
			if diff := cmp.Diff(before, f.liveTags()); diff != "" {
				t.Errorf("the registry changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestApplyResumesAfterAnInterruptedRun: a run stopped after 15 of 20 tag deletes leaves most
// planned tags missing; the next run with the same journal finishes the rest, while a run
// without that journal is refused.
func TestApplyResumesAfterAnInterruptedRun(t *testing.T) {
	f := newFixture(t, regtest.Options{})
	p := taggedPlan(f, 20, func(int) bool { return true })
	journal := filepath.Join(t.TempDir(), "j.jsonl")
	res, err := Apply(t.Context(), p, f.c, ApplyOptions{Mode: plan.ModeTag, JournalPath: journal, MaxDeletes: 15, Concurrency: 1})
	if err != nil || len(res.DeletedTags) != 15 {
		t.Fatalf("first run: err %v, deleted %d tags, want 15", err, len(res.DeletedTags))
	}
	_, err = Apply(t.Context(), p, f.c, ApplyOptions{Mode: plan.ModeTag, JournalPath: filepath.Join(t.TempDir(), "other.jsonl")})
	if !errors.Is(err, ErrPlanMismatch) {
		t.Errorf("run with another journal: err %v, want ErrPlanMismatch", err)
	}
	if got := len(f.liveTags()); got != 6 {
		t.Errorf("%d tags left after the refused run, want 6", got)
	}
	res, err = Apply(t.Context(), p, f.c, ApplyOptions{Mode: plan.ModeTag, JournalPath: journal})
	if err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	if len(res.DeletedTags) != 5 {
		t.Errorf("resumed run deleted %d tags, want 5", len(res.DeletedTags))
	}
	if diff := cmp.Diff([]inventory.Tag{{Name: "keep", Digest: p.Decisions[0].Digest}}, f.liveTags()); diff != "" {
		t.Errorf("tags left (-want +got):\n%s", diff)
	}
}
