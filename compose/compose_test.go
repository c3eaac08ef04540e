package compose

import (
	"context"
	"errors"
	"math/rand"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
)

var created = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fixture is a registry holding bases of every shape in eval-base, and a built SDK layer.
type fixture struct {
	reg   *regtest.Registry
	bases []name.Reference
	layer *Layer
	// baseLayers holds the digest of every layer of every base (attestation blobs included).
	baseLayers map[string]bool
}

func newFixture(t *testing.T, opts regtest.Options) *fixture {
	t.Helper()
	f := &fixture{reg: startRegistry(t, opts), baseLayers: map[string]bool{}}
	rng := rand.New(rand.NewSource(7))
	dockerList := mutate.IndexMediaType(mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: randomImage(t, rng, 2, 300, false, v1.Platform{OS: "linux", Architecture: "amd64"}),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	), types.DockerManifestList)
	for tag, x := range map[string]any{
		"0000001-sweb.eval.x86_64.single-oci":  randomImage(t, rng, 3, 1000, true, v1.Platform{OS: "linux", Architecture: "amd64"}),
		"0000002-sweb.eval.x86_64.multi":       multiPlatformIndex(t, rng),
		"0000003-sweb.eval.x86_64.whiteouts":   whiteoutImage(t),
		"0000004-sweb.eval.x86_64.docker-list": dockerList,
	} {
		r := ref(t, f.reg, "eval-base:"+tag)
		push(t, r, x)
		f.bases = append(f.bases, r)
		for _, img := range imagesOf(t, x) {
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Layers {
				f.baseLayers[l.Digest.String()] = true
			}
		}
	}
	slices.SortFunc(f.bases, func(a, b name.Reference) int { return strings.Compare(a.String(), b.String()) })
	dir := writeSDK(t, t.TempDir(), 0o644, 0o755, []int{0, 1, 2, 3})
	f.layer = buildLayer(t, Dir(dir), LayerOptions{At: "/agent-server"})
	return f
}

