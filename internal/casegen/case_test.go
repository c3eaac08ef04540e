package casegen_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/regtidy/regtidy/internal/casegen"
	"github.com/regtidy/regtidy/internal/regtest"
)

// startRegistry starts an in-memory registry for one test.
func startRegistry(t testing.TB) *regtest.Registry {
	t.Helper()
	r, err := regtest.Start(context.Background(), regtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// fetch GETs path from the registry and returns the body and the Docker-Content-Digest header.
func fetch(t *testing.T, r *regtest.Registry, path string) ([]byte, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.URL+path, nil)
	req.Header.Set("Accept", strings.Join([]string{v1.MediaTypeImageIndex, v1.MediaTypeImageManifest}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, body, err)
	}
	return body, resp.Header.Get("Docker-Content-Digest")
}

func TestFillCase(t *testing.T) {
	r := startRegistry(t)
	ctx := context.Background()
	var calls, last, lastTotal int
	c, err := casegen.FillCase(ctx, r.Host, casegen.CaseSpec{Scale: 0.005, Seed: 11, Referrers: 6, BaseRepository: "openhands/eval-base",
		Progress: func(done, total int) {
			if done <= last {
				t.Errorf("progress went from %d to %d", last, done)
			}
			calls, last, lastTotal = calls+1, done, total
		}})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(c.Tags) + len(c.BaseTags); last != want || lastTotal != want || calls == 0 {
		t.Errorf("progress ended at %d/%d after %d calls, want %d", last, lastTotal, calls, want)
	}

	// The registry lists exactly the case's tags.
	var list struct{ Tags []string }
	body, _ := fetch(t, r, "/v2/"+c.Repository+"/tags/list")
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	sort.Strings(list.Tags)
	var names []string
	kinds := map[casegen.TagKind]int{}
	for _, tag := range c.Tags {
		names = append(names, tag.Name)
		kinds[tag.Kind]++
	}
	if diff := cmp.Diff(names, list.Tags); diff != "" {
		t.Errorf("tags/list (-case +registry):\n%s", diff)
	}
	wantKinds := map[casegen.TagKind]int{casegen.KindImage: c.Totals.Images, casegen.KindBuildcache: c.Totals.Buildcache,
		casegen.KindLegacy: c.Totals.Legacy, casegen.KindReferrer: c.Totals.Referrers}
	if diff := cmp.Diff(wantKinds, kinds); diff != "" || c.Totals.Referrers != 8 || c.Totals.SharedDigests < 2 {
		t.Errorf("kinds (-totals +tags):\n%s\ntotals %+v", diff, c.Totals)
	}

	for i, tag := range c.Tags {
		body, dgst := fetch(t, r, "/v2/"+c.Repository+"/manifests/"+tag.Name)
		if dgst != tag.Digest {
			t.Fatalf("%s resolves to %s, case says %s", tag.Name, dgst, tag.Digest)
		}
		var m v1.Manifest
		var idx v1.Index
		switch {
		case tag.Kind == casegen.KindImage || tag.Kind == casegen.KindLegacy:
			checkBuildxIndex(t, tag, body)
			if i%10 == 0 { // children and config exist and carry the push time
				img, _ := fetch(t, r, "/v2/"+c.Repository+"/manifests/"+tag.ChildDigests[0])
				json.Unmarshal(img, &m)
				cfgBody, _ := fetch(t, r, "/v2/"+c.Repository+"/blobs/"+string(m.Config.Digest))
				var cfg v1.Image
				json.Unmarshal(cfgBody, &cfg)
				if cfg.Created == nil || !cfg.Created.Equal(tag.Created) || len(cfg.RootFS.DiffIDs) != len(m.Layers) {
					t.Errorf("%s: config created %v (want %s), %d diff_ids for %d layers", tag.Name, cfg.Created, tag.Created, len(cfg.RootFS.DiffIDs), len(m.Layers))
				}
				if tag.Kind == casegen.KindImage && cfg.Config.Labels["org.opencontainers.image.revision"] != tag.SDK {
					t.Errorf("%s: revision label %q, want %s", tag.Name, cfg.Config.Labels["org.opencontainers.image.revision"], tag.SDK)
				}
				fetch(t, r, "/v2/"+c.Repository+"/manifests/"+tag.ChildDigests[1])
			}
		case tag.Kind == casegen.KindBuildcache:
			json.Unmarshal(body, &m)
			created, err := time.Parse(time.RFC3339, m.Annotations[v1.AnnotationCreated])
			if err != nil || !created.Equal(tag.Created) || m.Config.MediaType != "application/vnd.buildkit.cacheconfig.v0" || tag.ChildDigests != nil {
				t.Errorf("%s: created %q (want %s), config %s", tag.Name, m.Annotations[v1.AnnotationCreated], tag.Created, m.Config.MediaType)
			}
		case strings.HasSuffix(tag.Name, ".sig"):
			if tag.Name != "sha256-"+strings.TrimPrefix(tag.Subject, "sha256:")+".sig" {
				t.Errorf("signature %s names another subject than %s", tag.Name, tag.Subject)
			}
		default:
			json.Unmarshal(body, &idx)
			if len(idx.Manifests) != 1 || len(tag.ChildDigests) != 1 {
				t.Fatalf("referrers index %s: %s", tag.Name, body)
			}
			art, _ := fetch(t, r, "/v2/"+c.Repository+"/manifests/"+tag.ChildDigests[0])
			json.Unmarshal(art, &m)
			if m.Subject == nil || string(m.Subject.Digest) != tag.Subject || tag.Name != "sha256-"+strings.TrimPrefix(tag.Subject, "sha256:") {
				t.Errorf("referrers index %s: artifact subject %v, case subject %s", tag.Name, m.Subject, tag.Subject)
			}
		}
		if tag.Kind == casegen.KindReferrer {
			if subj, ok := tagByDigest(c, tag.Subject); !ok || subj.Kind != casegen.KindImage {
				t.Errorf("referrer %s refers to %s, not an image of the case", tag.Name, tag.Subject)
			}
		}
	}

	if len(c.BaseTags) == 0 {
		t.Fatal("no base tags")
	}
	for _, tag := range c.BaseTags {
		body, dgst := fetch(t, r, "/v2/"+c.BaseRepository+"/manifests/"+tag.Name)
		if dgst != tag.Digest || !casegen.MatchesShape(casegen.KindBase, tag.Name) {
			t.Errorf("base %s resolves to %s, case says %s", tag.Name, dgst, tag.Digest)
		}
		checkBuildxIndex(t, tag, body)
	}
}

// checkBuildxIndex checks that body is an OCI index as buildx pushes it: a linux/amd64 image and
// an unknown/unknown attestation manifest that names it.
func checkBuildxIndex(t *testing.T, tag casegen.CaseTag, body []byte) {
	t.Helper()
	var idx v1.Index
	if err := json.Unmarshal(body, &idx); err != nil || idx.MediaType != v1.MediaTypeImageIndex || len(idx.Manifests) != 2 {
		t.Fatalf("%s: not an index with two children: %s", tag.Name, body)
	}
	img, att := idx.Manifests[0], idx.Manifests[1]
	if img.Platform == nil || img.Platform.OS != "linux" || img.Platform.Architecture != "amd64" {
		t.Errorf("%s: first child platform %v", tag.Name, img.Platform)
	}
	if att.Platform == nil || att.Platform.OS != "unknown" || att.Platform.Architecture != "unknown" ||
		att.Annotations["vnd.docker.reference.type"] != "attestation-manifest" || att.Annotations["vnd.docker.reference.digest"] != string(img.Digest) {
		t.Errorf("%s: attestation child %+v", tag.Name, att)
	}
	if diff := cmp.Diff([]string{string(img.Digest), string(att.Digest)}, tag.ChildDigests); diff != "" {
		t.Errorf("%s: children (-registry +case):\n%s", tag.Name, diff)
	}
}

func tagByDigest(c *casegen.Case, d string) (casegen.CaseTag, bool) {
	for _, t := range c.Tags {
		if t.Digest == d {
			return t, true
		}
	}
	return casegen.CaseTag{}, false
}

// TestFillCaseDeterministic fills two registries with one spec and a third with another seed.
func TestFillCaseDeterministic(t *testing.T) {
	ctx := context.Background()
	fill := func(seed int64) *casegen.Case {
		r := startRegistry(t)
		c, err := casegen.FillCase(ctx, r.Host, casegen.CaseSpec{Scale: 0.001, Seed: seed, Referrers: 2, Concurrency: 8})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := fill(5), fill(5)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different cases (-first +second):\n%s", diff)
	}
	other := fill(6)
	same := 0
	for _, tag := range other.Tags {
		if got, ok := a.Tag(tag.Name); ok && got.Digest == tag.Digest {
			same++
		}
	}
	if same > 0 {
		t.Errorf("another seed shares %d tags with the same digest", same)
	}
}

// TestFillCaseCommits fills from a real git history: images are built on its commits and Now
// follows the newest push.
func TestFillCaseCommits(t *testing.T) {
	commits, err := casegen.MakeGitHistory(filepath.Join(t.TempDir(), "sdk"), 42, time.Date(2025, 7, 1, 9, 0, 0, 0, time.UTC), 80*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := startRegistry(t)
	c, err := casegen.FillCase(context.Background(), r.Host, casegen.CaseSpec{Scale: 0.002, Seed: 1, Commits: commits})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(commits, c.Commits); diff != "" {
		t.Errorf("commits (-given +case):\n%s", diff)
	}
	known := map[string]time.Time{}
	for _, cm := range commits {
		known[cm.SHA] = cm.Time
	}
	var newest time.Time
	used := map[string]bool{}
	for _, tag := range c.TagsOf(casegen.KindImage) {
		ct, ok := known[tag.SDK]
		if !ok || tag.Created.Before(ct) {
			t.Errorf("%s: sdk %s unknown or pushed (%s) before its commit (%s)", tag.Name, tag.SDK, tag.Created, ct)
		}
		used[tag.SDK] = true
		if tag.Created.After(newest) {
			newest = tag.Created
		}
	}
	if len(used) != len(commits) || !newest.Equal(c.Now) {
		t.Errorf("%d of %d commits have images; newest push %s, Now %s", len(used), len(commits), newest, c.Now)
	}
}

func TestFillCaseInvalid(t *testing.T) {
	good := casegen.Commit{SHA: strings.Repeat("a", 40), Time: casegen.DefaultCaseNow.Add(-time.Hour)}
	tests := []struct {
		name string
		spec casegen.CaseSpec
	}{
		{"zero scale", casegen.CaseSpec{}},
		{"negative referrers", casegen.CaseSpec{Scale: 0.01, Referrers: -1}},
		{"short sha", casegen.CaseSpec{Scale: 0.01, Commits: []casegen.Commit{{SHA: "abc1234", Time: good.Time}}}},
		{"upper-case sha", casegen.CaseSpec{Scale: 0.01, Commits: []casegen.Commit{{SHA: strings.Repeat("A", 40), Time: good.Time}}}},
		{"shared short sha", casegen.CaseSpec{Scale: 0.01, Commits: []casegen.Commit{good, {SHA: strings.Repeat("a", 39) + "b", Time: good.Time}}}},
		{"commit after now", casegen.CaseSpec{Scale: 0.01, Now: good.Time.Add(-time.Minute), Commits: []casegen.Commit{good}}},
		{"too few commits", casegen.CaseSpec{Scale: 1, Commits: []casegen.Commit{good}}},
	}
	for _, tt := range tests {
		// The host is never dialled: the spec is refused first.
		_, err := casegen.FillCase(context.Background(), "127.0.0.1:1", tt.spec)
		if !errors.Is(err, casegen.ErrInvalidSpec) {
			t.Errorf("%s: err = %v, want casegen.ErrInvalidSpec", tt.name, err)
		}
	}
}

// BenchmarkFillCase measures filling an in-memory registry at scale 0.01 (about 1,350 tags).
func BenchmarkFillCase(b *testing.B) {
	ctx := context.Background()
	tags := 0
	for b.Loop() {
		b.StopTimer()
		r := startRegistry(b)
		b.StartTimer()
		c, err := casegen.FillCase(ctx, r.Host, casegen.CaseSpec{Scale: 0.01, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		tags = len(c.Tags)
		b.StopTimer()
		r.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(tags)*float64(b.N)/b.Elapsed().Seconds(), "tags/s")
}
