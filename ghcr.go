package regtidy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regtidy/regtidy/registry/ghcr"
	"github.com/regtidy/regtidy/registry/transport"
)

// GHCROptions configure GitHub Container Registry repositories, whose deletes go through
// GitHub's REST API on package versions.
type GHCROptions struct {
	// API is the GitHub REST API base URL. Setting it marks every repository as a GHCR one (for
	// GitHub Enterprise, or an emulator); empty means https://api.github.com for ghcr.io
	// repositories.
	API string
	// Token is the GitHub token; empty means the environment variable TokenEnv names.
	Token string
	// TokenEnv names the environment variable holding the token; empty means GITHUB_TOKEN, then
	// GH_TOKEN.
	TokenEnv string
	// State is the GHCR state file (version ids, deletions, refusals): a path or a gs://, s3://,
	// file:// URL. Empty means a file in the cache directory's ghcr folder.
	State string
	// Hourly lowers the REST requests an hour regtidy takes from the token (0: the token's own
	// limit, as GitHub's X-RateLimit-Limit header says: 5,000 for a personal token, 1,000 for
	// GITHUB_TOKEN). A plan's cost in hours is counted at this rate.
	Hourly int
	// Pace is the most deletes and restores a minute. 0 means one a second, one at a time, as
	// GitHub's REST best practices ask; with FastPace, the secondary limit's ceiling.
	Pace float64
	// FastPace lets deletes and restores run concurrently and faster than one a second, up to
	// GitHub's documented secondary limit (180 DELETEs a minute), backing off at the first
	// secondary-limit answer. GitHub may tighten its secondary limits without notice.
	FastPace bool
	// PushGrace, if set, is how young an untagged version no tag reaches may be and still be
	// kept as a push in progress (rule push-grace); nil means ghcr.PushGrace, an hour.
	PushGrace *time.Duration
	// MaxRequests stops cleanly after this many REST requests (0: no limit).
	MaxRequests int
	// Deadline stops cleanly after this long (0: no limit).
	Deadline time.Duration
	// Now and Sleep are the REST client's clock; nil means the real time. An emulator with a
	// fake clock sets both, so that pacing and rate-limit resets pass at once.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
	// ClientOptions are applied after the ones above (ghcr.WithPageSize, ghcr.WithTransport, ...).
	ClientOptions []ghcr.Option
}

// GHCRHost is GitHub Container Registry's registry host.
const GHCRHost = "ghcr.io"

// IsGHCR reports whether repo is handled as a GitHub Container Registry repository: its host is
// GHCRHost, or GHCROptions.API is set.
func IsGHCR(repo string, o GHCROptions) bool {
	host, _, _ := strings.Cut(repo, "/")
	return host == GHCRHost || o.API != ""
}

// ghcrBackend is a GHCR repository's REST client and state.
type ghcrBackend struct {
	rest      *ghcr.Client
	state     *ghcr.State
	statePath string
	now       func() time.Time
}

// openGHCRClient makes the REST client of a GHCR repository from the options.
func openGHCRClient(o *Options, repo string) (*ghcr.Client, error) {
	g := o.GHCR
	// The REST requests go through regtidy's transport stack, counted with the registry's (so
	// --stats and -vv show them) but not retried there: the REST client retries itself, reading
	// GitHub's rate-limit answers.
	rt, _ := transport.Stack(transport.StackOptions{Logger: o.logger(), Retry: transport.RetryOptions{Attempts: 1}, Counter: o.client().Counter()})
	opts := []ghcr.Option{ghcr.WithLogger(o.logger()), ghcr.WithTransport(rt)}
	if g.API != "" {
		opts = append(opts, ghcr.WithBaseURL(g.API))
	}
	if g.TokenEnv != "" {
		opts = append(opts, ghcr.WithTokenEnv(g.TokenEnv))
	}
	if g.Token != "" {
		opts = append(opts, ghcr.WithToken(g.Token))
	}
	if g.Now != nil && g.Sleep != nil {
		opts = append(opts, ghcr.WithClock(g.Now, g.Sleep))
	}
	if g.Pace > 0 {
		opts = append(opts, ghcr.WithPace(g.Pace))
	}
	if g.FastPace {
		opts = append(opts, ghcr.WithFastPace(true))
	}
	if g.PushGrace != nil {
		opts = append(opts, ghcr.WithPushGrace(*g.PushGrace))
	}
	if g.Hourly > 0 {
		opts = append(opts, ghcr.WithHourlyBudget(g.Hourly))
	}
	if g.MaxRequests > 0 {
		opts = append(opts, ghcr.WithMaxRequests(g.MaxRequests))
	}
	if g.Deadline > 0 {
		opts = append(opts, ghcr.WithDeadline(o.now().Add(g.Deadline)))
	}
	opts = append(opts, g.ClientOptions...)
	return ghcr.New(repo, opts...)
}

// openGHCR opens the REST client and the state of a GHCR repository.
func openGHCR(ctx context.Context, o *Options, repo string) (*ghcrBackend, error) {
	rest, err := openGHCRClient(o, repo)
	if err != nil {
		return nil, err
	}
	path, err := ghcrStatePath(o, repo)
	if err != nil {
		return nil, err
	}
	st, err := ghcr.LoadState(ctx, path)
	if err != nil {
		return nil, err
	}
	return &ghcrBackend{rest: rest, state: st, statePath: path, now: o.now}, nil
}

// hourlyBudget is the REST requests an hour a plan's cost is counted at: the token's limit as
// the listing's answers told it (rl), lowered to the hourly budget asked for; a personal token's
// 5,000 when neither is known.
func hourlyBudget(asked int, rl ghcr.RateLimit) int {
	n := ghcr.HourlyPersonalToken
	if rl.TokenLimit > 0 {
		n = rl.TokenLimit
	}
	if asked > 0 {
		n = min(n, asked)
	}
	return n
}

// ExpandRepositories returns the repositories repos name, in order, without repeats: a GitHub
// Container Registry repository whose package name holds a glob ("HOST/OWNER/eval-*") names
// every container package of its owner that matches, listed through the REST API (one request a
// hundred packages); every other one names itself. A pattern that matches nothing is an error.
func ExpandRepositories(ctx context.Context, repos []string, o Options) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, r := range repos {
		names := []string{r}
		if IsGHCR(r, o.GHCR) && ghcr.IsPattern(r) {
			b, err := openGHCRClient(&o, r)
			if err != nil {
				return nil, err
			}
			if names, err = ghcr.MatchPackages(ctx, b, r); err != nil {
				return nil, err
			}
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// ghcrStatePath is GHCROptions.State, or the default: <cache dir>/ghcr/<owner>_<name>.json.
func ghcrStatePath(o *Options, repo string) (string, error) {
	if o.GHCR.State != "" {
		return o.GHCR.State, nil
	}
	dir, err := o.cacheDir("the GHCR state (set a state file)")
	if err != nil {
		return "", err
	}
	owner, name, err := ghcr.ParseRepository(repo)
	if err != nil {
		return "", err
	}
	dir = filepath.Join(dir, "ghcr")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(dir, owner+"_"+strings.ReplaceAll(name, "/", "_")+".json"), nil
}

// save writes the state back, joining a failure to err.
func (b *ghcrBackend) save(ctx context.Context, err error) error {
	if serr := b.state.Save(ctx, b.statePath, b.now()); serr != nil {
		return errors.Join(err, fmt.Errorf("saving the GHCR state to %s: %w", b.statePath, serr))
	}
	return err
}
