// Package ghcremu emulates the GitHub Container Registry (ghcr.io) for tests, benchmarks and
// `go run ./cmd/regtidy-demo ghcr`: the GitHub Packages REST API for container packages, in front of a real
// distribution v3 registry (internal/regtest) that serves the OCI API on the same address.
//
// What it models, after GitHub's documentation (REST API version 2022-11-28):
//
//   - Routes, for organizations (/orgs/{org}/...) and users (/users/{username}/...), package type
//     "container" only, package names URL-encoded ("a%2Fb" for a nested name):
//     GET .../packages/container/{name} (the package, with version_count);
//     GET .../packages/container/{name}/versions (per_page, default 30, capped at 100; page;
//     state=active|deleted), newest first by created_at (then by id), with a Link header carrying
//     prev, next, last and first as GitHub formats it (omitted when everything fits on one page);
//     GET .../versions/{id}; DELETE .../versions/{id} (204); POST .../versions/{id}/restore (204
//     within 30 days of the delete); the owner's packages, GET /orgs/{org}/packages and
//     GET /users/{username}/packages (package_type=container required; per_page, page, Link),
//     oldest first.
//
//   - Versions: one per manifest digest pushed to a repository "owner/name", learned from the pushes
//     that go through the emulator (a hook on manifest PUT), from Scan (a walk of an existing
//     registry's tags) or from Register (versions with no registry content, for REST-only
//     benchmarks at scale). Untagged index children and attestation manifests are versions of
//     their own, with metadata.container.tags = []. Ids are increasing int64s; created_at comes
//     from the injectable clock at the push. A tag pushed onto another digest moves between versions.
//
//   - Version JSON: id, name (the digest), url, package_html_url, created_at, updated_at, html_url,
//     deleted_at (deleted versions only), metadata.package_type "container",
//     metadata.container.tags.
//
//   - Delete removes the manifest from the registry by digest after keeping its bytes (or, with
//     DeleteTags, only its tags, leaving the bytes in the registry); restore puts the manifest and
//     the tags no other version took back.
//     Deleting a deleted or unknown version answers 404. A public package's version with more than
//     5,000 downloads (SetDownloads) answers 400 with GitHub's message; so does the package's last
//     tagged version. Forbid makes a version answer 403.
//
//   - Errors: 401 without a token ("Requires authentication") or with an unknown one ("Bad
//     credentials"); 403/404/400 bodies with message, documentation_url and status.
//
//   - The primary rate limit per token (default 5,000 per hour; the window starts at the token's
//     first request), with x-ratelimit-limit, -remaining, -used, -reset and -resource on every
//     answer, and 403 (or 429) with x-ratelimit-remaining: 0 once spent, until the reset.
//
//   - The secondary limit: points per minute per endpoint and token (GET 1, DELETE and POST 5;
//     default 900) over a sliding 60-second window, answered with 403 (or 429), retry-after and
//     GitHub's message; and at most 100 REST requests in flight.
//
//   - Faults: latency per REST request (and per OCI request), and 500s on a configurable share of
//     REST requests, drawn from a seeded generator.
//
//   - The OCI side: reads and pushes pass through to the registry; DELETE of a manifest or blob
//     answers 405 UNSUPPORTED as ghcr.io does; a deleted version's digest reads as unknown. A HEAD
//     of a manifest by tag is answered from the version table (digest, media type and size as
//     pushed through the emulator) when the Accept header names the media type, as ghcr.io
//     answers it from its own database: distribution reads and parses the manifest for each HEAD,
//     which made re-checks of thousands of kept tags the cost of large tests.
//
//   - Counters per endpoint (requests, points, statuses, limit answers, peak points in any
//     60-second window, accepted and asked for) so tests and benchmarks can assert budgets.
//
//   - With Options.OCIAuth, the OCI API's token authentication: a Bearer challenge, and a /token
//     endpoint that grants pull and push for basic auth carrying a GitHub token, pull on public
//     packages to anonymous requests. Without it, OCI reads and pushes need no token.
//
// What it does not model: which GitHub tokens may push or delete which package (every accepted
// token may do everything), catalog listing rules, token scopes and fine-grained permissions,
// the visibility filter of the package listing, package delete and restore, the /user
// (authenticated user) routes, GraphQL, download counting from pulls,
// the CPU-time and content-creation secondary limits, escalating penalties or bans for clients
// that keep calling while limited, ETags and conditional requests, and GitHub Enterprise Server
// specifics. A digest pushed again after its version was deleted makes a new version (the deleted
// one can no longer be restored). Scan finds only manifests reachable from tags (the registry
// cannot list untagged manifests), nested indexes one level deep.
package ghcremu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/regtidy/regtidy/internal/regtest"
)

