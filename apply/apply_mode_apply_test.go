package apply

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/plan"
)

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
	res, err := Apply(t.Context(), w.plan, w.f.c, ApplyOptions{Mode: plan.ModeTag})
	if err != nil {
		t.Fatal(err)
	}
	for name, advice := range map[string]string{
		"plan":  plan.EstimateCost(costPlan(), plan.ModeTag).AfterApply,
		"apply": res.AfterApply,
	} {
		for _, want := range []string{"distribution v3: `registry garbage-collect --delete-untagged`", "distribution v2:", plan.IssueGCChildren, "--mode digest", "regtidy verify"} {
			if !strings.Contains(advice, want) {
				t.Errorf("%s: advice %q lacks %q", name, advice, want)
			}
		}
		if strings.Contains(advice, "open bug") {
			t.Errorf("%s: advice %q still calls #3004 an open bug", name, advice)
		}
	}
}

// costPlan has 1,000 tags: 900 deleted (one tagged index each, with two untagged children) and
// 100 kept.
func costPlan() *plan.Plan {
	var ds []plan.Decision
	for i := range 1000 {
		d := fmt.Sprintf("sha256:%064x", i)
		if i < 100 {
			ds = append(ds, plan.Decision{Digest: d, Action: plan.Keep, Tags: []string{fmt.Sprintf("keep-%d", i)}})
			continue
		}
		ds = append(ds, plan.Decision{Digest: d, Action: plan.Delete, Tags: []string{fmt.Sprintf("del-%d", i)}})
		for c := range 2 {
			ds = append(ds, plan.Decision{Digest: fmt.Sprintf("sha256:%063x%d", i, c+1), Action: plan.Delete, Parent: d})
		}
	}
	return handPlan("r/x", ds)
}
