package apply

import (
	"slices"
	"sort"
	"strings"

	"github.com/regtidy/regtidy/plan"
)

// decisionIndex finds a plan's decisions by digest. A plan of the case's 395k manifests took two
// maps here before (digest to decision, and the deleted digests), some 40 MB besides the plan;
// the index is one int32 per decision, and nothing at all when the decisions are sorted by
// digest, as the planner writes them. A digest decided more than once (Apply refuses such a
// plan) finds its last decision, and counts as deleted when any of its decisions deletes it.
type decisionIndex struct {
	decisions []plan.Decision
	// order holds the positions of decisions sorted by digest (ties in plan order); nil when
	// decisions are sorted already.
	order []int32
}

// newDecisionIndex indexes ds, which must not change while the index is used.
func newDecisionIndex(ds []plan.Decision) decisionIndex {
	x := decisionIndex{decisions: ds}
	if slices.IsSortedFunc(ds, func(a, b plan.Decision) int { return strings.Compare(a.Digest, b.Digest) }) {
		return x
	}
	x.order = make([]int32, len(ds))
	for i := range x.order {
		x.order[i] = int32(i)
	}
	slices.SortStableFunc(x.order, func(a, b int32) int { return strings.Compare(ds[a].Digest, ds[b].Digest) })
	return x
}

// len is the number of decisions.
func (x decisionIndex) len() int { return len(x.decisions) }

// at returns the decision in the k-th place in digest order.
func (x decisionIndex) at(k int) *plan.Decision {
	if x.order == nil {
		return &x.decisions[k]
	}
	return &x.decisions[x.order[k]]
}

// span returns the places [lo, hi) in digest order of the decisions of digest.
func (x decisionIndex) span(digest string) (lo, hi int) {
	n := len(x.decisions)
	lo = sort.Search(n, func(k int) bool { return x.at(k).Digest >= digest })
	hi = lo
	for hi < n && x.at(hi).Digest == digest {
		hi++
	}
	return lo, hi
}

// find returns the decision of digest (the last one, if several), or nil.
func (x decisionIndex) find(digest string) *plan.Decision {
	lo, hi := x.span(digest)
	if lo == hi {
		return nil
	}
	return x.at(hi - 1)
}

// deletes reports whether the plan deletes digest.
func (x decisionIndex) deletes(digest string) bool {
	lo, hi := x.span(digest)
	for k := lo; k < hi; k++ {
		if x.at(k).Action == plan.Delete {
			return true
		}
	}
	return false
}
