package casegen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"time"
)

// The case: a repository in the shape of ghcr.io/openhands/eval-agent-server after five months
// without retention (docs/DESIGN.md, "The case it was born from"). FillCase pushes it into a running
// registry; the returned Case tells a test everything it needs to compute expectations on its own.

// Errors of the case fixture.
var (
	// ErrInvalidSpec reports a CaseSpec that cannot be filled (bad scale, too few commits, ...).
	ErrInvalidSpec = errors.New("regtest: invalid case spec")
	// ErrUnexpectedStatus reports a registry answer other than the one the push protocol expects.
	ErrUnexpectedStatus = errors.New("regtest: unexpected registry status")
)

// Full-scale figures of the case.
const (
	FullImageTags      = 130602
	FullBuildcacheTags = 2793
	FullLegacyTags     = 30
	FullCommits        = 548
	FullBigCommits     = 63 // commits with 1,000+ image tags each
	// DefaultRepository is the repository FillCase fills unless told otherwise.
	DefaultRepository = "openhands/eval-agent-server"
	// DefaultConcurrency is the number of concurrent pushes unless told otherwise.
	DefaultConcurrency = 16
	// CasePeriod is how far before Now the case's pushes reach back (five months).
	CasePeriod = 150 * 24 * time.Hour
	// MinCaseCommits is the fewest SDK commits a derived case has, so that "the last 30 commits"
	// leaves older ones to delete.
	MinCaseCommits = 40
)

// DefaultCaseNow is the newest push time of a case whose spec leaves Now and Commits unset.
var DefaultCaseNow = time.Date(2025, 11, 28, 18, 0, 0, 0, time.UTC)

// TagKind is what a tag of the case is, as its name's scheme says.
type TagKind string

// Kinds of tags.
const (
	KindImage      TagKind = "image"      // per-commit image: "{sdk7}-..."
	KindBuildcache TagKind = "buildcache" // BuildKit registry cache: "buildcache-..."
	KindLegacy     TagKind = "legacy"     // "v1.0.0", "v1.0.0-rcN"
	KindReferrer   TagKind = "referrer"   // "sha256-<hex>.sig" or "sha256-<hex>" (referrers tag schema)
	KindBase       TagKind = "base"       // eval-base repository: "{df7}-sweb.eval.x86_64.<instance>"
)

// Commit is one SDK commit: full 40-hex SHA and commit time.
type Commit struct {
	SHA  string    `json:"sha"`
	Time time.Time `json:"time"`
}

// CaseSpec says what FillCase pushes. Its zero value (with Scale set) is a usable spec.
type CaseSpec struct {
	// Scale is the fraction of the real case: 1.0 is 133,425 tags (130,602 images over 548 SDK
	// commits, 2,793 buildcache tags, 30 legacy tags). Small scales keep every kind present.
	Scale float64
	// Seed makes the case deterministic: same spec, same tags and digests.
	Seed int64
	// Repository is filled; the default is DefaultRepository.
	Repository string
	// BaseRepository, if set, also receives the eval-base images the current scheme's SWE-bench
	// images are built on ("{df7}-sweb.eval.x86_64.<instance>").
	BaseRepository string
	// Now is the newest push time. Zero means DefaultCaseNow, or with Commits set the newest push
	// that follows the newest commit.
	Now time.Time
	// Commits are the SDK commits that get images, oldest first (e.g. from MakeGitHistory). Empty
	// means derived ones: max(40, 548*Scale) commits spread over the five months before Now.
	Commits []Commit
	// Concurrency bounds concurrent pushes; the default is DefaultConcurrency.
	Concurrency int
	// BuildcacheTargets are the build targets whose BuildKit registry caches the case holds:
	// "source-minimal", "binary", or both. Every base image (SWE-bench instance) with caches then
	// has caches of each target, each target with its own branch suffixes (none, "-main",
	// "-<branch>"). Empty means source-minimal only, the case as measured. The buildcache total
	// does not depend on it (2,793 at full scale), nor do the other tags: the caches of one base
	// and target still number 1 to 10, so with two targets half as many bases hold them, 2 to 20
	// caches each (at full scale 311 bases instead of 621).
	BuildcacheTargets []string
	// Referrers is the number of cosign-style "sha256-<hex>.sig" signature tags on images. When it
	// is positive, (Referrers+3)/4 further images get an OCI 1.1 artifact whose subject is the image,
	// listed by a "sha256-<hex>" referrers-tag-schema index.
	Referrers int
	// Client sends the pushes; nil means a client with keep-alive sized to Concurrency.
	Client *http.Client
	// Progress, if set, is called after each pushed manifest with the number of tags pushed so far
	// (Repository and BaseRepository together) and the total. Calls are serialized.
	Progress func(done, total int)
	// Logger receives progress at debug level and a summary at info level; nil discards.
	Logger *slog.Logger
}

