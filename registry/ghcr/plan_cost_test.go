package ghcr

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/plan"
)

func TestPlanCost(t *testing.T) {
	// A plan of 1,000 versions deleting 600 (ids 1-600), 100 of which an earlier run deleted and
	// 10 of which GitHub refused.
	p := &plan.Plan{}
	for i := 1; i <= 1000; i++ {
		d := plan.Decision{Digest: fakeDigest(i), VersionID: int64(i), Action: plan.Keep}
		if i <= 600 {
			d.Action = plan.Delete
		}
		p.Decisions = append(p.Decisions, d)
	}
	ran := NewState(testRepo)
	ran.OwnerKind = Org
	ran.HighWater = 1000
	for i := 1; i <= 100; i++ {
		ran.Deleted[int64(i)] = DeletedVersion{Digest: fakeDigest(i)}
	}
	for i := 101; i <= 110; i++ {
		ran.Undeletable[int64(i)] = UndeletableVersion{Digest: fakeDigest(i), Reason: ReasonDownloads}
	}
	interrupted := NewState(testRepo)
	interrupted.Listing = &Listing{Page: 4}
	tests := []struct {
		name string
		st   *State
		// want is requests, deletes.
		want [2]int
	}{
		{"first run", nil, [2]int{1 + 10 + 600, 600}},
		{"interrupted listing", interrupted, [2]int{1 + 7 + 600, 600}},
		{"repeat run", ran, [2]int{2 + 490, 490}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := PlanCost(p, tt.st, HourlyActionsToken)
			if diff := cmp.Diff(tt.want, [2]int{c.Requests, c.Deletes}); diff != "" {
				t.Errorf("requests, deletes (-want +got):\n%s", diff)
			}
			if c.Mode != "version" || c.Hours != float64(c.Requests)/HourlyActionsToken {
				t.Errorf("mode %q, hours %v", c.Mode, c.Hours)
			}
			for _, s := range []string{"405", "REST API", "OCI API"} {
				if !strings.Contains(c.Why, s) {
					t.Errorf("why %q does not say %q", c.Why, s)
				}
			}
			if !strings.Contains(c.AfterApply, "30 days") {
				t.Errorf("after apply %q does not name the restore window", c.AfterApply)
			}
		})
	}
}
