package source

import (
	"context"
	"log/slog"
	"time"

	"gocloud.dev/blob"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/policy"
)

// Loader loads a policy's keep sources with this package: git history through go-git, run
// metadata through gocloud.dev/blob, the bases of other repositories' images through the
// registry client (see ImageBases). It implements policy.Loader; its zero value works.
type Loader struct {
	// CacheDir keeps clones of remote git repositories between runs (default: the user cache
	// dir's regtidy/git).
	CacheDir string
	// Auth is used for https git remotes.
	Auth GitAuth
	// Mux opens bucket URLs; nil means blob.DefaultURLMux().
	Mux *blob.URLMux
	// Registry reads the image repositories of base conditions; nil means registry.New().
	Registry inventory.Source
	// ManifestCacheDir, if set, is the root of the manifest caches those reads share with the
	// other commands (see inventory.OpenCache).
	ManifestCacheDir string
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

var _ policy.Loader = Loader{}

// LastCommits returns the last spec.Last first-parent commits of spec.Branch (default "main"),
// newest first.
func (l Loader) LastCommits(ctx context.Context, spec policy.CommitsSpec) ([]policy.Commit, error) {
	branch := spec.Branch
	if branch == "" {
		branch = "main"
	}
	commits, err := LastCommits(ctx, GitSpec{
		Repo: spec.Repo, Branch: branch, Last: spec.Last, AllowFewer: spec.AllowFewer,
		CacheDir: l.CacheDir, Auth: l.Auth, Logger: l.Logger,
	})
	if err != nil {
		return nil, err
	}
	out := make([]policy.Commit, len(commits))
	for i, c := range commits {
		out[i] = policy.Commit{SHA: c.SHA, Time: c.Time}
	}
	return out, nil
}

// LiveCommits returns the live runs of spec's metadata with the commits they use, and how much
// metadata it read (policy.Resolve judges empty answers by spec.AllowEmpty).
func (l Loader) LiveCommits(ctx context.Context, spec policy.RunsSpec, now time.Time) (policy.RunsRead, error) {
	read, err := ReadRuns(ctx, RunsSpec{
		URL: spec.URL, Live: spec.Live, Terminal: spec.Terminal,
		StatusField: spec.StatusField, PathField: spec.PathField, CommitField: spec.CommitField,
		Join: spec.Join, JoinField: spec.JoinField, Since: spec.Since, Mux: l.Mux, Logger: l.Logger,
	}, now)
	if err != nil {
		return policy.RunsRead{}, err
	}
	out := policy.RunsRead{Runs: make([]policy.RunRef, len(read.Runs)), Matched: read.Matched, Files: read.Files, Lines: read.Lines, Newest: read.Newest}
	for i, r := range read.Runs {
		out.Runs[i] = policy.RunRef{Commit: r.Commit, Run: r.Run, Status: r.Status, File: r.File, Line: r.Line}
	}
	return out, nil
}
