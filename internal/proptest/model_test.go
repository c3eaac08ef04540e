package proptest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// Media types the generated manifests use.
const (
	mtIndex    = inventory.MediaTypeOCIIndex
	mtManifest = inventory.MediaTypeOCIManifest
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtEmpty    = "application/vnd.oci.empty.v1+json"
	mtInToto   = "application/vnd.in-toto+json"
	// artifactSig is the artifact type of generated referrers (signatures, SBOMs).
	artifactSig = "application/vnd.regtidy.test.signature"
)

// blobData is a config or layer: its bytes and digest.
type blobData struct {
	digest, mediaType string
	raw               []byte
}

// childRef is one entry of an index: a child's digest and what it is to the index.
type childRef struct {
	digest      string
	attestation bool
	nested      bool
}

// node is one manifest of the model, with its exact bytes.
type node struct {
	digest, mediaType string
	raw               []byte
	// children are an index's entries; blobs an image's config then layers.
	children []childRef
	blobs    []blobData
	// subject is the digest this manifest refers to (an OCI referrer), or "".
	subject string
	// created is the creation annotation; zero when the manifest has none.
	created time.Time
	// seq is the push order: children and subjects always come earlier.
	seq int
}

// model is one generated repository: manifests by digest and tags, in push order.
type model struct {
	now   time.Time
	nodes map[string]*node
	order []string // digests in push order
	// tags maps a tag name to its digest.
	tags map[string]string
	// ghcrShape allows what only a registry listing its versions can see: untagged manifests
	// that no index lists (orphans) and untagged subject referrers.
	ghcrShape bool
	// commits is the SDK history a commits keep source returns (full 40-hex shas).
	commits []string
	// sdks are the 7-hex commits tags are built from: prefixes of commits, and others.
	sdks    []string
	blobSeq int
}

// tagNames returns the tag names, sorted.
func (m *model) tagNames() []string {
	names := make([]string, 0, len(m.tags))
	for t := range m.tags {
		names = append(names, t)
	}
	sort.Strings(names)
	return names
}

// tagsOf returns the tags of each digest, sorted.
func (m *model) tagsOf() map[string][]string {
	out := map[string][]string{}
	for _, t := range m.tagNames() {
		out[m.tags[t]] = append(out[m.tags[t]], t)
	}
	return out
}

// genOptions shape a generated repository.
type genOptions struct {
	// pushes is the most top-level pushes (images, indexes, artifacts).
	pushes    int
	ghcrShape bool
	now       time.Time
	// noUntaggedReferrers and noOrphanIndexes leave out, in the GHCR shape, untagged subject
	// referrers and untagged indexes (see TestKnownBugGHCROrphansHideReferrersAndChildren).
	noUntaggedReferrers, noOrphanIndexes bool
}

