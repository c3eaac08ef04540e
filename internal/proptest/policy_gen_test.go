package proptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
)

// poolPattern is a tag pattern the generator may put in a scheme, with its named groups.
type poolPattern struct {
	src    string
	groups []string
}

// patternPool holds patterns matching the shapes tagName draws (and some broader ones, which
// shadow the narrow ones when they come first).
var patternPool = []poolPattern{
	{`(?P<sdk>[0-9a-f]{7})-(?P<bench>[a-z0-9]+)-img`, []string{"sdk", "bench"}},
	{`(?P<sdk>[0-9a-f]{7})-.+`, []string{"sdk"}},
	{`cache-(?P<repo>[a-z]+)(?:-(?P<branch>main|dev))?-(?P<n>[0-9]+)`, []string{"repo", "branch", "n"}},
	{`v(?P<major>[0-9]+)\.(?P<minor>[0-9]+)`, []string{"major", "minor"}},
	{`rel-(?P<n>[0-9]+)`, []string{"n"}},
	{`nightly-(?P<date>[0-9]{8})`, []string{"date"}},
	{`.*-img`, nil},
	{`x[0-9]+-(?P<repo>[a-z]+)`, []string{"repo"}},
}

// matchPool holds the expressions of generated match conditions.
var matchPool = []string{`.*swe.*`, `v1\..*`, `cache-.*-main-.*`, `[0-9a-f]{7}-gaia-img`, `.*`, `sha256-.*`, `rel-[0-9]`, `nightly-2025051.*`, `x.*`}

// genPattern is one pattern of a generated scheme.
type genPattern struct {
	kind   string
	src    string
	re     *regexp.Regexp
	groups []string
	consts map[string]string
}

// genCond is one generated keep condition; exactly one of its parts is set, as in the file.
type genCond struct {
	newest *genNewest
	age    *genAge
	match  string
	list   []string
	// commitsLast is the commits condition's `last` (field sdk); 0 when not a commits condition.
	commitsLast int
	all, any    []*genCond
	not         *genCond
}

type genNewest struct {
	count int
	per   []string
	by    string
}

type genAge struct {
	newerDays, olderDays int
}

// genPolicy is a generated policy: a scheme and rules by kind.
type genPolicy struct {
	patterns []genPattern
	rules    map[string][]*genCond
}

// commitsRepo is the repository a generated commits condition names; the fake loader answers it.
const commitsRepo = "/nonexistent/sdk"

// kindFields returns the fields some pattern of a kind gives, and those every pattern gives.
func (p *genPolicy) kindFields(kind string) (some, every []string) {
	count := map[string]int{}
	n := 0
	for _, pt := range p.patterns {
		if pt.kind != kind {
			continue
		}
		n++
		seen := map[string]bool{}
		for _, g := range pt.groups {
			seen[g] = true
		}
		for f := range pt.consts {
			seen[f] = true
		}
		for f := range seen {
			count[f]++
		}
	}
	for f, c := range count {
		some = append(some, f)
		if c == n {
			every = append(every, f)
		}
	}
	sort.Strings(some)
	sort.Strings(every)
	if kind == "referrer" {
		some, every = []string{"subject"}, []string{"subject"}
	}
	return some, every
}

// genPolicyFor draws a random policy for a model.
func genPolicyFor(r *rand.Rand, m *model) *genPolicy {
	p := &genPolicy{rules: map[string][]*genCond{}}
	kinds := []string{"image", "cache", "release", "nightly"}[:1+r.IntN(4)]
	for _, i := range r.Perm(len(patternPool))[:1+r.IntN(5)] {
		pp := patternPool[i]
		gp := genPattern{kind: kinds[r.IntN(len(kinds))], src: pp.src, groups: pp.groups,
			re: regexp.MustCompile(`^(?:` + pp.src + `)$`)}
		if r.IntN(4) == 0 {
			gp.consts = map[string]string{"team": []string{"core", "infra"}[r.IntN(2)]}
		}
		p.patterns = append(p.patterns, gp)
	}
	declared := map[string]bool{}
	for _, pt := range p.patterns {
		declared[pt.kind] = true
	}
	for _, k := range []string{"image", "cache", "release", "nightly", "unknown", "untagged", "referrer"} {
		chance := 85
		switch {
		case k == "unknown":
			chance = 35
		case k == "untagged" || k == "referrer":
			chance = 40
		case !declared[k]:
			continue
		}
		if r.IntN(100) >= chance {
			continue
		}
		some, every := p.kindFields(k)
		for range 1 + r.IntN(2) {
			p.rules[k] = append(p.rules[k], genCondition(r, m, k, some, every, 0))
		}
	}
	return p
}

