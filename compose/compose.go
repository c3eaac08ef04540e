package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// DefaultConcurrency is the number of bases composed at once when Options.Concurrency is 0.
const DefaultConcurrency = 8

// Options configure Compose. Layer is required; the zero value of every other field is usable.
type Options struct {
	// Layer goes on top of every base, e.g. a *Layer from BuildLayer. Its bytes are read only
	// when a target repository lacks it (once per repository).
	Layer v1.Layer
	// LayerFrom names a repository on the target registry that already holds Layer, to mount it
	// from instead of uploading it. Optional; after the first upload compose mounts from there.
	LayerFrom name.Repository
	// CreatedBy is the history entry of the new layer. The default value is "regtidy compose".
	CreatedBy string
	// Env sets variables ("K=V"), replacing a base's value of the same name.
	Env []string
	// Entrypoint replaces the base's when non-nil. As in a Dockerfile, a new entrypoint clears the
	// base's Cmd unless Cmd is given too.
	Entrypoint []string
	// Cmd replaces the base's when non-nil.
	Cmd []string
	// Labels are added to the config, replacing a base's label of the same name.
	Labels map[string]string
	// Created is the config's creation time, the history entry's and the
	// org.opencontainers.image.created annotation. The default value is the current time (to the
	// second); set it (e.g. to the commit time) for byte-identical reruns.
	Created time.Time
	// KeepAttestations keeps the attestation manifests of a base index in the new index (they
	// describe the base images). By default they are dropped.
	KeepAttestations bool
	// DryRun reads the bases and computes every image but writes nothing, not even a HEAD check
	// of the target; each result lists what would be written.
	DryRun bool
	// Concurrency is the number of bases composed at once. The default value is 8
	// (DefaultConcurrency).
	Concurrency int
	// Transport carries every request (counting and retrying transports go here). The default
	// value is http.DefaultTransport.
	Transport http.RoundTripper
	// Keychain resolves registry credentials. The default value is authn.DefaultKeychain.
	Keychain authn.Keychain
	// Logger receives one Info record per image. The default discards.
	Logger *slog.Logger
	// OnImage, if set, is called once per base when it is done (progress bars). Calls are
	// serialised.
	OnImage func(ImageResult)
}

// Status is the outcome of one base.
type Status string

// Statuses of an ImageResult.
const (
	StatusComposed  Status = "composed"  // the thin image was pushed
	StatusUnchanged Status = "unchanged" // the target tag already named this exact image
	StatusPlanned   Status = "planned"   // dry run: would be pushed
	StatusFailed    Status = "failed"
)

// ImageResult is what happened to one base.
type ImageResult struct {
	Base       string   `json:"base"`
	BaseDigest string   `json:"base_digest,omitempty"`
	Target     string   `json:"target"`
	Digest     string   `json:"digest,omitempty"`
	Platforms  []string `json:"platforms,omitempty"`
	Status     Status   `json:"status"`
	Error      string   `json:"error,omitempty"`
	// BytesUploaded counts the bytes this image sent: configs, manifests, and the shared layer if
	// this image happened to be the one that uploaded it.
	BytesUploaded int64 `json:"bytes_uploaded"`
	// BytesFullRebuild is what pushing this image from scratch would send: every layer (base
	// layers included), every config and manifest.
	BytesFullRebuild int64 `json:"bytes_full_rebuild"`
	// Writes lists, in a dry run, the blobs and manifests the image needs in the target repository.
	Writes []Write `json:"writes,omitempty"`
}

