package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/regtidy/regtidy/inventory"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", ModeAuto, false},
		{"auto", ModeAuto, false},
		{"tag", ModeTag, false},
		{"digest", ModeDigest, false},
		{"version", "", true},
	} {
		got, err := ParseMode(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// costPlan has 1,000 tags: 900 deleted (one tagged index each, with two untagged children) and
// 100 kept.
func costPlan() *Plan {
	var ds []Decision
	for i := range 1000 {
		d := fmt.Sprintf("sha256:%064x", i)
		if i < 100 {
			ds = append(ds, Decision{Digest: d, Action: Keep, Tags: []string{fmt.Sprintf("keep-%d", i)}})
			continue
		}
		ds = append(ds, Decision{Digest: d, Action: Delete, Tags: []string{fmt.Sprintf("del-%d", i)}})
		for c := range 2 {
			ds = append(ds, Decision{Digest: fmt.Sprintf("sha256:%063x%d", i, c+1), Action: Delete, Parent: d})
		}
	}
	return handPlan("r/x", ds)
}

// TestEstimateCost checks what EstimateCost says besides the request count (which
// apply.TestPlanCostIsWhatApplySends checks against what the registry receives): the mode, one
// delete per tag or per manifest, and the advice.
func TestEstimateCost(t *testing.T) {
	p := costPlan()
	p.Summary.BytesFreed = 12345
	for _, tc := range []struct {
		mode       Mode
		want       Cost
		why, after string
	}{
		// 900 deleted tags; 900 deleted indexes with two children each.
		{ModeAuto, Cost{Mode: "tag", Deletes: 900}, "falls back to digest", IssueGCChildren},
		{ModeTag, Cost{Mode: "tag", Deletes: 900}, "tag mode was asked for", "--delete-untagged"},
		{ModeDigest, Cost{Mode: "digest", Deletes: 2700}, "2700 digest deletes", "free about 12.1 KiB"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			got := EstimateCost(p, tc.mode)
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Cost{}, "Why", "AfterApply", "Requests")); diff != "" {
				t.Errorf("EstimateCost (-want +got):\n%s", diff)
			}
			if !strings.Contains(got.Why, tc.why) || !strings.Contains(got.AfterApply, tc.after) {
				t.Errorf("why %q / after %q: want %q / %q in them", got.Why, got.AfterApply, tc.why, tc.after)
			}
		})
	}
}

func TestChooseModeExplainsDigestCost(t *testing.T) {
	p := &Plan{}
	for i := range 133_425 {
		p.Tags = append(p.Tags, inventory.Tag{Name: fmt.Sprint(i)})
	}
	mode, why, err := ChooseMode(ModeAuto, p)
	if err != nil || mode != ModeTag {
		t.Fatalf("ChooseMode(auto) = %s, %v", mode, err)
	}
	if !strings.Contains(why, "4.4s a call with 133425 tags") {
		t.Errorf("why does not state the digest delete cost at this size: %q", why)
	}
	if _, _, err := ChooseMode("fast", p); err == nil {
		t.Errorf("ChooseMode accepted an unknown mode")
	}
}