// imagesOf returns the images of an image or index (attestations included).
func imagesOf(t *testing.T, x any) []v1.Image {
	t.Helper()
	if img, ok := x.(v1.Image); ok {
		return []v1.Image{img}
	}
	idx := x.(v1.ImageIndex)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Image
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

// jobs maps the fixture's bases into target (a repository name on the registry).
func (f *fixture) jobs(t *testing.T, target string) []Job {
	t.Helper()
	re, err := CompileMatch(`(?P<df>[0-9a-f]{7})-(?P<custom>.+)`)
	if err != nil {
		t.Fatal(err)
	}
	bases, err := BasesFromRefs(f.bases, re)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := ParseTemplate("{sdk}-{df}-{custom}-source-minimal")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := Jobs(bases, repo(t, f.reg, target), tmpl, map[string]string{"sdk": "abc1234"})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func (f *fixture) options(rt http.RoundTripper) Options {
	return Options{
		Layer:      f.layer,
		CreatedBy:  "COPY /agent-server",
		Env:        []string{"AGENT=1", "PATH=/agent-server/bin:/usr/bin"},
		Entrypoint: []string{"/agent-server/bin/agent"},
		Labels:     map[string]string{"org.opencontainers.image.revision": "abc1234"},
		Created:    created,
		Transport:  rt,
		Keychain:   authn.NewMultiKeychain(),
	}
}

func TestComposeThinImagesAcrossRepositories(t *testing.T) {
	f := newFixture(t, regtest.Options{})
	rec := newRecorder()
	jobs := f.jobs(t, "eval-agent-server")
	rep, err := Compose(context.Background(), jobs, f.options(rec))
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Summary; s.Composed != len(jobs) || s.Failed != 0 || s.LayerUploads != 1 || s.Platforms != 5 {
		t.Errorf("summary = %+v, want %d composed, 5 platforms, the layer uploaded once", s, len(jobs))
	}
	if s := rep.Summary; s.BytesUploaded <= 0 || s.BytesUploaded >= s.BytesFullRebuild {
		t.Errorf("uploaded %d bytes against %d for a full rebuild", s.BytesUploaded, s.BytesFullRebuild)
	}
	for _, job := range jobs {
		checkThinImage(t, f, job)
	}

	// The requests: base layers are mounted, never read nor uploaded; the shared layer is sent once.
	configs := map[string]bool{}
	for _, job := range jobs {
		for _, img := range remoteImages(t, job.Base.Ref) {
			d, _ := img.ConfigName()
			configs[d.String()] = true
		}
	}
	mounted := map[string]bool{}
	var layerCommits int
	for _, q := range rec.requests() {
		digest := q.Path[strings.LastIndexByte(q.Path, '/')+1:]
		switch {
		case q.Method == http.MethodGet && strings.Contains(q.Path, "/blobs/sha256:"):
			if !configs[digest] {
				t.Errorf("GET %s: only base configs may be read", q.Path)
			}
		case q.Method == http.MethodPost && q.Query.Get("mount") != "":
			if q.Query.Get("from") != "eval-base" {
				t.Errorf("mount from %q, want eval-base", q.Query.Get("from"))
			}
			mounted[q.Query.Get("mount")] = true
		case q.Method == http.MethodPut && strings.Contains(q.Path, "/blobs/uploads/"):
			d := q.Query.Get("digest")
			if f.baseLayers[d] {
				t.Errorf("base layer %s uploaded", d)
			}
			if ld, _ := f.layer.Digest(); d == ld.String() {
				layerCommits++
			}
		}
	}
	for d := range f.baseLayers {
		if !mounted[d] && !isAttestationBlob(t, f, d) {
			t.Errorf("base layer %s not mounted into eval-agent-server", d)
		}
	}
	if layerCommits != 1 {
		t.Errorf("the shared layer was committed %d times, want 1", layerCommits)
	}

	// A second run finds every image in place and writes nothing.
	rec2 := newRecorder()
	rep2, err := Compose(context.Background(), jobs, f.options(rec2))
	if err != nil {
		t.Fatal(err)
	}
	if s := rep2.Summary; s.Unchanged != len(jobs) || s.BytesUploaded != 0 {
		t.Errorf("rerun summary = %+v, want all unchanged and nothing uploaded", s)
	}
	if w := rec2.writes(); len(w) != 0 {
		t.Errorf("rerun wrote %v", w)
	}
}

// isAttestationBlob reports whether d belongs to the fixture's attestation manifest, which is
// dropped by default and so never mounted.
func isAttestationBlob(t *testing.T, f *fixture, d string) bool {
	img := attestationImage(t)
	m, _ := img.Manifest()
	return m.Layers[0].Digest.String() == d
}

func TestComposeInTheBaseRepositoryTouchesNoBaseBlob(t *testing.T) {
	f := newFixture(t, regtest.Options{})
	rec := newRecorder()
	jobs := f.jobs(t, "eval-base")
	if _, err := Compose(context.Background(), jobs, f.options(rec)); err != nil {
		t.Fatal(err)
	}
	for _, q := range rec.requests() {
		for d := range f.baseLayers {
			if strings.Contains(q.Path, d) || q.Query.Get("mount") == d || q.Query.Get("digest") == d {
				t.Errorf("%s %s?%s names base layer %s", q.Method, q.Path, q.Query.Encode(), d)
			}
		}
	}
	for _, job := range jobs {
		checkThinImage(t, f, job)
	}
}

func TestComposeDryRunPushesNothing(t *testing.T) {
	f := newFixture(t, regtest.Options{})
	rec := newRecorder()
	jobs := f.jobs(t, "eval-agent-server")
	opts := f.options(rec)
	opts.DryRun = true
	rep, err := Compose(context.Background(), jobs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if w := rec.writes(); len(w) != 0 {
		t.Errorf("dry run wrote %v", w)
	}
	if rep.Summary.Planned != len(jobs) || rep.Summary.BytesUploaded != 0 {
		t.Errorf("summary = %+v, want %d planned and nothing uploaded", rep.Summary, len(jobs))
	}
	for _, r := range rep.Images {
		kinds := map[string]int{}
		for _, w := range r.Writes {
			kinds[w.Kind]++
		}
		if kinds["tag"] != 1 || kinds["layer"] == 0 || kinds["config"] == 0 || kinds["mount"] == 0 {
			t.Errorf("%s: writes %v, want mounts, the layer, configs and one tag", r.Target, kinds)
		}
		if _, err := remote.Head(mustTag(t, r.Target)); err == nil {
			t.Errorf("dry run created %s", r.Target)
		}
	}

	// The dry run computes the very images a real run pushes.
	real, err := Compose(context.Background(), jobs, f.options(newRecorder()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range jobs {
		if rep.Images[i].Digest != real.Images[i].Digest {
			t.Errorf("%s: dry run digest %s, pushed %s", jobs[i].Target, rep.Images[i].Digest, real.Images[i].Digest)
		}
	}
}

func TestComposeKeepsAttestationsOnRequest(t *testing.T) {
	f := newFixture(t, regtest.Options{})
	var jobs []Job
	for _, j := range f.jobs(t, "eval-agent-server") {
		if strings.Contains(j.Base.Ref.String(), "multi") {
			jobs = append(jobs, j)
		}
	}
	opts := f.options(newRecorder())
	opts.KeepAttestations = true
	if _, err := Compose(context.Background(), jobs, opts); err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(jobs[0].Target)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	var att []v1.Descriptor
	for _, d := range im.Manifests {
		if isAttestation(d) {
			att = append(att, d)
		}
	}
	if len(att) != 1 {
		t.Fatalf("index has %d attestation manifests, want 1", len(att))
	}
	if _, err := remote.Get(jobs[0].Target.Context().Digest(att[0].Digest.String())); err != nil {
		t.Errorf("the kept attestation manifest is not in the target repository: %v", err)
	}
}

func TestComposeNeverDownloadsWhenMountIsRefused(t *testing.T) {
	// A registry that ignores cross-repository mount requests (answers with a plain upload).
	noMount := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Query().Has("mount") {
				q := r.URL.Query()
				q.Del("mount")
				q.Del("from")
				r.URL.RawQuery = q.Encode()
			}
			h.ServeHTTP(w, r)
		})
	}
	f := newFixture(t, regtest.Options{Wrap: noMount})
	rec := newRecorder()
	jobs := f.jobs(t, "eval-agent-server")
	rep, err := Compose(context.Background(), jobs, f.options(rec))
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Compose error = %v, want ErrIncomplete", err)
	}
	if rep.Summary.Failed != len(jobs) {
		t.Errorf("%d failed, want all %d", rep.Summary.Failed, len(jobs))
	}
	for _, r := range rep.Images {
		if !strings.Contains(r.Error, ErrBaseLayerRead.Error()) {
			t.Errorf("%s: error %q, want %q", r.Base, r.Error, ErrBaseLayerRead)
		}
	}
	for _, q := range rec.requests() {
		if q.Method == http.MethodGet && f.baseLayers[q.Path[strings.LastIndexByte(q.Path, '/')+1:]] {
			t.Errorf("GET %s: a base layer was downloaded", q.Path)
		}
	}
}

func TestComposeMountsTheLayerIntoASecondRepository(t *testing.T) {
	f := newFixture(t, regtest.Options{})
	a, b := f.jobs(t, "team-a/agent"), f.jobs(t, "team-b/agent")
	jobs := []Job{a[0], b[1]}
	rec := newRecorder()
	opts := f.options(rec)
	opts.Concurrency = 1
	rep, err := Compose(context.Background(), jobs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.LayerUploads != 1 {
		t.Errorf("layer uploaded %d times, want once then mounted", rep.Summary.LayerUploads)
	}
	ld, _ := f.layer.Digest()
	var mounts int
	for _, q := range rec.requests() {
		if q.Method == http.MethodPost && q.Query.Get("mount") == ld.String() && q.Query.Get("from") == "team-a/agent" {
			mounts++
		}
	}
	if mounts != 1 {
		t.Errorf("%d mounts of the layer from team-a/agent, want 1", mounts)
	}
	for _, job := range jobs {
		checkThinImage(t, f, job)
	}
}

func TestComposeRefusesCrossRegistry(t *testing.T) {
	f := newFixture(t, regtest.Options{})
	elsewhere, _ := name.NewTag("127.0.0.1:1/eval-agent-server:x")
	rec := newRecorder()
	_, err := Compose(context.Background(), []Job{{Base: Base{Ref: f.bases[0]}, Target: elsewhere}}, f.options(rec))
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), ErrCrossRegistry.Error()) {
		t.Errorf("Compose error = %v, want %v", err, ErrCrossRegistry)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests made, want none", n)
	}
}

