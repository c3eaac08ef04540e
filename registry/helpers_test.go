package registry_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/transport"
)

// TestMain keeps the developer's own credentials out of the tests: an empty Docker config and no
// REGTIDY_* variables.
func TestMain(m *testing.M) {
	os.Exit(regtest.RunWithoutCredentials(m, registry.EnvUsername, registry.EnvPassword))
}

// startRegistry runs a real distribution registry for the test.
func startRegistry(t *testing.T, opts regtest.Options) *regtest.Registry {
	t.Helper()
	r, err := regtest.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// newClient returns a client with millisecond backoffs, so retried tests stay fast.
func newClient(opts ...registry.Option) *registry.Client {
	fast := registry.WithRetry(transport.RetryOptions{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond})
	return registry.New(append([]registry.Option{fast}, opts...)...)
}

// image is a manifest pushed by a test, with its raw bytes.
type image struct {
	desc inventory.Descriptor
	raw  []byte
}

// Media types of image parts, by manifest flavour.
var (
	configType = map[string]string{
		inventory.MediaTypeOCIManifest:    "application/vnd.oci.image.config.v1+json",
		inventory.MediaTypeDockerManifest: "application/vnd.docker.container.image.v1+json",
	}
	layerType = map[string]string{
		inventory.MediaTypeOCIManifest:    "application/vnd.oci.image.layer.v1.tar+gzip",
		inventory.MediaTypeDockerManifest: "application/vnd.docker.image.rootfs.diff.tar.gzip",
	}
)

// pushBlob uploads content to repo (with the test credentials, for registries that want them)
// and returns its descriptor.
func pushBlob(t *testing.T, c *registry.Client, repo, mediaType string, content []byte) inventory.Descriptor {
	t.Helper()
	host, path, _ := strings.Cut(repo, "/")
	d, err := casegen.PushBlob(t.Context(), casegen.BasicAuth(testUser, testPassword), host, path, content)
	if err != nil {
		t.Fatalf("push blob: %v", err)
	}
	return inventory.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

// pushImage pushes a one-layer image manifest of mediaType (OCI or Docker v2) under tag; seed
// makes its content distinct.
func pushImage(t *testing.T, c *registry.Client, repo, tag, mediaType, seed string) image {
	t.Helper()
	cfg := pushBlob(t, c, repo, configType[mediaType], []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"seed":%q}}}`, seed)))
	layer := pushBlob(t, c, repo, layerType[mediaType], []byte("layer of "+seed))
	m := map[string]any{"schemaVersion": 2, "mediaType": mediaType, "config": cfg, "layers": []inventory.Descriptor{layer}}
	return pushManifest(t, c, repo, tag, mediaType, m)
}

// pushIndex pushes an index of mediaType (OCI index or Docker list) over children under tag.
func pushIndex(t *testing.T, c *registry.Client, repo, tag, mediaType string, children ...image) image {
	t.Helper()
	var ms []map[string]any
	for _, ch := range children {
		ms = append(ms, map[string]any{"mediaType": ch.desc.MediaType, "digest": ch.desc.Digest, "size": ch.desc.Size,
			"platform": map[string]string{"os": "linux", "architecture": "amd64"}})
	}
	return pushManifest(t, c, repo, tag, mediaType, map[string]any{"schemaVersion": 2, "mediaType": mediaType, "manifests": ms})
}

func pushManifest(t *testing.T, c *registry.Client, repo, tag, mediaType string, m any) image {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PushManifest(t.Context(), repo, tag, mediaType, raw); err != nil {
		t.Fatalf("push manifest %s:%s: %v", repo, tag, err)
	}
	sum := sha256.Sum256(raw)
	return image{desc: inventory.Descriptor{MediaType: mediaType, Digest: fmt.Sprintf("sha256:%x", sum), Size: int64(len(raw))}, raw: raw}
}

// tagAll pushes img's manifest under each tag.
func tagAll(t *testing.T, c *registry.Client, repo string, img image, tags ...string) {
	t.Helper()
	for _, tag := range tags {
		if err := c.PushManifest(t.Context(), repo, tag, img.desc.MediaType, img.raw); err != nil {
			t.Fatalf("tag %s: %v", tag, err)
		}
	}
}

// listAll lists repo and returns the pages received.
func listAll(t *testing.T, c *registry.Client, repo string) ([][]string, error) {
	t.Helper()
	var pages [][]string
	err := c.ListTags(t.Context(), repo, func(tags []string) error {
		pages = append(pages, tags)
		return nil
	})
	return pages, err
}
