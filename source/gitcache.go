package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

const (
	// minFetchDepth is the smallest depth fetched into a cache clone.
	minFetchDepth = 16
	// maxDeepen bounds how often a cache is deepened when the walk meets the shallow boundary.
	maxDeepen = 2
	// defaultTokenUser is the user name sent with a token.
	defaultTokenUser = "x-access-token"
)

// cacheLocks holds one lock per cache directory, so calls in this process that share a cache
// clone fetch and read it one at a time. Each lock is a channel of capacity one, so waiting for
// it honours the context.
var cacheLocks sync.Map // cache directory -> chan struct{}

func lastCommitsRemote(ctx context.Context, spec GitSpec, log *slog.Logger) ([]Commit, error) {
	remote := redactURL(spec.Repo)
	auth, authNote, err := spec.Auth.method(spec.Repo)
	if err != nil {
		return nil, err
	}
	root := spec.CacheDir
	if root == "" {
		userCache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("%w: no cache directory for %s: set one: %w", ErrInvalidSpec, remote, err)
		}
		root = filepath.Join(userCache, "regtidy", "git")
	}
	dir := filepath.Join(root, cacheName(remote))
	unlock, err := lockCache(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("git %s: wait for cache %s: %w", remote, dir, err)
	}
	defer unlock()

	repo, created, err := openCache(dir, remote)
	if err != nil {
		return nil, err
	}
	branch := spec.branchName()
	depth := max(2*spec.Last, minFetchDepth)
	for attempt := 0; ; attempt++ {
		log.DebugContext(ctx, "git history: fetch", "url", remote, "branch", branch, "depth", depth, "cache", dir)
		if err := fetchBranch(ctx, repo, remote, branch, depth, auth, authNote); err != nil {
			if created {
				// Leave no half-made cache behind: the next call starts clean.
				_ = os.RemoveAll(dir)
			}
			return nil, err
		}
		created = false
		if err := pruneShallow(repo); err != nil {
			return nil, fmt.Errorf("%w: %s: cache %s: %w", ErrRepoUnavailable, remote, dir, err)
		}
		ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: branch %s missing from cache %s after fetch: %w", ErrRepoUnavailable, remote, branch, dir, err)
		}
		commits, truncated, err := firstParents(ctx, repo, ref.Hash(), spec.Last)
		if err != nil {
			return nil, fmt.Errorf("git %s branch %s (cache %s): %w", remote, branch, dir, err)
		}
		if !truncated {
			return enough(commits, spec, branch)
		}
		if attempt == maxDeepen {
			return nil, fmt.Errorf("git %s branch %s: %w: %d of %d commits after fetching to depth %d",
				remote, branch, ErrHistoryTruncated, len(commits), spec.Last, depth)
		}
		depth *= 4
	}
}

// method returns the go-git authentication for a remote URL, and a note for authentication
// errors. A token from TokenEnv wins over a password in the URL; neither is ever printed.
func (a GitAuth) method(rawURL string) (transport.AuthMethod, string, error) {
	if !strings.Contains(rawURL, "://") {
		return nil, "", nil // scp-like ssh: go-git's defaults (ssh agent, known_hosts)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error repeats the URL, password and all: say only that it is unparsable.
		return nil, "", fmt.Errorf("%w: git URL %s cannot be parsed", ErrInvalidSpec, redactURL(rawURL))
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, "", nil // ssh, git, file: go-git's defaults (ssh agent, known_hosts)
	}
	user := a.Username
	if user == "" {
		user = defaultTokenUser
	}
	if a.TokenEnv != "" {
		if token := os.Getenv(a.TokenEnv); token != "" {
			return &githttp.BasicAuth{Username: user, Password: token}, "the token from $" + a.TokenEnv + " was refused", nil
		}
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			return &githttp.BasicAuth{Username: u.User.Username(), Password: pw}, "the credentials in the URL were refused", nil
		}
	}
	if a.TokenEnv != "" {
		return nil, "anonymous access was refused ($" + a.TokenEnv + " is empty)", nil
	}
	return nil, "anonymous access was refused (give a token through the environment)", nil
}

// cacheName is the directory name of the cache clone of a URL: readable, and unique by a hash.
func cacheName(remote string) string {
	sum := sha256.Sum256([]byte(remote))
	readable := remote
	if i := strings.Index(readable, "://"); i >= 0 {
		readable = readable[i+3:]
	}
	readable = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, readable)
	readable = strings.Trim(readable, "._")
	if len(readable) > 60 {
		readable = readable[len(readable)-60:]
	}
	return readable + "-" + hex.EncodeToString(sum[:8]) + ".git"
}

