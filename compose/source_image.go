package compose

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Whiteout markers of the OCI and Docker layer formats.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// ImagePath is a Source reading the subtree at p inside img (the builder-stage case: an image that
// built /agent-server). It sees the image's filesystem as a container would: layers are read from
// the top down, an upper entry wins over lower ones, whiteouts and opaque directories hide what
// lies below them, and only entries at or under p are kept; p itself becomes the tree's root.
// Only img's layers are read, each once.
func ImagePath(img v1.Image, p string) Source { return imageSource{img: img, path: p} }

type imageSource struct {
	img  v1.Image
	path string
}

func (s imageSource) collect(ctx context.Context, t *tree, sp *spool) error {
	sub, err := cleanName(s.path)
	if err != nil {
		return err
	}
	layers, err := s.img.Layers()
	if err != nil {
		return fmt.Errorf("layer source image: %w", err)
	}
	r := &imageReader{sub: sub, t: t, sp: sp, hidden: newHider(), supplier: map[string]int{}}
	for i := len(layers) - 1; i >= 0; i-- {
		if err := r.readLayer(ctx, layers[i], i); err != nil {
			return err
		}
	}
	if !r.found {
		return fmt.Errorf("%w: /%s in the layer source image", ErrNotFound, sub)
	}
	return nil
}

// imageReader walks an image's layers from the top down, keeping the entries under sub.
type imageReader struct {
	sub    string
	t      *tree
	sp     *spool
	hidden *hider
	// supplier maps a kept path to the index of the layer that supplied it; upper layers win.
	supplier map[string]int
	found    bool
}

func (r *imageReader) readLayer(ctx context.Context, l v1.Layer, i int) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("layer source image, layer %d: %w", i, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	// What this layer hides applies to the layers below it only, so it is recorded at the end.
	var below hider
	below.init()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("layer source image, layer %d: %w", i, err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return err
		}
		dir, base := parent(name), path.Base(name)
		switch {
		case base == opaqueMarker:
			if r.relevant(dir) {
				below.opaque[dir] = true
			}
			continue
		case strings.HasPrefix(base, whiteoutPrefix):
			if target := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)); r.relevant(target) {
				below.whiteout[target] = true
			}
			continue
		}
		if !r.relevant(name) || r.hidden.hides(name) {
			continue
		}
		if layer, ok := r.supplier[name]; ok && layer != i {
			continue
		}
		if hdr.Typeflag != tar.TypeDir {
			below.nondir[name] = true
		}
		rel, ok := r.rel(name)
		if !ok {
			continue // an ancestor of the subtree: it only matters for what it hides
		}
		e, err := entryFromTar(hdr, rel, tr, r.sp, r.linkName)
		if err != nil {
			return fmt.Errorf("layer source image, layer %d: %w", i, err)
		}
		r.supplier[name] = i
		r.t.put(e)
		r.found = true
	}
	r.hidden.merge(&below)
	return nil
}

// relevant reports whether name is at or under the subtree, or one of its ancestors.
func (r *imageReader) relevant(name string) bool {
	if _, ok := r.rel(name); ok {
		return true
	}
	return name == "" || strings.HasPrefix(r.sub, name+"/")
}

// rel returns name relative to the subtree, and whether name is in it.
func (r *imageReader) rel(name string) (string, bool) {
	switch {
	case r.sub == "":
		return name, true
	case name == r.sub:
		return "", true
	case strings.HasPrefix(name, r.sub+"/"):
		return name[len(r.sub)+1:], true
	}
	return "", false
}

// linkName maps a hard link's target (a path from the image root) into the subtree.
func (r *imageReader) linkName(link string) (string, error) {
	name, err := cleanName(link)
	if err != nil {
		return "", err
	}
	rel, ok := r.rel(name)
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrLinkOutsideTree, link)
	}
	return rel, nil
}

// hider records what upper layers hide from lower ones: whited-out paths (and all below them),
// the contents of opaque directories, and everything below a path an upper layer made a
// non-directory.
type hider struct {
	whiteout map[string]bool
	opaque   map[string]bool
	nondir   map[string]bool
}

func newHider() *hider {
	h := &hider{}
	h.init()
	return h
}

func (h *hider) init() {
	h.whiteout, h.opaque, h.nondir = map[string]bool{}, map[string]bool{}, map[string]bool{}
}

func (h *hider) merge(o *hider) {
	for k := range o.whiteout {
		h.whiteout[k] = true
	}
	for k := range o.opaque {
		h.opaque[k] = true
	}
	for k := range o.nondir {
		h.nondir[k] = true
	}
}

// hides reports whether a lower layer's entry called name is hidden.
func (h *hider) hides(name string) bool {
	if name == "" {
		return false
	}
	if h.whiteout[name] {
		return true
	}
	for dir := parent(name); ; dir = parent(dir) {
		if h.whiteout[dir] || h.opaque[dir] || h.nondir[dir] {
			return true
		}
		if dir == "" {
			return false
		}
	}
}

// parent returns the tree name of name's directory ("" for a top-level name).
func parent(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}
