package compose

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regtidy/regtidy/inventory"
)

// thinImage is one base's composition, computed in memory from the base's manifests and configs.
type thinImage struct {
	baseDigest v1.Hash
	// index is the new index for an index base; nil for a single-manifest base.
	index     v1.ImageIndex
	indexRaw  []byte
	platforms []platformImage
	// attestations are the base's attestation manifests kept in the new index.
	attestations []v1.Descriptor
	digest       v1.Hash
}

// platformImage is the thin image of one platform.
type platformImage struct {
	platform   string
	img        v1.Image
	manifest   []byte
	digest     v1.Hash
	config     []byte
	configType types.MediaType
	// baseLayers are the base's layers, by descriptor only.
	baseLayers []v1.Descriptor
	// layers are every layer of the thin image (the base's and the new one).
	layers []v1.Descriptor
}

// fullRebuild is what pushing the image from scratch would send.
func (t *thinImage) fullRebuild() int64 {
	n := int64(len(t.indexRaw))
	for _, p := range t.platforms {
		n += int64(len(p.manifest) + len(p.config))
		for _, l := range p.layers {
			n += l.Size
		}
	}
	return n
}

// build reads the base (its manifests and configs, never its layers) and composes the thin image.
func (c *composer) build(ctx context.Context, ref name.Reference) (*thinImage, error) {
	desc, err := c.puller.Get(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", ref, err)
	}
	baseName := ref.Name()
	t := &thinImage{baseDigest: desc.Digest}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", ref, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", ref, err)
		}
		adds := make([]mutate.IndexAddendum, 0, len(im.Manifests))
		for _, child := range im.Manifests {
			if isAttestation(child) {
				if c.opts.KeepAttestations {
					t.attestations = append(t.attestations, child)
					adds = append(adds, mutate.IndexAddendum{Add: descriptorBlob{desc: child}, Descriptor: child})
				}
				continue
			}
			if !child.MediaType.IsImage() {
				return nil, fmt.Errorf("%w: %s: child %s is %s", ErrUnsupportedBase, ref, child.Digest, child.MediaType)
			}
			img, err := idx.Image(child.Digest)
			if err != nil {
				return nil, fmt.Errorf("base %s, child %s: %w", ref, child.Digest, err)
			}
			p, err := c.thin(img, baseName, child.Digest)
			if err != nil {
				return nil, fmt.Errorf("base %s, child %s: %w", ref, child.Digest, err)
			}
			if child.Platform != nil {
				p.platform = child.Platform.String()
			}
			t.platforms = append(t.platforms, p)
			adds = append(adds, mutate.IndexAddendum{
				Add:        p.img,
				Descriptor: v1.Descriptor{Platform: child.Platform, Annotations: child.Annotations},
			})
		}
		if len(t.platforms) == 0 {
			return nil, fmt.Errorf("%w: %s: no platform image in the index", ErrUnsupportedBase, ref)
		}
		out := mutate.IndexMediaType(empty.Index, desc.MediaType)
		out = mutate.AppendManifests(out, adds...)
		out = mutate.Annotations(out, c.annotations(baseName, desc.Digest)).(v1.ImageIndex)
		if t.indexRaw, err = out.RawManifest(); err != nil {
			return nil, err
		}
		if t.digest, err = out.Digest(); err != nil {
			return nil, err
		}
		t.index = out
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", ref, err)
		}
		p, err := c.thin(img, baseName, desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("base %s: %w", ref, err)
		}
		t.platforms = []platformImage{p}
		t.digest = p.digest
	default:
		return nil, fmt.Errorf("%w: %s is %s", ErrUnsupportedBase, ref, desc.MediaType)
	}
	return t, ctx.Err()
}

// thin composes one platform image: the base's layers plus the shared layer, the config updated,
// and the base recorded in annotations. It reads the base's manifest and config only.
func (c *composer) thin(base v1.Image, baseName string, baseDigest v1.Hash) (platformImage, error) {
	var p platformImage
	m, err := base.Manifest()
	if err != nil {
		return p, err
	}
	if mt := m.Config.MediaType; mt != types.DockerConfigJSON && mt != types.OCIConfigJSON {
		return p, fmt.Errorf("%w: config media type %s is not an image config", ErrUnsupportedBase, mt)
	}
	mt, err := base.MediaType()
	if err != nil {
		return p, err
	}
	layerType := types.OCILayer
	if mt == types.DockerManifestSchema2 {
		layerType = types.DockerLayer
	}
	created := v1.Time{Time: c.opts.Created}
	added, err := mutate.Append(base, mutate.Addendum{
		Layer:     c.opts.Layer,
		MediaType: layerType,
		History:   v1.History{Created: created, CreatedBy: c.opts.CreatedBy},
	})
	if err != nil {
		return p, err
	}
	cf, err := added.ConfigFile()
	if err != nil {
		return p, err
	}
	cf = cf.DeepCopy()
	c.configure(cf)
	img, err := mutate.ConfigFile(added, cf)
	if err != nil {
		return p, err
	}
	img = mutate.Annotations(img, c.annotations(baseName, baseDigest)).(v1.Image)

	p.img = img
	p.platform = (&v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}).String()
	p.baseLayers = m.Layers
	if p.manifest, err = img.RawManifest(); err != nil {
		return p, err
	}
	if p.digest, err = img.Digest(); err != nil {
		return p, err
	}
	if p.config, err = img.RawConfigFile(); err != nil {
		return p, err
	}
	out, err := img.Manifest()
	if err != nil {
		return p, err
	}
	p.configType, p.layers = out.Config.MediaType, out.Layers
	return p, nil
}

// configure applies the options' config changes to cf.
func (c *composer) configure(cf *v1.ConfigFile) {
	cf.Created = v1.Time{Time: c.opts.Created}
	cf.Config.Env = mergeEnv(cf.Config.Env, c.opts.Env)
	if c.opts.Entrypoint != nil {
		cf.Config.Entrypoint = slices.Clone(c.opts.Entrypoint)
		if c.opts.Cmd == nil {
			cf.Config.Cmd = nil
		}
	}
	if c.opts.Cmd != nil {
		cf.Config.Cmd = slices.Clone(c.opts.Cmd)
	}
	if len(c.opts.Labels) > 0 {
		if cf.Config.Labels == nil {
			cf.Config.Labels = map[string]string{}
		}
		maps.Copy(cf.Config.Labels, c.opts.Labels)
	}
}

// annotations are the ones every thin manifest carries: its base and its creation time.
func (c *composer) annotations(baseName string, baseDigest v1.Hash) map[string]string {
	return map[string]string{
		inventory.AnnotationBaseName:   baseName,
		inventory.AnnotationBaseDigest: baseDigest.String(),
		inventory.AnnotationCreated:    c.opts.Created.Format(time.RFC3339),
	}
}

// mergeEnv sets each "K=V" of set in env, replacing an existing K in place or appending.
func mergeEnv(env, set []string) []string {
	out := slices.Clone(env)
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool {
			ek, _, _ := strings.Cut(e, "=")
			return ek == k
		})
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// isAttestation reports whether an index child is a buildx attestation manifest.
func isAttestation(d v1.Descriptor) bool {
	return d.Annotations[inventory.AnnotationReferenceType] == "attestation-manifest"
}
