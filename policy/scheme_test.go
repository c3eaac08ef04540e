package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/regtidy/regtidy/plan"
)

// TestExampleSchemeClassifiesDesignShapes checks that every tag shape docs/DESIGN.md lists gets the
// intended kind and fields from examples/openhands.yaml.
func TestExampleSchemeClassifiesDesignShapes(t *testing.T) {
	s := examplePolicy(t).Scheme
	const (
		sdk  = "1a2b3c4"
		dfh  = "9f8e7d6"
		inst = "django_1776_django-11099"
	)
	for _, tc := range []struct {
		tag    string
		kind   string
		fields map[string]string
	}{
		// SWE-bench, current naming.
		{sdk + "-" + dfh + "-sweb.eval.x86_64." + inst + "-source-minimal", "image",
			map[string]string{"sdk": sdk, "df": dfh, "bench": "swebench", "repo": inst, "target": "source-minimal"}},
		// SWE-bench, older naming, without and with the base tag hash.
		{sdk + "-sweb.eval.x86_64." + inst + "-source-minimal", "image",
			map[string]string{"sdk": sdk, "bench": "swebench", "repo": inst, "target": "source-minimal"}},
		{sdk + "-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-source-minimal", "image",
			map[string]string{"sdk": sdk, "bench": "swebench", "repo": "django_1776_django-1109", "base": "06043de4faf0", "target": "source-minimal"}},
		// commit0, gaia, an arbitrary base image.
		{sdk + "-" + dfh + "-commit0-tinydb-source-minimal", "image",
			map[string]string{"sdk": sdk, "df": dfh, "bench": "commit0", "repo": "tinydb", "target": "source-minimal"}},
		{sdk + "-gaia-binary", "image",
			map[string]string{"sdk": sdk, "bench": "gaia", "target": "binary"}},
		{sdk + "-nikolaik_s_python-nodejs_tag_python3.12-nodejs22", "image",
			map[string]string{"sdk": sdk, "bench": "custom", "repo": "nikolaik_s_python-nodejs_tag_python3.12-nodejs22"}},
		// Build caches, shared and per branch.
		{"buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0", "buildcache",
			map[string]string{"bench": "swebench", "target": "source-minimal", "repo": "django_1776_django-1109", "base": "06043de4faf0"}},
		{"buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-main", "buildcache",
			map[string]string{"bench": "swebench", "target": "source-minimal", "repo": "django_1776_django-1109", "base": "06043de4faf0", "branch": "main"}},
		{"buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-fix-login", "buildcache",
			map[string]string{"bench": "swebench", "target": "source-minimal", "repo": "django_1776_django-1109", "base": "06043de4faf0", "branch": "fix-login"}},
		// Legacy releases.
		{"v1.0.0", "legacy", map[string]string{"version": "1.0.0"}},
		{"v1.0.0-rc1", "legacy", map[string]string{"version": "1.0.0", "pre": "rc1"}},
		// Base images of ghcr.io/openhands/eval-base.
		{dfh + "-sweb.eval.x86_64." + inst, "base",
			map[string]string{"df": dfh, "bench": "swebench", "repo": inst}},
		// Referrer tags and tags of no kind.
		{"sha256-" + hexOf("x", 64) + ".sig", KindReferrer, map[string]string{"subject": "sha256:" + hexOf("x", 64)}},
		{"latest", KindUnknown, nil},
		{"buildcache-commit0-tinydb", KindUnknown, nil},
		{"1A2B3C4-gaia-binary", KindUnknown, nil},
		{sdk + "-gaia-binary-extra", KindUnknown, nil},
	} {
		kind, fields := s.Classify(tc.tag)
		if kind != tc.kind {
			t.Errorf("Classify(%s) kind = %q, want %q", tc.tag, kind, tc.kind)
			continue
		}
		if diff := cmp.Diff(tc.fields, fields); diff != "" {
			t.Errorf("Classify(%s) fields (-want +got):\n%s", tc.tag, diff)
		}
		// The evaluator's compact form says the same, sorted by name.
		kind, compact := s.classify(tc.tag)
		if diff := cmp.Diff(tc.fields, compact.Map()); kind != tc.kind || diff != "" {
			t.Errorf("classify(%s) = %s, fields (-want +got):\n%s", tc.tag, kind, diff)
		}
		if !slices.IsSortedFunc(compact, func(a, b plan.Field) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("classify(%s) fields not sorted: %v", tc.tag, compact)
		}
	}
}

func TestSchemeFirstMatchWinsAndFields(t *testing.T) {
	pol, err := Parse("s.yaml", []byte(`version: 1
scheme:
  - kind: pinned
    fields: {why: pinned}
    match: 'keep-(?P<name>.+)'
  - kind: other
    match: '(?P<name>.+)'
  - kind: other
    fields: {src: two}
    match: 'never'
`))
	if err != nil {
		t.Fatal(err)
	}
	s := pol.Scheme
	if kind, f := s.Classify("keep-x"); kind != "pinned" || !cmp.Equal(f, map[string]string{"why": "pinned", "name": "x"}) {
		t.Errorf("Classify(keep-x) = %s %v", kind, f)
	}
	if kind, f := s.classify("keep-x"); kind != "pinned" || !cmp.Equal(f, plan.Fields{{Name: "name", Value: "x"}, {Name: "why", Value: "pinned"}}) {
		t.Errorf("classify(keep-x) = %s %v", kind, f)
	}
	if kind, f := s.Classify("anything"); kind != "other" || !cmp.Equal(f, map[string]string{"name": "anything"}) {
		t.Errorf("Classify(anything) = %s %v", kind, f)
	}
	some, every := s.Fields("other")
	if !cmp.Equal(some, []string{"name", "src"}) || !cmp.Equal(every, []string(nil)) {
		t.Errorf("Fields(other) = %v, %v", some, every)
	}
	if got := s.Kinds(); !cmp.Equal(got, []string{"other", "pinned"}) {
		t.Errorf("Kinds() = %v", got)
	}
	var empty *Scheme
	if kind, _ := empty.Classify("x"); kind != KindUnknown {
		t.Errorf("nil scheme: Classify = %s", kind)
	}
}
