package regtidy

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

// Options are what every operation shares: how to reach the registry, where the caches and
// state live, and where logs and progress go. The zero value works: an anonymous client, the
// user cache directory, no logs, no progress.
type Options struct {
	// Client reaches the registry; nil means registry.New with Logger and Concurrency. Its
	// counter (Client.Counter) counts every request an operation sends.
	Client *registry.Client
	// CacheDir holds the manifest cache, git clones, GHCR state and default journals; empty
	// means the user cache directory's regtidy folder.
	CacheDir string
	// NoCache turns the manifest cache off.
	NoCache bool
	// Concurrency is the number of registry requests in flight at once (0: the client's default).
	Concurrency int
	// Logger receives the operation's logs; nil discards them.
	Logger *slog.Logger
	// Progress, if set, is told how far each phase ("list", "delete", "restore", "verify",
	// "compose", ...) has come; total 0 means not known yet.
	Progress func(phase string, done, total int)
	// GHCR configures GitHub Container Registry repositories.
	GHCR GHCROptions
}

// logger returns o.Logger or a logger that discards everything.
func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// client returns o.Client, or a new anonymous client.
func (o *Options) client() *registry.Client {
	if o.Client != nil {
		return o.Client
	}
	opts := []registry.Option{registry.WithLogger(o.logger())}
	if o.Concurrency > 0 {
		opts = append(opts, registry.WithConcurrency(o.Concurrency))
	}
	o.Client = registry.New(opts...)
	return o.Client
}

// progress returns a progress function for one phase, doing nothing without o.Progress.
func (o *Options) progress(phase string) func(done, total int) {
	if o.Progress == nil {
		return nil
	}
	return func(done, total int) { o.Progress(phase, done, total) }
}

// cacheDir is CacheDir or the user cache directory; what names the directory for the error.
func (o *Options) cacheDir(what string) (string, error) {
	if o.CacheDir != "" {
		return o.CacheDir, nil
	}
	d, err := inventory.DefaultCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory for %s (set a cache directory): %w", what, err)
	}
	return d, nil
}

// cache opens the manifest cache of repo, or returns nil with NoCache.
func (o *Options) cache(repo string) (*inventory.Cache, error) {
	if o.NoCache {
		return nil, nil
	}
	dir, err := o.cacheDir("the manifest cache")
	if err != nil {
		return nil, err
	}
	c, err := inventory.OpenCache(dir, repo)
	if err != nil {
		return nil, fmt.Errorf("opening the manifest cache of %s: %w", repo, err)
	}
	return c, nil
}

// gitCacheDir is where git clones are kept: under CacheDir when it is set, else the loader's
// default.
func (o *Options) gitCacheDir() string {
	if o.CacheDir == "" {
		return ""
	}
	return filepath.Join(o.CacheDir, "git")
}

// now is the time on the GHCR clock: the real time unless GHCR.Now is set.
func (o *Options) now() time.Time {
	if o.GHCR.Now != nil {
		return o.GHCR.Now()
	}
	return time.Now()
}

// NewJournalPath names a new journal file for an apply to repo at time t, in the cache
// directory's journals folder (which it makes): the default of `regtidy prune --yes`.
func NewJournalPath(o Options, repo string, t time.Time) (string, error) {
	dir, err := o.cacheDir("the journal (name a journal file)")
	if err != nil {
		return "", err
	}
	dir = filepath.Join(dir, "journals")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := strings.NewReplacer("/", "_", ":", "_").Replace(repo)
	return filepath.Join(dir, name+"-"+t.UTC().Format("20060102T150405Z")+".jsonl"), nil
}
