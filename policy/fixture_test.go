package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2025, 11, 20, 12, 0, 0, 0, time.UTC)

// hoursAgo returns t0 minus h hours.
func hoursAgo(h int) time.Time { return t0.Add(-time.Duration(h) * time.Hour) }

// hexOf returns n hex digits derived from a label: stable fake digests and commit hashes.
func hexOf(label string, n int) string {
	sum := sha256.Sum256([]byte(label))
	return hex.EncodeToString(sum[:])[:n]
}

// digestOf returns a stable fake manifest digest for a label.
func digestOf(label string) string { return "sha256:" + hexOf("manifest "+label, 64) }

// commitSHA returns the fake full hash of SDK commit i (0 is the newest).
func commitSHA(i int) string { return hexOf(fmt.Sprintf("sdk commit %d", i), 40) }

// sdk7 returns the 7-hex abbreviation of SDK commit i.
func sdk7(i int) string { return commitSHA(i)[:7] }

// builder builds inventories in the case's shape, in code: no registry.
type builder struct {
	inv *inventory.Inventory
}

// newBuilder starts an inventory of a repository.
func newBuilder(repo string) *builder {
	return &builder{inv: &inventory.Inventory{
		Repository: repo,
		Manifests:  map[string]*inventory.Manifest{},
		ListedAt:   t0,
	}}
}

// done sorts the tags and returns the inventory.
func (b *builder) done() *inventory.Inventory {
	sort.Slice(b.inv.Tags, func(i, j int) bool { return b.inv.Tags[i].Name < b.inv.Tags[j].Name })
	return b.inv
}

// tag points a tag at a digest.
func (b *builder) tag(name, digest string) {
	b.inv.Tags = append(b.inv.Tags, inventory.Tag{Name: name, Digest: digest})
}

// image adds a linux image manifest with a config and layers (named, so images can share them).
func (b *builder) image(label string, created time.Time, layers ...string) string {
	d := digestOf(label)
	m := &inventory.Manifest{
		Digest:    d,
		MediaType: inventory.MediaTypeOCIManifest,
		Size:      1000,
		Config:    &inventory.Blob{MediaType: "application/vnd.oci.image.config.v1+json", Digest: "sha256:" + hexOf("config "+label, 64), Size: 2000},
		Created:   created,
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, inventory.Layer{Digest: "sha256:" + hexOf("layer "+l, 64), Size: int64(len(l)) * 1_000_000})
	}
	b.inv.Manifests[d] = m
	return d
}

// attestation adds an unknown/unknown attestation manifest (its index child descriptor, made by
// attests, names the image it describes).
func (b *builder) attestation(label string) string {
	d := digestOf("attestation " + label)
	b.inv.Manifests[d] = &inventory.Manifest{
		Digest:    d,
		MediaType: inventory.MediaTypeOCIManifest,
		Size:      800,
		Config:    &inventory.Blob{Digest: "sha256:" + hexOf("att config "+label, 64), Size: 200},
		Layers:    []inventory.Layer{{Digest: "sha256:" + hexOf("provenance "+label, 64), Size: 5000}},
	}
	return d
}

// index adds an OCI index listing children; created is the index's creation time.
func (b *builder) index(label string, created time.Time, children ...inventory.Descriptor) string {
	d := digestOf("index " + label)
	b.inv.Manifests[d] = &inventory.Manifest{
		Digest:    d,
		MediaType: inventory.MediaTypeOCIIndex,
		Size:      900,
		Manifests: children,
		Created:   created,
	}
	return d
}

// platform describes an image as an index child.
func platform(d, p string) inventory.Descriptor {
	return inventory.Descriptor{MediaType: inventory.MediaTypeOCIManifest, Digest: d, Size: 1000, Platform: p}
}

// attests describes an attestation manifest as an index child.
func attests(d, subject string) inventory.Descriptor {
	return inventory.Descriptor{
		MediaType: inventory.MediaTypeOCIManifest, Digest: d, Size: 800, Platform: "unknown/unknown",
		ReferenceType: "attestation-manifest",
	}
}

// pushed adds what one buildx push of a tag makes: a tagged index listing a linux/amd64 image
// and its attestation manifest. It returns the three digests.
func (b *builder) pushed(tag string, created time.Time, layers ...string) (idx, img, att string) {
	img = b.image(tag, created, layers...)
	att = b.attestation(tag)
	idx = b.index(tag, created, platform(img, "linux/amd64"), attests(att, img))
	b.tag(tag, idx)
	return idx, img, att
}

