package registry_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/registry"
)

func TestBlobPushMountFetch(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	c := newClient()
	base, app := r.Host+"/eval-base", r.Host+"/eval-agent-server"
	content := []byte("the shared SDK layer")
	d := digest.FromBytes(content).String()

	if ok, err := c.BlobExists(t.Context(), base, d); err != nil || ok {
		t.Fatalf("BlobExists before the push = %v, %v; want false, nil", ok, err)
	}
	if err := c.PushBlob(t.Context(), base, d, int64(len(content)), io.NopCloser(bytes.NewReader(content))); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.BlobExists(t.Context(), base, d); err != nil || !ok {
		t.Fatalf("BlobExists after the push = %v, %v; want true, nil", ok, err)
	}

	mounted, err := c.MountBlob(t.Context(), app, base, d)
	if err != nil || !mounted {
		t.Fatalf("MountBlob = %v, %v; want true, nil", mounted, err)
	}
	rc, err := c.FetchBlob(t.Context(), app, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("FetchBlob of the mounted blob = %q, %v; want %q", got, err, content)
	}

	unknown := digest.FromString("never pushed").String()
	if mounted, err := c.MountBlob(t.Context(), app, base, unknown); err != nil || mounted {
		t.Errorf("MountBlob of an unknown blob = %v, %v; want false, nil", mounted, err)
	}
	if _, err := c.FetchBlob(t.Context(), app, unknown); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("FetchBlob of an unknown blob: err = %v, want ErrNotFound", err)
	}
	if mounted, err := c.MountBlob(t.Context(), app, "127.0.0.2:1/elsewhere", d); err != nil || mounted {
		t.Errorf("MountBlob across registries = %v, %v; want false, nil", mounted, err)
	}
}

func TestPushBlobWrongDigestIsRefused(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	c := newClient()
	d := digest.FromString("something else").String()
	err := c.PushBlob(t.Context(), r.Host+"/eval-base", d, 4, strings.NewReader("data"))
	var rerr *registry.Error
	if !errors.As(err, &rerr) || rerr.Code != "DIGEST_INVALID" {
		t.Fatalf("err = %v, want DIGEST_INVALID", err)
	}
}

func TestFetchBlobDetectsCorruptBytes(t *testing.T) {
	dir := t.TempDir()
	r := startRegistry(t, regtest.Options{Dir: dir})
	c := newClient()
	repo := r.Host + "/eval-base"
	content := []byte("layer bytes that will rot")
	d := digest.FromBytes(content)
	if err := c.PushBlob(t.Context(), repo, d.String(), int64(len(content)), bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "docker/registry/v2/blobs/sha256", d.Encoded()[:2], d.Encoded(), "data")
	if err := os.WriteFile(data, bytes.ToUpper(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := c.FetchBlob(t.Context(), repo, d.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Errorf("reading corrupt blob: err = %v, want ErrDigestMismatch", err)
	}
}
