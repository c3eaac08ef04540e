package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// conditionNames are the keys a keep condition may have (exactly one of them).
var conditionNames = []string{"commits", "runs", "newest", "age", "match", "list", "base", "all", "any", "not"}

var (
	kindName  = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	digestRe  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// ruleContext is what a condition's validation needs to know about the kind it keeps.
type ruleContext struct {
	kind string
	// some are the fields some pattern of the kind gives; every, those all its patterns give.
	some, every []string
}

// byKey indexes decoded fields by key.
func byKey(fields []field) map[string]field {
	m := make(map[string]field, len(fields))
	for _, f := range fields {
		m[f.key] = f
	}
	return m
}

// policy decodes the top level of a policy file into pol.
func (d *decoder) policy(body ast.Node, pol *Policy) {
	fields, _ := d.mapping(body, nil, "", "version", "scheme", "rules")
	top := byKey(fields)
	if f, ok := top["version"]; ok {
		if v, ok := d.positiveInt(f); ok && v != SupportedVersion {
			d.errorf(f.value, f.path, "unsupported version %d; this regtidy reads version %d", v, SupportedVersion)
		} else if ok {
			pol.Version = v
		}
	} else if len(fields) > 0 || len(d.errs) == 0 {
		d.errorf(body, "version", "missing; a policy starts with `version: %d`", SupportedVersion)
	}
	if f, ok := top["scheme"]; ok {
		pol.Scheme = d.scheme(f)
	}
	if f, ok := top["rules"]; ok {
		pol.Rules = d.rules(f, pol.Scheme)
	}
}

// scheme decodes the scheme: a list of patterns.
func (d *decoder) scheme(f field) *Scheme {
	s := &Scheme{}
	items, ok := d.list(f)
	if !ok {
		return s
	}
	for _, it := range items {
		pf, ok := d.mapping(it.value, it.keyAt, it.path, "kind", "fields", "match")
		if !ok && pf == nil {
			continue
		}
		m := byKey(pf)
		var p Pattern
		good := ok
		if kf, has := m["kind"]; !has {
			d.errorf(it.keyAt, joinPath(it.path, "kind"), "missing (every pattern names the kind it gives)")
			good = false
		} else if kind, ok := d.nonEmpty(kf); !ok {
			good = false
		} else if !kindName.MatchString(kind) {
			d.errorf(kf.value, kf.path, "kind %q: use lowercase letters, digits, - and _, starting with a letter", kind)
			good = false
		} else if contains(reservedKinds, kind) {
			d.errorf(kf.value, kf.path, "kind %q is reserved (regtidy's own kinds: %s)", kind, strings.Join(reservedKinds, ", "))
			good = false
		} else {
			p.Kind = kind
		}
		if mf, has := m["match"]; !has {
			d.errorf(it.keyAt, joinPath(it.path, "match"), "missing (the regular expression a tag of this kind matches)")
			good = false
		} else if re, ok := d.regex(mf, true); ok {
			p.Match, p.Source = re, d.mustStr(mf)
			for _, name := range re.SubexpNames() {
				if name != "" && !fieldName.MatchString(name) {
					d.errorf(mf.value, mf.path, "group name %q: use letters, digits and _", name)
					good = false
				}
			}
		} else {
			good = false
		}
		if ff, has := m["fields"]; has {
			consts, ok := d.stringMap(ff)
			good = good && ok
			for _, name := range sortedKeys(consts) {
				switch {
				case !fieldName.MatchString(name):
					d.errorf(ff.value, joinPath(ff.path, name), "field name %q: use letters, digits and _", name)
					good = false
				case p.Match != nil && contains(p.Match.SubexpNames(), name):
					d.errorf(ff.value, joinPath(ff.path, name), "field %q is also a named group of match; a field has one source", name)
					good = false
				}
			}
			p.Fields = consts
		}
		if p.Kind != "" && !contains(d.named, p.Kind) {
			d.named = append(d.named, p.Kind)
		}
		if good {
			s.Patterns = append(s.Patterns, p)
		} else if p.Kind != "" {
			d.broken = append(d.broken, p.Kind)
		}
	}
	return s
}

// mustStr returns a field's string value, already checked by an earlier decode.
func (d *decoder) mustStr(f field) string {
	switch v := d.resolve(f.value).(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return v.Value.Value
	case nil:
		return ""
	default:
		return v.GetToken().Value
	}
}

// rules decodes the rules: a mapping from kind to {keep: [conditions]}.
func (d *decoder) rules(f field, s *Scheme) []*Rule {
	kinds, ok := d.mapping(f.value, f.keyAt, f.path)
	if !ok {
		return nil
	}
	declared := s.Kinds()
	var out []*Rule
	for _, kf := range kinds {
		if !contains(declared, kf.key) && !contains(d.named, kf.key) && !contains(ruleOnlyKinds, kf.key) {
			known := append(append([]string(nil), declared...), ruleOnlyKinds...)
			d.errorf(kf.keyAt, kf.path, "no such kind (kinds: %s)", strings.Join(known, ", "))
			continue
		}
		some, every := s.Fields(kf.key)
		cx := ruleContext{kind: kf.key, some: some, every: every}
		rf, _ := d.mapping(kf.value, kf.keyAt, kf.path, "keep")
		keep, has := byKey(rf)["keep"]
		if !has {
			if rf != nil {
				d.errorf(blame(kf.value, kf.keyAt), joinPath(kf.path, "keep"), "missing (the conditions that keep a %s tag)", kf.key)
			}
			continue
		}
		items, ok := d.list(keep)
		if !ok {
			continue
		}
		if len(items) == 0 {
			d.errorf(keep.value, keep.path, "must list at least one condition (a kind with no rule is kept whole)")
			continue
		}
		r := &Rule{Kind: kf.key}
		for _, it := range items {
			if c := d.condition(it, cx); c != nil {
				r.Keep = append(r.Keep, c)
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// condition decodes one keep condition: a mapping with exactly one condition key.
func (d *decoder) condition(f field, cx ruleContext) *Condition {
	fields, ok := d.mapping(f.value, f.keyAt, f.path, conditionNames...)
	if !ok {
		return nil
	}
	if len(fields) != 1 {
		d.errorf(blame(f.value, f.keyAt), f.path, "must hold exactly one condition (%s), got %d; combine conditions with all or any", strings.Join(conditionNames, ", "), len(fields))
		return nil
	}
	x := fields[0]
	c := &Condition{Path: f.path}
	switch x.key {
	case "commits":
		c.Commits = d.commits(x, cx)
		ok = c.Commits != nil
	case "runs":
		c.Runs = d.runs(x, cx)
		ok = c.Runs != nil
	case "newest":
		c.Newest = d.newest(x, cx)
		ok = c.Newest != nil
	case "age":
		c.Age = d.age(x)
		ok = c.Age != nil
	case "match":
		var re *regexp.Regexp
		if re, ok = d.regex(x, true); ok {
			c.Match = &MatchCondition{Pattern: re, Source: d.mustStr(x)}
		}
	case "list":
		c.List = d.listCondition(x)
		ok = c.List != nil
	case "base":
		c.Base = d.baseCondition(x)
		ok = c.Base != nil
	case "all", "any":
		items, good := d.list(x)
		if good && len(items) == 0 {
			d.errorf(x.value, x.path, "must list at least one condition")
			good = false
		}
		var conds []*Condition
		for _, it := range items {
			sub := d.condition(it, cx)
			good = good && sub != nil
			conds = append(conds, sub)
		}
		ok = good
		if x.key == "all" {
			c.All = conds
		} else {
			c.Any = conds
		}
	case "not":
		c.Not = d.condition(x, cx)
		ok = c.Not != nil
	}
	if !ok {
		return nil
	}
	return c
}

// commits decodes a commits condition.
func (d *decoder) commits(f field, cx ruleContext) *CommitsCondition {
	fields, ok := d.mapping(f.value, f.keyAt, f.path, "repo", "branch", "last", "allow_fewer", "field")
	if !ok {
		return nil
	}
	m := byKey(fields)
	c := &CommitsCondition{Source: CommitsSpec{Branch: "main"}}
	ok = d.require(f, m, "repo", "last", "field")
	if x, has := m["repo"]; has {
		repo, good := d.nonEmpty(x)
		c.Source.Repo, ok = repo, ok && good
	}
	if x, has := m["branch"]; has {
		b, good := d.nonEmpty(x)
		c.Source.Branch, ok = b, ok && good
	}
	if x, has := m["last"]; has {
		n, good := d.positiveInt(x)
		c.Source.Last, ok = n, ok && good
	}
	if x, has := m["allow_fewer"]; has {
		b, good := d.boolean(x)
		c.Source.AllowFewer, ok = b, ok && good
	}
	if x, has := m["field"]; has {
		name, good := d.tagField(x, cx, true)
		c.Field, ok = name, ok && good
	}
	if !ok {
		return nil
	}
	return c
}

// runs decodes a runs condition.
func (d *decoder) runs(f field, cx ruleContext) *RunsCondition {
	fields, ok := d.mapping(f.value, f.keyAt, f.path, "url", "status", "live", "terminal", "run", "join", "commit", "since", "field", "allow_empty")
	if !ok {
		return nil
	}
	m := byKey(fields)
	c := &RunsCondition{Source: RunsSpec{StatusField: "status", PathField: "path"}}
	ok = d.require(f, m, "url", "commit", "field")
	set := func(key string, dst *string) {
		if x, has := m[key]; has {
			s, good := d.nonEmpty(x)
			*dst, ok = s, ok && good
		}
	}
	set("url", &c.Source.URL)
	set("status", &c.Source.StatusField)
	set("run", &c.Source.PathField)
	set("join", &c.Source.Join)
	if c.Source.Join != "" {
		set("commit", &c.Source.JoinField)
	} else {
		set("commit", &c.Source.CommitField)
	}
	if x, has := m["url"]; has && c.Source.URL != "" && !strings.Contains(c.Source.URL, "://") {
		d.errorf(x.value, x.path, "must be a bucket URL such as gs://bucket/metadata/*.jsonl, s3://... or file://...")
		ok = false
	}
	for _, key := range []string{"live", "terminal"} {
		if x, has := m[key]; has {
			list, good := d.stringList(x)
			ok = ok && good
			if key == "live" {
				c.Source.Live = list
			} else {
				c.Source.Terminal = list
			}
		}
	}
	if len(c.Source.Live) == 0 && len(c.Source.Terminal) == 0 {
		d.errorf(blame(f.value, f.keyAt), f.path+".live", "runs needs live statuses, terminal statuses, or both")
		ok = false
	}
	for _, st := range c.Source.Live {
		if contains(c.Source.Terminal, st) {
			d.errorf(m["terminal"].value, f.path+".terminal", "status %q is both live and terminal", st)
			ok = false
		}
	}
	if x, has := m["join"]; has && c.Source.Join != "" {
		if err := checkJoinTemplate(c.Source.Join); err != nil {
			d.errorf(x.value, x.path, "%v", err)
			ok = false
		} else if err := checkJoinBase(c.Source.URL, c.Source.Join); err != nil {
			d.errorf(x.value, x.path, "%v", err)
			ok = false
		}
	}
	if x, has := m["since"]; has {
		dur, good := d.duration(x)
		c.Source.Since, ok = dur, ok && good
	}
	if x, has := m["allow_empty"]; has {
		b, good := d.boolean(x)
		c.Source.AllowEmpty, ok = b, ok && good
	}
	if x, has := m["field"]; has {
		name, good := d.tagField(x, cx, true)
		c.Field, ok = name, ok && good
	}
	if !ok {
		return nil
	}
	return c
}

// newest decodes a newest condition.
func (d *decoder) newest(f field, cx ruleContext) *NewestCondition {
	fields, ok := d.mapping(f.value, f.keyAt, f.path, "count", "per", "by")
	if !ok {
		return nil
	}
	m := byKey(fields)
	c := &NewestCondition{By: ByCreated}
	ok = d.require(f, m, "count")
	if x, has := m["count"]; has {
		n, good := d.positiveInt(x)
		c.Count, ok = n, ok && good
	}
	if x, has := m["per"]; has {
		items, good := d.list(x)
		ok = ok && good
		for _, it := range items {
			name, good := d.tagField(it, cx, false)
			ok = ok && good
			c.Per = append(c.Per, name)
		}
	}
	if x, has := m["by"]; has {
		by, good := d.nonEmpty(x)
		ok = ok && good
		if good && by != ByCreated && by != BySemver {
			_, good = d.tagField(x, cx, false)
			ok = ok && good
		}
		c.By = by
	}
	if !ok {
		return nil
	}
	return c
}

// age decodes an age condition.
func (d *decoder) age(f field) *AgeCondition {
	fields, ok := d.mapping(f.value, f.keyAt, f.path, "newer_than", "older_than")
	if !ok {
		return nil
	}
	m := byKey(fields)
	c := &AgeCondition{}
	if len(fields) == 0 {
		d.errorf(blame(f.value, f.keyAt), f.path, "needs newer_than, older_than or both")
		return nil
	}
	if x, has := m["newer_than"]; has {
		c.NewerThan, ok = d.duration(x)
	}
	if x, has := m["older_than"]; has {
		dur, good := d.duration(x)
		c.OlderThan, ok = dur, ok && good
		if ok && c.NewerThan > 0 && c.NewerThan <= c.OlderThan {
			d.errorf(x.value, x.path, "must be shorter than newer_than (%s), or nothing is both", FormatDuration(c.NewerThan))
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return c
}

// listCondition decodes a list condition: tag names and sha256 digests.
func (d *decoder) listCondition(f field) *ListCondition {
	items, ok := d.stringList(f)
	if !ok {
		return nil
	}
	c := &ListCondition{}
	list, _ := d.list(f)
	for i, s := range items {
		if strings.HasPrefix(s, "sha256:") {
			if !digestRe.MatchString(s) {
				d.errorf(list[i].value, list[i].path, "digest %q: expected sha256: and 64 lowercase hex digits", s)
				ok = false
			}
			c.Digests = append(c.Digests, s)
			continue
		}
		c.Tags = append(c.Tags, s)
	}
	if !ok {
		return nil
	}
	sort.Strings(c.Tags)
	sort.Strings(c.Digests)
	return c
}

// require reports missing required keys of a condition.
func (d *decoder) require(f field, m map[string]field, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if _, has := m[k]; !has {
			d.errorf(blame(f.value, f.keyAt), joinPath(f.path, k), "missing")
			ok = false
		}
	}
	return ok
}

// tagField decodes the name of a tag field and checks that the kind's patterns give it: some
// pattern for grouping and ordering, every pattern (needEvery) for commits and runs, where a tag
// without the field could never be kept.
func (d *decoder) tagField(f field, cx ruleContext, needEvery bool) (string, bool) {
	name, ok := d.nonEmpty(f)
	if !ok {
		return "", false
	}
	if contains(d.broken, cx.kind) {
		return name, true // the kind's pattern is in error; its fields are unknown
	}
	if !contains(cx.some, name) {
		have := "none"
		if len(cx.some) > 0 {
			have = strings.Join(cx.some, ", ")
		}
		d.errorf(f.value, f.path, "kind %s has no field %q (its fields: %s)", cx.kind, name, have)
		return "", false
	}
	if needEvery && !contains(cx.every, name) {
		d.errorf(f.value, f.path, "not every pattern of kind %s gives field %q, and a tag without it could never be kept by this condition", cx.kind, name)
		return "", false
	}
	return name, true
}

// sortedKeys returns a map's keys, sorted.
func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// String describes a condition in one line, as written in the policy file.
func (c *Condition) String() string {
	switch {
	case c.Commits != nil:
		return fmt.Sprintf("commits %s is among the %s", c.Commits.Field, c.Commits.Source)
	case c.Runs != nil:
		return fmt.Sprintf("runs %s is used by a live run in %s", c.Runs.Field, c.Runs.Source.URL)
	case c.Newest != nil:
		return fmt.Sprintf("newest %d per [%s] by %s", c.Newest.Count, strings.Join(c.Newest.Per, ", "), c.Newest.By)
	case c.Age != nil:
		var parts []string
		if c.Age.NewerThan > 0 {
			parts = append(parts, "newer than "+FormatDuration(c.Age.NewerThan))
		}
		if c.Age.OlderThan > 0 {
			parts = append(parts, "older than "+FormatDuration(c.Age.OlderThan))
		}
		return "age " + strings.Join(parts, " and ")
	case c.Match != nil:
		return "match " + c.Match.Source
	case c.List != nil:
		return fmt.Sprintf("list of %d tags and %d digests", len(c.List.Tags), len(c.List.Digests))
	case c.Base != nil:
		repos := make([]string, len(c.Base.Sources))
		for i, s := range c.Base.Sources {
			repos[i] = s.Repository
		}
		return "base of an image in " + strings.Join(repos, " or ")
	case c.All != nil, c.Any != nil:
		subs := c.All
		if subs == nil {
			subs = c.Any
		}
		parts := make([]string, len(subs))
		for i, s := range subs {
			parts[i] = s.String()
		}
		return c.Name() + " (" + strings.Join(parts, "; ") + ")"
	case c.Not != nil:
		return "not (" + c.Not.String() + ")"
	}
	return ""
}
