package policy

import (
	"cmp"
	"slices"
	"strings"

	"github.com/regtidy/regtidy/inventory"
)

// Edge kinds: what the target of an edge is to its source.
const (
	edgeChild uint8 = iota
	edgeAttestation
	edgeNested
	edgeReferrer
)

// edge links a manifest to one that depends on it: an index to a child it lists, or a subject to
// a referrer (by its subject field or a "sha256-<digest>" tag). Ends are digest ids.
type edge struct {
	from, to int32
	kind     uint8
	// desc is the index's descriptor of a child; nil for a referrer.
	desc *inventory.Descriptor
}

// graph is the repository's manifests as a graph, built once per evaluation. Each digest gets
// an id (in no particular order); per-digest data lives in slices indexed by id, and order lists
// the ids in digest order for everything whose order shows.
type graph struct {
	// digests is every manifest the plan decides, by id: tagged digests, inventory manifests,
	// registry versions and the children indexes list.
	digests []string
	id      map[string]int32
	// order holds the ids sorted by digest; rank is each id's place in it.
	order []int32
	rank  []int32
	// tags holds each digest's tag names, sorted.
	tags [][]string
	// manifests and versions are the inventory's records by id (nil when absent).
	manifests []*inventory.Manifest
	versions  []*inventory.Version
	// childMediaType holds the media types of children known only from their index's descriptor.
	childMediaType map[int32]string
	// outEdges are sorted by source id then target digest, inEdges by target id then source
	// digest; outStart and inStart index them (edges of id i are [start[i], start[i+1])).
	outEdges, inEdges []edge
	outStart, inStart []int32
}

// intern returns a digest's id, giving it one if it has none.
func (g *graph) intern(d string) int32 {
	if i, ok := g.id[d]; ok {
		return i
	}
	i := int32(len(g.digests))
	g.id[d] = i
	g.digests = append(g.digests, d)
	return i
}

// newGraph builds the graph of an inventory. Tags come from the tag listing and, where the
// registry keeps versions, from the versions too (a tag either source names counts).
func newGraph(inv *inventory.Inventory) *graph {
	size := len(inv.Manifests) + len(inv.Tags)/8 + 16
	g := &graph{
		id:             make(map[string]int32, size),
		digests:        make([]string, 0, size),
		childMediaType: map[int32]string{},
	}
	type tagAt struct {
		name string
		id   int32
	}
	tags := make([]tagAt, 0, len(inv.Tags))
	for _, t := range inv.Tags {
		if t.Name != "" && t.Digest != "" {
			tags = append(tags, tagAt{t.Name, g.intern(t.Digest)})
		}
	}
	type idManifest struct {
		id int32
		m  *inventory.Manifest
	}
	children := 0
	for _, m := range inv.Manifests {
		children += len(m.Manifests)
	}
	edges := make([]edge, 0, children+len(inv.Tags)/100+8)
	manifests := make([]idManifest, 0, len(inv.Manifests))
	for d, m := range inv.Manifests {
		from := g.intern(d)
		manifests = append(manifests, idManifest{from, m})
		for ci := range m.Manifests {
			c := &m.Manifests[ci]
			if c.Digest == "" {
				continue
			}
			kind := edgeChild
			switch {
			case c.IsAttestation():
				kind = edgeAttestation
			case inventory.IsIndexMediaType(c.MediaType):
				kind = edgeNested
			}
			edges = append(edges, edge{from: from, to: g.intern(c.Digest), kind: kind, desc: c})
		}
	}
	type idVersion struct {
		id int32
		v  *inventory.Version
	}
	versions := make([]idVersion, 0, len(inv.Versions))
	for d, v := range inv.Versions {
		versions = append(versions, idVersion{g.intern(d), v})
	}
	n := len(g.digests)
	g.manifests = make([]*inventory.Manifest, n)
	for _, x := range manifests {
		g.manifests[x.id] = x.m
		if x.m.Subject != "" {
			if s, ok := g.id[x.m.Subject]; ok {
				edges = append(edges, edge{from: s, to: x.id, kind: edgeReferrer})
			}
		}
	}
	for _, e := range edges {
		if e.kind != edgeReferrer && g.manifests[e.to] == nil {
			g.childMediaType[e.to] = e.desc.MediaType
		}
	}
	g.versions = make([]*inventory.Version, n)
	g.tags = make([][]string, n)
	for _, x := range versions {
		g.versions[x.id] = x.v
		g.tags[x.id] = append(g.tags[x.id], x.v.Tags...)
	}
	for _, t := range tags {
		g.tags[t.id] = append(g.tags[t.id], t.name)
		if s, ok := inventory.ReferrerTagDigest(t.name); ok {
			if from, ok := g.id[s]; ok {
				edges = append(edges, edge{from: from, to: t.id, kind: edgeReferrer})
			}
		}
	}
	for i, names := range g.tags {
		if len(names) > 1 {
			slices.Sort(names)
			g.tags[i] = slices.Compact(names)
		}
	}
	byDigest := make([]idDigest, n)
	for i, d := range g.digests {
		byDigest[i] = idDigest{d, int32(i)}
	}
	slices.SortFunc(byDigest, func(a, b idDigest) int { return strings.Compare(a.digest, b.digest) })
	g.order = make([]int32, n)
	g.rank = make([]int32, n)
	for r, x := range byDigest {
		g.order[r] = x.id
		g.rank[x.id] = int32(r)
	}
	edges = slices.DeleteFunc(edges, func(e edge) bool { return e.from == e.to })
	g.outEdges, g.outStart = g.index(edges, func(e edge) (int32, int32) { return e.from, e.to })
	g.inEdges, g.inStart = g.index(slices.Clone(g.outEdges), func(e edge) (int32, int32) { return e.to, e.from })
	return g
}

