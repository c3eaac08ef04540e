package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrNotFound is what a Source's error wraps when the tag or manifest asked for does not exist.
// registry.ErrNotFound is this error.
var ErrNotFound = errors.New("not found")

// Source is what Build reads a repository through. The registry client (package registry) is one.
type Source interface {
	ListTags(ctx context.Context, repo string, fn func(tags []string) error) error
	Resolve(ctx context.Context, repo, ref string) (Descriptor, error)
	FetchManifest(ctx context.Context, repo, ref string) ([]byte, Descriptor, error)
	FetchBlob(ctx context.Context, repo, digest string) (io.ReadCloser, error)
}

// BuildOptions tune Build. The zero value is usable.
type BuildOptions struct {
	// Cache, if set, supplies manifests and configs already seen and stores new ones.
	Cache *Cache
	// Concurrency bounds the tags resolved and manifests fetched at once. The default is 32.
	Concurrency int
	// SkipConfigs skips fetching image configs; Created is then known only from annotations.
	// Otherwise one config is fetched per tagged image without an AnnotationCreated.
	SkipConfigs bool
	// IsNotFound reports whether an error means "no such tag or manifest" (the tag was deleted
	// between listing and resolving). Such tags are recorded in Inventory.Vanished. The default
	// value tests for ErrNotFound (which registry.ErrNotFound is).
	IsNotFound func(error) bool
	// Progress, if set, is called as work advances: phase ("list", "resolve", "fetch"), done, total.
	Progress func(phase string, done, total int)
	// Logger receives warnings (vanished tags, corrupt cache entries); nil discards.
	Logger *slog.Logger
	// Now returns the listing time; nil uses time.Now.
	Now func() time.Time
	// Known, if set, gives the digest of a listed tag when the registry's own records already
	// say it (GitHub's package versions list each version's tags): such a tag is not resolved
	// through the registry; its manifest still comes from memory, the cache or a GET.
	Known func(tag string) (digest string, ok bool)
}

// BuildStats says how a Build spent its requests.
type BuildStats struct {
	Tags         int `json:"tags"`
	Manifests    int `json:"manifests"`
	ManifestGets int `json:"manifest_gets"`
	ConfigGets   int `json:"config_gets"`
	Heads        int `json:"heads"`
	// KnownTags counts the tags whose digest BuildOptions.Known gave, with no request.
	KnownTags       int           `json:"known_tags,omitempty"`
	CacheHits       int           `json:"cache_hits"`
	CacheCorrupt    int           `json:"cache_corrupt"`
	VanishedTags    int           `json:"vanished_tags"`
	ListingDuration time.Duration `json:"listing_ns"`
	// ResolveDuration is listing plus resolving every tag to its digest (with a cold cache, the
	// GET that resolves a tag also fetches its manifest).
	ResolveDuration time.Duration `json:"resolve_ns"`
	TotalDuration   time.Duration `json:"total_ns"`
}