// genModel makes a random repository from r.
func genModel(r *rand.Rand, opt genOptions) *model {
	m := &model{now: opt.now, nodes: map[string]*node{}, tags: map[string]string{}, ghcrShape: opt.ghcrShape}
	for i := range 8 {
		sum := sha256.Sum256([]byte(fmt.Sprintf("commit-%d-%d", r.Uint64(), i)))
		m.commits = append(m.commits, hex.EncodeToString(sum[:20]))
	}
	for i, c := range m.commits {
		if i < 6 {
			m.sdks = append(m.sdks, c[:7])
		}
	}
	for range 3 {
		sum := sha256.Sum256([]byte(strconv.FormatUint(r.Uint64(), 10)))
		m.sdks = append(m.sdks, hex.EncodeToString(sum[:4])[:7])
	}
	// A pool of layers shared between images, so that blobs are reachable from several places.
	var layers []blobData
	for range 4 {
		layers = append(layers, m.newBlob(r, mtLayer))
	}
	n := 2 + r.IntN(max(opt.pushes-1, 1))
	images := []string{} // untagged-able platform images, for sharing
	indexes := []string{}
	for p := range n {
		created := m.createdAt(r)
		switch x := r.IntN(100); {
		case x < 30: // a single-platform image
			d := m.addImage(r, layers, created, "linux/amd64", r.IntN(10) == 0)
			images = append(images, d)
			m.tagTop(r, d)
		case x < 78: // a buildx push: index, one or two platform images, attestation manifests
			var kids []childRef
			for _, pl := range []string{"linux/amd64", "linux/arm64"}[:1+r.IntN(2)] {
				var img string
				if len(images) > 0 && r.IntN(6) == 0 {
					img = images[r.IntN(len(images))] // a child another index lists too
				} else {
					img = m.addImage(r, layers, created, pl, false)
					images = append(images, img)
				}
				kids = append(kids, childRef{digest: img})
				if r.IntN(3) > 0 {
					att := m.addAttestation(r, created, img)
					kids = append(kids, childRef{digest: att, attestation: true})
				}
			}
			if len(indexes) > 0 && r.IntN(6) == 0 {
				kids = append(kids, childRef{digest: indexes[r.IntN(len(indexes))], nested: true})
			}
			d := m.addIndex(created, kids, p)
			indexes = append(indexes, d)
			if m.ghcrShape && !opt.noOrphanIndexes && r.IntN(12) == 0 {
				continue // an untagged index: an orphan, with its children
			}
			m.tagTop(r, d)
		case x < 86 && len(indexes) > 0: // an index of indexes
			kids := []childRef{{digest: indexes[r.IntN(len(indexes))], nested: true}}
			img := m.addImage(r, layers, created, "linux/s390x", false)
			kids = append(kids, childRef{digest: img})
			d := m.addIndex(created, kids, p)
			indexes = append(indexes, d)
			m.tagTop(r, d)
		case x < 96 && len(m.order) > 0: // a referrer of an earlier manifest
			subject := m.order[r.IntN(len(m.order))]
			d := m.addArtifact(r, created, subject)
			switch {
			case r.IntN(2) == 0: // cosign style: tagged sha256-<subject hex>
				m.setTag(referrerTag(subject, r), d)
			case m.ghcrShape && !opt.noUntaggedReferrers: // untagged: found through its subject field only
			default:
				m.tagTop(r, d)
			}
		default: // an image tagged only by a referrer tag naming a digest that is not here
			d := m.addArtifact(r, created, "")
			sum := sha256.Sum256([]byte(strconv.FormatUint(r.Uint64(), 10)))
			m.setTag(referrerTag("sha256:"+hex.EncodeToString(sum[:]), r), d)
			if r.IntN(2) == 0 {
				m.tagTop(r, d)
			}
		}
		if m.ghcrShape && r.IntN(10) == 0 {
			m.addImage(r, layers, m.createdAt(r), "linux/amd64", false) // an untagged orphan image
		}
	}
	// Extra tags on existing digests: shared digests of several kinds.
	for range r.IntN(4) {
		top := m.tagged()
		if len(top) > 0 {
			m.setTag(m.tagName(r), top[r.IntN(len(top))])
		}
	}
	return m
}

// tagged returns the digests that have tags, in push order.
func (m *model) tagged() []string {
	has := map[string]bool{}
	for _, d := range m.tags {
		has[d] = true
	}
	var out []string
	for _, d := range m.order {
		if has[d] {
			out = append(out, d)
		}
	}
	return out
}

// createdAt draws a creation time within 60 days before now, on an odd second so that no age
// lands on a whole-day boundary.
func (m *model) createdAt(r *rand.Rand) time.Time {
	return m.now.Add(-time.Duration(r.IntN(60*24*3600)/2*2+1) * time.Second)
}

// tagTop gives a top-level manifest one to three tags.
func (m *model) tagTop(r *rand.Rand, d string) {
	for range 1 + r.IntN(3) {
		m.setTag(m.tagName(r), d)
	}
}

// setTag points a tag at d unless the name is taken (names are not moved: every top-level
// manifest keeps the tags it got).
func (m *model) setTag(name, d string) {
	if _, taken := m.tags[name]; !taken {
		m.tags[name] = d
	}
}

// referrerTag names a referrer tag after a subject: "sha256-<hex>", sometimes with a suffix.
func referrerTag(subject string, r *rand.Rand) string {
	t := "sha256-" + subject[len("sha256:"):]
	if r.IntN(2) == 0 {
		t += []string{".sig", ".att", ".sbom"}[r.IntN(3)]
	}
	return t
}

