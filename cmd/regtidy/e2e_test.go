package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/apply"
	"github.com/regtidy/regtidy/examples"
	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// worldNow is the present of the end-to-end worlds: a fixed time, so plans are reproducible.
var worldNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// newWorld makes the case's world at scale and writes the example policy pointed at it.
func newWorld(t *testing.T, scale float64) (*regtest.World, string) {
	t.Helper()
	dir := t.TempDir()
	w, err := regtest.NewWorld(context.Background(), regtest.WorldSpec{Dir: dir, Scale: scale, Seed: 3, Referrers: 8, Now: worldNow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
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

// runCLI runs the command line in-process and returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := NewRootCmd(strings.NewReader(""), &out, &errb)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// liveTags lists the repository's tags now.
func liveTags(t *testing.T, repo string) []string {
	t.Helper()
	var tags []string
	if err := registry.New().ListTags(context.Background(), repo, func(p []string) error {
		tags = append(tags, p...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(tags)
	return tags
}

// expectedKept computes, from the case alone, the tags the example policy keeps: images of the
// last 30 commits of main or of a commit a live run of the last 30 days uses; the 3 newest
// buildcache tags per benchmark instance; legacy tags; referrers of kept images; and every tag
// sharing a digest with a kept tag.
func expectedKept(w *regtest.World) []string {
	c := w.Case
	recent := map[string]bool{}
	for _, cm := range c.Commits[max(0, len(c.Commits)-30):] {
		recent[cm.SHA] = true
	}
	sinceDay := w.Now.Add(-30 * 24 * time.Hour)
	for _, r := range w.Runs {
		day := r.CreatedAt.UTC().Truncate(24 * time.Hour)
		if r.Live() && day.Add(24*time.Hour).After(sinceDay) {
			recent[r.SDKCommit] = true
		}
	}
	keptDigest := map[string]bool{}
	groups := map[string][]casegen.CaseTag{}
	for _, ct := range c.Tags {
		switch ct.Kind {
		case casegen.KindImage:
			if recent[ct.SDK] {
				keptDigest[ct.Digest] = true
			}
		case casegen.KindLegacy:
			keptDigest[ct.Digest] = true
		case casegen.KindBuildcache:
			groups[ct.Bench+"/"+ct.Group] = append(groups[ct.Bench+"/"+ct.Group], ct)
		}
	}
	for _, g := range groups {
		sort.Slice(g, func(i, j int) bool {
			if !g[i].Created.Equal(g[j].Created) {
				return g[i].Created.After(g[j].Created)
			}
			return g[i].Name < g[j].Name
		})
		for _, ct := range g[:min(3, len(g))] {
			keptDigest[ct.Digest] = true
		}
	}
	var kept []string
	for _, ct := range c.Tags {
		if keptDigest[ct.Digest] || ct.Kind == casegen.KindReferrer && keptDigest[ct.Subject] {
			kept = append(kept, ct.Name)
		}
	}
	sort.Strings(kept)
	return kept
}

func TestCasePolicyDeletesExactlyTheExpectedSet(t *testing.T) {
	scale := 0.1
	if testing.Short() {
		scale = 0.01
	}
	w, pol := newWorld(t, scale)
	repo := w.Repository()
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")
	cache := filepath.Join(dir, "cache")
	now := worldNow.Format(time.RFC3339)

	if _, stderr, err := runCLI(t, "plan", repo, "--policy", pol, "--now", now, "--out", planFile, "--cache-dir", cache); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr)
	}
	want := expectedKept(w)
	if len(want) == len(w.Case.Tags) || len(want) == 0 {
		t.Fatalf("the case keeps %d of %d tags: the test would prove nothing", len(want), len(w.Case.Tags))
	}
	p, err := plan.Read(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, tag := range apply.KeptTags(p) {
		planned = append(planned, tag.Name)
	}
	sort.Strings(planned)
	if diff := cmp.Diff(want, planned); diff != "" {
		t.Fatalf("plan keeps other tags than the case's rules say (-want +got):\n%s", diff)
	}

	stdout, stderr, err := runCLI(t, "apply", planFile, "--cache-dir", cache)
	if err != nil {
		t.Fatalf("apply: %v\n%s\n%s", err, stdout, stderr)
	}
	if diff := cmp.Diff(want, liveTags(t, repo)); diff != "" {
		t.Errorf("tags after apply (-want +got):\n%s", diff)
	}
	// Every kept tag still resolves whole: index, children, attestations, config and layers.
	if stdout, _, err := runCLI(t, "verify", repo, "--plan", planFile); err != nil || !strings.Contains(stdout, "every tag resolves whole") {
		t.Errorf("verify after apply: %v\n%s", err, stdout)
	}
	// A second apply finds everything done and deletes nothing more.
	stdout, _, err = runCLI(t, "apply", planFile, "--cache-dir", cache, "-o", "json")
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if strings.Contains(stdout, `"deleted_tags"`) {
		t.Errorf("second apply deleted tags again:\n%.2000s", stdout)
	}
}

// TestPlanFailsClosed breaks each keep source in turn: the plan fails with an error that names
// the cause, and prune --yes deletes nothing.
func TestPlanFailsClosed(t *testing.T) {
	w, polPath := newWorld(t, 0.002)
	repo := w.Repository()
	good, err := os.ReadFile(polPath)
	if err != nil {
		t.Fatal(err)
	}
	before := liveTags(t, repo)
	day := filepath.Join(w.RunsDir, casegen.RunsFile(worldNow))

	for _, tc := range []struct {
		name   string
		policy func(string) string
		break_ func(t *testing.T)
		want   string
		now    time.Time // when not the world's present
	}{
		// The metadata writer stopped 40 days ago: every file is older than since (30d), so
		// no live run is read. That must fail like a missing bucket, not plan without them.
		{name: "metadata older than since", want: "since window of 30d", now: worldNow.Add(40 * 24 * time.Hour)},
		{name: "no live run", want: "none of the",
			break_: func(t *testing.T) {
				entries, err := os.ReadDir(filepath.Dir(day))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					f := filepath.Join(filepath.Dir(day), e.Name())
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					b = regexp.MustCompile(`"status": ?"(init|inferring|evaluating|pending)"`).ReplaceAll(b, []byte(`"status":"completed"`))
					if err := os.WriteFile(f, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}},
		// A relative join means a key from the bucket's root on gs:// and s3://; a file:// URL
		// has no bucket root, so the policy is refused where it says so.
		{name: "relative join on file://", want: "join: a relative join key",
			policy: func(p string) string {
				return regexp.MustCompile(`join: 'file://[^']*/(\{path\}[^']*)'`).ReplaceAllString(p, "join: '$1'")
			}},
		{name: "unreachable git remote", want: "127.0.0.1:1",
			policy: func(p string) string {
				return strings.Replace(p, "repo: "+w.GitDir, "repo: http://127.0.0.1:1/sdk.git", 1)
			}},
		{name: "missing branch", want: "trunk",
			policy: func(p string) string { return strings.Replace(p, "branch: main", "branch: trunk", 1) }},
		{name: "bucket read error", want: "no-such-bucket",
			policy: func(p string) string {
				return strings.ReplaceAll(p, "file://"+w.RunsDir, "file://"+filepath.Join(w.RunsDir, "no-such-bucket"))
			}},
		{name: "malformed JSONL line", want: casegen.RunsFile(worldNow) + ":",
			break_: func(t *testing.T) {
				f, err := os.OpenFile(day, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(`{"path": "evals/x", "status": "evaluating"` + "\n")
				f.Close()
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := string(good)
			if tc.policy != nil {
				text = tc.policy(text)
			}
			path := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.break_ != nil {
				restore := saveDir(t, filepath.Dir(day))
				tc.break_(t)
				defer restore()
			}
			now := worldNow
			if !tc.now.IsZero() {
				now = tc.now
			}
			stdout, _, err := runCLI(t, "prune", repo, "--policy", path, "--now", now.Format(time.RFC3339), "--yes", "--no-cache")
			if err == nil {
				t.Fatalf("prune succeeded with a broken keep source:\n%s", stdout)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			if exitCode(err) != exitError {
				t.Errorf("exit code %d, want %d", exitCode(err), exitError)
			}
			if diff := cmp.Diff(before, liveTags(t, repo)); diff != "" {
				t.Errorf("tags changed (-before +after):\n%s", diff)
			}
		})
	}
}

// saveDir keeps the files of a directory and returns a function that writes them back.
func saveDir(t *testing.T, dir string) (restore func()) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	saved := map[string][]byte{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if saved[p], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for p, b := range saved {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"report"},
		{"explain", "plan.json"},
		{"report", "127.0.0.1:1/a", "127.0.0.1:1/b", "--html", "r.html"},
		{"report", "--no-such-flag", "x"},
		{"plan", "127.0.0.1:1/r", "--policy", "p.yaml", "--mode", "sideways"},
		{"report", "127.0.0.1:1/r", "-o", "xml"},
		{"aply", "plan.json"},
		{"plan", "127.0.0.1:1/r"},
		{"prune", "127.0.0.1:1/r", "--yes"},
	} {
		_, _, err := runCLI(t, args...)
		if got := exitCode(err); got != exitUsage {
			t.Errorf("%v: exit code %d (%v), want %d", args, got, err, exitUsage)
		}
	}
	if _, _, err := runCLI(t, "report", "127.0.0.1:1/r"); exitCode(err) != exitError || errors.Is(err, errUsage) {
		t.Errorf("an unreachable registry: %v, want a plain error", err)
	}
}
