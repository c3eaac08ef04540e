package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	dIndex  = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	dImage  = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	dAttest = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	dSig    = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
	dSbom   = "sha256:5555555555555555555555555555555555555555555555555555555555555555"
	dOther  = "sha256:6666666666666666666666666666666666666666666666666666666666666666"
)

func TestReferrerTagDigest(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		tag  string
		want string
		ok   bool
	}{
		{"sha256-" + hex, "sha256:" + hex, true},
		{"sha256-" + hex + ".sig", "sha256:" + hex, true},
		{"sha256-" + hex + ".att", "sha256:" + hex, true},
		{"sha256-" + hex + "x", "", false},
		{"sha256-" + strings.ToUpper(hex), "", false},
		{"sha256-abc", "", false},
		{"v1.0.0", "", false},
		{"sha512-" + hex, "", false},
	} {
		got, ok := ReferrerTagDigest(tc.tag)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ReferrerTagDigest(%q) = %q, %v; want %q, %v", tc.tag, got, ok, tc.want, tc.ok)
		}
	}
}

func testInventory() *Inventory {
	sigTag := "sha256-" + strings.TrimPrefix(dIndex, "sha256:") + ".sig"
	return &Inventory{
		Repository: "127.0.0.1:5000/r",
		Tags:       []Tag{{Name: "a", Digest: dIndex}, {Name: "b", Digest: dOther}, {Name: sigTag, Digest: dSig}},
		Manifests: map[string]*Manifest{
			dIndex: {Digest: dIndex, MediaType: MediaTypeOCIIndex, Manifests: []Descriptor{
				{Digest: dImage, Platform: "linux/amd64"},
				{Digest: dAttest, Platform: "unknown/unknown", ReferenceType: "attestation-manifest"},
			}},
			dImage:  {Digest: dImage, MediaType: MediaTypeOCIManifest, Config: &Blob{Digest: "sha256:c1", Size: 10}, Layers: []Layer{{Digest: "sha256:l1", Size: 100}, {Digest: "sha256:l2", Size: 1000}}},
			dAttest: {Digest: dAttest, MediaType: MediaTypeOCIManifest, Config: &Blob{Digest: "sha256:c2", Size: 5}, Layers: []Layer{{Digest: "sha256:att", Size: 7}}},
			dSig:    {Digest: dSig, MediaType: MediaTypeOCIManifest},
			dSbom:   {Digest: dSbom, MediaType: MediaTypeOCIManifest, Extra: &ManifestExtra{Subject: dIndex}},
			dOther:  {Digest: dOther, MediaType: MediaTypeOCIManifest, Config: &Blob{Digest: "sha256:c3", Size: 10}, Layers: []Layer{{Digest: "sha256:l1", Size: 100}}},
		},
	}
}

func TestClosureFollowsChildrenAndReferrers(t *testing.T) {
	inv := testInventory()
	got := inv.Closure(inv.Referrers(), dIndex)
	want := []string{dIndex, dImage, dAttest, dSig, dSbom}
	sortStrings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Closure (-want +got):\n%s", diff)
	}
	if got := inv.Closure(nil, dOther); !cmp.Equal(got, []string{dOther}) {
		t.Errorf("Closure(other) = %v", got)
	}
}

func TestImageSizeSkipsAttestations(t *testing.T) {
	inv := testInventory()
	if got := inv.ImageSize(dIndex); got != 1110 {
		t.Errorf("ImageSize(index) = %d, want 1110 (config + layers of the amd64 image)", got)
	}
}

func TestFingerprintChangesWhenATagMoves(t *testing.T) {
	a := testInventory()
	b := testInventory()
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("equal inventories have different fingerprints")
	}
	b.Tags[1].Digest = dImage
	if a.Fingerprint() == b.Fingerprint() {
		t.Fatal("a moved tag did not change the fingerprint")
	}
}

