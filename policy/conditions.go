package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/regtidy/regtidy/plan"
)

// item is what keep conditions judge: a tag, or an untagged orphan manifest (tag "").
type item struct {
	tag     string
	digest  string
	id      int32
	kind    string
	fields  plan.Fields
	created time.Time
	// kpos is the item's position among the items of its kind (for newest ranks).
	kpos int
	// verdict is the item's outcome under its kind's rule, once judged.
	verdict verdict
}

// name is how reasons refer to the item.
func (it *item) name() string {
	if it.tag != "" {
		return "tag " + it.tag
	}
	return "manifest " + shortDigest(it.digest)
}

// sortKey orders items of equal rank: by tag name, untagged ones by digest.
func (it *item) sortKey() string {
	if it.tag != "" {
		return it.tag
	}
	return it.digest
}

// commitIndex finds a commit hash prefix among a loaded history.
type commitIndex struct {
	shas     []string
	byPrefix map[string][]int
}

// find returns the 0-based position of the first commit v is a prefix of.
func (c *commitIndex) find(v string) (int, bool) {
	for _, i := range c.byPrefix[v[:7]] {
		if strings.HasPrefix(c.shas[i], v) {
			return i, true
		}
	}
	return 0, false
}

// runIndex finds the live runs that use a commit.
type runIndex struct {
	runs     []RunRef
	byPrefix map[string][]int
}

// find returns the runs whose commit v is a prefix of, or that is a prefix of v.
func (r *runIndex) find(v string) []RunRef {
	var out []RunRef
	for _, i := range r.byPrefix[v[:7]] {
		c := r.runs[i].Commit
		if strings.HasPrefix(c, v) || strings.HasPrefix(v, c) {
			out = append(out, r.runs[i])
		}
	}
	return out
}

// keepIndex is the keep sets indexed for lookups, by the conditions that use them.
type keepIndex struct {
	commits map[*CommitsCondition]*commitIndex
	runs    map[*RunsCondition]*runIndex
	// bases holds a base condition's sources, in its order.
	bases map[*BaseCondition][]*baseIndex
}

// newKeepIndex indexes the keep sets, checking that every source the policy uses is there.
func newKeepIndex(pol *Policy, ks *KeepSets) (*keepIndex, error) {
	if ks == nil {
		ks = &KeepSets{}
	}
	commits := map[string]*commitIndex{}
	for _, cs := range ks.Commits {
		ci := &commitIndex{byPrefix: map[string][]int{}}
		for i, c := range cs.Commits {
			sha := strings.ToLower(c.SHA)
			if !isHexPrefix(sha) {
				return nil, fmt.Errorf("%w: %s: commit %q is not a 7-40 digit hex hash", ErrKeepSource, cs.Spec, c.SHA)
			}
			ci.shas = append(ci.shas, sha)
			ci.byPrefix[sha[:7]] = append(ci.byPrefix[sha[:7]], i)
		}
		commits[cs.Spec.key()] = ci
	}
	runs := map[string]*runIndex{}
	for _, rs := range ks.Runs {
		ri := &runIndex{byPrefix: map[string][]int{}}
		for i, r := range rs.Runs {
			r.Commit = strings.ToLower(r.Commit)
			if !isHexPrefix(r.Commit) {
				return nil, fmt.Errorf("%w: %s: run %q: commit %q is not a 7-40 digit hex hash", ErrKeepSource, rs.Spec, r.Run, r.Commit)
			}
			ri.runs = append(ri.runs, r)
			ri.byPrefix[r.Commit[:7]] = append(ri.byPrefix[r.Commit[:7]], i)
		}
		runs[rs.Spec.key()] = ri
	}
	bases := map[string]*baseIndex{}
	for _, bs := range ks.Bases {
		bx, err := newBaseIndex(bs)
		if err != nil {
			return nil, err
		}
		bases[bs.Spec.key()] = bx
	}
	kx := &keepIndex{commits: map[*CommitsCondition]*commitIndex{}, runs: map[*RunsCondition]*runIndex{},
		bases: map[*BaseCondition][]*baseIndex{}}
	var missing error
	for _, r := range pol.Rules {
		for _, c := range r.Keep {
			walkConditions(c, func(c *Condition) {
				switch {
				case c.Commits != nil && commits[c.Commits.Source.key()] == nil:
					missing = fmt.Errorf("%w: %s", ErrUnresolved, c.Commits.Source)
				case c.Commits != nil:
					kx.commits[c.Commits] = commits[c.Commits.Source.key()]
				case c.Runs != nil && runs[c.Runs.Source.key()] == nil:
					missing = fmt.Errorf("%w: %s", ErrUnresolved, c.Runs.Source)
				case c.Runs != nil:
					kx.runs[c.Runs] = runs[c.Runs.Source.key()]
				case c.Base != nil:
					for _, s := range c.Base.Sources {
						if bases[s.key()] == nil {
							missing = fmt.Errorf("%w: %s", ErrUnresolved, s)
						}
						kx.bases[c.Base] = append(kx.bases[c.Base], bases[s.key()])
					}
				}
			})
		}
	}
	if missing != nil {
		return nil, missing
	}
	return kx, nil
}

