package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// twoKindsYAML uses the same commits source from two kinds, and a second, different one.
const twoKindsYAML = `version: 1
scheme:
  - kind: a
    match: 'a-(?P<sdk>[0-9a-f]{7})'
  - kind: b
    match: 'b-(?P<sdk>[0-9a-f]{7})'
rules:
  a:
    keep:
      - commits: {repo: /srv/sdk, last: 3, field: sdk}
  b:
    keep:
      - any:
          - commits: {repo: /srv/sdk, last: 3, field: sdk}
          - commits: {repo: /srv/sdk, branch: dev, last: 2, field: sdk}
          - runs: {url: 'file:///m/*.jsonl', live: [running], commit: sdk, field: sdk}
`

// oneLiveRun is the runs of twoKindsYAML's runs source: one live run.
func oneLiveRun() map[string][]RunRef {
	return map[string][]RunRef{"file:///m/*.jsonl": {{Commit: commitSHA(7), Run: "r7", Status: "running", File: "m/1.jsonl", Line: 1}}}
}

func TestResolveLoadsEachSourceOnce(t *testing.T) {
	pol, err := Parse("k.yaml", []byte(twoKindsYAML))
	if err != nil {
		t.Fatal(err)
	}
	l := &fakeLoader{commits: map[string][]Commit{"/srv/sdk": history(5)}, runs: oneLiveRun()}
	ks, err := Resolve(context.Background(), pol, l, t0)
	if err != nil {
		t.Fatal(err)
	}
	if l.commitCalls != 2 || l.runCalls != 1 {
		t.Errorf("loader calls: %d commits, %d runs; want 2 and 1 (distinct sources once)", l.commitCalls, l.runCalls)
	}
	if len(ks.Commits) != 2 || ks.Commits[0].Spec.Branch != "dev" || len(ks.Commits[0].Commits) != 2 || len(ks.Commits[1].Commits) != 3 {
		t.Errorf("commit sets = %+v", ks.Commits)
	}
	if len(ks.Runs) != 1 || ks.Runs[0].Spec.CommitField != "sdk" {
		t.Errorf("run sets = %+v", ks.Runs)
	}
}

func TestResolveFailsClosed(t *testing.T) {
	boom := errors.New("connection refused")
	full := func() *fakeLoader {
		return &fakeLoader{commits: map[string][]Commit{"/srv/sdk": history(5)}, runs: oneLiveRun()}
	}
	for _, tc := range []struct {
		name   string
		loader func() *fakeLoader
		want   string
		cause  error
	}{
		{"git unreachable", func() *fakeLoader { l := full(); l.commitsErr = boom; return l }, "connection refused", boom},
		{"bucket error", func() *fakeLoader { l := full(); l.runsErr = boom; return l }, "runs in file:///m/*.jsonl: connection refused", boom},
		{"history shorter than asked", func() *fakeLoader {
			l := full()
			l.commits["/srv/sdk"] = history(1)
			return l
		}, "has 1 commits, ", nil},
		{"empty history", func() *fakeLoader {
			l := full()
			l.commits["/srv/sdk"] = nil
			return l
		}, "has no commits", nil},
		{"commit that is not hex", func() *fakeLoader {
			l := full()
			l.commits["/srv/sdk"] = []Commit{{SHA: "not-a-sha"}, {SHA: commitSHA(1)}, {SHA: commitSHA(2)}}
			return l
		}, `commit #1 "not-a-sha" is not a 7-40 digit hex hash`, nil},
		{"malformed run", func() *fakeLoader {
			l := full()
			l.runs["file:///m/*.jsonl"] = []RunRef{{Commit: "xyz", Run: "r1", File: "m/1.jsonl", Line: 3}}
			return l
		}, `m/1.jsonl:3: run "r1": commit "xyz" is not a 7-40 digit hex hash`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol, err := Parse("k.yaml", []byte(twoKindsYAML))
			if err != nil {
				t.Fatal(err)
			}
			ks, err := Resolve(context.Background(), pol, tc.loader(), t0)
			if err == nil {
				t.Fatalf("Resolve succeeded with %+v; want an error", ks)
			}
			if ks != nil {
				t.Errorf("Resolve returned keep sets with its error: %+v", ks)
			}
			if !errors.Is(err, ErrKeepSource) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrKeepSource mentioning %q", err, tc.want)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("error %v does not wrap the loader's error", err)
			}
		})
	}
}