// Build lists every tag of repo, resolves each to its digest, and fetches every distinct manifest
// once (index children, nested indexes and referrer subjects' manifests included), plus each image
// config's creation time.
//
// With an empty cache it GETs each tag's manifest directly (one request resolves and fetches);
// with a warm cache it HEADs each tag and fetches only digests the cache lacks, so a repeat run
// makes no manifest GETs at all.
func Build(ctx context.Context, src Source, repo string, opt BuildOptions) (*Inventory, BuildStats, error) {
	if opt.IsNotFound == nil {
		opt.IsNotFound = func(err error) bool { return errors.Is(err, ErrNotFound) }
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 32
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	b := &builder{src: src, repo: repo, opt: opt, log: log, manifests: map[string]*Manifest{}, in: &Interner{}}
	start := now()
	inv := &Inventory{Repository: repo, ListedAt: start.UTC()}

	var names []string
	if err := src.ListTags(ctx, repo, func(page []string) error {
		names = append(names, page...)
		b.progress("list", len(names), 0)
		return nil
	}); err != nil {
		return nil, b.stats(), fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	sort.Strings(names)
	names = dedupSorted(names)
	b.st.ListingDuration = time.Since(start)

	cold := opt.Cache == nil || opt.Cache.Len() == 0
	tags := make([]Tag, len(names))
	vanished := make([]bool, len(names))
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opt.Concurrency)
	for i, name := range names {
		g.Go(func() error {
			d, err := b.resolveTag(gctx, name, cold)
			if err != nil {
				if opt.IsNotFound(err) {
					vanished[i] = true
					log.Warn("tag vanished between listing and resolving", "tag", name)
					return nil
				}
				return fmt.Errorf("resolving %s:%s: %w", repo, name, err)
			}
			tags[i] = Tag{Name: name, Digest: d}
			b.progress("resolve", int(done.Add(1)), len(names))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, b.stats(), err
	}
	b.st.ResolveDuration = time.Since(start)
	for i, t := range tags {
		if vanished[i] {
			inv.Vanished = append(inv.Vanished, names[i])
			continue
		}
		inv.Tags = append(inv.Tags, t)
	}
	roots := make([]string, 0, len(inv.Tags))
	for _, t := range inv.Tags {
		roots = append(roots, t.Digest)
	}
	if err := b.fetchClosure(ctx, dedupSorted(sortStrings(roots))); err != nil {
		return nil, b.stats(), err
	}
	b.deriveCreated()
	inv.Manifests = b.manifests
	st := b.stats()
	st.Tags = len(inv.Tags)
	st.VanishedTags = len(inv.Vanished)
	st.Manifests = len(inv.Manifests)
	st.TotalDuration = time.Since(start)
	return inv, st, nil
}

type builder struct {
	src  Source
	repo string
	opt  BuildOptions
	log  *slog.Logger
	in   *Interner

	mu        sync.Mutex
	manifests map[string]*Manifest
	// fresh are the indexes added since fetchClosure last looked for missing children.
	fresh    []*Manifest
	st       BuildStats
	counters struct{ gets, cfgGets, heads, hits, known atomic.Int64 }
}

func (b *builder) progress(phase string, done, total int) {
	if b.opt.Progress != nil {
		b.opt.Progress(phase, done, total)
	}
}

func (b *builder) stats() BuildStats {
	st := b.st
	st.ManifestGets = int(b.counters.gets.Load())
	st.ConfigGets = int(b.counters.cfgGets.Load())
	st.Heads = int(b.counters.heads.Load())
	st.KnownTags = int(b.counters.known.Load())
	st.CacheHits = int(b.counters.hits.Load())
	if b.opt.Cache != nil {
		st.CacheCorrupt = b.opt.Cache.Corrupt()
	}
	return st
}

// resolveTag returns the tag's digest, recording its manifest.
func (b *builder) resolveTag(ctx context.Context, name string, cold bool) (string, error) {
	if b.opt.Known != nil {
		if d, ok := b.opt.Known(name); ok {
			b.counters.known.Add(1)
			return d, b.ensure(ctx, d)
		}
	}
	if cold {
		raw, desc, err := b.src.FetchManifest(ctx, b.repo, name)
		b.counters.gets.Add(1)
		if err != nil {
			return "", err
		}
		return desc.Digest, b.record(desc.Digest, desc.MediaType, raw)
	}
	desc, err := b.src.Resolve(ctx, b.repo, name)
	b.counters.heads.Add(1)
	if err != nil {
		return "", err
	}
	return desc.Digest, b.ensure(ctx, desc.Digest)
}

// ensure makes sure the manifest of digest is recorded: from memory, the cache, or a GET.
func (b *builder) ensure(ctx context.Context, digest string) error {
	b.mu.Lock()
	_, have := b.manifests[digest]
	b.mu.Unlock()
	if have {
		return nil
	}
	if b.opt.Cache != nil {
		buf := getBuffer()
		raw, mt, ok := b.opt.Cache.Read(digest, buf)
		if ok {
			b.counters.hits.Add(1)
			_, err := b.add(digest, mt, raw)
			putBuffer(raw)
			return err
		}
		putBuffer(buf)
	}
	raw, desc, err := b.src.FetchManifest(ctx, b.repo, digest)
	b.counters.gets.Add(1)
	if err != nil {
		return err
	}
	return b.record(digest, desc.MediaType, raw)
}

// readBuffers hold cached manifests and configs while they are parsed: a warm run reads 500k
// of them, and the parsed form keeps none of the bytes.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// maxPooledBuffer bounds the buffers readBuffers keeps: a rare huge manifest is not held on to.
const maxPooledBuffer = 1 << 20

// getBuffer returns an empty buffer from readBuffers.
func getBuffer() []byte { return (*readBuffers.Get().(*[]byte))[:0] }

// putBuffer gives buf (or what it grew into) back to readBuffers, unless it is too large. No one
// may use it afterwards.
func putBuffer(buf []byte) {
	if cap(buf) <= maxPooledBuffer {
		buf = buf[:0]
		readBuffers.Put(&buf)
	}
}

// record parses and adds a manifest fetched from the registry, and caches its bytes.
func (b *builder) record(digest, mediaType string, raw []byte) error {
	m, err := b.add(digest, mediaType, raw)
	if err != nil {
		return err
	}
	if b.opt.Cache != nil {
		if err := b.opt.Cache.Put(digest, m.MediaType, raw); err != nil {
			b.log.Warn("manifest cache write failed", "digest", digest, "err", err)
		}
	}
	return nil
}

// add parses a manifest and adds it to the inventory (a second copy of a digest is dropped), and
// to the manifests fetchClosure has still to look into. It returns the parsed manifest.
func (b *builder) add(digest, mediaType string, raw []byte) (*Manifest, error) {
	m, err := ParseManifest(digest, mediaType, raw, b.in)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if _, ok := b.manifests[digest]; !ok {
		b.manifests[digest] = m
		if len(m.Manifests) > 0 {
			b.fresh = append(b.fresh, m)
		}
	}
	b.mu.Unlock()
	return m, nil
}

// fetchClosure fetches index children level by level until no manifest is missing, then the
// configs that date the tagged images (roots).
func (b *builder) fetchClosure(ctx context.Context, roots []string) error {
	for {
		// Only the indexes added since the last round can list manifests not yet fetched.
		var missing []string
		b.mu.Lock()
		fresh := b.fresh
		b.fresh = nil
		for _, m := range fresh {
			for _, c := range m.Manifests {
				if _, ok := b.manifests[c.Digest]; !ok {
					missing = append(missing, c.Digest)
				}
			}
		}
		b.mu.Unlock()
		if len(missing) == 0 {
			break
		}
		missing = dedupSorted(sortStrings(missing))
		if err := b.each(ctx, missing, "fetch", func(ctx context.Context, d string) error {
			err := b.ensure(ctx, d)
			if err != nil && b.opt.IsNotFound(err) {
				// A child the registry no longer has: the index is broken, not the listing.
				b.log.Warn("index child missing from the registry", "digest", d)
				return nil
			}
			return err
		}); err != nil {
			return err
		}
	}
	if b.opt.SkipConfigs {
		return nil
	}
	// Creation times come from one config per tagged image that lacks a created annotation: the
	// image's own, or for an index its first platform image's (all platforms of one push share a
	// build time). Children and attestations need none. Distinct configs are fetched once.
	byConfig := map[string][]*Manifest{}
	b.mu.Lock()
	for _, root := range roots {
		m := b.manifests[root]
		for depth := 0; m != nil && m.Created.IsZero() && m.IsIndex() && depth < 4; depth++ {
			var next *Manifest
			for _, c := range m.Manifests {
				if !c.IsAttestation() {
					next = b.manifests[c.Digest]
					break
				}
			}
			m = next
		}
		if m != nil && m.Created.IsZero() && m.Config != nil && isImageConfig(m.Config.MediaType) {
			byConfig[m.Config.Digest] = append(byConfig[m.Config.Digest], m)
		}
	}
	b.mu.Unlock()
	configs := make([]string, 0, len(byConfig))
	for d := range byConfig {
		configs = append(configs, d)
	}
	sort.Strings(configs)
	return b.each(ctx, configs, "configs", func(ctx context.Context, d string) error {
		raw, err := b.config(ctx, d, getBuffer())
		defer putBuffer(raw)
		if err != nil {
			if b.opt.IsNotFound(err) {
				b.log.Warn("image config missing from the registry", "digest", d)
				return nil
			}
			return fmt.Errorf("fetching config %s: %w", d, err)
		}
		t := ConfigCreated(raw)
		b.mu.Lock()
		for _, m := range byConfig[d] {
			m.Created = t
		}
		b.mu.Unlock()
		return nil
	})
}

// config returns an image config's bytes from the cache (read into buf) or the registry.
func (b *builder) config(ctx context.Context, digest string, buf []byte) ([]byte, error) {
	if b.opt.Cache != nil {
		if raw, _, ok := b.opt.Cache.Read(digest, buf); ok {
			b.counters.hits.Add(1)
			return raw, nil
		}
	}
	b.counters.cfgGets.Add(1)
	rc, err := b.src.FetchBlob(ctx, b.repo, digest)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxConfigBytes {
		return nil, fmt.Errorf("config %s is larger than %d bytes", digest, maxConfigBytes)
	}
	if !digestMatches(digest, raw) {
		return nil, fmt.Errorf("config %s: %w", digest, ErrDigestMismatch)
	}
	if b.opt.Cache != nil {
		if err := b.opt.Cache.Put(digest, "config", raw); err != nil {
			b.log.Warn("manifest cache write failed", "digest", digest, "err", err)
		}
	}
	return raw, nil
}

// maxConfigBytes bounds an image config read into memory.
const maxConfigBytes = 8 << 20

// isImageConfig reports whether a config media type is an image config with a "created" field
// (not, say, a BuildKit cache config or an empty artifact config).
func isImageConfig(mt string) bool {
	switch mt {
	case "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json":
		return true
	}
	return false
}

// deriveCreated gives each index without a creation time the newest of its image children's.
func (b *builder) deriveCreated() {
	var walk func(d string, depth int) time.Time
	walk = func(d string, depth int) time.Time {
		m := b.manifests[d]
		if m == nil || depth > 8 {
			return time.Time{}
		}
		if !m.Created.IsZero() || !m.IsIndex() {
			return m.Created
		}
		var newest time.Time
		for _, c := range m.Manifests {
			if c.IsAttestation() {
				continue
			}
			if t := walk(c.Digest, depth+1); t.After(newest) {
				newest = t
			}
		}
		m.Created = newest
		return newest
	}
	for d := range b.manifests {
		walk(d, 0)
	}
}

// each runs fn over items with bounded concurrency, reporting progress under phase.
func (b *builder) each(ctx context.Context, items []string, phase string, fn func(context.Context, string) error) error {
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.opt.Concurrency)
	for _, it := range items {
		g.Go(func() error {
			if err := fn(gctx, it); err != nil {
				return err
			}
			b.progress(phase, int(done.Add(1)), len(items))
			return nil
		})
	}
	return g.Wait()
}

func sortStrings(s []string) []string { sort.Strings(s); return s }

func dedupSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
