package plan

import (
	"path/filepath"
	"sort"
	"testing"

	"github.com/regtidy/regtidy/inventory"
)

// handPlan makes a sealed plan of decisions, with the tags they name.
func handPlan(repo string, decisions []Decision) *Plan {
	p := &Plan{Schema: Schema, Repository: repo, Decisions: decisions, Fingerprint: "sha256:test"}
	for _, d := range decisions {
		for _, t := range d.Tags {
			p.Tags = append(p.Tags, inventory.Tag{Name: t, Digest: d.Digest})
		}
	}
	sort.Slice(p.Tags, func(i, j int) bool { return p.Tags[i].Name < p.Tags[j].Name })
	p.Seal()
	return p
}

// writePlanFile writes p to a file of the test's and returns its path.
func writePlanFile(t *testing.T, p *Plan) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}
