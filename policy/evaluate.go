package policy

import (
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/regtidy/regtidy/inventory"
	"github.com/regtidy/regtidy/plan"
)

// Reason rules this package writes besides the condition names. The plan package documents the
// common ones; "child-of-deleted" and "referrer-of-deleted" explain deletes that follow a parent.
const (
	// RuleUnknownKind keeps a tag no pattern of the scheme matches.
	RuleUnknownKind = "unknown-kind"
	// RuleNoRule keeps a tag (or orphan) of a kind the policy has no rule for.
	RuleNoRule = "no-rule"
	// RulePushGrace keeps an untagged registry version too young to judge (inventory.Version's
	// Withheld): a push may still be uploading the index that will list it.
	RulePushGrace = plan.RulePushGrace
	// RuleChildOfKept keeps a manifest a kept index lists.
	RuleChildOfKept = "child-of-kept"
	// RuleReferrerOfKept keeps a referrer of a kept manifest.
	RuleReferrerOfKept = "referrer-of-kept"
	// RuleSharedDigest notes an unkept tag on a digest another tag keeps.
	RuleSharedDigest = "shared-digest"
	// RuleNoKeepRuleMatched deletes a tag (or orphan) none of whose kind's conditions held.
	RuleNoKeepRuleMatched = "no-keep-rule-matched"
	// RuleChildOfDeleted deletes a manifest listed only by deleted indexes.
	RuleChildOfDeleted = "child-of-deleted"
	// RuleReferrerOfDeleted deletes a referrer of a deleted manifest.
	RuleReferrerOfDeleted = "referrer-of-deleted"
)

// collectBeforeDeciding is the size of repository (in manifests) from which Evaluate collects
// garbage once, blocking, between judging and writing decisions.
const collectBeforeDeciding = 100_000

// maxParentReasons bounds how many parents a decision's reasons name one by one.
const maxParentReasons = 3

// Evaluate decides, for every manifest of the inventory, whether the policy keeps or deletes it,
// with reasons. It is pure and deterministic: the same inputs give the same plan, decisions
// sorted by digest. It changes none of its inputs; the plan shares the inventory's tag slice
// (when sorted) and strings, so neither is to be changed while the plan is in use. keep must hold every source the policy uses (see Resolve), else the error
// wraps ErrUnresolved. The unit of deletion is a manifest digest. The rules, in order:
//
//  1. Each tag is classified by the scheme. A tag is kept when any keep condition of its kind's
//     rule holds. Kinds without a rule are kept (reason "no-rule"), as are tags of no kind
//     ("unknown-kind"), unless the policy has rules for them. A referrer tag of no kind follows
//     its subject unless the policy has referrer rules.
//  2. A digest with any kept tag is kept; an unkept tag sharing it is noted ("shared-digest").
//  3. Everything reachable from a kept digest is kept: index children and attestation manifests,
//     nested indexes, and referrers ("child-of-kept", "referrer-of-kept"). So a child goes with
//     its index only when no kept index uses it. So is the base a kept manifest names in its
//     org.opencontainers.image.base.digest annotation, when the repository holds it, with all
//     it reaches ("base-of-kept"); a base is never deleted for its images' sake, though.
//  4. Untagged manifests nothing but an image's base annotation points at (orphans; on GHCR
//     versions with no tags and no living parent) are of kind "untagged", kept unless the
//     policy has untagged rules.
//  5. What is left is deleted, with the reasons nothing kept it.
//
// Evaluation uses every core for inventories of more than a few thousand tags; the plan does
// not depend on how the work was shared. From collectBeforeDeciding manifests on, it collects
// garbage once, blocking, before it writes the decisions: the garbage of building the graph
// goes before the plan's decisions arrive, which lowers the peak by some 30 MB at full scale.
//
// Newest ordering uses the manifest's creation time, else the registry version's, ties broken by
// tag name. The plan is sealed (plan.Plan.Seal); its Cost and CreatedAt, which the seal does not
// cover, are left for the caller, who knows the registry.
func Evaluate(inv *inventory.Inventory, pol *Policy, keep *KeepSets, now time.Time) (*plan.Plan, error) {
	return evaluate(inv, pol, keep, now, false)
}

