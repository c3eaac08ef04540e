package policy

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// FuzzClassify classifies a tag twice: by the example policy's scheme, and by a one-pattern
// scheme made of a fuzzed pattern (anchored as the policy file anchors it) placed before the
// example's patterns. Both must keep Classify's contract:
//   - the first matching pattern decides the kind, with its constants and participating named
//     groups as fields, each group's value the text it matched;
//   - a tag no pattern matches is KindReferrer with its subject when it names a digest, else
//     KindUnknown with no fields;
//   - Classify's map and classify's sorted slice agree, names unique, and the fields a tag
//     gets are among those Scheme.Fields names for its kind.
func FuzzClassify(f *testing.F) {
	ex := examplePolicy(f).Scheme
	sha := strings.Repeat("ab", 32)
	for _, tc := range []struct{ pattern, tag string }{
		{`(?P<sdk>[0-9a-f]{7})-(?P<repo>.+)`, "1a2b3c4-9f8e7d6-sweb.eval.x86_64.django_1776_django-11099-source-minimal"},
		{`v(?P<version>[0-9.]+)(?:-(?P<pre>.+))?`, "v1.0.0-rc1"},
		{`(?P<a>x)|(?P<a>y)`, "y"},
		{`(?P<bench>.*)`, "1a2b3c4-gaia-binary"},
		{`buildcache-(?P<target>[a-z-]+?)-(?P<repo>.+)`, "buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-main"},
		{`nomatch`, "sha256-" + sha + ".sig"},
		{`nomatch`, "sha256-" + sha},
		{`nomatch`, "sha256-" + strings.ToUpper(sha)},
		{`nomatch`, "sha256-" + sha + "x"},
		{`nomatch`, "latest"},
		{`(?P<x>a*)*`, ""},
		{`(?P<x>\x{fffd})`, "\xff"},
	} {
		f.Add(tc.pattern, tc.tag)
	}
	f.Fuzz(func(t *testing.T, pattern, tag string) {
		checkClassify(t, ex, tag)
		re, err := regexp.Compile("^(?:" + pattern + ")$")
		if err != nil {
			return
		}
		s := &Scheme{Patterns: append([]Pattern{{Kind: "fuzzed", Match: re, Fields: map[string]string{"bench": "fuzz"}, Source: pattern}}, ex.Patterns...)}
		checkClassify(t, s, tag)
	})
}

// checkClassify checks one classification against the contract FuzzClassify states.
func checkClassify(t *testing.T, s *Scheme, tag string) {
	t.Helper()
	kind, m := s.Classify(tag)
	kind2, fields := s.classify(tag)
	if kind != kind2 || !maps.Equal(m, fields.Map()) {
		t.Fatalf("%q: Classify gives %s %v, classify %s %v", tag, kind, m, kind2, fields)
	}
	if !slices.IsSortedFunc(fields, func(a, b plan.Field) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("%q: fields not sorted: %v", tag, fields)
	}
	if len(m) != len(fields) {
		t.Fatalf("%q: field names repeat: %v", tag, fields)
	}
	var first *Pattern
	for i := range s.Patterns {
		if s.Patterns[i].Match.MatchString(tag) {
			first = &s.Patterns[i]
			break
		}
	}
	if first == nil {
		subject, isRef := inventory.ReferrerTagDigest(tag)
		switch {
		case isRef && (kind != KindReferrer || len(m) != 1 || m["subject"] != subject):
			t.Fatalf("%q names digest %s: got %s %v, want a referrer", tag, subject, kind, m)
		case !isRef && (kind != KindUnknown || m != nil):
			t.Fatalf("%q matches no pattern: got %s %v, want unknown with no fields", tag, kind, m)
		}
		return
	}
	if kind != first.Kind {
		t.Fatalf("%q: kind %s, but the first matching pattern %q is of kind %s", tag, kind, first.Source, first.Kind)
	}
	want := maps.Clone(first.Fields)
	if want == nil {
		want = map[string]string{}
	}
	sub := first.Match.FindStringSubmatchIndex(tag)
	for g, name := range first.Match.SubexpNames() {
		if name != "" && sub[2*g] >= 0 {
			want[name] = tag[sub[2*g]:sub[2*g+1]]
		}
	}
	if len(want) == 0 {
		want = nil
	}
	if !maps.Equal(m, want) {
		t.Fatalf("%q by %q: fields %v, want %v", tag, first.Source, m, want)
	}
	some, _ := s.Fields(kind)
	for name := range m {
		if !slices.Contains(some, name) {
			t.Fatalf("%q: field %q is not among the fields of kind %s: %v", tag, name, kind, some)
		}
	}
}