// tagName draws a tag name of one of the shapes the pattern pool knows, or of none.
func (m *model) tagName(r *rand.Rand) string {
	benches := []string{"swe", "gaia", "c0"}
	repos := []string{"django", "flask", "numpy"}
	switch r.IntN(7) {
	case 0, 1:
		return fmt.Sprintf("%s-%s-img", m.sdks[r.IntN(len(m.sdks))], benches[r.IntN(len(benches))])
	case 2:
		t := "cache-" + repos[r.IntN(len(repos))]
		if r.IntN(2) == 0 {
			t += "-" + []string{"main", "dev"}[r.IntN(2)]
		}
		return t + "-" + strconv.Itoa(r.IntN(50))
	case 3:
		return fmt.Sprintf("v%d.%d", 1+r.IntN(3), r.IntN(12))
	case 4:
		return fmt.Sprintf("rel-%d", r.IntN(40))
	case 5:
		return fmt.Sprintf("nightly-202505%02d", 1+r.IntN(28))
	}
	return fmt.Sprintf("x%d-%s", r.IntN(1000), repos[r.IntN(len(repos))])
}

// newBlob makes a small blob of a media type with unique bytes.
func (m *model) newBlob(r *rand.Rand, mediaType string) blobData {
	m.blobSeq++
	raw := []byte(fmt.Sprintf("blob %d %d", m.blobSeq, r.Uint64()))
	if mediaType == mtConfig {
		raw = []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":%d}`, m.blobSeq))
	}
	return blobData{digest: inventory.DigestOf(raw), mediaType: mediaType, raw: raw}
}

// add records a manifest built from its JSON form.
func (m *model) add(n *node, doc any) string {
	raw, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	n.raw = raw
	n.digest = inventory.DigestOf(raw)
	if old, ok := m.nodes[n.digest]; ok {
		return old.digest
	}
	n.seq = len(m.order)
	m.nodes[n.digest] = n
	m.order = append(m.order, n.digest)
	return n.digest
}

type jsonDesc struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Platform     *jsonPlatform     `json:"platform,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type jsonPlatform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
}

type jsonManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *jsonDesc         `json:"config,omitempty"`
	Layers        []jsonDesc        `json:"layers,omitempty"`
	Manifests     []jsonDesc        `json:"manifests,omitempty"`
	Subject       *jsonDesc         `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func blobDesc(b blobData) jsonDesc {
	return jsonDesc{MediaType: b.mediaType, Digest: b.digest, Size: int64(len(b.raw))}
}

func createdAnnotation(t time.Time) map[string]string {
	if t.IsZero() {
		return nil
	}
	return map[string]string{inventory.AnnotationCreated: t.UTC().Format(time.RFC3339)}
}

// addImage adds an image manifest: a config of its own and one or two layers of the pool. An
// image without a creation time (noCreated) has no annotation, and its config no "created".
func (m *model) addImage(r *rand.Rand, pool []blobData, created time.Time, platform string, noCreated bool) string {
	if noCreated {
		created = time.Time{}
	}
	cfg := m.newBlob(r, mtConfig)
	n := &node{mediaType: mtManifest, created: created, blobs: []blobData{cfg}}
	doc := jsonManifest{SchemaVersion: 2, MediaType: mtManifest, Config: ptr(blobDesc(cfg)),
		Annotations: createdAnnotation(created)}
	for _, i := range r.Perm(len(pool))[:1+r.IntN(2)] {
		n.blobs = append(n.blobs, pool[i])
		doc.Layers = append(doc.Layers, blobDesc(pool[i]))
	}
	if doc.Annotations == nil {
		doc.Annotations = map[string]string{}
	}
	doc.Annotations["org.opencontainers.image.title"] = platform + " " + cfg.digest[7:19]
	return m.add(n, doc)
}

// addAttestation adds a buildx attestation manifest for an image.
func (m *model) addAttestation(r *rand.Rand, created time.Time, img string) string {
	cfg := m.newBlob(r, mtConfig)
	layer := m.newBlob(r, mtInToto)
	n := &node{mediaType: mtManifest, created: created, blobs: []blobData{cfg, layer}}
	doc := jsonManifest{SchemaVersion: 2, MediaType: mtManifest, Config: ptr(blobDesc(cfg)),
		Layers: []jsonDesc{blobDesc(layer)}, Annotations: createdAnnotation(created)}
	doc.Annotations["regtidy.test/attests"] = img
	return m.add(n, doc)
}

