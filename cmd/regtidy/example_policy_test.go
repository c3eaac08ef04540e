package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gocloud.dev/blob/fileblob"

	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/plan"
)

// targetsScale is the scale of the world with caches of both build targets: the fewest images
// (137 over 40 commits) and the case's fewest buildcache tags, 12 over 2 base images, 4 to 8 per
// base across targets and 2 groups of 4. The test fails if a seed or scale leaves no base with
// more than 3 caches or no group with more than 3.
const targetsScale = 0.001

// newTargetsWorld makes the case's world, as regtest.NewWorld does, with build caches of both
// targets (source-minimal and binary) for every base image, and writes the example policy
// pointed at it.
func newTargetsWorld(t *testing.T, scale float64) (*casegen.World, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	reg, err := regtest.Start(ctx, regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	w := &casegen.World{Dir: dir, Host: reg.Host, Now: worldNow, GitDir: filepath.Join(dir, "software-agent-sdk"),
		RunsDir: filepath.Join(dir, "evaluation-results")}
	n := max(casegen.MinCaseCommits, int(float64(casegen.FullCommits)*scale+0.5))
	step := (casegen.CasePeriod / time.Duration(n)).Truncate(time.Second)
	commits, err := casegen.MakeGitHistory(w.GitDir, n, worldNow.Add(-casegen.CasePeriod), step)
	if err != nil {
		t.Fatal(err)
	}
	w.Case, err = casegen.FillCase(ctx, w.Host, casegen.CaseSpec{Scale: scale, Seed: 3, Now: worldNow,
		Commits: commits, BuildcacheTargets: []string{"source-minimal", "binary"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(w.RunsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bucket, err := fileblob.OpenBucket(w.RunsDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	w.Runs = casegen.CaseRuns(w.Case, worldNow, 3)
	if err := casegen.WriteRuns(ctx, bucket, w.Runs); err != nil {
		t.Fatal(err)
	}
	pol, err := w.Policy(examples.OpenHands)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "openhands.yaml")
	if err := os.WriteFile(path, pol, 0o644); err != nil {
		t.Fatal(err)
	}
	return w, path
}

// TestExamplePolicyKeepsNewestCachesPerTarget plans the example policy on a repository whose base
// images have build caches of both targets, more than 3 per base: for every base image and
// target the 3 newest caches are kept and the older ones deleted, so no cache a build of its
// target would start from is deleted because the other target's caches are newer.
func TestExamplePolicyKeepsNewestCachesPerTarget(t *testing.T) {
	w, pol := newTargetsWorld(t, targetsScale)
	planFile := filepath.Join(t.TempDir(), "plan.json")
	if _, stderr, err := runCLI(t, "plan", w.Repository(), "--policy", pol, "--now", worldNow.Format(time.RFC3339),
		"--out", planFile, "--no-cache"); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr)
	}
	p, err := plan.Read(planFile)
	if err != nil {
		t.Fatal(err)
	}
	decided := map[string]plan.Decision{}
	for _, d := range p.Decisions {
		for _, tag := range d.Tags {
			decided[tag] = d
		}
	}

	groups := w.Case.BuildcacheGroups()
	perBase := map[string]map[string]int{} // instance -> target -> caches
	older := 0                             // caches past the 3 newest of their group
	for g, tags := range groups {
		if perBase[g.Group] == nil {
			perBase[g.Group] = map[string]int{}
		}
		perBase[g.Group][g.Target] = len(tags)
		older += max(0, len(tags)-3)
	}
	mixed := 0 // bases whose caches of both targets together are more than a group's 3
	for _, targets := range perBase {
		if len(targets) == 2 && targets["source-minimal"]+targets["binary"] > 3 {
			mixed++
		}
	}
	if mixed == 0 || older == 0 {
		t.Fatalf("%d bases with more than 3 caches of both targets, %d caches past a group's 3 newest: the test would prove nothing", mixed, older)
	}

	wronglyDeleted := 0
	for g, tags := range groups {
		for i, ct := range tags {
			d, ok := decided[ct.Name]
			if !ok {
				t.Errorf("%s: no decision in the plan", ct.Name)
				continue
			}
			if d.Kind != "buildcache" || d.Fields.Get("target") != g.Target {
				t.Errorf("%s: kind %q, target %q; want buildcache, %s", ct.Name, d.Kind, d.Fields.Get("target"), g.Target)
			}
			detail := ""
			if len(d.Reasons) > 0 {
				detail = d.Reasons[0].Detail
			}
			switch {
			case i < 3 && d.Action != plan.Keep:
				wronglyDeleted++
				t.Errorf("%s is #%d newest of %d %s caches of %s, and deleted: %s", ct.Name, i+1, len(tags), g.Target, g.Group, detail)
			case i >= 3 && d.Action != plan.Delete:
				t.Errorf("%s is #%d newest of %d %s caches of %s, and kept: %s", ct.Name, i+1, len(tags), g.Target, g.Group, detail)
			}
		}
	}
	if wronglyDeleted > 0 {
		t.Errorf("%d caches among the 3 newest of their own base image and target are planned for deletion", wronglyDeleted)
	}
	t.Logf("%d images; %d buildcache tags in %d groups over %d bases (%d with more than 3 caches across targets); %d caches past their group's 3 newest",
		w.Case.Totals.Images, w.Case.Totals.Buildcache, len(groups), len(perBase), mixed, older)
}
