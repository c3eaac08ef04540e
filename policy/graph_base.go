package policy

import (
	"strconv"

	"github.com/regtidy/regtidy/plan"
)

// RuleBaseOfKept keeps a manifest that a kept manifest of the same repository names as its base
// (org.opencontainers.image.base.digest), with everything the base reaches.
const RuleBaseOfKept = "base-of-kept"

// baseEdges are the edges from composed images to their bases within one repository, indexed
// both ways like the graph's other edges. All fields are nil when there are none.
type baseEdges struct {
	out, in           []edge
	outStart, inStart []int32
}

// baseEdges indexes the bases manifests name, keeping those the repository holds.
func (g *graph) baseEdges(refs []digestRef) baseEdges {
	var edges []edge
	for _, r := range refs {
		if to, ok := g.id.lookup(r.digest); ok && to != r.id {
			edges = append(edges, edge{from: r.id, to: to, kind: edgeBase})
		}
	}
	if len(edges) == 0 {
		return baseEdges{}
	}
	var b baseEdges
	b.out, b.outStart = g.index(edges, func(e edge) (int32, int32) { return e.from, e.to })
	b.in, b.inStart = g.index(append([]edge(nil), b.out...), func(e edge) (int32, int32) { return e.to, e.from })
	return b
}

// builtOn returns the edges to a digest from the images that name it as their base.
func (g *graph) builtOn(i int32) []edge {
	if g.bases.in == nil {
		return nil
	}
	return g.bases.in[g.bases.inStart[i]:g.bases.inStart[i+1]]
}

// baseOf returns the edges from a digest to the bases it names.
func (g *graph) baseOf(i int32) []edge {
	if g.bases.out == nil {
		return nil
	}
	return g.bases.out[g.bases.outStart[i]:g.bases.outStart[i+1]]
}

// reachKept marks every digest reachable from the marked ones along out edges and base edges:
// what a kept manifest keeps.
func (g *graph) reachKept(marked []bool) {
	if g.bases.out == nil {
		g.reach(marked)
		return
	}
	stack := make([]int32, 0, 64)
	for i, m := range marked {
		if m {
			stack = append(stack, int32(i))
		}
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, edges := range [2][]edge{g.out(d), g.baseOf(d)} {
			for _, e := range edges {
				if !marked[e.to] {
					marked[e.to] = true
					stack = append(stack, e.to)
				}
			}
		}
	}
}

// baseReasons adds, to a kept digest's decision, the kept images built on it (base-of-kept),
// naming a few and counting the rest.
func (e *evaluator) baseReasons(reasons *[]plan.Reason, id int32, kind string, arena *reasonArena) {
	shown, more := 0, 0
	for _, ed := range e.g.builtOn(id) {
		if !e.kept[ed.from] {
			continue
		}
		if shown == maxParentReasons {
			more++
			continue
		}
		arena.add(reasons, plan.Reason{Rule: RuleBaseOfKept, Kind: kind, Detail: "base image of kept " + e.parentName(ed.from)})
		shown++
	}
	if more > 0 {
		arena.add(reasons, plan.Reason{Rule: RuleBaseOfKept, Kind: kind, Detail: "and " + strconv.Itoa(more) + " more kept images built on it"})
	}
}

// parentName names a manifest for reasons: its short digest, and its first tag if it has one.
func (e *evaluator) parentName(id int32) string {
	name := shortDigest(e.g.digests[id])
	if names := e.g.tagsOf(id); len(names) > 0 {
		name += " (tag " + names[0] + ")"
	}
	return name
}
