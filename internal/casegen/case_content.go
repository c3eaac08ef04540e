package casegen

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The materializer turns planned manifests into bytes, as buildx, BuildKit's registry cache and
// cosign write them. Contents are tiny but real (layers are gzip'd tarballs whose diff_ids match),
// and every descriptor's size is the byte count of what is pushed.

// Media types and annotations the case writes besides those in image-spec.
const (
	mediaTypeInToto         = "application/vnd.in-toto+json"
	mediaTypeCacheConfig    = "application/vnd.buildkit.cacheconfig.v0"
	mediaTypeSimpleSigning  = "application/vnd.dev.cosign.simplesigning.v1+json"
	mediaTypeSigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	annotationPredicateType = "in-toto.io/predicate-type"
	predicateProvenance     = "https://slsa.dev/provenance/v0.2"
	annotationRefType       = "vnd.docker.reference.type"
	annotationRefDigest     = "vnd.docker.reference.digest"
	annotationCosignSig     = "dev.cosignproject.cosign/signature"
)

// blobData is one blob to upload.
type blobData struct {
	digest string
	data   []byte
}

// manifestDoc is one manifest to put.
type manifestDoc struct {
	mediaType string
	digest    string
	data      []byte
}

// bundle is what one planned manifest needs pushed: blobs first, then children by digest, and
// last the manifest the tags point at.
type bundle struct {
	blobs     []blobData
	manifests []manifestDoc
}

// top is the tagged manifest.
func (b bundle) top() manifestDoc { return b.manifests[len(b.manifests)-1] }

// materializer builds bundles; shared layers are built once and cached.
type materializer struct {
	seed int64
	repo string

	mu     sync.Mutex
	layers map[string]layer
}

// layer is a gzip'd tarball and the digest of the tar inside (its diff_id).
type layer struct {
	blob   blobData
	diffID string
}

func newMaterializer(seed int64, repo string) *materializer {
	return &materializer{seed: seed, repo: repo, layers: map[string]layer{}}
}

// layer returns the shared layer named key, building it on first use. The gzip stream uses stored
// (uncompressed) blocks, so its bytes do not depend on the toolchain's deflate implementation.
func (m *materializer) layer(key string) layer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.layers[key]; ok {
		return l
	}
	content := fmt.Sprintf("regtest layer %s\nseed %d\n", key, m.seed)
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	name := "opt/regtest/" + strings.NewReplacer("/", "_", ":", "_").Replace(key)
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg,
		ModTime: time.Unix(946684800, 0), Format: tar.FormatUSTAR}
	_ = tw.WriteHeader(hdr) // writes to a bytes.Buffer cannot fail
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	var gb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gb, gzip.NoCompression)
	_, _ = zw.Write(tb.Bytes())
	_ = zw.Close()
	l := layer{blob: newBlob(gb.Bytes()), diffID: sha256Digest(tb.Bytes())}
	m.layers[key] = l
	return l
}

// layerKeys are the layers of an image: base layers shared per benchmark (and per instance or
// repository), a Dockerfile layer shared per Dockerfile hash, and one SDK layer per commit.
func layerKeys(mp *manifestPlan, commits []Commit) []string {
	var keys []string
	switch mp.bench {
	case BenchSWEBench:
		repo, _, _ := strings.Cut(mp.group, "_1776_")
		keys = []string{"swebench/os", "swebench/env/" + repo, "swebench/instance/" + mp.group}
	case BenchCommit0:
		keys = []string{"commit0/os", "commit0/repo/" + mp.group}
	case BenchGAIA:
		keys = []string{"python-nodejs/os", "python-nodejs/runtime", "gaia/tools"}
	default:
		keys = []string{"python-nodejs/os", "python-nodejs/runtime"}
	}
	if mp.df != "" {
		keys = append(keys, "dockerfile/"+mp.df)
	}
	switch {
	case mp.kind == KindLegacy:
		keys = append(keys, fmt.Sprintf("legacy/%d", mp.seq))
	case mp.kind == KindImage:
		keys = append(keys, "sdk/"+commits[mp.commit].SHA)
	}
	return keys
}

