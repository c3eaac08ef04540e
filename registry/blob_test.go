package registry_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/registry"
)

func TestBlobExistsAndFetch(t *testing.T) {
	r := startRegistry(t, regtest.Options{})
	c := newClient()
	base := r.Host + "/eval-base"
	content := []byte("the shared SDK layer")
	d := digest.FromBytes(content).String()

	if ok, err := c.BlobExists(t.Context(), base, d); err != nil || ok {
		t.Fatalf("BlobExists before the push = %v, %v; want false, nil", ok, err)
	}
	if _, err := casegen.PushBlob(t.Context(), nil, r.Host, "eval-base", content); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.BlobExists(t.Context(), base, d); err != nil || !ok {
		t.Fatalf("BlobExists after the push = %v, %v; want true, nil", ok, err)
	}
	rc, err := c.FetchBlob(t.Context(), base, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("FetchBlob = %q, %v; want %q", got, err, content)
	}
	unknown := digest.FromString("never pushed").String()
	if _, err := c.FetchBlob(t.Context(), base, unknown); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("FetchBlob of an unknown blob: err = %v, want ErrNotFound", err)
	}
}

func TestFetchBlobDetectsCorruptBytes(t *testing.T) {
	dir := t.TempDir()
	r := startRegistry(t, regtest.Options{Dir: dir})
	c := newClient()
	repo := r.Host + "/eval-base"
	content := []byte("layer bytes that will rot")
	d := digest.FromBytes(content)
	if _, err := casegen.PushBlob(t.Context(), nil, r.Host, "eval-base", content); err != nil {
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
