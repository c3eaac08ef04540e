package source

import (
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regtidy/regtidy/compose"
	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/policy"
	"github.com/regtidy/regtidy/registry"
	"github.com/regtidy/regtidy/registry/transport"
)

// baseFixture is a registry holding base images in openhands/eval-base and thin images composed
// on some of them in openhands/eval-agent-server.
type baseFixture struct {
	reg               *regtest.Registry
	baseRepo, imgRepo string
	// multi and single are the bases images are composed on: an index of two platforms (its
	// children's digests in multiChildren) and an image. unused is a base nothing is built on.
	multi, single, unused v1.Hash
	multiChildren         []v1.Hash
	multiTag, unusedTag   string
}

// newBaseFixture pushes three bases, composes thin images on two of them with package compose,
// and pushes an image that is not composed (a build cache) next to them.
func newBaseFixture(t *testing.T) *baseFixture {
	t.Helper()
	ctx := context.Background()
	reg, err := regtest.Start(ctx, regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	f := &baseFixture{reg: reg, baseRepo: reg.Host + "/openhands/eval-base", imgRepo: reg.Host + "/openhands/eval-agent-server"}
	rng := rand.New(rand.NewSource(3))
	f.multiTag, f.unusedTag = "1111111-sweb.eval.x86_64.multi", "3333333-sweb.eval.x86_64.unused"
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: randomImage(t, rng, "amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: randomImage(t, rng, "arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
	)
	f.multi = pushIndex(t, f.baseRepo+":"+f.multiTag, idx)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range im.Manifests {
		f.multiChildren = append(f.multiChildren, c.Digest)
	}
	f.single = pushImage(t, f.baseRepo+":2222222-sweb.eval.x86_64.single", randomImage(t, rng, "amd64"))
	f.unused = pushImage(t, f.baseRepo+":"+f.unusedTag, randomImage(t, rng, "amd64"))

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "agent"), []byte("#!/bin/sh\necho agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	layer, err := compose.BuildLayer(ctx, compose.Dir(dir), compose.LayerOptions{At: "/agent-server", TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { layer.Close() })
	var jobs []compose.Job
	for base, target := range map[string]string{
		f.multiTag:                        "1a2b3c4-1111111-sweb.eval.x86_64.multi-source-minimal",
		"2222222-sweb.eval.x86_64.single": "1a2b3c4-2222222-sweb.eval.x86_64.single-source-minimal",
	} {
		jobs = append(jobs, compose.Job{
			Base:   compose.Base{Ref: mustRef(t, f.baseRepo+":"+base), Fields: map[string]string{}},
			Target: mustRef(t, f.imgRepo+":"+target).(name.Tag),
		})
	}
	if _, err := compose.Compose(ctx, jobs, compose.Options{Layer: layer, Created: time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	pushImage(t, f.imgRepo+":buildcache-source-minimal-multi", randomImage(t, rng, "amd64"))
	return f
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// randomImage is a small OCI image of two random layers for linux/arch.
func randomImage(t *testing.T, rng *rand.Rand, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(200, 2, random.WithSource(rng))
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func pushImage(t *testing.T, ref string, img v1.Image) v1.Hash {
	t.Helper()
	if err := remote.Write(mustRef(t, ref), img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func pushIndex(t *testing.T, ref string, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	if err := remote.WriteIndex(mustRef(t, ref), idx); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestImageBasesReadsComposedImages(t *testing.T) {
	f := newBaseFixture(t)
	client := registry.New()
	cacheDir := t.TempDir()
	spec := BaseSpec{Repository: f.imgRepo, Registry: client, CacheDir: cacheDir}
	got, err := ImageBases(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	multi := f.imgRepo + ":1a2b3c4-1111111-sweb.eval.x86_64.multi-source-minimal"
	single := f.imgRepo + ":1a2b3c4-2222222-sweb.eval.x86_64.single-source-minimal"
	want := []BaseRef{
		{Digest: f.multi.String(), Name: f.baseRepo + ":" + f.multiTag, Image: multi},
		{Digest: f.multiChildren[0].String(), Name: f.baseRepo + ":" + f.multiTag, Image: multi},
		{Digest: f.multiChildren[1].String(), Name: f.baseRepo + ":" + f.multiTag, Image: multi},
		{Digest: f.single.String(), Name: f.baseRepo + ":2222222-sweb.eval.x86_64.single", Image: single},
	}
	sortRefs := cmp.Transformer("sorted", func(in []BaseRef) map[string]BaseRef {
		out := map[string]BaseRef{}
		for _, r := range in {
			out[r.Digest+" "+r.Image] = r
		}
		return out
	})
	if diff := cmp.Diff(want, got, sortRefs); diff != "" {
		t.Errorf("ImageBases (-want +got):\n%s", diff)
	}

	// A second run reads the manifests from the cache: it only resolves the tags.
	before := client.Counter().Snapshot()
	again, err := ImageBases(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("second run (-first +second):\n%s", diff)
	}
	if gets := countMethod(client.Counter().Snapshot(), "GET") - countMethod(before, "GET"); gets > 1 {
		t.Errorf("second run made %d GETs; want only the tag listing", gets)
	}

	// match restricts the images: none of the binary ones exists.
	onlyBinary, err := ImageBases(context.Background(), BaseSpec{Repository: f.imgRepo, Match: ".*-binary", Registry: client})
	if err != nil || len(onlyBinary) != 0 {
		t.Errorf("match .*-binary: %v, %v; want no bases", onlyBinary, err)
	}

	// A repository that cannot be read fails: never an empty answer.
	_, err = ImageBases(context.Background(), BaseSpec{Repository: f.reg.Host + "/openhands/no-such-repo", Registry: client})
	if !errors.Is(err, ErrImagesUnavailable) || !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("missing repository: %v, want ErrImagesUnavailable wrapping registry.ErrNotFound", err)
	}
	if _, err := ImageBases(context.Background(), BaseSpec{Repository: f.imgRepo, Match: "(", Registry: client}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("bad match: %v, want ErrInvalidSpec", err)
	}
}

// countMethod sums the requests of one method in a snapshot.
func countMethod(s transport.Stats, method string) int64 {
	var n int64
	for _, r := range s.Requests {
		if r.Method == method {
			n += r.Count
		}
	}
	return n
}

// basePolicyText keeps the bases of the images in imgRepo (those tagged match, if set).
func basePolicyText(imgRepo, match string) string {
	cond := "{from: " + imgRepo + "}"
	if match != "" {
		cond = "{from: " + imgRepo + ", match: '" + match + "'}"
	}
	return `version: 1
scheme:
  - kind: base
    match: '(?P<df>[0-9a-f]{7})-sweb\.eval\.x86_64\.(?P<repo>.+)'
rules:
  base:
    keep:
      - base: ` + cond + "\n"
}

// TestBasePolicyOnTheRegistry plans the base repository with a base rule: the bases composed
// images are built on are kept with their platform images, the unused base is deleted.
func TestBasePolicyOnTheRegistry(t *testing.T) {
	f := newBaseFixture(t)
	ctx := context.Background()
	pol, err := policy.Parse("bases.yaml", []byte(basePolicyText(f.imgRepo, "")))
	if err != nil {
		t.Fatal(err)
	}
	client := registry.New()
	keep, err := policy.Resolve(ctx, pol, Loader{Registry: client, ManifestCacheDir: t.TempDir()}, caseNow)
	if err != nil {
		t.Fatal(err)
	}
	inv, _, err := inventory.Build(ctx, client, f.baseRepo, inventory.BuildOptions{
		IsNotFound: func(err error) bool { return errors.Is(err, registry.ErrNotFound) },
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Evaluate(inv, pol, keep, caseNow)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]plan.Action{}
	for _, d := range p.Decisions {
		got[d.Digest] = d.Action
	}
	want := map[string]plan.Action{
		f.multi.String():            plan.Keep,
		f.multiChildren[0].String(): plan.Keep,
		f.multiChildren[1].String(): plan.Keep,
		f.single.String():           plan.Keep,
		f.unused.String():           plan.Delete,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan of %s (-want +got):\n%s", f.baseRepo, diff)
	}
	if d, _ := p.Find(f.multiTag); !strings.HasPrefix(d.Reasons[0].Detail, "base of "+f.imgRepo+":1a2b3c4-1111111") {
		t.Errorf("%s kept because %q", f.multiTag, d.Reasons[0].Detail)
	}
	if d, _ := p.Find(f.unusedTag); !strings.HasPrefix(d.Reasons[0].Detail, "no image tagged in "+f.imgRepo+" names") {
		t.Errorf("%s deleted because %q", f.unusedTag, d.Reasons[0].Detail)
	}

	// Restricted to images that do not exist, the source names no base: the plan fails closed.
	restricted, err := policy.Parse("bases.yaml", []byte(basePolicyText(f.imgRepo, ".*-binary")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Resolve(ctx, restricted, Loader{Registry: client}, caseNow); !errors.Is(err, policy.ErrKeepSource) {
		t.Errorf("Resolve with no base named: %v, want ErrKeepSource", err)
	}
}
