package casegen

import (
	"errors"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// bothTargets asks for build caches of both targets.
var bothTargets = []string{targetSource, targetBinary}

// buildcacheShape is the buildcache pattern of examples/openhands.yaml, anchored as regtidy
// anchors it.
var buildcacheShape = regexp.MustCompile(`^buildcache-(?P<target>source-minimal|binary-minimal|source|binary)-sweb\.eval\.x86_64\.(?P<repo>.+?)_tag_latest-(?P<base>[0-9a-f]{12})(?:-(?P<branch>.+))?$`)

// caseTags plans a case without pushing it and returns its tags, sorted by name.
func caseTags(t *testing.T, spec CaseSpec) *Case {
	t.Helper()
	p, err := planCase(spec)
	if err != nil {
		t.Fatal(err)
	}
	p.finish()
	return p.c
}

// TestBuildcacheTargets checks the case with caches of both targets at full scale and at the
// small scales tests use: the buildcache total is the case's, every base image has caches of
// both targets, names carry their target as the example's pattern reads it, and the caches mix:
// bases with more than 3 caches across targets, groups of one target with more than 3, and caches
// among the 3 newest of their own target that are not among the 3 newest of their base.
func TestBuildcacheTargets(t *testing.T) {
	for _, scale := range []float64{1, 0.1, 0.01, 0.001} {
		c := caseTags(t, CaseSpec{Scale: scale, Seed: 3, BuildcacheTargets: bothTargets})
		if scale == 1 {
			if c.Totals.Buildcache != FullBuildcacheTags || c.Totals.Images != FullImageTags || c.Totals.Legacy != FullLegacyTags {
				t.Errorf("full scale: totals %+v, want %d images, %d buildcache, %d legacy tags", c.Totals, FullImageTags, FullBuildcacheTags, FullLegacyTags)
			}
		} else if plain := caseTags(t, CaseSpec{Scale: scale, Seed: 3}); c.Totals != plain.Totals {
			t.Errorf("scale %v: totals %+v with both targets, %+v with source-minimal only", scale, c.Totals, plain.Totals)
		}
		names := map[string]bool{}
		for _, tag := range c.Tags {
			if names[tag.Name] {
				t.Errorf("scale %v: duplicate tag %s", scale, tag.Name)
			}
			names[tag.Name] = true
			if tag.Kind != KindBuildcache {
				continue
			}
			m := buildcacheShape.FindStringSubmatch(tag.Name)
			if m == nil || m[1] != tag.Target || m[4] != tag.Branch || swebPrefix+m[2]+"_tag_latest-"+m[3] != tag.Slug ||
				tag.Name != buildcacheTagName(tag.Target, tag.Group, tag.Branch) {
				t.Errorf("scale %v: %s does not read as target %q, slug %q, branch %q", scale, tag.Name, tag.Target, tag.Slug, tag.Branch)
			}
		}

		groups := c.BuildcacheGroups()
		top3 := map[string]bool{}
		bases := map[string][]CaseTag{}
		targets := map[string]map[string]bool{}
		over := 0
		for g, tags := range groups {
			for _, tag := range tags[:min(3, len(tags))] {
				top3[tag.Name] = true
			}
			if len(tags) > 3 {
				over++
			}
			bases[g.Group] = append(bases[g.Group], tags...)
			if targets[g.Group] == nil {
				targets[g.Group] = map[string]bool{}
			}
			targets[g.Group][g.Target] = true
		}
		mixed, pushedOut := 0, 0
		for inst, tags := range bases {
			if len(targets[inst]) != len(bothTargets) {
				t.Errorf("scale %v: %s has caches of %v only", scale, inst, targets[inst])
			}
			if len(tags) > 3 {
				mixed++
			}
			// The caches of the base, newest first whatever their target.
			all := (&Case{Tags: retarget(tags)}).BuildcacheGroups()[BuildcacheGroup{Bench: BenchSWEBench, Group: inst}]
			for i, tag := range all {
				if i >= 3 && top3[tag.Name] {
					pushedOut++
				}
			}
		}
		if mixed == 0 || over == 0 || pushedOut == 0 {
			t.Errorf("scale %v: %d bases with more than 3 caches, %d groups with more than 3, %d caches of a group's 3 newest past their base's 3 newest",
				scale, mixed, over, pushedOut)
		}
		t.Logf("scale %v: %d buildcache tags, %d bases, %d groups (%d over 3), %d bases over 3, %d caches of a group's 3 newest past their base's 3 newest",
			scale, c.Totals.Buildcache, len(bases), len(groups), over, mixed, pushedOut)
	}
}

// retarget returns copies of the tags with no target, so BuildcacheGroups groups them by base.
func retarget(tags []CaseTag) []CaseTag {
	out := make([]CaseTag, len(tags))
	for i, t := range tags {
		t.Target = ""
		out[i] = t
	}
	return out
}

// TestBuildcacheTargetsKeepTheCase checks that the targets change nothing but the buildcache
// tags: source-minimal alone is the default case tag for tag, and with both targets every other
// tag is the same.
func TestBuildcacheTargetsKeepTheCase(t *testing.T) {
	plain := caseTags(t, CaseSpec{Scale: 0.01, Seed: 5})
	explicit := caseTags(t, CaseSpec{Scale: 0.01, Seed: 5, BuildcacheTargets: []string{targetSource}})
	if diff := cmp.Diff(plain.Tags, explicit.Tags); diff != "" {
		t.Errorf("source-minimal named differs from the default (-default +named):\n%s", diff)
	}
	both := caseTags(t, CaseSpec{Scale: 0.01, Seed: 5, BuildcacheTargets: bothTargets})
	again := caseTags(t, CaseSpec{Scale: 0.01, Seed: 5, BuildcacheTargets: bothTargets})
	if diff := cmp.Diff(both.Tags, again.Tags); diff != "" {
		t.Errorf("same spec, other tags (-first +second):\n%s", diff)
	}
	others := func(c *Case) []CaseTag {
		var out []CaseTag
		for _, tag := range c.Tags {
			if tag.Kind != KindBuildcache {
				out = append(out, tag)
			}
		}
		return out
	}
	if diff := cmp.Diff(others(plain), others(both)); diff != "" {
		t.Errorf("both targets change other tags than buildcache (-default +both):\n%s", diff)
	}
}

// TestBuildcacheTargetsInvalid: a target the case's images are not built for, or one named twice,
// is an invalid spec.
func TestBuildcacheTargetsInvalid(t *testing.T) {
	for _, targets := range [][]string{{"source"}, {targetBinary, targetBinary}, {""}} {
		if _, err := planCase(CaseSpec{Scale: 0.001, BuildcacheTargets: targets}); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("targets %q: err = %v, want ErrInvalidSpec", targets, err)
		}
	}
}
