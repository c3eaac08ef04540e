package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/regtidy/regtidy/inventory"
)

// diffPlan keeps K (tags k1, k2) and deletes D (tag d1) and its child C.
func diffPlan() *Plan {
	return handPlan("r/x", []Decision{
		{Digest: "sha256:K", Action: Keep, Tags: []string{"k1", "k2"}},
		{Digest: "sha256:D", Action: Delete, Tags: []string{"d1"}},
		{Digest: "sha256:C", Action: Delete, Parent: "sha256:D"},
	})
}

func TestDiffAndConflicts(t *testing.T) {
	tag := func(n, d string) inventory.Tag { return inventory.Tag{Name: n, Digest: "sha256:" + d} }
	for _, tc := range []struct {
		name      string
		live      []inventory.Tag
		diff      PlanDiff
		conflicts []string
	}{
		{"unchanged", []inventory.Tag{tag("k1", "K"), tag("k2", "K"), tag("d1", "D")}, PlanDiff{}, nil},
		{"deleted tag not resolved", []inventory.Tag{tag("k1", "K"), tag("k2", "K"), {Name: "d1"}}, PlanDiff{}, nil},
		{"tags vanished", []inventory.Tag{tag("k1", "K")},
			PlanDiff{Removed: []inventory.Tag{tag("d1", "D"), tag("k2", "K")}}, nil},
		{"new tag on a kept digest", []inventory.Tag{tag("k1", "K"), tag("k2", "K"), tag("d1", "D"), tag("n", "K")},
			PlanDiff{Added: []inventory.Tag{tag("n", "K")}}, nil},
		{"new tag on a deleted digest", []inventory.Tag{tag("k1", "K"), tag("k2", "K"), tag("d1", "D"), tag("n", "D")},
			PlanDiff{Added: []inventory.Tag{tag("n", "D")}}, []string{"n"}},
		{"new tag on a deleted child", []inventory.Tag{tag("k1", "K"), tag("k2", "K"), tag("d1", "D"), tag("n", "C")},
			PlanDiff{Added: []inventory.Tag{tag("n", "C")}}, []string{"n"}},
		{"kept tag moved onto a deleted digest", []inventory.Tag{tag("k1", "D"), tag("k2", "K"), tag("d1", "D")},
			PlanDiff{Moved: []TagMove{{Tag: "k1", Planned: "sha256:K", Live: "sha256:D"}}}, []string{"k1"}},
		{"deleted tag moved onto a kept digest", []inventory.Tag{tag("k1", "K"), tag("k2", "K"), tag("d1", "K")},
			PlanDiff{Moved: []TagMove{{Tag: "d1", Planned: "sha256:D", Live: "sha256:K"}}}, nil},
		{"kept tag moved elsewhere", []inventory.Tag{tag("k1", "X"), tag("k2", "K"), tag("d1", "D")},
			PlanDiff{Moved: []TagMove{{Tag: "k1", Planned: "sha256:K", Live: "sha256:X"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := diffPlan()
			d := Diff(p, tc.live)
			if diff := cmp.Diff(tc.diff, d, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
			if d.Empty() != (len(tc.diff.Added)+len(tc.diff.Removed)+len(tc.diff.Moved) == 0) {
				t.Errorf("Empty() = %v for %s", d.Empty(), d)
			}
			var got []string
			for _, c := range Conflicts(p, d) {
				got = append(got, c.Tag)
			}
			if diff := cmp.Diff(tc.conflicts, got); diff != "" {
				t.Errorf("Conflicts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStaleErrorListsAReadableNumber(t *testing.T) {
	e := &StaleError{Repository: "r/x"}
	for i := range 25 {
		e.Conflicts = append(e.Conflicts, Conflict{Tag: fmt.Sprintf("t%02d", i), Live: "sha256:D", Why: "new tag points at a digest the plan deletes"})
	}
	msg := e.Error()
	if !strings.Contains(msg, "t19") || strings.Contains(msg, "t20") || !strings.Contains(msg, "and 5 more") {
		t.Errorf("message lists the wrong conflicts:\n%s", msg)
	}
	if !strings.Contains(msg, "25 conflicts") {
		t.Errorf("message does not count the conflicts:\n%s", msg)
	}
}