// image builds an image push: config, image manifest, provenance attestation and the index.
func (m *materializer) image(mp *manifestPlan, tag string, commits []Commit) bundle {
	var b bundle
	var layers []v1.Descriptor
	var diffIDs []digest.Digest
	var history []v1.History
	created := mp.created.UTC()
	for _, key := range layerKeys(mp, commits) {
		l := m.layer(key)
		b.blobs = append(b.blobs, l.blob)
		layers = append(layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.Digest(l.blob.digest), Size: int64(len(l.blob.data))})
		diffIDs = append(diffIDs, digest.Digest(l.diffID))
		history = append(history, v1.History{Created: &created, CreatedBy: "RUN /bin/sh -c " + key + " # buildkit", Comment: "buildkit.dockerfile.v0"})
	}
	labels := map[string]string{
		"org.opencontainers.image.created": created.Format(time.RFC3339),
		"org.opencontainers.image.title":   path.Base(m.repo),
		"org.opencontainers.image.version": tag,
	}
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	if mp.commit >= 0 {
		labels["org.opencontainers.image.revision"] = commits[mp.commit].SHA
		env = append(env, "OPENHANDS_SDK_COMMIT="+commits[mp.commit].SHA)
	}
	if mp.group != "" {
		env = append(env, "EVAL_INSTANCE="+mp.group)
	}
	cfg := v1.Image{
		Created:  &created,
		Platform: v1.Platform{Architecture: "amd64", OS: "linux"},
		Config: v1.ImageConfig{Env: env, Entrypoint: []string{"/usr/local/bin/openhands-agent-server"},
			WorkingDir: "/workspace", Labels: labels},
		RootFS:  v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		History: history,
	}
	cfgBlob := newBlob(mustJSON(cfg))
	b.blobs = append(b.blobs, cfgBlob)
	img := manifestJSON(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.Digest(cfgBlob.digest), Size: int64(len(cfgBlob.data))},
		Layers: layers,
	})
	att := m.attestation(&b, img, tag, created)
	b.manifests = append(b.manifests, img, att)
	idx := manifestDoc{mediaType: v1.MediaTypeImageIndex}
	idx.data = mustJSON(v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex,
		Manifests: []v1.Descriptor{
			{MediaType: v1.MediaTypeImageManifest, Digest: digest.Digest(img.digest), Size: int64(len(img.data)),
				Platform: &v1.Platform{Architecture: "amd64", OS: "linux"}},
			{MediaType: v1.MediaTypeImageManifest, Digest: digest.Digest(att.digest), Size: int64(len(att.data)),
				Annotations: map[string]string{annotationRefDigest: img.digest, annotationRefType: "attestation-manifest"},
				Platform:    &v1.Platform{Architecture: "unknown", OS: "unknown"}},
		},
	})
	idx.digest = sha256Digest(idx.data)
	b.manifests = append(b.manifests, idx)
	return b
}

// attestation builds buildx's provenance attestation manifest for img and adds its blobs to b.
func (m *materializer) attestation(b *bundle, img manifestDoc, tag string, created time.Time) manifestDoc {
	hexPart := strings.TrimPrefix(img.digest, "sha256:")
	statement := map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": predicateProvenance,
		"subject": []any{map[string]any{
			"name":   "pkg:docker/" + m.repo + "@" + tag + "?platform=linux%2Famd64",
			"digest": map[string]string{"sha256": hexPart},
		}},
		"predicate": map[string]any{
			"builder":   map[string]string{"id": ""},
			"buildType": "https://mobyproject.org/buildkit@v1",
			"invocation": map[string]any{
				"configSource": map[string]string{"entryPoint": "Dockerfile"},
				"parameters":   map[string]any{"frontend": "dockerfile.v0", "args": map[string]string{"target": targetSource}},
			},
			"metadata": map[string]any{
				"buildStartedOn":  created.Add(-4 * time.Minute).Format(time.RFC3339),
				"buildFinishedOn": created.Format(time.RFC3339),
				"completeness":    map[string]bool{"parameters": false, "environment": true, "materials": false},
				"reproducible":    false,
			},
		},
	}
	prov := newBlob(mustJSON(statement))
	cfg := newBlob(mustJSON(v1.Image{
		Platform: v1.Platform{Architecture: "unknown", OS: "unknown"},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.Digest(prov.digest)}},
	}))
	b.blobs = append(b.blobs, prov, cfg)
	return manifestJSON(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.Digest(cfg.digest), Size: int64(len(cfg.data))},
		Layers: []v1.Descriptor{{MediaType: mediaTypeInToto, Digest: digest.Digest(prov.digest), Size: int64(len(prov.data)),
			Annotations: map[string]string{annotationPredicateType: predicateProvenance}}},
	})
}

