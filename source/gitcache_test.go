package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func TestLastCommitsRemoteCacheAndUpdate(t *testing.T) {
	needGitUploadPack(t)
	origin := newTestRepo(t, true)
	h := buildCaseHistory(origin)
	cache := t.TempDir()
	spec := GitSpec{Repo: "file://" + origin.dir, Branch: "main", Last: 3, CacheDir: cache}

	got, err := LastCommits(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Commit{h.m2, h.a4, h.a3}, got); diff != "" {
		t.Errorf("first call (-want +got):\n%s", diff)
	}
	clone := onlyEntry(t, cache)
	if !strings.HasSuffix(clone, ".git") {
		t.Errorf("cache clone %q: want a bare repository named *.git", clone)
	}
	// A marker inside the clone survives only if the next call fetches rather than re-clones.
	marker := filepath.Join(cache, clone, "regtidy-test-marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// New work lands on origin's main: a commit and another merge.
	a5 := origin.commit("main", "a5: new work", hash(h.m2))
	f4 := origin.commit("feature3", "f4: third feature", hash(a5))
	m3 := origin.commit("main", "m3: Merge feature3", hash(a5), hash(f4))

	got, err = LastCommits(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Commit{m3, a5, h.m2}, got); diff != "" {
		t.Errorf("after new commits (-want +got):\n%s", diff)
	}
	if onlyEntry(t, cache) != clone {
		t.Errorf("cache holds a new clone; want the first one updated")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("cache clone was replaced instead of fetched into: %v", err)
	}

	// Asking for more history than the first fetch's depth deepens the same clone.
	spec.Last, spec.AllowFewer = 50, true
	got, err = LastCommits(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Commit{m3, a5, h.m2, h.a4, h.a3, h.m1, h.a2, h.a1}, got); diff != "" {
		t.Errorf("whole history from the cache (-want +got):\n%s", diff)
	}

	// Another branch of the same URL shares the clone.
	got, err = LastCommits(context.Background(), GitSpec{Repo: spec.Repo, Branch: "release", Last: 2, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Commit{h.r1, h.a2}, got); diff != "" {
		t.Errorf("release branch (-want +got):\n%s", diff)
	}
	if onlyEntry(t, cache) != clone {
		t.Errorf("a second branch made a second clone")
	}
}

func TestLastCommitsRemoteLongHistoryIsShallow(t *testing.T) {
	needGitUploadPack(t)
	origin := newTestRepo(t, true)
	tip := origin.commit("main", "c0")
	var want []Commit
	for i := 1; i <= 60; i++ {
		side := origin.commit("side", fmt.Sprintf("s%d", i), hash(tip))
		tip = origin.commit("main", fmt.Sprintf("m%d: Merge side", i), hash(tip), hash(side))
		want = append([]Commit{tip}, want...)
	}
	cache := t.TempDir()
	got, err := LastCommits(context.Background(), GitSpec{Repo: "file://" + origin.dir, Branch: "main", Last: 5, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:5], got); diff != "" {
		t.Errorf("last 5 (-want +got):\n%s", diff)
	}
	shallow, err := os.ReadFile(filepath.Join(cache, onlyEntry(t, cache), "shallow"))
	if err != nil || len(shallow) == 0 {
		t.Errorf("cache clone is not shallow (err %v): the fetch should be bounded by depth", err)
	}
	got, err = LastCommits(context.Background(), GitSpec{Repo: "file://" + origin.dir, Branch: "main", Last: 40, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:40], got); diff != "" {
		t.Errorf("last 40 after deepening (-want +got):\n%s", diff)
	}
	clone, err := git.PlainOpen(filepath.Join(cache, onlyEntry(t, cache)))
	if err != nil {
		t.Fatal(err)
	}
	shallows, err := clone.Storer.Shallow()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shallows {
		if parentsPresent(clone, s) {
			t.Errorf("shallow list still names %s, whose parents were fetched", s)
		}
	}
}

func TestLastCommitsRemoteConcurrentCallsShareCache(t *testing.T) {
	needGitUploadPack(t)
	origin := newTestRepo(t, true)
	h := buildCaseHistory(origin)
	cache := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	results := make([][]Commit, 4)
	for i := range 4 {
		wg.Go(func() {
			results[i], errs[i] = LastCommits(context.Background(), GitSpec{Repo: "file://" + origin.dir, Branch: "main", Last: 2, CacheDir: cache})
		})
	}
	wg.Wait()
	for i := range 4 {
		if errs[i] != nil {
			t.Errorf("call %d: %v", i, errs[i])
			continue
		}
		if diff := cmp.Diff([]Commit{h.m2, h.a4}, results[i]); diff != "" {
			t.Errorf("call %d (-want +got):\n%s", i, diff)
		}
	}
	onlyEntry(t, cache)
}

func TestLastCommitsRemoteFailures(t *testing.T) {
	needGitUploadPack(t)
	origin := newTestRepo(t, true)
	buildCaseHistory(origin)
	empty := newTestRepo(t, true)
	closed := closedPort(t)

	tests := []struct {
		name    string
		repo    string
		branch  string
		wantErr error
		errHas  []string
	}{
		{
			name: "missing branch lists the branches", repo: "file://" + origin.dir, branch: "trunk",
			wantErr: ErrBranchNotFound, errHas: []string{`"trunk"`, "feature, feature2, main, release", origin.dir},
		},
		{name: "empty remote", repo: "file://" + empty.dir, branch: "main", wantErr: ErrEmptyRepo},
		{
			name: "no such path", repo: "file://" + filepath.Join(t.TempDir(), "gone.git"), branch: "main",
			wantErr: ErrRepoUnavailable, errHas: []string{"gone.git"},
		},
		{
			name: "connection refused", repo: "http://" + closed + "/org/sdk.git", branch: "main",
			wantErr: ErrRepoUnavailable, errHas: []string{closed + "/org/sdk.git", "refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := t.TempDir()
			got, err := LastCommits(context.Background(), GitSpec{Repo: tt.repo, Branch: tt.branch, Last: 3, CacheDir: cache})
			checkErr(t, err, tt.wantErr, tt.errHas...)
			if got != nil {
				t.Errorf("got commits %v with an error", got)
			}
			entries, err := os.ReadDir(cache)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Errorf("a failed first fetch left %d cache entries", len(entries))
			}
		})
	}
}

func TestLastCommitsRemoteCredentialsNeverShown(t *testing.T) {
	closed := closedPort(t)
	t.Setenv("REGTIDY_TEST_TOKEN", "tok-from-env-123")
	cache := t.TempDir()
	for _, spec := range []GitSpec{
		{Repo: "http://bot:pw-in-url-456@" + closed + "/org/sdk.git"},
		{Repo: "http://" + closed + "/org/sdk.git", Auth: GitAuth{TokenEnv: "REGTIDY_TEST_TOKEN"}},
	} {
		spec.Branch, spec.Last, spec.CacheDir = "main", 3, cache
		_, err := LastCommits(context.Background(), spec)
		checkErr(t, err, ErrRepoUnavailable, closed)
		for _, secret := range []string{"pw-in-url-456", "tok-from-env-123"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows a secret: %v", err)
			}
		}
	}
	if cacheName("http://bot@"+closed+"/x") != cacheName(redactURL("http://bot:pw@"+closed+"/x")) {
		t.Errorf("the cache key depends on the password")
	}
}

