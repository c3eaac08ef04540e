package source

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/policy"
)

func TestLoaderForPolicy(t *testing.T) {
	r := newTestRepo(t, false)
	h := buildCaseHistory(r)
	root := t.TempDir()
	writeFiles(t, root, caseRunFiles())
	var l policy.Loader = Loader{CacheDir: t.TempDir()}

	commits, err := l.LastCommits(context.Background(), policy.CommitsSpec{Repo: r.dir, Branch: "main", Last: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantCommits := []policy.Commit{{SHA: h.m2.SHA, Time: h.m2.Time}, {SHA: h.a4.SHA, Time: h.a4.Time}}
	if diff := cmp.Diff(wantCommits, commits); diff != "" {
		t.Errorf("LastCommits (-want +got):\n%s", diff)
	}
	_, err = l.LastCommits(context.Background(), policy.CommitsSpec{Repo: r.dir, Branch: "main", Last: 20})
	if !errors.Is(err, ErrTooFewCommits) {
		t.Errorf("error %v, want ErrTooFewCommits", err)
	}

	read, err := l.LiveCommits(context.Background(), policy.RunsSpec{
		URL: "file://" + root + "/metadata/2026-11-2*.jsonl", Live: caseLive, Terminal: caseTerminal,
		Join: "file://" + root + "/{path}/metadata/params.json",
	}, caseNow)
	if err != nil {
		t.Fatal(err)
	}
	file := "file://" + root + "/metadata/2026-11-20.jsonl"
	wantRuns := []policy.RunRef{
		{Commit: sdkA, Run: "evals/2026-11-20/run-17", Status: "evaluating", File: file, Line: 1},
		{Commit: sdkB, Run: "evals/2026-11-20/run-19", Status: "init", File: file, Line: 4},
	}
	if diff := cmp.Diff(wantRuns, read.Runs); diff != "" {
		t.Errorf("LiveCommits (-want +got):\n%s", diff)
	}
	_, err = l.LiveCommits(context.Background(), policy.RunsSpec{
		URL: "file://" + root + "/metadata/*.jsonl", Live: caseLive, Terminal: caseTerminal, Join: "file://" + root + "/{path}/metadata/params.json",
	}, caseNow)
	if !errors.Is(err, ErrUnknownStatus) {
		t.Errorf("error %v, want ErrUnknownStatus", err)
	}
}
