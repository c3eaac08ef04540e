package compose

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CompressionLevel is the gzip level of every layer BuildLayer writes. It is fixed: another level
// would give another digest.
const CompressionLevel = gzip.DefaultCompression

// LayerOptions configure BuildLayer. The zero value puts the tree at the image's root with mtime
// 0 (the Unix epoch), uid and gid 0, and the OCI layer media type.
type LayerOptions struct {
	// At is where the tree's root goes in the image, e.g. "/agent-server". The default value is
	// "/". Its ancestors are added as directories.
	At string
	// ModTime is the mtime of every entry. The default value is the Unix epoch; see
	// SourceDateEpoch for the conventional way to choose another.
	ModTime time.Time
	// UID and GID own every entry. The default value is 0 (root).
	UID, GID int
	// MediaType of the layer. The default value is types.OCILayer; compose switches to the
	// Docker media type on Docker manifests whatever this says, the bytes being the same.
	MediaType types.MediaType
	// TempDir holds the compressed layer until Close, and any file contents a tarball or image
	// source has to keep while sorting. The default value is os.TempDir().
	TempDir string
}

// SourceDateEpoch returns the time SOURCE_DATE_EPOCH names (seconds since the Unix epoch), the
// reproducible-builds convention for a fixed timestamp, and whether it was set.
func SourceDateEpoch() (time.Time, bool, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || strings.TrimSpace(v) == "" {
		return time.Unix(0, 0).UTC(), false, nil
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds: %w", v, err)
	}
	return time.Unix(sec, 0).UTC(), true, nil
}

// Layer is a reproducible layer made by BuildLayer: a gzip-compressed tarball kept in a temporary
// file until Close. It implements v1.Layer; its digests are known without reading it again.
type Layer struct {
	path      string
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
	mediaType types.MediaType
}

var _ v1.Layer = (*Layer)(nil)

// BuildLayer packs src into a reproducible layer (see the package documentation for what is
// normalised). The caller closes the layer to remove its temporary file.
func BuildLayer(ctx context.Context, src Source, opts LayerOptions) (*Layer, error) {
	if opts.At == "" {
		opts.At = "/"
	}
	if opts.ModTime.IsZero() {
		opts.ModTime = time.Unix(0, 0)
	}
	if opts.MediaType == "" {
		opts.MediaType = types.OCILayer
	}
	sp := &spool{dir: opts.TempDir}
	defer sp.close()
	t := newTree()
	if err := src.collect(ctx, t, sp); err != nil {
		return nil, err
	}

	f, err := os.CreateTemp(opts.TempDir, "regtidy-layer-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("layer file: %w", err)
	}
	l := &Layer{path: f.Name(), mediaType: opts.MediaType}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(l.path)
		}
	}()
	compressed := &hashCounter{h: sha256.New()}
	gz, err := gzip.NewWriterLevel(io.MultiWriter(f, compressed), CompressionLevel)
	if err != nil {
		return nil, err
	}
	// A zero header: no name, no comment, no mtime. The OS byte is Go's constant "unknown".
	gz.Header = gzip.Header{OS: 255}
	uncompressed := &hashCounter{h: sha256.New()}
	h := header{modTime: opts.ModTime.UTC().Truncate(time.Second), uid: opts.UID, gid: opts.GID}
	if err := t.write(ctx, io.MultiWriter(gz, uncompressed), opts.At, h); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	l.digest = compressed.hash()
	l.diffID = uncompressed.hash()
	l.size = compressed.n
	ok = true
	return l, nil
}

// Digest returns the sha256 of the compressed layer.
func (l *Layer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID returns the sha256 of the uncompressed tar stream.
func (l *Layer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size returns the compressed size in bytes.
func (l *Layer) Size() (int64, error) { return l.size, nil }

// MediaType returns the layer's media type.
func (l *Layer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// Compressed opens the gzip-compressed layer.
func (l *Layer) Compressed() (io.ReadCloser, error) { return os.Open(l.path) }

// Uncompressed opens the layer's tar stream.
func (l *Layer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &gunzipReader{Reader: zr, f: f}, nil
}

// WriteTo writes the compressed layer to w, so it can be saved and reused byte for byte.
func (l *Layer) WriteTo(w io.Writer) (int64, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

// Close removes the layer's temporary file.
func (l *Layer) Close() error {
	if err := os.Remove(l.path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// gunzipReader closes both the gzip reader and the file under it.
type gunzipReader struct {
	*gzip.Reader
	f *os.File
}

func (r *gunzipReader) Close() error {
	err := r.Reader.Close()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

func (c *hashCounter) hash() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(c.h.Sum(nil))}
}
