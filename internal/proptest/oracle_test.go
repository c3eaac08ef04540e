package proptest

import (
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The oracle: what a correct plan keeps and deletes, computed from the generated model and the
// generated policy alone, with none of the evaluator's code. It follows regtidy's documented
// rules: a tag is kept when a condition of its kind's rule holds (kinds without a rule, tags of
// no kind and referrer tags of missing subjects are kept; a referrer tag of a present subject
// without referrer rules follows its subject); untagged manifests nothing points at are of kind
// "untagged"; everything a kept digest reaches (index children, attestation manifests, nested
// indexes, subject referrers and sha256-<digest> tags) is kept; the rest is deleted.

// expectation is the oracle's verdict on one model and policy.
type expectation struct {
	// universe is every digest the plan decides.
	universe map[string]bool
	// kept is the closure of the kept roots; deleted is the universe less kept.
	kept, deleted map[string]bool
	// keptTags are the tags a keep condition (or a default) kept, by name.
	keptTags map[string]bool
	// kinds gives each tag's kind.
	kinds map[string]string
	// out are the edges the oracle followed, for messages.
	out map[string][]string
}

// oracleItem is a tag, or an untagged manifest nothing points at (tag "").
type oracleItem struct {
	tag, digest, kind string
	fields            map[string]string
	created           time.Time
}

func (it *oracleItem) sortKey() string {
	if it.tag != "" {
		return it.tag
	}
	return it.digest
}

// expect computes the expectation. created gives a digest's creation time (the manifest's,
// else the registry version's, else zero). opaque, when set, names the digests whose manifests
// the listing does not read (on GHCR, untagged versions no tag reaches): their children and
// subjects are unknown, so they have no edges out of them or from their subjects.
func expect(m *model, p *genPolicy, now time.Time, created func(string) time.Time, opaque func(string) bool) *expectation {
	e := &expectation{universe: m.visible(), kept: map[string]bool{}, deleted: map[string]bool{},
		keptTags: map[string]bool{}, kinds: map[string]string{}, out: map[string][]string{}}
	in := map[string]int{}
	addEdge := func(from, to string) {
		if from == to || !e.universe[from] || !e.universe[to] || slices.Contains(e.out[from], to) {
			return
		}
		e.out[from] = append(e.out[from], to)
		in[to]++
	}
	for d := range e.universe {
		n := m.nodes[d]
		if opaque != nil && opaque(d) {
			continue
		}
		for _, c := range n.children {
			addEdge(d, c.digest)
		}
		if n.subject != "" {
			addEdge(n.subject, d)
		}
	}
	for t, d := range m.tags {
		if s, ok := referrerSubject(t); ok {
			addEdge(s, d)
		}
	}
	// Items: every tag, and every untagged manifest with no edge into it.
	tagged := map[string]bool{}
	var items []*oracleItem
	for _, t := range m.tagNames() {
		d := m.tags[t]
		tagged[d] = true
		kind, fields := p.classify(t)
		e.kinds[t] = kind
		items = append(items, &oracleItem{tag: t, digest: d, kind: kind, fields: fields, created: created(d)})
	}
	for _, d := range m.order {
		if e.universe[d] && !tagged[d] && in[d] == 0 {
			items = append(items, &oracleItem{digest: d, kind: "untagged", created: created(d)})
		}
	}
	byKind := map[string][]*oracleItem{}
	for _, it := range items {
		byKind[it.kind] = append(byKind[it.kind], it)
	}
	var roots []string
	for _, it := range items {
		conds, hasRule := p.rules[it.kind]
		keep := false
		switch {
		case !hasRule && it.kind == "referrer" && e.universe[it.fields["subject"]]:
			// follows its subject: kept only through the closure
		case !hasRule:
			keep = true
		default:
			for _, c := range conds {
				if holds(c, it, byKind[it.kind], m, now) {
					keep = true
					break
				}
			}
		}
		if keep {
			roots = append(roots, it.digest)
			if it.tag != "" {
				e.keptTags[it.tag] = true
			}
		}
	}
	for len(roots) > 0 {
		d := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if e.kept[d] {
			continue
		}
		e.kept[d] = true
		roots = append(roots, e.out[d]...)
	}
	for d := range e.universe {
		if !e.kept[d] {
			e.deleted[d] = true
		}
	}
	return e
}

// referrerSubject returns the digest a "sha256-<64 hex>[.suffix]" tag names.
func referrerSubject(tag string) (string, bool) {
	rest, ok := strings.CutPrefix(tag, "sha256-")
	if !ok || len(rest) < 64 || (len(rest) > 64 && rest[64] != '.') {
		return "", false
	}
	for _, c := range rest[:64] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return "sha256:" + rest[:64], true
}

// classify gives a tag its kind and fields: the first pattern matching the whole tag, else
// "referrer" for a sha256-<hex> tag, else "unknown".
func (p *genPolicy) classify(tag string) (string, map[string]string) {
	for _, pt := range p.patterns {
		idx := pt.re.FindStringSubmatchIndex(tag)
		if idx == nil {
			continue
		}
		fields := map[string]string{}
		for g, name := range pt.re.SubexpNames() {
			if name != "" && idx[2*g] >= 0 {
				fields[name] = tag[idx[2*g]:idx[2*g+1]]
			}
		}
		for k, v := range pt.consts {
			if _, set := fields[k]; !set {
				fields[k] = v
			}
		}
		return pt.kind, fields
	}
	if s, ok := referrerSubject(tag); ok {
		return "referrer", map[string]string{"subject": s}
	}
	return "unknown", map[string]string{}
}

// holds evaluates a condition for an item; all are the items of its kind.
func holds(c *genCond, it *oracleItem, all []*oracleItem, m *model, now time.Time) bool {
	switch {
	case c.newest != nil:
		return newestRank(c.newest, it, all) <= c.newest.count
	case c.age != nil:
		if it.created.IsZero() {
			return c.age.olderDays == 0
		}
		age := now.Sub(it.created)
		day := 24 * time.Hour
		return (c.age.newerDays == 0 || age < time.Duration(c.age.newerDays)*day) &&
			(c.age.olderDays == 0 || age > time.Duration(c.age.olderDays)*day)
	case c.match != "":
		return it.tag != "" && regexp.MustCompile(`^(?:`+c.match+`)$`).MatchString(it.tag)
	case c.list != nil:
		return (it.tag != "" && slices.Contains(c.list, it.tag)) || slices.Contains(c.list, it.digest)
	case c.commitsLast > 0:
		v, ok := it.fields["sdk"]
		v = strings.ToLower(v)
		if !ok || len(v) < 7 || len(v) > 40 || strings.Trim(v, "0123456789abcdef") != "" {
			return false
		}
		for _, sha := range m.commits[:c.commitsLast] {
			if strings.HasPrefix(sha, v) {
				return true
			}
		}
		return false
	case c.all != nil:
		for _, s := range c.all {
			if !holds(s, it, all, m, now) {
				return false
			}
		}
		return true
	case c.any != nil:
		for _, s := range c.any {
			if holds(s, it, all, m, now) {
				return true
			}
		}
		return false
	}
	return !holds(c.not, it, all, m, now)
}

// newestRank is an item's 1-based place in its group (items of its kind with equal per
// fields), newest (or greatest by field) first, ties by tag name (digest for untagged ones).
func newestRank(n *genNewest, it *oracleItem, all []*oracleItem) int {
	key := func(x *oracleItem) string {
		var parts []string
		for _, f := range n.per {
			parts = append(parts, x.fields[f])
		}
		return strings.Join(parts, "\x00")
	}
	var group []*oracleItem
	for _, x := range all {
		if key(x) == key(it) {
			group = append(group, x)
		}
	}
	sort.SliceStable(group, func(i, j int) bool {
		a, b := group[i], group[j]
		if n.by == "created" {
			if !a.created.Equal(b.created) {
				return a.created.After(b.created)
			}
		} else if c := compareFieldValues(a.fields[n.by], b.fields[n.by]); c != 0 {
			return c > 0
		}
		return a.sortKey() < b.sortKey()
	})
	for i, x := range group {
		if x == it {
			return i + 1
		}
	}
	panic("item not in its group")
}

// compareFieldValues compares numerically when both are whole numbers, else as text.
func compareFieldValues(a, b string) int {
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

// sortedSet returns a set's members, sorted.
func sortedSet(s map[string]bool) []string {
	out := make([]string, 0, len(s))
	for k, v := range s {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
