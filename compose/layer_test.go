package compose

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func buildLayer(t *testing.T, src Source, opts LayerOptions) *Layer {
	t.Helper()
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	l, err := BuildLayer(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// header is what the tests check of each tar entry.
type tarHeader struct {
	Name, Link string
	Type       byte
	Mode       int64
	UID, GID   int
	ModTime    int64
	Size       int64
}

func layerHeaders(t *testing.T, l v1.Layer) []tarHeader {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []tarHeader
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uname != "" || h.Gname != "" || len(h.PAXRecords) != 0 {
			t.Errorf("%s: uname %q gname %q pax %v, want none", h.Name, h.Uname, h.Gname, h.PAXRecords)
		}
		out = append(out, tarHeader{h.Name, h.Linkname, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime.Unix(), h.Size})
	}
}

func TestBuildLayerFromDirIsNormalised(t *testing.T) {
	dir := writeSDK(t, t.TempDir(), 0o600, 0o700, []int{0, 1, 2, 3})
	l := buildLayer(t, Dir(dir), LayerOptions{At: "/opt/agent-server", ModTime: time.Unix(1700000000, 0), UID: 10, GID: 20})
	const mt = 1700000000
	want := []tarHeader{
		{Name: "opt/", Type: tar.TypeDir, Mode: 0o755, UID: 10, GID: 20, ModTime: mt},
		{Name: "opt/agent-server/", Type: tar.TypeDir, Mode: 0o755, UID: 10, GID: 20, ModTime: mt},
		{Name: "opt/agent-server/README", Type: tar.TypeReg, Mode: 0o644, UID: 10, GID: 20, ModTime: mt, Size: 17},
		{Name: "opt/agent-server/bin/", Type: tar.TypeDir, Mode: 0o755, UID: 10, GID: 20, ModTime: mt},
		{Name: "opt/agent-server/bin/agent", Type: tar.TypeReg, Mode: 0o755, UID: 10, GID: 20, ModTime: mt, Size: 21},
		{Name: "opt/agent-server/current", Link: "bin/agent", Type: tar.TypeSymlink, Mode: 0o777, UID: 10, GID: 20, ModTime: mt},
		{Name: "opt/agent-server/lib/", Type: tar.TypeDir, Mode: 0o755, UID: 10, GID: 20, ModTime: mt},
		{Name: "opt/agent-server/lib/README.txt", Link: "opt/agent-server/README", Type: tar.TypeLink, Mode: 0o644, UID: 10, GID: 20, ModTime: mt},
		{Name: "opt/agent-server/lib/agent/", Type: tar.TypeDir, Mode: 0o755, UID: 10, GID: 20, ModTime: mt},
		{Name: "opt/agent-server/lib/agent/__init__.py", Type: tar.TypeReg, Mode: 0o644, UID: 10, GID: 20, ModTime: mt, Size: 12},
		{Name: "opt/agent-server/lib/agent/core.py", Type: tar.TypeReg, Mode: 0o644, UID: 10, GID: 20, ModTime: mt, Size: 25},
	}
	if diff := cmp.Diff(want, layerHeaders(t, l)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestBuildLayerIsReproducible(t *testing.T) {
	// Two copies of one tree written in different orders, with different permission bits,
	// mtimes and (when the test may chown) owners, give one digest.
	a := writeSDK(t, t.TempDir(), 0o644, 0o755, []int{0, 1, 2, 3})
	b := writeSDK(t, t.TempDir(), 0o600, 0o711, []int{3, 2, 1, 0})
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	filepath.WalkDir(b, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeSymlink == 0 {
			os.Chtimes(p, old, old)
			if os.Geteuid() == 0 {
				os.Lchown(p, 1234, 5678)
			}
		}
		return nil
	})
	la := buildLayer(t, Dir(a), LayerOptions{At: "/agent-server"})
	lb := buildLayer(t, Dir(b), LayerOptions{At: "agent-server/"})
	// The tar stream is pinned: a change here changes every composed image's layer. (The
	// compressed digest is not pinned: compress/gzip may change between Go releases.)
	const wantDiffID = "sha256:4288e74802fef414ae3d7f769e23db09983e4de9872b3cd6d6b66ed1ba0707cf"
	if d, _ := la.DiffID(); d.String() != wantDiffID {
		t.Errorf("DiffID = %s, want %s", d, wantDiffID)
	}
	for _, f := range []func(v1.Layer) (v1.Hash, error){v1.Layer.Digest, v1.Layer.DiffID} {
		da, _ := f(la)
		db, _ := f(lb)
		if da != db {
			t.Errorf("digests differ: %s vs %s", da, db)
		}
	}

	// The digests are those of the bytes, and the gzip header carries no time and no name.
	var buf bytes.Buffer
	if _, err := la.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sum, _, err := v1.SHA256(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := la.Digest(); d != sum {
		t.Errorf("Digest() = %s, bytes hash to %s", d, sum)
	}
	if size, _ := la.Size(); size != int64(buf.Len()) {
		t.Errorf("Size() = %d, want %d", size, buf.Len())
	}
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" || zr.Comment != "" || zr.OS != 255 {
		t.Errorf("gzip header = %+v, want no time, name or comment, OS 255", zr.Header)
	}
	uncompressed, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	diffID, _, _ := v1.SHA256(bytes.NewReader(uncompressed))
	if d, _ := la.DiffID(); d != diffID {
		t.Errorf("DiffID() = %s, tar hashes to %s", d, diffID)
	}
}

func TestBuildLayerFromTarballMatchesDir(t *testing.T) {
	// A tarball of the same tree, unsorted, with owners, odd modes, no directory entries, a
	// "./" prefix and gzip compression packs to the same layer as the directory.
	dir := writeSDK(t, t.TempDir(), 0o644, 0o755, []int{0, 1, 2, 3})
	var raw bytes.Buffer
	zw := gzip.NewWriter(&raw)
	tw := tar.NewWriter(zw)
	for _, e := range []struct {
		name, link string
		typ        byte
		mode       int64
		body       string
	}{
		{name: "./lib/agent/core.py", typ: tar.TypeReg, mode: 0o600, body: sdkFiles[2].body},
		{name: "./current", typ: tar.TypeSymlink, link: "bin/agent"},
		{name: "./bin/agent", typ: tar.TypeReg, mode: 0o700, body: sdkFiles[0].body},
		{name: "./README", typ: tar.TypeReg, mode: 0o444, body: sdkFiles[3].body},
		{name: "./lib/agent/__init__.py", typ: tar.TypeReg, mode: 0o664, body: sdkFiles[1].body},
		{name: "./lib/README.txt", typ: tar.TypeLink, link: "./README"},
	} {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)),
			Uid: 501, Gid: 20, Uname: "me", ModTime: time.Now(), PAXRecords: map[string]string{"SCHILY.xattr.user.x": "1"}}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	zw.Close()
	tarPath := filepath.Join(t.TempDir(), "sdk.tar.gz")
	if err := os.WriteFile(tarPath, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	fromDir := buildLayer(t, Dir(dir), LayerOptions{At: "/agent-server"})
	fromTar := buildLayer(t, Tarball(tarPath), LayerOptions{At: "/agent-server"})
	if diff := cmp.Diff(layerHeaders(t, fromDir), layerHeaders(t, fromTar)); diff != "" {
		t.Errorf("entries (-dir +tar):\n%s", diff)
	}
	dd, _ := fromDir.Digest()
	dt, _ := fromTar.Digest()
	if dd != dt {
		t.Errorf("digest from dir %s, from tarball %s", dd, dt)
	}
}

func TestBuildLayerFromImagePath(t *testing.T) {
	// The builder image: the tree is spread over three layers, with whiteouts and an opaque
	// directory, and other paths around it.
	l1 := tarLayer(t, types.OCILayer,
		tarEntry{name: "usr/bin/python", body: "elf"},
		tarEntry{name: "agent-server/", typ: tar.TypeDir, mode: 0o700},
		tarEntry{name: "agent-server/bin/agent", body: "v1", mode: 0o755},
		tarEntry{name: "agent-server/lib/agent/core.py", body: "old core"},
		tarEntry{name: "agent-server/lib/agent/gone.py", body: "gone"},
		tarEntry{name: "agent-server/cache/a", body: "cache"},
		tarEntry{name: "agent-server/README", body: sdkFiles[3].body},
	)
	l2 := tarLayer(t, types.OCILayer,
		tarEntry{name: "agent-server/lib/agent/.wh.gone.py"},
		tarEntry{name: "agent-server/.wh.cache"},
		tarEntry{name: "agent-server/bin/.wh..wh..opq"},
		tarEntry{name: "agent-server/bin/agent", body: sdkFiles[0].body, mode: 0o755},
		tarEntry{name: "agent-server/lib/agent/__init__.py", body: sdkFiles[1].body},
	)
	l3 := tarLayer(t, types.OCILayer,
		tarEntry{name: "./agent-server/lib/agent/core.py", body: sdkFiles[2].body},
		tarEntry{name: "agent-server/current", typ: tar.TypeSymlink, link: "bin/agent"},
		tarEntry{name: "agent-server/lib/README.txt", typ: tar.TypeLink, link: "agent-server/README"},
		tarEntry{name: "home/user/.bashrc", body: "x"},
	)
	img, err := mutate.AppendLayers(empty.Image, l1, l2, l3)
	if err != nil {
		t.Fatal(err)
	}
	fromImage := buildLayer(t, ImagePath(img, "/agent-server"), LayerOptions{At: "/agent-server"})
	fromDir := buildLayer(t, Dir(writeSDK(t, t.TempDir(), 0o644, 0o755, []int{0, 1, 2, 3})), LayerOptions{At: "/agent-server"})
	if diff := cmp.Diff(layerHeaders(t, fromDir), layerHeaders(t, fromImage)); diff != "" {
		t.Errorf("entries (-dir +image):\n%s", diff)
	}
	if diff := cmp.Diff(flatten(t, []v1.Layer{fromDir}), flatten(t, []v1.Layer{fromImage})); diff != "" {
		t.Errorf("files (-dir +image):\n%s", diff)
	}

	// Relocating the subtree keeps its content.
	moved := buildLayer(t, ImagePath(img, "agent-server"), LayerOptions{At: "/srv/agent"})
	got := flatten(t, []v1.Layer{moved})
	want := sdkFS("srv/agent")
	want["srv"] = fsEntry{Type: tar.TypeDir, Mode: 0o755}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("relocated files (-want +got):\n%s", diff)
	}
}

