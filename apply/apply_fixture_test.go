package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/transport"
)

// TestMain keeps the developer's own registry credentials out of the tests.
func TestMain(m *testing.M) {
	os.Exit(regtest.RunWithoutCredentials(m, registry.EnvUsername, registry.EnvPassword))
}

// repoPath is the repository the fixtures live in, under the registry's host.
const repoPath = "openhands/eval-agent-server"

// fixture is a real registry with a repository the test fills.
type fixture struct {
	t    *testing.T
	reg  *regtest.Registry
	c    *registry.Client
	repo string
	// blobs is the HTTP client blobs are uploaded with (casegen.PushBlob): with the credentials
	// of a registry started with Htpasswd.
	blobs *http.Client
	// inner is the registry's own handler, below the hook.
	inner http.Handler
	// hook, if set, sees every request before the registry.
	mu   sync.Mutex
	hook func(w http.ResponseWriter, r *http.Request) bool
}

// newFixture starts a registry whose handler calls the fixture's hook first.
func newFixture(t *testing.T, ro regtest.Options, opts ...registry.Option) *fixture {
	t.Helper()
	f := &fixture{t: t}
	ro.Wrap = func(next http.Handler) http.Handler {
		f.inner = next
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			hook := f.hook
			f.mu.Unlock()
			if hook != nil && hook(w, r) {
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	reg, err := regtest.Start(t.Context(), ro)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	f.reg = reg
	f.repo = reg.Host + "/" + repoPath
	for user, password := range ro.Htpasswd {
		f.blobs = casegen.BasicAuth(user, password)
	}
	fast := registry.WithRetry(transport.RetryOptions{Attempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	f.c = registry.New(append([]registry.Option{fast}, opts...)...)
	return f
}

// setHook installs fn as the request hook; it returns true when it answered the request itself.
func (f *fixture) setHook(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = fn
}

// img is a manifest pushed by a test, with its exact bytes.
type img struct {
	desc inventory.Descriptor
	raw  []byte
	// layer is the image's layer blob (for image manifests).
	layer string
}

func (f *fixture) blob(mediaType string, content []byte) inventory.Descriptor {
	f.t.Helper()
	d := inventory.DigestOf(content)
	if _, err := casegen.PushBlob(f.t.Context(), f.blobs, f.reg.Host, repoPath, content); err != nil {
		f.t.Fatalf("push blob: %v", err)
	}
	return inventory.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

// push uploads m (marshalled) under ref, or under its own digest when ref is empty.
func (f *fixture) push(ref, mediaType string, m any) img {
	f.t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		f.t.Fatal(err)
	}
	d := inventory.DigestOf(raw)
	if ref == "" {
		ref = d
	}
	if err := f.c.PushManifest(f.t.Context(), f.repo, ref, mediaType, raw); err != nil {
		f.t.Fatalf("push manifest %s: %v", ref, err)
	}
	return img{desc: inventory.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(raw))}, raw: raw}
}

// image pushes an untagged one-layer image (OCI or Docker v2) whose content seed makes unique.
func (f *fixture) image(mediaType, seed string) img {
	f.t.Helper()
	cfgType, layerType := "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"
	if mediaType == inventory.MediaTypeDockerManifest {
		cfgType, layerType = "application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip"
	}
	cfg := f.blob(cfgType, fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":{"seed":%q}}}`, seed))
	layer := f.blob(layerType, []byte("layer of "+seed))
	m := f.push("", mediaType, map[string]any{"schemaVersion": 2, "mediaType": mediaType, "config": cfg, "layers": []inventory.Descriptor{layer}})
	m.layer = layer.Digest
	return m
}

// attestation pushes an untagged buildx-style attestation manifest for subject.
func (f *fixture) attestation(seed string) img {
	f.t.Helper()
	cfg := f.blob("application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"unknown","os":"unknown","seed":"`+seed+`"}`))
	layer := f.blob("application/vnd.in-toto+json", []byte(`{"_type":"https://in-toto.io/Statement/v0.1","seed":"`+seed+`"}`))
	m := f.push("", inventory.MediaTypeOCIManifest, map[string]any{"schemaVersion": 2, "mediaType": inventory.MediaTypeOCIManifest, "config": cfg, "layers": []inventory.Descriptor{layer}})
	m.layer = layer.Digest
	return m
}

// buildxIndex pushes an OCI index as buildx makes it: a linux/amd64 image and an
// unknown/unknown attestation manifest describing it.
func (f *fixture) buildxIndex(tag string, image, att img) img {
	f.t.Helper()
	return f.push(tag, inventory.MediaTypeOCIIndex, map[string]any{
		"schemaVersion": 2, "mediaType": inventory.MediaTypeOCIIndex,
		"manifests": []map[string]any{
			{"mediaType": image.desc.MediaType, "digest": image.desc.Digest, "size": image.desc.Size,
				"platform": map[string]string{"os": "linux", "architecture": "amd64"}},
			{"mediaType": att.desc.MediaType, "digest": att.desc.Digest, "size": att.desc.Size,
				"platform": map[string]string{"os": "unknown", "architecture": "unknown"},
				"annotations": map[string]string{
					inventory.AnnotationReferenceType:   "attestation-manifest",
					inventory.AnnotationReferenceDigest: image.desc.Digest,
				}},
		},
	})
}

// index pushes an index of mediaType listing children as linux/amd64.
func (f *fixture) index(tag, mediaType string, children ...img) img {
	f.t.Helper()
	var ms []map[string]any
	for _, c := range children {
		ms = append(ms, map[string]any{"mediaType": c.desc.MediaType, "digest": c.desc.Digest, "size": c.desc.Size,
			"platform": map[string]string{"os": "linux", "architecture": "amd64"}})
	}
	return f.push(tag, mediaType, map[string]any{"schemaVersion": 2, "mediaType": mediaType, "manifests": ms})
}

// signature pushes a cosign-style signature of subject, tagged "sha256-<hex>.sig", with an OCI
// subject field too.
func (f *fixture) signature(subject img) img {
	f.t.Helper()
	cfg := f.blob("application/vnd.oci.image.config.v1+json", []byte(`{"sig":"`+subject.desc.Digest+`"}`))
	layer := f.blob("application/vnd.dev.cosign.simplesigning.v1+json", []byte(`{"critical":{"image":{"docker-manifest-digest":"`+subject.desc.Digest+`"}}}`))
	tag := strings.Replace(subject.desc.Digest, ":", "-", 1) + ".sig"
	m := f.push(tag, inventory.MediaTypeOCIManifest, map[string]any{"schemaVersion": 2, "mediaType": inventory.MediaTypeOCIManifest,
		"config": cfg, "layers": []inventory.Descriptor{layer}, "subject": subject.desc})
	m.layer = layer.Digest
	return m
}

// tag points tag at m.
func (f *fixture) tag(tag string, m img) {
	f.t.Helper()
	if err := f.c.PushManifest(f.t.Context(), f.repo, tag, m.desc.MediaType, m.raw); err != nil {
		f.t.Fatalf("tag %s: %v", tag, err)
	}
}

// liveTags returns every live tag with its digest, sorted by name.
func (f *fixture) liveTags() []inventory.Tag {
	f.t.Helper()
	ctx := f.t.Context()
	var names []string
	if err := f.c.ListTags(ctx, f.repo, func(page []string) error { names = append(names, page...); return nil }); err != nil {
		f.t.Fatalf("list: %v", err)
	}
	sort.Strings(names)
	var out []inventory.Tag
	for _, n := range names {
		d, err := f.c.Resolve(ctx, f.repo, n)
		if err != nil {
			f.t.Fatalf("resolve %s: %v", n, err)
		}
		out = append(out, inventory.Tag{Name: n, Digest: d.Digest})
	}
	return out
}

// present reports which of digests the registry still serves, by digest.
func (f *fixture) present(digests ...string) map[string]bool {
	f.t.Helper()
	out := map[string]bool{}
	for _, d := range digests {
		_, err := f.c.Resolve(f.t.Context(), f.repo, d)
		switch {
		case err == nil:
			out[d] = true
		case !isNotFound(err):
			f.t.Fatalf("resolve %s: %v", d, err)
		default:
			out[d] = false
		}
	}
	return out
}

// raw fetches a manifest's exact bytes by digest.
func (f *fixture) raw(digest string) []byte {
	f.t.Helper()
	raw, _, err := f.c.FetchManifest(f.t.Context(), f.repo, digest)
	if err != nil {
		f.t.Fatalf("fetch %s: %v", digest, err)
	}
	return raw
}

// deleteBlob removes a blob from the repository through the registry API.
func (f *fixture) deleteBlob(digest string) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), http.MethodDelete, f.reg.URL+"/v2/"+repoPath+"/blobs/"+digest, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		f.t.Fatalf("delete blob %s: %s", digest, resp.Status)
	}
}

func isNotFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }

