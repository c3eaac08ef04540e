package regtidy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

func TestMain(m *testing.M) {
	os.Exit(regtest.RunWithoutCredentials(m, registry.EnvUsername, registry.EnvPassword))
}

// liveTags lists repo's tags with a client of its own.
func liveTags(t *testing.T, repo string) []string {
	t.Helper()
	var tags []string
	if err := registry.New().ListTags(context.Background(), repo, func(p []string) error {
		tags = append(tags, p...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	return tags
}

// TestPlanApplyVerifyUndo drives the library the way the command does, on distribution v3 filled
// in the case's shape: the plan's kept tags are exactly what is left after Apply, Verify finds
// them whole, and Undo puts every deleted tag back.
func TestPlanApplyVerifyUndo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := regtest.NewWorld(ctx, regtest.WorldSpec{Dir: filepath.Join(dir, "world"), Scale: 0.002, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pol, err := w.Policy(examples.OpenHands)
	if err != nil {
		t.Fatal(err)
	}
	polPath := filepath.Join(dir, "openhands.yaml")
	if err := os.WriteFile(polPath, pol, 0o644); err != nil {
		t.Fatal(err)
	}
	repo := w.Repository()
	opt := regtidy.Options{Client: registry.New(), CacheDir: filepath.Join(dir, "cache")}
	before := liveTags(t, repo)

	p, err := regtidy.Plan(ctx, repo, regtidy.PlanOptions{Options: opt, PolicyFile: polPath, Now: w.Now})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, tag := range apply.KeptTags(p) {
		kept = append(kept, tag.Name)
	}
	slices.Sort(kept)
	if len(kept) == 0 || len(kept) == len(before) {
		t.Fatalf("the plan keeps %d of %d tags: the test would prove nothing", len(kept), len(before))
	}

	journal := filepath.Join(dir, "plan.journal.jsonl")
	res, err := regtidy.Apply(ctx, p, regtidy.ApplyOptions{Options: opt, Journal: journal})
	if err != nil {
		t.Fatal(err)
	}
	if res.OCI == nil || res.GHCR != nil || res.Partial() {
		t.Fatalf("apply result %+v: want a whole OCI result", res)
	}
	if got := liveTags(t, repo); !slices.Equal(got, kept) {
		t.Fatalf("after apply %d tags, the plan keeps %d", len(got), len(kept))
	}
	v, err := regtidy.Verify(ctx, repo, regtidy.VerifyOptions{Options: opt, Plan: p})
	if err != nil || !v.OK() || v.Tags != len(kept) {
		t.Fatalf("verify: %v, %d tags checked, ok %v; want %d whole", err, v.Tags, v.OK(), len(kept))
	}

	u, err := regtidy.Undo(ctx, journal, regtidy.UndoOptions{Options: opt})
	if err != nil {
		t.Fatal(err)
	}
	if got := liveTags(t, repo); !slices.Equal(got, before) {
		t.Errorf("after undo %d tags, before apply %d (restored %d)", len(got), len(before), len(u.OCI.RestoredTags))
	}
}

// TestVerifyRefusesAnotherRepositorysPlan and TestPlanWithoutPolicy: option errors, before any
// request.
func TestOptionErrors(t *testing.T) {
	ctx := context.Background()
	p := &plan.Plan{Repository: "127.0.0.1:1/a"}
	if _, err := regtidy.Verify(ctx, "127.0.0.1:1/b", regtidy.VerifyOptions{Plan: p}); err == nil {
		t.Error("Verify took a plan of another repository")
	}
	if _, err := regtidy.Plan(ctx, "127.0.0.1:1/a", regtidy.PlanOptions{}); err == nil {
		t.Error("Plan without a policy did not fail")
	}
	if _, err := regtidy.Plan(ctx, "127.0.0.1:1/a", regtidy.PlanOptions{PolicyFile: "x", Mode: "sideways"}); err == nil {
		t.Error("Plan took mode sideways")
	}
	if !regtidy.IsPartial(regtidy.ErrPartial) || regtidy.IsPartial(errors.New("x")) {
		t.Error("IsPartial")
	}
}

func TestIsGHCR(t *testing.T) {
	for _, tc := range []struct {
		repo string
		api  string
		want bool
	}{
		{"ghcr.io/o/p", "", true},
		{"127.0.0.1:5000/o/p", "", false},
		{"127.0.0.1:5000/o/p", "http://127.0.0.1:1", true},
	} {
		if got := regtidy.IsGHCR(tc.repo, regtidy.GHCROptions{API: tc.api}); got != tc.want {
			t.Errorf("IsGHCR(%q, API %q) = %v", tc.repo, tc.api, got)
		}
	}
}