// Limits and sizes after GitHub's documentation.
const (
	// DefaultRateLimit is the primary limit of a personal access token, per hour.
	DefaultRateLimit = 5000
	// DefaultSecondaryPoints is the secondary limit for REST endpoints, in points per minute.
	DefaultSecondaryPoints = 900
	// DefaultMaxConcurrent is the most REST requests GitHub allows in flight.
	DefaultMaxConcurrent = 100
	// DefaultRestoreWindow is how long a deleted version can be restored.
	DefaultRestoreWindow = 30 * 24 * time.Hour
	// DefaultPerPage is the page size of a listing without per_page.
	DefaultPerPage = 30
	// MaxPerPage caps per_page.
	MaxPerPage = 100
	// DownloadLimit is the number of downloads above which a public version cannot be deleted.
	DownloadLimit = 5000
)

// Endpoint names, the keys of Stats.REST. The secondary limit keeps one budget per endpoint and token.
const (
	EndpointPackage = "GET package"
	EndpointList    = "GET versions"
	EndpointVersion = "GET version"
	EndpointDelete  = "DELETE version"
	EndpointRestore = "POST restore"
)

// RegistryDelete says what deleting a version does to the registry behind the emulator.
type RegistryDelete int

const (
	// DeleteManifest deletes the manifest by digest, with the tags pointing at it, as ghcr.io does.
	DeleteManifest RegistryDelete = iota
	// DeleteTags deletes only the version's tags and leaves the manifest, which the emulator then
	// answers as unknown. Much faster on large registries: distribution reads every tag of the
	// repository to delete a manifest by digest.
	DeleteTags
)