func TestBuildLayerErrors(t *testing.T) {
	whited := tarLayer(t, types.OCILayer, tarEntry{name: "agent-server/x", body: "x"})
	gone := tarLayer(t, types.OCILayer, tarEntry{name: ".wh.agent-server"})
	img, err := mutate.AppendLayers(empty.Image, whited, gone)
	if err != nil {
		t.Fatal(err)
	}
	outside := tarLayer(t, types.OCILayer,
		tarEntry{name: "etc/passwd", body: "root"},
		tarEntry{name: "agent-server/passwd", typ: tar.TypeLink, link: "etc/passwd"},
	)
	linkImg, err := mutate.AppendLayers(empty.Image, outside)
	if err != nil {
		t.Fatal(err)
	}
	evil := filepath.Join(t.TempDir(), "evil.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "a/../../etc/x", Typeflag: tar.TypeReg})
	tw.Close()
	os.WriteFile(evil, buf.Bytes(), 0o644)

	for _, tc := range []struct {
		name string
		src  Source
		want error
	}{
		{"whited-out subtree", ImagePath(img, "/agent-server"), ErrNotFound},
		{"hard link out of the subtree", ImagePath(linkImg, "/agent-server"), ErrLinkOutsideTree},
		{"tarball climbing out", Tarball(evil), ErrUnsafePath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildLayer(context.Background(), tc.src, LayerOptions{TempDir: t.TempDir()})
			if !errors.Is(err, tc.want) {
				t.Fatalf("BuildLayer error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSourceDateEpoch(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    time.Time
		set     bool
		wantErr bool
	}{
		{env: "", want: time.Unix(0, 0).UTC()},
		{env: "1700000000", want: time.Unix(1700000000, 0).UTC(), set: true},
		{env: "yesterday", wantErr: true},
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tc.env)
		got, set, err := SourceDateEpoch()
		if (err != nil) != tc.wantErr || !got.Equal(tc.want) || set != tc.set {
			t.Errorf("SOURCE_DATE_EPOCH=%q: got %v, %v, %v; want %v, %v, error %v", tc.env, got, set, err, tc.want, tc.set, tc.wantErr)
		}
	}
}