// buildcache builds a BuildKit registry cache manifest (image-manifest=true, OCI media types).
func (m *materializer) buildcache(mp *manifestPlan, tag string) bundle {
	var b bundle
	created := mp.created.UTC()
	type cacheLayer struct {
		Blob        string            `json:"blob"`
		ParentIndex int               `json:"parent"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var cls []cacheLayer
	var layers []v1.Descriptor
	for i, key := range layerKeys(mp, nil) {
		l := m.layer(key)
		b.blobs = append(b.blobs, l.blob)
		ann := map[string]string{"buildkit/createdat": created.Format(time.RFC3339Nano), "containerd.io/uncompressed": l.diffID}
		layers = append(layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.Digest(l.blob.digest),
			Size: int64(len(l.blob.data)), Annotations: ann})
		cls = append(cls, cacheLayer{Blob: l.blob.digest, ParentIndex: i - 1, Annotations: ann})
	}
	record := "sha256:" + seededHex(m.seed, 64, "cache-record", tag, created.Unix())
	cfg := newBlob(mustJSON(map[string]any{
		"layers":  cls,
		"records": []any{map[string]any{"digest": record, "results": []any{map[string]any{"result": len(cls) - 1, "createdAt": created.Format(time.RFC3339Nano)}}}},
	}))
	b.blobs = append(b.blobs, cfg)
	b.manifests = append(b.manifests, manifestJSON(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config:      v1.Descriptor{MediaType: mediaTypeCacheConfig, Digest: digest.Digest(cfg.digest), Size: int64(len(cfg.data))},
		Layers:      layers,
		Annotations: map[string]string{v1.AnnotationCreated: created.Format(time.RFC3339)},
	}))
	return b
}

// signature builds a cosign signature manifest for the subject (tagged "sha256-<hex>.sig").
func (m *materializer) signature(mp *manifestPlan) bundle {
	var b bundle
	payload := newBlob(mustJSON(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": "ghcr.io/" + m.repo},
			"image":    map[string]string{"docker-manifest-digest": mp.subject.digest},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	}))
	zero := time.Time{}
	cfg := newBlob(mustJSON(v1.Image{
		Created: &zero, History: []v1.History{{Created: &zero}},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.Digest(payload.digest)}},
	}))
	sig := sha256.Sum256([]byte(fmt.Sprintf("%d/%s", m.seed, mp.subject.digest)))
	b.blobs = append(b.blobs, payload, cfg)
	b.manifests = append(b.manifests, manifestJSON(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.Digest(cfg.digest), Size: int64(len(cfg.data))},
		Layers: []v1.Descriptor{{MediaType: mediaTypeSimpleSigning, Digest: digest.Digest(payload.digest), Size: int64(len(payload.data)),
			Annotations: map[string]string{annotationCosignSig: base64.StdEncoding.EncodeToString(sig[:])}}},
	}))
	return b
}

// referrersIndex builds an OCI 1.1 artifact whose subject is the image, and the referrers tag
// schema index listing it (tagged "sha256-<hex>"), as clients do where the referrers API is absent.
func (m *materializer) referrersIndex(mp *manifestPlan) bundle {
	var b bundle
	created := mp.created.UTC().Format(time.RFC3339)
	empty := newBlob([]byte("{}"))
	bundleBlob := newBlob(mustJSON(map[string]any{
		"mediaType":            mediaTypeSigstoreBundle,
		"verificationMaterial": map[string]any{"publicKey": map[string]string{"hint": seededHex(m.seed, 16, "key")}},
		"dsseEnvelope":         map[string]string{"payloadType": "application/vnd.in-toto+json", "payload": mp.subject.digest},
	}))
	b.blobs = append(b.blobs, empty, bundleBlob)
	art := manifestJSON(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		ArtifactType: mediaTypeSigstoreBundle,
		Config:       v1.DescriptorEmptyJSON,
		Layers:       []v1.Descriptor{{MediaType: mediaTypeSigstoreBundle, Digest: digest.Digest(bundleBlob.digest), Size: int64(len(bundleBlob.data))}},
		Subject:      &v1.Descriptor{MediaType: v1.MediaTypeImageIndex, Digest: digest.Digest(mp.subject.digest), Size: mp.subject.size},
		Annotations:  map[string]string{v1.AnnotationCreated: created},
	})
	idx := manifestDoc{mediaType: v1.MediaTypeImageIndex}
	idx.data = mustJSON(v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex,
		Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, ArtifactType: mediaTypeSigstoreBundle,
			Digest: digest.Digest(art.digest), Size: int64(len(art.data)), Annotations: map[string]string{v1.AnnotationCreated: created}}},
	})
	idx.digest = sha256Digest(idx.data)
	b.manifests = append(b.manifests, art, idx)
	return b
}

// bundleFor materializes any planned manifest of the case.
func (m *materializer) bundleFor(mp *manifestPlan, tag string, commits []Commit) bundle {
	switch {
	case mp.kind == KindBuildcache:
		return m.buildcache(mp, tag)
	case mp.kind == KindReferrer && mp.sig:
		return m.signature(mp)
	case mp.kind == KindReferrer:
		return m.referrersIndex(mp)
	default:
		return m.image(mp, tag, commits)
	}
}

func newBlob(data []byte) blobData { return blobData{digest: sha256Digest(data), data: data} }

func manifestJSON(man v1.Manifest) manifestDoc {
	data := mustJSON(man)
	return manifestDoc{mediaType: v1.MediaTypeImageManifest, digest: sha256Digest(data), data: data}
}

func sha256Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// mustJSON marshals values that always marshal (plain structs and maps of strings).
func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("regtest: marshal %T: %v", v, err))
	}
	return data
}