// rank is an item's place in its newest-group.
type rank struct {
	pos, size int
	group     string
}

// holds evaluates a condition for an item: whether it holds, and a sentence with the facts that
// reads true either way ("sdk 1a2b3c4 is #3 of ...", "sdk 9f8e7d6 is not among ...").
func (e *evaluator) holds(c *Condition, it *item) (bool, string) {
	switch {
	case c.Commits != nil:
		return e.commitsHold(c.Commits, it)
	case c.Runs != nil:
		return e.runsHold(c.Runs, it)
	case c.Newest != nil:
		return e.newestHolds(c.Newest, it)
	case c.Age != nil:
		return e.ageHolds(c.Age, it)
	case c.Match != nil:
		if it.tag == "" {
			return false, "untagged manifest has no tag to match " + c.Match.Source
		}
		if c.Match.Pattern.MatchString(it.tag) {
			return true, fmt.Sprintf("tag %s matches %s", it.tag, c.Match.Source)
		}
		return false, fmt.Sprintf("tag %s does not match %s", it.tag, c.Match.Source)
	case c.Base != nil:
		return e.baseHolds(c.Base, it)
	case c.List != nil:
		if it.tag != "" && contains(c.List.Tags, it.tag) {
			return true, fmt.Sprintf("tag %s is listed", it.tag)
		}
		if contains(c.List.Digests, it.digest) {
			return true, fmt.Sprintf("digest %s is listed", shortDigest(it.digest))
		}
		return false, it.name() + " is not listed"
	case c.All != nil:
		var held, failed []string
		for _, sub := range c.All {
			ok, detail := e.holds(sub, it)
			if ok {
				held = append(held, detail)
			} else {
				failed = append(failed, detail)
			}
		}
		if len(failed) == 0 {
			return true, strings.Join(held, " and ")
		}
		return false, strings.Join(failed, " and ")
	case c.Any != nil:
		var held, failed []string
		for _, sub := range c.Any {
			ok, detail := e.holds(sub, it)
			if ok {
				held = append(held, detail)
			} else {
				failed = append(failed, detail)
			}
		}
		if len(held) > 0 {
			return true, strings.Join(held, " or ")
		}
		return false, strings.Join(failed, " and ")
	case c.Not != nil:
		ok, detail := e.holds(c.Not, it)
		return !ok, detail
	}
	return false, "empty condition"
}

// commitsHold evaluates a commits condition.
func (e *evaluator) commitsHold(c *CommitsCondition, it *item) (bool, string) {
	v, ok := it.fields.Lookup(c.Field)
	if !ok {
		return false, fmt.Sprintf("%s has no field %s", it.name(), c.Field)
	}
	lv := strings.ToLower(v)
	if !isHexPrefix(lv) {
		return false, fmt.Sprintf("%s %q is not a commit hash", c.Field, v)
	}
	last := strconv.Itoa(c.Source.Last) + " commits of " + c.Source.Branch
	pos, found := e.keep.commits[c].find(lv)
	if !found {
		return false, c.Field + " " + v + " is not among the last " + last
	}
	return true, c.Field + " " + v + " is #" + strconv.Itoa(pos+1) + " of the last " + last
}

// runsHold evaluates a runs condition.
func (e *evaluator) runsHold(c *RunsCondition, it *item) (bool, string) {
	v, ok := it.fields.Lookup(c.Field)
	if !ok {
		return false, fmt.Sprintf("%s has no field %s", it.name(), c.Field)
	}
	lv := strings.ToLower(v)
	if !isHexPrefix(lv) {
		return false, fmt.Sprintf("%s %q is not a commit hash", c.Field, v)
	}
	runs := e.keep.runs[c].find(lv)
	if len(runs) == 0 {
		window := ""
		if c.Source.Since > 0 {
			window = " in the last " + FormatDuration(c.Source.Since)
		}
		return false, "no live run" + window + " uses " + c.Field + " " + v
	}
	r := runs[0]
	detail := fmt.Sprintf("%s %s is used by live run %s (%s, %s:%d)", c.Field, v, r.Run, r.Status, r.File, r.Line)
	if len(runs) > 1 {
		detail += fmt.Sprintf(" and %d more live runs", len(runs)-1)
	}
	return true, detail
}

