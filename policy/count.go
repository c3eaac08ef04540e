package policy

import (
	"errors"
	"time"

	"github.com/regtidy/regtidy/inventory"
)

// Counts is what a policy's kinds and keep conditions match in a repository, each counted on
// its own: the check of a policy before a plan is made from it. Nothing is decided; the safety
// rules of Evaluate (what kept manifests reach, shared digests) are not applied.
type Counts struct {
	// Tags is how many tags the repository has; Untagged how many untagged manifests nothing
	// points at (the kind "untagged").
	Tags     int `json:"tags"`
	Untagged int `json:"untagged"`
	// Kinds counts the tags (and orphans) of each kind: the scheme's kinds in the order of their
	// first pattern, then "unknown", "referrer" and "untagged", each listed when the scheme
	// declares it, a rule names it or the repository has some.
	Kinds []KindCount `json:"kinds"`
	// Rules holds, for each rule in the policy's order, what each of its conditions holds for.
	Rules []RuleCount `json:"rules"`
}

// KindCount is how many tags (for "untagged", manifests) a kind has.
type KindCount struct {
	Kind  string `json:"kind"`
	Count int    `json:"count"`
}

// RuleCount is what a rule's conditions hold for, among the tags of its kind.
type RuleCount struct {
	Kind string `json:"kind"`
	// Count is how many tags (or orphans) the kind has.
	Count int `json:"count"`
	// Conditions are the rule's keep conditions, in the file's order.
	Conditions []ConditionCount `json:"conditions"`
	// Kept is how many of them at least one evaluated condition holds for. With Partial set,
	// some condition was not evaluated, and the rule keeps at least Kept.
	Kept    int  `json:"kept"`
	Partial bool `json:"partial,omitempty"`
}

// ConditionCount is how many tags of its kind one keep condition holds for.
type ConditionCount struct {
	// Path is where the condition is written, e.g. "rules.image.keep[1]".
	Path string `json:"path"`
	// Condition describes it in one line.
	Condition string `json:"condition"`
	// Sources lists the keep sources the condition reads ("commits", "runs", "base"), if any.
	Sources []string `json:"sources,omitempty"`
	// Evaluated is false for a condition whose keep sources were not loaded: its Holds is 0
	// and means nothing.
	Evaluated bool `json:"evaluated"`
	// Holds is how many tags (or orphans) of the kind the condition holds for.
	Holds int `json:"holds"`
}

// Count classifies every tag of inv by pol's scheme and counts, for every keep condition of
// every rule, the tags of its kind it holds for. keep holds the loaded keep sources, or is nil:
// then conditions that read a source (commits, runs, base, or a combination holding one) are
// not evaluated, and nothing outside inv is needed. now is the time ages are measured from.
func Count(inv *inventory.Inventory, pol *Policy, keep *KeepSets, now time.Time) (*Counts, error) {
	if inv == nil || pol == nil {
		return nil, errors.New("policy: Count needs an inventory and a policy")
	}
	kx := &keepIndex{}
	if keep != nil {
		var err error
		if kx, err = newKeepIndex(pol, keep); err != nil {
			return nil, err
		}
	}
	e := &evaluator{inv: inv, pol: pol, keep: kx, now: now, g: newGraph(inv)}
	e.collectItems()
	e.rankAll()
	out := &Counts{Tags: len(inv.Tags), Untagged: len(e.byKind[KindUntagged])}
	seen := map[string]bool{}
	addKind := func(kind string) {
		if !seen[kind] {
			seen[kind] = true
			out.Kinds = append(out.Kinds, KindCount{Kind: kind, Count: len(e.byKind[kind])})
		}
	}
	if pol.Scheme != nil {
		for _, p := range pol.Scheme.Patterns {
			addKind(p.Kind)
		}
	}
	for _, kind := range []string{KindUnknown, KindReferrer, KindUntagged} {
		if pol.Rule(kind) != nil || len(e.byKind[kind]) > 0 {
			addKind(kind)
		}
	}
	for _, r := range pol.Rules {
		items := e.byKind[r.Kind]
		rc := RuleCount{Kind: r.Kind, Count: len(items)}
		held := make([]bool, len(items))
		for _, c := range r.Keep {
			cc := ConditionCount{Path: c.Path, Condition: c.String(), Sources: c.SourceKinds()}
			cc.Evaluated = keep != nil || len(cc.Sources) == 0
			if !cc.Evaluated {
				rc.Partial = true
				rc.Conditions = append(rc.Conditions, cc)
				continue
			}
			for i, it := range items {
				if ok, _ := e.holds(c, it); ok {
					cc.Holds++
					held[i] = true
				}
			}
			rc.Conditions = append(rc.Conditions, cc)
		}
		for _, h := range held {
			if h {
				rc.Kept++
			}
		}
		out.Rules = append(out.Rules, rc)
	}
	return out, nil
}

// SourceKinds lists the kinds of keep source a condition reads, itself or through the conditions
// it combines, each once: "commits" (git history), "runs" (run metadata), "base" (other image
// repositories). A condition with none is decided by the repository alone.
func (c *Condition) SourceKinds() []string {
	var out []string
	add := func(s string) {
		for _, x := range out {
			if x == s {
				return
			}
		}
		out = append(out, s)
	}
	walkConditions(c, func(c *Condition) {
		switch {
		case c.Commits != nil:
			add("commits")
		case c.Runs != nil:
			add("runs")
		case c.Base != nil:
			add("base")
		}
	})
	return out
}
