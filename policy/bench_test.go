package policy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// caseScale is the case's repository at full size.
const (
	caseCommits      = 548
	caseBigCommits   = 63 // commits with 1,100 image tags each
	caseImageTags    = 130_602
	caseCacheTags    = 2_793 // 931 instances x {shared, -main, -branch}
	caseLegacyTags   = 30
	caseOtherTags    = 20 // 10 referrer tags and 10 unknown tags
	caseTotalTags    = caseImageTags + caseCacheTags + caseLegacyTags + caseOtherTags
	caseInstances    = 2_294
	caseBigPerCommit = 1_100
)

// fullCase builds a synthetic inventory of the case's shape and size: 133,445 tags, each image
// tag a buildx push (index, amd64 image, attestation), about 400k manifests.
func fullCase(tb testing.TB) *inventory.Inventory {
	tb.Helper()
	// Digests are sha256 sums, random-looking as real ones are (sequential numbers would share
	// long prefixes and slow every comparison down unrealistically).
	var n uint64
	next := func() string {
		n++
		sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, n))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	inv := &inventory.Inventory{
		Repository: "ghcr.io/openhands/eval-agent-server",
		Manifests:  make(map[string]*inventory.Manifest, 3*caseImageTags+caseCacheTags+100),
		Tags:       make([]inventory.Tag, 0, caseTotalTags),
		ListedAt:   t0,
	}
	baseLayer := make([]inventory.Layer, caseInstances)
	for i := range baseLayer {
		baseLayer[i] = inventory.Layer{Digest: next(), Size: 1_300_000_000}
	}
	sdkLayer := make([]inventory.Layer, caseCommits)
	for i := range sdkLayer {
		sdkLayer[i] = inventory.Layer{Digest: next(), Size: 80_000_000}
	}
	push := func(tag string, base, sdk inventory.Layer, hours int) string {
		created := hoursAgo(hours)
		img := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIManifest, Size: 1200, Created: created,
			Config: &inventory.Blob{Digest: next(), Size: 9000}, Layers: []inventory.Layer{base, sdk}}
		att := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIManifest, Size: 800,
			Config: &inventory.Blob{Digest: next(), Size: 200}, Layers: []inventory.Layer{{Digest: next(), Size: 4000}}}
		idx := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIIndex, Size: 900, Created: created,
			Manifests: []inventory.Descriptor{platform(img.Digest, "linux/amd64"), attests(att.Digest, img.Digest)}}
		for _, m := range []*inventory.Manifest{img, att, idx} {
			inv.Manifests[m.Digest] = m
		}
		inv.Tags = append(inv.Tags, inventory.Tag{Name: tag, Digest: idx.Digest})
		return idx.Digest
	}
	images := 0
	var someIndexes []string
	for c := 0; c < caseCommits && images < caseImageTags; c++ {
		count := (caseImageTags - caseBigCommits*caseBigPerCommit) / (caseCommits - caseBigCommits)
		if c < caseBigCommits {
			count = caseBigPerCommit
		} else if c-caseBigCommits < (caseImageTags-caseBigCommits*caseBigPerCommit)%(caseCommits-caseBigCommits) {
			count++
		}
		for k := 0; k < count; k++ {
			inst := (c*7 + k) % caseInstances
			tag := fmt.Sprintf("%s-%s-sweb.eval.x86_64.repo_1776_inst-%05d-source-minimal", sdk7(c), df, inst)
			if k > caseInstances-1 {
				tag = fmt.Sprintf("%s-%s-commit0-repo%05d-source-minimal", sdk7(c), df, k)
			}
			d := push(tag, baseLayer[inst], sdkLayer[c], c*6+k%5)
			if k == 0 {
				someIndexes = append(someIndexes, d)
			}
			images++
		}
	}
	if images != caseImageTags {
		tb.Fatalf("built %d image tags, want %d", images, caseImageTags)
	}
	for i := 0; i < caseCacheTags; i++ {
		inst := i / 3
		tag := fmt.Sprintf("buildcache-source-minimal-sweb.eval.x86_64.repo_1776_inst-%05d_tag_latest-%012x%s", inst, inst, []string{"", "-main", "-feature"}[i%3])
		m := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIManifest, Size: 3000, Created: hoursAgo(i % 500),
			Config: &inventory.Blob{Digest: next(), Size: 300}, Layers: []inventory.Layer{{Digest: next(), Size: 50_000_000}}}
		inv.Manifests[m.Digest] = m
		inv.Tags = append(inv.Tags, inventory.Tag{Name: tag, Digest: m.Digest})
	}
	for i := 0; i < caseLegacyTags; i++ {
		push(fmt.Sprintf("v1.0.%d", i), baseLayer[i], sdkLayer[caseCommits-1], 4000+i)
	}
	for i := 0; i < caseOtherTags/2; i++ {
		subject := someIndexes[i*50]
		sig := &inventory.Manifest{Digest: next(), MediaType: inventory.MediaTypeOCIManifest, Size: 500,
			Config: &inventory.Blob{Digest: next(), Size: 2}, Layers: []inventory.Layer{{Digest: next(), Size: 300}}}
		inv.Manifests[sig.Digest] = sig
		inv.Tags = append(inv.Tags, inventory.Tag{Name: "sha256-" + subject[7:] + ".sig", Digest: sig.Digest})
		push(fmt.Sprintf("nightly-%d", i), baseLayer[i], sdkLayer[i], 100)
	}
	if len(inv.Tags) != caseTotalTags {
		tb.Fatalf("built %d tags, want %d", len(inv.Tags), caseTotalTags)
	}
	// An inventory's tags are sorted by name, as a listing leaves them.
	slices.SortFunc(inv.Tags, func(a, b inventory.Tag) int { return strings.Compare(a.Name, b.Name) })
	return inv
}