// Options configure Start. The zero value emulates ghcr.io with GitHub's documented limits.
type Options struct {
	// Dir is the registry's storage root; empty means in-memory storage.
	Dir string
	// Users lists the owners that are user accounts (/users/{username}/...); every other owner is
	// an organization (/orgs/{org}/...).
	Users []string
	// Tokens maps each accepted token to its primary limit per hour (0 means RateLimit). Nil
	// accepts every non-empty token, each with its own budget.
	Tokens map[string]int
	// RateLimit is the primary limit per token and window. The default is 5,000.
	RateLimit int
	// RateWindow is the primary limit's window. The default is one hour.
	RateWindow time.Duration
	// PrimaryStatus is the status of an answer over the primary limit: 403 (the default) or 429.
	PrimaryStatus int
	// SecondaryPoints is the secondary limit in points per 60 seconds per endpoint and token. The
	// default is 900; a negative value disables it (points are still counted).
	SecondaryPoints int
	// SecondaryStatus is the status of an answer over the secondary limit: 403 (the default) or 429.
	SecondaryStatus int
	// MaxConcurrent is the most REST requests in flight. The default is 100; negative disables it.
	MaxConcurrent int
	// Latency is added to every REST request; OCILatency to every OCI request. The default is none.
	Latency    time.Duration
	OCILatency time.Duration
	// ErrorRate is the share of REST requests answered 500, in [0, 1]. The default is 0.
	ErrorRate float64
	// Seed seeds the fault injection's generator. The default is 1.
	Seed uint64
	// Clock tells the time for created_at, rate-limit windows and the restore window. The default
	// is time.Now; see FakeClock.
	Clock func() time.Time
	// Private makes every package private: the 5,000-download rule does not apply.
	Private bool
	// RestoreWindow is how long a deleted version can be restored. The default is 30 days.
	RestoreWindow time.Duration
	// RegistryDelete is what a version delete does to the registry. The default is DeleteManifest.
	RegistryDelete RegistryDelete
	// FirstID is the first version id. The default is 1.
	FirstID int64
	// OCIAuth makes the OCI API ask for a registry token as the GitHub registry does: a request
	// without one (or with one that does not cover it) answers 401 with a Bearer challenge naming
	// the /token endpoint, which grants pull and push to basic auth carrying an accepted GitHub
	// token (see Tokens; any user name), and pull on public packages to anonymous requests.
	OCIAuth bool
	// Logger receives debug logs. The default discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.RateLimit <= 0 {
		o.RateLimit = DefaultRateLimit
	}
	if o.RateWindow <= 0 {
		o.RateWindow = time.Hour
	}
	if o.PrimaryStatus == 0 {
		o.PrimaryStatus = http.StatusForbidden
	}
	if o.SecondaryPoints == 0 {
		o.SecondaryPoints = DefaultSecondaryPoints
	}
	if o.SecondaryStatus == 0 {
		o.SecondaryStatus = http.StatusForbidden
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.RestoreWindow <= 0 {
		o.RestoreWindow = DefaultRestoreWindow
	}
	if o.FirstID <= 0 {
		o.FirstID = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Emulator is an emulated ghcr.io: the GitHub Packages REST API and the OCI API on one loopback
// address. It is safe for concurrent use.
type Emulator struct {
	// Host is "127.0.0.1:PORT": the emulated registry host, as in Host + "/owner/name:tag".
	Host string
	// URL is "http://127.0.0.1:PORT": the REST API's base URL (in place of https://api.github.com)
	// and the OCI API's.
	URL string

	reg   *regtest.Registry
	inner http.Handler
	opts  Options
	log   *slog.Logger
	users map[string]bool

	mu      sync.Mutex
	limits  map[string]int // primary limit per token, where not the default
	nextID  int64
	pkgs    map[string]*pkg
	tokens  map[string]*tokenState
	stats   map[string]*endpointStats
	oci     map[string]int
	refused int                       // OCI DELETEs answered 405
	heads   int                       // OCI HEADs answered from the version table
	grants  map[string]*registryGrant // registry tokens issued by /token (Options.OCIAuth)
	// ociUnauthorized counts OCI requests answered 401; tokenGrants the tokens /token issued.
	ociUnauthorized, tokenGrants int
	inflight                     int
	peak                         int
	rng                          *rand.Rand
}

// Start starts a registry and the emulator in front of it on 127.0.0.1. Close it when done.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	opts = opts.withDefaults()
	e := &Emulator{
		opts:   opts,
		log:    opts.Logger,
		users:  map[string]bool{},
		limits: maps.Clone(opts.Tokens),
		nextID: opts.FirstID,
		pkgs:   map[string]*pkg{},
		tokens: map[string]*tokenState{},
		stats:  map[string]*endpointStats{},
		oci:    map[string]int{},
		grants: map[string]*registryGrant{},
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	for _, u := range opts.Users {
		e.users[u] = true
	}
	reg, err := regtest.Start(ctx, regtest.Options{Dir: opts.Dir, Wrap: func(h http.Handler) http.Handler {
		e.inner = h
		return e
	}})
	if err != nil {
		return nil, fmt.Errorf("ghcremu: %w", err)
	}
	e.reg, e.Host, e.URL = reg, reg.Host, reg.URL
	return e, nil
}

// Close stops the emulator and its registry.
func (e *Emulator) Close() error { return e.reg.Close() }

// ServeHTTP routes REST paths (/orgs/..., /users/...) to the Packages API and /v2/ to the OCI API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case p == "/v2" || strings.HasPrefix(p, "/v2/"):
		e.serveOCI(w, r)
	case p == "/token" && e.opts.OCIAuth:
		e.serveToken(w, r)
	case strings.HasPrefix(p, "/orgs/") || strings.HasPrefix(p, "/users/"):
		e.serveREST(w, r)
	default:
		writeError(w, http.StatusNotFound, "Not Found", docREST)
	}
}

// SetLatency changes the latency added to every REST request.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.Latency = d
}

// SetErrorRate changes the share of REST requests answered 500.
func (e *Emulator) SetErrorRate(rate float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.ErrorRate = rate
}

// SetSecondaryPoints changes the secondary limit (points per minute per endpoint and token;
// negative disables it).
func (e *Emulator) SetSecondaryPoints(points int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.SecondaryPoints = points
}

// SetRateLimit changes a token's primary limit from its next window on (0 means
// Options.RateLimit). It does not change which tokens are accepted.
func (e *Emulator) SetRateLimit(token string, limit int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.limits[token] = limit
}

// SetDownloads sets the download count of the version of digest in repo ("owner/name").
func (e *Emulator) SetDownloads(repo, digest string, n int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, err := e.versionLocked(repo, digest)
	if err != nil {
		return err
	}
	v.downloads = n
	return nil
}

// Forbid makes deleting the version of digest in repo answer 403, as for a token without admin
// rights on the package.
func (e *Emulator) Forbid(repo, digest string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, err := e.versionLocked(repo, digest)
	if err != nil {
		return err
	}
	v.forbidden = true
	return nil
}

func (e *Emulator) versionLocked(repo, digest string) (*version, error) {
	p := e.pkgs[repo]
	if p == nil || p.byDigest[digest] == nil {
		return nil, fmt.Errorf("ghcremu: no version of %s in %s", digest, repo)
	}
	return p.byDigest[digest], nil
}

// sleep waits d of real time, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