// addIndex adds an index of the given children (which must be in the model).
func (m *model) addIndex(created time.Time, kids []childRef, salt int) string {
	n := &node{mediaType: mtIndex, created: created, children: kids}
	doc := jsonManifest{SchemaVersion: 2, MediaType: mtIndex, Annotations: createdAnnotation(created)}
	doc.Annotations["regtidy.test/push"] = strconv.Itoa(salt)
	for _, k := range kids {
		c := m.nodes[k.digest]
		d := jsonDesc{MediaType: c.mediaType, Digest: c.digest, Size: int64(len(c.raw))}
		switch {
		case k.attestation:
			d.Platform = &jsonPlatform{OS: "unknown", Architecture: "unknown"}
			d.Annotations = map[string]string{
				inventory.AnnotationReferenceType:   "attestation-manifest",
				inventory.AnnotationReferenceDigest: m.nodes[k.digest].raw2attests(),
			}
		case !k.nested:
			d.Platform = &jsonPlatform{OS: "linux", Architecture: "amd64"}
		}
		doc.Manifests = append(doc.Manifests, d)
	}
	return m.add(n, doc)
}

// raw2attests returns the image digest an attestation manifest was made for.
func (n *node) raw2attests() string {
	var doc jsonManifest
	if json.Unmarshal(n.raw, &doc) != nil {
		return ""
	}
	return doc.Annotations["regtidy.test/attests"]
}

// addArtifact adds an artifact manifest (a signature), referring to subject when it is set.
func (m *model) addArtifact(r *rand.Rand, created time.Time, subject string) string {
	empty := blobData{digest: inventory.DigestOf([]byte("{}")), mediaType: mtEmpty, raw: []byte("{}")}
	layer := m.newBlob(r, "application/vnd.regtidy.test.sig")
	n := &node{mediaType: mtManifest, created: created, blobs: []blobData{empty, layer}, subject: subject}
	doc := jsonManifest{SchemaVersion: 2, MediaType: mtManifest, ArtifactType: artifactSig,
		Config: ptr(blobDesc(empty)), Layers: []jsonDesc{blobDesc(layer)}, Annotations: createdAnnotation(created)}
	if subject != "" {
		s := m.nodes[subject]
		doc.Subject = &jsonDesc{MediaType: s.mediaType, Digest: s.digest, Size: int64(len(s.raw))}
	}
	return m.add(n, doc)
}

func ptr[T any](v T) *T { return &v }

// versionTime is the created_at a registry version of d has in the in-memory GHCR shape: the
// push order, a minute apart, ending an hour before now.
func (m *model) versionTime(d string) time.Time {
	return m.now.Add(-time.Hour - time.Duration(len(m.order)-m.nodes[d].seq)*time.Minute)
}

// inventory builds the inventory a listing of the model gives, in memory, parsing each manifest
// with the inventory's own parser. In the GHCR shape it holds every manifest and a version per
// manifest; otherwise the manifests reachable from tags through index children.
func (m *model) inventory(repo string) (*inventory.Inventory, error) {
	inv := &inventory.Inventory{Repository: repo, Manifests: map[string]*inventory.Manifest{}, ListedAt: m.now}
	in := &inventory.Interner{}
	for _, t := range m.tagNames() {
		inv.Tags = append(inv.Tags, inventory.Tag{Name: t, Digest: m.tags[t]})
	}
	visible := m.visible()
	for _, d := range m.order {
		if !visible[d] {
			continue
		}
		n := m.nodes[d]
		pm, err := inventory.ParseManifest(d, n.mediaType, n.raw, in)
		if err != nil {
			return nil, err
		}
		inv.Manifests[d] = pm
	}
	if m.ghcrShape {
		tagsOf := m.tagsOf()
		inv.Versions = map[string]*inventory.Version{}
		for i, d := range m.order {
			vt := m.versionTime(d)
			inv.Versions[d] = &inventory.Version{ID: int64(1000 + i), Digest: d, Tags: slices.Clone(tagsOf[d]), CreatedAt: vt, UpdatedAt: vt}
		}
	}
	return inv, nil
}

// visible returns the digests a listing sees: every manifest in the GHCR shape (versions are
// listed), else those reachable from tags through index children.
func (m *model) visible() map[string]bool {
	if m.ghcrShape {
		seen := map[string]bool{}
		for d := range m.nodes {
			seen[d] = true
		}
		return seen
	}
	return m.reachedByTags()
}

// reachedByTags returns the digests reachable from tags through index children: the manifests an
// OCI listing fetches.
func (m *model) reachedByTags() map[string]bool {
	seen := map[string]bool{}
	var stack []string
	for _, d := range m.tags {
		stack = append(stack, d)
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[d] || m.nodes[d] == nil {
			continue
		}
		seen[d] = true
		for _, c := range m.nodes[d].children {
			stack = append(stack, c.digest)
		}
	}
	return seen
}
