// Package source loads the external keep sources of a retention policy: the commits a policy must
// keep because they are recent on a branch, and the commits that evaluation runs still in flight
// depend on. Both sources fail closed: a source that cannot be read completely returns an error,
// never an empty or partial answer, because an empty keep set would let a plan delete everything
// (design invariant 3).
//
// # Git history (LastCommits)
//
// LastCommits reads the last N first-parent commits of one branch, newest first: the tip, its first
// parent, that commit's first parent, and so on. Following first parents only walks the branch's
// own history (the merge commits of a main branch), not the commits of merged feature branches.
//
// A local path is opened in place with go-git and never modified; the branch is refs/heads/NAME,
// or refs/remotes/origin/NAME when there is no local branch (a CI checkout). A URL (https, http,
// ssh, git, file, or scp-like user@host:path) is fetched into a bare cache repository under
// GitSpec.CacheDir, one per URL, and a later call fetches into the same cache instead of cloning
// again. Only the one branch is fetched, with a depth of 2N commits (at least 16): a shallow fetch
// of depth d holds every commit within d-1 parent links of the tip along any path, and the N-th
// first-parent commit is at most N-1 links away, so depth N would do against a server that counts
// the shortest path; the slack covers servers that count along the first path they find. If the
// walk still meets the shallow boundary before N commits, the cache is deepened (four times deeper,
// at most twice) and the walk repeated. Calls in one process that share a cache take turns; two
// processes must not share a CacheDir at the same time. Fetches last as long as the context
// allows: give it a deadline. go-git serves file:// URLs by running the git command's
// git-upload-pack.
//
// LastCommits fails with ErrRepoUnavailable (naming the URL or path and the cause: refused
// connection, missing repository, refused credentials), ErrBranchNotFound (listing a few of the
// branches that exist), ErrEmptyRepo, ErrHistoryTruncated (a local shallow clone that does not hold
// N commits), ErrTooFewCommits (the branch has fewer than N commits and AllowFewer is false), or
// the context's error. Credentials in a URL and tokens never appear in errors, logs or the cache.
//
// # Run metadata (LiveCommits)
//
// LiveCommits reads run metadata from a bucket (gocloud.dev/blob: gs://, s3://, file://): JSON Lines
// files, one run per line, e.g. {"path":"evals/2026-11-20/run-17","status":"evaluating"}. The URL's
// path may hold a glob (path.Match syntax per path segment: "*" does not cross "/"); objects are
// listed segment by segment with the literal prefix of each segment, so a glob lists only what it
// can match. Every line of every matching file is read as a stream (a line may be up to 64 MiB) and
// judged on its own: a run whose status is live on any line keeps its commit. The commit is either
// a field of the line (RunsSpec.CommitField) or a field of a joined document whose key is a template
// of the line's fields (RunsSpec.Join, e.g. "{path}/metadata/params.json" with field sdk_commit);
// joined documents are fetched only for live runs, at most 16 at a time.
//
// LiveCommits fails with ErrNoRunFiles (the glob matched nothing), ErrBucket (a bucket that cannot
// be opened, listed or read), ErrMalformedRun (a line that is not a JSON object, lacks a field it
// needs, or holds a commit that is not 7-40 hex digits; a joined document that is not JSON or lacks
// the commit field; each naming file:line), ErrRunDocMissing (a live run whose joined document does
// not exist: its commit cannot be known, so nothing it might use may be deleted), ErrUnknownStatus
// (with both Live and Terminal set, a status in neither list), or the context's error.
//
// The Google Cloud Storage client retries refused connections until the context ends, so a bucket
// that is down fails LiveCommits at the context's deadline (ErrBucket wrapping
// context.DeadlineExceeded): give it one. The drivers for file://, gs:// and s3:// bucket URLs are
// registered by this package.
//
// # Policies
//
// Loader implements policy.Loader with these two functions, adding what a policy file does not
// say: the git cache directory, git authentication and the bucket URL mux.
package source