// newestHolds evaluates a newest condition from the precomputed ranks.
func (e *evaluator) newestHolds(c *NewestCondition, it *item) (bool, string) {
	r := e.ranks[c][it.kpos]
	if r.pos <= c.Count {
		return true, fmt.Sprintf("#%d newest of %d in %s (by %s); the newest %d are kept", r.pos, r.size, r.group, c.By, c.Count)
	}
	return false, fmt.Sprintf("#%d newest of %d in %s (by %s); only the newest %d are kept", r.pos, r.size, r.group, c.By, c.Count)
}

// ageHolds evaluates an age condition.
func (e *evaluator) ageHolds(c *AgeCondition, it *item) (bool, string) {
	if it.created.IsZero() {
		if c.OlderThan > 0 {
			return false, "creation time unknown: not counted as older than " + FormatDuration(c.OlderThan)
		}
		return true, "creation time unknown: counted as newer than " + FormatDuration(c.NewerThan)
	}
	age := e.now.Sub(it.created)
	when := fmt.Sprintf("created %s, %s ago", it.created.UTC().Format(time.RFC3339), formatAge(max(age, 0)))
	var facts []string
	held := true
	if c.NewerThan > 0 {
		if age < c.NewerThan {
			facts = append(facts, "newer than "+FormatDuration(c.NewerThan))
		} else {
			facts = append(facts, "not newer than "+FormatDuration(c.NewerThan))
			held = false
		}
	}
	if c.OlderThan > 0 {
		if age > c.OlderThan {
			facts = append(facts, "older than "+FormatDuration(c.OlderThan))
		} else {
			facts = append(facts, "not older than "+FormatDuration(c.OlderThan))
			held = false
		}
	}
	return held, when + ": " + strings.Join(facts, " and ")
}

// rankNewest computes, for a newest condition, every item's place in its group. items are the
// items of one kind, in kpos order.
func rankNewest(c *NewestCondition, kind string, items []*item) []rank {
	groups := map[string][]*item{}
	var keys []string
	for _, it := range items {
		vals := make([]string, len(c.Per))
		for i, f := range c.Per {
			vals[i] = it.fields.Get(f)
		}
		k := strings.Join(vals, "\x00")
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], it)
	}
	out := make([]rank, len(items))
	for _, k := range keys {
		members := groups[k]
		if c.By == BySemver {
			sortBySemver(members)
		} else {
			sort.Slice(members, func(i, j int) bool { return newer(c.By, members[i], members[j]) })
		}
		label := groupLabel(c.Per, members[0].fields, kind)
		for pos, it := range members {
			out[it.kpos] = rank{pos: pos + 1, size: len(members), group: label}
		}
	}
	return out
}

// newer orders two items newest (or greatest) first, ties by name.
func newer(by string, a, b *item) bool {
	if by == ByCreated {
		if !a.created.Equal(b.created) {
			return a.created.After(b.created)
		}
	} else if c := compareValues(a.fields.Get(by), b.fields.Get(by)); c != 0 {
		return c > 0
	}
	return a.sortKey() < b.sortKey()
}

// compareValues compares field values: numerically when both are whole numbers, else as text.
func compareValues(a, b string) int {
	ai, aerr := strconv.ParseInt(a, 10, 64)
	bi, berr := strconv.ParseInt(b, 10, 64)
	if aerr == nil && berr == nil {
		switch {
		case ai < bi:
			return -1
		case ai > bi:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

// groupLabel writes a group for reasons: "bench=swebench repo=django" or "all image tags".
func groupLabel(per []string, fields plan.Fields, kind string) string {
	if len(per) == 0 && kind == KindUntagged {
		return "all untagged manifests"
	}
	if len(per) == 0 {
		return "all " + kind + " tags"
	}
	parts := make([]string, len(per))
	for i, f := range per {
		v, ok := fields.Lookup(f)
		if !ok {
			v = "(none)"
		}
		parts[i] = f + "=" + v
	}
	return strings.Join(parts, " ")
}

// shortDigest abbreviates "sha256:<64 hex>" to "sha256:<12 hex>" for reason texts.
func shortDigest(d string) string {
	if len(d) > 19 && strings.HasPrefix(d, "sha256:") {
		return d[:19]
	}
	return d
}
