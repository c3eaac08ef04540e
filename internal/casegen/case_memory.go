package casegen

import (
	"strings"
)

// CaseContent is what FillCase would push into the case's repository, held in memory: every
// manifest by digest, every blob by digest, and the digest each tag points at.
type CaseContent struct {
	// Manifests maps a digest to the manifest's media type and bytes.
	Manifests map[string]CaseManifest
	// Blobs maps a digest to the blob's bytes (configs, layers, artifacts).
	Blobs map[string][]byte
	// Tags maps a tag to the digest of the manifest it points at.
	Tags map[string]string
}

// CaseManifest is one manifest of CaseContent.
type CaseManifest struct {
	MediaType string
	Data      []byte
}

// MaterializeCase plans the case and makes its content, byte for byte what FillCase pushes into
// spec.Repository (BaseRepository is not made), without a registry. A full-scale fill takes half
// an hour on the project's machines; this takes the time to hash the manifests, so benchmarks
// of what reads an inventory can run on the full case.
func MaterializeCase(spec CaseSpec) (*Case, *CaseContent, error) {
	p, err := planCase(spec)
	if err != nil {
		return nil, nil, err
	}
	m := newMaterializer(spec.Seed, p.c.Repository)
	cc := &CaseContent{Manifests: map[string]CaseManifest{}, Blobs: map[string][]byte{}, Tags: map[string]string{}}
	var blobBytes int64
	put := func(mp *manifestPlan) {
		first := p.c.Tags[mp.tags[0]].Name
		b := m.bundleFor(mp, first, p.c.Commits)
		for _, blob := range b.blobs {
			if _, ok := cc.Blobs[blob.digest]; !ok {
				cc.Blobs[blob.digest] = blob.data
				blobBytes += int64(len(blob.data))
			}
		}
		var children []string
		for _, doc := range b.manifests[:len(b.manifests)-1] {
			cc.Manifests[doc.digest] = CaseManifest{MediaType: doc.mediaType, Data: doc.data}
			children = append(children, doc.digest)
		}
		top := b.top()
		cc.Manifests[top.digest] = CaseManifest{MediaType: top.mediaType, Data: top.data}
		mp.digest, mp.size, mp.children = top.digest, int64(len(top.data)), children
		for _, i := range mp.tags {
			p.c.Tags[i].Digest = top.digest
			p.c.Tags[i].ChildDigests = append([]string(nil), children...)
		}
	}
	for _, mp := range p.main {
		put(mp)
	}
	// Referrer tags are named after their subjects, which exist once the images do (as push does).
	for _, mp := range p.refs {
		t := &p.c.Tags[mp.tags[0]]
		t.Subject = mp.subject.digest
		t.Name = "sha256-" + strings.TrimPrefix(mp.subject.digest, "sha256:")
		if mp.sig {
			t.Name += ".sig"
		}
	}
	for _, mp := range p.refs {
		put(mp)
	}
	for _, t := range p.c.Tags {
		cc.Tags[t.Name] = t.Digest
	}
	p.finish()
	var manifestBytes int64
	for _, doc := range cc.Manifests {
		manifestBytes += int64(len(doc.Data))
	}
	p.c.Totals.Manifests, p.c.Totals.Blobs, p.c.Totals.Bytes = len(cc.Manifests), len(cc.Blobs), blobBytes+manifestBytes
	return p.c, cc, nil
}
