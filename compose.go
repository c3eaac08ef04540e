package regtidy

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/regtidy/regtidy/compose"
	"github.com/regtidy/regtidy/registry"
)

// ErrInvalidOptions marks an operation refused because of its options (a base that does not
// match, a template field no base provides, a mode that does not exist), before any work.
var ErrInvalidOptions = errors.New("invalid options")

func invalid(err error) error { return fmt.Errorf("%w: %w", ErrInvalidOptions, err) }

// ComposeOptions configure Compose.
type ComposeOptions struct {
	Options
	// Bases are base images named explicitly; they must match Match when it is set.
	Bases []name.Reference
	// BaseRepo, if set, adds the tags of this repository that Match matches as a whole.
	BaseRepo *name.Repository
	// Match selects base tags; its named groups are template fields.
	Match *regexp.Regexp
	// Target is the repository the thin images are pushed to; Template names their tags.
	Target   name.Repository
	Template compose.Template
	// Fields are template fields given by the caller (e.g. sdk=<commit>).
	Fields map[string]string
	// Shard selects the part of the bases this run composes (the zero Shard: all).
	Shard compose.Shard
	// Keychain authenticates to the registries (nil: registry.Keychain with no explicit
	// credentials: the environment's, then the Docker config's, else anonymous).
	Keychain authn.Keychain
	// Image is what goes into every image: the layer, config changes, DryRun. Its Transport,
	// Keychain, Logger and Concurrency are set from the options above when empty.
	Image compose.Options
}

// Compose builds thin images in the registry: one shared layer (Image.Layer) on every base image,
// for every platform, without downloading a base layer. Only the layer (once per repository),
// configs and manifests are uploaded. The report's Summary.Requests counts the client's
// requests.
func Compose(ctx context.Context, opt ComposeOptions) (*compose.Report, error) {
	c := opt.client()
	kc := opt.Keychain
	if kc == nil {
		kc = registry.Keychain(registry.Credentials{})
	}
	ropts := []remote.Option{remote.WithTransport(c.Transport()), remote.WithAuthFromKeychain(kc), remote.WithContext(ctx)}
	bases, err := compose.BasesFromRefs(opt.Bases, opt.Match)
	if err != nil {
		return nil, invalid(err)
	}
	if opt.BaseRepo != nil {
		listed, err := compose.ListBases(ctx, *opt.BaseRepo, opt.Match, ropts...)
		if err != nil {
			return nil, fmt.Errorf("compose: listing the bases in %s: %w", opt.BaseRepo, err)
		}
		bases = append(bases, listed...)
	}
	if len(bases) == 0 {
		return nil, invalid(errors.New("compose: no bases: give references, a bases file, or a base repository with a match"))
	}
	bases = opt.Shard.Select(bases)
	jobs, err := compose.Jobs(bases, opt.Target, opt.Template, opt.Fields)
	if err != nil {
		return nil, invalid(err)
	}
	io := opt.Image
	if io.Concurrency == 0 {
		io.Concurrency = opt.Concurrency
	}
	if io.Transport == nil {
		io.Transport = c.Transport()
	}
	if io.Keychain == nil {
		io.Keychain = kc
	}
	if io.Logger == nil {
		io.Logger = opt.logger()
	}
	progress := opt.progress("compose")
	onImage := io.OnImage
	done := 0
	io.OnImage = func(r compose.ImageResult) {
		done++
		if progress != nil {
			progress(done, len(jobs))
		}
		if onImage != nil {
			onImage(r)
		}
	}
	rep, err := compose.Compose(ctx, jobs, io)
	if rep != nil {
		rep.Summary.Requests = c.Counter().Snapshot().Total()
	}
	return rep, err
}