// Write is one blob or manifest a dry run would write.
type Write struct {
	// Kind is "mount" (a base layer mounted from From), "layer" (the shared layer: uploaded or
	// mounted once per repository), "config", "manifest" (a platform image by digest) or "tag"
	// (the image or index under the target tag).
	Kind   string `json:"kind"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
	From   string `json:"from,omitempty"`
}

// Summary totals a run.
type Summary struct {
	Images    int `json:"images"`
	Composed  int `json:"composed"`
	Unchanged int `json:"unchanged"`
	Planned   int `json:"planned"`
	Failed    int `json:"failed"`
	Platforms int `json:"platforms"`
	// Layer is the shared layer's digest; LayerUploads the number of times its bytes were sent
	// (one per target repository that lacked it).
	Layer        string `json:"layer"`
	LayerUploads int64  `json:"layer_uploads"`
	// BytesUploaded is what the run sent; BytesFullRebuild what pushing every image from scratch
	// would have sent.
	BytesUploaded    int64 `json:"bytes_uploaded"`
	BytesFullRebuild int64 `json:"bytes_full_rebuild"`
	// Requests is left for the caller to fill from its counting transport.
	Requests int64         `json:"requests,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Report is the result of Compose: one ImageResult per job, in the jobs' order, and the totals.
type Report struct {
	Summary Summary       `json:"summary"`
	Images  []ImageResult `json:"images"`
}

// Compose composes a thin image for every job, Concurrency bases at a time. A base that fails does
// not stop the others: the report records it and the returned error wraps ErrIncomplete and joins
// every failure. Cancelling ctx stops the run and returns ctx's error with what was done.
func Compose(ctx context.Context, jobs []Job, opts Options) (*Report, error) {
	start := time.Now()
	c, err := newComposer(opts)
	if err != nil {
		return nil, err
	}
	results := make([]ImageResult, len(jobs))
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for i, job := range jobs {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			res := c.compose(gctx, job)
			results[i] = res
			if c.opts.OnImage != nil {
				mu.Lock()
				c.opts.OnImage(res)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // workers record their failures in results and never return one
	for i, r := range results {
		if r.Status == "" { // never started: the run was cancelled first
			results[i] = ImageResult{Base: jobs[i].Base.Ref.String(), Target: jobs[i].Target.String(),
				Status: StatusFailed, Error: context.Cause(gctx).Error()}
		}
	}
	rep := &Report{Images: results}
	rep.Summary = c.summarize(results)
	rep.Summary.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	var errs []error
	for _, r := range results {
		if r.Status == StatusFailed {
			errs = append(errs, fmt.Errorf("%s: %s", r.Base, r.Error))
		}
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("%w: %d of %d failed: %w", ErrIncomplete, len(errs), len(results), errors.Join(errs...))
	}
	return rep, nil
}

// composer holds what the jobs of one run share: the clients (whose per-repository writers
// remember the blobs already pushed), the layer, and the counters.
type composer struct {
	opts   Options
	log    *slog.Logger
	puller *remote.Puller
	pusher *remote.Pusher

	layerDigest v1.Hash
	homeMu      sync.Mutex // guards layerHome
	layerHome   name.Repository
	// layerSends counts the uploads of the shared layer's bytes.
	layerSends atomic.Int64
}

func newComposer(opts Options) (*composer, error) {
	if opts.Layer == nil {
		return nil, errors.New("compose: Options.Layer is required")
	}
	if opts.CreatedBy == "" {
		opts.CreatedBy = "regtidy compose"
	}
	if opts.Created.IsZero() {
		opts.Created = time.Now()
	}
	opts.Created = opts.Created.UTC().Truncate(time.Second)
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Transport == nil {
		opts.Transport = http.DefaultTransport
	}
	if opts.Keychain == nil {
		opts.Keychain = authn.DefaultKeychain
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ld, err := opts.Layer.Digest()
	if err != nil {
		return nil, fmt.Errorf("compose: layer digest: %w", err)
	}
	ropts := []remote.Option{
		remote.WithTransport(opts.Transport),
		remote.WithAuthFromKeychain(opts.Keychain),
		remote.WithJobs(opts.Concurrency),
		remote.WithUserAgent("regtidy"),
	}
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return nil, err
	}
	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return nil, err
	}
	return &composer{opts: opts, log: log, puller: puller, pusher: pusher, layerDigest: ld, layerHome: opts.LayerFrom}, nil
}

// compose handles one job from start to end and never panics on a bad base: every failure ends up
// in the result.
func (c *composer) compose(ctx context.Context, job Job) ImageResult {
	res := ImageResult{Base: job.Base.Ref.String(), Target: job.Target.String()}
	fail := func(err error) ImageResult {
		res.Status, res.Error = StatusFailed, err.Error()
		c.log.Warn("compose failed", "base", res.Base, "target", res.Target, "err", err)
		return res
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if b, t := job.Base.Ref.Context().RegistryStr(), job.Target.Context().RegistryStr(); b != t {
		return fail(fmt.Errorf("%w: %s and %s", ErrCrossRegistry, b, t))
	}
	img, err := c.build(ctx, job.Base.Ref)
	if err != nil {
		return fail(err)
	}
	res.BaseDigest, res.Digest = img.baseDigest.String(), img.digest.String()
	res.BytesFullRebuild = img.fullRebuild()
	for _, p := range img.platforms {
		res.Platforms = append(res.Platforms, p.platform)
	}
	if c.opts.DryRun {
		res.Status, res.Writes = StatusPlanned, c.plannedWrites(job, img)
		c.log.Info("would compose", "base", res.Base, "target", res.Target, "digest", res.Digest)
		return res
	}
	if cur, err := c.puller.Head(ctx, job.Target); err == nil && cur.Digest == img.digest {
		res.Status = StatusUnchanged
		c.log.Info("unchanged", "target", res.Target, "digest", res.Digest)
		return res
	}
	sent, err := c.push(ctx, job, img)
	res.BytesUploaded = sent
	if err != nil {
		return fail(err)
	}
	res.Status = StatusComposed
	c.log.Info("composed", "base", res.Base, "target", res.Target, "digest", res.Digest, "bytes", sent)
	return res
}

func (c *composer) summarize(results []ImageResult) Summary {
	s := Summary{Images: len(results), Layer: c.layerDigest.String(), LayerUploads: c.layerSends.Load()}
	for _, r := range results {
		switch r.Status {
		case StatusComposed:
			s.Composed++
		case StatusUnchanged:
			s.Unchanged++
		case StatusPlanned:
			s.Planned++
		case StatusFailed:
			s.Failed++
		}
		if r.Status != StatusFailed {
			s.Platforms += len(r.Platforms)
		}
		s.BytesUploaded += r.BytesUploaded
		s.BytesFullRebuild += r.BytesFullRebuild
	}
	return s
}
