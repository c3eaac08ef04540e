package compose

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Source is what a layer is built from: a directory (Dir), a tarball (Tarball), or a path inside
// another image (ImagePath).
type Source interface {
	// collect adds the source's files to t, keeping any content it must hold on to in sp.
	collect(ctx context.Context, t *tree, sp *spool) error
}

// Dir is a Source reading the directory tree at path (symlinks inside it are kept as symlinks;
// files sharing an inode become hard links).
func Dir(path string) Source { return dirSource{path: path} }

// Tarball is a Source reading a tar file, plain or gzip-compressed. Later entries of the same
// name replace earlier ones, as when extracting. Extended attributes and owners are dropped.
func Tarball(path string) Source { return tarSource{path: path} }

type dirSource struct{ path string }

func (s dirSource) collect(ctx context.Context, t *tree, _ *spool) error {
	root, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return fmt.Errorf("layer directory: %w", err)
	}
	if fi, err := os.Stat(root); err != nil {
		return fmt.Errorf("layer directory: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("layer directory %s: not a directory", s.path)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name, err := cleanName(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := &entry{name: name}
		switch mode := fi.Mode(); {
		case mode.IsDir():
			e.typ = tar.TypeDir
		case mode.IsRegular():
			e.typ, e.size, e.exec = tar.TypeReg, fi.Size(), mode&0o111 != 0
			e.open = func() (io.ReadCloser, error) { return os.Open(p) }
			if key, ok := inodeKey(fi); ok {
				e.group = "inode:" + key
			}
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.typ, e.linkname = tar.TypeSymlink, filepath.ToSlash(target)
		case mode&fs.ModeNamedPipe != 0:
			e.typ = tar.TypeFifo
		default:
			return fmt.Errorf("%w: %s (%s)", ErrUnsupportedEntry, p, mode.Type())
		}
		t.put(e)
		return nil
	})
}

type tarSource struct{ path string }

func (s tarSource) collect(ctx context.Context, t *tree, sp *spool) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("layer tarball: %w", err)
	}
	defer f.Close()
	r, err := maybeGunzip(f)
	if err != nil {
		return fmt.Errorf("layer tarball %s: %w", s.path, err)
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer tarball %s: %w", s.path, err)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return err
		}
		e, err := entryFromTar(hdr, name, tr, sp, func(link string) (string, error) { return cleanName(link) })
		if err != nil {
			return fmt.Errorf("layer tarball %s: %w", s.path, err)
		}
		if e != nil {
			t.put(e)
		}
	}
}

// entryFromTar turns a tar header (and its content, spooled) into an entry named name.
// linkName maps a hard link's target to a tree name. Headers that carry no file (none today
// after tar.Reader's own handling) give a nil entry.
func entryFromTar(hdr *tar.Header, name string, r io.Reader, sp *spool, linkName func(string) (string, error)) (*entry, error) {
	e := &entry{name: name}
	switch hdr.Typeflag {
	case tar.TypeDir:
		e.typ = tar.TypeDir
	case tar.TypeReg:
		open, err := sp.add(r, hdr.Size)
		if err != nil {
			return nil, err
		}
		e.typ, e.size, e.exec, e.open = tar.TypeReg, hdr.Size, hdr.Mode&0o111 != 0, open
	case tar.TypeSymlink:
		e.typ, e.linkname = tar.TypeSymlink, hdr.Linkname
	case tar.TypeLink:
		target, err := linkName(hdr.Linkname)
		if err != nil {
			return nil, err
		}
		e.typ, e.linkname = tar.TypeLink, target
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		e.typ, e.devmajor, e.devminor = hdr.Typeflag, hdr.Devmajor, hdr.Devminor
	default:
		return nil, fmt.Errorf("%w: %s (tar type %q)", ErrUnsupportedEntry, hdr.Name, hdr.Typeflag)
	}
	return e, nil
}

// maybeGunzip returns r decompressed if it starts with the gzip magic, else r as it is.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// spool keeps file contents read from a stream (a tarball, an image layer) in one temporary file,
// so the tree can be written in sorted order without holding it in memory.
type spool struct {
	dir string
	f   *os.File
	off int64
}

// add copies exactly n bytes of r to the spool and returns an opener for them.
func (s *spool) add(r io.Reader, n int64) (func() (io.ReadCloser, error), error) {
	if n == 0 {
		return func() (io.ReadCloser, error) { return io.NopCloser(eofReader{}), nil }, nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "regtidy-spool-*")
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.f = f
	}
	if _, err := s.f.Seek(s.off, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := io.CopyN(s.f, r, n); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	f, off := s.f, s.off
	s.off += n
	return func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(f, off, n)), nil
	}, nil
}

// close removes the spool file.
func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
