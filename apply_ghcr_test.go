package regtidy_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/ghcremu"
	"github.com/regtidy/regtidy/policy"
)

// A version GitHub refuses to delete makes the run that meets the refusal partial (exit 3); a
// later run skips it without a request, says so, and is not partial for it.
func TestGHCRRefusalIsPartialOnceThenReported(t *testing.T) {
	clock := ghcremu.NewFakeClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	e, err := ghcremu.Start(t.Context(), ghcremu.Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	old, _, _, err := casegen.PushIndex(t.Context(), e.Host, "acme/app", "old-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := casegen.PushIndex(t.Context(), e.Host, "acme/app", "new-1"); err != nil {
		t.Fatal(err)
	}
	if err := e.SetDownloads("acme/app", old, 5001); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	t.Setenv("GITHUB_TOKEN", "ghp_cleaner")
	pol, err := policy.Parse("p.yaml", []byte("version: 1\nscheme:\n  - kind: img\n    match: '(old|new)-.+'\nrules:\n  img:\n    keep:\n      - match: 'new-.+'\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := regtidy.Options{NoCache: true, GHCR: regtidy.GHCROptions{API: e.URL, State: filepath.Join(dir, "state.json"), Now: clock.Now, Sleep: clock.Sleep}}
	repo := e.Host + "/acme/app"
	night := func(n int) (string, error) {
		t.Helper()
		p, err := regtidy.Plan(t.Context(), repo, regtidy.PlanOptions{Options: o, Policy: pol, Now: clock.Now()})
		if err != nil {
			t.Fatalf("night %d: plan: %v", n, err)
		}
		res, err := regtidy.Apply(t.Context(), p, regtidy.ApplyOptions{Options: o, Journal: filepath.Join(dir, "journal.jsonl")})
		if res == nil {
			t.Fatalf("night %d: apply: %v", n, err)
		}
		var out bytes.Buffer
		if werr := res.WriteText(&out); werr != nil {
			t.Fatal(werr)
		}
		return out.String(), err
	}
	out, err := night(1)
	if !regtidy.IsPartial(err) || !strings.Contains(out, "REFUSED") || !strings.Contains(out, "downloads") {
		t.Errorf("night 1: err %v, output:\n%s\nwant a partial run naming the refusal", err, out)
	}
	deletesBefore := e.Stats().REST[ghcremu.EndpointDelete].Requests
	clock.Advance(24 * time.Hour)
	out, err = night(2)
	if err != nil || !strings.Contains(out, "refused: 1 versions") {
		t.Errorf("night 2: err %v, output:\n%s\nwant a finished run that reports the refused version it skips", err, out)
	}
	if n := e.Stats().REST[ghcremu.EndpointDelete].Requests - deletesBefore; n != 0 {
		t.Errorf("night 2 sent %d DELETEs, want none (the refusal is recorded)", n)
	}
}