// checkThinImage checks the composed image of job against its base: platforms, annotations,
// config, layers, and the filesystem every platform shows.
func checkThinImage(t *testing.T, f *fixture, job Job) {
	t.Helper()
	baseDesc, err := remote.Get(job.Base.Ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(job.Target)
	if err != nil {
		t.Fatalf("%s: %v", job.Target, err)
	}
	if desc.MediaType != baseDesc.MediaType {
		t.Errorf("%s: media type %s, base has %s", job.Target, desc.MediaType, baseDesc.MediaType)
	}
	wantAnn := map[string]string{
		inventory.AnnotationBaseName:   job.Base.Ref.Name(),
		inventory.AnnotationBaseDigest: baseDesc.Digest.String(),
		inventory.AnnotationCreated:    created.Format(time.RFC3339),
	}
	type pair struct {
		platform    string
		base, thin  v1.Image
		baseDigest  string
		annotations map[string]string
	}
	var pairs []pair
	if desc.MediaType.IsIndex() {
		baseIdx, _ := baseDesc.ImageIndex()
		idx, _ := desc.ImageIndex()
		bim, _ := baseIdx.IndexManifest()
		im, _ := idx.IndexManifest()
		if diff := cmp.Diff(wantAnn, im.Annotations); diff != "" {
			t.Errorf("%s: index annotations (-want +got):\n%s", job.Target, diff)
		}
		var want, got []string
		for _, d := range bim.Manifests {
			if !isAttestation(d) {
				want = append(want, d.Platform.String())
			}
		}
		for i, d := range im.Manifests {
			got = append(got, d.Platform.String())
			if i >= len(want) {
				break
			}
			base, _ := baseIdx.Image(bim.Manifests[i].Digest)
			thin, _ := idx.Image(d.Digest)
			m, _ := thin.Manifest()
			pairs = append(pairs, pair{d.Platform.String(), base, thin, bim.Manifests[i].Digest.String(), m.Annotations})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: platforms (-base +thin):\n%s", job.Target, diff)
		}
	} else {
		base, _ := baseDesc.Image()
		thin, _ := desc.Image()
		m, _ := thin.Manifest()
		pairs = append(pairs, pair{"", base, thin, baseDesc.Digest.String(), m.Annotations})
	}
	ld, _ := f.layer.Digest()
	lid, _ := f.layer.DiffID()
	for _, p := range pairs {
		where := job.Target.String() + " " + p.platform
		wantAnn[inventory.AnnotationBaseDigest] = p.baseDigest
		if diff := cmp.Diff(wantAnn, p.annotations); diff != "" {
			t.Errorf("%s: manifest annotations (-want +got):\n%s", where, diff)
		}
		bm, _ := p.base.Manifest()
		tm, _ := p.thin.Manifest()
		if len(tm.Layers) != len(bm.Layers)+1 || tm.Layers[len(bm.Layers)].Digest != ld {
			t.Fatalf("%s: %d layers, want the base's %d plus %s", where, len(tm.Layers), len(bm.Layers), ld)
		}
		if diff := cmp.Diff(bm.Layers, tm.Layers[:len(bm.Layers)]); diff != "" {
			t.Errorf("%s: base layers changed (-base +thin):\n%s", where, diff)
		}
		bc, _ := p.base.ConfigFile()
		tc, _ := p.thin.ConfigFile()
		if diff := cmp.Diff(append(slices.Clone(bc.RootFS.DiffIDs), lid), tc.RootFS.DiffIDs); diff != "" {
			t.Errorf("%s: diff_ids (-want +got):\n%s", where, diff)
		}
		if n := len(tc.History); n != len(bc.History)+1 || tc.History[n-1].CreatedBy != "COPY /agent-server" || !tc.History[n-1].Created.Equal(created) {
			t.Errorf("%s: history %+v, want the base's plus one COPY entry", where, tc.History)
		}
		if !tc.Created.Equal(created) || tc.OS != bc.OS || tc.Architecture != bc.Architecture {
			t.Errorf("%s: created %v %s/%s, want %v %s/%s", where, tc.Created, tc.OS, tc.Architecture, created, bc.OS, bc.Architecture)
		}
		wantEnv := mergeEnv(bc.Config.Env, []string{"AGENT=1", "PATH=/agent-server/bin:/usr/bin"})
		if diff := cmp.Diff(wantEnv, tc.Config.Env); diff != "" || !slices.Contains(tc.Config.Env, "PATH=/agent-server/bin:/usr/bin") {
			t.Errorf("%s: env (-want +got):\n%s", where, diff)
		}
		if !slices.Equal(tc.Config.Entrypoint, []string{"/agent-server/bin/agent"}) || tc.Config.Cmd != nil ||
			tc.Config.Labels["org.opencontainers.image.revision"] != "abc1234" {
			t.Errorf("%s: entrypoint %q cmd %q labels %v", where, tc.Config.Entrypoint, tc.Config.Cmd, tc.Config.Labels)
		}

		bl, _ := p.base.Layers()
		tl, _ := p.thin.Layers()
		want := flatten(t, bl)
		for k, v := range sdkFS("agent-server") {
			want[k] = v
		}
		if diff := cmp.Diff(want, flatten(t, tl)); diff != "" {
			t.Errorf("%s: filesystem (-base+sdk +thin):\n%s", where, diff)
		}
	}
}

func remoteImages(t *testing.T, r name.Reference) []v1.Image {
	t.Helper()
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType.IsIndex() {
		idx, _ := desc.ImageIndex()
		return imagesOf(t, idx)
	}
	img, _ := desc.Image()
	return []v1.Image{img}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func TestComposeStopsWhenCancelled(t *testing.T) {
	f := newFixture(t, regtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := newRecorder()
	jobs := f.jobs(t, "eval-agent-server")
	rep, err := Compose(ctx, jobs, f.options(rec))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Compose error = %v, want context.Canceled", err)
	}
	if rep.Summary.Failed != len(jobs) || len(rep.Images) != len(jobs) {
		t.Errorf("summary = %+v, want every job failed", rep.Summary)
	}
	if w := rec.writes(); len(w) != 0 {
		t.Errorf("a cancelled run wrote %v", w)
	}
}