// lockCache takes this process's lock of a cache directory, waiting no longer than ctx allows.
func lockCache(ctx context.Context, dir string) (unlock func(), err error) {
	v, _ := cacheLocks.LoadOrStore(dir, make(chan struct{}, 1))
	lock := v.(chan struct{})
	select {
	case lock <- struct{}{}:
		return func() { <-lock }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// openCache opens the bare cache clone in dir, or makes it with remote "origin" at remote.
func openCache(dir, remote string) (repo *git.Repository, created bool, err error) {
	repo, err = git.PlainOpen(dir)
	if err == nil {
		rem, err := repo.Remote("origin")
		if err != nil || len(rem.Config().URLs) == 0 || rem.Config().URLs[0] != remote {
			return nil, false, fmt.Errorf("%w: cache %s does not belong to %s; delete it to start over", ErrRepoUnavailable, dir, remote)
		}
		return repo, false, nil
	}
	if !errors.Is(err, git.ErrRepositoryNotExists) {
		return nil, false, fmt.Errorf("%w: cache %s of %s is unusable (delete it to start over): %w", ErrRepoUnavailable, dir, remote, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("%w: make cache %s: %w", ErrRepoUnavailable, dir, err)
	}
	repo, err = git.PlainInit(dir, true)
	if err == nil {
		_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}})
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, false, fmt.Errorf("%w: make cache %s: %w", ErrRepoUnavailable, dir, err)
	}
	return repo, true, nil
}

// fetchBranch fetches one branch of the remote into refs/heads/BRANCH of the cache, shallow to
// depth, and turns go-git's errors into this package's.
func fetchBranch(ctx context.Context, repo *git.Repository, remote, branch string, depth int, auth transport.AuthMethod, authNote string) error {
	ref := plumbing.NewBranchReferenceName(branch)
	err := repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + ref.String() + ":" + ref.String())},
		Depth:      depth,
		Auth:       auth,
		Tags:       git.NoTags,
		Force:      true,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("git fetch %s: %w (%v)", remote, ctx.Err(), err)
	case ctx.Err() != nil:
		return fmt.Errorf("%w: fetch %s: %w (%v)", ErrRepoUnavailable, remote, ctx.Err(), err)
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		names, lerr := remoteBranches(ctx, repo, auth)
		if lerr != nil {
			return fmt.Errorf("git %s: %w: %q (listing the branches failed too: %v)", remote, ErrBranchNotFound, branch, lerr)
		}
		if len(names) == 0 {
			return fmt.Errorf("git %s: %w: it has no branches", remote, ErrEmptyRepo)
		}
		return fmt.Errorf("git %s: %w: %q; branches: %s", remote, ErrBranchNotFound, branch, listSome(names))
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("git %s: %w", remote, ErrEmptyRepo)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%w: fetch %s: %v: %s", ErrRepoUnavailable, remote, err, authNote)
	default:
		return fmt.Errorf("%w: fetch %s: %v", ErrRepoUnavailable, remote, err)
	}
}

// remoteBranches lists the branches the remote advertises.
func remoteBranches(ctx context.Context, repo *git.Repository, auth transport.AuthMethod) ([]string, error) {
	rem, err := repo.Remote("origin")
	if err != nil {
		return nil, err
	}
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, err
	}
	var names []string
	for _, r := range refs {
		if r.Name().IsBranch() {
			names = append(names, r.Name().Short())
		}
	}
	return names, nil
}

// pruneShallow removes from the cache's shallow list the commits whose parents are all present.
// go-git only ever adds to that list, so after a deeper fetch it still names the old boundary,
// and later fetches would tell the server that history is missing when it is not.
func pruneShallow(repo *git.Repository) error {
	shallows, err := repo.Storer.Shallow()
	if err != nil || len(shallows) == 0 {
		return err
	}
	keep := shallows[:0:0]
	for _, h := range shallows {
		if !parentsPresent(repo, h) {
			keep = append(keep, h)
		}
	}
	if len(keep) == len(shallows) {
		return nil
	}
	return repo.Storer.SetShallow(keep)
}

// parentsPresent reports whether commit h and all its parents are in the repository.
func parentsPresent(repo *git.Repository, h plumbing.Hash) bool {
	c, err := repo.CommitObject(h)
	if err != nil {
		return false
	}
	for _, p := range c.ParentHashes {
		if _, err := repo.Storer.EncodedObject(plumbing.CommitObject, p); err != nil {
			return false
		}
	}
	return true
}