// EvaluateOwned is Evaluate for a caller that hands the inventory over and reads none of its
// manifests' configs and layers afterwards (regtidy's plan command): once the bytes freed are
// counted, it drops each manifest's Config and Layers, which the rest of the evaluation does not
// read, so that the blob lists (some 65 MB for the case's 400k manifests) are not in memory
// with the plan's decisions; it drops the inventory's map of manifests too. The plan is the one
// Evaluate makes; the inventory is not to be read afterwards (but for its tags, which the plan
// shares).
func EvaluateOwned(inv *inventory.Inventory, pol *Policy, keep *KeepSets, now time.Time) (*plan.Plan, error) {
	return evaluate(inv, pol, keep, now, true)
}

func evaluate(inv *inventory.Inventory, pol *Policy, keep *KeepSets, now time.Time, owned bool) (*plan.Plan, error) {
	if inv == nil || pol == nil {
		return nil, errors.New("policy: Evaluate needs an inventory and a policy")
	}
	kx, err := newKeepIndex(pol, keep)
	if err != nil {
		return nil, err
	}
	e := &evaluator{inv: inv, pol: pol, keep: kx, now: now, g: newGraph(inv)}
	e.collectItems()
	e.rankAll()
	e.judgeItems()
	e.closeOverKept()
	// Deciding goes by ids and looks at parents only: the map from digests and the edges to
	// children, some 30 MB for 400k manifests, can go before the plan's decisions are made.
	e.g.id, e.g.outEdges, e.g.outStart = nil, nil, nil
	p := &plan.Plan{
		Schema:      plan.Schema,
		Repository:  inv.Repository,
		CreatedAt:   now,
		Now:         now,
		Fingerprint: inv.Fingerprint(),
		Policy:      plan.PolicyRef{Path: pol.Name, Digest: pol.Digest},
		Sources:     keep.Reads(),
		// The inventory's tags, sorted as a listing leaves them, are shared, not copied.
		Tags: inv.Tags,
	}
	if !slices.IsSortedFunc(p.Tags, compareTags) {
		p.Tags = slices.Clone(inv.Tags)
		slices.SortFunc(p.Tags, compareTags)
	}
	// The bytes freed are counted before the decisions are written, so that the blob ledger and
	// the decisions are not in memory together.
	g := e.g
	kinds := make([]string, len(g.order))
	inParallel(len(g.order), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			kinds[r], _ = e.kindOf(g.order[r])
		}
	})
	freed := plan.FreedBytes(len(g.order), func(r int) (*inventory.Manifest, bool, string) {
		id := g.order[r]
		return g.manifests[id], !e.kept[id], kinds[r]
	})
	// Dropping the blobs is safe when no decision will differ from its verdict (see below):
	// the bytes freed are then counted already.
	dropped := owned && !e.anyUnexplained()
	if dropped {
		for _, m := range inv.Manifests {
			m.Config, m.Layers = nil, nil
		}
		// Deciding reaches the manifests through the graph, by id: the map by digest (some
		// 11 MB for 400k manifests) goes too.
		inv.Manifests = nil
	}
	// What judging needed goes before the decisions arrive: the items by kind, their newest
	// ranks and the keep sources' index.
	e.byKind, e.ranks, e.keep = nil, nil, nil
	if len(g.order) >= collectBeforeDeciding {
		runtime.GC()
	}
	p.Decisions = make([]plan.Decision, len(g.order))
	var changed atomic.Bool
	inParallel(len(g.order), func(lo, hi int) {
		arena := &reasonArena{}
		for r, id := range g.order[lo:hi] {
			d := e.decide(id, arena)
			if (d.Action == plan.Delete) == e.kept[id] {
				changed.Store(true)
			}
			p.Decisions[lo+r] = d
		}
	})
	if changed.Load() && !dropped {
		// decide kept a digest nothing explained deleting: count again by the decisions. (With
		// the blobs dropped this cannot happen: anyUnexplained found no such digest.)
		manifests := make([]*inventory.Manifest, len(g.order))
		for r, id := range g.order {
			manifests[r] = g.manifests[id]
		}
		p.SummarizeDecided(manifests)
		p.Seal()
		return p, nil
	}
	p.SummarizeFreed(freed)
	p.Seal()
	return p, nil
}

