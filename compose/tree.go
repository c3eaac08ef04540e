package compose

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
)

// entry is one file of a layer's tree, named by its path relative to the tree's root.
type entry struct {
	// name is slash-separated, cleaned and relative ("bin/run"); "" is the root directory.
	name string
	// typ is one of tar.TypeDir, TypeReg, TypeSymlink, TypeLink, TypeChar, TypeBlock, TypeFifo.
	typ byte
	// exec records whether a regular file had any execute bit in its source.
	exec bool
	size int64
	// linkname is a symlink's target as written, or, for a hard link, the tree path it links to.
	linkname string
	devmajor int64
	devminor int64
	// open reads a regular file's content.
	open func() (io.ReadCloser, error)
	// group names the set of hard-linked regular files this one belongs to ("" if none): files
	// sharing an inode in a directory, or a tarball's hard link and its target.
	group string
}

// tree collects the entries of a layer before they are written in their canonical order.
type tree struct {
	entries map[string]*entry
}

func newTree() *tree { return &tree{entries: map[string]*entry{}} }

// put adds e, replacing an entry of the same name (a later tar entry wins, as on extraction).
func (t *tree) put(e *entry) { t.entries[e.name] = e }

// resolveLinks turns every hard link entry into a member of its target's group, so the writer can
// give the content to whichever member sorts first and link the others to it.
func (t *tree) resolveLinks() error {
	for _, e := range t.entries {
		if e.typ != tar.TypeLink {
			continue
		}
		target := e
		for hops := 0; target.typ == tar.TypeLink; hops++ {
			next, ok := t.entries[target.linkname]
			if !ok || hops > len(t.entries) {
				return fmt.Errorf("%w: %s -> %s", ErrLinkOutsideTree, e.name, e.linkname)
			}
			target = next
		}
		if target.typ != tar.TypeReg {
			return fmt.Errorf("%w: %s links to %s, which is not a regular file", ErrUnsupportedEntry, e.name, target.name)
		}
		if target.group == "" {
			target.group = "link:" + target.name
		}
		e.typ, e.group, e.open, e.size, e.exec, e.linkname = tar.TypeReg, target.group, target.open, target.size, target.exec, ""
	}
	return nil
}

// header carries the normalised metadata every entry of a layer shares.
type header struct {
	modTime  time.Time
	uid, gid int
}

// write writes the tree as a tar stream placed under at ("/" or "/agent-server"): ancestors of at
// and missing parent directories are added, entries are sorted component by component (parents
// first), metadata is normalised, and the first member of each hard-link group (in that order)
// carries the content while the others link to it.
func (t *tree) write(ctx context.Context, w io.Writer, at string, h header) error {
	if err := t.resolveLinks(); err != nil {
		return err
	}
	prefix := strings.Trim(path.Clean("/"+at), "/")
	full := make(map[string]*entry, len(t.entries)+4)
	for _, e := range t.entries {
		name := path.Join(prefix, e.name)
		if name == "" {
			continue // the image's root directory itself is never an entry
		}
		out := *e
		out.name = name
		full[name] = &out
	}
	for name := range full {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			parent, ok := full[dir]
			if !ok {
				full[dir] = &entry{name: dir, typ: tar.TypeDir}
				continue
			}
			if parent.typ != tar.TypeDir {
				return fmt.Errorf("%w: %s", ErrTreeConflict, dir)
			}
		}
	}
	names := make([]string, 0, len(full))
	for name := range full {
		names = append(names, name)
	}
	slices.SortFunc(names, comparePaths)

	tw := tar.NewWriter(w)
	written := map[string]string{} // hard-link group -> name of the member holding the content
	for i, name := range names {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e := full[name]
		if e.typ == tar.TypeReg && e.group != "" {
			if first, ok := written[e.group]; ok {
				link := *e
				link.typ, link.linkname, link.size = tar.TypeLink, first, 0
				e = &link
			} else {
				written[e.group] = name
			}
		}
		if err := writeEntry(tw, e, h); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeEntry writes one normalised header and, for a regular file, its content.
func writeEntry(tw *tar.Writer, e *entry, h header) error {
	hdr := &tar.Header{
		Typeflag: e.typ,
		Name:     e.name,
		Uid:      h.uid,
		Gid:      h.gid,
		ModTime:  h.modTime,
		Format:   tar.FormatPAX,
	}
	switch e.typ {
	case tar.TypeDir:
		hdr.Name += "/"
		hdr.Mode = 0o755
	case tar.TypeReg:
		hdr.Mode = 0o644
		if e.exec {
			hdr.Mode = 0o755
		}
		hdr.Size = e.size
	case tar.TypeLink:
		hdr.Mode = 0o644
		if e.exec {
			hdr.Mode = 0o755
		}
		hdr.Linkname = e.linkname
	case tar.TypeSymlink:
		hdr.Mode = 0o777
		hdr.Linkname = e.linkname
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		hdr.Mode = 0o644
		hdr.Devmajor, hdr.Devminor = e.devmajor, e.devminor
	default:
		return fmt.Errorf("%w: %s (tar type %q)", ErrUnsupportedEntry, e.name, e.typ)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write %s: %w", e.name, err)
	}
	if e.typ != tar.TypeReg || e.size == 0 {
		return nil
	}
	rc, err := e.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(tw, io.LimitReader(rc, e.size))
	if err != nil {
		return fmt.Errorf("write %s: %w", e.name, err)
	}
	if n != e.size {
		return fmt.Errorf("write %s: %d of %d bytes: the file changed while being packed", e.name, n, e.size)
	}
	return nil
}

// comparePaths orders slash-separated paths component by component: a directory comes right
// before its own children, and siblings sort bytewise. It is bytewise order with '/' sorting
// before every other byte.
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

// cleanName turns an archive or walk path into a tree name: slash-separated, no leading "/" or
// "./", no trailing "/"; "" for the root. A name that climbs out of the tree is an error.
func cleanName(name string) (string, error) {
	c := path.Clean("/" + name)
	if strings.Contains(name, "..") {
		// path.Clean on a rooted path drops leading "..": check the unrooted form too.
		if u := path.Clean(name); u == ".." || strings.HasPrefix(u, "../") {
			return "", fmt.Errorf("%w: %q", ErrUnsafePath, name)
		}
	}
	return strings.TrimPrefix(c, "/"), nil
}
