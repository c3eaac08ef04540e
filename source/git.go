package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/regtidy/regtidy/internal/redact"
)

// GitSpec says which commits LastCommits reads.
type GitSpec struct {
	// Repo is a local path (a work tree, a subdirectory of one, or a bare repository) or a URL:
	// https://, http://, ssh://, git://, file://, or scp-like user@host:path.
	Repo string
	// Branch is the branch name ("main"); "refs/heads/main" is accepted too. Required.
	Branch string
	// Last is N, the number of first-parent commits wanted. Must be at least 1.
	Last int
	// AllowFewer accepts a branch with fewer than Last commits (all of them are returned).
	// Without it that is ErrTooFewCommits.
	AllowFewer bool
	// CacheDir holds the bare cache clones of remote repositories, one per URL. Empty means
	// os.UserCacheDir()/regtidy/git. Unused for local paths.
	CacheDir string
	// Auth is how https remotes are authenticated. The zero value is anonymous.
	Auth GitAuth
	// Logger receives debug records (fetches, cache use). Nil discards them.
	Logger *slog.Logger
}

// GitAuth authenticates https remotes with a token taken from the environment, sent as the
// password of HTTP basic authentication (what GitHub and GitLab accept for tokens). ssh remotes
// use the ssh agent and known_hosts as the git command does.
type GitAuth struct {
	// TokenEnv names the environment variable holding the token, e.g. "GITHUB_TOKEN". Empty, or
	// naming an unset variable, means anonymous access.
	TokenEnv string
	// Username is sent with the token. The default value is "x-access-token".
	Username string
}

// Commit is one commit of a branch's first-parent history.
type Commit struct {
	// SHA is the full commit hash, 40 lowercase hex digits.
	SHA string `json:"sha"`
	// Time is the committer time, in UTC.
	Time time.Time `json:"time"`
	// Subject is the first line of the commit message.
	Subject string `json:"subject"`
}

// LastCommits returns the last spec.Last first-parent commits of spec.Branch in spec.Repo, newest
// first. See the package documentation for what it reads and how it fails.
func LastCommits(ctx context.Context, spec GitSpec) ([]Commit, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := spec.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if isRemote(spec.Repo) {
		return lastCommitsRemote(ctx, spec, log)
	}
	return lastCommitsLocal(ctx, spec, log)
}

func (s GitSpec) validate() error {
	switch {
	case strings.TrimSpace(s.Repo) == "":
		return fmt.Errorf("%w: git repository is empty", ErrInvalidSpec)
	case s.branchName() == "":
		return fmt.Errorf("%w: git branch is empty (name the branch whose history is kept, e.g. main)", ErrInvalidSpec)
	case s.Last < 1:
		return fmt.Errorf("%w: last %d commits: must be at least 1", ErrInvalidSpec, s.Last)
	}
	return nil
}

// branchName is the short branch name of spec.Branch.
func (s GitSpec) branchName() string {
	return strings.TrimPrefix(strings.TrimSpace(s.Branch), "refs/heads/")
}

// scpLike matches the scp-like ssh syntax user@host:path.
var scpLike = regexp.MustCompile(`^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:`)

// isRemote reports whether repo is a URL to fetch rather than a local path to open.
func isRemote(repo string) bool {
	return strings.Contains(repo, "://") || scpLike.MatchString(repo)
}

// redactURL removes the user information's password from a URL, for messages, logs and cache keys.
func redactURL(raw string) string { return redact.Password(raw) }