// genCondition draws a condition for a kind with the given fields.
func genCondition(r *rand.Rand, m *model, kind string, some, every []string, depth int) *genCond {
	for {
		switch x := r.IntN(100); {
		case x < 25:
			n := &genNewest{count: 1 + r.IntN(2), by: "created"}
			if len(some) > 0 && r.IntN(2) == 0 {
				n.per = []string{some[r.IntN(len(some))]}
			}
			if len(some) > 0 && r.IntN(3) == 0 {
				n.by = some[r.IntN(len(some))]
			}
			return &genCond{newest: n}
		case x < 45:
			a := &genAge{}
			switch r.IntN(3) {
			case 0:
				a.newerDays = 1 + r.IntN(60)
			case 1:
				a.olderDays = 1 + r.IntN(60)
			default:
				a.olderDays = 1 + r.IntN(30)
				a.newerDays = a.olderDays + 1 + r.IntN(30)
			}
			return &genCond{age: a}
		case x < 60:
			return &genCond{match: matchPool[r.IntN(len(matchPool))]}
		case x < 70:
			var list []string
			names := m.tagNames()
			for range 1 + r.IntN(3) {
				if len(names) > 0 && r.IntN(3) > 0 {
					list = append(list, names[r.IntN(len(names))])
				} else {
					list = append(list, m.order[r.IntN(len(m.order))])
				}
			}
			return &genCond{list: list}
		case x < 80:
			if slices.Contains(every, "sdk") {
				return &genCond{commitsLast: 1 + r.IntN(len(m.commits))}
			}
		case depth < 2 && x < 88:
			c := &genCond{}
			for range 2 + r.IntN(2) {
				sub := genCondition(r, m, kind, some, every, depth+1)
				if x < 84 {
					c.all = append(c.all, sub)
				} else {
					c.any = append(c.any, sub)
				}
			}
			return c
		case depth < 2:
			return &genCond{not: genCondition(r, m, kind, some, every, depth+1)}
		}
	}
}

// yaml writes the policy file. JSON is YAML, and encoding/json quotes every expression right.
func (p *genPolicy) yaml() []byte {
	type pattern struct {
		Kind   string            `json:"kind"`
		Fields map[string]string `json:"fields,omitempty"`
		Match  string            `json:"match"`
	}
	doc := struct {
		Version int                       `json:"version"`
		Scheme  []pattern                 `json:"scheme,omitempty"`
		Rules   map[string]map[string]any `json:"rules,omitempty"`
	}{Version: 1, Rules: map[string]map[string]any{}}
	for _, pt := range p.patterns {
		doc.Scheme = append(doc.Scheme, pattern{pt.kind, pt.consts, pt.src})
	}
	for k, conds := range p.rules {
		var keep []any
		for _, c := range conds {
			keep = append(keep, c.doc())
		}
		doc.Rules[k] = map[string]any{"keep": keep}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// doc is the condition as the policy file writes it.
func (c *genCond) doc() any {
	subs := func(cs []*genCond) []any {
		var out []any
		for _, s := range cs {
			out = append(out, s.doc())
		}
		return out
	}
	switch {
	case c.newest != nil:
		n := map[string]any{"count": c.newest.count, "by": c.newest.by}
		if len(c.newest.per) > 0 {
			n["per"] = c.newest.per
		}
		return map[string]any{"newest": n}
	case c.age != nil:
		a := map[string]any{}
		if c.age.newerDays > 0 {
			a["newer_than"] = fmt.Sprintf("%dd", c.age.newerDays)
		}
		if c.age.olderDays > 0 {
			a["older_than"] = fmt.Sprintf("%dd", c.age.olderDays)
		}
		return map[string]any{"age": a}
	case c.match != "":
		return map[string]any{"match": c.match}
	case c.list != nil:
		return map[string]any{"list": c.list}
	case c.commitsLast > 0:
		return map[string]any{"commits": map[string]any{"repo": commitsRepo, "last": c.commitsLast, "field": "sdk", "allow_fewer": true}}
	case c.all != nil:
		return map[string]any{"all": subs(c.all)}
	case c.any != nil:
		return map[string]any{"any": subs(c.any)}
	}
	return map[string]any{"not": c.not.doc()}
}
