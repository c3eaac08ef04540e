// Package inventory is regtidy's model of one repository in a registry: its tags, the manifests they
// reach (index children, attestation manifests, referrers) and, on registries that have them, the
// registry's own version records (GitHub package versions).
//
// An Inventory is built by the registry client (see package registry) and read by the report, the
// policy engine and apply. It holds parsed, compact manifests rather than raw bytes, so a repository
// of 133k tags and 400k manifests fits in a few hundred MB; raw bytes live in the on-disk Cache.
package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"iter"
	"slices"
	"sort"
	"strings"
	"time"
)

// Media types regtidy recognises. Docker's and OCI's are treated alike.
const (
	MediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// Annotation keys regtidy reads.
const (
	// AnnotationReferenceType marks a buildx attestation manifest inside an index
	// (value "attestation-manifest").
	AnnotationReferenceType = "vnd.docker.reference.type"
	// AnnotationReferenceDigest names the image manifest an attestation manifest describes.
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	// AnnotationCreated is the OCI creation time annotation (RFC 3339).
	AnnotationCreated = "org.opencontainers.image.created"
	// AnnotationBaseName and AnnotationBaseDigest record the base image of a composed image.
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// IsIndexMediaType reports whether mt is an OCI image index or a Docker manifest list.
func IsIndexMediaType(mt string) bool {
	return mt == MediaTypeOCIIndex || mt == MediaTypeDockerList
}

// Descriptor points at a blob or a manifest by digest.
type Descriptor struct {
	MediaType string `json:"mediaType,omitempty"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	// Platform is "os/arch[/variant]" for the children of an index ("unknown/unknown" for buildx
	// attestation manifests); empty elsewhere.
	Platform string `json:"platform,omitempty"`
	// ReferenceType is an index child's AnnotationReferenceType ("attestation-manifest" for a
	// buildx attestation manifest); empty elsewhere. It is the one descriptor annotation regtidy
	// reads: a map per child would cost a repository of 130k indexes some 40 MB.
	ReferenceType string `json:"referenceType,omitempty"`
}

// Blob is a config or layer of an image manifest: its digest and compressed size, and for a
// config the media type (which tells an image config from, say, a build cache's).
type Blob struct {
	MediaType string `json:"mediaType,omitempty"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// Layer is a layer of an image manifest: what regtidy needs of it, and no more, since an
// inventory of the case holds some 800k of them.
type Layer struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// ManifestExtra holds what few manifests have: referrers' artifact type and subject, and the
// annotations regtidy reads (AnnotationBaseName, AnnotationBaseDigest; others are not kept).
type ManifestExtra struct {
	ArtifactType string            `json:"artifactType,omitempty"`
	Subject      string            `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// IsAttestation reports whether this index child is a buildx attestation manifest.
func (d Descriptor) IsAttestation() bool {
	return d.ReferenceType == "attestation-manifest"
}

// Manifest is the parsed, compact form of one manifest, identified by its digest.
//
// Its fields are those every manifest needs, 128 bytes in all (an inventory holds 400k); the
// rest is in Extra, nil for most.
type Manifest struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	// Config and Layers are set for image manifests.
	Config *Blob   `json:"config,omitempty"`
	Layers []Layer `json:"layers,omitempty"`
	// Manifests are the children of an index (platform images, attestation manifests, nested indexes).
	Manifests []Descriptor `json:"manifests,omitempty"`
	// Created is the image's creation time: the manifest's AnnotationCreated, else the config's
	// "created" field, else (for an index) the newest of its children. Zero when unknown.
	Created time.Time `json:"created,omitzero"`
	// Extra holds the artifact type, subject and kept annotations of the manifests that have any.
	Extra *ManifestExtra `json:"extra,omitempty"`
}

// Subject is the digest of the manifest this one refers to (OCI referrers), or "".
func (m *Manifest) Subject() string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.Subject
}

// Annotation returns a kept annotation (AnnotationBaseName or AnnotationBaseDigest), or "".
func (m *Manifest) Annotation(key string) string {
	if m.Extra == nil {
		return ""
	}
	return m.Extra.Annotations[key]
}

// IsIndex reports whether m is an index or manifest list.
func (m *Manifest) IsIndex() bool { return IsIndexMediaType(m.MediaType) }

// Blobs yields the config and then each layer of an image manifest (nothing for an index),
// without allocating.
func (m *Manifest) Blobs() iter.Seq[Blob] {
	return func(yield func(Blob) bool) {
		if m.Config != nil && !yield(*m.Config) {
			return
		}
		for _, l := range m.Layers {
			if !yield(Blob{Digest: l.Digest, Size: l.Size}) {
				return
			}
		}
	}
}

// Tag is one tag of the repository and the digest it pointed at when listed.
type Tag struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Version is a registry's own record of one manifest, where the registry has one (a GitHub package
// version). A version's ID never changes its digest.
type Version struct {
	ID        int64     `json:"id"`
	Digest    string    `json:"digest"`
	Tags      []string  `json:"tags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Withheld marks an untagged version no tag reaches that was created too shortly before the
	// listing to judge (a push may be uploading the index that will list it): a policy keeps it.
	Withheld bool `json:"withheld,omitempty"`
}

// Inventory is one repository as listed at one moment.
type Inventory struct {
	// Repository is the full reference of the repository, "host[:port]/path".
	Repository string `json:"repository"`
	// Tags are sorted by name.
	Tags []Tag `json:"tags"`
	// Manifests holds every manifest reachable from a tag, and every version's manifest, by digest.
	Manifests map[string]*Manifest `json:"manifests"`
	// Versions holds the registry's version records by digest; nil on plain OCI registries.
	Versions map[string]*Version `json:"versions,omitempty"`
	// Vanished lists tags that were listed but no longer resolved when asked (deleted meanwhile).
	Vanished []string `json:"vanished,omitempty"`
	// ListedAt is when listing started.
	ListedAt time.Time `json:"listed_at"`
}

// TagsByDigest maps each digest to the names of the tags pointing at it, sorted.
func (inv *Inventory) TagsByDigest() map[string][]string {
	out := make(map[string][]string, len(inv.Tags))
	for _, t := range inv.Tags {
		out[t.Digest] = append(out[t.Digest], t.Name)
	}
	return out
}

// Children returns the digests an index lists (nil for an image or an unknown digest).
func (inv *Inventory) Children(digest string) []string {
	m := inv.Manifests[digest]
	if m == nil {
		return nil
	}
	out := make([]string, 0, len(m.Manifests))
	for _, c := range m.Manifests {
		out = append(out, c.Digest)
	}
	return out
}

// ReferrerTagDigest returns the subject digest a referrer tag names ("sha256-<hex>[.suffix]" names
// "sha256:<hex>"), and whether tag is such a tag.
func ReferrerTagDigest(tag string) (string, bool) {
	alg, rest, ok := strings.Cut(tag, "-")
	if !ok || alg != "sha256" || len(rest) < 64 {
		return "", false
	}
	hexPart := rest[:64]
	if len(rest) > 64 && rest[64] != '.' {
		return "", false
	}
	if _, err := hex.DecodeString(hexPart); err != nil || strings.ToLower(hexPart) != hexPart {
		return "", false
	}
	return "sha256:" + hexPart, true
}

// Referrers maps a subject digest to the digests that refer to it: manifests whose subject field
// names it and manifests tagged "sha256-<hex>" after it. Each list is sorted.
func (inv *Inventory) Referrers() map[string][]string {
	set := map[string]map[string]bool{}
	add := func(subject, ref string) {
		if subject == "" || subject == ref {
			return
		}
		if set[subject] == nil {
			set[subject] = map[string]bool{}
		}
		set[subject][ref] = true
	}
	for d, m := range inv.Manifests {
		add(m.Subject(), d)
	}
	for _, t := range inv.Tags {
		if s, ok := ReferrerTagDigest(t.Name); ok {
			add(s, t.Digest)
		}
	}
	out := make(map[string][]string, len(set))
	for s, refs := range set {
		l := make([]string, 0, len(refs))
		for r := range refs {
			l = append(l, r)
		}
		sort.Strings(l)
		out[s] = l
	}
	return out
}

// Closure returns the digests reachable from the roots: the roots, their index children (nested
// indexes followed), and the referrers of anything reached, recursively. The result is sorted.
// referrers is the map from Referrers; pass nil to skip referrers.
func (inv *Inventory) Closure(referrers map[string][]string, roots ...string) []string {
	seen := map[string]bool{}
	stack := append([]string(nil), roots...)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[d] {
			continue
		}
		seen[d] = true
		stack = append(stack, inv.Children(d)...)
		stack = append(stack, referrers[d]...)
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Fingerprint is a digest of the tag to digest mapping: two inventories with the same fingerprint
// have the same tags pointing at the same manifests. Tags are hashed in name order (Tags is kept
// sorted, so it is read in place; otherwise a sorted copy is hashed).
func (inv *Inventory) Fingerprint() string {
	tags := inv.Tags
	if !slices.IsSortedFunc(tags, compareTagNames) {
		tags = slices.Clone(tags)
		slices.SortFunc(tags, func(a, b Tag) int {
			if c := compareTagNames(a, b); c != 0 {
				return c
			}
			return strings.Compare(a.Digest, b.Digest)
		})
	}
	h := sha256.New()
	buf := make([]byte, 0, 64<<10)
	for _, t := range tags {
		if len(buf)+len(t.Name)+len(t.Digest)+2 > cap(buf) {
			h.Write(buf)
			buf = buf[:0]
		}
		buf = append(buf, t.Name...)
		buf = append(buf, 0)
		buf = append(buf, t.Digest...)
		buf = append(buf, '\n')
	}
	h.Write(buf)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// compareTagNames orders tags by name.
func compareTagNames(a, b Tag) int { return strings.Compare(a.Name, b.Name) }

// ImageSize is the compressed size of an image manifest's config and layers. For an index it is
// the sum over its non-attestation children, each blob counted once.
func (inv *Inventory) ImageSize(digest string) int64 {
	seen := map[string]bool{}
	var total int64
	var walk func(d string)
	walk = func(d string) {
		m := inv.Manifests[d]
		if m == nil {
			return
		}
		for b := range m.Blobs() {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				total += b.Size
			}
		}
		for _, c := range m.Manifests {
			if !c.IsAttestation() {
				walk(c.Digest)
			}
		}
	}
	walk(digest)
	return total
}
