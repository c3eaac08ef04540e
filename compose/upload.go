package compose

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// push writes what the thin image needs in the target repository, in dependency order: base
// layers (mounted, only when the base lives in another repository), the shared layer (once per
// repository), each config and platform manifest, then the tag. It returns the bytes it sent.
//
// Blobs go through one remote.Pusher for the whole run: its per-repository writer checks a blob
// with HEAD once and remembers it, so the shared layer costs nothing after the first image.
func (c *composer) push(ctx context.Context, job Job, t *thinImage) (int64, error) {
	var sent atomic.Int64
	target := job.Target.Context()
	baseRepo := job.Base.Ref.Context()
	cross := baseRepo.Name() != target.Name()
	for _, p := range t.platforms {
		if cross {
			for _, l := range p.baseLayers {
				if err := c.mountBase(ctx, target, baseRepo, l); err != nil {
					return sent.Load(), err
				}
			}
		}
		if err := c.ensureLayer(ctx, target, &sent); err != nil {
			return sent.Load(), fmt.Errorf("layer %s to %s: %w", c.layerDigest, target, err)
		}
		cfg := metered{Layer: static.NewLayer(p.config, p.configType), sent: &sent}
		if err := c.pusher.Upload(ctx, target, cfg); err != nil {
			return sent.Load(), fmt.Errorf("config of %s: %w", p.platform, err)
		}
		if t.index == nil {
			break
		}
		if err := c.pusher.Put(ctx, target.Digest(p.digest.String()), p.img); err != nil {
			return sent.Load(), fmt.Errorf("manifest of %s: %w", p.platform, err)
		}
		sent.Add(int64(len(p.manifest)))
	}
	if cross {
		for _, a := range t.attestations {
			if err := c.copyAttestation(ctx, target, baseRepo, a); err != nil {
				return sent.Load(), err
			}
		}
	}
	if t.index != nil {
		if err := c.pusher.Put(ctx, job.Target, t.index); err != nil {
			return sent.Load(), fmt.Errorf("index %s: %w", job.Target, err)
		}
		sent.Add(int64(len(t.indexRaw)))
		return sent.Load(), nil
	}
	if err := c.pusher.Put(ctx, job.Target, t.platforms[0].img); err != nil {
		return sent.Load(), fmt.Errorf("manifest %s: %w", job.Target, err)
	}
	sent.Add(int64(len(t.platforms[0].manifest)))
	return sent.Load(), nil
}

// ensureLayer makes the shared layer present in target: found by HEAD, mounted from a repository
// that already holds it (LayerFrom, or the first repository it went to), or uploaded.
func (c *composer) ensureLayer(ctx context.Context, target name.Repository, sent *atomic.Int64) error {
	var l v1.Layer = metered{Layer: c.opts.Layer, sent: sent, opens: &c.layerSends}
	c.homeMu.Lock()
	home := c.layerHome
	c.homeMu.Unlock()
	if home.RepositoryStr() != "" && home.Name() != target.Name() {
		l = &remote.MountableLayer{Layer: l, Reference: home.Digest(c.layerDigest.String())}
	}
	if err := c.pusher.Upload(ctx, target, l); err != nil {
		return err
	}
	c.homeMu.Lock()
	if c.layerHome.RepositoryStr() == "" {
		c.layerHome = target
	}
	c.homeMu.Unlock()
	return nil
}

// mountBase makes a base layer present in target by a cross-repository mount from the base's
// repository. It never reads the layer: if the registry refuses the mount, the upload it would
// fall back to fails with ErrBaseLayerRead instead of downloading the base layer.
func (c *composer) mountBase(ctx context.Context, target, from name.Repository, d v1.Descriptor) error {
	if !d.MediaType.IsDistributable() || len(d.URLs) > 0 {
		return nil // foreign layers are fetched from their URLs, never from the registry
	}
	ml := &remote.MountableLayer{Layer: descriptorBlob{desc: d}, Reference: from.Digest(d.Digest.String())}
	if err := c.pusher.Upload(ctx, target, ml); err != nil {
		return fmt.Errorf("mount base layer %s from %s: %w", d.Digest, from, err)
	}
	return nil
}