// signature adds a cosign-style referrer tagged "sha256-<subject hex>.<suffix>".
func (b *builder) signature(subject, suffix string) string {
	d := digestOf("signature " + subject + suffix)
	b.inv.Manifests[d] = &inventory.Manifest{
		Digest:    d,
		MediaType: inventory.MediaTypeOCIManifest,
		Size:      500,
		Config:    &inventory.Blob{Digest: "sha256:" + hexOf("sig config", 64), Size: 100},
		Layers:    []inventory.Layer{{Digest: "sha256:" + hexOf("sig "+subject+suffix, 64), Size: 300}},
	}
	b.tag("sha256-"+subject[len("sha256:"):]+"."+suffix, d)
	return d
}

// subjectReferrer adds an untagged OCI referrer whose subject field names subject.
func (b *builder) subjectReferrer(label, subject string) string {
	d := digestOf("referrer " + label)
	b.inv.Manifests[d] = &inventory.Manifest{
		Digest:    d,
		MediaType: inventory.MediaTypeOCIManifest,
		Size:      600,
		Config:    &inventory.Blob{Digest: "sha256:" + hexOf("empty", 64), Size: 2},
		Layers:    []inventory.Layer{{Digest: "sha256:" + hexOf("bundle "+label, 64), Size: 4000}},
		Extra:     &inventory.ManifestExtra{ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", Subject: subject},
	}
	return d
}

// version records a GitHub package version for a digest.
func (b *builder) version(d string, id int64, created time.Time, tags ...string) {
	if b.inv.Versions == nil {
		b.inv.Versions = map[string]*inventory.Version{}
	}
	b.inv.Versions[d] = &inventory.Version{ID: id, Digest: d, Tags: tags, CreatedAt: created, UpdatedAt: created}
}

// fakeLoader is a Loader with canned answers, counting calls.
type fakeLoader struct {
	mu          sync.Mutex
	commits     map[string][]Commit  // by repo
	runs        map[string][]RunRef  // by URL
	runsRead    map[string]RunsRead  // by URL: what LiveCommits read, instead of runs
	bases       map[string][]BaseRef // by repository
	commitsErr  error
	runsErr     error
	basesErr    error
	commitCalls int
	runCalls    int
	baseCalls   int
}

// LastCommits returns the canned history of spec.Repo, cut to spec.Last.
func (f *fakeLoader) LastCommits(ctx context.Context, spec CommitsSpec) ([]Commit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commitCalls++
	if f.commitsErr != nil {
		return nil, f.commitsErr
	}
	c := f.commits[spec.Repo]
	if len(c) > spec.Last {
		c = c[:spec.Last]
	}
	return c, nil
}

// LiveCommits returns the canned runs of spec.URL, as read from one metadata file that holds
// them and one terminal run; or the canned read of spec.URL, when there is one.
func (f *fakeLoader) LiveCommits(ctx context.Context, spec RunsSpec, now time.Time) (RunsRead, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runCalls++
	if f.runsErr != nil {
		return RunsRead{}, f.runsErr
	}
	if read, ok := f.runsRead[spec.URL]; ok {
		return read, nil
	}
	runs := f.runs[spec.URL]
	return RunsRead{Runs: runs, Matched: 1, Files: 1, Lines: len(runs) + 1}, nil
}

// BaseDigests returns the canned bases of spec.Repository, those of images spec.Match matches.
func (f *fakeLoader) BaseDigests(ctx context.Context, spec BaseSpec) ([]BaseRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.baseCalls++
	if f.basesErr != nil {
		return nil, f.basesErr
	}
	var out []BaseRef
	for _, r := range f.bases[spec.Repository] {
		_, tag, _ := strings.Cut(strings.TrimPrefix(r.Image, spec.Repository), ":")
		if spec.Match == "" || regexp.MustCompile("^(?:"+spec.Match+")$").MatchString(tag) {
			out = append(out, r)
		}
	}
	return out, nil
}

// history returns n fake SDK commits, newest first, one an hour.
func history(n int) []Commit {
	out := make([]Commit, n)
	for i := range out {
		out[i] = Commit{SHA: commitSHA(i), Time: hoursAgo(i)}
	}
	return out
}

// The sources of examples/openhands.yaml.
const (
	sdkRepo  = "https://github.com/OpenHands/software-agent-sdk"
	runsURL  = "gs://openhands-evaluation-results/metadata/*.jsonl"
	instance = "django_1776_django-11099"
)

// caseLoader answers the example policy's sources: 40 SDK commits, and one live run that still
// uses commit #35 (far outside the last 30).
func caseLoader() *fakeLoader {
	return &fakeLoader{
		commits: map[string][]Commit{sdkRepo: history(40)},
		runs: map[string][]RunRef{runsURL: {{
			Commit: commitSHA(35), Run: "evals/2025-11-19/run-17", Status: "evaluating",
			File: "gs://openhands-evaluation-results/metadata/2025-11-19.jsonl", Line: 4,
		}}},
	}
}