func TestLastCommitsRemoteBranchDeletedUpstream(t *testing.T) {
	needGitUploadPack(t)
	origin := newTestRepo(t, true)
	buildCaseHistory(origin)
	cache := t.TempDir()
	spec := GitSpec{Repo: "file://" + origin.dir, Branch: "release", Last: 2, CacheDir: cache}
	if _, err := LastCommits(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if err := origin.repo.Storer.RemoveReference(plumbing.NewBranchReferenceName("release")); err != nil {
		t.Fatal(err)
	}
	// The cache still holds the old branch; it must not answer for a branch the remote lost.
	_, err := LastCommits(context.Background(), spec)
	checkErr(t, err, ErrBranchNotFound, "main")
}

// onlyEntry returns the name of the one entry of dir, failing t if there are more or none.
func onlyEntry(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%s holds %d entries, want 1 cache clone", dir, len(entries))
	}
	return entries[0].Name()
}

// closedPort returns "127.0.0.1:PORT" for a port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestLastCommitsRemoteStalledServerTimesOut(t *testing.T) {
	// A server that accepts connections and never answers: the context's deadline ends the fetch.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for range 16 {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = LastCommits(ctx, GitSpec{Repo: "http://" + l.Addr().String() + "/org/sdk.git", Branch: "main", Last: 3, CacheDir: t.TempDir()})
	checkErr(t, err, ErrRepoUnavailable, l.Addr().String())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want it to wrap the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("fetch took %v after a 300ms deadline", elapsed)
	}
}