// compareTags orders tags by name, then digest.
func compareTags(a, b inventory.Tag) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Digest, b.Digest)
}

// evaluator holds one evaluation's state.
type evaluator struct {
	inv  *inventory.Inventory
	pol  *Policy
	keep *keepIndex
	now  time.Time
	g    *graph

	// items are the tags, in digest then name order, then the orphan manifests. span[id] is
	// the range of a digest's items.
	items  []item
	span   []itemSpan
	byKind map[string][]*item
	ranks  map[*NewestCondition][]rank
	// kept marks every kept digest, after closeOverKept.
	kept []bool
}

// itemSpan is the range items[start:start+n].
type itemSpan struct{ start, n int32 }

// verdict is an item's outcome under its kind's rule.
type verdict struct {
	kept bool
	// follows: a referrer tag of a present subject with no referrer rule; its digest's fate is
	// its subject's.
	follows bool
	reasons []plan.Reason
}

// itemsOf returns a digest's items.
func (e *evaluator) itemsOf(id int32) []item {
	s := e.span[id]
	return e.items[s.start : s.start+s.n]
}

// collectItems makes an item for every tag and every orphan manifest.
func (e *evaluator) collectItems() {
	g := e.g
	n := len(g.digests)
	e.span = make([]itemSpan, n)
	tagged := make([]bool, n)
	count := len(g.tagNames)
	e.items = make([]item, 0, count+count/8)
	for _, id := range g.order {
		names := g.tagsOf(id)
		if len(names) == 0 {
			continue
		}
		tagged[id] = true
		created := e.created(id)
		e.span[id] = itemSpan{start: int32(len(e.items)), n: int32(len(names))}
		for _, name := range names {
			e.items = append(e.items, item{tag: name, digest: g.digests[id], id: id, created: created})
		}
	}
	inParallel(len(e.items), func(lo, hi int) {
		for i := range e.items[lo:hi] {
			it := &e.items[lo+i]
			it.kind, it.fields = e.pol.Scheme.classify(it.tag)
		}
	})
	reached := tagged
	g.reach(reached)
	for _, id := range g.order {
		if !reached[id] && len(g.in(id)) == 0 {
			e.span[id] = itemSpan{start: int32(len(e.items)), n: 1}
			e.items = append(e.items, item{digest: g.digests[id], id: id, kind: KindUntagged, created: e.created(id)})
		}
	}
	e.byKind = map[string][]*item{}
	for i := range e.items {
		it := &e.items[i]
		it.kpos = len(e.byKind[it.kind])
		e.byKind[it.kind] = append(e.byKind[it.kind], it)
	}
}

// created is a manifest's creation time, else its registry version's, else zero.
func (e *evaluator) created(id int32) time.Time { return e.g.createdOf(id) }

// rankAll ranks the items of each kind for every newest condition of its rule.
func (e *evaluator) rankAll() {
	e.ranks = map[*NewestCondition][]rank{}
	for _, r := range e.pol.Rules {
		for _, c := range r.Keep {
			walkConditions(c, func(c *Condition) {
				if c.Newest != nil {
					e.ranks[c.Newest] = rankNewest(c.Newest, r.Kind, e.byKind[r.Kind])
				}
			})
		}
	}
}

// judgeItems applies each item's rule.
func (e *evaluator) judgeItems() {
	inParallel(len(e.items), func(lo, hi int) {
		arena := &reasonArena{}
		for i := lo; i < hi; i++ {
			e.items[i].verdict = e.judge(&e.items[i], arena)
		}
	})
}