func TestParseManifestDockerList(t *testing.T) {
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"` + dImage + `","size":5,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}`)
	in := &Interner{}
	m, err := ParseManifest(dIndex, "", raw, in)
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsIndex() || len(m.Manifests) != 1 || m.Manifests[0].Platform != "linux/arm64/v8" {
		t.Errorf("parsed %+v", m)
	}
	if _, err := ParseManifest(dIndex, "", []byte("{"), in); err == nil {
		t.Error("malformed JSON parsed without error")
	}
}

// TestParseManifestKeepsWhatRegtidyReads: an OCI image manifest's config, layers, subject and
// artifact type, its creation time, and of its annotations only the base image's; an attestation
// child's reference type; nothing extra for a plain image.
func TestParseManifestKeepsWhatRegtidyReads(t *testing.T) {
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
		"artifactType":"application/vnd.example+json",
		"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:c1","size":10},
		"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:l1","size":100,"annotations":{"x":"y"}}],
		"subject":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + dIndex + `","size":9},
		"annotations":{"org.opencontainers.image.created":"2025-11-20T10:00:00Z","org.opencontainers.image.base.name":"docker.io/library/python:3.12",
			"org.opencontainers.image.base.digest":"sha256:b1","org.opencontainers.image.title":"not kept"}}`)
	m, err := ParseManifest(dImage, "", raw, &Interner{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Digest: dImage, MediaType: MediaTypeOCIManifest, Size: int64(len(raw)),
		Config:  &Blob{MediaType: "application/vnd.oci.image.config.v1+json", Digest: "sha256:c1", Size: 10},
		Layers:  []Layer{{Digest: "sha256:l1", Size: 100}},
		Created: time.Date(2025, 11, 20, 10, 0, 0, 0, time.UTC),
		Extra: &ManifestExtra{ArtifactType: "application/vnd.example+json", Subject: dIndex,
			Annotations: map[string]string{AnnotationBaseName: "docker.io/library/python:3.12", AnnotationBaseDigest: "sha256:b1"}},
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	if m.Subject() != dIndex || m.Annotation(AnnotationBaseDigest) != "sha256:b1" {
		t.Errorf("Subject() %q, base digest %q", m.Subject(), m.Annotation(AnnotationBaseDigest))
	}
	plain, err := ParseManifest(dOther, "", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"digest":"sha256:c3","size":1},"layers":[],"annotations":{"a":"b"}}`), nil)
	if err != nil || plain.Extra != nil || plain.Subject() != "" || plain.Annotation(AnnotationBaseName) != "" {
		t.Errorf("plain image: %+v, %v", plain, err)
	}
	idx, err := ParseManifest(dIndex, "", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
		{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+dAttest+`","size":5,"platform":{"os":"unknown","architecture":"unknown"},
		 "annotations":{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"`+dImage+`"}}]}`), nil)
	if err != nil || len(idx.Manifests) != 1 || !idx.Manifests[0].IsAttestation() || idx.Manifests[0].Platform != "unknown/unknown" {
		t.Errorf("index: %+v, %v", idx, err)
	}
}

func TestCacheDetectsCorruptEntry(t *testing.T) {
	dir := t.TempDir()
	raw := []byte(`{"schemaVersion":2}`)
	d := DigestOf(raw)
	c, err := OpenCache(dir, "127.0.0.1:5000/org/repo")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(d, MediaTypeOCIManifest, raw); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(dOther, MediaTypeOCIManifest, raw); err == nil {
		t.Error("Put accepted bytes that do not match the digest")
	}
	c.Close()

	// Flip a byte of the stored manifest on disk.
	pack := filepath.Join(dir, "manifests", "127.0.0.1_5000", "org", "repo", "pack")
	b, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), "schemaVersion")
	b[i] = 'X'
	if err := os.WriteFile(pack, b, 0o644); err != nil {
		t.Fatal(err)
	}

	c, err = OpenCache(dir, "127.0.0.1:5000/org/repo")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, ok := c.Get(d); ok {
		t.Fatal("corrupt entry returned as a hit")
	}
	if c.Corrupt() != 1 {
		t.Errorf("Corrupt() = %d, want 1", c.Corrupt())
	}
	// Fetched again and stored: the new record supersedes the corrupt one, also after reopening.
	if err := c.Put(d, MediaTypeOCIManifest, raw); err != nil {
		t.Fatal(err)
	}
	got, mt, ok := c.Get(d)
	if !ok || string(got) != string(raw) || mt != MediaTypeOCIManifest {
		t.Fatalf("Get after re-Put = %q, %q, %v", got, mt, ok)
	}
	c.Close()
	c2, err := OpenCache(dir, "127.0.0.1:5000/org/repo")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got, _, ok := c2.Get(d); !ok || string(got) != string(raw) {
		t.Fatalf("after reopen: %q, %v", got, ok)
	}
}
