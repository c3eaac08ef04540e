package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
)

// ErrImagesUnavailable: the image repository of a base source cannot be listed or read.
var ErrImagesUnavailable = errors.New("image repository unavailable")

// BaseSpec names the images whose bases ImageBases reads: those tagged in Repository, or only
// those whose tags Match matches.
type BaseSpec struct {
	// Repository is the image repository, "host[:port]/path".
	Repository string
	// Match, if set, is a regular expression a tag must match whole for its image to count.
	Match string
	// Registry reads the repository. nil means registry.New(): anonymous or Docker-config
	// credentials.
	Registry inventory.Source
	// CacheDir, if set, is the root of the manifest caches (see inventory.OpenCache), shared with
	// the other commands: a repeat run then only resolves the tags, fetching no manifest it has
	// seen.
	CacheDir string
	// Concurrency bounds the tags resolved and manifests fetched at once. The default value is
	// inventory.Build's, 32.
	Concurrency int
	// Logger receives warnings (tags deleted while they were read); nil discards.
	Logger *slog.Logger
}

// BaseRef is one base an image names.
type BaseRef struct {
	// Digest is the org.opencontainers.image.base.digest annotation: the base's manifest.
	Digest string
	// Name is the org.opencontainers.image.base.name annotation, if the image has one.
	Name string
	// Image is the image that names the base, "repository:tag".
	Image string
}

// ImageBases lists spec.Repository and returns the bases its tagged images name: for each tag
// (that spec.Match matches), the org.opencontainers.image.base.digest annotations of the tagged
// manifest and of every manifest its index lists, nested indexes followed. `regtidy compose`
// writes one on each thin index (naming the base's index) and one on each platform image (naming
// the base's image of that platform). The result holds one BaseRef per image and base digest,
// sorted by digest, then image.
//
// Images that name no base are skipped, and so is a tag deleted while it was read. Anything else
// that stops the repository from being read whole fails with ErrImagesUnavailable: an answer
// from part of the repository could let a plan delete the base of an image it did not see.
func ImageBases(ctx context.Context, spec BaseSpec) ([]BaseRef, error) {
	if spec.Repository == "" {
		return nil, fmt.Errorf("%w: a base source needs an image repository", ErrInvalidSpec)
	}
	var match *regexp.Regexp
	if spec.Match != "" {
		var err error
		if match, err = regexp.Compile("^(?:" + spec.Match + ")$"); err != nil {
			return nil, fmt.Errorf("%w: match: %w", ErrInvalidSpec, err)
		}
	}
	src := spec.Registry
	if src == nil {
		src = registry.New(registry.WithLogger(spec.Logger))
	}
	opts := inventory.BuildOptions{
		Concurrency: spec.Concurrency,
		SkipConfigs: true,
		Logger:      spec.Logger,
	}
	if spec.CacheDir != "" {
		cache, err := inventory.OpenCache(spec.CacheDir, spec.Repository)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrImagesUnavailable, spec.Repository, err)
		}
		defer cache.Close()
		opts.Cache = cache
	}
	inv, _, err := inventory.Build(ctx, src, spec.Repository, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrImagesUnavailable, spec.Repository, err)
	}
	var out []BaseRef
	for _, t := range inv.Tags {
		if match != nil && !match.MatchString(t.Name) {
			continue
		}
		image := spec.Repository + ":" + t.Name
		for _, m := range imageManifests(inv, t.Digest) {
			if d := m.Annotation(inventory.AnnotationBaseDigest); d != "" {
				out = append(out, BaseRef{Digest: d, Name: m.Annotation(inventory.AnnotationBaseName), Image: image})
			}
		}
	}
	slices.SortFunc(out, func(a, b BaseRef) int {
		if c := strings.Compare(a.Digest, b.Digest); c != 0 {
			return c
		}
		if c := strings.Compare(a.Image, b.Image); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return slices.CompactFunc(out, func(a, b BaseRef) bool { return a.Digest == b.Digest && a.Image == b.Image }), nil
}

// imageManifests returns the manifest a tag names and those its index lists, nested indexes
// followed, each once.
func imageManifests(inv *inventory.Inventory, digest string) []*inventory.Manifest {
	var out []*inventory.Manifest
	seen := map[string]bool{}
	stack := []string{digest}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		m := inv.Manifests[d]
		if seen[d] || m == nil {
			continue
		}
		seen[d] = true
		out = append(out, m)
		for _, c := range m.Manifests {
			stack = append(stack, c.Digest)
		}
	}
	return out
}

// BaseDigests returns the bases that the images of spec's repository name (see ImageBases),
// reading it with l.Registry and caching its manifests under l.ManifestCacheDir.
func (l Loader) BaseDigests(ctx context.Context, spec policy.BaseSpec) ([]policy.BaseRef, error) {
	refs, err := ImageBases(ctx, BaseSpec{
		Repository: spec.Repository, Match: spec.Match,
		Registry: l.Registry, CacheDir: l.ManifestCacheDir, Logger: l.Logger,
	})
	if err != nil {
		return nil, err
	}
	out := make([]policy.BaseRef, len(refs))
	for i, r := range refs {
		out[i] = policy.BaseRef{Digest: r.Digest, Name: r.Name, Image: r.Image}
	}
	return out, nil
}