// judge applies an item's rule, or the default for a kind without one. Details of deletes are
// shared through arena: the images of one commit all fail for the same reasons.
func (e *evaluator) judge(it *item, arena *reasonArena) verdict {
	if it.kind == KindUntagged && e.g.versions != nil {
		if v := e.g.versions[it.id]; v != nil && v.Withheld {
			return verdict{kept: true, reasons: []plan.Reason{{Rule: RulePushGrace, Kind: it.kind,
				Detail: "untagged version created " + v.CreatedAt.UTC().Format(time.RFC3339) + ", within the push grace before the listing: a push may still be in progress"}}}
		}
	}
	rule := e.pol.Rule(it.kind)
	if rule == nil {
		switch {
		case it.kind == KindReferrer && e.present(it.fields.Get("subject")):
			return verdict{follows: true}
		case it.kind == KindReferrer:
			return verdict{kept: true, reasons: []plan.Reason{{Rule: RuleNoRule, Kind: it.kind,
				Detail: "tag " + it.tag + " names " + shortDigest(it.fields.Get("subject")) + ", which is not in the repository, and the policy has no referrer rules"}}}
		case it.kind == KindUnknown:
			return verdict{kept: true, reasons: []plan.Reason{{Rule: RuleUnknownKind, Kind: it.kind,
				Detail: "tag " + it.tag + " matches no kind of the tag scheme, and the policy has no unknown rules"}}}
		case it.kind == KindUntagged:
			return verdict{kept: true, reasons: []plan.Reason{{Rule: RuleNoRule, Kind: it.kind,
				Detail: "untagged manifest with no parent, and the policy has no untagged rules"}}}
		default:
			return verdict{kept: true, reasons: []plan.Reason{{Rule: RuleNoRule, Kind: it.kind,
				Detail: "the policy has no rules for kind " + it.kind}}}
		}
	}
	var v verdict
	var failed []string
	for _, c := range rule.Keep {
		ok, detail := e.holds(c, it)
		if ok {
			v.kept = true
			v.reasons = append(v.reasons, plan.Reason{Rule: c.Name(), Kind: it.kind, Detail: arena.intern(detail)})
		} else if !v.kept {
			failed = append(failed, detail)
		}
	}
	if !v.kept {
		v.reasons = []plan.Reason{{Rule: RuleNoKeepRuleMatched, Kind: it.kind, Detail: arena.joined(failed, " and ")}}
	}
	return v
}

// present reports whether a digest is in the repository.
func (e *evaluator) present(digest string) bool {
	_, ok := e.g.id.lookup(digest)
	return ok
}

// closeOverKept marks every kept digest: those of kept items and all they reach.
func (e *evaluator) closeOverKept() {
	e.kept = make([]bool, len(e.g.digests))
	for i := range e.items {
		if e.items[i].verdict.kept {
			e.kept[e.items[i].id] = true
		}
	}
	e.g.reachKept(e.kept)
}

// anyUnexplained reports whether decide will keep a digest the verdicts delete, for want of a
// reason to delete it: a digest none of whose items is deleted with reasons (items that follow
// their subject give none) and that no deleted parent lists. decide's reasons for a deleted
// digest come from exactly these two places.
func (e *evaluator) anyUnexplained() bool {
	for _, id := range e.g.order {
		if e.kept[id] {
			continue
		}
		explained := false
		for _, it := range e.itemsOf(id) {
			if !it.verdict.kept && !it.verdict.follows && len(it.verdict.reasons) > 0 {
				explained = true
				break
			}
		}
		for _, ed := range e.g.in(id) {
			if explained {
				break
			}
			explained = !e.kept[ed.from]
		}
		if !explained {
			return true
		}
	}
	return false
}