// TestResolveFailsOnEmptyRuns: a runs source that read nothing where something was expected (no
// file inside since, files without runs, no live run) fails the plan, unless allow_empty says
// that is expected; the plan then records what was read.
func TestResolveFailsOnEmptyRuns(t *testing.T) {
	const url = "file:///m/*.jsonl"
	newest := t0.Add(-31 * Day).Truncate(Day)
	for _, tc := range []struct {
		name string
		read RunsRead
		want string
	}{
		{"every file older than since", RunsRead{Matched: 12, Newest: newest},
			"all 12 metadata files the URL matches are dated before the since window of 30d, which starts " +
				t0.Add(-30*Day).Format("2006-01-02") + " (the newest is dated " + newest.Format("2006-01-02") + ")"},
		{"files without runs", RunsRead{Matched: 3, Files: 3}, "the 3 metadata files read hold no runs"},
		{"no live run", RunsRead{Matched: 3, Files: 3, Lines: 40}, "none of the 40 runs in 3 metadata files is live (live: running)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := strings.Replace(twoKindsYAML, "commit: sdk, field: sdk}", "commit: sdk, field: sdk, since: 30d}", 1)
			pol, err := Parse("k.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			l := &fakeLoader{commits: map[string][]Commit{"/srv/sdk": history(5)}, runsRead: map[string]RunsRead{url: tc.read}}
			ks, err := Resolve(context.Background(), pol, l, t0)
			if !errors.Is(err, ErrKeepSource) || !errors.Is(err, ErrEmptySource) || ks != nil {
				t.Fatalf("Resolve = %+v, %v; want ErrKeepSource and ErrEmptySource", ks, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "allow_empty") {
				t.Errorf("error %q: want it to say %q and how to allow it", err, tc.want)
			}

			allowed, err := Parse("k.yaml", []byte(strings.Replace(yaml, "since: 30d}", "since: 30d, allow_empty: true}", 1)))
			if err != nil {
				t.Fatal(err)
			}
			ks, err = Resolve(context.Background(), allowed, l, t0)
			if err != nil {
				t.Fatalf("with allow_empty: %v", err)
			}
			if len(ks.Runs) != 1 || len(ks.Runs[0].Runs) != 0 || ks.Runs[0].Files != tc.read.Files || ks.Runs[0].Matched != tc.read.Matched {
				t.Errorf("with allow_empty: run sets %+v, want the read recorded with no runs", ks.Runs)
			}
		})
	}
}

func TestResolveEdgeCases(t *testing.T) {
	pol, err := Parse("k.yaml", []byte(twoKindsYAML))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(context.Background(), pol, nil, t0); !errors.Is(err, ErrKeepSource) {
		t.Errorf("nil loader: %v, want ErrKeepSource", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l := &fakeLoader{commits: map[string][]Commit{"/srv/sdk": history(5)}, runs: oneLiveRun()}
	if _, err := Resolve(ctx, pol, l, t0); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v, want context.Canceled", err)
	}
	// A policy without sources needs no loader.
	plain, err := Parse("p.yaml", []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	ks, err := Resolve(context.Background(), plain, nil, t0)
	if err != nil || len(ks.Commits)+len(ks.Runs) != 0 {
		t.Errorf("no sources: %+v, %v", ks, err)
	}
	// allow_fewer accepts a short history; a long answer is cut to last; hashes are lowercased.
	short, err := Parse("s.yaml", []byte(strings.Replace(twoKindsYAML, "branch: dev, last: 2,", "branch: dev, last: 9, allow_fewer: true,", 1)))
	if err != nil {
		t.Fatal(err)
	}
	upper := history(5)
	upper[0].SHA = strings.ToUpper(upper[0].SHA)
	ks, err = Resolve(context.Background(), short, &fakeLoader{commits: map[string][]Commit{"/srv/sdk": upper}, runs: oneLiveRun()}, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{5, 3} // dev: 5 of 9 allowed; main: cut to 3
	got := []int{len(ks.Commits[0].Commits), len(ks.Commits[1].Commits)}
	if !cmp.Equal(want, got) || ks.Commits[1].Commits[0].SHA != commitSHA(0) {
		t.Errorf("commit counts %v (want %v), first %s", got, want, ks.Commits[1].Commits[0].SHA)
	}
}

// TestEvaluateNeedsResolvedSources: a plan is never made without its keep sources.
func TestEvaluateNeedsResolvedSources(t *testing.T) {
	pol := examplePolicy(t)
	inv := caseInventory()
	if p, err := Evaluate(inv, pol, nil, t0); !errors.Is(err, ErrUnresolved) || p != nil {
		t.Errorf("nil keep sets: plan %v, error %v; want ErrUnresolved and no plan", p != nil, err)
	}
	l := caseLoader()
	l.runsErr = errors.New("bucket: 503")
	ks, err := Resolve(context.Background(), pol, l, t0)
	if err == nil {
		t.Fatal("Resolve succeeded with a failing bucket")
	}
	if p, err := Evaluate(inv, pol, ks, t0); p != nil || err == nil {
		t.Errorf("Evaluate after a failed Resolve made a plan")
	}
	partial := &KeepSets{Commits: []CommitSet{{Spec: CommitsSpec{Repo: sdkRepo, Branch: "main", Last: 30}, Commits: history(30)}}}
	if _, err := Evaluate(inv, pol, partial, t0); !errors.Is(err, ErrUnresolved) || !strings.Contains(err.Error(), runsURL) {
		t.Errorf("missing runs source: %v, want ErrUnresolved naming %s", err, runsURL)
	}
}

func TestCheckJoinTemplate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		good bool
	}{
		{"{path}/metadata/params.json", true},
		{"gs://other/{run}/{path}.json", true},
		{"static/params.json", false},
		{"{path/params.json", false},
		{"path}/params.json", false},
		{"{}/params.json", false},
		{"{a{b}}", false},
	} {
		if err := checkJoinTemplate(tc.in); (err == nil) != tc.good {
			t.Errorf("checkJoinTemplate(%q) = %v, want good=%v", tc.in, err, tc.good)
		}
	}
}