// BenchmarkEvaluate evaluates the example policy on the full-size case: 133,445 tags, ~400k
// manifests, from an inventory already in memory (as after a warm listing). The target is under
// 2 s and 500 MB per evaluation. Besides time and B/op (bytes allocated per evaluation) it
// reports, in MB:
//
//	inventory-MB  heap in use after a GC before evaluating: the inventory and the fixture;
//	peak-heap-MB  the most heap in use seen while evaluating (sampled every millisecond), the
//	              inventory included: what the process needs, at the default GOGC;
//	plan-MB       heap the plan of the last evaluation retains, after a GC;
//
// and cpu-s/op, the CPU time the process spent per evaluation (garbage collection on every core
// included), which a machine shared with other work inflates less than ns/op.
func BenchmarkEvaluate(b *testing.B) {
	inv := fullCase(b)
	pol := examplePolicy(b)
	l := caseLoader()
	l.commits[sdkRepo] = history(caseCommits)
	ks, err := Resolve(context.Background(), pol, l, t0)
	if err != nil {
		b.Fatal(err)
	}
	base := heapAfterGC()
	b.ReportAllocs()
	b.ResetTimer()
	peak := sampleHeap()
	cpu := cpuTime()
	var p *plan.Plan
	for b.Loop() {
		p = nil
		p, err = Evaluate(inv, pol, ks, t0)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu = cpuTime() - cpu
	maxHeap := peak()
	retained := heapAfterGC()
	kept, deleted := p.Summary.KeptManifests, p.Summary.DeletedManifests
	b.ReportMetric(float64(len(inv.Tags)), "tags")
	b.ReportMetric(float64(kept+deleted), "manifests")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(megabytes(base), "inventory-MB")
	b.ReportMetric(megabytes(maxHeap), "peak-heap-MB")
	b.ReportMetric(megabytes(retained-min(retained, base)), "plan-MB")
	if deleted == 0 || kept == 0 {
		b.Errorf("kept %d, deleted %d: the benchmark should both keep and delete", kept, deleted)
	}
	runtime.KeepAlive(inv)
}

// heapMetrics are the runtime/metrics whose sum is the heap in use (runtime.MemStats.HeapInuse).
var heapMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

// heapInUse reads the heap in use without stopping the world.
func heapInUse(samples []metrics.Sample) uint64 {
	metrics.Read(samples)
	var n uint64
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			n += s.Value.Uint64()
		}
	}
	return n
}

