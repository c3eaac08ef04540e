package source

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these where it applies, so callers
// test with errors.Is; the message around it names the repository, branch, file and line.
var (
	// ErrInvalidSpec: the GitSpec or RunsSpec is incomplete or contradictory.
	ErrInvalidSpec = errors.New("invalid keep source")

	// ErrRepoUnavailable: the repository cannot be opened or fetched (no such path, refused
	// connection, unknown host, missing remote repository, refused credentials, unusable cache).
	ErrRepoUnavailable = errors.New("git repository unavailable")
	// ErrBranchNotFound: the repository has no branch of that name.
	ErrBranchNotFound = errors.New("branch not found")
	// ErrEmptyRepo: the repository has no commits at all.
	ErrEmptyRepo = errors.New("repository is empty")
	// ErrTooFewCommits: the branch has fewer first-parent commits than asked for.
	ErrTooFewCommits = errors.New("too few commits")
	// ErrHistoryTruncated: the repository is a shallow clone whose history ends before the
	// commits asked for.
	ErrHistoryTruncated = errors.New("history truncated by a shallow clone")

	// ErrBucket: the bucket cannot be opened, listed or read.
	ErrBucket = errors.New("bucket unavailable")
	// ErrNoRunFiles: no object in the bucket matches the run metadata URL.
	ErrNoRunFiles = errors.New("no run metadata files match")
	// ErrMalformedRun: a metadata line or a joined document cannot be read as a run.
	ErrMalformedRun = errors.New("malformed run metadata")
	// ErrRunDocMissing: the joined document of a live run does not exist.
	ErrRunDocMissing = errors.New("live run document missing")
	// ErrUnknownStatus: a status that is neither live nor terminal when both lists are given.
	ErrUnknownStatus = errors.New("unknown run status")
)
