package compose

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
)

// startRegistry runs an in-memory distribution registry for the test.
func startRegistry(t testing.TB, opts regtest.Options) *regtest.Registry {
	t.Helper()
	reg, err := regtest.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// request is one request the recorder saw.
type request struct {
	Method string
	Path   string
	Query  url.Values
}

// recorder is an http.RoundTripper that remembers every request it carries.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []request
}

func newRecorder() *recorder { return &recorder{next: http.DefaultTransport} }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, request{Method: req.Method, Path: req.URL.Path, Query: req.URL.Query()})
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// writes returns the requests that change the registry.
func (r *recorder) writes() []request {
	var out []request
	for _, q := range r.requests() {
		if q.Method != http.MethodGet && q.Method != http.MethodHead {
			out = append(out, q)
		}
	}
	return out
}

// ref parses a reference on the test registry.
func ref(t testing.TB, reg *regtest.Registry, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(reg.Host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func repo(t testing.TB, reg *regtest.Registry, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(reg.Host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// randomImage makes an image of n random layers, OCI or Docker, for a platform.
func randomImage(t testing.TB, rng *rand.Rand, n int, size int64, oci bool, platform v1.Platform) v1.Image {
	t.Helper()
	base, layerType := empty.Image, types.DockerLayer
	if oci {
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		layerType = types.OCILayer
	}
	var adds []mutate.Addendum
	for i := 0; i < n; i++ {
		l, err := random.Layer(size, layerType, random.WithSource(rng))
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: fmt.Sprintf("layer %d", i)}})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Config.Env = []string{"PATH=/usr/bin", "LANG=C"}
	cf.Config.Cmd = []string{"/bin/sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// attestationImage is an image shaped like a buildx attestation manifest.
func attestationImage(t testing.TB) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(img, mutate.Addendum{
		Layer:     static.NewLayer([]byte(`{"_type":"https://in-toto.io/Statement/v0.1"}`), "application/vnd.in-toto+json"),
		MediaType: "application/vnd.in-toto+json",
	})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// multiPlatformIndex is an index of two platform images plus an attestation manifest for the first.
func multiPlatformIndex(t testing.TB, rng *rand.Rand) v1.ImageIndex {
	t.Helper()
	amd := randomImage(t, rng, 3, 700, true, v1.Platform{OS: "linux", Architecture: "amd64"})
	arm := randomImage(t, rng, 2, 500, true, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	amdDigest, err := amd.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: attestationImage(t), Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				inventory.AnnotationReferenceType:   "attestation-manifest",
				inventory.AnnotationReferenceDigest: amdDigest.String(),
			},
		}},
	)
}

// tarEntry describes one entry of a hand-made layer.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

// tarLayer makes a layer holding exactly the given entries, in order.
func tarLayer(t testing.TB, mt types.MediaType, entries ...tarEntry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ, mode := e.typ, e.mode
		if typ == 0 {
			typ = tar.TypeReg
		}
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.link, Uid: 1000, Gid: 1000, Uname: "dev"}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, tarball.WithMediaType(mt))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// whiteoutImage is a Docker image whose upper layer deletes files and makes a directory opaque.
func whiteoutImage(t testing.TB) v1.Image {
	t.Helper()
	lower := tarLayer(t, types.DockerLayer,
		tarEntry{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "etc/hosts", body: "127.0.0.1 localhost\n"},
		tarEntry{name: "etc/motd", body: "hello\n"},
		tarEntry{name: "opt/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "opt/tool/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "opt/tool/old", body: "old"},
	)
	upper := tarLayer(t, types.DockerLayer,
		tarEntry{name: "etc/.wh.motd"},
		tarEntry{name: "opt/tool/.wh..wh..opq"},
		tarEntry{name: "opt/tool/new", body: "new", mode: 0o755},
	)
	img, err := mutate.AppendLayers(empty.Image, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// fsEntry is one path of a flattened filesystem.
type fsEntry struct {
	Type    byte
	Mode    int64
	Link    string
	Content string // sha256 of a regular file's bytes
}

// flatten applies layers in order, honouring whiteouts and opaque directories, and returns the
// resulting filesystem. Hard links become regular files with their target's content.
func flatten(t testing.TB, layers []v1.Layer) map[string]fsEntry {
	t.Helper()
	fs := map[string]fsEntry{}
	removeUnder := func(dir string, self bool) {
		for p := range fs {
			if (self && p == dir) || dir == "" || strings.HasPrefix(p, dir+"/") {
				delete(fs, p)
			}
		}
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		type added struct {
			name string
			e    fsEntry
		}
		var adds []added
		var whiteouts, opaques []string
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := strings.Trim(path.Clean("/"+hdr.Name), "/")
			dir, base := path.Dir(name), path.Base(name)
			if dir == "." {
				dir = ""
			}
			switch {
			case base == ".wh..wh..opq":
				opaques = append(opaques, dir)
				continue
			case strings.HasPrefix(base, ".wh."):
				whiteouts = append(whiteouts, path.Join(dir, strings.TrimPrefix(base, ".wh.")))
				continue
			}
			e := fsEntry{Type: hdr.Typeflag, Mode: hdr.Mode & 0o7777}
			switch hdr.Typeflag {
			case tar.TypeReg:
				h := sha256.New()
				if _, err := io.Copy(h, tr); err != nil {
					t.Fatal(err)
				}
				e.Content = hex.EncodeToString(h.Sum(nil))
			case tar.TypeSymlink:
				e.Link = hdr.Linkname
			case tar.TypeLink:
				target := strings.Trim(path.Clean("/"+hdr.Linkname), "/")
				var found bool
				for _, a := range adds {
					if a.name == target {
						e.Type, e.Content, found = tar.TypeReg, a.e.Content, true
					}
				}
				if !found {
					e.Type, e.Content = tar.TypeReg, fs[target].Content
				}
			}
			adds = append(adds, added{name, e})
		}
		rc.Close()
		for _, w := range whiteouts {
			removeUnder(w, true)
		}
		for _, o := range opaques {
			removeUnder(o, false)
		}
		for _, a := range adds {
			if a.e.Type != tar.TypeDir {
				removeUnder(a.name, false)
			}
			fs[a.name] = a.e
		}
	}
	return fs
}

// sdkFile is one file of the test SDK tree.
type sdkFile struct {
	path, body string
	exec       bool
}

var sdkFiles = []sdkFile{
	{path: "bin/agent", body: "#!/bin/sh\necho agent\n", exec: true},
	{path: "lib/agent/__init__.py", body: "VERSION = 1\n"},
	{path: "lib/agent/core.py", body: "def run():\n    return 42\n"},
	{path: "README", body: "the agent server\n"},
}

// writeSDK writes the SDK tree under dir with the given permission bits and mtime skew, plus a
// symlink and a hard link, and returns dir.
func writeSDK(t testing.TB, dir string, regMode, execMode os.FileMode, order []int) string {
	t.Helper()
	for _, i := range order {
		f := sdkFiles[i]
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		mode := regMode
		if f.exec {
			mode = execMode
		}
		if err := os.WriteFile(p, []byte(f.body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("bin/agent", filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "README"), filepath.Join(dir, "lib", "README.txt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sdkFS is the filesystem the SDK tree should add under at ("agent-server").
func sdkFS(at string) map[string]fsEntry {
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return hex.EncodeToString(h[:])
	}
	fs := map[string]fsEntry{}
	dir := fsEntry{Type: tar.TypeDir, Mode: 0o755}
	fs[at] = dir
	for _, f := range sdkFiles {
		mode := int64(0o644)
		if f.exec {
			mode = 0o755
		}
		p := path.Join(at, f.path)
		fs[p] = fsEntry{Type: tar.TypeReg, Mode: mode, Content: sum(f.body)}
		for d := path.Dir(p); d != at; d = path.Dir(d) {
			fs[d] = dir
		}
	}
	fs[path.Join(at, "current")] = fsEntry{Type: tar.TypeSymlink, Mode: 0o777, Link: "bin/agent"}
	fs[path.Join(at, "lib/README.txt")] = fsEntry{Type: tar.TypeReg, Mode: 0o644, Content: sum("the agent server\n")}
	return fs
}

// push writes an image or index to the registry with a transport nobody counts.
func push(t testing.TB, r name.Reference, x any) {
	t.Helper()
	var err error
	switch v := x.(type) {
	case v1.Image:
		err = remote.Write(r, v)
	case v1.ImageIndex:
		err = remote.WriteIndex(r, v)
	default:
		t.Fatalf("push %T", x)
	}
	if err != nil {
		t.Fatal(err)
	}
}