// copyAttestation makes a kept attestation manifest present in target: its blobs are mounted and
// its manifest, fetched by digest, is put unchanged.
func (c *composer) copyAttestation(ctx context.Context, target, from name.Repository, d v1.Descriptor) error {
	desc, err := c.puller.Get(ctx, from.Digest(d.Digest.String()))
	if err != nil {
		return fmt.Errorf("attestation %s: %w", d.Digest, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return fmt.Errorf("attestation %s: %w", d.Digest, err)
	}
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if err := c.mountBase(ctx, target, from, b); err != nil {
			return err
		}
	}
	return c.pusher.Put(ctx, target.Digest(d.Digest.String()), desc)
}

// plannedWrites lists what push would write for t, without asking the registry what it holds.
func (c *composer) plannedWrites(job Job, t *thinImage) []Write {
	var out []Write
	target := job.Target.Context()
	baseRepo := job.Base.Ref.Context()
	cross := baseRepo.Name() != target.Name()
	size, _ := c.opts.Layer.Size()
	for _, p := range t.platforms {
		if cross {
			for _, l := range p.baseLayers {
				out = append(out, Write{Kind: "mount", Digest: l.Digest.String(), Size: l.Size, From: baseRepo.Name()})
			}
		}
		out = append(out, Write{Kind: "layer", Digest: c.layerDigest.String(), Size: size})
		out = append(out, Write{Kind: "config", Digest: digestOf(p.config), Size: int64(len(p.config))})
		if t.index != nil {
			out = append(out, Write{Kind: "manifest", Digest: p.digest.String(), Size: int64(len(p.manifest))})
		}
	}
	if cross {
		for _, a := range t.attestations {
			out = append(out, Write{Kind: "manifest", Digest: a.Digest.String(), Size: a.Size, From: baseRepo.Name()})
		}
	}
	tagSize := int64(len(t.indexRaw))
	if t.index == nil {
		tagSize = int64(len(t.platforms[0].manifest))
	}
	return append(out, Write{Kind: "tag", Digest: t.digest.String(), Size: tagSize})
}

// descriptorBlob is a blob known only by its descriptor: a base layer, or an attestation manifest
// kept in a new index. Reading it is an error, which is how compose makes sure it never downloads
// a base layer.
type descriptorBlob struct{ desc v1.Descriptor }

func (b descriptorBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b descriptorBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b descriptorBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }

// Descriptor keeps the whole descriptor (platform, annotations) when the blob is an index child.
func (b descriptorBlob) Descriptor() (*v1.Descriptor, error) { d := b.desc; return &d, nil }

func (b descriptorBlob) DiffID() (v1.Hash, error) {
	return v1.Hash{}, fmt.Errorf("%w: %s (diff ID)", ErrBaseLayerRead, b.desc.Digest)
}

func (b descriptorBlob) Compressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("%w: %s (the registry refused to mount it)", ErrBaseLayerRead, b.desc.Digest)
}

func (b descriptorBlob) Uncompressed() (io.ReadCloser, error) { return b.Compressed() }

// metered counts the compressed bytes read from a layer, that is, the bytes uploaded (the writer
// reads a blob only to send it), and, if opens is set, how many times an upload started.
type metered struct {
	v1.Layer
	sent  *atomic.Int64
	opens *atomic.Int64
}

func (m metered) Compressed() (io.ReadCloser, error) {
	rc, err := m.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	if m.opens != nil {
		m.opens.Add(1)
	}
	return &countingReader{ReadCloser: rc, n: m.sent}, nil
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// digestOf returns the sha256 digest of b in "sha256:hex" form.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
