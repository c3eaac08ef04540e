package inventory

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseManifest feeds manifest bodies and Content-Types to ParseManifest. It never panics;
// what it accepts is JSON, and the compact manifest says what the body says: its size, a media
// type free of parameters and spaces (the body's, else the Content-Type's, else the shape's:
// index when the body lists manifests), one descriptor per index child, one layer per layer, the
// subject, a creation time in UTC or none; an interner changes nothing but where strings live.
func FuzzParseManifest(f *testing.F) {
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	for _, tc := range []struct{ mediaType, body string }{
		{MediaTypeOCIIndex, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[` +
			`{"mediaType":"` + MediaTypeOCIManifest + `","digest":"` + d("a") + `","size":500,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},` +
			`{"mediaType":"` + MediaTypeOCIManifest + `","digest":"` + d("b") + `","size":600,"platform":{"os":"unknown","architecture":"unknown"},` +
			`"annotations":{"vnd.docker.reference.type":"attestation-manifest","vnd.docker.reference.digest":"` + d("a") + `"}}],` +
			`"annotations":{"org.opencontainers.image.created":"2026-11-20T12:00:00+01:00"}}`},
		{"", `{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + d("c") + `","size":7},` +
			`"layers":[{"digest":"` + d("d") + `","size":1000},{"digest":"` + d("e") + `","size":2000}],"subject":{"digest":"` + d("a") + `"},` +
			`"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","annotations":{"org.opencontainers.image.base.name":"eval-base:x","org.opencontainers.image.base.digest":"` + d("f") + `"}}`},
		{MediaTypeDockerList + "; charset=utf-8", `{"schemaVersion":2,"manifests":[]}`},
		{"; charset=utf-8", `{"manifests":[{"digest":"` + d("a") + `"}]}`},
		{" ", `{}`},
		{"", `{"manifests":null,"layers":[]}`},
		{"", `{"mediaType":"` + MediaTypeOCIManifest + ` ; x=y"}`},
		{"", `null`},
		{"", `[]`},
		{"", `{"layers":[{"size":-1}],"config":null}`},
		{"", `{"annotations":{"org.opencontainers.image.created":"not a time"}}`},
		{"", `{"schemaVersion":"2"}`},
	} {
		f.Add(tc.mediaType, []byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, raw []byte) {
		const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
		m, err := ParseManifest(digest, contentType, raw, nil)
		var in Interner
		mi, erri := ParseManifest(digest, contentType, raw, &in)
		if (err == nil) != (erri == nil) {
			t.Fatalf("the interner changes the verdict: %v / %v", err, erri)
		}
		if err != nil {
			if !strings.Contains(err.Error(), digest) {
				t.Fatalf("error does not name the manifest: %v", err)
			}
			return
		}
		if diff := cmp.Diff(m, mi); diff != "" {
			t.Fatalf("the interner changes the manifest (-plain +interned):\n%s", diff)
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted a body that is not JSON: %q", raw)
		}
		var body struct {
			MediaType   string            `json:"mediaType"`
			Manifests   []json.RawMessage `json:"manifests"`
			Layers      []json.RawMessage `json:"layers"`
			Subject     *struct{ Digest string }
			Annotations map[string]string `json:"annotations"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("accepted a body whose fields do not decode: %v", err)
		}
		if m.Digest != digest || m.Size != int64(len(raw)) {
			t.Fatalf("digest %s size %d, want %s and %d", m.Digest, m.Size, digest, len(raw))
		}
		mt := m.MediaType
		if mt == "" || strings.ContainsAny(mt, ";") || strings.TrimSpace(mt) != mt {
			t.Fatalf("media type %q: want a bare media type (body %q, Content-Type %q)", mt, body.MediaType, contentType)
		}
		want := bare(body.MediaType)
		if want == "" {
			want = bare(contentType)
		}
		if want == "" {
			want = MediaTypeOCIManifest
			if body.Manifests != nil {
				want = MediaTypeOCIIndex
			}
		}
		if mt != want {
			t.Fatalf("media type %q, want %q (body %q, Content-Type %q)", mt, want, body.MediaType, contentType)
		}
		if len(m.Manifests) != len(body.Manifests) || len(m.Layers) != len(body.Layers) {
			t.Fatalf("%d children and %d layers, the body has %d and %d", len(m.Manifests), len(m.Layers), len(body.Manifests), len(body.Layers))
		}
		blobs := 0
		for range m.Blobs() {
			blobs++
		}
		if wantBlobs := len(m.Layers) + boolCount(m.Config != nil); blobs != wantBlobs {
			t.Fatalf("Blobs yields %d, want %d", blobs, wantBlobs)
		}
		if body.Subject != nil && m.Subject() != body.Subject.Digest {
			t.Fatalf("subject %q, want %q", m.Subject(), body.Subject.Digest)
		}
		if !m.Created.IsZero() {
			if m.Created.Location() != time.UTC {
				t.Fatalf("created %v is not in UTC", m.Created)
			}
			at, err := time.Parse(time.RFC3339Nano, body.Annotations[AnnotationCreated])
			if err != nil || !at.Equal(m.Created) {
				t.Fatalf("created %v, the annotation says %q", m.Created, body.Annotations[AnnotationCreated])
			}
		}
		for _, c := range m.Manifests {
			if c.Platform != "" && strings.Count(c.Platform, "/") < 1 {
				t.Fatalf("child platform %q is not os/arch[/variant]", c.Platform)
			}
		}
		if ct := ConfigCreated(raw); !ct.IsZero() && ct.Location() != time.UTC {
			t.Fatalf("ConfigCreated %v is not in UTC", ct)
		}
	})
}

// bare is a media type without its parameters and spaces.
func bare(mt string) string {
	mt, _, _ = strings.Cut(mt, ";")
	return strings.TrimSpace(mt)
}

func boolCount(b bool) int {
	if b {
		return 1
	}
	return 0
}
