package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/internal/redact"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// DefaultVerifyConcurrency is the default number of tags verified at once.
const DefaultVerifyConcurrency = 16

// What a Missing entry lacks.
const (
	MissingTag      = "tag"      // the tag no longer resolves
	MissingManifest = "manifest" // a manifest (the tag's, or an index child) is gone
	MissingConfig   = "config"   // an image's config blob is gone
	MissingLayer    = "layer"    // an image's layer blob is gone
)

// VerifyOptions tune Verify. The zero value checks 16 tags at a time.
type VerifyOptions struct {
	// Concurrency bounds the tags checked at once. The default value is 16.
	Concurrency int
	// Logger receives broken tags; nil discards.
	Logger *slog.Logger
	// Progress, if set, is called after each tag with done and total.
	Progress func(done, total int)
}

// VerifyResult reports which tags resolve whole.
type VerifyResult struct {
	Repository string `json:"repository"`
	// Tags, Manifests and Blobs count what was checked (each manifest and blob once).
	Tags      int `json:"tags"`
	Manifests int `json:"manifests"`
	Blobs     int `json:"blobs"`
	// Broken are tags that do not resolve whole, with what is missing.
	Broken []BrokenTag `json:"broken,omitempty"`
	// Moved are tags given with a digest that now point at another one (checked as they are now).
	Moved []plan.TagMove `json:"moved,omitempty"`
	// Unchecked are tags that could not be checked (errors other than "not found").
	Unchecked []Failure `json:"unchecked,omitempty"`
	// Requests counts the calls made to the registry.
	Requests Requests `json:"requests"`
}

// OK reports whether every tag was checked and resolves whole.
func (r *VerifyResult) OK() bool { return len(r.Broken) == 0 && len(r.Unchecked) == 0 }

// BrokenTag is a tag that does not resolve whole.
type BrokenTag struct {
	Tag     string    `json:"tag"`
	Digest  string    `json:"digest,omitempty"`
	Missing []Missing `json:"missing"`
}

// Missing is one part of an image the registry no longer has.
type Missing struct {
	// Kind is MissingTag, MissingManifest, MissingConfig or MissingLayer.
	Kind   string `json:"kind"`
	Digest string `json:"digest,omitempty"`
	// In is the manifest that lists it (empty for the tag's own manifest).
	In string `json:"in,omitempty"`
}

// Verify checks that every tag resolves whole: the tag, its manifest, every index child
// recursively (nested indexes and attestation manifests included), and every config and layer
// blob (by HEAD). Manifests and blobs shared by several tags are checked once. A tag given with a
// Digest that now points elsewhere is reported in Moved and checked as it is now. With tags nil,
// every live tag of repo is checked.
//
// Run it after apply, and after the registry's garbage collection: distribution v2's
// `garbage-collect --delete-untagged` can remove children of manifest lists still in use
// (distribution/distribution#3004; v3 keeps them). The error is for listing failures and cancellation; broken
// tags are in the result.
func Verify(ctx context.Context, t registry.Target, repo string, tags []inventory.Tag, opt VerifyOptions) (*VerifyResult, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultVerifyConcurrency
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	v := &verifier{
		repo:      repo,
		t:         &countingTarget{Target: t},
		opt:       opt,
		manifests: map[string]*manifestCheck{},
		blobs:     map[string]*blobCheck{},
	}
	if tags == nil {
		if err := v.t.ListTags(ctx, repo, func(page []string) error {
			for _, name := range page {
				tags = append(tags, inventory.Tag{Name: name})
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
		}
	}
	var done atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opt.Concurrency)
	for _, tag := range tags {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			v.checkTag(gctx, tag)
			n := done.Add(1)
			if opt.Progress != nil {
				opt.Progress(int(n), len(tags))
			}
			return gctx.Err()
		})
	}
	err := g.Wait()
	res := v.finish(len(tags))
	if err != nil {
		return res, err
	}
	return res, ctx.Err()
}

// VerifyPlan verifies the tags a plan keeps (tags of digests it keeps, and tags of digests it
// does not decide), in the plan's repository.
func VerifyPlan(ctx context.Context, t registry.Target, p *plan.Plan, opt VerifyOptions) (*VerifyResult, error) {
	kept := KeptTags(p)
	if kept == nil {
		kept = []inventory.Tag{}
	}
	return Verify(ctx, t, p.Repository, kept, opt)
}