// CaseTag is one tag FillCase pushed, with the fields a retention policy derives from it.
type CaseTag struct {
	Name string  `json:"name"`
	Kind TagKind `json:"kind"`
	// Scheme is the image tag scheme (SchemeTagLatest, SchemePlain, SchemeCurrent) for SWE-bench
	// images; empty elsewhere.
	Scheme string `json:"scheme,omitempty"`
	// SDK is the full 40-hex SDK commit of an image; empty for other kinds.
	SDK string `json:"sdk,omitempty"`
	// DF is the 7-hex Dockerfile hash in current-scheme and base tags.
	DF string `json:"df,omitempty"`
	// Bench is BenchSWEBench, BenchCommit0, BenchGAIA or BenchPythonNodeJS (images, buildcache,
	// base); empty for legacy and referrer tags.
	Bench string `json:"bench,omitempty"`
	// Group is the benchmark instance in Docker form ("django_1776_django-11099") or the commit0
	// repository ("tinydb"); "gaia" and the python-nodejs base slug for those two.
	Group string `json:"group,omitempty"`
	// Slug is the base-image slug in the tag ("sweb.eval.x86_64.django_1776_django-1109_tag_latest-
	// 06043de4faf0") for tag-latest images and buildcache tags.
	Slug string `json:"slug,omitempty"`
	// Branch is a buildcache tag's suffix: "", "main", or a branch name.
	Branch string `json:"branch,omitempty"`
	// Target is a buildcache tag's build target ("source-minimal" or "binary"); empty elsewhere.
	Target string `json:"target,omitempty"`
	// Digest is the manifest the tag points at: an OCI index for images, legacy tags and
	// referrers-tag-schema tags; an image manifest for buildcache and ".sig" tags.
	Digest string `json:"digest"`
	// ChildDigests are an index's children: [linux/amd64 image, unknown/unknown attestation] for
	// images, legacy and base tags; [artifact] for a referrers-tag-schema index; nil otherwise.
	ChildDigests []string `json:"child_digests,omitempty"`
	// Subject is the digest a referrer tag refers to.
	Subject string `json:"subject,omitempty"`
	// Created is the push time (the image config's "created", or the manifest's created annotation).
	Created time.Time `json:"created"`
}

// Totals counts what FillCase pushed.
type Totals struct {
	Tags       int `json:"tags"`
	Images     int `json:"images"`
	Buildcache int `json:"buildcache"`
	Legacy     int `json:"legacy"`
	Referrers  int `json:"referrers"`
	Commits    int `json:"commits"`
	// SharedDigests counts digests that more than one tag of Repository points at.
	SharedDigests int `json:"shared_digests"`
	// Manifests, Blobs and Bytes count distinct manifests and blobs pushed into Repository and the
	// bytes they hold (each blob once).
	Manifests int   `json:"manifests"`
	Blobs     int   `json:"blobs"`
	Bytes     int64 `json:"bytes"`
	// BaseTags counts the tags pushed into BaseRepository.
	BaseTags int `json:"base_tags"`
}

// Case is what FillCase pushed: enough for a test to compute its expectations on its own.
type Case struct {
	Repository     string    `json:"repository"`
	BaseRepository string    `json:"base_repository,omitempty"`
	Now            time.Time `json:"now"`
	// Commits are the SDK commits that have images, oldest first.
	Commits []Commit `json:"commits"`
	// Tags are the tags of Repository, sorted by name.
	Tags []CaseTag `json:"tags"`
	// BaseTags are the tags of BaseRepository, sorted by name (nil without one).
	BaseTags []CaseTag `json:"base_tags,omitempty"`
	Totals   Totals    `json:"totals"`
}