func lastCommitsLocal(ctx context.Context, spec GitSpec, log *slog.Logger) ([]Commit, error) {
	// The path itself first (a work tree or a bare repository), then its parents (a subdirectory
	// of a work tree): go-git's detection alone does not find bare repositories.
	repo, err := git.PlainOpenWithOptions(spec.Repo, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainOpenWithOptions(spec.Repo, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	}
	if err != nil {
		return nil, fmt.Errorf("%w: open %s: %w", ErrRepoUnavailable, spec.Repo, err)
	}
	branch := spec.branchName()
	tip, refName, err := localBranchTip(repo, branch)
	if err != nil {
		return nil, fmt.Errorf("git %s: %w", spec.Repo, err)
	}
	log.DebugContext(ctx, "git history: local repository", "repo", spec.Repo, "ref", refName, "tip", tip.String())
	commits, truncated, err := firstParents(ctx, repo, tip, spec.Last)
	if err != nil {
		return nil, fmt.Errorf("git %s branch %s: %w", spec.Repo, branch, err)
	}
	if truncated {
		return nil, fmt.Errorf("git %s branch %s: %w: only %d of %d commits are present; fetch more history (git fetch --deepen) or give the repository's URL",
			spec.Repo, branch, ErrHistoryTruncated, len(commits), spec.Last)
	}
	return enough(commits, spec, branch)
}

// localBranchTip resolves a branch of a local repository: refs/heads/NAME, else the remote-tracking
// refs/remotes/origin/NAME.
func localBranchTip(repo *git.Repository, branch string) (plumbing.Hash, plumbing.ReferenceName, error) {
	for _, name := range []plumbing.ReferenceName{
		plumbing.NewBranchReferenceName(branch),
		plumbing.NewRemoteReferenceName("origin", branch),
	} {
		ref, err := repo.Reference(name, true)
		if err == nil {
			return ref.Hash(), name, nil
		}
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			return plumbing.ZeroHash, "", fmt.Errorf("%w: resolve %s: %w", ErrRepoUnavailable, name, err)
		}
	}
	names, err := localBranchNames(repo)
	if err != nil {
		return plumbing.ZeroHash, "", err
	}
	if len(names) == 0 {
		return plumbing.ZeroHash, "", fmt.Errorf("%w: no branches and no commits", ErrEmptyRepo)
	}
	return plumbing.ZeroHash, "", fmt.Errorf("%w: %q; branches: %s", ErrBranchNotFound, branch, listSome(names))
}

// localBranchNames lists local branches and remote-tracking branches (as "origin/NAME").
func localBranchNames(repo *git.Repository) ([]string, error) {
	refs, err := repo.References()
	if err != nil {
		return nil, fmt.Errorf("%w: list references: %w", ErrRepoUnavailable, err)
	}
	defer refs.Close()
	var names []string
	err = refs.ForEach(func(r *plumbing.Reference) error {
		switch n := r.Name(); {
		case n.IsBranch():
			names = append(names, n.Short())
		case n.IsRemote() && !strings.HasSuffix(n.String(), "/HEAD"):
			names = append(names, n.Short())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: list references: %w", ErrRepoUnavailable, err)
	}
	return names, nil
}

// listSome renders up to five names, sorted, and how many more there are.
func listSome(names []string) string {
	const show = 5
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	if len(sorted) <= show {
		return strings.Join(sorted, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(sorted[:show], ", "), len(sorted)-show)
}

// firstParents walks up to n commits from tip along first parents. truncated reports that fewer
// than n were found because a first parent is named but not present: the boundary of a shallow
// clone. The walk reads only commit objects, so it trusts presence, not the shallow list (go-git
// adds to that list when a fetch deepens a clone but never removes the commits that stopped being
// the boundary).
func firstParents(ctx context.Context, repo *git.Repository, tip plumbing.Hash, n int) (commits []Commit, truncated bool, err error) {
	h := tip
	for len(commits) < n {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		c, err := repo.CommitObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) && len(commits) > 0 {
			return commits, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: read commit %s: %w", ErrRepoUnavailable, h, err)
		}
		commits = append(commits, commitOf(c))
		if c.NumParents() == 0 {
			break
		}
		h = c.ParentHashes[0]
	}
	return commits, false, nil
}

func commitOf(c *object.Commit) Commit {
	subject, _, _ := strings.Cut(c.Message, "\n")
	return Commit{
		SHA:     c.Hash.String(),
		Time:    c.Committer.When.UTC(),
		Subject: strings.TrimSpace(subject),
	}
}

// enough applies AllowFewer to a complete walk.
func enough(commits []Commit, spec GitSpec, branch string) ([]Commit, error) {
	if len(commits) < spec.Last && !spec.AllowFewer {
		return nil, fmt.Errorf("git %s branch %s: %w: the branch has %d first-parent commits, %d were asked for (allow fewer to accept that)",
			redactURL(spec.Repo), branch, ErrTooFewCommits, len(commits), spec.Last)
	}
	return commits, nil
}