// KeptTags returns the plan's tags whose digest the plan does not delete, sorted by name.
func KeptTags(p *plan.Plan) []inventory.Tag {
	deleted := map[string]bool{}
	for _, d := range p.Decisions {
		if d.Action == plan.Delete {
			deleted[d.Digest] = true
		}
	}
	var out []inventory.Tag
	for _, t := range p.Tags {
		if !deleted[t.Digest] {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TagsNamed turns tag names into the tags Verify takes (with no expected digest).
func TagsNamed(names ...string) []inventory.Tag {
	out := make([]inventory.Tag, len(names))
	for i, n := range names {
		out[i] = inventory.Tag{Name: n}
	}
	return out
}

// verifier is one run of Verify.
type verifier struct {
	repo string
	t    *countingTarget
	opt  VerifyOptions

	mu        sync.Mutex
	manifests map[string]*manifestCheck
	blobs     map[string]*blobCheck
	res       VerifyResult
}

type manifestCheck struct {
	once    sync.Once
	missing []Missing
	err     error
}

type blobCheck struct {
	once   sync.Once
	exists bool
	err    error
}

// checkTag resolves one tag and checks its image, recording the result.
func (v *verifier) checkTag(ctx context.Context, tag inventory.Tag) {
	desc, err := v.t.Resolve(ctx, v.repo, tag.Name)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		v.broken(BrokenTag{Tag: tag.Name, Digest: tag.Digest, Missing: []Missing{{Kind: MissingTag, Digest: tag.Digest}}})
		return
	case err != nil:
		v.unchecked(tag.Name, tag.Digest, err)
		return
	}
	if tag.Digest != "" && desc.Digest != tag.Digest {
		v.mu.Lock()
		v.res.Moved = append(v.res.Moved, plan.TagMove{Tag: tag.Name, Planned: tag.Digest, Live: desc.Digest})
		v.mu.Unlock()
	}
	missing, err := v.manifest(ctx, desc.Digest, map[string]bool{})
	if err != nil {
		v.unchecked(tag.Name, desc.Digest, err)
		return
	}
	if len(missing) > 0 {
		v.broken(BrokenTag{Tag: tag.Name, Digest: desc.Digest, Missing: missing})
	}
}

// manifest checks a manifest and everything under it, once per digest. path holds the digests
// above it, so a self-referencing index cannot loop.
func (v *verifier) manifest(ctx context.Context, digest string, path map[string]bool) ([]Missing, error) {
	if path[digest] || len(path) > maxIndexDepth {
		return nil, nil
	}
	v.mu.Lock()
	mc := v.manifests[digest]
	if mc == nil {
		mc = &manifestCheck{}
		v.manifests[digest] = mc
	}
	v.mu.Unlock()
	mc.once.Do(func() {
		below := make(map[string]bool, len(path)+1)
		for d := range path {
			below[d] = true
		}
		below[digest] = true
		mc.missing, mc.err = v.checkManifest(ctx, digest, below)
	})
	return mc.missing, mc.err
}

func (v *verifier) checkManifest(ctx context.Context, digest string, path map[string]bool) ([]Missing, error) {
	raw, desc, err := v.t.FetchManifest(ctx, v.repo, digest)
	if errors.Is(err, registry.ErrNotFound) {
		return []Missing{{Kind: MissingManifest, Digest: digest}}, nil
	}
	if err != nil {
		return nil, err
	}
	m, err := inventory.ParseManifest(digest, desc.MediaType, raw, nil)
	if err != nil {
		return nil, err
	}
	var missing []Missing
	for _, c := range m.Manifests {
		sub, err := v.manifest(ctx, c.Digest, path)
		if err != nil {
			return nil, err
		}
		for _, s := range sub {
			if s.In == "" {
				s.In = digest
			}
			missing = append(missing, s)
		}
	}
	if m.Config != nil {
		ok, err := v.blob(ctx, m.Config.Digest)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, Missing{Kind: MissingConfig, Digest: m.Config.Digest, In: digest})
		}
	}
	for _, l := range m.Layers {
		ok, err := v.blob(ctx, l.Digest)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, Missing{Kind: MissingLayer, Digest: l.Digest, In: digest})
		}
	}
	return missing, nil
}

// blob checks a blob by HEAD, once per digest.
func (v *verifier) blob(ctx context.Context, digest string) (bool, error) {
	v.mu.Lock()
	bc := v.blobs[digest]
	if bc == nil {
		bc = &blobCheck{}
		v.blobs[digest] = bc
	}
	v.mu.Unlock()
	bc.once.Do(func() {
		bc.exists, bc.err = v.t.BlobExists(ctx, v.repo, digest)
		if errors.Is(bc.err, registry.ErrNotFound) {
			bc.exists, bc.err = false, nil
		}
	})
	return bc.exists, bc.err
}

func (v *verifier) broken(b BrokenTag) {
	v.opt.Logger.Warn("tag does not resolve whole", "tag", b.Tag, "digest", b.Digest, "missing", len(b.Missing))
	v.mu.Lock()
	defer v.mu.Unlock()
	v.res.Broken = append(v.res.Broken, b)
}

func (v *verifier) unchecked(tag, digest string, err error) {
	v.opt.Logger.Warn("tag could not be checked", "tag", tag, "err", redact.Text(err.Error()))
	v.mu.Lock()
	defer v.mu.Unlock()
	v.res.Unchecked = append(v.res.Unchecked, Failure{Tag: tag, Digest: digest, Err: err})
}

// finish sorts the result and fills the counts.
func (v *verifier) finish(tags int) *VerifyResult {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.res
	r.Repository = v.repo
	r.Tags = tags
	r.Manifests = len(v.manifests)
	r.Blobs = len(v.blobs)
	sort.Slice(r.Broken, func(i, j int) bool { return r.Broken[i].Tag < r.Broken[j].Tag })
	sort.Slice(r.Moved, func(i, j int) bool { return r.Moved[i].Tag < r.Moved[j].Tag })
	sort.Slice(r.Unchecked, func(i, j int) bool { return r.Unchecked[i].Tag < r.Unchecked[j].Tag })
	r.Requests = v.t.counts()
	return &r
}
