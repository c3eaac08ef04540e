// Package policy is regtidy's retention policy engine: the policy file (a tag scheme and keep
// rules), the keep sources it needs (git history, run metadata), and Evaluate, a pure and
// deterministic function from an inventory, a policy and the loaded keep sources to a plan with a
// reason for every decision.
//
// The order of work is: Load (or Parse) the policy; Resolve its keep sources through a Loader,
// which fails closed; Evaluate. A policy file looks like this:
//
//	version: 1
//	scheme:                 # first matching pattern gives a tag its kind; the rest are "unknown"
//	  - kind: image
//	    fields: {bench: gaia}
//	    match: '(?P<sdk>[0-9a-f]{7})-gaia-binary'
//	rules:                  # a tag is kept when any condition of its kind holds
//	  image:
//	    keep:
//	      - commits: {repo: https://github.com/OpenHands/software-agent-sdk, last: 30, field: sdk}
//	      - age: {newer_than: 7d}
//	  base:                 # base images: kept while an image of another repository is built on them
//	    keep:
//	      - base: {from: ghcr.io/openhands/eval-agent-server}
//
// See examples/openhands.yaml for every condition, documented.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"sort"
	"time"
)

// SupportedVersion is the policy file version this package reads.
const SupportedVersion = 1

// Policy is a parsed, validated retention policy.
type Policy struct {
	// Name is the file name given to Load or Parse.
	Name string
	// Digest is "sha256:<hex>" of the file's bytes.
	Digest string
	// Version is the file's version (SupportedVersion).
	Version int
	// Scheme classifies tags into kinds; never nil (empty when the file has none).
	Scheme *Scheme
	// Rules are the keep rules, sorted by kind.
	Rules []*Rule
}

// Rule holds the conditions that keep the tags of one kind.
type Rule struct {
	Kind string
	// Keep lists conditions; a tag is kept when any of them holds. Never empty.
	Keep []*Condition
}

// Condition is one keep condition. Exactly one of its condition fields is set.
type Condition struct {
	Commits *CommitsCondition
	Runs    *RunsCondition
	Newest  *NewestCondition
	Age     *AgeCondition
	Match   *MatchCondition
	List    *ListCondition
	Base    *BaseCondition
	// All holds when every listed condition holds; Any when at least one does; Not when its
	// condition does not.
	All []*Condition
	Any []*Condition
	Not *Condition
	// Path is where the condition is written, e.g. "rules.image.keep[1]".
	Path string
}

// CommitsCondition holds when the tag's Field is a 7-40 hex prefix of one of the source's
// commits: the last N first-parent commits of a branch.
type CommitsCondition struct {
	Source CommitsSpec
	Field  string
}

// RunsCondition holds when a live run of the source uses the commit in the tag's Field (either
// hash a prefix of the other, at least 7 digits).
type RunsCondition struct {
	Source RunsSpec
	Field  string
}

// NewestCondition holds for the Count newest tags of their group: tags of the kind with equal
// values of the Per fields. Tags are ordered by By: "created" (the manifest's creation time,
// else the registry version's), "semver" (the tag as a semantic version, greatest first; tags
// that are not one after all that are, newest first) or a field's value (numbers numerically,
// else as text), newest or greatest first, ties by tag name. The ranking is over all tags of the kind, whatever the
// other conditions say.
type NewestCondition struct {
	Count int
	Per   []string
	By    string
}

// AgeCondition holds when the manifest's age (now minus its creation time) is under NewerThan
// and over OlderThan, whichever are set. An unknown creation time counts as new: it satisfies
// NewerThan and not OlderThan, so a missing date never deletes.
type AgeCondition struct {
	NewerThan time.Duration
	OlderThan time.Duration
}

// MatchCondition holds when a regular expression matches the whole tag name.
type MatchCondition struct {
	// Pattern is Source anchored with ^(?:...)$, as scheme patterns are.
	Pattern *regexp.Regexp
	// Source is the expression as written in the policy file.
	Source string
}

// ListCondition holds for the listed tag names and for tags of (or untagged manifests with) the
// listed digests.
type ListCondition struct {
	Tags    []string
	Digests []string
}

// Name returns the condition's key in the policy file: "commits", "runs", "newest", "age",
// "match", "list", "base", "all", "any" or "not".
func (c *Condition) Name() string {
	switch {
	case c.Commits != nil:
		return "commits"
	case c.Runs != nil:
		return "runs"
	case c.Newest != nil:
		return "newest"
	case c.Age != nil:
		return "age"
	case c.Match != nil:
		return "match"
	case c.List != nil:
		return "list"
	case c.Base != nil:
		return "base"
	case c.All != nil:
		return "all"
	case c.Any != nil:
		return "any"
	case c.Not != nil:
		return "not"
	}
	return ""
}

// Load reads and parses a policy file.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return Parse(path, data)
}

// LoadScheme reads a file for its tag scheme only, for reports: the file may be a whole policy
// (which must then be valid) or hold just `version` and `scheme`.
func LoadScheme(path string) (*Scheme, error) {
	pol, err := Load(path)
	if err != nil {
		return nil, err
	}
	return pol.Scheme, nil
}

// Parse parses and validates a policy file's bytes; name is used in errors. Every problem found
// is reported, each as an *Error with file:line:column and the field (joined with errors.Join),
// all wrapping ErrInvalidPolicy.
func Parse(name string, data []byte) (*Policy, error) {
	d := &decoder{file: name}
	body := d.parseYAML(data)
	if err := d.err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	pol := &Policy{Name: name, Digest: "sha256:" + hex.EncodeToString(sum[:]), Scheme: &Scheme{}}
	if body == nil {
		d.errorf(nil, "version", "the file is empty; a policy starts with `version: %d`", SupportedVersion)
		return nil, d.err()
	}
	d.policy(body, pol)
	if err := d.err(); err != nil {
		return nil, err
	}
	return pol, nil
}

// Rule returns the rule for a kind, or nil.
func (p *Policy) Rule(kind string) *Rule {
	i := sort.Search(len(p.Rules), func(i int) bool { return p.Rules[i].Kind >= kind })
	if i < len(p.Rules) && p.Rules[i].Kind == kind {
		return p.Rules[i]
	}
	return nil
}

// Sources returns the distinct keep sources the policy's conditions use, each sorted.
func (p *Policy) Sources() ([]CommitsSpec, []RunsSpec) {
	commits := map[string]CommitsSpec{}
	runs := map[string]RunsSpec{}
	for _, r := range p.Rules {
		for _, c := range r.Keep {
			walkConditions(c, func(c *Condition) {
				if c.Commits != nil {
					commits[c.Commits.Source.key()] = c.Commits.Source
				}
				if c.Runs != nil {
					runs[c.Runs.Source.key()] = c.Runs.Source
				}
			})
		}
	}
	return sortedValues(commits), sortedValues(runs)
}

// walkConditions calls fn for c and every condition nested in it.
func walkConditions(c *Condition, fn func(*Condition)) {
	if c == nil {
		return
	}
	fn(c)
	for _, x := range c.All {
		walkConditions(x, fn)
	}
	for _, x := range c.Any {
		walkConditions(x, fn)
	}
	walkConditions(c.Not, fn)
}

// sortedValues returns a map's values ordered by key.
func sortedValues[T any](m map[string]T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}