// newHeapSamples returns samples for heapMetrics.
func newHeapSamples() []metrics.Sample {
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		samples[i].Name = name
	}
	return samples
}

// heapAfterGC collects garbage and returns the heap in use.
func heapAfterGC() uint64 {
	runtime.GC()
	return heapInUse(newHeapSamples())
}

// sampleHeap samples the heap in use every millisecond until the returned function is called,
// which stops sampling and returns the largest value seen.
func sampleHeap() func() uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		samples := newHeapSamples()
		peak := heapInUse(samples)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				peak = max(peak, heapInUse(samples))
			case <-stop:
				done <- max(peak, heapInUse(samples))
				return
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-done
	}
}

// megabytes converts bytes to MB (10^6 bytes).
func megabytes(n uint64) float64 { return float64(n) / 1e6 }

// BenchmarkPlanFile writes the full case's plan to a file and reads it back, as `regtidy plan -o`
// and `regtidy apply` do: "streamed" with plan.Plan's WriteFile and plan.Read, "whole-value"
// with encoding/json encoding and decoding the plan in one value, for comparison. Besides time it
// reports the file's size, and the most heap in use while writing and while reading over what was
// in use before (the inventory and the evaluated plan), in MB: what each costs on top.
func BenchmarkPlanFile(b *testing.B) {
	inv := fullCase(b)
	pol := examplePolicy(b)
	l := caseLoader()
	l.commits[sdkRepo] = history(caseCommits)
	ks, err := Resolve(context.Background(), pol, l, t0)
	if err != nil {
		b.Fatal(err)
	}
	p, err := Evaluate(inv, pol, ks, t0)
	if err != nil {
		b.Fatal(err)
	}
	wholeWrite := func(p *plan.Plan, path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		return errors.Join(enc.Encode(p), f.Close())
	}
	wholeRead := func(path string) (*plan.Plan, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var p plan.Plan
		return &p, json.NewDecoder(f).Decode(&p)
	}
	for _, way := range []struct {
		name  string
		write func(*plan.Plan, string) error
		read  func(string) (*plan.Plan, error)
	}{
		{"streamed", (*plan.Plan).WriteFile, plan.Read},
		{"whole-value", wholeWrite, wholeRead},
	} {
		b.Run(way.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "plan.json")
			var writePeak, readPeak uint64
			var size int64
			for b.Loop() {
				base := heapAfterGC()
				peak := sampleHeap()
				if err := way.write(p, path); err != nil {
					b.Fatal(err)
				}
				w := peak()
				writePeak = max(writePeak, w-min(w, base))
				fi, err := os.Stat(path)
				if err != nil {
					b.Fatal(err)
				}
				size = fi.Size()
				base = heapAfterGC()
				peak = sampleHeap()
				back, err := way.read(path)
				if err != nil {
					b.Fatal(err)
				}
				r := peak()
				readPeak = max(readPeak, r-min(r, base))
				if len(back.Decisions) != len(p.Decisions) {
					b.Errorf("read back %d decisions of %d", len(back.Decisions), len(p.Decisions))
				}
			}
			b.ReportMetric(float64(size)/1e6, "file-MB")
			b.ReportMetric(megabytes(writePeak), "write-extra-heap-MB")
			b.ReportMetric(megabytes(readPeak), "read-extra-heap-MB")
		})
	}
	runtime.KeepAlive(inv)
}
