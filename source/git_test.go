package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func TestLastCommitsLocal(t *testing.T) {
	r := newTestRepo(t, false)
	h := buildCaseHistory(r)

	tests := []struct {
		name    string
		spec    GitSpec
		want    []Commit
		wantErr error
		errHas  []string
	}{
		{
			name: "first parents only",
			spec: GitSpec{Branch: "main", Last: 4},
			want: []Commit{h.m2, h.a4, h.a3, h.m1},
		},
		{
			name: "whole history",
			spec: GitSpec{Branch: "main", Last: 6},
			want: []Commit{h.m2, h.a4, h.a3, h.m1, h.a2, h.a1},
		},
		{
			name: "full ref name",
			spec: GitSpec{Branch: "refs/heads/main", Last: 1},
			want: []Commit{h.m2},
		},
		{
			name: "other branch",
			spec: GitSpec{Branch: "release", Last: 3},
			want: []Commit{h.r1, h.a2, h.a1},
		},
		{
			name: "fewer allowed",
			spec: GitSpec{Branch: "main", Last: 30, AllowFewer: true},
			want: []Commit{h.m2, h.a4, h.a3, h.m1, h.a2, h.a1},
		},
		{
			name:    "fewer refused",
			spec:    GitSpec{Branch: "main", Last: 30},
			wantErr: ErrTooFewCommits,
			errHas:  []string{"has 6 first-parent commits", "30 were asked for"},
		},
		{
			name:    "missing branch lists the branches",
			spec:    GitSpec{Branch: "trunk", Last: 3},
			wantErr: ErrBranchNotFound,
			errHas:  []string{`"trunk"`, "feature, feature2, main, release"},
		},
		{
			name:    "no branch",
			spec:    GitSpec{Last: 3},
			wantErr: ErrInvalidSpec,
		},
		{
			name:    "no commits asked for",
			spec:    GitSpec{Branch: "main"},
			wantErr: ErrInvalidSpec,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Repo = r.dir
			got, err := LastCommits(context.Background(), tt.spec)
			checkErr(t, err, tt.wantErr, tt.errHas...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LastCommits (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLastCommitsLocalBareAndSubdirectory(t *testing.T) {
	bare := newTestRepo(t, true)
	h := buildCaseHistory(bare)
	got, err := LastCommits(context.Background(), GitSpec{Repo: bare.dir, Branch: "main", Last: 2})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Commit{h.m2, h.a4}, got); diff != "" {
		t.Errorf("bare repository (-want +got):\n%s", diff)
	}

	worktree := newTestRepo(t, false)
	h = buildCaseHistory(worktree)
	sub := filepath.Join(worktree.dir, "deep", "dir")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err = LastCommits(context.Background(), GitSpec{Repo: sub, Branch: "main", Last: 1})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Commit{h.m2}, got); diff != "" {
		t.Errorf("subdirectory of a work tree (-want +got):\n%s", diff)
	}
}

func TestLastCommitsLocalRemoteTrackingBranch(t *testing.T) {
	r := newTestRepo(t, false)
	h := buildCaseHistory(r)
	// A CI checkout: a detached HEAD and origin/main, no local main.
	ref := plumbing.NewHashReference(plumbing.NewRemoteReferenceName("origin", "ci"), hash(h.a3))
	if err := r.repo.Storer.SetReference(ref); err != nil {
		t.Fatal(err)
	}
	got, err := LastCommits(context.Background(), GitSpec{Repo: r.dir, Branch: "ci", Last: 3})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Commit{h.a3, h.m1, h.a2}, got); diff != "" {
		t.Errorf("remote-tracking branch (-want +got):\n%s", diff)
	}
}

func TestLastCommitsLocalFailures(t *testing.T) {
	empty := newTestRepo(t, false)
	notRepo := t.TempDir()

	tests := []struct {
		name    string
		repo    string
		wantErr error
		errHas  []string
	}{
		{name: "empty repository", repo: empty.dir, wantErr: ErrEmptyRepo},
		{name: "not a repository", repo: notRepo, wantErr: ErrRepoUnavailable, errHas: []string{notRepo}},
		{name: "no such path", repo: filepath.Join(notRepo, "missing"), wantErr: ErrRepoUnavailable, errHas: []string{"missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LastCommits(context.Background(), GitSpec{Repo: tt.repo, Branch: "main", Last: 3})
			checkErr(t, err, tt.wantErr, tt.errHas...)
			if got != nil {
				t.Errorf("got commits %v with an error", got)
			}
		})
	}
}

func TestLastCommitsLocalShallowClone(t *testing.T) {
	needGitUploadPack(t)
	origin := newTestRepo(t, true)
	buildCaseHistory(origin)
	dir := filepath.Join(t.TempDir(), "shallow")
	_, err := git.PlainClone(dir, false, &git.CloneOptions{
		URL: "file://" + origin.dir, ReferenceName: plumbing.NewBranchReferenceName("main"), SingleBranch: true, Depth: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = LastCommits(context.Background(), GitSpec{Repo: dir, Branch: "main", Last: 5})
	checkErr(t, err, ErrHistoryTruncated, "fetch more history")
	_, err = LastCommits(context.Background(), GitSpec{Repo: dir, Branch: "main", Last: 5, AllowFewer: true})
	checkErr(t, err, ErrHistoryTruncated) // a shallow boundary is unknown history, not a short branch
}

func TestLastCommitsCancelled(t *testing.T) {
	r := newTestRepo(t, false)
	buildCaseHistory(r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, repo := range []string{r.dir, "file://" + r.dir} {
		_, err := LastCommits(ctx, GitSpec{Repo: repo, Branch: "main", Last: 3, CacheDir: t.TempDir()})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v, want context.Canceled", repo, err)
		}
	}
}

func TestIsRemote(t *testing.T) {
	tests := map[string]bool{
		"/srv/sdk":                           false,
		"../sdk":                             false,
		"sdk":                                false,
		"https://example.test/org/sdk.git":   true,
		"ssh://git@example.test/org/sdk.git": true,
		"git@example.test:org/sdk.git":       true,
		"file:///srv/sdk.git":                true,
	}
	for repo, want := range tests {
		if got := isRemote(repo); got != want {
			t.Errorf("isRemote(%q) = %v, want %v", repo, got, want)
		}
	}
}

// checkErr fails t unless err wraps want (or is nil when want is nil) and its message holds each
// of has.
func checkErr(t *testing.T, err, want error, has ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	t.Logf("error: %v", err)
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want one wrapping %q", err, want)
	}
	for _, s := range has {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}
