package compose

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/regtidy/regtidy/internal/regtest"
	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/registry/transport"
)

// BenchmarkCompose composes one thin image per base over bases shaped like the case's, in the
// embedded registry: each base in eval-base is an index of a linux/amd64 image (a large layer all
// bases share, standing for the OS and toolchain, plus a layer of its own, the instance's
// checkout) and an attestation manifest; thin images go to eval-agent-server, so every base layer
// is mounted across repositories. Each iteration is a new SDK commit: a new layer, new tags.
//
// Knobs (environment): REGTIDY_COMPOSE_BASES (default 50; 2294 is the full SWE-bench set),
// REGTIDY_COMPOSE_SHARED_BYTES (default 32 MiB), REGTIDY_COMPOSE_OWN_BYTES (default 64 KiB),
// REGTIDY_COMPOSE_LAYER_BYTES (the SDK tree, default 1 MiB) and REGTIDY_COMPOSE_CONCURRENCY
// (default 16). Bytes a full rebuild would push scale with the base sizes chosen; the real images
// are 1.38 GB compressed.
//
//	REGTIDY_COMPOSE_BASES=2294 go test ./compose -run '^$' -bench Compose -benchtime 1x -timeout 1h
func BenchmarkCompose(b *testing.B) {
	nBases := envInt(b, "REGTIDY_COMPOSE_BASES", 50)
	shared := envInt(b, "REGTIDY_COMPOSE_SHARED_BYTES", 32<<20)
	own := envInt(b, "REGTIDY_COMPOSE_OWN_BYTES", 64<<10)
	layerBytes := envInt(b, "REGTIDY_COMPOSE_LAYER_BYTES", 1<<20)
	concurrency := envInt(b, "REGTIDY_COMPOSE_CONCURRENCY", 16)

	reg := startRegistry(b, regtest.Options{})
	bases := pushBenchBases(b, reg, nBases, int64(shared), int64(own), concurrency)
	tmpl, err := ParseTemplate("{sdk}-{df}-{custom}-source-minimal")
	if err != nil {
		b.Fatal(err)
	}
	target := repo(b, reg, "eval-agent-server")

	var images, requests, uploaded, full int64
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		layer := benchLayer(b, i, layerBytes)
		jobs, err := Jobs(bases, target, tmpl, map[string]string{"sdk": fmt.Sprintf("%07x", 0x5d4c000+i)})
		if err != nil {
			b.Fatal(err)
		}
		var counter transport.Counter
		opts := Options{
			Layer:       layer,
			Env:         []string{"AGENT_SERVER=/agent-server"},
			Entrypoint:  []string{"/agent-server/bin/agent"},
			Created:     time.Unix(1750000000+int64(i), 0),
			Concurrency: concurrency,
			Transport:   counter.Wrap(transport.NewBase(false, 2*concurrency)),
			Keychain:    authn.NewMultiKeychain(),
		}
		b.StartTimer()
		start := time.Now()
		rep, err := Compose(context.Background(), jobs, opts)
		elapsed += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Summary.Composed != len(jobs) || rep.Summary.LayerUploads != 1 {
			b.Fatalf("summary %+v: want %d composed and the layer uploaded once", rep.Summary, len(jobs))
		}
		images += int64(rep.Summary.Composed)
		requests += counter.Snapshot().Total()
		uploaded += rep.Summary.BytesUploaded
		full += rep.Summary.BytesFullRebuild
		layer.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(images)/elapsed.Seconds(), "images/s")
	b.ReportMetric(float64(requests)/float64(images), "requests/image")
	b.ReportMetric(float64(uploaded)/float64(images), "B-uploaded/image")
	b.ReportMetric(float64(full)/float64(images), "B-full-rebuild/image")
	b.ReportMetric(float64(uploaded)/float64(full), "uploaded/full-rebuild")
}

// pushBenchBases pushes n bases to eval-base and returns them as bases with their tag fields.
func pushBenchBases(b *testing.B, reg *regtest.Registry, n int, shared, own int64, concurrency int) []Base {
	b.Helper()
	rng := rand.New(rand.NewSource(1))
	sharedLayer, err := random.Layer(shared, types.OCILayer, random.WithSource(rng))
	if err != nil {
		b.Fatal(err)
	}
	// Compress the shared layer once, not once per use.
	rc, err := sharedLayer.Compressed()
	if err != nil {
		b.Fatal(err)
	}
	gz, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		b.Fatal(err)
	}
	sharedLayer, err = tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		b.Fatal(err)
	}
	pusher, err := remote.NewPusher(remote.WithJobs(concurrency))
	if err != nil {
		b.Fatal(err)
	}
	re, _ := CompileMatch(`(?P<df>[0-9a-f]{7})-(?P<custom>.+)`)
	baseRepo := repo(b, reg, "eval-base")
	bases := make([]Base, n)
	g := new(errgroup.Group)
	g.SetLimit(concurrency)
	for i := range n {
		seed := rng.Int63()
		g.Go(func() error {
			idx, err := benchBase(sharedLayer, own, seed)
			if err != nil {
				return err
			}
			tag := fmt.Sprintf("%07x-sweb.eval.x86_64.repo_1776_repo-%05d", seed&0xfffffff, i)
			r := baseRepo.Tag(tag)
			if err := pusher.Push(context.Background(), r, idx); err != nil {
				return err
			}
			fields, _ := matchFields(re, tag)
			bases[i] = Base{Ref: r, Fields: fields}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return bases
}

// benchBase is one base: an index of a linux/amd64 image and its attestation manifest.
func benchBase(shared v1.Layer, own, seed int64) (v1.ImageIndex, error) {
	rng := rand.New(rand.NewSource(seed))
	mine, err := random.Layer(own, types.OCILayer, random.WithSource(rng))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, shared, mine)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", fmt.Sprintf("INSTANCE=%d", seed)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	att := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	statement, err := random.Layer(512, "application/vnd.in-toto+json", random.WithSource(rng))
	if err != nil {
		return nil, err
	}
	if att, err = mutate.AppendLayers(att, statement); err != nil {
		return nil, err
	}
	return mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				inventory.AnnotationReferenceType:   "attestation-manifest",
				inventory.AnnotationReferenceDigest: d.String(),
			},
		}},
	), nil
}

// benchLayer builds the SDK layer of commit i: size bytes over 64 files.
func benchLayer(b *testing.B, i, size int) *Layer {
	b.Helper()
	dir := b.TempDir()
	rng := rand.New(rand.NewSource(int64(i)))
	const files = 64
	for f := range files {
		p := filepath.Join(dir, "lib", fmt.Sprintf("mod%02d", f%8), fmt.Sprintf("file%02d.py", f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		body := make([]byte, size/files)
		rng.Read(body)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	l, err := BuildLayer(context.Background(), Dir(dir), LayerOptions{At: "/agent-server", TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func envInt(b *testing.B, key string, def int) int {
	b.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", key, v)
	}
	return n
}
