package casegen

import (
	"errors"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
)

func TestMakeGitHistoryFirstParent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sdk")
	start := time.Date(2025, 7, 1, 9, 30, 0, 0, time.UTC)
	main, err := MakeGitHistory(dir, 60, start, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(main) != 60 || !main[0].Time.Equal(start) || !main[59].Time.Equal(start.Add(118*time.Hour)) {
		t.Fatalf("%d commits from %s to %s", len(main), main[0].Time, main[len(main)-1].Time)
	}

	// Walking main's first parents from the tip gives exactly the returned commits.
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil || head.Name() != plumbing.NewBranchReferenceName(GitMainBranch) {
		t.Fatalf("HEAD = %v, %v; want main", head, err)
	}
	var walked []Commit
	merges := 0
	for h := head.Hash(); ; {
		c, err := repo.CommitObject(h)
		if err != nil {
			t.Fatal(err)
		}
		walked = append([]Commit{{SHA: c.Hash.String(), Time: c.Committer.When}}, walked...)
		if len(c.ParentHashes) == 2 {
			merges++
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	if diff := cmp.Diff(main, walked); diff != "" {
		t.Errorf("first-parent walk (-returned +walked):\n%s", diff)
	}
	if merges < 10 {
		t.Errorf("%d merge commits on main, want at least 10", merges)
	}

	// Side commits are reachable but not on the chain, and a walk by date mixes them into the
	// newest 30: only a first-parent walk gives main's last 30 commits.
	side, err := GitSideCommits(dir)
	if err != nil {
		t.Fatal(err)
	}
	onMain := map[string]bool{}
	for _, c := range main {
		onMain[c.SHA] = true
	}
	for _, c := range side {
		if onMain[c.SHA] {
			t.Errorf("side commit %s is on main", c.SHA)
		}
	}
	iter, err := repo.Log(&git.LogOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var all []Commit
	iter.ForEach(func(c *object.Commit) error {
		all = append(all, Commit{SHA: c.Hash.String(), Time: c.Committer.When})
		return nil
	})
	if len(all) != len(main)+len(side) || len(side) < 10 {
		t.Fatalf("%d commits in all, %d on main, %d on the side", len(all), len(main), len(side))
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Time.After(all[j].Time) })
	intruders := 0
	for _, c := range all[:30] {
		if !onMain[c.SHA] {
			intruders++
		}
	}
	if intruders == 0 {
		t.Error("the newest 30 commits by date are all on main; the history does not test first-parent walking")
	}
}

func TestMakeGitHistoryDeterministic(t *testing.T) {
	start := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	a, err := MakeGitHistory(filepath.Join(t.TempDir(), "a"), 12, start, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := MakeGitHistory(filepath.Join(t.TempDir(), "b"), 12, start, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same arguments, different histories (-a +b):\n%s", diff)
	}
}

func TestMakeGitHistoryInvalid(t *testing.T) {
	tests := []struct {
		name string
		n    int
		step time.Duration
	}{
		{"no commits", 0, time.Hour},
		{"no step", 3, 0},
		{"sub-second step", 3, time.Millisecond},
	}
	for _, tt := range tests {
		_, err := MakeGitHistory(filepath.Join(t.TempDir(), "x"), tt.n, DefaultCaseNow, tt.step)
		if !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: err = %v, want ErrInvalidSpec", tt.name, err)
		}
	}
}
