package ghcr

import (
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// TestPlanCost checks that PlanCost counts no delete for a version the state records as deleted
// or refused, and says why and what follows; TestPlanCostIsWhatPlanAndApplySend checks its
// request count against the emulator's.
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
		// want is the deletes: the versions planned, less those the state records as deleted or
		// refused.
		want int
	}{
		{"first run", nil, 600},
		{"interrupted listing", interrupted, 600},
		{"repeat run", ran, 490},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := PlanCost(p, tt.st, Rate{Hourly: HourlyActionsToken})
			if c.Deletes != tt.want {
				t.Errorf("deletes %d, want %d", c.Deletes, tt.want)
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

// TestPlanCostIsWhatPlanAndApplySend lists a package on the GitHub Packages emulator, plans and
// applies, as a first `regtidy prune` does, and checks that the plan's cost (PlanCost from the
// state before the run: requests and deletes) is what the emulator counted: every REST request
// of the listing and of apply, and the DELETEs among them.
func TestPlanCostIsWhatPlanAndApplySend(t *testing.T) {
	g := fillGHCR(t, 0.002, ghcremu.Options{})
	r := g.newRun(t, WithPageSize(DefaultPageSize))
	before := r.st.clone(t)
	g.e.ResetStats()
	p, _ := g.makePlan(t, r, inventory.BuildOptions{})
	cost := PlanCost(p, before, Rate{Hourly: HourlyPersonalToken})
	if _, err := Apply(t.Context(), p, g.oci, r.rest, r.st, ApplyOptions{Journal: io.Discard}); err != nil {
		t.Fatal(err)
	}
	stats := g.e.Stats()
	got := [2]int{stats.Total(), stats.REST[ghcremu.EndpointDelete].Requests}
	if diff := cmp.Diff([2]int{cost.Requests, cost.Deletes}, got); diff != "" {
		t.Errorf("requests, deletes: plan's cost -, emulator's count +:\n%s", diff)
	}
	if cost.Deletes == 0 || got[0] <= cost.Deletes+1 {
		t.Errorf("the case should list several pages and delete versions: %v", got)
	}
}