// world is the repository most tests start from, and a plan for it.
type world struct {
	f *fixture
	// Deleted and kept manifests by name, for messages.
	ia, ai, at, ie, et, ib, bi, bt, cl, ci, is, si, st, sigB, sigA, ni, in2, nimg, nat img
	plan                                                                               *plan.Plan
}

// newWorld pushes:
//
//	a1                   -> IA (OCI index: AI linux/amd64, AT attestation)    delete
//	e1                   -> IE (OCI index: AI shared with IA, ET)             keep (AI: child of kept)
//	b1, b-latest         -> IB (OCI index: BI, BT)                            keep
//	sha256-<IB>.sig      -> SIGB (signature, subject IB)                      keep (referrer of kept)
//	sha256-<IA>.sig      -> SIGA (signature, subject IA)                      delete
//	c1                   -> CL (Docker manifest list: CI Docker v2 image)    delete
//	keep-s, drop-s       -> IS (OCI index: SI, ST)                            keep (shared digest)
//	n1                   -> NI (OCI index: IN2 (index: NIMG, NAT))            delete (nested)
func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOn(t, newFixture(t, regtest.Options{}))
}

// newWorldOn pushes the world into f's registry.
func newWorldOn(t *testing.T, f *fixture) *world {
	t.Helper()
	w := &world{f: f}
	oci := inventory.MediaTypeOCIManifest
	w.ai, w.at = f.image(oci, "a-amd64"), f.attestation("a")
	w.ia = f.buildxIndex("a1", w.ai, w.at)
	w.et = f.attestation("e")
	w.ie = f.buildxIndex("e1", w.ai, w.et)
	w.bi, w.bt = f.image(oci, "b-amd64"), f.attestation("b")
	w.ib = f.buildxIndex("b1", w.bi, w.bt)
	f.tag("b-latest", w.ib)
	w.sigB = f.signature(w.ib)
	w.sigA = f.signature(w.ia)
	w.ci = f.image(inventory.MediaTypeDockerManifest, "c-amd64")
	w.cl = f.index("c1", inventory.MediaTypeDockerList, w.ci)
	w.si, w.st = f.image(oci, "s-amd64"), f.attestation("s")
	w.is = f.buildxIndex("keep-s", w.si, w.st)
	f.tag("drop-s", w.is)
	w.nimg, w.nat = f.image(oci, "n-amd64"), f.attestation("n")
	w.in2 = f.buildxIndex("", w.nimg, w.nat)
	w.ni = f.index("n1", inventory.MediaTypeOCIIndex, w.in2)

	sigTag := func(m img) string { return strings.Replace(m.desc.Digest, ":", "-", 1) + ".sig" }
	keep := func(m img, kind, parent string, tags ...string) plan.Decision {
		return plan.Decision{Digest: m.desc.Digest, Action: plan.Keep, Kind: kind, Parent: parent, Tags: tags, MediaType: m.desc.MediaType,
			Reasons: []plan.Reason{{Rule: "test", Detail: "kept by the test"}}}
	}
	del := func(m img, kind, parent string, tags ...string) plan.Decision {
		d := keep(m, kind, parent, tags...)
		d.Action = plan.Delete
		d.Reasons = []plan.Reason{{Rule: "no-keep-rule-matched", Detail: "deleted by the test"}}
		return d
	}
	decisions := []plan.Decision{
		del(w.ia, "image", "", "a1"),
		keep(w.ai, "child", w.ie.desc.Digest),
		del(w.at, "attestation", w.ia.desc.Digest),
		keep(w.ie, "image", "", "e1"),
		keep(w.et, "attestation", w.ie.desc.Digest),
		keep(w.ib, "image", "", "b-latest", "b1"),
		keep(w.bi, "child", w.ib.desc.Digest),
		keep(w.bt, "attestation", w.ib.desc.Digest),
		keep(w.sigB, "referrer", w.ib.desc.Digest, sigTag(w.ib)),
		del(w.sigA, "referrer", w.ia.desc.Digest, sigTag(w.ia)),
		del(w.cl, "image", "", "c1"),
		del(w.ci, "child", w.cl.desc.Digest),
		keep(w.is, "image", "", "drop-s", "keep-s"),
		keep(w.si, "child", w.is.desc.Digest),
		keep(w.st, "attestation", w.is.desc.Digest),
		del(w.ni, "image", "", "n1"),
		del(w.in2, "child", w.ni.desc.Digest),
		del(w.nimg, "child", w.in2.desc.Digest),
		del(w.nat, "attestation", w.in2.desc.Digest),
	}
	w.plan = handPlan(f.repo, decisions)
	if diff := cmp.Diff(w.plan.Tags, f.liveTags()); diff != "" {
		t.Fatalf("fixture tags differ from the plan's (-plan +live):\n%s", diff)
	}
	return w
}

