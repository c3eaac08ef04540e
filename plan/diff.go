package plan

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/regtidy/regtidy/inventory"
)

// ErrPlanStale is wrapped by the error Apply returns when the repository changed since the plan
// was made in a way that matters: a tag would lose an image the plan deletes. errors.As with a
// *StaleError gives the conflicts.
var ErrPlanStale = errors.New("plan is stale: the repository changed in ways that matter")

// ErrPlanInvalid is wrapped by the error Apply returns for a plan that contradicts itself (a
// digest decided twice, a deleted child of a kept index, a tag missing from its decision).
var ErrPlanInvalid = errors.New("plan is invalid")

// PlanDiff is the difference between the tags a plan was made from and the live repository.
type PlanDiff struct {
	// Added are live tags the plan does not know.
	Added []inventory.Tag `json:"added,omitempty"`
	// Removed are the plan's tags no longer live (already deleted, by this tool or someone else),
	// with the digest they pointed at when planned.
	Removed []inventory.Tag `json:"removed,omitempty"`
	// Moved are tags that point at another digest than when planned.
	Moved []TagMove `json:"moved,omitempty"`
}

// TagMove is a tag whose digest changed between plan and apply.
type TagMove struct {
	Tag     string `json:"tag"`
	Planned string `json:"planned"`
	Live    string `json:"live"`
}

// Empty reports whether the live repository matches the plan's tags.
func (d PlanDiff) Empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Moved) == 0
}

// String summarises the difference in one line, e.g. "2 added, 1 removed, 0 moved".
func (d PlanDiff) String() string {
	return fmt.Sprintf("%d added, %d removed, %d moved", len(d.Added), len(d.Removed), len(d.Moved))
}

// Diff compares the plan's tags with the live ones. A live tag whose Digest is empty is known to
// exist but was not resolved (apply resolves only the tags whose move could matter); it is
// compared by presence only. The lists in the result are sorted by tag name.
func Diff(p *Plan, live []inventory.Tag) PlanDiff {
	planned := make(map[string]string, len(p.Tags))
	for _, t := range p.Tags {
		planned[t.Name] = t.Digest
	}
	var d PlanDiff
	seen := make(map[string]bool, len(live))
	for _, t := range live {
		if seen[t.Name] {
			continue
		}
		seen[t.Name] = true
		was, ok := planned[t.Name]
		switch {
		case !ok:
			d.Added = append(d.Added, t)
		case t.Digest != "" && t.Digest != was:
			d.Moved = append(d.Moved, TagMove{Tag: t.Name, Planned: was, Live: t.Digest})
		}
	}
	for _, t := range p.Tags {
		if !seen[t.Name] {
			d.Removed = append(d.Removed, t)
		}
	}
	sort.Slice(d.Added, func(i, j int) bool { return d.Added[i].Name < d.Added[j].Name })
	sort.Slice(d.Removed, func(i, j int) bool { return d.Removed[i].Name < d.Removed[j].Name })
	sort.Slice(d.Moved, func(i, j int) bool { return d.Moved[i].Tag < d.Moved[j].Tag })
	return d
}

// Conflict is one change in the live repository that makes a plan unsafe to carry out.
type Conflict struct {
	Tag string `json:"tag"`
	// Planned is the digest the tag pointed at when planned (empty for a new tag).
	Planned string `json:"planned,omitempty"`
	// Live is the digest it points at now.
	Live string `json:"live"`
	// Why says what would break, e.g. "kept tag now points at a digest the plan deletes".
	Why string `json:"why"`
}

// Conflicts returns the changes in d that matter for p: a tag the plan keeps (or a tag the plan
// does not know) that now points at a digest the plan deletes. Tags that vanished, and tags the
// plan deletes that moved elsewhere, are not conflicts: apply skips the latter.
func Conflicts(p *Plan, d PlanDiff) []Conflict {
	// Only the digests the diff names are looked up: a set of those, not of every delete (a
	// plan of the full case deletes 366k digests).
	deleted := map[string]bool{}
	for _, t := range d.Added {
		deleted[t.Digest] = false
	}
	for _, m := range d.Moved {
		deleted[m.Live], deleted[m.Planned] = false, false
	}
	if len(deleted) > 0 {
		for i := range p.Decisions {
			dec := &p.Decisions[i]
			if _, named := deleted[dec.Digest]; named && dec.Action == Delete {
				deleted[dec.Digest] = true
			}
		}
	}
	return ConflictsWith(d, func(digest string) bool { return deleted[digest] })
}

