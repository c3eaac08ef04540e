package registry_test

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry"
)

func TestResolveAndFetchEveryMediaType(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	c := newClient()
	repo := r.Host + "/eval-agent-server"
	oci := pushImage(t, c, repo, "a1b2c3d-oci", inventory.MediaTypeOCIManifest, "oci")
	docker := pushImage(t, c, repo, "a1b2c3d-docker", inventory.MediaTypeDockerManifest, "docker")
	index := pushIndex(t, c, repo, "a1b2c3d-index", inventory.MediaTypeOCIIndex, oci)
	list := pushIndex(t, c, repo, "a1b2c3d-list", inventory.MediaTypeDockerList, docker)

	for tag, want := range map[string]image{
		"a1b2c3d-oci": oci, "a1b2c3d-docker": docker, "a1b2c3d-index": index, "a1b2c3d-list": list,
	} {
		for _, ref := range []string{tag, want.desc.Digest} {
			t.Run(ref, func(t *testing.T) {
				got, err := c.Resolve(t.Context(), repo, ref)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want.desc, got); diff != "" {
					t.Errorf("Resolve (-want +got):\n%s", diff)
				}
				raw, desc, err := c.FetchManifest(t.Context(), repo, ref)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want.desc, desc); diff != "" {
					t.Errorf("FetchManifest descriptor (-want +got):\n%s", diff)
				}
				if !bytes.Equal(raw, want.raw) {
					t.Errorf("FetchManifest bytes differ from those pushed")
				}
			})
		}
	}
}

func TestResolveDeletedTagIsNotFound(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	c := newClient()
	repo := r.Host + "/eval-agent-server"
	img := pushImage(t, c, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	tagAll(t, c, repo, img, "v1.0.0-rc1")

	if err := c.DeleteManifest(t.Context(), repo, "v1.0.0-rc1"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Resolve(t.Context(), repo, "v1.0.0-rc1")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Resolve of a deleted tag: err = %v, want ErrNotFound", err)
	}
	var rerr *registry.Error
	if !errors.As(err, &rerr) || rerr.Status != http.StatusNotFound || rerr.Op != "resolve" || rerr.Ref != "v1.0.0-rc1" {
		t.Errorf("err = %#v, want a 404 *Error for resolve of v1.0.0-rc1", err)
	}
	if _, err := c.Resolve(t.Context(), repo, "v1.0.0"); err != nil {
		t.Errorf("the other tag of the same manifest: %v", err)
	}

	// Deleting twice is harmless: the second answer is ErrNotFound.
	if err := c.DeleteManifest(t.Context(), repo, "v1.0.0-rc1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
	if err := c.DeleteManifest(t.Context(), repo, img.desc.Digest); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.FetchManifest(t.Context(), repo, img.desc.Digest); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("fetch of a deleted digest: err = %v, want ErrNotFound", err)
	}
}

func TestDeleteRefusedIsUnsupported(t *testing.T) {
	r := startRegistry(t, regtest.Options{Wrap: func(h http.Handler) http.Handler {
		// A registry that refuses manifest deletes, as ghcr.io does.
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == http.MethodDelete {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusMethodNotAllowed)
				w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
				return
			}
			h.ServeHTTP(w, req)
		})
	}})
	c := newClient()
	repo := r.Host + "/eval-agent-server"
	pushImage(t, c, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	err := c.DeleteManifest(t.Context(), repo, "v1.0.0")
	if !errors.Is(err, registry.ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
	if !strings.Contains(err.Error(), "The operation is unsupported.") {
		t.Errorf("error %q lacks the registry's message", err)
	}
}

func TestFetchManifestDetectsCorruptBytes(t *testing.T) {
	dir := t.TempDir()
	r := startRegistry(t, regtest.Options{Dir: dir})
	c := newClient()
	repo := r.Host + "/eval-agent-server"
	img := pushImage(t, c, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")

	hex := strings.TrimPrefix(img.desc.Digest, "sha256:")
	data := filepath.Join(dir, "docker/registry/v2/blobs/sha256", hex[:2], hex, "data")
	raw, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	// Still a valid manifest, so the registry serves it; only its digest is wrong now.
	corrupt := bytes.Replace(raw, []byte(`{`), []byte(`{ `), 1)
	if bytes.Equal(corrupt, raw) {
		t.Fatal("the test did not change the stored manifest")
	}
	if err := os.WriteFile(data, corrupt, 0o644); err != nil {
		t.Fatal(err)
	}

	_, _, err = c.FetchManifest(t.Context(), repo, img.desc.Digest)
	if !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("fetch by digest of corrupt bytes: err = %v, want ErrDigestMismatch", err)
	}
}

func TestPushManifestRefusesWrongDigest(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	c := newClient()
	repo := r.Host + "/eval-agent-server"
	img := pushImage(t, c, repo, "v1.0.0", inventory.MediaTypeOCIManifest, "v1")
	other := append(bytes.Clone(img.raw), ' ')
	err := c.PushManifest(t.Context(), repo, img.desc.Digest, inventory.MediaTypeOCIManifest, other)
	if !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
	if err := c.PushManifest(t.Context(), repo, img.desc.Digest, inventory.MediaTypeOCIManifest, img.raw); err != nil {
		t.Errorf("push by its own digest: %v", err)
	}
}

func TestInvalidReferences(t *testing.T) {
	c := newClient()
	tests := []struct{ repo, ref string }{
		{"127.0.0.1:1/UPPER/case", "v1"},
		{"127.0.0.1:1/team/app", "-bad-tag"},
		{"127.0.0.1:1/team/app", "sha256:tooshort"},
	}
	for _, tt := range tests {
		_, err := c.Resolve(t.Context(), tt.repo, tt.ref)
		if !errors.Is(err, registry.ErrInvalidReference) {
			t.Errorf("Resolve(%q, %q): err = %v, want ErrInvalidReference", tt.repo, tt.ref, err)
		}
	}
	if n := c.Counter().Snapshot().Total(); n != 0 {
		t.Errorf("invalid references sent %d requests, want 0", n)
	}
}