// Tag returns the tag with the given name.
func (c *Case) Tag(name string) (CaseTag, bool) {
	i := sort.Search(len(c.Tags), func(i int) bool { return c.Tags[i].Name >= name })
	if i < len(c.Tags) && c.Tags[i].Name == name {
		return c.Tags[i], true
	}
	return CaseTag{}, false
}

// TagsOf returns the tags of one kind, sorted by name.
func (c *Case) TagsOf(kind TagKind) []CaseTag {
	var out []CaseTag
	for _, t := range c.Tags {
		if t.Kind == kind {
			out = append(out, t)
		}
	}
	return out
}

// BuildcacheGroup names the buildcache tags that stand in for one another: the caches of one
// base image (Group, the SWE-bench instance) and build target, whatever branch wrote them. A
// build of one target cannot start from another target's cache.
type BuildcacheGroup struct {
	Bench  string // the benchmark, as CaseTag.Bench
	Group  string // the benchmark instance, as CaseTag.Group: the base image
	Target string // the build target, as CaseTag.Target
}

// BuildcacheGroups returns the buildcache tags by group, each group newest first (ties by name),
// the order in which a "newest" rule ranks them.
func (c *Case) BuildcacheGroups() map[BuildcacheGroup][]CaseTag {
	out := map[BuildcacheGroup][]CaseTag{}
	for _, t := range c.Tags {
		if t.Kind == KindBuildcache {
			k := BuildcacheGroup{Bench: t.Bench, Group: t.Group, Target: t.Target}
			out[k] = append(out[k], t)
		}
	}
	for _, g := range out {
		sort.Slice(g, func(i, j int) bool {
			if !g[i].Created.Equal(g[j].Created) {
				return g[i].Created.After(g[j].Created)
			}
			return g[i].Name < g[j].Name
		})
	}
	return out
}

// FillCase pushes the case into registryHost ("127.0.0.1:PORT", plain HTTP) and returns it.
// Every image push is one tagged OCI index with a linux/amd64 image and an unknown/unknown
// attestation manifest, as buildx pushes; blobs are small but shared as in the real case (base
// layers per benchmark instance, one SDK layer per commit), and each is uploaded once. An image
// push has three distinct blobs (config, provenance, attestation config) and three manifests; on
// distribution v3, which answers a POST ?digest= upload with 202 and wants a PUT, that is nine
// requests. Tags that point at one manifest (aliases, releases) cost one PUT each.
func FillCase(ctx context.Context, registryHost string, spec CaseSpec) (*Case, error) {
	start := time.Now()
	log := spec.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := planCase(spec)
	if err != nil {
		return nil, err
	}
	conc := spec.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	client := spec.Client
	if client == nil {
		tr := &http.Transport{MaxIdleConns: 2 * conc, MaxIdleConnsPerHost: 2 * conc, IdleConnTimeout: 30 * time.Second}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	pu := newPusher(client, "http://"+registryHost)
	m := newMaterializer(spec.Seed, p.c.Repository)
	log.Debug("regtest: filling case", "host", registryHost, "repository", p.c.Repository,
		"tags", len(p.c.Tags), "commits", len(p.c.Commits))
	if err := p.push(ctx, pu, m, conc, spec.Progress); err != nil {
		return nil, err
	}
	p.finish()
	p.c.Totals.Manifests, p.c.Totals.Blobs, p.c.Totals.Bytes = pu.totals(p.c.Repository)
	log.Info("regtest: case filled", "repository", p.c.Repository, "tags", p.c.Totals.Tags,
		"commits", p.c.Totals.Commits, "manifests", p.c.Totals.Manifests, "blobs", p.c.Totals.Blobs,
		"elapsed", time.Since(start).Round(time.Millisecond))
	return p.c, nil
}

// statusError describes an unexpected answer of the registry.
func statusError(method, url string, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Errorf("%s %s: %d %s: %w", method, url, resp.StatusCode, body, ErrUnexpectedStatus)
}