// ConflictsWith is Conflicts for a caller that knows which digests the plan deletes: deleted
// reports whether it deletes digest (apply asks about the deletes it has not made yet).
func ConflictsWith(d PlanDiff, deleted func(digest string) bool) []Conflict {
	var out []Conflict
	for _, t := range d.Added {
		if deleted(t.Digest) {
			out = append(out, Conflict{Tag: t.Name, Live: t.Digest, Why: "new tag points at a digest the plan deletes"})
		}
	}
	for _, m := range d.Moved {
		if deleted(m.Live) && !deleted(m.Planned) {
			out = append(out, Conflict{Tag: m.Tag, Planned: m.Planned, Live: m.Live, Why: "kept tag now points at a digest the plan deletes"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out
}

// StaleError is the error Apply returns when the live repository conflicts with the plan.
// It wraps ErrPlanStale.
type StaleError struct {
	Repository string
	Diff       PlanDiff
	Conflicts  []Conflict
}

// staleListed is how many conflicts StaleError.Error lists before summarising the rest.
const staleListed = 20

// Error lists the first conflicts, one a line.
func (e *StaleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v (%s since the plan; %d conflicts)", e.Repository, ErrPlanStale, e.Diff, len(e.Conflicts))
	for i, c := range e.Conflicts {
		if i == staleListed {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Conflicts)-staleListed)
			break
		}
		if c.Planned != "" {
			fmt.Fprintf(&b, "\n  %s: %s (was %s, now %s)", c.Tag, c.Why, short(c.Planned), short(c.Live))
		} else {
			fmt.Fprintf(&b, "\n  %s: %s (%s)", c.Tag, c.Why, short(c.Live))
		}
	}
	return b.String()
}

// Unwrap returns ErrPlanStale.
func (e *StaleError) Unwrap() error { return ErrPlanStale }

// short abbreviates a digest for messages: "sha256:1a2b3c4d5e6f".
func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}

// Validate checks that a plan is consistent enough to carry out: a schema this code reads, a
// repository, each digest decided once, every planned tag listed by its digest's decision, no
// deleted manifest whose recorded parent is kept, no delete carrying keep reasons, and an intact
// seal (CheckApplicable).
func (p *Plan) Validate() error {
	if p.Schema != Schema {
		return fmt.Errorf("%w: schema %q, this regtidy reads %q", ErrPlanInvalid, p.Schema, Schema)
	}
	if p.Repository == "" {
		return fmt.Errorf("%w: no repository", ErrPlanInvalid)
	}
	// Decisions sorted by digest, as the planner writes them, are found by bisection: a map of
	// the full case's 395k decisions would take some 15 MB more while a whole plan is in memory.
	sorted := true
	for i := 1; i < len(p.Decisions) && sorted; i++ {
		sorted = p.Decisions[i-1].Digest < p.Decisions[i].Digest
	}
	var byDigest map[string]*Decision
	if !sorted {
		byDigest = make(map[string]*Decision, len(p.Decisions))
	}
	find := func(digest string) *Decision {
		if sorted {
			if i, ok := slices.BinarySearchFunc(p.Decisions, digest, compareDigest); ok {
				return &p.Decisions[i]
			}
			return nil
		}
		return byDigest[digest]
	}
	for i := range p.Decisions {
		d := &p.Decisions[i]
		if d.Digest == "" {
			return fmt.Errorf("%w: decision %d has no digest", ErrPlanInvalid, i)
		}
		if d.Action != Keep && d.Action != Delete {
			return fmt.Errorf("%w: %s: unknown action %q", ErrPlanInvalid, d.Digest, d.Action)
		}
		if sorted {
			continue // strictly increasing digests: none is decided twice
		}
		if byDigest[d.Digest] != nil {
			return fmt.Errorf("%w: %s is decided twice", ErrPlanInvalid, d.Digest)
		}
		byDigest[d.Digest] = d
	}
	for i := range p.Decisions {
		if d := &p.Decisions[i]; d.Action == Delete && d.Parent != "" {
			if parent := find(d.Parent); parent != nil && parent.Action == Keep {
				return fmt.Errorf("%w: %s is deleted but belongs to %s, which is kept", ErrPlanInvalid, d.Digest, d.Parent)
			}
		}
	}
	for _, t := range p.Tags {
		d := find(t.Digest)
		if d == nil || d.Action != Delete {
			continue
		}
		found := false
		for _, name := range d.Tags {
			if name == t.Name {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%w: tag %s points at %s, which is deleted, but its decision does not list the tag", ErrPlanInvalid, t.Name, t.Digest)
		}
	}
	return p.CheckApplicable()
}
