package casegen

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Tag shapes exactly as docs/DESIGN.md lists them ("Real tag shapes").
var designShapes = map[TagKind][]*regexp.Regexp{
	KindImage: {
		regexp.MustCompile(`^[0-9a-f]{7}-[0-9a-f]{7}-sweb\.eval\.x86_64\.[a-z0-9-]+_1776_[a-z0-9-]+-[0-9]+-source-minimal$`),
		regexp.MustCompile(`^[0-9a-f]{7}-sweb\.eval\.x86_64\.[a-z0-9-]+_1776_[a-z0-9-]+-[0-9]+-source-minimal$`),
		regexp.MustCompile(`^[0-9a-f]{7}-sweb\.eval\.x86_64\.[a-z0-9_-]+_tag_latest-[0-9a-f]{12}-source-minimal$`),
		regexp.MustCompile(`^[0-9a-f]{7}-[0-9a-f]{7}-commit0-[a-z0-9_-]+-source-minimal$`),
		regexp.MustCompile(`^[0-9a-f]{7}-gaia-binary$`),
		regexp.MustCompile(`^[0-9a-f]{7}-nikolaik_s_python-nodejs_tag_python3\.12-nodejs22$`),
	},
	KindBuildcache: {
		regexp.MustCompile(`^buildcache-source-minimal-sweb\.eval\.x86_64\.[a-z0-9_-]+_tag_latest-[0-9a-f]{12}(-main|-[a-z0-9-]+)?$`),
	},
	KindLegacy:   {regexp.MustCompile(`^v1\.0\.0(-rc[0-9]+)?$`)},
	KindReferrer: {regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.sig)?$`)},
	KindBase:     {regexp.MustCompile(`^[0-9a-f]{7}-sweb\.eval\.x86_64\.[a-z0-9-]+_1776_[a-z0-9-]+-[0-9]+$`)},
}

func matchesShape(kind TagKind, name string) bool {
	for _, re := range designShapes[kind] {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

func TestSwebSlug(t *testing.T) {
	tests := []struct{ inst, want string }{
		// The example docs/DESIGN.md quotes from the real repository.
		{"django_1776_django-11099", "sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0"},
		{"psf_1776_requests-2317", "sweb.eval.x86_64.psf_1776_requests-2317_tag_latest-"},
	}
	for _, tt := range tests {
		got := swebSlug(tt.inst)
		if !strings.HasPrefix(got, tt.want) || len(got) > slugMaxLen {
			t.Errorf("swebSlug(%q) = %q, want prefix %q and at most %d chars", tt.inst, got, tt.want, slugMaxLen)
		}
	}
}

func TestUniverses(t *testing.T) {
	u := swebenchUniverse()
	seen := map[string]bool{}
	for _, id := range u {
		seen[id] = true
	}
	if len(u) != swebenchTotal || len(seen) != swebenchTotal {
		t.Errorf("SWE-bench universe: %d ids, %d distinct, want %d", len(u), len(seen), swebenchTotal)
	}
	for _, f := range famousInstances {
		if !seen[f] {
			t.Errorf("universe lacks %s", f)
		}
	}
	repos := map[string]bool{}
	for _, r := range commit0Repos {
		repos[r] = true
	}
	if len(commit0Repos) != 57 || len(repos) != 57 {
		t.Errorf("commit0: %d repos, %d distinct, want 57", len(commit0Repos), len(repos))
	}
}

// TestPlanFullScale checks the full case's figures without pushing anything.
func TestPlanFullScale(t *testing.T) {
	p, err := planCase(CaseSpec{Scale: 1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	p.finish()
	got := p.c.Totals
	got.SharedDigests = 0 // digests are known only once pushed
	want := Totals{Tags: FullImageTags + FullBuildcacheTags + FullLegacyTags, Images: FullImageTags,
		Buildcache: FullBuildcacheTags, Legacy: FullLegacyTags, Commits: FullCommits}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	perCommit := map[string]int{}
	names := map[string]bool{}
	instances := map[string]bool{}
	for _, tag := range p.c.Tags {
		if names[tag.Name] {
			t.Errorf("duplicate tag %s", tag.Name)
		}
		names[tag.Name] = true
		if !matchesShape(tag.Kind, tag.Name) {
			t.Errorf("%s tag %q matches no docs/DESIGN.md shape", tag.Kind, tag.Name)
		}
		if len(tag.Name) > 128 {
			t.Errorf("tag %q is longer than 128", tag.Name)
		}
		if tag.Kind == KindImage {
			perCommit[tag.SDK]++
			if !strings.HasPrefix(tag.Name, tag.SDK[:7]+"-") {
				t.Errorf("tag %q does not start with its sdk %s", tag.Name, tag.SDK)
			}
			if tag.Bench == BenchSWEBench {
				instances[tag.Group] = true
			}
		}
	}
	big := 0
	for _, n := range perCommit {
		if n >= 1000 {
			big++
		}
	}
	if len(perCommit) != FullCommits || big != FullBigCommits {
		t.Errorf("%d commits with images, %d with 1,000+; want %d and %d", len(perCommit), big, FullCommits, FullBigCommits)
	}
	if len(instances) != swebenchTotal {
		t.Errorf("%d distinct SWE-bench instances, want %d", len(instances), swebenchTotal)
	}
	if !names["buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-main"] &&
		!names["buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0"] {
		t.Error("the docs/DESIGN.md buildcache example is missing")
	}
}

// TestPlanScales checks that every scale keeps every kind and shape present.
func TestPlanScales(t *testing.T) {
	for _, scale := range []float64{0.001, 0.005, 0.02, 0.1} {
		p, err := planCase(CaseSpec{Scale: scale, Seed: 3, Referrers: 4})
		if err != nil {
			t.Fatalf("scale %v: %v", scale, err)
		}
		p.finish()
		c := p.c
		if c.Totals.Commits < MinCaseCommits || c.Totals.Legacy < 3 || c.Totals.Referrers != 5 {
			t.Errorf("scale %v: totals %+v", scale, c.Totals)
		}
		kinds := map[string]int{}
		groups := map[string]map[string]bool{}
		for _, tag := range c.Tags {
			key := string(tag.Kind) + "/" + tag.Bench + "/" + tag.Scheme
			kinds[key]++
			if tag.Kind == KindBuildcache {
				if groups[tag.Group] == nil {
					groups[tag.Group] = map[string]bool{}
				}
				groups[tag.Group][tag.Branch] = true
			}
			if tag.Created.After(c.Now) || tag.Created.Before(c.Now.Add(-CasePeriod-24*time.Hour)) {
				t.Errorf("scale %v: %s created %s, outside the period before %s", scale, tag.Name, tag.Created, c.Now)
			}
		}
		for _, k := range []string{"image/swebench/tag-latest", "image/swebench/plain", "image/swebench/current",
			"image/commit0/", "image/gaia/", "image/python-nodejs/", "buildcache/swebench/", "legacy//", "referrer//"} {
			if kinds[k] == 0 {
				t.Errorf("scale %v: no %s tags (%v)", scale, k, kinds)
			}
		}
		deletable, branches := 0, 0
		for _, g := range groups {
			if len(g) > 3 {
				deletable++
			}
			for b := range g {
				if b != "" && b != "main" {
					branches++
				}
			}
		}
		if deletable == 0 || branches == 0 {
			t.Errorf("scale %v: %d buildcache groups over 3 tags, %d branch suffixes", scale, deletable, branches)
		}
		aliased := 0
		for _, mp := range p.main {
			if len(mp.tags) > 1 {
				aliased++
			}
		}
		if aliased < 2 {
			t.Errorf("scale %v: %d manifests with several tags, want at least 2", scale, aliased)
		}
	}
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		name    string
		total   int
		w       []float64
		lo, hi  []int
		want    []int
		wantErr bool
	}{
		{"proportional", 10, []float64{1, 1, 3}, []int{0, 0, 0}, []int{10, 10, 10}, []int{2, 2, 6}, false},
		{"capped", 10, []float64{1, 1, 8}, []int{0, 0, 0}, []int{10, 10, 4}, []int{3, 3, 4}, false},
		{"floors", 6, []float64{1, 0, 0}, []int{1, 1, 1}, []int{9, 9, 9}, []int{4, 1, 1}, false},
		{"too much", 7, []float64{1, 1}, []int{0, 0}, []int{3, 3}, nil, true},
		{"too little", 1, []float64{1, 1}, []int{1, 1}, []int{3, 3}, nil, true},
	}
	for _, tt := range tests {
		got, err := allocate(tt.total, tt.w, tt.lo, tt.hi)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, want error %v", tt.name, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
