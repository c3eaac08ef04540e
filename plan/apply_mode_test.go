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

func TestEstimateCost(t *testing.T) {
	p := costPlan()
	p.Summary.BytesFreed = 12345
	for _, tc := range []struct {
		mode       Mode
		want       Cost
		why, after string
	}{
		// list + 100 kept HEADs + 900 × (HEAD + DELETE) + 900 GETs for the journal.
		{ModeAuto, Cost{Mode: "tag", Requests: 1 + 100 + 2*900 + 900, Deletes: 900}, "falls back to digest", IssueGCChildren},
		{ModeTag, Cost{Mode: "tag", Requests: 1 + 100 + 2*900 + 900, Deletes: 900}, "tag mode was asked for", "--delete-untagged"},
		// list + 1,000 HEADs + 900 re-check HEADs + 2,700 × (GET + DELETE).
		{ModeDigest, Cost{Mode: "digest", Requests: 1 + 1000 + 900 + 2*2700, Deletes: 2700}, "2700 digest deletes", "free about 12.1 KiB"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			got := EstimateCost(p, tc.mode)
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Cost{}, "Why", "AfterApply")); diff != "" {
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

func TestBudget(t *testing.T) {
	b := budget{max: 5}
	got := []int{b.take(2), b.take(2), b.take(2), b.take(1)}
	if diff := cmp.Diff([]int{2, 2, 1, 0}, got); diff != "" {
		t.Errorf("grants (-want +got):\n%s", diff)
	}
	if !b.spent() {
		t.Errorf("budget of 5 not spent after 5 granted")
	}
	b.give(1)
	if b.spent() || b.take(3) != 1 {
		t.Errorf("a returned delete was not granted again")
	}
	var unbounded budget
	if unbounded.take(1000) != 1000 || unbounded.spent() {
		t.Errorf("zero budget must be unbounded")
	}
}

// TestAfterApplyAdviceIsPerDistributionVersion: the advice after a tag-mode apply (planned and
// actual) says --delete-untagged is safe on distribution v3 and, on v2, to leave it out or use
// digest mode; it does not call the v2 bug an open bug of the registry in general.
func TestAfterApplyAdviceIsPerDistributionVersion(t *testing.T) {
	w := newWorld(t)
	res, err := Apply(t.Context(), w.plan, w.f.c, ApplyOptions{Mode: ModeTag})
	if err != nil {
		t.Fatal(err)
	}
	for name, advice := range map[string]string{
		"plan":  EstimateCost(costPlan(), ModeTag).AfterApply,
		"apply": res.AfterApply,
	} {
		for _, want := range []string{"distribution v3: `registry garbage-collect --delete-untagged`", "distribution v2:", IssueGCChildren, "--mode digest", "regtidy verify"} {
			if !strings.Contains(advice, want) {
				t.Errorf("%s: advice %q lacks %q", name, advice, want)
			}
		}
		if strings.Contains(advice, "open bug") {
			t.Errorf("%s: advice %q still calls #3004 an open bug", name, advice)
		}
	}
}