// idDigest pairs a digest with its id, for sorting.
type idDigest struct {
	digest string
	id     int32
}

// index sorts edges by key id, then by the other end's digest, then kind, drops duplicates,
// and returns them with the start offset of each id's run.
func (g *graph) index(edges []edge, key func(edge) (int32, int32)) ([]edge, []int32) {
	slices.SortFunc(edges, func(a, b edge) int {
		ak, ao := key(a)
		bk, bo := key(b)
		if c := cmp.Compare(ak, bk); c != 0 {
			return c
		}
		if c := cmp.Compare(g.rank[ao], g.rank[bo]); c != 0 {
			return c
		}
		return cmp.Compare(a.kind, b.kind)
	})
	edges = slices.CompactFunc(edges, func(a, b edge) bool { return a.from == b.from && a.to == b.to && a.kind == b.kind })
	start := make([]int32, len(g.digests)+1)
	for _, e := range edges {
		k, _ := key(e)
		start[k+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	return edges, start
}

// out returns the edges from a digest, sorted by target.
func (g *graph) out(i int32) []edge { return g.outEdges[g.outStart[i]:g.outStart[i+1]] }

// in returns the edges to a digest, sorted by source.
func (g *graph) in(i int32) []edge { return g.inEdges[g.inStart[i]:g.inStart[i+1]] }

// reach marks every digest reachable from the marked ones along out edges.
func (g *graph) reach(marked []bool) {
	stack := make([]int32, 0, 64)
	for i, m := range marked {
		if m {
			stack = append(stack, int32(i))
		}
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range g.out(d) {
			if !marked[e.to] {
				marked[e.to] = true
				stack = append(stack, e.to)
			}
		}
	}
}

// untaggedKind is the plan kind of an untagged manifest reached through edges: "attestation"
// when an index lists it as an attestation manifest, "child" when an index lists it, else
// "referrer".
func (g *graph) untaggedKind(i int32) string {
	kind := ""
	for _, e := range g.in(i) {
		switch {
		case e.kind == edgeAttestation:
			return KindAttestation
		case e.kind != edgeReferrer:
			kind = KindChild
		case kind == "":
			kind = KindReferrer
		}
	}
	return kind
}

// role describes what the edge's target is to its source, for reasons: a platform (to which
// " image" is appended) or a whole phrase.
func (e edge) role() (platform, phrase string) {
	switch {
	case e.kind == edgeReferrer:
		return "", "referrer"
	case e.kind == edgeAttestation:
		return "", "attestation manifest"
	case e.kind == edgeNested:
		return "", "nested index"
	case e.desc != nil && e.desc.Platform != "":
		return e.desc.Platform, " image"
	default:
		return "", "child manifest"
	}
}
