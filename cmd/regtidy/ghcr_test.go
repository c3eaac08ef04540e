package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/plan"
)

// TestGHCRPlanApplyUndo runs the commands against the GitHub Packages emulator over the real
// registry: the plan is made of package versions, apply deletes them through the REST API (the
// registry refuses OCI deletes, as ghcr.io does), and undo restores them.
func TestGHCRPlanApplyUndo(t *testing.T) {
	ctx := context.Background()
	e, err := ghcremu.Start(ctx, ghcremu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := casegen.FillCase(ctx, e.Host, casegen.CaseSpec{Scale: 0.002, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_TOKEN", "test-token")
	repo := e.Host + "/" + c.Repository
	before := liveTags(t, repo)

	// Delete the images of a few old commits, about ten tags (GitHub's pacing starts at a delete
	// a second); keep the other commits' images. Every other kind has no rule and is kept.
	perCommit := map[string]int{}
	for _, ct := range c.Tags {
		if ct.Kind == casegen.KindImage {
			perCommit[ct.SDK]++
		}
	}
	var keep []string
	dropped := 0
	for _, cm := range c.Commits {
		if n := perCommit[cm.SHA]; n > 0 && dropped+n <= 10 {
			dropped += n
			continue
		}
		keep = append(keep, cm.SHA[:7])
	}
	if dropped == 0 {
		t.Fatal("no commit small enough to delete: the test would prove nothing")
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(fmt.Sprintf(`version: 1
scheme:
  - kind: buildcache
    match: 'buildcache-.+'
  - kind: legacy
    match: 'v[0-9]+\.[0-9]+\.[0-9]+(?:-.+)?'
  - kind: image
    match: '(?P<sdk>[0-9a-f]{7})-.+'
rules:
  image:
    keep:
      - match: '(?:%s)-.+'
`, strings.Join(keep, "|"))), 0o644)

	planFile := filepath.Join(dir, "plan.json")
	gh := []string{"--github-api", e.URL, "--state", filepath.Join(dir, "state.json"), "--cache-dir", filepath.Join(dir, "cache")}
	if _, stderr, err := runCLI(t, append([]string{"plan", repo, "--policy", pol, "--out", planFile}, gh...)...); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr)
	}
	p, err := plan.Read(planFile)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cost.Mode != string(plan.ModeVersion) || p.Cost.Hours <= 0 {
		t.Fatalf("plan cost %+v, want version mode with hours of budget", p.Cost)
	}
	var want []string
	keptDigest := map[string]bool{}
	for _, ct := range c.Tags {
		if ct.Kind != casegen.KindImage || containsPrefix(keep, ct.SDK) {
			keptDigest[ct.Digest] = true
		}
	}
	for _, ct := range c.Tags {
		if keptDigest[ct.Digest] || keptDigest[ct.Subject] {
			want = append(want, ct.Name)
		}
	}
	sort.Strings(want)

	stdout, stderr, err := runCLI(t, append([]string{"apply", planFile}, gh...)...)
	if err != nil {
		t.Fatalf("apply: %v\n%s\n%s", err, stdout, stderr)
	}
	if diff := cmp.Diff(want, liveTags(t, repo)); diff != "" {
		t.Errorf("tags after apply (-want +got):\n%s", diff)
	}
	if e.Stats().OCIDeleteRefused != 0 {
		t.Errorf("apply tried %d OCI manifest deletes on an emulated ghcr.io", e.Stats().OCIDeleteRefused)
	}

	journal := strings.TrimSuffix(planFile, ".json") + ".journal.jsonl"
	if stdout, stderr, err := runCLI(t, append([]string{"undo", journal}, gh...)...); err != nil {
		t.Fatalf("undo: %v\n%s\n%s", err, stdout, stderr)
	}
	if diff := cmp.Diff(before, liveTags(t, repo)); diff != "" {
		t.Errorf("tags after undo (-before +after):\n%s", diff)
	}
}

func containsPrefix(prefixes []string, s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