// handPlan makes a sealed plan from decisions, with Tags derived from them.
func handPlan(repo string, decisions []plan.Decision) *plan.Plan {
	p := &plan.Plan{Schema: plan.Schema, Repository: repo, Decisions: decisions, Fingerprint: "sha256:test"}
	for _, d := range decisions {
		for _, t := range d.Tags {
			p.Tags = append(p.Tags, inventory.Tag{Name: t, Digest: d.Digest})
		}
	}
	sort.Slice(p.Tags, func(i, j int) bool { return p.Tags[i].Name < p.Tags[j].Name })
	p.Seal()
	return p
}

// digests returns the digests of the plan's decisions with action a, sorted.
func digests(p *plan.Plan, a plan.Action) []string {
	var out []string
	for _, d := range p.Decisions {
		if d.Action == a {
			out = append(out, d.Digest)
		}
	}
	sort.Strings(out)
	return out
}

// deletedTags returns the tags of the plan's deleted digests, sorted.
func deletedTags(p *plan.Plan) []inventory.Tag {
	var out []inventory.Tag
	for _, d := range p.Deletes() {
		for _, t := range d.Tags {
			out = append(out, inventory.Tag{Name: t, Digest: d.Digest})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// snapshot is every manifest's bytes by digest and every tag, to compare after undo.
type snapshot struct {
	tags []inventory.Tag
	raw  map[string]string
}

func (f *fixture) snapshot(p *plan.Plan) snapshot {
	s := snapshot{tags: f.liveTags(), raw: map[string]string{}}
	for _, d := range p.Decisions {
		s.raw[d.Digest] = string(f.raw(d.Digest))
	}
	return s
}

// deleteCounter counts DELETE requests by their status, and can cancel a context after n.
type deleteCounter struct {
	mu       sync.Mutex
	byStatus map[int]int
	refs     []string
	after    int
	cancel   context.CancelFunc
}

// statusRecorder captures the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// count installs a hook on f that counts manifest DELETEs (and cancels after `after` of them,
// when cancel is set).
func (dc *deleteCounter) install(f *fixture) {
	dc.byStatus = map[int]int{}
	f.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodDelete || !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		f.inner.ServeHTTP(rec, r)
		dc.mu.Lock()
		defer dc.mu.Unlock()
		dc.byStatus[rec.status]++
		dc.refs = append(dc.refs, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
		if dc.cancel != nil && len(dc.refs) == dc.after {
			dc.cancel()
		}
		return true
	})
}
