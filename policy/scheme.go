package policy

import (
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// Kinds regtidy gives itself. A scheme may not declare them; rules may be written for
// KindUnknown, KindUntagged and KindReferrer.
const (
	// KindUnknown is the kind of a tag that no pattern of the scheme matches.
	KindUnknown = "unknown"
	// KindUntagged is the kind of an untagged manifest that nothing else in the repository
	// points at (an orphan; on GHCR, a version with no tags and no living parent).
	KindUntagged = "untagged"
	// KindReferrer is the kind of a "sha256-<digest>[.suffix]" tag (cosign signatures,
	// attestations) that no pattern matches. Its field "subject" holds the digest it names.
	KindReferrer = "referrer"
	// KindChild is the plan kind of an untagged image listed by an index.
	KindChild = "child"
	// KindAttestation is the plan kind of an untagged buildx attestation manifest.
	KindAttestation = "attestation"
)

// reservedKinds cannot be declared by a scheme.
var reservedKinds = []string{KindUnknown, KindUntagged, KindReferrer, KindChild, KindAttestation}

// ruleOnlyKinds are the reserved kinds a policy may write rules for.
var ruleOnlyKinds = []string{KindUnknown, KindUntagged, KindReferrer}

// Scheme is a repository's tag scheme: which kinds of tags it holds and what each tag's name
// says (its fields: the SDK commit, the benchmark, the instance...). Patterns are tried in order;
// the first that matches decides the kind.
type Scheme struct {
	Patterns []Pattern
}

// Pattern is one way a kind's tags are written.
type Pattern struct {
	// Kind is the kind a matching tag gets.
	Kind string
	// Match must match the whole tag (the policy file's text is anchored with ^(?:...)$).
	// Its named groups become the tag's fields.
	Match *regexp.Regexp
	// Fields are constant fields added to every tag this pattern matches, e.g. bench: swebench.
	Fields map[string]string
	// Source is the pattern as written in the policy file.
	Source string
}

// Classify returns the kind of a tag and its fields: the first pattern that matches gives the
// kind, its constant fields and its named groups (groups that did not take part are absent).
// A tag no pattern matches is KindReferrer (with field "subject") when it names a digest as
// "sha256-<hex>", else KindUnknown with no fields. The returned map is the caller's.
func (s *Scheme) Classify(tag string) (kind string, fields map[string]string) {
	kind, f := s.classify(tag)
	return kind, f.Map()
}

// classify is Classify with the fields as a sorted slice, which the evaluator keeps for every
// tag of the repository (a map per tag costs twice the memory).
func (s *Scheme) classify(tag string) (kind string, fields plan.Fields) {
	if s != nil {
		for i := range s.Patterns {
			p := &s.Patterns[i]
			m := p.Match.FindStringSubmatchIndex(tag)
			if m == nil {
				continue
			}
			fields = make(plan.Fields, 0, len(p.Fields)+p.Match.NumSubexp())
			for g, name := range p.Match.SubexpNames() {
				if name != "" && m[2*g] >= 0 {
					fields = setField(fields, name, tag[m[2*g]:m[2*g+1]], true)
				}
			}
			for k, v := range p.Fields {
				fields = setField(fields, k, v, false)
			}
			slices.SortFunc(fields, func(a, b plan.Field) int { return strings.Compare(a.Name, b.Name) })
			return p.Kind, slices.Clip(fields)
		}
	}
	if subject, ok := inventory.ReferrerTagDigest(tag); ok {
		return KindReferrer, plan.Fields{{Name: "subject", Value: subject}}
	}
	return KindUnknown, nil
}

// setField sets a field, replacing an earlier one of the same name when replace is set (a named
// group wins over a constant, as in Classify, and the last group of a name over earlier ones).
func setField(fields plan.Fields, name, value string, replace bool) plan.Fields {
	for i := range fields {
		if fields[i].Name == name {
			if replace {
				fields[i].Value = value
			}
			return fields
		}
	}
	return append(fields, plan.Field{Name: name, Value: value})
}

// Kinds returns the kinds the scheme declares, sorted.
func (s *Scheme) Kinds() []string {
	if s == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range s.Patterns {
		if !seen[p.Kind] {
			seen[p.Kind] = true
			out = append(out, p.Kind)
		}
	}
	sort.Strings(out)
	return out
}

// Fields returns the fields tags of a kind can have (from some pattern), sorted, and among them
// those every pattern of the kind gives. Reserved kinds: KindReferrer has "subject"; the others
// have none.
func (s *Scheme) Fields(kind string) (some, every []string) {
	if kind == KindReferrer {
		return []string{"subject"}, []string{"subject"}
	}
	count := map[string]int{}
	patterns := 0
	if s != nil {
		for _, p := range s.Patterns {
			if p.Kind != kind {
				continue
			}
			patterns++
			for _, f := range patternFields(p) {
				count[f]++
			}
		}
	}
	for f, n := range count {
		some = append(some, f)
		if n == patterns {
			every = append(every, f)
		}
	}
	sort.Strings(some)
	sort.Strings(every)
	return some, every
}

// patternFields lists the distinct field names a pattern gives.
func patternFields(p Pattern) []string {
	seen := map[string]bool{}
	var out []string
	for k := range p.Fields {
		seen[k] = true
		out = append(out, k)
	}
	for _, name := range p.Match.SubexpNames() {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}
