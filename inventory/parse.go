package inventory

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
)

// rawManifest covers the fields of OCI image manifests and indexes and of Docker v2 manifests and
// manifest lists that regtidy reads.
type rawManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *rawDescriptor    `json:"config"`
	Layers        []rawDescriptor   `json:"layers"`
	Manifests     []rawDescriptor   `json:"manifests"`
	Subject       *rawDescriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

type rawDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

// ParseManifest parses raw manifest bytes served with the given media type (the Content-Type; may
// be empty, then the body's mediaType field decides) into the compact form. Strings go through
// the interner (nil: none), so digests of blobs shared by many manifests are stored once.
func ParseManifest(digest, mediaType string, raw []byte, in *Interner) (*Manifest, error) {
	var rm rawManifest
	if err := json.Unmarshal(raw, &rm); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	// Parameters and spaces go before the choice, so that a Content-Type of "; charset=utf-8"
	// or " " counts as none and leaves the choice to the body.
	mt := bareMediaType(rm.MediaType)
	if mt == "" {
		mt = bareMediaType(mediaType)
	}
	if mt == "" {
		// OCI allows omitting mediaType; the shape tells.
		if rm.Manifests != nil {
			mt = MediaTypeOCIIndex
		} else {
			mt = MediaTypeOCIManifest
		}
	}
	m := &Manifest{
		Digest:    in.Intern(digest),
		MediaType: in.Intern(mt),
		Size:      int64(len(raw)),
	}
	var extra ManifestExtra
	extra.ArtifactType = rm.ArtifactType
	for _, k := range []string{AnnotationBaseName, AnnotationBaseDigest} {
		if v, ok := rm.Annotations[k]; ok {
			if extra.Annotations == nil {
				extra.Annotations = map[string]string{}
			}
			extra.Annotations[k] = v
		}
	}
	if rm.Config != nil {
		m.Config = &Blob{MediaType: in.Intern(rm.Config.MediaType), Digest: in.Intern(rm.Config.Digest), Size: rm.Config.Size}
	}
	if len(rm.Layers) > 0 {
		m.Layers = make([]Layer, len(rm.Layers))
		for i, l := range rm.Layers {
			m.Layers[i] = Layer{Digest: in.Intern(l.Digest), Size: l.Size}
		}
	}
	if len(rm.Manifests) > 0 {
		m.Manifests = make([]Descriptor, len(rm.Manifests))
		for i := range rm.Manifests {
			m.Manifests[i] = rm.Manifests[i].child(in)
		}
	}
	if rm.Subject != nil {
		extra.Subject = in.Intern(rm.Subject.Digest)
	}
	if extra.ArtifactType != "" || extra.Subject != "" || extra.Annotations != nil {
		m.Extra = &extra
	}
	if s := rm.Annotations[AnnotationCreated]; s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			m.Created = t.UTC()
		}
	}
	return m, nil
}

// bareMediaType is a media type without its parameters and surrounding spaces.
func bareMediaType(mt string) string {
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return strings.TrimSpace(mt)
}

// child returns the descriptor of an index child.
func (rd rawDescriptor) child(in *Interner) Descriptor {
	d := Descriptor{MediaType: in.Intern(rd.MediaType), Digest: in.Intern(rd.Digest), Size: rd.Size}
	if rd.Platform != nil {
		p := rd.Platform.OS + "/" + rd.Platform.Architecture
		if rd.Platform.Variant != "" {
			p += "/" + rd.Platform.Variant
		}
		d.Platform = in.Intern(p)
	}
	d.ReferenceType = in.Intern(rd.Annotations[AnnotationReferenceType])
	return d
}

// ConfigCreated reads the "created" time of an image config blob; zero when absent or malformed.
func ConfigCreated(raw []byte) time.Time {
	var c struct {
		Created string `json:"created"`
	}
	if json.Unmarshal(raw, &c) != nil || c.Created == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, c.Created)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Interner stores one copy of each string it is given: digests and media types repeat across
// hundreds of thousands of manifests. Its zero value is ready; a nil *Interner interns nothing.
type Interner struct {
	mu sync.Mutex
	m  map[string]string
}

// Intern returns the copy of s the interner holds, storing s if it holds none ("" and a nil
// Interner give s back). It is safe for concurrent use.
func (in *Interner) Intern(s string) string {
	if in == nil || s == "" {
		return s
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.m[s]; ok {
		return v
	}
	if in.m == nil {
		in.m = map[string]string{}
	}
	in.m[s] = s
	return s
}