// decide makes the decision for one digest, its reasons carved from arena.
func (e *evaluator) decide(id int32, arena *reasonArena) plan.Decision {
	g := e.g
	kept := e.kept[id]
	dec := plan.Decision{Digest: g.digests[id], Tags: g.tagsOf(id), Created: e.created(id), Action: plan.Delete}
	if kept {
		dec.Action = plan.Keep
	}
	dec.MediaType = g.mediaTypeOf(id)
	if v := g.version(id); v != nil {
		dec.VersionID = v.ID
	}
	items := e.itemsOf(id)
	dec.Kind, dec.Fields = e.kindOf(id)
	prefix := func(it *item) string {
		if len(items) > 1 {
			return it.name() + ": "
		}
		return ""
	}
	add := func(r plan.Reason) { arena.add(&dec.Reasons, r) }
	keptBy := ""
	for i := range items {
		it := &items[i]
		if it.verdict.kept {
			if keptBy == "" {
				keptBy = it.tag
			}
			for _, r := range it.verdict.reasons {
				r.Detail = prefix(it) + r.Detail
				add(r)
			}
		}
	}
	for i := range items {
		it := &items[i]
		v := &it.verdict
		switch {
		case v.kept || v.follows:
		case keptBy != "" && it.tag != "":
			add(plan.Reason{Rule: RuleSharedDigest, Kind: it.kind,
				Detail: "tag " + it.tag + " is not kept by its rules (" + v.reasons[0].Detail + ") but shares the digest with kept tag " + keptBy})
		case !kept:
			for _, r := range v.reasons {
				r.Detail = prefix(it) + r.Detail
				add(r)
			}
		}
	}
	e.parentReasons(&dec, id, kept, arena)
	if kept {
		e.baseReasons(&dec.Reasons, id, dec.Kind, arena)
	}
	if !kept && len(dec.Reasons) == 0 {
		// Every path above gives a deleted digest a reason; should one ever not, keep it.
		dec.Action = plan.Keep
		add(plan.Reason{Rule: RuleNoRule, Kind: dec.Kind, Detail: "nothing explains deleting this manifest, so it is kept"})
	}
	return dec
}

// kindOf returns the kind and fields of a digest's decision: those of its first kept item, else
// of its first item, else (untagged) the kind its parents' edges give it.
func (e *evaluator) kindOf(id int32) (string, plan.Fields) {
	items := e.itemsOf(id)
	kept := e.kept[id]
	lead := -1
	for i := range items {
		if lead < 0 || (kept && items[i].verdict.kept && !items[lead].verdict.kept) {
			lead = i
		}
	}
	if lead < 0 {
		return e.g.untaggedKind(id), nil
	}
	return items[lead].kind, items[lead].fields
}

// parentReasons adds the reasons an index or subject gives: for a kept digest its kept parents,
// for a deleted one its (all deleted) parents. It sets Parent for untagged manifests.
func (e *evaluator) parentReasons(dec *plan.Decision, id int32, kept bool, arena *reasonArena) {
	shown := 0
	for _, ed := range e.g.in(id) {
		if e.kept[ed.from] != kept {
			continue
		}
		if len(dec.Tags) == 0 && dec.Parent == "" {
			dec.Parent = e.g.digests[ed.from]
		}
		if shown == maxParentReasons {
			more := 0
			for _, x := range e.g.in(id) {
				if e.kept[x.from] == kept {
					more++
				}
			}
			state := "deleted"
			if kept {
				state = "kept"
			}
			arena.add(&dec.Reasons, plan.Reason{Rule: e.parentReason(ed, kept, dec.Kind, arena).Rule, Kind: dec.Kind,
				Detail: "and " + strconv.Itoa(more-maxParentReasons) + " more " + state + " parents"})
			return
		}
		arena.add(&dec.Reasons, e.parentReason(ed, kept, dec.Kind, arena))
		shown++
	}
}

// parentReason explains a digest by one of its parents, named in the reason's Of. The details
// are a handful of phrases shared by every reason that uses them (a repository of 400k
// manifests makes 270k such reasons), kept in the goroutine's arena.
func (e *evaluator) parentReason(ed edge, kept bool, kind string, arena *reasonArena) plan.Reason {
	platform, phrase := ed.role()
	r := plan.Reason{Kind: kind, Of: e.g.digests[ed.from]}
	state := " of deleted "
	if kept {
		state = " of kept "
	}
	switch {
	case kept && ed.kind == edgeReferrer:
		r.Rule, r.Detail = RuleReferrerOfKept, arena.phrase("referrer of kept")
	case kept:
		r.Rule, r.Detail = RuleChildOfKept, arena.phrase(platform, phrase, state, "index")
	case ed.kind == edgeReferrer:
		r.Rule, r.Detail = RuleReferrerOfDeleted, arena.phrase("referrer, which nothing kept refers to, of deleted")
	default:
		r.Rule, r.Detail = RuleChildOfDeleted, arena.phrase(platform, phrase, ", used by no kept index,", state, "index")
	}
	return r
}
